"""End to end on the Maven CRM data: plan with segments = products and agents = owners.

Small MCMC settings keep it to a few minutes (the fit need not converge for this check of
the plumbing and of the order of magnitude; `targetsim demo` uses more draws).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest


@pytest.mark.slow
def test_plan_end_to_end_on_maven(maven_dir, tmp_path) -> None:
    from targetsim.plan import DEMO_SCENARIOS, run_plan

    result = run_plan(maven_dir, tmp_path, fmt="maven", segment_col="product",
                      scenarios=DEMO_SCENARIOS, draws=100, tune=150, chains=2, seed=0,
                      report=False, progress=False)
    targets = pd.read_csv(tmp_path / "targets.csv")
    fy = targets.query("period == 'FY' and metric == 'bookings'")
    assert set(fy["scenario"]) == {"baseline", "growth", "tension"}
    products = set(fy.loc[fy["level"].eq("segment"), "name"])
    assert len(products) == 7 and "GTX Pro" in products
    assert fy.loc[fy["level"].eq("owner"), "name"].nunique() == 30
    assert (targets["attainment_probability"] >= 0.6).all()
    assert set(targets["period"]) == {"FY", "2018-Q1", "2018-Q2", "2018-Q3", "2018-Q4"}

    # Sanity against the history: 2017 bookings, read straight from the raw file.
    raw = pd.read_csv(maven_dir / "sales_pipeline.csv")
    won_2017 = raw.loc[raw["deal_stage"].eq("Won"), "close_value"].sum()
    base = fy.query("scenario == 'baseline' and level == 'total'").iloc[0]
    assert 0.4 * won_2017 < base["p50"] < 1.6 * won_2017
    growth = fy.query("scenario == 'growth' and level == 'total'").iloc[0]
    tension = fy.query("scenario == 'tension' and level == 'total'").iloc[0]
    assert tension["p50"] < base["p50"] < growth["p50"]

    meta = json.loads((tmp_path / "plan.json").read_text())
    assert set(meta["timings_seconds"]) >= {"fit", "simulate", "calibrate"}
    assert meta["converged"] == result.converged
