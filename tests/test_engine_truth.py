"""The engines against simulators and queueing results written here, not taken from the package.

* The vectorised engine, on the shipped components (piecewise hazards, empirical sizes,
  arrival paths), against a simulator of the same process written in this file: Poisson
  arrivals day by day, competing exponential clocks bin by bin, sizes resampled from the
  slices. The FY wins and bookings per segment must agree in mean and spread.
* The SimPy engine's queueing, through :func:`targetsim.simulate.des.run_des` with capacity
  that binds (not only the pool alone): M/M/c against Erlang C and Little's law.

Tolerance policy: means within 4 standard errors (both simulations' noise), spreads within
15 %; queueing estimates within 4 standard errors of the closed form plus 3 % for the
finite warm-up.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from targetsim.model.outcomes import WON, HazardOutcome
from targetsim.model.params import ArrivalDraws, EmpiricalSize, FunnelParams
from targetsim.simulate import Scenario, simulate
from targetsim.simulate.des import run_des
from targetsim.simulate.sampling import Deals, Multipliers
from targetsim.simulate.timeline import make_timeline

SEGS = ("fast", "slow")
EDGES = np.array([0.0, 7.0, 20.0, 45.0, 90.0, 150.0])
H_WON = np.array([[0.010, 0.020, 0.012, 0.004, 0.001], [0.001, 0.003, 0.006, 0.006, 0.003]])
H_LOST = np.array([[0.030, 0.015, 0.005, 0.002, 0.0], [0.004, 0.004, 0.004, 0.002, 0.001]])
RATE = np.array([60.0, 15.0])  # new deals a month
AS_OF = "2026-12-31"


def _params() -> FunnelParams:
    rng = np.random.default_rng(0)
    slices = np.sort(np.stack([rng.gamma(2.0, 2_000.0, 64), rng.gamma(1.2, 30_000.0, 64)]))
    outcome = HazardOutcome(EDGES, np.log(H_WON)[None], np.log(H_LOST)[None], np.zeros((1, 0)))
    arrivals = ArrivalDraws(np.log(RATE)[None, :, None].repeat(20, axis=2),
                            np.full((1, 2), np.inf))
    return FunnelParams(SEGS, outcome, EmpiricalSize(slices[None]), arrivals, as_of=AS_OF)


def _clock_fate(rng, seg, age):
    """Competing exponential clocks from ``age``, bin by bin: (won?, time from creation)."""
    n = len(seg)
    won = np.zeros(n, bool)
    when = np.full(n, np.inf)
    alive = np.ones(n, bool)
    for j in range(len(EDGES) - 1):
        start = np.maximum(EDGES[j], age)
        width = EDGES[j + 1] - start
        tw = rng.exponential(1.0 / H_WON[seg, j])
        hl = H_LOST[seg, j]
        tl = np.where(hl > 0, rng.exponential(1.0 / np.where(hl > 0, hl, 1.0)), np.inf)
        first = np.minimum(tw, tl)
        hit = alive & (width > 0) & (first < width)
        won[hit] = tw[hit] < tl[hit]
        when[hit] = start[hit] + first[hit]
        alive &= ~hit
    return won, when


def _reference(params, pipeline, n_rep, rng):
    """FY wins and bookings per segment, simulated here day by day (n_rep, S)."""
    tl = make_timeline(AS_OF, None, 12)
    h0, h1 = tl.start, tl.end
    slices = params.size.slices[0]
    wins = np.zeros((n_rep, 2))
    book = np.zeros((n_rep, 2))
    days = np.arange(int(h1))
    month_len = np.array([(pd.Timestamp(AS_OF) + pd.Timedelta(days=int(d))).days_in_month
                          for d in days])
    for r in range(n_rep):
        for s in range(2):
            # Day by day: Poisson(rate / days in that month) new deals, uniform in the day.
            counts = rng.poisson(RATE[s] / month_len)
            created = np.repeat(days, counts) + rng.random(counts.sum())
            age0 = np.zeros(len(created))
            won, when = _clock_fate(rng, np.full(len(created), s), age0)
            close = created + when
            sel = won & (close >= h0) & (close < h1)
            o = pipeline.loc[pipeline["segment"] == SEGS[s]]
            won_o, when_o = _clock_fate(rng, np.full(len(o), s), o["age_days"].to_numpy())
            close_o = when_o - o["age_days"].to_numpy()
            sel_o = won_o & (close_o >= h0) & (close_o < h1)
            k = int(sel.sum() + sel_o.sum())
            wins[r, s] = k
            book[r, s] = slices[s, rng.integers(0, slices.shape[1], k)].sum()
    return wins, book


@pytest.mark.slow
def test_fast_engine_agrees_with_a_simulator_written_here():
    params = _params()
    rng = np.random.default_rng(1)
    pipeline = pd.DataFrame({
        "segment": rng.choice(SEGS, 200), "age_days": rng.integers(0, 160, 200).astype(float),
        "amount": np.nan, "owner": None,
    })
    many = params.subset(np.zeros(1500, dtype=int))
    cube = simulate(many, pipeline, [Scenario.baseline()], random_seed=3, progress=False,
                    engine="fast").isel(scenario=0)
    ours_w = cube["deals_won"].sum("month").transpose("draw", "segment").values
    ours_b = cube["bookings"].sum("month").transpose("draw", "segment").values
    ref_w, ref_b = _reference(params, pipeline, 1500, np.random.default_rng(2))
    for ours, ref in ((ours_w, ref_w), (ours_b, ref_b)):
        for s in range(2):
            se = math.sqrt(ours[:, s].var() / len(ours) + ref[:, s].var() / len(ref))
            assert abs(ours[:, s].mean() - ref[:, s].mean()) < 4 * se, (s, ours[:, s].mean(),
                                                                         ref[:, s].mean())
            assert ours[:, s].std() == pytest.approx(ref[:, s].std(), rel=0.15)


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load ``a = λ/μ`` (Erlang C)."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.slow
def test_run_des_with_binding_capacity_matches_erlang_c_and_littles_law():
    """Deals arrive as a Poisson process, each holds a rep for an exponential time."""
    c, lam, mu = 3, 2.0, 1.0  # per day; load a = 2, utilisation 2/3
    tl = make_timeline(AS_OF, None, 24)
    h1 = tl.end
    capacity = Scenario.model_validate({
        "name": "c3", "capacity": {"reps": c, "max_open_deals_per_rep": 1, "ramp_months": 0,
                                   "patience_days": None},
    })
    mult = Multipliers.of(capacity, ("all",))
    waited, wait_time, in_system = [], [], []
    for rep in range(8):
        rng = np.random.default_rng(100 + rep)
        n = rng.poisson(lam * h1)
        created = np.sort(rng.uniform(0.0, h1, n))
        service = rng.exponential(1.0 / mu, n)
        deals = Deals(
            segment=np.zeros(n, int), owner=np.full(n, -1), created=created,
            outcome=np.full(n, WON), duration=service, hold=service.copy(), value=np.ones(n),
            n_open=0,
        )
        t_close, _, _ = run_des(deals, mult, tl, capacity.capacity, ("all",),
                                np.random.default_rng(rep))
        warm = (created > 60.0) & (t_close < h1 - 30.0)
        wait = t_close[warm] - created[warm] - service[warm]
        waited.append(float(np.mean(wait > 1e-9)))
        wait_time.append(float(np.mean(wait)))
        # Little's law: the time-average number in the system over a window = λ W.
        grid = np.linspace(90.0, h1 - 60.0, 400)
        inside = (created[None, :] <= grid[:, None]) & (t_close[None, :] > grid[:, None])
        in_system.append(float(inside.sum(axis=1).mean()))
    p_wait = erlang_c(c, lam / mu)
    w_queue = p_wait / (c * mu - lam)
    for x, truth in ((np.array(waited), p_wait), (np.array(wait_time), w_queue),
                     (np.array(in_system), lam * (w_queue + 1.0 / mu))):
        se = x.std(ddof=1) / math.sqrt(len(x))
        assert abs(x.mean() - truth) < 4 * se + 0.03 * truth, (x.mean(), truth, se)
