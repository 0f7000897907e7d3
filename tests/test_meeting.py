"""The target-setting meeting's documents: numbers that add up, last year beside every target,
a quota sheet to hand out, French that is French, and a report that prints.

The plan directory is the report fixture's (a projection drawn from known distributions)
calibrated by the package, with a year of hand-made deals whose actuals are known.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from openpyxl import load_workbook

from targetsim import formatting as F
from targetsim.calibrate import LastYear, calibrate, write_calibration
from targetsim.report import write_report
from test_report_fixture import MALICIOUS, OWNER_SEGMENT, make_plan_dir, make_projection

FORMULA = "=HYPERLINK(\"http://x\",\"y\")"
#: Known actuals of 2026: per month, Ann wins 3 deals of 10,000, Bob wins 5 of 5,000.
MONTHLY = {"Ann": (3, 10_000.0), "Bob & Co": (5, 5_000.0)}


def _deals() -> pd.DataFrame:
    rows = []
    i = 0
    for month in pd.date_range("2026-01-01", periods=12, freq="MS"):
        for owner, (n, size) in MONTHLY.items():
            for k in range(n + 2):
                i += 1
                won = k < n
                rows.append({
                    "opportunity_id": str(i), "segment": OWNER_SEGMENT[owner], "owner": owner,
                    "outcome": "won" if won else "lost",
                    "created_at": month, "closed_at": month + pd.Timedelta(days=20),
                    "amount": size if won else np.nan, "created_imputed": False,
                    "duration_days": 20.0,
                })
    return pd.DataFrame(rows)


def make_meeting_plan(path: Path, over: float = 1.1) -> Path:
    d = make_plan_dir(path)
    ds = make_projection()
    fs = pd.read_csv(d / "fit_summary.csv", keep_default_na=False)
    ly = LastYear.from_deals(_deals(), pd.Timestamp("2026-12-31"), fs)
    cal = calibrate(ds, probability=0.6, over_assignment=over, last_year=ly, currency="EUR")
    write_calibration(cal, d)
    meta = json.loads((d / "plan.json").read_text())
    meta.update(currency="EUR", allocation=[a.to_dict() for a in cal.allocation_summary],
                teams="teams.csv")
    (d / "plan.json").write_text(json.dumps(meta))
    pd.DataFrame({"owner": ["Ann", "Bob & Co"], "manager": [FORMULA, "Zoe"],
                  "region": ["West", "East"]}).to_csv(d / "teams.csv", index=False)
    return d


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_meeting_plan(tmp_path_factory.mktemp("meeting"))


def test_quotas_add_up(plan: Path) -> None:
    t = pd.read_csv(plan / "targets.csv", keep_default_na=False)
    assert list(t.columns[:10]) == ["scenario", "level", "name", "period", "metric", "target",
                                    "attainment_probability", "p10", "p50", "p90"]
    for (_sc, metric), g in t.groupby(["scenario", "metric"]):
        fy = g[g.period == "FY"]
        company = fy[fy.level == "total"].quota.iloc[0]
        assert fy[fy.level == "segment"].quota.sum() == pytest.approx(company)
        reps = fy[fy.level == "owner"].quota.sum()
        assert reps == pytest.approx(1.1 * company, rel=0.01)
        for (level, name), rows in g.groupby(["level", "name"]):
            fy_q = rows[rows.period == "FY"].quota.iloc[0]
            assert rows[rows.period != "FY"].quota.sum() == pytest.approx(fy_q), (level, name)
        if metric == "deals_won":
            assert (g.quota == g.quota.round()).all()
    # Every quota's probability is that of its own number.
    ds = make_projection()
    ann = t[(t.scenario == "baseline") & (t.name == "Ann") & (t.period == "FY")
            & (t.metric == "bookings")].iloc[0]
    x = ds["owner_bookings"].sel(scenario="baseline", owner="Ann").sum("month").values
    assert ann.quota_probability == pytest.approx(np.mean(x >= ann.quota))


def test_last_year_beside_every_target(plan: Path) -> None:
    t = pd.read_csv(plan / "targets.csv", keep_default_na=False, na_values=[""])
    tot = t[(t.scenario == "baseline") & (t.level == "total") & (t.period == "FY")]
    book = tot[tot.metric == "bookings"].iloc[0]
    known = 12 * sum(n * s for n, s in MONTHLY.values())
    assert book.last_year_actual == pytest.approx(known)
    assert book.implied_growth == pytest.approx(book.quota / known - 1)
    assert tot[tot.metric == "deals_won"].iloc[0].last_year_actual == 12 * 8
    assert book.run_rate == pytest.approx(known)  # flat year: run-rate = actual
    ly = pd.read_csv(plan / "last_year.csv", keep_default_na=False)
    ann = ly[ly.name == "Ann"].iloc[0]
    assert ann.win_rate == pytest.approx(3 / 5) and ann.deal_size_median == 10_000
    # The fixture's quotas are far from these actuals: flagged, with a named driver.
    fy = t[(t.period == "FY") & (t.metric == "bookings") & (t.scenario == "baseline")]
    for r in fy.itertuples():
        expected = ("below_last_year" if r.quota < r.last_year_actual else
                    "above_last_year" if r.quota > 1.5 * r.last_year_actual else "")
        assert (r.context_flag if isinstance(r.context_flag, str) else "") == expected
        if expected:
            assert r.context_driver in ("arrivals_per_month", "win_rate", "deal_size_median",
                                        "cycle_days_median")


def test_quota_sheet(plan: Path, tmp_path: Path) -> None:
    d = tmp_path / "fr"
    shutil.copytree(plan, d)
    write_report(d, lang="fr", progress=False)
    wb = load_workbook(d / "targets.xlsx")
    assert wb.sheetnames[:2] == ["Quotas", "Hypothèses"]
    assert {"Managers", "Régions", "Tous les objectifs"} <= set(wb.sheetnames)
    ws = wb["Quotas"]
    head = [c.value for c in ws[1]]
    assert head[:6] == ["Commercial", "Segment", "Manager", "Région", "12 derniers mois",
                        "Quota annuel"]
    rows = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    assert set(rows) == {"Ann", "Bob & Co", "Total"}
    ann = rows["Ann"]
    # The formula from the teams file is text, never a formula.
    cell = ws.cell(ann, 3)
    assert cell.data_type == "s" and cell.value == "'" + FORMULA
    fy = ws.cell(ann, 6).value
    quarters = [ws.cell(ann, 7 + 2 * k).value for k in range(4)]
    assert sum(quarters) == pytest.approx(fy)
    assert "€" in ws.cell(ann, 6).number_format
    assert str(ws.cell(rows["Total"], 6).value).startswith("=SUM(F2:F")
    assert ws.page_setup.orientation == "landscape" and ws.print_title_rows in ("1:1", "$1:$1")
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    # The long table in words too: periods, and the fitted quantity behind a flag.
    long = wb["Tous les objectifs"]
    head = [c.value for c in long[1]]
    periods = {long.cell(r, head.index("Période") + 1).value for r in range(2, long.max_row + 1)}
    assert periods == {"Année", "T1 2027", "T2 2027", "T3 2027", "T4 2027"}
    drivers = {long.cell(r, head.index("Grandeur ajustée en cause") + 1).value
               for r in range(2, long.max_row + 1)} - {None, ""}
    assert drivers and not any("_" in d for d in drivers), drivers


def test_french_is_french(plan: Path, tmp_path: Path) -> None:
    d = tmp_path / "fr"
    shutil.copytree(plan, d)
    write_report(d, lang="fr", progress=False)
    md = (d / "objectives.md").read_text(encoding="utf-8")
    html = (d / "report.html").read_text(encoding="utf-8")
    for text in (md, html):
        assert "Atteindre" in text and "€" in text
        for english in ("Reach ", " by December", "Baseline", "deals won", "total"):
            assert not re.search(rf"\b{english}\b", text), english
    assert F.money(1234567, "fr", "EUR") == "1\u202f234\u202f567\u00a0€"
    assert F.long_date("2027-12-31", "fr") == "31 décembre 2027"
    # Names from data are escaped for Markdown.
    assert MALICIOUS not in md and "\\<script\\>" in md


def test_plan_console_and_cli_help_show_flags_as_flags() -> None:
    from typer.testing import CliRunner

    from targetsim.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("targetsim ")
    for cmd in ("ingest", "plan", "fit", "simulate", "calibrate", "report", "track", "demo"):
        out = runner.invoke(app, [cmd, "--help"], terminal_width=100).output
        assert "<bool>" not in out and "<str>" not in out, cmd
        assert "Example: targetsim" in out, cmd
    plan_help = runner.invoke(app, ["plan", "--help"], terminal_width=200).output
    for opt in ("--sampler", "--tune", "--chains", "--priors", "--over-assignment", "--teams",
                "--currency", "--mcmc-draws"):
        assert opt in plan_help
    assert re.search(r"--json\s+Print", runner.invoke(app, ["ingest", "--help"],
                                                      terminal_width=200).output)


# --- a plan the size of the demo's (7 segments, 30 reps, 3 scenarios), without MCMC ----------

DEMO_SEGMENTS = {  # name: (wins a month, median deal size), the orders of the Maven demo
    "Alpha 500": (1.3, 26_000.0), "Beta Basic": (75.0, 540.0),
    "Beta Plus Basic": (52.0, 1_070.0), "Beta Plus Pro": (38.0, 5_500.0),
    "Beta Pro": (58.0, 4_800.0), "Gamma Advanced": (55.0, 3_400.0),
    "Gamma Special": (64.0, 55.0),
}
DEMO_SCENARIOS = {"baseline": {}, "growth": {"lead_volume": 1.2, "win_rate": 1.05,
                                             "deal_size": 1.05},
                  "tension": {"lead_volume": 0.8, "win_rate": 0.85, "deal_size": 0.95,
                              "cycle_length": 1.2}}
_FIRST = ("Anna", "Boris", "Cassey", "Cecily", "Corliss", "Daniell", "Darcel", "Donn",
          "Elease", "Garret", "Gladys", "Hayden", "James", "Jonathan", "Kami", "Kary",
          "Lajuana", "Markita", "Marty", "Maureen", "Moses", "Niesha", "Reed", "Rosalina",
          "Rosie", "Versie", "Vicki", "Violet", "Wilburn", "Zane")
_LAST = ("Snelling", "Faz", "Cress", "Lampkin", "Cosme", "Hammack", "Schlecht", "Cantrell",
         "Gluck", "Kinder", "Colclough", "Neloms", "Ascencio", "Berthelot", "Bicknell",
         "Hendrixson", "Vencill", "Hansen", "Freudenburg", "Marcano", "Frase", "Huffines",
         "Holder", "Dieter", "Papadopoulos", "Hillebrand", "Laflamme", "Mclelland", "Farren",
         "Levy")
DEMO_OWNERS = tuple(f"{f} {la}" for f, la in zip(_FIRST, _LAST, strict=True))


def _demo_projection(n_draws: int = 200, seed: int = 3) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    segs = list(DEMO_SEGMENTS)
    rate = np.array([v[0] for v in DEMO_SEGMENTS.values()])
    size = np.array([v[1] for v in DEMO_SEGMENTS.values()])
    sc_mult = np.array([[m.get("lead_volume", 1) * m.get("win_rate", 1)
                         for m in DEMO_SCENARIOS.values()]]).T  # (scenario, 1)
    sc_size = np.array([m.get("deal_size", 1) for m in DEMO_SCENARIOS.values()])
    season = 1 + 0.15 * np.sin(np.arange(12) / 12 * 2 * np.pi)
    level = rng.lognormal(0.0, 0.06, size=(n_draws, 1, len(segs), 1))  # shared uncertainty
    lam = level * (sc_mult[None, :, :, None] * rate[None, None, :, None]) * season
    wins = rng.poisson(lam)
    bookings = (wins * size[None, None, :, None] * sc_size[None, :, None, None]
                * rng.lognormal(0.0, 0.25, size=wins.shape))
    share = rng.dirichlet(np.full(len(DEMO_OWNERS), 8.0))
    total_b = bookings.sum(axis=2)
    total_w = wins.sum(axis=2)
    noise = rng.lognormal(0.0, 0.2, size=(*total_b.shape[:2], len(DEMO_OWNERS), 12))
    w = share[None, None, :, None] * noise
    w = w / w.sum(axis=2, keepdims=True)
    new = rng.poisson(lam * 2.2)
    open_count = rng.poisson(lam * 3.0)
    seg_dims = ("draw", "scenario", "segment", "month")
    scen = [dict(name=n, description="", market={"lead_volume": 1.0, "win_rate": 1.0,
                                                  "deal_size": 1.0, "cycle_length": 1.0} | m,
                 segments={}, capacity=None, horizon=None) for n, m in DEMO_SCENARIOS.items()]
    return xr.Dataset(
        {
            "bookings": (seg_dims, bookings), "deals_won": (seg_dims, wins),
            "deals_lost": (seg_dims, rng.poisson(lam * 0.8)), "new_opportunities": (seg_dims, new),
            "went_cold": (seg_dims, np.zeros_like(wins)), "open_count": (seg_dims, open_count),
            "open_value": (seg_dims, open_count * size[None, None, :, None] * 1.2),
            "capacity": (seg_dims, np.full(wins.shape, np.inf)),
            "open_count_final": (seg_dims[:3], open_count[..., -1]),
            "initial_open": (seg_dims[:3], open_count[..., 0]),
            "owner_bookings": (("draw", "scenario", "owner", "month"),
                               total_b[:, :, None, :] * w),
            "owner_deals_won": (("draw", "scenario", "owner", "month"),
                                total_w[:, :, None, :] * w),
        },
        coords={"draw": np.arange(n_draws), "scenario": list(DEMO_SCENARIOS), "segment": segs,
                "owner": list(DEMO_OWNERS),
                "month": pd.date_range("2027-01-01", periods=12, freq="MS")},
        attrs={"as_of": "2026-12-31", "horizon_start": "2027-01-01", "months": 12, "seed": seed,
               "engine": "fixture", "n_draws": n_draws, "scenarios_json": json.dumps(scen),
               "targetsim_version": "0.1.0"},
    )


def _demo_deals(seed: int = 4) -> pd.DataFrame:
    """Two years of won and lost deals, every rep selling every product (as in Maven)."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2025-01-01", periods=24, freq="MS")
    share = rng.dirichlet(np.full(len(DEMO_OWNERS), 8.0))
    frames = []
    for seg, (rate, size) in DEMO_SEGMENTS.items():
        n = rng.poisson(1.25 * rate * share[:, None] * np.ones(len(months)))  # (owner, month)
        o_idx, m_idx = np.nonzero(n)
        reps = n[o_idx, m_idx]
        o = np.repeat(o_idx, reps)
        created = months[np.repeat(m_idx, reps)] + pd.to_timedelta(
            rng.integers(0, 28, o.size), unit="D")
        won = rng.random(o.size) < 0.6
        cycle = rng.gamma(2.0, 15.0, o.size)
        frames.append(pd.DataFrame({
            "segment": seg, "owner": np.array(DEMO_OWNERS)[o], "outcome":
            np.where(won, "won", "lost"), "created_at": created,
            "closed_at": created + pd.to_timedelta(cycle.round(), unit="D"),
            "amount": np.where(won, size * rng.lognormal(0, 0.25, o.size), np.nan),
            "created_imputed": False, "duration_days": cycle.round(),
        }))
    deals = pd.concat(frames, ignore_index=True)
    deals = deals[deals["closed_at"] <= "2026-12-31"].reset_index(drop=True)
    deals.insert(0, "opportunity_id", [str(i) for i in range(len(deals))])
    return deals


