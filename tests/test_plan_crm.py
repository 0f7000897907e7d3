"""End to end: CRM exports through ``plan`` (with ``--quotas``), and ``score`` on the demo.

The fits are small (slow marks): these check the plumbing from a real-looking export to the
plan folder, the report's quota section and the quota sheet, and, on the demo, that each
rep's 2017 bookings repeated as a 2018 quota gets the probability the projection gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from crm_exports import EUR_RATE, HS_STAGES, generate_deals, write_hubspot, write_salesforce_report
from targetsim.cli import main

DRAWS = dict(draws=60, tune=150, chains=2)


def test_plan_checks_quotas_before_the_fit(tmp_path, capsys) -> None:
    truth = generate_deals(300, seed=2)
    write_salesforce_report(truth, tmp_path / "sf.csv")
    pd.DataFrame({"level": ["owner"], "name": ["Nobody Here"], "period": ["FY"],
                  "metric": ["bookings"], "target": [1000]}).to_csv(tmp_path / "q.csv",
                                                                      index=False)
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(tmp_path / "sf.csv"), "--format", "salesforce", "--fx",
              f"USD=1,EUR={EUR_RATE}", "--quotas", str(tmp_path / "q.csv"), "--out",
              str(tmp_path / "plan"), "--no-progress"])
    assert exc.value.code == 2
    assert "'Nobody Here'" in capsys.readouterr().err
    assert not (tmp_path / "plan" / "fit.nc").exists()  # stopped before the fit


@pytest.mark.slow
def test_salesforce_export_through_plan_with_quotas(tmp_path) -> None:
    from targetsim.calibrate.score import read_quotas
    from targetsim.data import load_funnel
    from targetsim.data.adapters import ExportOptions
    from targetsim.plan import run_plan

    truth = generate_deals(900, seed=8)
    path = tmp_path / "opportunities.csv"
    write_salesforce_report(truth, path)
    won17 = truth.deals.loc[truth.deals["outcome"].eq("won")
                            & truth.deals["closed"].dt.year.eq(2017)]
    quotas = won17.groupby("owner")["amount"].sum().rename("target").reset_index()
    quotas = quotas.rename(columns={"owner": "name"}).assign(level="owner", period="FY",
                                                             metric="bookings")
    quotas.to_csv(tmp_path / "quotas.csv", index=False)
    funnel = load_funnel(path, fmt="salesforce", segment_col="Type",
                         options=ExportOptions.build(fx={"USD": 1, "EUR": EUR_RATE}))
    out = tmp_path / "plan"
    run_plan(funnel, out, seed=1, progress=False, quotas=read_quotas(tmp_path / "quotas.csv"),
             **DRAWS)
    targets = pd.read_csv(out / "targets.csv")
    assert set(targets.loc[targets["level"].eq("segment"), "name"]) == {
        "New Business", "Existing Business"}
    scores = pd.read_csv(out / "quota_scores.csv")
    assert len(scores) == len(quotas) and scores["verdict"].notna().all()
    ds = xr.load_dataset(out / "projection.nc", engine="h5netcdf")
    for r in scores.itertuples(index=False):
        x = ds["owner_bookings"].sel(scenario=r.scenario, owner=r.name).sum("month").to_numpy()
        assert r.attainment_probability == pytest.approx(np.mean(x >= r.target), abs=1e-9)
    assert "expected_close.csv" in {p.name for p in out.iterdir()}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="quotas-table"' in html and quotas["name"].iloc[0] in html
    import openpyxl

    assert "Quotas" in openpyxl.load_workbook(out / "targets.xlsx").sheetnames


@pytest.mark.slow
def test_hubspot_export_with_stage_dates_through_plan(tmp_path) -> None:
    truth = generate_deals(600, stages=HS_STAGES, seed=4, start="2022-01-01",
                           as_of="2023-12-31", id_prefix="S")
    write_hubspot(truth, tmp_path / "deals.csv")
    from targetsim.data import load_funnel
    from targetsim.data.adapters import ExportOptions
    from targetsim.data.stages import stage_slug
    from targetsim.plan import run_plan

    funnel = load_funnel(tmp_path / "deals.csv", fmt="hubspot",
                         options=ExportOptions.build(stage_order=",".join(HS_STAGES)))
    run_plan(funnel, tmp_path / "plan", seed=2, report=False, progress=False, **DRAWS)
    fs = pd.read_csv(tmp_path / "plan" / "fit_summary.csv", keep_default_na=False)
    conv = set(fs.loc[fs["parameter"].eq("conversion"), "stage"].astype(str))
    for s in HS_STAGES:  # a conversion per funnel step, named by the stages' column names
        assert any(stage_slug(s) in step for step in conv), (s, conv)
    targets = pd.read_csv(tmp_path / "plan" / "targets.csv")
    fy = targets.query("level == 'total' and period == 'FY' and metric == 'deals_won'")
    wins_2023 = truth.deals.loc[truth.deals["outcome"].eq("won")
                                & truth.deals["closed"].dt.year.eq(2023)].shape[0]
    assert 0.4 * wins_2023 < fy["p50"].iloc[0] < 1.8 * wins_2023


@pytest.mark.slow
def test_score_on_the_demo_gives_each_reps_2017_bookings_its_probability(tmp_path) -> None:
    """The issue's check: each rep's 2017 bookings as a 2018 quota, against the projection."""
    from targetsim.data import demo_data_path

    out = tmp_path / "demo"
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(out), "--no-progress"])
    assert exc.value.code in (0, None, 3)  # 3: not converged, outputs written and flagged
    raw = pd.read_csv(demo_data_path() / "sales_pipeline.csv")
    won = raw.loc[raw["deal_stage"].eq("Won") & raw["close_date"].str.startswith("2017")]
    quotas = (won.groupby("sales_agent")["close_value"].sum().rename("target").reset_index()
              .rename(columns={"sales_agent": "name"})
              .assign(level="owner", period="FY", metric="bookings"))
    quotas.to_csv(tmp_path / "quotas_2018.csv", index=False)
    with pytest.raises(SystemExit) as exc:
        main(["score", str(out), str(tmp_path / "quotas_2018.csv")])
    assert exc.value.code in (0, None)
    scores = pd.read_csv(out / "quota_scores.csv")
    assert len(quotas) == 30 and len(scores) == 30 * 3  # 30 reps × 3 scenarios
    ds = xr.load_dataset(out / "projection.nc", engine="h5netcdf")
    fy = ds["owner_bookings"].sum("month")
    for r in scores.itertuples(index=False):
        x = fy.sel(scenario=r.scenario, owner=r.name).to_numpy()
        assert r.attainment_probability == pytest.approx(np.mean(x >= r.target), abs=1e-9)
        assert r.target == quotas.set_index("name").loc[r.name, "target"]
    roll = pd.read_csv(out / "quota_rollup.csv").set_index("scenario")
    assert roll.loc["baseline", "sum_of_quotas"] == won["close_value"].sum()
