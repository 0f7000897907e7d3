"""``targetsim track`` / ``targetsim backtest`` on the command line, and their output files."""

from __future__ import annotations

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
    warns.loc[0, "evidence"] = "<script>alert(1)</script>"
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
