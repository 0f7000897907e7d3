"""The capacity component against queueing theory (Erlang C, Little's law) and by hand.

The engine's own :class:`CapacityPool` is driven with Poisson arrivals and exponential
service (M/M/c with infinite patience). Tolerance policy: estimates from independent
replications must lie within 4 standard errors of the closed form (plus 2 % for the bias of
a finite warm-up), so a wrong queue discipline or a leaked slot fails while Monte-Carlo noise
does not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from targetsim.simulate.capacity import (
    DAYS_PER_MONTH,
    CapacityPool,
    capacity_schedule,
    slots_at,
)


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load ``a = λ/μ`` (Erlang C)."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_erlang_c_reference_value():
    # Textbook value: c = 2, a = 1 → C = 1/3.
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


def run_mmc(c, lam, mu, horizon, warmup, seed):
    """One M/M/c replication on the engine's pool; statistics over [warmup, horizon]."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    pool = CapacityPool(env, c, patience=None)
    waits, sojourns = [], []
    snap = {}

    def arrive():
        t0 = env.now
        service = rng.exponential(1 / mu)

        def granted(wait):
            if t0 >= warmup:
                waits.append(wait)
                sojourns.append(wait + service)
            env.timeout(service).callbacks.append(lambda _e: pool.release())

        pool.request(granted)
        env.timeout(rng.exponential(1 / lam)).callbacks.append(lambda _e: arrive())

    def snapshot(_e):
        pool.finish()
        snap.update(q=pool.area_queue, b=pool.area_busy, n=pool.arrivals)

    env.timeout(rng.exponential(1 / lam)).callbacks.append(lambda _e: arrive())
    env.timeout(warmup).callbacks.append(snapshot)
    env.run(until=horizon)
    pool.finish()
    span = horizon - warmup
    waits = np.asarray(waits)
    return {
        "p_wait": float(np.mean(waits > 0)),
        "wq": float(waits.mean()),
        "lq": (pool.area_queue - snap["q"]) / span,
        "l": (pool.area_queue + pool.area_busy - snap["q"] - snap["b"]) / span,
        "lam_obs": (pool.arrivals - snap["n"]) / span,
        "w": float(np.mean(sojourns)),
    }


@pytest.mark.slow
def test_mmc_matches_erlang_c_and_littles_law():
    c, lam, mu = 5, 0.4, 0.1  # offered load 4, utilisation 0.8 (days)
    reps = [run_mmc(c, lam, mu, 22_000.0, 2_000.0, seed) for seed in range(24)]
    theory_c = erlang_c(c, lam / mu)
    theory_wq = theory_c / (c * mu - lam)

    def check(key, truth):
        x = np.array([r[key] for r in reps])
        se = x.std(ddof=1) / np.sqrt(len(x))
        assert abs(x.mean() - truth) < 4 * se + 0.02 * truth, (key, x.mean(), truth, se)

    check("p_wait", theory_c)
    check("wq", theory_wq)
    check("lq", lam * theory_wq)
    # Little's law on the sample path: L = λ W, for the whole system and the queue.
    for r in reps:
        assert r["l"] == pytest.approx(r["lam_obs"] * r["w"], rel=0.03)
        assert r["lq"] == pytest.approx(r["lam_obs"] * r["wq"], rel=0.05)
    # Utilisation: busy slots = λ/μ.
    check("l", lam / mu + lam * theory_wq)


def test_fifo_grant_and_going_cold_by_hand():
    env = simpy.Environment()
    pool = CapacityPool(env, 1, patience=30.0)
    log = []

    def at(t, fn):
        env.timeout(t).callbacks.append(lambda _e: fn())

    def ask(name, hold):
        def granted(wait):
            log.append((name, "start", env.now, wait))
            if hold is not None:
                at(hold, pool.release)

        pool.request(granted, lambda: log.append((name, "cold", env.now, None)))

    at(0, lambda: ask("a", 100))  # takes the only slot for 100 days
    at(1, lambda: ask("b", 5))  # waits...
    at(2, lambda: ask("c", 5))  # waits behind b
    at(10, lambda: pool.set_capacity(2))  # a second slot: b (first in line) gets it
    at(50, lambda: ask("d", None))  # c released its slot at 20: d starts at once
    env.run(until=200)
    assert log[0] == ("a", "start", 0, 0.0)
    assert log[1] == ("b", "start", 10, 9.0)
    assert log[2] == ("c", "start", 15, 13.0)  # b's slot, freed at 15; within patience
    assert log[3] == ("d", "start", 50, 0.0)
    assert pool.reneged == 0 and pool.in_use == 1  # d never releases


def test_waiting_lead_goes_cold_after_patience():
    env = simpy.Environment()
    pool = CapacityPool(env, 1, patience=30.0)
    cold, started = [], []
    pool.occupy()  # the open pipeline holds the slot until day 40
    env.timeout(40).callbacks.append(lambda _e: pool.release())
    env.timeout(1).callbacks.append(
        lambda _e: pool.request(lambda w: started.append(env.now), lambda: cold.append(env.now))
    )
    env.timeout(20).callbacks.append(
        lambda _e: pool.request(lambda w: started.append(env.now), lambda: cold.append(env.now))
    )
    env.run(until=100)
    assert cold == [31]  # waited from day 1: cold at 1 + 30
    assert started == [40]  # the second got the slot freed at 40, within its patience
    assert pool.reneged == 1 and pool.waited == 2 and pool.served == 1


