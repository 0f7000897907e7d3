"""``targetsim score``: quotas against a projection whose draws the test writes itself.

The projection is built here with known draws (no fit), so every probability is checked
against ``mean(draws >= quota)`` computed straight from the cube. The demo test (slow) does
the same on the real demo plan with each rep's 2017 bookings as a 2018 quota.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from targetsim.calibrate import compute_targets
from targetsim.calibrate.score import (
    DEFAULT_TIERS,
    ROLLUP_FILE,
    SCORES_FILE,
    QuotaScores,
    band_position,
    read_quotas,
    score_plan,
    verdict,
    write_scores,
)
from targetsim.cli import main
from targetsim.errors import DataError
from targetsim.io import read_csv_output

OWNERS = {"Ann": "SMB", "Bob": "SMB", "=cmd|' /C calc'!A0": "Mid"}


def make_projection(n_draws: int = 400, seed: int = 0,
                    owner_segments: dict[str, str] = OWNERS) -> xr.Dataset:
    """A projection cube with the contract's shape and known gamma/Poisson draws."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2027-01-01", periods=12, freq="MS")
    scenarios = ["baseline", "tension"]
    owners = list(owner_segments)
    scale = np.array([1.0, 0.7])[None, :, None, None]
    ob = rng.gamma(4.0, 5_000.0, size=(n_draws, 2, len(owners), 12)) * scale
    ow = rng.poisson(3.0 * scale, size=(n_draws, 2, len(owners), 12)).astype(float)
    seg_of = np.array([0 if owner_segments[o] == "SMB" else 1 for o in owners])
    bookings = np.stack([ob[:, :, seg_of == s].sum(axis=2) for s in (0, 1)], axis=2)
    won = np.stack([ow[:, :, seg_of == s].sum(axis=2) for s in (0, 1)], axis=2)
    dims = ("draw", "scenario", "segment", "month")
    coords = {"draw": np.arange(n_draws), "scenario": scenarios, "segment": ["SMB", "Mid"],
              "month": months, "owner": owners}
    zeros = np.zeros_like(bookings)
    data = {v: (dims, zeros) for v in ("deals_lost", "new_opportunities", "went_cold",
                                       "open_count", "open_value", "capacity")}
    data.update({
        "bookings": (dims, bookings), "deals_won": (dims, won),
        "owner_bookings": (("draw", "scenario", "owner", "month"), ob),
        "owner_deals_won": (("draw", "scenario", "owner", "month"), ow),
        "open_count_final": (("draw", "scenario", "segment"), zeros[..., 0]),
        "initial_open": (("draw", "scenario", "segment"), zeros[..., 0]),
    })
    return xr.Dataset(data, coords=coords, attrs={
        "as_of": "2026-12-31", "horizon_start": "2027-01-01", "months": 12, "seed": seed,
        "engine": "test", "n_draws": n_draws, "scenarios_json": "[]",
        "targetsim_version": "test"})


def write_plan(d: Path, ds: xr.Dataset) -> Path:
    ds.to_netcdf(d / "projection.nc", engine="h5netcdf")
    compute_targets(ds, 0.6).to_csv(d / "targets.csv", index=False)
    (d / "plan.json").write_text(json.dumps({"probability": 0.6, "tiers": None,
                                             "lang": "en", "currency": "$"}))
    return d


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory) -> Path:
    return write_plan(tmp_path_factory.mktemp("plan"), make_projection())


def _fy(ds: xr.Dataset, var: str, scenario: str, **sel) -> np.ndarray:
    return ds[var].sel(scenario=scenario, **sel).sum("month").to_numpy()


