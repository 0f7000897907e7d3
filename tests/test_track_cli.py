"""``targetsim track`` / ``targetsim backtest`` on the command line, and their output files."""

from __future__ import annotations

from html import unescape

import numpy as np
import pandas as pd
import pytest

from targetsim.cli import main
from targetsim.track.output import render_track_html, write_track
from targetsim.track.track import TrackResult, early_warnings, track_targets
from targetsim.track.warnings import warnings_frame
from test_track_sim import TRUTH, generate_history


def run(capsys, *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_backtest_bad_cutoff_is_a_usage_error(capsys, maven_dir):
    code, _, err = run(capsys, "backtest", maven_dir, "--format", "maven",
                       "--cutoffs", "2017-06-15")
    assert code == 2
    assert "not the last day of a month" in err and "Traceback" not in err


def test_backtest_horizon_past_the_data_is_a_data_error(capsys, maven_dir):
    code, _, err = run(capsys, "backtest", maven_dir, "--format", "maven",
                       "--cutoffs", "2017-11-30", "--horizon-months", "3")
    assert code == 2
    assert "after the as-of date" in err and "2018-02-28" in err


def test_track_on_a_missing_plan_dir_is_a_usage_error(capsys, tmp_path, maven_dir):
    code, _, err = run(capsys, "track", tmp_path / "nope", maven_dir, "--format", "maven")
    assert code == 2 and "not a directory" in err


def test_track_on_a_dir_without_targets_names_the_file(capsys, tmp_path, maven_dir):
    code, _, err = run(capsys, "track", tmp_path, maven_dir, "--format", "maven")
    assert code == 2 and "targets.csv: not found" in err


def test_track_files_and_escaped_html(tmp_path):
    n = 50
    params = type(TRUTH)(**{
        k: (np.repeat(v, n, axis=0) if isinstance(v, np.ndarray) and v.ndim == 2
            and v.shape[0] == 1 else v) for k, v in TRUTH.__dict__.items()
    })
    opps = generate_history(TRUTH, start="2026-01-01", as_of="2027-03-31", random_seed=4)
    targets = pd.DataFrame(
        [("baseline", "segment", "SMB", "FY", "bookings", 1e6, 0.6),
         ("baseline", "total", "total", "2027-Q1", "deals_won", 10.0, 0.6)],
        columns=["scenario", "level", "name", "period", "metric", "target",
                 "attainment_probability"],
    )
    table = track_targets(params, targets, opps, horizon_start="2027-01-01",
                          horizon_months=12, random_seed=1)
    warns = warnings_frame(early_warnings(params, opps, horizon_start="2027-01-01"))
    warns.loc[0, "segment"] = "<script>alert(1)</script>"  # a name from the data
    warns.loc[0, "triggered"] = True
    res = TrackResult(table, warns, pd.Timestamp("2027-03-31"), pd.Timestamp("2026-12-31"),
                      ("a note & more",))
    files = write_track(res, tmp_path, html=True)
    assert [f.name for f in files] == ["track.csv", "track_warnings.csv", "track.html"]
    back = pd.read_csv(tmp_path / "track.csv")
    assert list(back["status"]) == ["in progress", "closed"]
    assert back.loc[1, "probability_now"] == 1.0  # Q1 is over and has far more than 10 wins
    html = render_track_html(res)
    assert "<script>" not in html and "&lt;script&gt;" in html and "a note &amp; more" in html
    assert not list(tmp_path.glob(".*.tmp"))
    # Warnings first, in words, with the check's numbers; one row per target with a light.
    assert html.index('id="warnings"') < html.index('id="track-table"')
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: Fewer wins than the plan expects." in html
    obs = int(warns.loc[0, "observed"])
    assert f"{obs} deals won among those open at the plan date" in html
    assert html.count('<span class="light ') == 2 + 3  # two targets, the legend's three


def test_track_html_in_french(tmp_path):
    """Every word of track.html in French, numbers and dates through Babel."""
    table = pd.DataFrame([
        ("baseline", "total", "total", "FY", "bookings", 7_510_000.0, "2027-01-01",
         "2027-12-31", "in progress", 1_234_567.0, 0.164, 6_275_433.0, 0.6, 0.58,
         6.4e6, 7.6e6, 9.1e6),
        ("baseline", "owner", "Anna Snelling", "2027-Q2", "bookings", 64_300.0,
         "2027-04-01", "2027-06-30", "not started", 0.0, 0.0, 64_300.0, 0.55, 0.2,
         3e4, 5e4, 8e4),
    ], columns=["scenario", "level", "name", "period", "metric", "target", "period_start",
                "period_end", "status", "booked_to_date", "attainment_to_date", "gap",
                "plan_probability", "probability_now", "p10", "p50", "p90"])
    warns = pd.DataFrame([("inflow", "GTX Pro", True, 812.0, 1020.0, 955.0, 0.001, "x")],
                         columns=["check", "segment", "triggered", "observed", "expected",
                                  "threshold", "tail_probability", "evidence"])
    res = TrackResult(table, warns, pd.Timestamp("2027-03-31"), pd.Timestamp("2026-12-31"),
                      ("tracking as of 2027-03-31 ...",),
                      (("month_end", {"as_of": "2027-03-31", "export": "2027-04-12"}),))
    html = unescape(render_track_html(res, "fr", "EUR"))
    assert '<html lang="fr">' in html and "<h1>Suivi au 31 mars 2027</h1>" in html
    assert "Suivi au 31 mars 2027, dernier mois complet avant la date de l'export " \
           "(12 avril 2027)" in html
    assert "GTX Pro : Moins de nouvelles opportunités que les objectifs n'en demandent." in html
    assert ("812 nouvelles opportunités depuis le début de l'année contre 1\u202f020 "
            "attendues à ce jour") in html
    assert "Entreprise · CA signé" in html and "7,51\u00a0M\u00a0€" in html
    assert "1\u202f234\u202f567" not in html and "1,23\u00a0M\u00a0€" in html
    assert "Commerciaux (1 quotas ; 1 probablement manqués)" in html and "T2 2027" in html
    assert "58\u00a0%" in html and "Année" in html
    for english in ("Tracking", "Early warning", "Company", "Full year", "Target", "Booked",
                    "on track", "likely missed", "bookings", "Reps"):
        assert english not in html, english