def _demo_fit_summary() -> pd.DataFrame:
    rows = []
    for seg, (rate, size) in DEMO_SEGMENTS.items():
        for par, stage, m, lo, hi in (
            ("win_rate", "", 0.52, 0.49, 0.55), ("loss_rate", "", 0.30, 0.28, 0.32),
            ("stall_rate", "", 0.18, 0.16, 0.19), ("cycle_days_median", "", 30.0, 28.0, 33.0),
            ("loss_cycle_days_median", "", 40.0, 35.0, 45.0),
            ("deal_size_median", "", size, 0.95 * size, 1.05 * size),
            ("arrivals_per_month", "", rate * 1.9, rate * 1.7, rate * 2.1),
            ("arrival_trend", "", 0.0, -0.01, 0.01),
            ("conversion", "engaging", 0.8, 0.78, 0.82), ("conversion", "won", 0.65, 0.6, 0.7),
            ("stage_cycle_days_median", "engaging", 20.0, 2.0, 440.0),  # wide, as in the demo
            ("stage_cycle_days_median", "won", 30.0, 28.0, 32.0),
        ):
            rows.append((seg, par, stage, m, lo, m, hi))
    return pd.DataFrame(rows, columns=["segment", "parameter", "stage", "mean", "q05", "q50",
                                       "q95"])


