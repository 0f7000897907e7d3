"""The model's components against computations written here, not taken from the package.

* The hazard outcome: fates and times sampled by the package (inverse cumulative incidence,
  bin by bin) against competing exponential clocks run bin by bin in this file; its
  cumulative incidences, quantiles and transitions against the same clocks.
* The empirical sizes: slice means keep a distribution's mean; the Bayesian bootstrap's
  spread of the mean is the classical standard error; list prices stay atoms; a small
  segment borrows the others' shape.
* The local trend: the Kalman likelihood against the multivariate normal density of the
  observations written out in full; the forecast of flat and growing series; the export
  artefacts at the edges of a history; the backlog of unrecorded deals.

Tolerance policy: Monte-Carlo estimates within 4 standard errors; KS p-values above 1e-3.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from targetsim.model.components import empirical_size, local_trend
from targetsim.model.config import LocalTrendSettings, ModelConfig
from targetsim.model.outcomes import LOST, STALL, WON, HazardOutcome, transition
from targetsim.model.stats import CensoredGroups, FunnelStats, LogNormalStats

EDGES = np.array([0.0, 10.0, 30.0, 60.0])
H_WON = np.array([0.02, 0.01, 0.005])
H_LOST = np.array([0.03, 0.01, 0.0])


def hazard(owner_effect: float | None = None) -> HazardOutcome:
    eff = np.zeros((1, 0)) if owner_effect is None else np.array([[owner_effect]])
    return HazardOutcome(EDGES, np.log(H_WON)[None, None, :], np.log(H_LOST)[None, None, :], eff)


def clocks(n: int, age: float, rng: np.random.Generator, shift: float = 0.0):
    """Competing exponential clocks, bin by bin, from ``age``: (fate, total time)."""
    fate = np.full(n, STALL)
    when = np.full(n, np.inf)
    alive = np.ones(n, dtype=bool)
    for j in range(len(EDGES) - 1):
        start = max(EDGES[j], age)
        width = EDGES[j + 1] - start
        if width <= 0:
            continue
        tw = rng.exponential(1.0 / (H_WON[j] * np.exp(shift)), n)
        tl = rng.exponential(1.0 / H_LOST[j], n) if H_LOST[j] > 0 else np.full(n, np.inf)
        first = np.minimum(tw, tl)
        hit = alive & (first < width)
        fate[hit] = np.where(tw[hit] < tl[hit], WON, LOST)
        when[hit] = start + first[hit]
        alive &= ~hit
    return fate, when


@pytest.mark.parametrize("age", [0.0, 15.0, 59.0, 70.0])
def test_hazard_fates_and_times_match_competing_clocks(age):
    n = 40_000
    h = hazard()
    seg, own = np.zeros(n, int), np.full(n, -1)
    prep = h.prepare(0, seg, own, np.full(n, age))
    fate, rem, hold = h.sample(np.random.default_rng(1), prep, 1.0)
    ref_fate, ref_when = clocks(n, age, np.random.default_rng(2))
    for code in (WON, LOST, STALL):
        p = (ref_fate == code).mean()
        se = np.sqrt(max(p * (1 - p), 1e-4) * 2 / n)
        assert abs((fate == code).mean() - p) < 4 * se + 1e-9
    if age < EDGES[-1]:
        won, ref_won = fate == WON, ref_fate == WON
        assert stats.ks_2samp(age + rem[won], ref_when[ref_won]).pvalue > 1e-3
    else:  # older than anything that ever closed: it never closes
        assert (fate == STALL).all() and np.isinf(rem).all()
    assert (hold[fate != STALL] == rem[fate != STALL]).all()


def test_hazard_owner_shift_and_scenario_win_factor():
    n = 40_000
    h = hazard(owner_effect=0.7)
    prep = h.prepare(0, np.zeros(n, int), np.zeros(n, int), np.zeros(n))
    fate, _, _ = h.sample(np.random.default_rng(3), prep, 1.0)
    ref, _ = clocks(n, 0.0, np.random.default_rng(4), shift=0.7)
    assert abs((fate == WON).mean() - (ref == WON).mean()) < 4 * np.sqrt(0.5 / n)
    half, _, _ = h.sample(np.random.default_rng(3), prep, 0.5)
    assert (half == WON).mean() == pytest.approx(0.5 * (fate == WON).mean(), rel=0.05)


def test_hazard_cumulative_quantile_and_transition_match_the_clocks():
    n = 200_000
    h = hazard()
    ref_fate, ref_when = clocks(n, 0.0, np.random.default_rng(5))
    t = np.array([5.0, 10.0, 25.0, 45.0, 80.0])
    won, lost, still = h.cumulative(0, np.zeros(5, int), np.full(5, -1), t)
    for i, ti in enumerate(t):
        assert won[i] == pytest.approx(((ref_fate == WON) & (ref_when <= ti)).mean(), abs=0.004)
        assert lost[i] == pytest.approx(((ref_fate == LOST) & (ref_when <= ti)).mean(), abs=0.004)
    assert still == pytest.approx(1 - won - lost)
    med = h.won_quantile(0.5)[0, 0]
    assert med == pytest.approx(np.median(ref_when[ref_fate == WON]), rel=0.02)
    q95 = h.won_quantile(0.95)[0, 0]
    assert q95 == pytest.approx(np.quantile(ref_when[ref_fate == WON], 0.95), rel=0.02)
    pw, po = transition(h, np.zeros(2, int), np.full(2, -1), np.array([5.0, 20.0]),
                        np.array([25.0, 40.0]))
    for i, (a0, a1) in enumerate(((5.0, 25.0), (20.0, 40.0))):
        alive = ~(ref_when <= a0)
        assert pw[0, i] == pytest.approx(
            ((ref_fate == WON) & (ref_when > a0) & (ref_when <= a1))[alive].mean(), abs=0.005)
        assert po[0, i] == pytest.approx((~(ref_when <= a1))[alive].mean(), abs=0.005)
    # The eventual shares are the cumulative incidences at the last edge.
    pw_e, pl_e, ps_e = h.eventual()
    assert pw_e[0, 0] == pytest.approx((ref_fate == WON).mean(), abs=0.004)
    assert ps_e[0, 0] == pytest.approx((ref_fate == STALL).mean(), abs=0.004)


# --------------------------------------------------------------------------- sizes
def _stats(amounts: dict[int, np.ndarray], n_seg: int) -> FunnelStats:
    vals = np.concatenate(list(amounts.values()))
    segs = np.concatenate([np.full(len(v), s) for s, v in amounts.items()])
    empty = LogNormalStats(np.zeros(n_seg), np.zeros(n_seg), np.zeros(n_seg))
    return FunnelStats(
        segments=tuple(f"s{i}" for i in range(n_seg)), owners=(),
        cell_segment=np.arange(n_seg), cell_owner=np.full(n_seg, -1),
        n_won=np.zeros(n_seg), n_lost=np.zeros(n_seg), won_days=empty, lost_days=empty,
        open=CensoredGroups.of(np.zeros(0, int), np.zeros(0)), size=empty,
        arrival_segment=np.zeros(1, int), arrival_month=np.zeros(1, int),
        arrival_moy=np.zeros(1, int), arrival_count=np.ones(1), arrival_exposure=np.ones(1),
        stages=None, n_deals=len(vals), won_amounts=vals, won_amount_segment=segs,
    )


def test_slice_means_keep_the_mean_and_the_atoms():
    v = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(empirical_size._slice_means(v, np.ones(4), 4), v)
    w = np.array([0.1, 0.2, 0.3, 0.4])
    got = empirical_size._slice_means(v, w, 64)
    assert got.mean() == pytest.approx(np.sum(v * w))
    assert np.all(np.diff(got) >= -1e-9)


def test_bayesian_bootstrap_spread_is_the_standard_error():
    rng = np.random.default_rng(0)
    amounts = rng.gamma(1.5, 4_000.0, 400)
    st = _stats({0: amounts}, 1)
    state = empirical_size.fit(st, ModelConfig())
    draws = empirical_size.draws(state, 800, np.random.default_rng(1), 1)
    means = draws.mean()[:, 0]
    se = amounts.std(ddof=1) / np.sqrt(len(amounts))
    assert means.mean() == pytest.approx(amounts.mean(), abs=4 * se / np.sqrt(800) + 0.01 * se)
    assert means.std() == pytest.approx(se, rel=0.15)


def test_list_prices_stay_atoms_and_a_small_segment_borrows_shape():
    prices = np.repeat([1_000.0, 5_000.0, 20_000.0], [300, 150, 50])
    small = np.array([2_000.0, 2_100.0, 1_900.0])
    st = _stats({0: prices, 1: small}, 2)
    state = empirical_size.fit(st, ModelConfig())
    d = empirical_size.draws(state, 50, np.random.default_rng(2), 2)
    big = d.slices[:, 0]
    # A few slices straddle two prices; nearly all are the prices themselves.
    on_price = np.isclose(big[..., None], [1_000.0, 5_000.0, 20_000.0]).any(-1)
    assert on_price.mean() > 0.97
    # The small segment's level is its own; its spread comes from the others' shape.
    sm = d.slices[:, 1]
    assert np.median(sm) == pytest.approx(2_000.0, rel=0.2)
    assert sm.max() > 2 * small.max()


# --------------------------------------------------------------------------- arrivals
def _llt_covariance(n_t, sd_l, sd_b, damp, p0, h):
    """Covariance of a local linear trend's observations, written out in full."""
    # State after t steps as a linear map of (x0, shocks): build it by brute force.
    n_shock = 2 * (n_t - 1)
    a = np.zeros((n_t, 2, 2 + n_shock))
    a[0, :, :2] = np.eye(2)
    for t in range(1, n_t):
        a[t, 0] = a[t - 1, 0] + a[t - 1, 1]
        a[t, 1] = damp * a[t - 1, 1]
        a[t, 0, 2 + 2 * (t - 1)] += sd_l
        a[t, 1, 2 + 2 * (t - 1) + 1] += sd_b
    rows = a[:, 0, :]  # observation = level
    cov_x = np.zeros((2 + n_shock, 2 + n_shock))
    cov_x[:2, :2] = p0
    cov_x[2:, 2:] = np.eye(n_shock)
    return rows @ cov_x @ rows.T + np.diag(h)


