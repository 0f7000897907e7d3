"""The simulator against known truth: flow conservation, λ·p·T, conditional open pipeline,
scenario multipliers, the projection contract and its file round trip.

Tolerance policy: Monte-Carlo estimates must lie within 4 standard errors of the closed form.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import expit

from targetsim.errors import ConfigError, DataError, ModelMismatchError, ScenarioError
from targetsim.model.params import FunnelParams
from targetsim.simulate import (
    Scenario,
    load_projection,
    load_scenario,
    save_projection,
    simulate,
)
from targetsim.simulate.fast import close_times
from targetsim.simulate.sampling import (
    STALL,
    WON,
    Multipliers,
    encode_pipeline,
    sample_deals,
)
from targetsim.simulate.scenario import parse_scenario
from targetsim.simulate.timeline import make_timeline

SEGS = ("A", "B")


def conditional_outcome(q_win, q_lost, q_stall, age, won_mu, won_sigma, lost_mu, lost_sigma):
    """Outcome shares of a deal open at ``age`` (scipy, independent of the package)."""
    sw = stats.lognorm.sf(age, won_sigma, scale=np.exp(won_mu))
    sl = stats.lognorm.sf(age, lost_sigma, scale=np.exp(lost_mu))
    z = q_win * sw + q_lost * sl + q_stall
    return q_win * sw / z, q_lost * sl / z, q_stall / z


def params(n_draws=20, **kw) -> FunnelParams:
    base = dict(p_win=0.3, p_lost=0.5, arrivals_per_month=[30.0, 10.0], n_draws=n_draws)
    base.update(kw)
    return FunnelParams.constant(SEGS, **base)


def pipeline(n=40, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "opportunity_id": [f"o{i}" for i in range(n)],
            "segment": rng.choice(SEGS, n),
            "owner": pd.array([pd.NA] * n, dtype="object"),
            "age_days": rng.exponential(80, n).round(),
            "amount": np.where(rng.random(n) < 0.5, np.nan, 2_000.0),
            "stage": "created",
        }
    )


def scenario(text: str) -> Scenario:
    return parse_scenario(text, "test.yaml")


def flows_balance(ds) -> bool:
    lhs = ds.initial_open + ds.new_opportunities.sum("month")
    rhs = (
        ds.deals_won.sum("month")
        + ds.deals_lost.sum("month")
        + ds.went_cold.sum("month")
        + ds.open_count_final
    )
    return bool((lhs == rhs).all())


CAPPED = """name: capped
market: {cycle_length: 1.3, win_rate: 1.2}
capacity: {reps: 1, max_open_deals_per_rep: 6, ramp_months: 1, attrition_per_year: 0.5,
           patience_days: 20, hires: [{month: 2027-04, segment: A, count: 2}]}