def make_demo_like_plan(path: Path) -> Path:
    """A plan directory the size of the demo's, calibrated by the package (no fit.nc)."""
    path.mkdir(parents=True, exist_ok=True)
    ds = _demo_projection()
    ds.to_netcdf(path / "projection.nc", engine="h5netcdf")
    fs = _demo_fit_summary()
    fs.to_csv(path / "fit_summary.csv", index=False)
    diag = {"rhat_max": 1.007, "ess_bulk_min": 434.0, "divergences": 0, "converged": True}
    (path / "diagnostics.json").write_text(json.dumps(diag))
    ly = LastYear.from_deals(_demo_deals(), pd.Timestamp("2026-12-31"), fs)
    cal = calibrate(ds, probability=0.6, tiers=(0.9, 0.6, 0.3), last_year=ly)
    write_calibration(cal, path)
    managers = ("Cara Losch", "Celia Rouche", "Dustin Brinkmann", "Melvin Marxen",
                "Rocco Neubert", "Summer Sewald")
    regions = ("East", "West", "Central", "Central", "East", "West")
    pd.DataFrame({"owner": DEMO_OWNERS, "manager": [managers[i // 5] for i in range(30)],
                  "region": [regions[i // 5] for i in range(30)]}).to_csv(
        path / "teams.csv", index=False)
    (path / "plan.json").write_text(json.dumps({
        "targetsim_version": "0.1.0", "seed": 0, "as_of": "2026-12-31", "probability": 0.6,
        "tiers": [0.9, 0.6, 0.3], "scenarios": list(DEMO_SCENARIOS), "currency": "USD",
        "over_assignment": 1.0, "teams": "teams.csv", "converged": True, "diagnostics": diag,
        "allocation": [a.to_dict() for a in cal.allocation_summary],
    }))
    return path



def test_fit_beside_last_year_compares_like_with_like() -> None:
    """A fit that matches each segment's last year exactly matches the company's too, even
    when the products' deal sizes differ tenfold (no median of a mix against its parts)."""
    from targetsim.calibrate.context import compare_with_fit

    segs = {"big": (10.0, 0.5, 10_000.0, 60.0, 1_200_000.0),
            "small": (200.0, 0.4, 100.0, 20.0, 96_000.0)}
    fs = pd.DataFrame([(s, q, "", v, v, v, v) for s, vals in segs.items()
                       for q, v in zip(("arrivals_per_month", "win_rate", "deal_size_median",
                                        "cycle_days_median"), vals[:4], strict=True)],
                      columns=["segment", "parameter", "stage", "mean", "q05", "q50", "q95"])
    ly = pd.DataFrame(
        [("total", "total", 1_296_000.0, 1020.0, 210.0, 0.405, 100.0, 20.0)]
        + [("segment", s, v[4], 12 * v[0] * v[1], v[0], v[1], v[2], v[3])
           for s, v in segs.items()],
        columns=["level", "name", "bookings_12m", "deals_won_12m", "arrivals_per_month",
                 "win_rate", "deal_size_median", "cycle_days_median"])
    c = compare_with_fit(fs, ly, "total").set_index("quantity")
    assert c.loc["arrivals_per_month", "fitted"] == pytest.approx(210.0)
    np.testing.assert_allclose(c["ratio"], 1.0)
    seg = compare_with_fit(fs.assign(q50=fs.q50 * 1.1), ly, "big").set_index("quantity")
    np.testing.assert_allclose(seg["ratio"], 1.1)