def test_probabilities_are_the_share_of_draws_reaching_the_quota(plan_dir, tmp_path) -> None:
    ds = xr.load_dataset(plan_dir / "projection.nc", engine="h5netcdf")
    quotas = pd.DataFrame({
        "level": ["owner", "owner", "owner", "segment", "total", "owner"],
        "name": ["Ann", "Bob", "=cmd|' /C calc'!A0", "SMB", "", "ann"],
        "period": ["FY", "FY", "FY", "FY", "FY", "2027-Q2"],
        "metric": ["bookings", "bookings", "bookings", "bookings", "bookings", "deals_won"],
        "target": ["240,000", "$180k", 300000, "500000", "650000", "9"],
    })
    quotas.to_csv(tmp_path / "quotas.csv", index=False)
    result, read, _ = score_plan(plan_dir, tmp_path / "quotas.csv")
    s = result.scores.set_index(["scenario", "level", "name", "period", "metric"])
    for sc in ("baseline", "tension"):
        ann = _fy(ds, "owner_bookings", sc, owner="Ann")
        assert s.loc[(sc, "owner", "Ann", "FY", "bookings"), "attainment_probability"] == \
            np.mean(ann >= 240_000)
        bob = _fy(ds, "owner_bookings", sc, owner="Bob")
        assert s.loc[(sc, "owner", "Bob", "FY", "bookings"), "attainment_probability"] == \
            np.mean(bob >= 180_000)
        smb = _fy(ds, "bookings", sc, segment="SMB")
        assert s.loc[(sc, "segment", "SMB", "FY", "bookings"), "attainment_probability"] == \
            np.mean(smb >= 500_000)
        q2 = ds["owner_deals_won"].sel(scenario=sc, owner="Ann").isel(month=[3, 4, 5])
        assert s.loc[(sc, "owner", "Ann", "2027-Q2", "deals_won"), "attainment_probability"] \
            == np.mean(q2.sum("month").to_numpy() >= 9)  # "ann" matched to "Ann"
        row = s.loc[(sc, "owner", "Ann", "FY", "bookings")]
        assert row["p10"] == round(np.quantile(ann, 0.1))
        assert row["verdict"] == verdict(row["attainment_probability"], DEFAULT_TIERS)
    # the plan's own target beside each quota
    targets = pd.read_csv(plan_dir / "targets.csv")
    plan_ann = targets.query("scenario == 'baseline' and name == 'Ann' and period == 'FY' "
                             "and metric == 'bookings'")["target"].iloc[0]
    assert s.loc[("baseline", "owner", "Ann", "FY", "bookings"), "plan_target"] == plan_ann

    # how they add up: sum, expected number met, all met, the names' sum, company number
    r = result.rollup.set_index(["scenario", "level", "period", "metric"])
    roll = r.loc[("baseline", "owner", "FY", "bookings")]
    x = np.stack([_fy(ds, "owner_bookings", "baseline", owner=o) for o in OWNERS], axis=1)
    q = np.array([240_000, 180_000, 300_000])
    assert roll["sum_of_quotas"] == q.sum() and roll["quotas"] == 3
    assert roll["p_all_met"] == np.mean(np.all(x >= q, axis=1))
    assert roll["p_sum_reached"] == np.mean(x.sum(axis=1) >= q.sum())
    assert roll["company_number"] == 650_000 and roll["company_number_source"] == \
        "quota file (total)"
    assert roll["gap_to_company_number"] == q.sum() - 650_000
    total = _fy(ds, "bookings", "baseline").sum(axis=-1)
    assert roll["p_company_number"] == np.mean(total >= 650_000)
    np.testing.assert_allclose(
        roll["expected_quotas_met"],
        sum(np.mean(x[:, i] >= q[i]) for i in range(3)))


def test_verdicts_and_band_words() -> None:
    tiers = (0.9, 0.6, 0.3)
    assert [verdict(p, tiers) for p in (0.95, 0.9, 0.7, 0.6, 0.45, 0.3, 0.1)] == [
        "too easy", "too easy", "achievable", "achievable", "stretching", "stretching",
        "unlikely"]
    assert verdict(0.2, tiers, "fr") == "trop haut"
    assert [band_position(v, 10, 20, 30) for v in (5, 10, 25, 30, 31)] == [
        "below the band", "lower half of the band", "upper half of the band",
        "upper half of the band", "above the band"]


