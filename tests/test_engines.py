"""The two engines agree where both apply; capacity behaves; workers do not change results.

Tolerance policy: two-sample Kolmogorov–Smirnov tests at level 0.001 per compared quantity
(12 comparisons), independent seeds for the two engines; FY totals and timing-sensitive
figures (deals won in the first quarter, deals open mid-year).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from targetsim.model.params import FunnelParams
from targetsim.simulate import simulate
from targetsim.simulate.scenario import parse_scenario

SEGS = ("A", "B")


def params(n_draws: int) -> FunnelParams:
    p = FunnelParams.constant(
        SEGS, p_win=[0.3, 0.2], p_lost=[0.5, 0.6], arrivals_per_month=[25.0, 12.0],
        won_median_days=[45.0, 90.0], size_median=[8_000.0, 30_000.0], arrival_alpha=20.0,
        n_draws=n_draws,
    )
    # Posterior-like spread between draws, so that draws are not exchangeable copies.
    rng = np.random.default_rng(0)
    o = p.outcome
    return FunnelParams.lognormal(
        SEGS, p_win=np.clip(o.p_win + rng.normal(0, 0.03, o.p_win.shape), 0.05, 0.6),
        p_lost=o.p_lost, won_mu=o.won_mu, won_sigma=o.won_sigma, lost_mu=o.lost_mu,
        lost_sigma=o.lost_sigma, size_mu=p.size.size_mu, size_sigma=p.size.size_sigma,
        arrival_log_rate=np.log([25.0, 12.0]) + rng.normal(0, 0.1, o.p_win.shape),
        arrival_alpha=20.0, as_of=p.as_of,
    )


def pipeline() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 60
    return pd.DataFrame({
        "opportunity_id": np.arange(n).astype(str), "segment": rng.choice(SEGS, n),
        "owner": None, "age_days": rng.exponential(100, n).round(),
        "amount": np.where(rng.random(n) < 0.3, np.nan, 10_000.0), "stage": "created",
    })


ROOMY = parse_scenario(
    "name: roomy\nmarket: {win_rate: 1.1, cycle_length: 1.2}\n"
    "capacity: {reps: 50, max_open_deals_per_rep: 50, attrition_per_year: 0.1}"
)
PLAIN = parse_scenario("name: roomy\nmarket: {win_rate: 1.1, cycle_length: 1.2}")


@pytest.mark.slow
def test_engines_agree_in_distribution_without_binding_capacity():
    p = params(1000)
    fast = simulate(p, pipeline(), [PLAIN], engine="fast", random_seed=1, progress=False)
    des = simulate(p, pipeline(), [ROOMY], engine="des", random_seed=2, progress=False)
    assert des.went_cold.sum() == 0 and des.attrs["engine"] == "des"
    for var in ("bookings", "deals_won", "deals_lost", "open_count_final"):
        for seg in SEGS:
            dim = ("month",) if "month" in fast[var].dims else ()
            a = fast[var].sel(segment=seg).sum(dim).values.ravel()
            b = des[var].sel(segment=seg).sum(dim).values.ravel()
            assert stats.ks_2samp(a, b).pvalue > 1e-3, (var, seg)
        # Timing-sensitive figures (a 10 % error in cycle length is caught by these).
        q1 = [ds.deals_won.sel(segment=seg).isel(month=slice(0, 3)).sum("month").values.ravel()
              for ds in (fast, des)]
        mid = [ds.open_count.sel(segment=seg).isel(month=6).values.ravel() for ds in (fast, des)]
        assert stats.ks_2samp(*q1).pvalue > 1e-3, ("Q1 deals won", seg)
        assert stats.ks_2samp(*mid).pvalue > 1e-3, ("open in July", seg)


def test_binding_capacity_costs_wins_and_more_reps_give_them_back():
    p = params(40)
    text = ("name: cap\ncapacity: {reps: %d, max_open_deals_per_rep: 5, patience_days: 15, "
            "ramp_months: 0}")
    runs = {
        reps: simulate(p, pipeline(), [parse_scenario(text % reps)], random_seed=4,
                       progress=False)
        for reps in (1, 3, 40)
    }
    won = {r: float(ds.deals_won.sum()) for r, ds in runs.items()}
    cold = {r: float(ds.went_cold.sum()) for r, ds in runs.items()}
    assert won[1] < won[3] < won[40]
    assert cold[1] > cold[3] > cold[40] == 0
    assert (runs[3].capacity == 15).all()
    # Unlimited-capacity baseline: the roomy case is exactly the fast engine on that stream.
    free = simulate(p, pipeline(), [parse_scenario("name: cap")], random_seed=4, progress=False)
    np.testing.assert_array_equal(free.deals_won.values, runs[40].deals_won.values)


def test_hires_add_capacity_after_their_month():
    p = params(10)
    text = """name: hire
capacity: {reps: 2, max_open_deals_per_rep: 10, ramp_months: 2,
           hires: [{month: 2027-05, segment: B, count: 3}]}"""
    ds = simulate(p, pipeline(), [parse_scenario(text)], progress=False)
    cap_b = ds.capacity.sel(segment="B").isel(scenario=0, draw=0).values
    # 20 slots until May, then 3 reps ramping 15 slots a month (2 months to full), then 50.
    assert cap_b.tolist()[:5] == [20.0] * 5
    assert cap_b[5] == 20 + np.floor(3 * 31 / (2 * 30.4375) * 10)
    assert cap_b[7:].tolist() == [50.0] * 5
    assert (ds.capacity.sel(segment="A") == 20).all()


@pytest.mark.slow
def test_worker_count_does_not_change_the_result():
    p = params(12)
    scen = [PLAIN, parse_scenario("name: capped\ncapacity: {reps: 2, max_open_deals_per_rep: 4,"
                                  " attrition_per_year: 0.3}")]
    one = simulate(p, pipeline(), scen, engine="des", random_seed=9, progress=False)
    two = simulate(p, pipeline(), scen, engine="des", random_seed=9, workers=2, progress=False)
    assert one.identical(two)
    # An existing scheduler (here an in-process cluster) gives the same result too.
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        three = simulate(p, pipeline(), scen, engine="des", random_seed=9,
                         scheduler=cluster.scheduler_address, progress=False)
    assert one.identical(three)
