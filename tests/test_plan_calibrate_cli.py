"""``targetsim calibrate DIR`` on a projection simulated from known parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targetsim.calibrate import TARGET_COLUMNS
from targetsim.cli import main
from targetsim.cli.plan import parse_amount
from targetsim.errors import ConfigError
from targetsim.model.params import FunnelParams


def run(capsys, *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    from targetsim.simulate import Scenario, load_scenario, save_projection, simulate

    params = FunnelParams.constant(("SMB", "Mid"), p_win=[0.4, 0.3], arrivals_per_month=[20, 8],
                                   size_median=[5_000, 30_000], n_draws=120)
    ds = simulate(params, None, [Scenario.baseline(), load_scenario("tension")],
                  random_seed=2, progress=False)
    d = tmp_path_factory.mktemp("plan")
    save_projection(ds, d / "projection.nc")
    return d, ds


def test_calibrate_writes_the_files_and_summary(capsys, plan_dir) -> None:
    d, ds = plan_dir
    code, out, err = run(capsys, "calibrate", d, "--tiers", "0.9,0.6,0.3",
                         "--company-target", "2.5M")
    assert code == 0, err
    for name in ("targets.csv", "tiers.csv", "allocation.csv", "indicators.csv",
                 "stress.csv", "topdown.csv", "objectives.md"):
        assert (d / name).exists(), name
    targets = pd.read_csv(d / "targets.csv")
    assert list(targets.columns[:len(TARGET_COLUMNS)]) == TARGET_COLUMNS
    fy = ds["bookings"].sum(["segment", "month"]).sel(scenario="baseline").values
    row = targets.query("scenario == 'baseline' and level == 'total' and period == 'FY' "
                        "and metric == 'bookings'").iloc[0]
    assert row["attainment_probability"] == pytest.approx(np.mean(fy >= row["target"]))
    topdown = pd.read_csv(d / "topdown.csv")
    assert topdown["attainment_probability"].iloc[0] == pytest.approx(np.mean(fy >= 2.5e6))
    assert "Company FY bookings target at 60%" in out and "Tension" in out
    assert "The board's number $2.5M under Baseline: probability" in out


def test_calibrate_french_objectives(capsys, plan_dir) -> None:
    d, _ = plan_dir
    code, out, err = run(capsys, "calibrate", d, "--lang", "fr", "--currency", "€")
    assert code == 0, err
    # The console speaks the plan's language too.
    assert "Objectif annuel de CA signé de l'entreprise à 60\u00a0%" in out
    assert "Référence" in out and "(proposé)" in out and "fichiers écrits dans" in out
    assert "Company" not in out and "wrote" not in out
    text = (d / "objectives.md").read_text(encoding="utf-8")
    assert "Atteindre" in text and ("\u00a0M\u00a0€" in text or "\u00a0k\u00a0€" in text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--probability", "1.5"), "--probability"),
        (("--tiers", "0.3,0.6,0.9"), "--tiers"),
        (("--company-target", "lots"), "--company-target"),
        (("--lang", "de"), "--lang"),
    ],
)
def test_bad_options_exit_2_with_a_message(capsys, plan_dir, args, message) -> None:
    d, _ = plan_dir
    code, _, err = run(capsys, "calibrate", d, *args)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_missing_projection_exits_2(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "calibrate", tmp_path)
    assert code == 2
    assert "projection" in err and "targetsim simulate" in err


def test_parse_amount() -> None:
    assert parse_amount("12.5M") == 12_500_000
    assert parse_amount("800k") == 800_000
    assert parse_amount("1,200,000") == 1_200_000
    with pytest.raises(ConfigError):
        parse_amount("-5")


def test_exploding_posterior_arrivals_are_refused_not_simulated(tmp_path) -> None:
    from dataclasses import replace

    from targetsim.errors import ConvergenceError
    from targetsim.model.params import ArrivalDraws
    from targetsim.plan import _check_arrivals

    params = FunnelParams.constant(("A",), p_win=0.3, arrivals_per_month=20, n_draws=3)
    _check_arrivals(params, 12, True, tmp_path)  # a sane funnel passes
    wild = replace(params, arrivals=ArrivalDraws.from_trend(
        np.log(np.full((3, 1), 20.0)), np.array([[0.0], [0.0], [2.0]]), np.zeros((3, 12)),
        np.full((3, 1), np.inf), 12, 40))
    with pytest.raises(ConvergenceError, match="new opportunities a month"):
        _check_arrivals(wild, 12, False, tmp_path)