def test_kalman_likelihood_is_the_multivariate_normal_density():
    rng = np.random.default_rng(0)
    n_t = 15
    z = np.cumsum(rng.normal(0.05, 0.2, n_t)) + 3.0
    h = rng.uniform(0.01, 0.1, n_t)
    sd_l, sd_b, damp = 0.1, 0.02, 0.9
    p0 = np.diag([4.0, 0.01])
    tm = np.array([[[1.0, 1.0], [0.0, damp]]])
    q = np.diag([sd_l**2, sd_b**2])[None]
    ll, sig, _, _ = local_trend._kalman(
        z[None], h[None], np.ones((1, n_t), bool), tm, q, np.tile([1.0, 0.0], (n_t, 1)),
        np.array([[3.0, 0.0]]), p0[None],
    )
    cov = _llt_covariance(n_t, sd_l, sd_b, damp, p0, h)
    want = stats.multivariate_normal(np.full(n_t, 3.0), cov).logpdf(z)
    assert ll[0] == pytest.approx(want, rel=1e-10)
    # The smoothed signal is the conditional mean of the levels given every observation.
    k = cov - np.diag(h)
    np.testing.assert_allclose(sig[0], 3.0 + k @ np.linalg.solve(cov, z - 3.0), rtol=1e-8)


