"""build_funnel against facts worked out by hand on a five-deal export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targetsim.data import build_funnel, load_opportunities

CSV = """opportunity_id,created_at,outcome,closed_at,amount,segment,owner,qualify_at,propose_at
A,2024-01-10,won,2024-02-09,100,S1,ann,2024-01-15,2024-01-20
B,2024-01-20,lost,2024-03-01,,S1,bob,2024-01-25,
C,2024-02-15,open,,50,S2,ann,2024-02-20,
D,2024-03-01,open,,,S2,,,
E,2024-03-10,won,2024-03-31,200,S2,bob,,
"""


@pytest.fixture()
def funnel(tmp_path):
    p = tmp_path / "deals.csv"
    p.write_text(CSV, encoding="utf-8")
    return build_funnel(load_opportunities(p, stages=("qualify", "propose")))


def test_as_of_defaults_to_latest_date(funnel):
    assert funnel.as_of == pd.Timestamp("2024-03-31")
    assert funnel.segments == ("S1", "S2")
    assert funnel.owners == ("ann", "bob")


def test_durations_and_censoring(funnel):
    d = funnel.deals.set_index("opportunity_id")
    # closed: created -> closed; open: age at as_of (2024 is a leap year)
    assert d.loc["A", "duration_days"] == 30
    assert d.loc["B", "duration_days"] == 41
    assert d.loc["C", "duration_days"] == 45
    assert d.loc["D", "duration_days"] == 30
    assert d.loc["E", "duration_days"] == 21
    assert d["censored"].to_dict() == {"A": False, "B": False, "C": True, "D": True, "E": False}
    # open deals are never dropped
    assert len(funnel.deals) == 5
    assert np.isnan(d.loc["B", "amount"]) and d.loc["E", "amount"] == 200


def test_arrivals_exposure(funnel):
    a = funnel.arrivals.set_index(["segment", "month"])
    jan, feb, mar = (pd.Timestamp(f"2024-0{m}-01") for m in (1, 2, 3))
    assert a.loc[("S1", jan), "count"] == 2
    assert a.loc[("S1", feb), "count"] == 0
    assert a.loc[("S2", mar), "count"] == 2
    # window starts on Jan 10: 22 of 31 January days observed; Feb and Mar complete
    assert a.loc[("S1", jan), "exposure"] == pytest.approx(22 / 31)
    assert a.loc[("S2", feb), "exposure"] == pytest.approx(1.0)
    assert a.loc[("S2", mar), "exposure"] == pytest.approx(1.0)
    assert funnel.n_months_observed == pytest.approx(2 + 22 / 31)
    assert a["count"].sum() == 5


def test_open_pipeline_ages_and_stage(funnel):
    op = funnel.open_pipeline.set_index("opportunity_id")
    assert sorted(op.index) == ["C", "D"]
    assert op.loc["C", "age_days"] == 45 and op.loc["D", "age_days"] == 30
    assert op.loc["C", "stage"] == "qualify" and op.loc["D", "stage"] == "created"
    assert op.loc["C", "amount"] == 50


def test_stage_steps(funnel):
    s = funnel.stage_steps
    assert len(s) == 11
    key = s.set_index(["opportunity_id", "step"])
    assert key.loc[("A", 0), "duration_days"] == 5
    assert key.loc[("A", 2), ["to_stage", "outcome", "duration_days"]].tolist() == [
        "won", "converted", 20
    ]
    # B lost while in qualify: the step ends at the loss date
    assert key.loc[("B", 1), ["outcome", "duration_days", "censored"]].tolist() == [
        "lost", 36, False
    ]
    # C still in qualify at as_of: censored at as_of
    assert key.loc[("C", 1), ["outcome", "duration_days", "censored"]].tolist() == [
        "open", 40, True
    ]
    assert key.loc[("D", 0), ["outcome", "censored"]].tolist() == ["open", True]
    # E won without stage dates: it passed every stage, durations unknown
    e = s.loc[s["opportunity_id"].eq("E")]
    assert e["outcome"].eq("converted").all() and e["duration_days"].isna().all()


def test_bookings_last_year(funnel):
    assert funnel.bookings_last_year.to_dict() == {"S1": 100.0, "S2": 200.0}


def test_no_stages_gives_empty_steps(tmp_path):
    p = tmp_path / "deals.csv"
    p.write_text(CSV, encoding="utf-8")
    f = build_funnel(load_opportunities(p))
    assert f.stage_steps.empty and f.stages == ()
    assert set(f.open_pipeline["stage"]) == {"created"}
