"""Track: probability of targets mid-year against an independent computation from the truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from targetsim.errors import DataError
from targetsim.model.params import FunnelParams
from targetsim.track.track import rebase_params, to_month_end, track_targets
from test_track_sim import TRUTH, generate_history, simulate_bins, variant

N_DRAWS = 2000


def _truth(n_draws: int) -> FunnelParams:
    return TRUTH.subset(np.zeros(n_draws, dtype=int))


@pytest.fixture(scope="module")
def mid_year():
    # Plan fitted at 2026-12-31 for 2027; the fresh export is as of 2027-06-30.
    return generate_history(TRUTH, start="2025-01-01", as_of="2027-06-30", random_seed=21)


def _targets(rows):
    return pd.DataFrame(
        rows, columns=["scenario", "level", "name", "period", "metric", "target",
                       "attainment_probability"],
    )


@pytest.mark.slow
def test_track_probability_matches_independent_truth_simulation(mid_year):
    now = pd.Timestamp("2027-06-30")
    # Independent: booked so far from the export + the truth simulated from Jul 1 by bins
    # Jul-Sep (Q3) and Oct-Dec (Q4), with the June 30 day elapsing unbooked, as documented.
    edges = np.array([(pd.Timestamp(d) - now).days for d in
                      ("2027-07-01", "2027-10-01", "2028-01-01")], dtype=float)
    n_ref = 20_000
    b, w = simulate_bins(TRUTH, mid_year, edges, n_sims=n_ref, random_seed=7)
    t = mid_year.table
    won = t.loc[t["outcome"].eq("won") & (t["closed_at"] >= "2027-01-01")]
    booked = won.groupby("segment")["amount"].sum()
    nwon = won.groupby("segment").size()
    fy_total = booked.sum() + b.sum(axis=(1, 2))
    fy_ent = booked["Enterprise"] + b[:, 0, :].sum(axis=1)
    q3_smb_wins = w[:, 1, 0]
    fy_smb_wins = nwon["SMB"] + w[:, 1, :].sum(axis=1)
    checks = [
        ("total", "total", "FY", "bookings", fy_total, 0.35),
        ("segment", "Enterprise", "FY", "bookings", fy_ent, 0.6),
        ("segment", "SMB", "2027-Q3", "deals_won", q3_smb_wins, 0.5),
        ("segment", "SMB", "FY", "deals_won", fy_smb_wins, 0.7),
    ]
    rows = []
    for level, name, period, metric, ref, q in checks:
        rows.append(("baseline", level, name, period, metric,
                     float(np.quantile(ref, 1 - q)), 0.6))
    # A period already over: decided by the bookings alone.
    q2 = t.loc[t["outcome"].eq("won") & (t["closed_at"] >= "2027-04-01")]
    q2_ent = q2.loc[q2["segment"] == "Enterprise", "amount"].sum()
    rows.append(("baseline", "segment", "Enterprise", "2027-Q2", "bookings", q2_ent + 1, 0.6))
    rows.append(("baseline", "segment", "Enterprise", "2027-Q2", "bookings", q2_ent, 0.6))
    out = track_targets(_truth(N_DRAWS), _targets(rows), mid_year, horizon_start="2027-01-01",
                        horizon_months=12, random_seed=3)
    for (level, name, period, metric, ref, _), r in zip(checks, out.itertuples(), strict=False):
        want = float(np.mean(ref >= r.target))
        se = np.sqrt(want * (1 - want) * (1 / N_DRAWS + 1 / n_ref))
        assert abs(r.probability_now - want) < 4 * se + 0.005, (level, name, period, metric)
        assert r.status == ("not started" if period == "2027-Q3" else "in progress")
        print(f"{level} {name} {period} {metric}: track {r.probability_now:.3f} truth {want:.3f}")
    fy = out.iloc[0]
    assert fy.booked_to_date == pytest.approx(booked.sum())
    assert fy.gap == pytest.approx(fy.target - booked.sum())
    assert out.iloc[4].status == "closed" and out.iloc[4].probability_now == 0.0
    assert out.iloc[5].probability_now == 1.0
    assert out.iloc[4].booked_to_date == pytest.approx(q2_ent)


def test_track_rejects_an_export_older_than_the_plan_or_with_new_segments(mid_year):
    old = replace(mid_year, as_of=pd.Timestamp("2026-11-30"),
                  table=mid_year.table.loc[mid_year.table["created_at"] <= "2026-11-30"])
    tg = _targets([("baseline", "total", "total", "FY", "bookings", 1.0, 0.6)])
    with pytest.raises(DataError, match="before the plan's as-of date 2026-12-31"):
        track_targets(_truth(2), tg, old, horizon_start="2027-01-01", horizon_months=12)
    t = mid_year.table.copy()
    t.loc[t.index[:3], "segment"] = "Mid-market"
    with pytest.raises(DataError, match="Mid-market are not in the plan"):
        track_targets(_truth(2), tg, replace(mid_year, table=t), horizon_start="2027-01-01",
                      horizon_months=12)


def test_to_month_end_rewinds_a_mid_month_export(mid_year):
    cut = replace(mid_year, as_of=pd.Timestamp("2027-06-30"))
    same, notes = to_month_end(cut)
    assert same is cut and notes == ()
    mid = generate_history(TRUTH, start="2026-06-01", as_of="2027-05-17", random_seed=1)
    rewound, notes = to_month_end(mid)
    assert rewound.as_of == pd.Timestamp("2027-04-30")
    assert "2027-04-30" in notes[0]
    assert (rewound.table["created_at"] <= "2027-04-30").all()


def test_rebase_params_keeps_expected_arrivals():
    p = variant(TRUTH, arrival_trend=np.full((1, 2), 0.02), as_of="2026-12-31")
    q = rebase_params(p, pd.Timestamp("2027-06-30"))
    # Month 9 of the old clock (Sep 2027) is month 3 of the new one.
    np.testing.assert_allclose(
        q.arrivals.log_mean(np.array([3])), p.arrivals.log_mean(np.array([9]))
    )
    np.testing.assert_allclose(
        p.arrivals.log_mean(np.array([9]))[0, :, 0] - p.arrivals.log_mean(np.array([0]))[0, :, 0],
        0.18,
    )
    assert q.as_of == "2027-06-30"