def test_capacity_schedule_ramp_is_linear_and_hires_join_on_their_day():
    rng = np.random.default_rng(0)
    days, slots = capacity_schedule(2, [(30.0, 1)], 10, 1.0, 0.0, 120.0, rng)
    at = lambda t: float(slots_at(days, slots, np.array([t]))[0])  # noqa: E731
    assert at(0) == 20 and at(30) == 20
    assert at(45) == 20 + math.floor(15 / DAYS_PER_MONTH * 10)
    assert at(30 + DAYS_PER_MONTH + 1) == 30 and at(120) == 30
    # No ramp: a hire is fully productive on its first day.
    days, slots = capacity_schedule(0, [(10.0, 2)], 5, 0.0, 0.0, 20.0, rng)
    assert slots_at(days, slots, np.array([9.0, 10.0]))[:].tolist() == [0.0, 10.0]


def test_attrition_is_a_poisson_process_per_rep():
    # 4000 reps, 50 % a year: the share still there after a year is exp(-0.5).
    rng = np.random.default_rng(3)
    days, slots = capacity_schedule(4000, [], 1, 0.0, 0.5, 365.25, rng)
    share = float(slots_at(days, slots, np.array([365.0]))[0]) / 4000
    se = math.sqrt(math.exp(-0.5) * (1 - math.exp(-0.5)) / 4000)
    assert abs(share - math.exp(-0.5)) < 4 * se
    assert np.all(np.diff(slots) < 0)  # only departures


def mm1_deterministic_patience(lam: float, mu: float, patience: float) -> tuple[float, float]:
    """(P(wait > 0), P(go cold)) in M/M/1+D with FIFO and fixed patience ``D``.

    The workload seen by an arrival has an atom ``π0`` at 0, density ``λ π0 e^{-(μ-λ)v}`` below
    ``D`` and ``λ π0 e^{-(μ-λ)D} e^{-μ(v-D)}`` above (leads that will go cold add no work);
    hence ``π0 = (1-ρ)/(1-ρ²E)`` and ``P(cold) = π0 ρ E`` with ``E = e^{-(μ-λ)D}``
    (Barrer 1957; Baccelli, Boyer & Hébuterne 1984).
    """
    rho, e = lam / mu, math.exp(-(mu - lam) * patience)
    pi0 = (1 - rho) / (1 - rho**2 * e)
    return 1 - pi0, pi0 * rho * e


def run_mm1_patience(lam, mu, patience, horizon, seed):
    """One M/M/1+D replication on the engine's pool: (share that waited, share gone cold)."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    pool = CapacityPool(env, 1, patience=patience)

    def arrive():
        service = rng.exponential(1 / mu)
        pool.request(lambda _w: env.timeout(service).callbacks.append(lambda _e: pool.release()))
        env.timeout(rng.exponential(1 / lam)).callbacks.append(lambda _e: arrive())

    arrive()
    env.run(until=horizon)
    decided = pool.arrivals - pool.waiting  # those still waiting have not decided yet
    return pool.waited / pool.arrivals, pool.reneged / decided


@pytest.mark.slow
def test_going_cold_matches_mm1_with_deterministic_patience():
    lam, mu, patience = 1.2, 1.0, 2.0  # overloaded: the queue is held in check by going cold
    p_wait, p_cold = mm1_deterministic_patience(lam, mu, patience)
    runs = np.array([run_mm1_patience(lam, mu, patience, 5_000.0, 100 + s) for s in range(10)])
    for x, truth in ((runs[:, 0], p_wait), (runs[:, 1], p_cold)):
        se = x.std(ddof=1) / np.sqrt(len(x))
        assert abs(x.mean() - truth) < 4 * se + 0.01 * truth, (x.mean(), truth, se)


@settings(max_examples=60, deadline=None)
@given(
    arrivals=st.lists(st.tuples(st.floats(0, 50), st.floats(0.1, 20)), max_size=40),
    changes=st.lists(st.tuples(st.floats(0, 50), st.integers(0, 4)), max_size=6),
    capacity=st.integers(0, 3),
    patience=st.sampled_from([None, 1.0, 5.0]),
)
def test_pool_is_fifo_work_conserving_and_never_over_capacity(
    arrivals, changes, capacity, patience
):
    env = simpy.Environment()
    pool = CapacityPool(env, capacity, patience)
    granted, asked = [], []

    def check(_e=None):
        # Work-conserving: nobody waits while a slot is free.
        assert pool.waiting == 0 or pool.in_use >= pool.capacity

    def ask(k, service):
        asked.append(k)

        def grant(wait):
            assert pool.in_use <= pool.capacity  # a grant never overfills
            assert patience is None or wait <= patience
            granted.append(k)
            env.timeout(service).callbacks.extend([lambda _e: pool.release(), check])

        pool.request(grant, lambda: None)
        check()

    for k, (t, service) in enumerate(sorted(arrivals)):
        env.timeout(t).callbacks.extend([lambda _e, k=k, s=service: ask(k, s), check])
    for t, n in changes:
        env.timeout(t).callbacks.extend([lambda _e, n=n: pool.set_capacity(n), check])
    env.run()
    assert granted == sorted(granted)  # first come, first served
    assert pool.served + pool.reneged + pool.waiting == pool.arrivals == len(arrivals)
    assert pool.in_use == 0