def _arrival_stats(counts: np.ndarray, moy_last: int = 11) -> FunnelStats:
    n_seg, n_t = counts.shape
    months = np.tile(np.arange(-(n_t - 1), 1), n_seg)
    moy = (moy_last + months) % 12
    st = _stats({0: np.ones(1)}, n_seg)
    return FunnelStats(**{
        **st.__dict__, "arrival_segment": np.repeat(np.arange(n_seg), n_t),
        "arrival_month": months, "arrival_moy": moy, "arrival_count": counts.ravel(),
        "arrival_exposure": np.ones(counts.size),
    })


def test_flat_series_forecast_covers_the_truth_and_growth_is_continued():
    rng = np.random.default_rng(1)
    flat = rng.poisson(40.0, (2, 20)).astype(float)
    state = local_trend.fit(_arrival_stats(flat), ModelConfig())
    d = local_trend.draws(state, 2000, np.random.default_rng(2))
    year = np.exp(d.log_mean(np.arange(1, 13))).sum(-1)  # (D, S)
    for s in range(2):
        lo, hi = np.quantile(year[:, s], [0.1, 0.9])
        assert lo < 480 < hi and hi / lo < 1.5
    grow = rng.poisson(30.0 * 1.03 ** np.arange(24), (2, 24)).astype(float)
    state = local_trend.fit(_arrival_stats(grow), ModelConfig())
    d = local_trend.draws(state, 2000, np.random.default_rng(3))
    slope = d.log_mean(np.array([12]))[:, :, 0] - d.log_mean(np.array([0]))[:, :, 0]
    assert np.median(slope) > 0.15  # truth 12 x 0.03 = 0.36, damped