def test_quota_errors_name_file_row_and_value(plan_dir, tmp_path) -> None:
    def write(rows) -> Path:
        p = tmp_path / "q.csv"
        pd.DataFrame(rows, columns=["level", "name", "period", "metric", "target"]).to_csv(
            p, index=False)
        return p

    with pytest.raises(DataError, match=r"owner names are not in the plan: row 2 \('Zoe'\)"):
        score_plan(plan_dir, write([["owner", "Zoe", "FY", "bookings", 1]]))
    with pytest.raises(DataError, match=r"periods outside the plan's horizon: row 2 "
                       r"\('2026-Q4'\)"):
        score_plan(plan_dir, write([["owner", "Ann", "Q4 2026", "bookings", 1]]))
    with pytest.raises(DataError, match=r"column 'target': not a number ≥ 0 in 1 rows: row 3 "
                       r"\('lots'\)"):
        read_quotas(write([["owner", "Ann", "FY", "bookings", 1],
                           ["owner", "Bob", "FY", "bookings", "lots"]]))
    with pytest.raises(DataError, match="unknown metric"):
        read_quotas(write([["owner", "Ann", "FY", "revenue", 1]]))
    with pytest.raises(DataError, match="appears twice: row 2, row 3"):
        read_quotas(write([["owner", "Ann", "FY", "bookings", 1],
                           ["rep", "Ann", "fy", "bookings", 2]]))
    pd.DataFrame({"who": ["Ann"], "quota": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="needs the columns level, name, period, metric, "
                       "target"):
        read_quotas(tmp_path / "bad.csv")


def quota_workbook(d: Path, ds: xr.Dataset, *, lang: str = "en") -> Path:
    """targets.xlsx as `targetsim plan` writes it: the projection calibrated (quota plan,
    targets.csv with its quota columns), then the report's own workbook writer."""
    from targetsim.calibrate import calibrate, write_calibration
    from targetsim.report.excel import write_quota_workbook
    from targetsim.report.inputs import FIT_SUMMARY_COLUMNS, load_plan

    write_calibration(calibrate(ds, probability=0.6, lang=lang), d)
    ds.to_netcdf(d / "projection.nc", engine="h5netcdf")
    pd.DataFrame(columns=list(FIT_SUMMARY_COLUMNS)).to_csv(d / "fit_summary.csv", index=False)
    (d / "diagnostics.json").write_text(json.dumps(
        {"rhat_max": 1.0, "ess_bulk_min": 900, "divergences": 0, "converged": True}))
    (d / "plan.json").write_text(json.dumps({"probability": 0.6, "tiers": None, "lang": lang,
                                             "currency": "EUR", "as_of": "2026-12-31"}))
    return write_quota_workbook(d / "targets.xlsx", load_plan(d), lang=lang)


def _keyed(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index(["scenario", "level", "name", "period", "metric"])


def test_the_quota_sheet_reads_back(tmp_path) -> None:
    """targets.xlsx as the report writes it (French headers here) scores each rep's quotas,
    FY, quarters and deals won, at the probability targets.csv gives those quotas; with
    scored proposals in it, the Scored quotas sheet is read alone (and --sheet the other)."""
    from openpyxl import load_workbook

    from targetsim.calibrate.score import QUOTA_SHEET

    ds = make_projection(owner_segments={"Ann": "SMB", "Bob": "SMB", "Cy": "Mid"})
    book = quota_workbook(tmp_path, ds, lang="fr")
    wb = load_workbook(book)
    assert wb.sheetnames[0] == "Quotas" and wb["Quotas"]["F1"].value == "Quota annuel"
    result, read, _ = score_plan(tmp_path, book)
    plan = _keyed(pd.read_csv(tmp_path / "targets.csv", dtype={"name": str}))
    got = _keyed(result.scores)
    base = got.loc["baseline"]
    # one FY bookings, four quarters and one FY deals-won quota per rep, nothing else
    assert set(base.index.get_level_values("level")) == {"owner"}
    assert len(base) == 3 * 6
    assert set(base.index.get_level_values("period")) == {
        "FY", "2027-Q1", "2027-Q2", "2027-Q3", "2027-Q4"}
    want = plan.loc[[("baseline", *k) for k in base.index]]
    np.testing.assert_array_equal(base["target"], want["quota"])
    np.testing.assert_array_equal(base["attainment_probability"], want["quota_probability"])
    assert result.scores["scenario"].value_counts().to_dict() == {"baseline": 18,
                                                                   "tension": 18}
    assert not read.warnings  # quarters add up to the year: nothing to point out

    # after `plan --quotas`, the workbook holds the scored proposals too: read alone
    edited = result.scores.loc[result.scores["period"].eq("FY")
                               & result.scores["metric"].eq("bookings")].copy()
    edited["target"] *= 1.1
    write_scores(QuotaScores(edited, result.rollup.iloc[:0], result.tiers, "baseline"),
                 tmp_path)
    book = quota_workbook(tmp_path, ds, lang="fr")
    assert QUOTA_SHEET in load_workbook(book).sheetnames
    again, read, _ = score_plan(tmp_path, book)
    assert len(again.scores) == len(edited)
    np.testing.assert_allclose(_keyed(again.scores)["target"], _keyed(edited)["target"])
    assert any("--sheet 'Quotas'" in w for w in read.warnings)
    chosen, _, _ = score_plan(tmp_path, book, sheet="Quotas")
    assert len(chosen.scores) == len(result.scores)


def test_a_manager_edits_the_fy_quota_column_and_scores_it(tmp_path, capsys) -> None:
    """The path a manager takes: open targets.xlsx, change reps' FY quotas, save, and run
    `targetsim score PLAN_DIR targets.xlsx`; each edited number gets the probability the
    simulated draws give it, and quarters left as they were are pointed out."""
    from openpyxl import load_workbook

    ds = make_projection()
    book = quota_workbook(tmp_path, ds)
    wb = load_workbook(book)
    ws = wb["Quotas"]
    heads = [c.value for c in ws[1]]
    rep, fy = heads.index("Rep") + 1, heads.index("FY quota") + 1
    new = {"Ann": 150_000.0, "Bob": "€210,000", "=cmd|' /C calc'!A0": 0.0}
    rows = {}
    for r in range(2, ws.max_row + 1):
        name = ws.cell(row=r, column=rep).value
        name = name[1:] if isinstance(name, str) and name.startswith("'=") else name
        if name in new:
            ws.cell(row=r, column=fy).value = new[name]
            rows[name] = r
    assert len(rows) == 3 and ws.cell(row=ws.max_row, column=rep).value == "Total"
    wb.save(book)

    out = tmp_path / "scored"
    with pytest.raises(SystemExit) as exc:
        main(["score", str(tmp_path), str(book), "--out", str(out)])
    assert exc.value.code in (0, None)
    captured = capsys.readouterr()
    scores = _keyed(read_csv_output(out / SCORES_FILE, dtype={"name": str}))
    wanted = {"Ann": 150_000.0, "Bob": 210_000.0, "=cmd|' /C calc'!A0": 0.0}
    for sc in ("baseline", "tension"):
        for name, quota in wanted.items():
            row = scores.loc[(sc, "owner", name, "FY", "bookings")]
            assert row["target"] == quota
            x = _fy(ds, "owner_bookings", sc, owner=name)
            assert row["attainment_probability"] == np.mean(x >= quota)
    assert scores.loc[("baseline", "owner", "=cmd|' /C calc'!A0", "FY", "bookings"),
                      "attainment_probability"] == 1.0
    # the quarters were not re-phased: said once, naming the rows, on stderr
    flat = " ".join(captured.err.split())
    assert "the quarters of 3 row(s) do not add up to their 'FY quota'" in flat
    assert f"row {rows['Ann']} 'Ann': FY 150,000" in flat
    roll = read_csv_output(out / ROLLUP_FILE).set_index(["scenario", "level", "period",
                                                          "metric"])
    assert roll.loc[("baseline", "owner", "FY", "bookings"), "sum_of_quotas"] == 360_000
    # the plan's own folder is left as it was; the score files went to --out
    assert not (tmp_path / SCORES_FILE).exists()


def test_the_quota_sheet_saved_as_csv_reads_the_same(tmp_path) -> None:
    """The Quotas sheet saved as CSV (one row per rep, its headers as they are)."""
    ds = make_projection()
    book = quota_workbook(tmp_path, ds)
    sheet = pd.read_excel(book, sheet_name="Quotas")
    sheet.to_csv(tmp_path / "quotas.csv", index=False)
    from_book, _, _ = score_plan(tmp_path, book)
    from_csv, _, _ = score_plan(tmp_path, tmp_path / "quotas.csv")
    cols = ["target", "attainment_probability"]
    pd.testing.assert_frame_equal(_keyed(from_csv.scores)[cols], _keyed(from_book.scores)[cols])
    with pytest.raises(DataError, match=r"row 3 column 'FY quota' \('lots'\)"):
        read_quotas(_with_cell(tmp_path, sheet, 1, "FY quota", "lots"))


def _with_cell(d: Path, sheet: pd.DataFrame, i: int, col: str, value: object) -> Path:
    bad = sheet.astype(object).copy()
    bad.loc[i, col] = value
    bad.to_csv(d / "bad.csv", index=False)
    return d / "bad.csv"


def test_cli_score_writes_files_without_the_sampler(plan_dir, tmp_path) -> None:
    pd.DataFrame({"level": ["owner"] * 3, "name": list(OWNERS), "period": ["FY"] * 3,
                  "metric": ["bookings"] * 3, "target": [200_000, 220_000, 250_000]}).to_csv(
        tmp_path / "q.csv", index=False)
    code = (
        "import sys\n"
        "from targetsim.cli import main\n"
        "try:\n"
        f"    main(['score', {str(plan_dir)!r}, {str(tmp_path / 'q.csv')!r}, '--out', "
        f"{str(tmp_path / 'out')!r}])\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "assert 'pymc' not in sys.modules, 'score imported PyMC'\n"
        "assert 'pytensor' not in sys.modules, 'score imported PyTensor'\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "stretching" in run.stdout or "unlikely" in run.stdout or "achievable" in run.stdout
    scores = pd.read_csv(tmp_path / "out" / SCORES_FILE)
    assert len(scores) == 6  # three quotas × two scenarios
    # a formula typed as a rep's name never reaches a spreadsheet as one
    assert scores["name"].str.startswith("'=").sum() == 2
    assert (tmp_path / "out" / ROLLUP_FILE).is_file()


def test_cli_score_bad_input_exits_2(plan_dir, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["score", str(plan_dir), str(tmp_path / "none.csv")])
    assert exc.value.code == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["score", str(tmp_path), str(tmp_path / "none.csv")])
    assert exc.value.code == 2
    assert "projection" in capsys.readouterr().err
    pd.DataFrame({"level": ["owner"], "name": ["Ann"], "period": ["FY"],
                  "metric": ["bookings"], "target": [1]}).to_csv(tmp_path / "q.csv",
                                                                   index=False)
    with pytest.raises(SystemExit) as exc:
        main(["score", str(plan_dir), str(tmp_path / "q.csv"), "--tiers", "0.3,0.6,0.9"])
    assert exc.value.code == 2


def test_write_scores_round_trip(plan_dir, tmp_path) -> None:
    pd.DataFrame({"level": ["segment"], "name": ["Mid"], "period": ["FY"],
                  "metric": ["deals_won"], "target": [100]}).to_csv(tmp_path / "q.csv",
                                                                     index=False)
    result, _, _ = score_plan(plan_dir, tmp_path / "q.csv", tiers=(0.8, 0.5, 0.2))
    files = write_scores(result, tmp_path)
    back = pd.read_csv(files[0])
    assert back["tiers"].iloc[0] == "0.8,0.5,0.2"
    assert list(back.columns)[:10] == ["scenario", "level", "name", "period", "metric",
                                       "target", "attainment_probability", "p10", "p50",
                                       "p90"]


def test_report_block_and_sheet_escape_names(tmp_path) -> None:
    """The report's quota block renders (autoescaped), and targets.xlsx as the plan writes it
    keeps names as text in its Quotas and Scored quotas sheets; they read back exactly."""
    from jinja2 import Environment, FileSystemLoader
    from openpyxl import load_workbook

    from targetsim.calibrate.score import QUOTA_SHEET
    from targetsim.report.html import TEMPLATES
    from targetsim.report.quotas import quota_section

    owners = {"<script>alert(1)</script>": "SMB", "=SUM(A1:A9)": "SMB", "Cy": "Mid"}
    plan = write_plan(tmp_path, make_projection(owner_segments=owners))
    pd.DataFrame({"level": ["owner"] * 3, "name": list(owners), "period": ["FY"] * 3,
                  "metric": ["bookings"] * 3, "target": [200_000, 220_000, 250_000]}).to_csv(
        tmp_path / "q.csv", index=False)
    result, _, _ = score_plan(plan, tmp_path / "q.csv", lang="fr")
    write_scores(result, plan)
    ctx = quota_section(plan, lang="fr", currency="€")
    assert ctx["words"]["title"] == "Objectifs proposés"
    assert {r["verdict"] for r in ctx["rows"]} <= {"trop bas", "atteignable", "ambitieux",
                                                  "trop haut"}
    assert len(ctx["rows"]) == 3 and len(ctx["rows"][0]["probabilities"]) == 2
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    html = env.get_template("quotas.html.j2").render(quotas=ctx)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'id="quotas-table"' in html
    assert quota_section(tmp_path / "nothing", lang="en") is None

    book = quota_workbook(plan, make_projection(owner_segments=owners), lang="fr")
    wb = load_workbook(book)
    for ws, col in ((wb[QUOTA_SHEET], 3), (wb["Quotas"], 1)):
        names = [ws.cell(row=i, column=col) for i in range(2, ws.max_row + 1)]
        assert {c.data_type for c in names} == {"s"}
        assert not any(str(c.value).startswith("=") for c in names)
        assert "'=SUM(A1:A9)" in {c.value for c in names}
    again, _, _ = score_plan(plan, book)  # the Scored quotas sheet: the names of the plan
    assert set(again.scores["name"]) == set(owners)
    plan_quotas, _, _ = score_plan(plan, book, sheet="Quotas")
    assert set(plan_quotas.scores["name"]) == set(owners)