"""


def test_projection_contract_and_flow_conservation_every_draw():
    ds = simulate(params(), pipeline(), [Scenario.baseline(), load_scenario("tension")],
                  random_seed=7, progress=False)
    assert ds.bookings.dims == ("draw", "scenario", "segment", "month")
    assert ds.open_count_final.dims == ("draw", "scenario", "segment")
    assert list(ds.scenario.values) == ["baseline", "tension"]
    assert list(ds.segment.values) == list(SEGS)
    assert ds.month.values[0] == np.datetime64("2027-01-01")
    assert ds.sizes["month"] == 12 and ds.sizes["draw"] == 20
    for v in ("deals_won", "deals_lost", "new_opportunities", "went_cold", "open_count"):
        assert ds[v].dtype == np.int64
    assert np.isinf(ds.capacity).all()
    assert ds.attrs["engine"] == "fast" and ds.attrs["seed"] == 7
    assert ds.attrs["as_of"] == "2026-12-31" and ds.attrs["horizon_start"] == "2027-01-01"
    assert [s["name"] for s in json.loads(ds.attrs["scenarios_json"])] == ["baseline", "tension"]
    assert "owner" not in ds.dims
    assert flows_balance(ds)
    # open_count at the start of month k+1 = at k + new - closed in k.
    closed = ds.deals_won + ds.deals_lost + ds.went_cold
    step = ds.open_count.shift(month=-1) - (ds.open_count + ds.new_opportunities - closed)
    assert (step.isel(month=slice(0, -1)) == 0).all()
    assert (ds.initial_open == ds.open_count.isel(month=0)).all()
    assert (ds.bookings >= 0).all() and ((ds.bookings > 0) == (ds.deals_won > 0)).all()


def test_des_with_capacity_conserves_flow_and_goes_cold():
    ds = simulate(params(arrivals_per_month=[40.0, 5.0]), pipeline(),
                  [scenario(CAPPED)], random_seed=3, progress=False)
    assert ds.attrs["engine"] == "des"
    assert flows_balance(ds)
    assert ds.went_cold.sel(segment="A").sum() > 0
    cap = ds.capacity.isel(scenario=0)
    assert float(cap.sel(segment="B").isel(draw=0, month=0)) == 6
    # Segment A: the April hires ramp over one month: capacity in June exceeds January's.
    assert (cap.sel(segment="A", month="2027-06-01") > cap.sel(segment="A", month="2027-01-01")
            ).mean() > 0.8


def test_no_capacity_des_reproduces_fast_exactly():
    p, pipe = params(), pipeline()
    fast = simulate(p, pipe, [load_scenario("growth")], engine="fast", progress=False)
    des = simulate(p, pipe, [load_scenario("growth")], engine="des", progress=False)
    for v in fast.data_vars:
        np.testing.assert_array_equal(fast[v].values, des[v].values)
    # Capacity that never binds goes through the queue but changes nothing.
    roomy = scenario(
        "name: growth\nmarket: {lead_volume: 1.2, win_rate: 1.05, deal_size: 1.05}\n"
        "capacity: {reps: 100, max_open_deals_per_rep: 100}"
    )
    des2 = simulate(p, pipe, [roomy], engine="des", progress=False)
    for v in ("bookings", "deals_won", "deals_lost", "open_count", "went_cold"):
        np.testing.assert_array_equal(fast[v].values, des2[v].values)


def expected_wins(p_win, lam, won_mu, won_sigma, timeline):
    """Exact E[wins in the horizon]: arrivals uniform per calendar month, no open pipeline."""
    end = timeline.end
    cdf = lambda t: stats.lognorm.cdf(np.maximum(end - t, 0), won_sigma, scale=np.exp(won_mu))  # noqa: E731
    pieces = [(a, b, share) for a, b, _, _, share in timeline.gap] + [
        (a, b, 1.0) for a, b in zip(timeline.edges[:-1], timeline.edges[1:], strict=True)
    ]
    return sum(
        lam * share * p_win * integrate.quad(cdf, a, b)[0] / (b - a) for a, b, share in pieces
    )


def test_long_horizon_wins_match_lambda_p_t():
    lam, p_win, months = 20.0, 0.3, 120
    p = FunnelParams.constant(("all",), p_win=p_win, arrivals_per_month=lam, n_draws=200)
    ds = simulate(p, None, months=months, random_seed=1, progress=False)
    won = ds.deals_won.sum("month").values.ravel()
    tl = make_timeline(p.as_of, None, months)
    o = p.outcome
    exact = expected_wins(p_win, lam, float(o.won_mu[0, 0]), float(o.won_sigma[0, 0]), tl)
    assert exact == pytest.approx(lam * p_win * months, rel=0.03)  # λ·p·T, edge effect aside
    se = won.std(ddof=1) / np.sqrt(len(won))
    assert abs(won.mean() - exact) < 4 * se
    assert flows_balance(ds)


def test_open_deal_win_probability_conditional_on_age():
    p = params(n_draws=1, won_median_days=60.0, won_sigma=0.5, lost_median_days=30.0)
    q = (0.3, 0.5, 0.2)
    for age in (0.0, 45.0, 120.0):
        n = 40_000
        pipe = pd.DataFrame({"segment": ["A"] * n, "age_days": age, "amount": 1.0})
        tl = make_timeline(p.as_of, None, 12)
        mult = Multipliers.of(Scenario.baseline(), SEGS)
        deals = sample_deals(p, 0, encode_pipeline(pipe, p), mult, tl,
                             np.random.default_rng(int(age)))
        won = deals.outcome[: deals.n_open] == WON
        sw = stats.lognorm.sf(age, 0.5, scale=60.0)
        sl = stats.lognorm.sf(age, 0.5, scale=30.0)
        truth = q[0] * sw / (q[0] * sw + q[1] * sl + q[2])
        assert abs(won.mean() - truth) < 4 * np.sqrt(truth * (1 - truth) / n) + 1e-4
        # Remaining time of the won ones: the log-normal truncated at the age.
        total = age + deals.duration[: deals.n_open][won]
        f0 = stats.lognorm.cdf(age, 0.5, scale=60.0)
        trunc_cdf = lambda t, f0=f0: (stats.lognorm.cdf(t, 0.5, scale=60.0) - f0) / (1 - f0)  # noqa: E731
        assert stats.kstest(total, trunc_cdf).pvalue > 1e-3
    # Far beyond the bulk of won cycles (99.99th percentile ≈ 4.4 × median): near-zero chance.
    pw, _, ps = conditional_outcome(
        np.array([0.3]), np.array([0.5]), np.array([0.2]), np.array([2_000.0]),
        np.log(60.0), 0.5, np.log(30.0), 0.5,
    )
    assert pw[0] < 1e-9 and ps[0] == pytest.approx(1.0)


def test_abandoned_open_deals_never_close():
    """Older than ``stale_after_days``: stalled for sure; younger ones close as before."""
    p = params(n_draws=1, won_median_days=60.0, won_sigma=1.5, lost_median_days=30.0)
    p = dataclasses.replace(p, outcome=dataclasses.replace(p.outcome, stale_after_days=100.0))
    tl = make_timeline(p.as_of, None, 12)
    mult = Multipliers.of(Scenario.baseline(), SEGS)
    for age, closes in ((101.0, False), (99.0, True)):
        pipe = pd.DataFrame({"segment": ["A"] * 5_000, "age_days": age, "amount": 1.0})
        deals = sample_deals(p, 0, encode_pipeline(pipe, p), mult, tl, np.random.default_rng(1))
        stalled = deals.outcome[: deals.n_open] == STALL
        assert stalled.all() != closes
        if closes:  # a wide cycle still wins some 99-day-old deals
            assert (deals.outcome[: deals.n_open] == WON).mean() > 0.1


def test_win_rate_multiplier_halves_new_wins_and_deal_size_scales_values():
    p = params(n_draws=150, p_win=0.4, p_lost=0.6)
    base = simulate(p, None, [Scenario.baseline()], months=24, random_seed=5, progress=False)
    half = simulate(p, None, [scenario("name: half\nmarket: {win_rate: 0.5}")], months=24,
                    random_seed=5, progress=False)
    # Same stream (scenario index 0): the won deals of `half` are a subset of baseline's.
    assert (half.deals_won.values <= base.deals_won.values).all()
    assert (half.new_opportunities.values == base.new_opportunities.values).all()
    ratio = half.deals_won.sum().item() / base.deals_won.sum().item()
    assert ratio == pytest.approx(0.5, abs=0.03)
    double = simulate(p, None, [scenario("name: d\nmarket: {deal_size: 2}")], months=24,
                      random_seed=5, progress=False)
    np.testing.assert_allclose(double.bookings.values, 2 * base.bookings.values)
    # Segment override: only B's win rate changes.
    only_b = simulate(p, None, [scenario("name: b\nsegments: {B: {win_rate: 0}}")],
                      months=24, random_seed=5, progress=False)
    assert only_b.deals_won.sel(segment="B").sum() == 0
    np.testing.assert_array_equal(only_b.deals_won.sel(segment="A"),
                                  base.deals_won.sel(segment="A"))


def test_cycle_length_stretches_time_inside_the_horizon_only():
    p = params(n_draws=1)
    tl = make_timeline(p.as_of, None, 12)  # horizon starts on day 1
    pipe = pd.DataFrame({"segment": ["A"], "age_days": [0.0], "amount": [1.0]})
    mult = Multipliers.of(scenario("name: slow\nmarket: {cycle_length: 2}"), SEGS)
    deals = sample_deals(p, 0, encode_pipeline(pipe, p), mult, tl, np.random.default_rng(0))
    t = close_times(deals, mult, tl)
    h = tl.start
    finite = np.isfinite(t)
    created, dur = deals.created[finite], deals.duration[finite]
    # Raw clock = real before h; after h one raw day takes two real days.
    start_raw = np.where(created < h, created, h + (created - h) / 2)
    end_raw = start_raw + dur
    np.testing.assert_allclose(t[finite], np.where(end_raw < h, end_raw, h + 2 * (end_raw - h)))
    new = finite & (deals.created >= h)
    np.testing.assert_allclose(t[new] - deals.created[new], 2 * deals.duration[new])


def test_owners_get_their_bookings_and_their_effect():
    p = params(n_draws=60, arrivals_per_month=[60.0, 60.0], p_win=0.3, p_lost=0.7)
    p = p.with_owners(("ann", "bob"), np.tile([0.0, 2.0], (60, 1)),
                      np.array([[0.5, 0.5], [0.5, 0.5]]))
    pipe = pipeline(10).assign(owner=["ann", "bob"] * 5)
    ds = simulate(p, pipe, random_seed=2, months=36, progress=False)
    assert ds.owner_bookings.dims == ("draw", "scenario", "owner", "month")
    np.testing.assert_allclose(ds.owner_bookings.sum("owner"), ds.bookings.sum("segment"))
    np.testing.assert_array_equal(ds.owner_deals_won.sum("owner"), ds.deals_won.sum("segment"))
    won = ds.owner_deals_won.sum(("draw", "month", "scenario"))
    ratio = float(won.sel(owner="bob") / won.sel(owner="ann"))
    assert ratio == pytest.approx(expit(np.log(0.3 / 0.7) + 2) / 0.3, rel=0.12)


def test_save_and_load_round_trip(tmp_path):
    p = params(n_draws=5).with_owners(("ann",), np.zeros((5, 1)), np.ones((2, 1)))
    ds = simulate(p, pipeline(), [load_scenario("hiring-freeze")], progress=False)
    path = save_projection(ds, tmp_path / "out" / "projection.nc")
    back = load_projection(path)
    for v in ds.data_vars:
        np.testing.assert_array_equal(ds[v].values, back[v].values)
    assert back.attrs["engine"] == "des" and back.attrs["n_draws"] == 5
    assert list(back.owner.values) == ["ann"]
    assert list(tmp_path.joinpath("out").iterdir()) == [path]  # no temporary left behind
    with pytest.raises(DataError, match="projection not found"):
        load_projection(tmp_path / "none.nc")
    ds[["bookings"]].to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    with pytest.raises(ModelMismatchError, match="not a targetsim projection"):
        load_projection(tmp_path / "other.nc")


def test_scenarios_share_random_numbers_and_do_not_affect_each_other():
    p, pipe = params(), pipeline()
    tension = load_scenario("tension")
    both = simulate(p, pipe, [Scenario.baseline(), tension], random_seed=3, progress=False)
    alone = simulate(p, pipe, [tension], random_seed=3, progress=False)
    assert both.sel(scenario=["tension"]).drop_attrs().identical(alone.drop_attrs())
    twin = simulate(p, pipe, [Scenario.baseline(), scenario("name: twin")], random_seed=3,
                    progress=False)
    np.testing.assert_array_equal(twin.bookings.isel(scenario=0), twin.bookings.isel(scenario=1))


def test_same_seed_same_result_other_seed_differs():
    a = simulate(params(), pipeline(), random_seed=11, progress=False)
    b = simulate(params(), pipeline(), random_seed=11, progress=False)
    c = simulate(params(), pipeline(), random_seed=12, progress=False)
    assert a.identical(b)
    assert not np.array_equal(a.bookings.values, c.bookings.values)


def test_errors_name_the_problem():
    p = params(n_draws=2)
    with pytest.raises(ConfigError, match="the fast engine has no capacity model"):
        simulate(p, None, [load_scenario("hiring-freeze")], engine="fast", progress=False)
    with pytest.raises(ConfigError, match="--engine must be one of"):
        simulate(p, None, engine="turbo", progress=False)
    with pytest.raises(ScenarioError, match="two scenarios are named baseline"):
        simulate(p, None, [Scenario.baseline(), load_scenario("baseline")], progress=False)
    with pytest.raises(ScenarioError, match=r"segments\.Z: unknown segment 'Z'"):
        simulate(p, None, [scenario("name: z\nsegments: {Z: {win_rate: 2}}")], progress=False)
    late = scenario("name: late\ncapacity: {reps: 1, max_open_deals_per_rep: 3, "
                    "hires: [{month: 2029-01, segment: A}]}")
    with pytest.raises(ScenarioError, match=r"capacity\.hires\.0\.month: 2029-01 is outside"):
        simulate(p, None, [late], progress=False)
    with pytest.raises(ConfigError, match="first day of a month"):
        simulate(p, None, start="2027-02-03", progress=False)
    with pytest.raises(ConfigError, match="must come after"):
        simulate(p, None, start="2026-01-01", progress=False)
    early = scenario("name: early\nhorizon: {start: 2026-06-01}")
    with pytest.raises(ScenarioError, match=r"^test\.yaml: horizon\.start: 2026-06-01 must come"):
        simulate(p, None, [early], progress=False)
    with pytest.raises(DataError, match="segment.s. Q not in the fit"):
        simulate(p, pd.DataFrame({"segment": ["Q"], "age_days": [1.0]}), progress=False)


def test_later_start_lets_the_gap_elapse():
    p = params(n_draws=30)
    ds = simulate(p, pipeline(), start="2027-04-01", months=6, progress=False)
    assert ds.month.values[0] == np.datetime64("2027-04-01") and ds.sizes["month"] == 6
    # Three months of arrivals before the horizon: far more open deals at its start.
    default = simulate(p, pipeline(), months=6, progress=False)
    assert ds.initial_open.mean() > 2 * default.initial_open.mean()
    assert flows_balance(ds)
    horizon = scenario("name: h\nhorizon: {start: 2027-07-01, months: 3}")
    ds2 = simulate(p, None, [horizon], progress=False)
    assert ds2.attrs["horizon_start"] == "2027-07-01" and ds2.sizes["month"] == 3


def test_maven_open_pipeline_old_deals_are_nearly_dead(maven_dir):
    from targetsim.data import load_funnel

    funnel = load_funnel(maven_dir, fmt="maven")
    pipe = funnel.open_pipeline
    assert len(pipe) > 1000 and (pipe["age_days"] > 300).sum() > 100
    p = FunnelParams.constant(funnel.segments, p_win=0.6, p_lost=0.35, won_median_days=50.0,
                              won_sigma=0.6, lost_median_days=40.0, lost_sigma=0.7,
                              arrivals_per_month=500.0, n_draws=1, as_of=str(funnel.as_of.date()))
    tl = make_timeline(p.as_of, None, 12)
    deals = sample_deals(p, 0, encode_pipeline(pipe, p), Multipliers.of(Scenario.baseline(),
                         p.segments), tl, np.random.default_rng(0))
    age = pipe["age_days"].to_numpy()
    won = deals.outcome[: deals.n_open] == WON
    pw, _, _ = conditional_outcome(np.full(len(age), 0.6), np.full(len(age), 0.35),
                                   np.full(len(age), 0.05), age, np.log(50.0), 0.6,
                                   np.log(40.0), 0.7)
    old = age > 300
    expected = pw[old].sum()
    assert pw[old].max() < 0.02 and won[old].sum() <= expected + 4 * np.sqrt(expected) + 1
    young = age < 30
    assert abs(won[young].mean() - pw[young].mean()) < 4 * np.sqrt(0.25 / young.sum())
    ds = simulate(p, pipe, random_seed=0, progress=False)
    assert flows_balance(ds) and int(ds.initial_open.sum()) > 0.05 * len(pipe)
