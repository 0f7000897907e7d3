"""The compiled simulator on the shipped components, against rules written here.

* Both engines sample the same deals: without capacity (or with capacity that never binds)
  the SimPy engine reproduces the vectorised one exactly, owners and backlog included, for
  the shipped components and for mixes with the legacy ones.
* Results depend on the seed and the draw only: not on the size of the blocks draws are
  sampled in, nor on how draws are split into chunks.
* Spawning: owners follow ``owner_share``, creation days are uniform within each month piece
  and independent of the owner; values are the size component's.
* The backlog: unrecorded deals join the open pipeline as many times as the arrival rate
  and the chance of still being open at ``as_of`` say.
* The compiled tables: cumulative incidences equal the component's own, owners included.

Tolerance policy: Monte-Carlo estimates within 4 standard errors; KS p-values above 1e-3.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from targetsim.model.outcomes import HazardOutcome, LogNormalOutcome
from targetsim.model.params import ArrivalDraws, EmpiricalSize, FunnelParams, LogNormalSize
from targetsim.simulate import Scenario, simulate
from targetsim.simulate import engine as engine_mod
from targetsim.simulate.engine import run_chunk
from targetsim.simulate.sampling import Multipliers, encode_pipeline, sample_deals
from targetsim.simulate.scenario import parse_scenario
from targetsim.simulate.timeline import make_timeline

SEGS = ("fast", "slow")
OWNERS = ("ann", "bob", "cid")
EDGES = np.array([0.0, 7.0, 20.0, 45.0, 90.0, 150.0])
H_WON = np.array([[0.010, 0.020, 0.012, 0.004, 0.001], [0.001, 0.003, 0.006, 0.006, 0.003]])
H_LOST = np.array([[0.030, 0.015, 0.005, 0.002, 0.0], [0.004, 0.004, 0.004, 0.002, 0.001]])
SHARE = np.array([[0.5, 0.3, 0.2], [0.0, 0.25, 0.75]])
AS_OF = "2026-12-31"


def hazard_params(n_draws: int = 12, rate=(60.0, 15.0), missing=(20.0, 8.0)) -> FunnelParams:
    """Shipped components, posterior-like spread between draws, owners and a backlog."""
    rng = np.random.default_rng(0)
    lw = np.log(H_WON)[None] + rng.normal(0, 0.1, (n_draws, 2, 5))
    ll = np.log(H_LOST)[None] + rng.normal(0, 0.1, (n_draws, 2, 5))
    outcome = HazardOutcome(EDGES, lw, ll, np.zeros((n_draws, 0)))
    slices = np.sort(np.stack([rng.gamma(2.0, 2_000.0, 64), rng.gamma(1.2, 30_000.0, 64)]))
    arrivals = ArrivalDraws(
        np.log(np.asarray(rate))[None, :, None].repeat(n_draws, 0).repeat(20, 2)
        + rng.normal(0, 0.05, (n_draws, 2, 1)),
        np.full((n_draws, 2), 30.0),
        backlog_lo=np.array([-30.0]), backlog_hi=np.array([0.0]),
        backlog_exposure=np.array([1.0]),
        backlog_observed=(np.asarray(rate) - np.asarray(missing))[:, None],
    )
    p = FunnelParams(SEGS, outcome, EmpiricalSize(np.repeat(slices[None], n_draws, 0)),
                     arrivals, as_of=AS_OF)
    effect = np.tile([0.0, 0.8, -0.5], (n_draws, 1))
    return p.with_owners(OWNERS, effect, SHARE)


def pipeline(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "opportunity_id": np.arange(n).astype(str), "segment": rng.choice(SEGS, n),
        "owner": rng.choice(["ann", "bob", "cid", None], n),
        "age_days": rng.integers(0, 200, n).astype(float),
        "amount": np.where(rng.random(n) < 0.5, np.nan, 5_000.0), "stage": "created",
    })


def flows_balance(ds) -> bool:
    lhs = ds.initial_open + ds.new_opportunities.sum("month")
    rhs = (ds.deals_won.sum("month") + ds.deals_lost.sum("month")
           + ds.went_cold.sum("month") + ds.open_count_final)
    return bool((lhs == rhs).all())


GROWTH = parse_scenario(
    "name: g\nmarket: {lead_volume: 1.2, win_rate: 1.1, deal_size: 1.05, cycle_length: 1.3}\n"
    "segments: {slow: {win_rate: 0.7}}")
ROOMY = parse_scenario(
    "name: g\nmarket: {lead_volume: 1.2, win_rate: 1.1, deal_size: 1.05, cycle_length: 1.3}\n"
    "segments: {slow: {win_rate: 0.7}}\ncapacity: {reps: 500, max_open_deals_per_rep: 100}")


def lognormal_mix(p: FunnelParams, outcome: bool, size: bool) -> FunnelParams:
    """``p`` with the legacy outcome and/or size component in place of the shipped one."""
    n = p.n_draws
    if outcome:
        lo = LogNormalOutcome(
            p_win=np.full((n, 2), 0.35), p_lost=np.full((n, 2), 0.45),
            won_mu=np.full((n, 2), np.log(50.0)), won_sigma=np.full((n, 2), 0.6),
            lost_mu=np.full((n, 2), np.log(30.0)), lost_sigma=np.full((n, 2), 0.7),
            owner_effect=np.tile([0.0, 0.8, -0.5], (n, 1)), stale_after_days=300.0)
        p = dataclasses.replace(p, outcome=lo)
    if size:
        p = dataclasses.replace(p, size=LogNormalSize(np.full((n, 2), 9.0),
                                                      np.full((n, 2), 0.5)))
    return p


@pytest.mark.parametrize("mix", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["shipped", "lognormal-outcome", "lognormal-size", "legacy"])
def test_engines_identical_without_binding_capacity(mix):
    p = lognormal_mix(hazard_params(), *mix)
    fast = simulate(p, pipeline(), [GROWTH], engine="fast", random_seed=5, progress=False)
    des = simulate(p, pipeline(), [GROWTH], engine="des", random_seed=5, progress=False)
    roomy = simulate(p, pipeline(), [ROOMY], engine="des", random_seed=5, progress=False)
    assert flows_balance(fast) and fast.deals_won.sum() > 0 and "owner" in fast.dims
    for v in fast.data_vars:
        np.testing.assert_array_equal(fast[v].values, des[v].values, err_msg=v)
        if v != "capacity":
            np.testing.assert_array_equal(fast[v].values, roomy[v].values, err_msg=v)
    # Deals without an owner (some of the open pipeline) are booked to no one.
    gap = fast.bookings.sum("segment") - fast.owner_bookings.sum("owner")
    assert float(gap.min()) > -1e-6 and float(gap.sum()) > 0
    # The backlog joined the open pipeline: more open at the start than the export shows.
    assert int(fast.initial_open.sum("segment").min()) > 0


def test_blocks_and_chunks_do_not_change_the_result(monkeypatch):
    p = hazard_params(n_draws=11)
    scen = [Scenario.baseline(), GROWTH]
    whole = simulate(p, pipeline(), scen, random_seed=2, progress=False)
    monkeypatch.setattr(engine_mod, "BLOCK_DRAWS", 3)
    small = simulate(p, pipeline(), scen, random_seed=2, progress=False)
    assert whole.identical(small)
    # Chunks of draws, as workers run them: the draws' own streams, whatever the split.
    tl = make_timeline(p.as_of, None, 12)
    pipe = encode_pipeline(pipeline(), p)
    ids = np.arange(11)
    parts = [run_chunk(p.subset(c), c.tolist(), pipe, scen, tl, "fast", 2)
             for c in (ids[:4], ids[4:])]
    for name in ("bookings", "deals_won", "open_value", "owner_bookings"):
        np.testing.assert_array_equal(np.concatenate([q[name] for q in parts]),
                                      whole[name].values, err_msg=name)
    # Blocks on threads (as simulate runs them without workers): the same, bit for bit.
    for threads in (1, 4):
        run = run_chunk(p, ids.tolist(), pipe, scen, tl, "fast", 2, threads=threads)
        for name in ("bookings", "deals_won", "open_value", "owner_bookings"):
            np.testing.assert_array_equal(run[name], whole[name].values, err_msg=name)


def test_owners_and_creation_days_follow_the_rules():
    p = hazard_params(n_draws=1, rate=(4_000.0, 3_000.0))
    tl = make_timeline(p.as_of, None, 12)
    mult = Multipliers.of(Scenario.baseline(), SEGS)
    deals = sample_deals(p, 0, encode_pipeline(None, p), mult, tl, np.random.default_rng(3))
    new = slice(deals.n_open, None)
    seg, owner, created = deals.segment[new], deals.owner[new], deals.created[new]
    for s in range(2):
        own = owner[seg == s]
        n = len(own)
        for o in range(3):
            exp = SHARE[s, o] * n
            assert abs((own == o).sum() - exp) < 4 * np.sqrt(exp * (1 - SHARE[s, o])) + 1e-9
    # Uniform within each month piece, whoever the owner.
    pieces = tl.arrival_pieces()
    pos = np.full(len(created), np.nan)
    for lo, hi in zip(pieces["lo"], pieces["hi"], strict=True):
        inside = (created >= lo) & (created < hi)
        pos[inside] = (created[inside] - lo) / (hi - lo)
    assert not np.isnan(pos).any()
    assert stats.kstest(pos, "uniform").pvalue > 1e-3
    for o in range(3):
        x = pos[owner == o]
        assert stats.kstest(x, "uniform").pvalue > 1e-3, o
    # Values: the draw's slices, equally likely.
    counts = np.array([(deals.value[new][seg == 0] == v).sum() for v in p.size.slices[0, 0]])
    assert stats.chisquare(counts).pvalue > 1e-3


def test_backlog_joins_the_open_pipeline_when_still_open():
    miss = np.array([200.0, 50.0])
    p = hazard_params(n_draws=1, missing=tuple(miss))
    tl = make_timeline(p.as_of, None, 12)
    mult = Multipliers.of(Scenario.baseline(), SEGS)
    pipe = encode_pipeline(None, p)
    kept = np.array([
        np.bincount(d.segment[: d.n_open], minlength=2)
        for d in (sample_deals(p, 0, pipe, mult, tl, np.random.default_rng(r))
                  for r in range(300))
    ])
    # Expected: the missing deals, created uniformly over the month before as_of, times the
    # chance of being still open at as_of (no owner effect on average: the owners' mix).
    age = np.linspace(0.0, 30.0, 3001)[:-1] + 0.005
    for s in range(2):
        still = np.zeros_like(age)
        for o in range(3):
            _, _, open_ = p.outcome.cumulative(0, np.full(len(age), s), np.full(len(age), o),
                                               age)
            still += SHARE[s, o] * open_
        lam = miss[s] * still.mean()
        assert abs(kept[:, s].mean() - lam) < 4 * np.sqrt(lam / len(kept)), (s, lam)
    d = sample_deals(p, 0, pipe, mult, tl, np.random.default_rng(0))
    assert (d.created[: d.n_open] == 0).all() and (d.duration[: d.n_open] > 0).all()


def test_compiled_tables_match_the_cumulative_incidence():
    from targetsim.model.hazard_kernel import build_tables, padded, table_width

    p = hazard_params(n_draws=2)
    o, s = p.outcome, p.outcome.sampler(np.array([1]))
    n_cell = len(OWNERS) + 1
    tab = np.empty((2 * n_cell, table_width(5)))
    guide = np.empty((4 * n_cell, padded(5)), dtype=np.int64)
    build_tables(s.hw[0], s.hl[0], s.own_mult[0], EDGES, np.ones(2), tab, guide)
    for seg in range(2):
        for owner in (-1, 0, 1, 2):
            r = seg * n_cell + owner + 1
            won, lost, _ = o.cumulative(1, np.full(6, seg), np.full(6, owner), EDGES)
            np.testing.assert_allclose(tab[r, :6], won, rtol=1e-10, atol=1e-14)
            pad = padded(5)
            np.testing.assert_allclose(tab[r, pad:pad + 6], lost, rtol=1e-10, atol=1e-14)


def test_compiled_words_are_the_streams_own(monkeypatch):
    """The compiled loops draw a PCG64 stream's words themselves: the words ``random_raw``
    gives, and the stream is left where ``random_raw`` would leave it; words given as an
    array (any other bit generator) give the same deals."""
    from targetsim.simulate import sampling
    from targetsim.simulate.kernels import pcg64_words

    rngs = [np.random.default_rng(np.random.SeedSequence(7, spawn_key=(g,))) for g in range(3)]
    ref = [np.random.default_rng(np.random.SeedSequence(7, spawn_key=(g,))) for g in range(3)]
    for r in rngs + ref:  # a stream part-way through, its 32-bit buffer in use
        r.integers(0, 10, 5, dtype=np.uint32)
    rows = np.array([5, 0, 1_001])
    states, raw = sampling._words(rngs, rows)
    assert raw.size == 0
    for k, n in enumerate(rows):
        out = np.empty((n, 2), dtype=np.uint64)
        pcg64_words(states[k].copy(), out)
        np.testing.assert_array_equal(out.ravel(), ref[k].bit_generator.random_raw(2 * n))
        assert rngs[k].random() == ref[k].random()

    p = hazard_params(n_draws=1)
    tl, pipe = make_timeline(p.as_of, None, 12), encode_pipeline(pipeline(), p)
    mult = Multipliers.of(GROWTH, SEGS)
    compiled = sample_deals(p, 0, pipe, mult, tl, np.random.default_rng(11))

    def as_array(rngs, rows):  # noqa: ANN001, ANN202
        raw = np.concatenate([r.bit_generator.random_raw(2 * int(n))
                              for r, n in zip(rngs, rows, strict=True)])
        return np.zeros((0, 4), dtype=np.uint64), raw.reshape(-1, 2)

    monkeypatch.setattr(sampling, "_words", as_array)
    given = sample_deals(p, 0, pipe, mult, tl, np.random.default_rng(11))
    assert len(given.segment) > 100
    for a, b in zip(dataclasses.astuple(compiled), dataclasses.astuple(given), strict=True):
        np.testing.assert_array_equal(a, b)