def test_edge_artefacts_are_flagged_and_their_backlog_is_computed():
    lt = LocalTrendSettings()
    steady = np.full((1, 20), 100.0)
    assert not local_trend.edge_artefacts(steady, np.ones((1, 20)), lt).any()
    edges = steady.copy()
    edges[0, :3] = [10.0, 30.0, 45.0]
    edges[0, -1] = 30.0
    flags = local_trend.edge_artefacts(edges, np.ones((1, 20)), lt)
    assert flags.tolist() == [True] * 3 + [False] * 16 + [True]
    # A month at 80 % of the median at the start is kept (75 % is the start's floor).
    kept = steady.copy()
    kept[0, 0] = 80.0
    assert not local_trend.edge_artefacts(kept, np.ones((1, 20)), lt).any()
    # A ramp-up's last month just above the start's floor is still the ramp (it rises from
    # a flagged month and stays under 90 % of the median); the first month at the level is not.
    ramp = steady.copy()
    ramp[0, :5] = [10.0, 30.0, 45.0, 78.0, 97.0]
    assert local_trend.edge_artefacts(ramp, np.ones((1, 20)), lt).tolist() == (
        [True] * 4 + [False] * 16)
    # Growth of 1 % a month from the start (first month at 0.9 of the median) is no ramp.
    growth = 100.0 * 1.01 ** np.arange(20)[None]
    assert not local_trend.edge_artefacts(growth, np.ones((1, 20)), lt).any()
    # A real decline of 1 % a month is not an artefact.
    decline = 100.0 * 0.99 ** np.arange(20)[None]
    assert not local_trend.edge_artefacts(decline, np.ones((1, 20)), lt).any()
    st = _arrival_stats(edges)
    state = local_trend.fit(st, ModelConfig())
    as_of = pd.Timestamp("2026-12-31")
    d = local_trend.draws(state, 400, np.random.default_rng(4), as_of)
    assert d.backlog_lo.tolist() == [-30.0] and d.backlog_hi.tolist() == [0.0]
    miss = np.array([d.missing(i)[0, 0] for i in range(400)])
    assert np.median(miss) == pytest.approx(70.0, abs=12.0)  # ~100 a month, 30 recorded
    notes = local_trend.notes(state, as_of)
    assert len(notes) == 2 and "Dec 2026 (30)" in notes[1] and "May 2025 (10)" in notes[0]
    # The report says the same in its language (the evidence section).
    from types import SimpleNamespace

    from targetsim.report.html import _Fmt, _left_out
    from targetsim.report.i18n import labels

    fit = SimpleNamespace(states={"arrivals": state}, as_of=as_of)
    en = _left_out(fit, labels("en"), _Fmt("en", "USD"), "en")
    fr = _left_out(fit, labels("fr"), _Fmt("fr", "EUR"), "fr")
    assert len(en) == 2 and "May 2025: 10" in en[0] and "Dec 2026: 30" in en[1]
    assert "mai 2025: 10" in fr[0] and "déc. 2026: 30" in fr[1]
    assert "écartées" in fr[1] and _left_out(None, labels("en"), _Fmt("en", "USD"), "en") == []


