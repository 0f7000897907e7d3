"""report: the numbers it computes (known truth), the HTML it writes (escaping, languages),
missing files, and the CLI."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from targetsim import formatting as F
from targetsim.errors import ConfigError, DataError
from targetsim.model.params import FunnelParams
from targetsim.report import figures, write_report
from targetsim.report.charts import fan_chart_svg
from targetsim.report.html import build_context, json_for_html, render_html
from targetsim.report.i18n import LABELS, fmt_compact, fmt_number, fmt_pct
from targetsim.report.inputs import load_plan
from test_report_fixture import MALICIOUS, OWNERS, SEGMENTS, make_plan_dir, make_projection


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_plan_dir(tmp_path_factory.mktemp("plan"))


# --- figures: known truth -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 20), min_size=1, max_size=60),
    st.floats(0.05, 0.95),
)
def test_target_at_probability_is_the_largest_value_reached_with_p(xs: list[int], p: float):
    x = np.array(xs, dtype=float)
    t = figures.target_at_probability(x, p)
    assert figures.attainment(x, t) >= p - 1e-12
    higher = x[x > t]
    if higher.size:  # the next larger simulated value is reached less often than p
        assert figures.attainment(x, higher.min()) < p


def test_target_at_probability_matches_contract_formula():
    x = np.arange(1.0, 11.0)  # 1..10
    assert figures.target_at_probability(x, 0.6) == 5.0  # P(X >= 5) = 0.6
    assert figures.target_at_probability(x, 0.9) == 2.0
    assert figures.target_at_probability(x, 1.0) == 1.0
    with pytest.raises(DataError):
        figures.target_at_probability(np.array([]), 0.5)


def test_round_down_matches_three_significant_figures():
    assert figures.round_down(1_234_567.0, "bookings") == 1_230_000.0
    assert figures.round_down(999.9, "bookings") == 999.0
    assert figures.round_down(17.8, "deals_won") == 17.0
    assert figures.round_down(-5.0, "bookings") == 0.0


def test_probability_table_reproduces_the_calibrated_targets(plan_dir: Path):
    """At the plan's probability the control shows exactly the targets of targets.csv
    (computed by the fixture's independent implementation)."""
    ds = make_projection()
    t = pd.read_csv(plan_dir / "targets.csv", keep_default_na=False)
    table = figures.probability_table(ds, t)
    k = figures.PROBABILITY_GRID.index(0.6)
    assert all(e is not None for e in table)
    np.testing.assert_allclose([e["t"][k] for e in table], t["target"].to_numpy())
    np.testing.assert_allclose([e["p"][k] for e in table], t["attainment_probability"])
    for e in table:  # targets never rise with the probability asked for
        assert np.all(np.diff(e["t"]) <= 0)


def test_outcome_samples_sums_the_right_cells():
    ds = make_projection()
    x = figures.outcome_samples(ds, scenario="tension", level="total", name="total",
                                period="2027-Q2", metric="deals_won")
    expected = ds["deals_won"].sel(scenario="tension").isel(month=[3, 4, 5]).sum(
        ["segment", "month"])
    np.testing.assert_array_equal(x, expected.values)
    assert figures.outcome_samples(ds, scenario="nope", level="total", name="total",
                                   period="FY", metric="bookings") is None
    assert figures.outcome_samples(ds, scenario="baseline", level="owner", name="Zed",
                                   period="FY", metric="bookings") is None
    with pytest.raises(DataError, match="2027-H1"):
        figures.outcome_samples(ds, scenario="baseline", level="total", name="total",
                                period="2027-H1", metric="bookings")


def test_cumulative_band_ends_at_full_year_quantiles():
    ds = make_projection()
    band = figures.cumulative_band(ds, scenario="baseline", segment="Enterprise")
    fy = ds["bookings"].sel(scenario="baseline", segment="Enterprise").sum("month").values
    assert len(band) == 12
    np.testing.assert_allclose(band.iloc[-1][["p10", "p50", "p90"]].astype(float),
                               np.quantile(fy, [0.1, 0.5, 0.9]))
    assert (np.diff(band["p50"]) >= 0).all()


def test_win_rate_interval_covers_the_true_rate():
    """Jeffreys 90 % interval: frequentist coverage close to 90 % for a small rep's record."""
    rng = np.random.default_rng(3)
    true_p, n = 0.3, 25
    won = rng.binomial(n, true_p, size=2000)
    hits = 0
    for w in won:
        _, lo, hi = figures.win_rate_interval(int(w), int(n - w))
        hits += lo <= true_p <= hi
    assert 0.85 <= hits / won.size <= 0.95
    rate, lo, hi = figures.win_rate_interval(0, 4)
    assert rate == 0.0 and lo == 0.0 and 0.2 < hi < 0.6
    assert all(np.isnan(figures.win_rate_interval(0, 0)))


def test_predictive_last_year_recovers_known_rates():
    """Constant parameters: wins ~ Poisson(λ·12·p), bookings mean = wins × E[size]."""
    params = FunnelParams.constant(("A", "B"), p_win=[0.3, 0.5], arrivals_per_month=[20, 5],
                                   size_median=10_000.0, size_sigma=0.5, n_draws=4000)
    pred = figures.predictive_last_year(params, random_seed=11)
    for seg, lam, p in (("A", 20, 0.3), ("B", 5, 0.5)):
        mean_wins = lam * 12 * p
        wins = pred[seg]["wins"]
        assert abs(wins.mean() - mean_wins) < 4 * np.sqrt(mean_wins / wins.size)
        assert abs(wins.var() / mean_wins - 1) < 0.1  # Poisson thinning: var = mean
        e_size = 10_000.0 * np.exp(0.5**2 / 2)
        assert abs(pred[seg]["bookings"].mean() / (mean_wins * e_size) - 1) < 0.02
    again = figures.predictive_last_year(params, random_seed=11)
    np.testing.assert_array_equal(again["A"]["bookings"], pred["A"]["bookings"])


def test_wide_parameters_and_stress_status():
    fs = pd.DataFrame({
        "segment": ["a"] * 5, "stage": [""] * 5,
        "parameter": ["win_rate", "win_rate", "deal_size_median", "cycle_days_median",
                      "arrival_trend"],
        "mean": [0.3, 0.3, 100.0, 60.0, 0.0], "q05": [0.25, 0.1, 40.0, 55.0, -0.01],
        "q50": [0.3, 0.3, 100.0, 60.0, 0.001], "q95": [0.35, 0.5, 150.0, 66.0, 0.02],
    })
    wide = figures.wide_parameters(fs)
    assert list(wide.index) == [2, 1]  # 110 % of the median, then 40 points
    assert figures.stress_status(0.61, 0.6) == "holds"
    assert figures.stress_status(0.55, 0.6) == "at_risk"
    assert figures.stress_status(0.2, 0.6) == "breaks"


# --- formatting and escaping ----------------------------------------------------------------


def test_languages_have_the_same_labels():
    assert set(LABELS["en"]) == set(LABELS["fr"])
    assert fmt_number(1234567.891, "en", 2) == "1,234,567.89"
    assert fmt_number(1234567.891, "fr", 2) == "1\u202f234\u202f567,89"
    assert fmt_number(-1234.0, "en") == "-1,234"
    assert fmt_compact(1_250_000, "fr") == "1,25\u00a0M"  # Babel: three significant figures
    assert fmt_compact(1_250_000, "en") == "1.25M"
    assert fmt_pct(0.6, "en") == "60%" and fmt_pct(0.6, "fr") == "60\u00a0%"
    assert fmt_number(float("nan"), "en") == "–"


def test_json_island_cannot_close_the_script():
    text = str(json_for_html({"name": "</script><script>alert(1)</script>&"}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>&"}


def test_chart_title_is_escaped():
    band = pd.DataFrame({"month": pd.date_range("2027-01-01", periods=3, freq="MS"),
                         "p10": [1.0, 2, 3], "p50": [2.0, 3, 4], "p90": [3.0, 4, 5]})
    svg = fan_chart_svg(band, title=MALICIOUS, lang="en", target=4.0)
    assert MALICIOUS not in svg and "&lt;script&gt;" in svg
    assert svg.count("<polygon") == 1 and 'class="target"' in svg
    assert ">Feb<" in svg and ">févr.<" in fan_chart_svg(band, title="x", lang="fr")


# --- the report -----------------------------------------------------------------------------


def test_report_html_escapes_data_and_embeds_everything(plan_dir: Path):
    html_path, xlsx_path, md_path = write_report(plan_dir, lang="en", progress=False)
    assert html_path.name == "report.html" and xlsx_path.name == "targets.xlsx"
    assert md_path.name == "objectives.md"
    html = html_path.read_text(encoding="utf-8")
    # Only our two <script> elements; the malicious name appears only escaped.
    assert len(re.findall(r"<script\b", html)) == 2
    assert "alert(1)</script>" not in html.replace("&lt;/script&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Bob &amp; Co" in html
    # Self-contained: no external resource.
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    # Every section is there, with the optional sections filled from the fixture.
    for section in ("headline", "charts", "targets", "scenarios", "owners", "kpis",
                    "evidence", "objectives"):
        assert f'id="{section}"' in html
    assert "Tension: 0 targets hold" in html.split('id="stress-table"')[0]
    # The wide interval in words and in its unit, never a raw parameter name.
    assert "Median deal: $4,000\u00a0– $25K" in html.split('id="wide-list"')[1]
    for raw in ("win_rate", "deal_size_median", "stall_rate", "attainment_probability",
                "common_probability", "booked_to_date"):
        assert raw not in html, raw
    assert html.count('<svg class="fan"') == len(("baseline", "tension")) + len(SEGMENTS)
    for owner in OWNERS:
        assert f"{owner.replace('&', '&amp;')}: quota $" in html
    # Headline: the total FY bookings target of each scenario, in money, proposed one marked.
    t = pd.read_csv(plan_dir / "targets.csv", keep_default_na=False)
    head = html.split('id="charts"')[0]
    for sc in ("baseline", "tension"):
        total = t[(t.scenario == sc) & (t.level == "total") & (t.period == "FY")
                  & (t.metric == "bookings")].target.iloc[0]
        assert f'<div class="big" title="{F.money(total, "en")}">' \
               f'{F.money_compact(total, "en")}</div>' in head
    assert head.count('class="card proposed"') == 1 and "Baseline</strong><span" in head


def test_report_in_french(tmp_path: Path):
    d = make_plan_dir(tmp_path / "plan")
    html = write_report(d, lang="fr", progress=False)[0].read_text(encoding="utf-8")
    assert '<html lang="fr">' in html
    assert "Objectifs commerciaux exercice 2027" in html
    assert "Quels objectifs tiennent dans chaque scénario" in html
    assert "Probabilité <strong>60\u00a0%</strong>" in html
    assert "Référence" in html and "Baseline" not in html


def test_report_without_optional_files_leaves_their_sections_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """No note about missing files in a page made for the meeting: the sections go."""
    d = make_plan_dir(tmp_path / "plan", optional=False)
    html = write_report(d, progress=False)[0].read_text(encoding="utf-8")
    for present in ('id="headline"', 'id="targets"', 'id="kpis"', 'id="evidence"'):
        assert present in html
    for absent in ('id="scenarios"', 'id="tiers"', 'id="indicators-table"', 'id="ppc-table"',
                   "not in the plan directory", "not found", ".csv", "fit.nc"):
        assert absent not in html, absent
    assert "fit.nc" not in capsys.readouterr().err  # no fit at all is not a problem
    # A fit file that cannot be read is said, on the console.
    (d / "fit.nc").write_bytes(b"not a netcdf file")
    write_report(d, progress=False)
    assert "fit.nc could not be read" in capsys.readouterr().err


def test_missing_or_broken_contract_files_are_data_errors(tmp_path: Path):
    with pytest.raises(DataError, match="not a directory"):
        write_report(tmp_path / "nowhere", progress=False)
    d = make_plan_dir(tmp_path / "plan", optional=False)
    t = pd.read_csv(d / "targets.csv")
    t.drop(columns=["p90"]).to_csv(d / "targets.csv", index=False)
    with pytest.raises(DataError, match="missing column.*p90"):
        write_report(d, progress=False)
    (d / "targets.csv").unlink()
    with pytest.raises(DataError, match="targets.csv not found"):
        write_report(d, progress=False)
    with pytest.raises(ConfigError, match="--lang 'de'"):
        write_report(d, lang="de", progress=False)
    assert not (d / "report.html").exists()


def test_cli_report(tmp_path: Path):
    from targetsim.cli import app

    d = make_plan_dir(tmp_path / "plan", optional=False)
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(d), "--lang", "fr", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (d / "report.html").exists() and (d / "targets.xlsx").exists()
    shutil.rmtree(d)


def test_cli_report_bad_input_exits_2(tmp_path: Path):
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("targetsim")
    res = subprocess.run([str(exe), "report", str(tmp_path / "missing")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "not a directory" in res.stderr


# --- with a fit: quota justification and posterior-predictive check --------------------------


@dataclasses.dataclass(frozen=True)
class _Fit:
    """The part of FunnelFit the report reads, with known values."""

    history: pd.DataFrame
    open_pipeline: pd.DataFrame
    known: FunnelParams

    def params(self, n_draws: int | None = None, random_seed: int = 0) -> FunnelParams:
        return self.known


def _fake_fit() -> _Fit:
    base = FunnelParams.constant(SEGMENTS, p_win=0.3, arrivals_per_month=30.0,
                                 size_median=10_000.0, size_sigma=0.5, n_draws=400)
    known = base.with_owners(OWNERS, np.zeros((400, 2)), np.eye(2))
    expected = 30 * 12 * 0.3 * 10_000.0 * np.exp(0.125)
    cols = ["level", "segment", "owner", "n_deals", "won", "lost", "open", "win_rate_closed",
            "median_won_cycle_days", "median_won_size", "bookings_last_365"]
    history = pd.DataFrame([
        ("segment", "Enterprise", "", 110, 30, 70, 10, 0.3, 60.0, 10_000.0, expected),
        ("segment", MALICIOUS, "", 110, 30, 70, 10, 0.3, 60.0, 10_000.0, 10 * expected),
        ("owner", "Enterprise", "Ann", 35, 12, 18, 5, 0.4, 55.0, 12_000.0, 0.0),
        ("owner", MALICIOUS, "Bob & Co", 35, 6, 24, 5, 0.2, 70.0, 8_000.0, 0.0),
    ], columns=cols)
    pipe = pd.DataFrame({"opportunity_id": ["1", "2", "3"], "segment": ["Enterprise"] * 3,
                         "owner": ["Ann", "Ann", "Ann"], "age_days": [10.0, 20.0, 30.0],
                         "amount": [1000.0, 2000.0, np.nan], "stage": ["created"] * 3})
    return _Fit(history=history, open_pipeline=pipe, known=known)


def test_owner_justification_and_predictive_check_from_a_fit(plan_dir: Path):
    plan = load_plan(plan_dir)
    ctx = build_context(plan, lang="en", fit=_fake_fit())
    owners = {o["owner"]: " ".join(o["paragraphs"]) for o in ctx["owners"]}
    cards = {o["owner"]: o for o in ctx["owners"]}
    _, lo, hi = figures.win_rate_interval(12, 18)
    ann = owners["Ann"]
    assert cards["Ann"]["segments"] == "Enterprise"
    assert cards["Ann"]["summary"].startswith("Ann: quota $")
    assert "last 12 months" not in cards["Ann"]["summary"]  # the fixture has no actuals
    assert (f"Record: 12 won and 18 lost, a win rate of 40% (90 % interval "
            f"{fmt_pct(lo, 'en')}–{fmt_pct(hi, 'en')}) against 30% for the same products; "
            f"median won deal $12K.") in ann
    assert "Median time to win: 55 days." in ann
    assert "Open pipeline today: 3 deals worth $3,000." in ann
    new = np.median(make_projection()["new_opportunities"].sel(
        scenario="baseline", segment="Enterprise").sum("month").values)
    assert f"from the open pipeline and about {fmt_number(new, 'en')} new opportunities" in ann
    # What every rep shares is said once, not in every card.
    assert "No capacity limit" in ctx["shared_note"] and "capacity" not in ann
    bob = owners["Bob & Co"]
    assert "No open deals today" in bob and "open pipeline and" not in bob
    verdicts = {(r["segment"], r["what"]): r["ok"] for r in ctx["ppc"]}
    assert verdicts == {("Enterprise", "bookings_12m"): True,
                        (MALICIOUS, "bookings_12m"): False}
    html = render_html(ctx)
    assert "outside the band" in html and "consistent" in html
    assert "alert(1)</script>" not in html.replace("&lt;/script&gt;", "")
