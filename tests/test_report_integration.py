"""The report on a plan directory made by the real simulate and calibrate steps (from known
parameters, no MCMC): every file they write is read, and the probability control agrees with
the calibrated targets at the plan's probability."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from targetsim.model.params import FunnelParams
from targetsim.report import figures, write_report
from targetsim.report.html import build_context
from targetsim.report.inputs import load_plan

simulate_mod = pytest.importorskip("targetsim.simulate")
plan_mod = pytest.importorskip("targetsim.plan")
if not hasattr(plan_mod, "run_calibrate"):
    pytest.skip("targetsim.plan.run_calibrate has not landed", allow_module_level=True)

SEGMENTS = ("Enterprise", "<script>alert(1)</script>")
OWNERS = ("Ann", "Bob & Co")


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("integration")
    n = 100
    p = FunnelParams.constant(SEGMENTS, p_win=[0.3, 0.5], p_lost=[0.6, 0.4],
                              arrivals_per_month=[20, 40], size_median=[20_000, 3_000],
                              n_draws=n, as_of="2026-12-31")
    p = p.with_owners(OWNERS, np.zeros((n, 2)), np.array([[0.7, 0.3], [0.2, 0.8]]))
    pipe = pd.DataFrame({"opportunity_id": ["a", "b"], "segment": list(SEGMENTS),
                         "owner": list(OWNERS), "age_days": [10.0, 40.0],
                         "amount": [5_000.0, 2_000.0], "stage": ["created", "created"]})
    scenarios = [simulate_mod.Scenario.baseline(), simulate_mod.load_scenario("growth"),
                 simulate_mod.load_scenario("tension")]
    ds = simulate_mod.simulate(p, pipe, scenarios, random_seed=1, progress=False)
    simulate_mod.save_projection(ds, out / "projection.nc")
    pd.DataFrame(
        [(s, "win_rate", "", 0.3, 0.2, 0.3, 0.45) for s in SEGMENTS],
        columns=["segment", "parameter", "stage", "mean", "q05", "q50", "q95"],
    ).to_csv(out / "fit_summary.csv", index=False)
    (out / "diagnostics.json").write_text(json.dumps(
        {"rhat_max": 1.02, "ess_bulk_min": 90, "divergences": 3, "converged": False,
         "problems": ["R-hat of p_win is 1.02: run more tuning steps"]}))
    plan_mod.run_calibrate(out, probability=0.6, tiers=(0.9, 0.6, 0.3), company_target=3e6,
                           progress=False)
    return out


def test_report_reads_every_calibrate_output(plan_dir: Path):
    html_path, xlsx_path = write_report(plan_dir, lang="fr", progress=False)[:2]
    html = html_path.read_text(encoding="utf-8")
    for name in ("stress.csv", "indicators.csv", "tiers.csv", "topdown.csv",
                 "allocation.csv", "objectives.md"):
        assert f"{name} est absent" not in html
    assert 'id="not-converged"' in html and "R-hat of p_win" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "alert(1)</script>" not in html.replace("&lt;/script&gt;", "")
    csv = pd.read_csv(plan_dir / "targets.csv", keep_default_na=False)
    wb = load_workbook(xlsx_path)
    assert wb["Tous les objectifs"].max_row - 1 == len(csv)  # the long table, every row


def test_control_agrees_with_calibrated_targets(plan_dir: Path):
    """Two implementations of the quantile convention (calibrate's and the report's) give
    the same target at the plan's probability, for every row."""
    plan = load_plan(plan_dir)
    t = plan.targets.reset_index(drop=True)
    table = figures.probability_table(plan.projection, t)
    k = figures.PROBABILITY_GRID.index(0.6)
    assert all(e is not None for e in table)
    np.testing.assert_allclose([e["t"][k] for e in table], t["target"], rtol=0, atol=1e-9)
    np.testing.assert_allclose([e["p"][k] for e in table], t["attainment_probability"],
                               atol=0.005 + 1e-12)  # calibrate rounds to 2 decimals
    ctx = build_context(plan, lang="en")
    assert ctx["stress"] is not None and len(ctx["stress"]["scenarios"]) >= 2