def test_left_truncated_export_counts_time_at_risk_from_the_truncation_date():
    from targetsim.data.funnel import Opportunities, build_funnel
    from targetsim.model.components.hazard import hazard_counts
    from targetsim.model.stats import funnel_stats, left_truncation

    rng = np.random.default_rng(0)
    n = 400
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D")
    cycle = rng.integers(5, 40, n)
    closed = created + pd.to_timedelta(cycle, "D")
    as_of = pd.Timestamp("2024-12-31")
    cut = pd.Timestamp("2024-06-01")
    # One deal in five never closes; the export only knows deals closed from June on, or
    # still open (as Maven's: its closes start months after its first deals).
    stall = rng.random(n) < 0.2
    outcome = np.where(stall, "open", np.where(rng.random(n) < 0.4, "won", "lost"))
    keep = stall | (closed >= cut)
    table = pd.DataFrame({
        "opportunity_id": [f"o{i}" for i in range(n)], "created_at": created,
        "outcome": outcome, "closed_at": pd.Series(closed).where(~stall),
        "amount": 100.0, "segment": "all", "owner": None, "created_imputed": False,
        "row": np.arange(2, n + 2),
    }).loc[keep].reset_index(drop=True)
    funnel = build_funnel(Opportunities(table=table, as_of=as_of))
    found = left_truncation(funnel.deals)  # the first close the export shows
    assert cut <= found <= cut + pd.Timedelta(days=3)
    cut = found
    st = funnel_stats(funnel)
    assert st.truncated_before == cut.strftime("%Y-%m-%d")
    edges = np.array([0.0, 10.0, 20.0, 50.0])
    counts = hazard_counts(st, edges, delayed_entry=True)
    # By hand: each deal at risk from max(its age at the cut, 0) to its close (open: as_of).
    age_cut = np.maximum((cut - table["created_at"]).dt.days.to_numpy(float), 0.0)
    end = table["closed_at"].fillna(as_of)
    t = (end - table["created_at"]).dt.days.to_numpy(float) + 0.5
    want = [np.clip(np.minimum(t, b) - np.maximum(a, age_cut), 0.0, None).sum()
            for a, b in zip(edges[:-1], edges[1:], strict=True)]
    np.testing.assert_allclose(counts["exposure"].sum(0), want)
    # Without the truncation, the days before the cut would have counted too.
    assert counts["exposure"].sum() < np.clip(t, 0, 50).sum() - 1000
    # A complete export is not truncated.
    whole = table.assign(row=np.arange(2, len(table) + 2))
    full = pd.DataFrame({
        "opportunity_id": [f"o{i}" for i in range(n)], "created_at": created,
        "outcome": "won", "closed_at": closed, "amount": 1.0, "segment": "all",
        "owner": None, "created_imputed": False, "row": np.arange(2, n + 2),
    })
    assert left_truncation(build_funnel(Opportunities(table=full, as_of=as_of)).deals) is None
    assert len(whole) < n
