"""``run_plan`` end to end on small synthetic data: files, metadata, determinism, exit codes.

Each run fits a small model (about 30 s of MCMC compile and sampling each), hence the slow
marks; the statistical proof is in test_calibrate_proof.py and the
Maven end-to-end run in test_plan_maven.py.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from targetsim.calibrate import TARGET_COLUMNS
from targetsim.cli import main
from targetsim.model.params import FunnelParams

DRAWS = dict(draws=60, tune=150, chains=2)
PLAN_FILES = (
    "targets.csv", "fit_summary.csv", "diagnostics.json", "fit.nc", "projection.nc",
    "objectives.md", "indicators.csv", "allocation.csv", "stress.csv", "plan.json",
)


def _truth() -> FunnelParams:
    return FunnelParams.constant(("SMB", "Mid"), p_win=[0.4, 0.3], p_lost=[0.5, 0.6],
                                 arrivals_per_month=[25, 8], size_median=[5_000, 30_000],
                                 as_of="2026-12-31")


@pytest.fixture(scope="module")
def crm_csv(tmp_path_factory):
    from targetsim.synthetic import generate_crm

    df = generate_crm(_truth(), history_months=12, random_seed=4, owners_per_segment=2)
    path = tmp_path_factory.mktemp("crm") / "crm.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def planned(crm_csv, tmp_path_factory):
    from targetsim.plan import run_plan

    out = tmp_path_factory.mktemp("plan_a")
    result = run_plan(crm_csv, out, scenarios=("baseline", "tension"), tiers=(0.9, 0.6, 0.3),
                      company_target=2_000_000.0, seed=7, report=False, progress=False,
                      **DRAWS)
    return result


@pytest.mark.slow
def test_plan_writes_every_output(planned) -> None:
    out = planned.out_dir
    for name in (*PLAN_FILES, "tiers.csv", "topdown.csv"):
        assert (out / name).exists(), name
    targets = pd.read_csv(out / "targets.csv")
    # The contract's columns, then the quota plan's and last year's (DESIGN.md: extensions
    # come after the contract's columns).
    from targetsim.calibrate.context import CONTEXT_COLUMNS

    assert list(targets.columns) == TARGET_COLUMNS + ["quota", "quota_probability",
                                                      *CONTEXT_COLUMNS]
    assert set(targets["scenario"]) == {"baseline", "tension"}
    assert set(targets["level"]) == {"total", "segment", "owner"}
    assert (targets["attainment_probability"] >= 0.6).all()
    meta = json.loads((out / "plan.json").read_text())
    for key in ("targetsim_version", "seed", "as_of", "probability", "scenarios", "converged",
                "timings_seconds"):
        assert key in meta
    assert meta["seed"] == 7 and meta["as_of"] == "2026-12-31"
    assert set(meta["timings_seconds"]) >= {"ingest", "fit", "simulate", "calibrate"}
    topdown = pd.read_csv(out / "topdown.csv")
    assert set(topdown["lever"]) >= {"lead_volume", "win_rate"} or (
        topdown["lever"].eq("none").all())


@pytest.mark.slow
def test_same_seed_gives_identical_targets_bit_for_bit(planned, crm_csv, tmp_path) -> None:
    from targetsim.plan import run_plan

    run_plan(crm_csv, tmp_path, scenarios=("baseline", "tension"), tiers=(0.9, 0.6, 0.3),
             company_target=2_000_000.0, seed=7, report=False, progress=False, **DRAWS)
    for name in ("targets.csv", "tiers.csv", "allocation.csv", "indicators.csv", "stress.csv"):
        assert (tmp_path / name).read_bytes() == (planned.out_dir / name).read_bytes(), name


@pytest.mark.slow
def test_not_converged_still_writes_outputs_and_exits_3(crm_csv, tmp_path, capsys,
                                                        monkeypatch) -> None:
    import targetsim.model as model

    real = model.fit_funnel

    def unconverged(*args, **kwargs):
        fit = real(*args, **kwargs)
        return replace(fit, diagnostics=replace(fit.diagnostics, converged=False))

    monkeypatch.setattr(model, "fit_funnel", unconverged)
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(crm_csv), "--out", str(tmp_path), "--draws", "60", "--seed", "1",
              "--no-progress"])
    assert exc.value.code == 3
    err = capsys.readouterr().err
    assert "did not converge" in err
    assert (tmp_path / "targets.csv").exists()
    assert json.loads((tmp_path / "plan.json").read_text())["converged"] is False


def test_plan_bad_input_exits_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("opportunity_id,created_at\n1,2020-01-01\n")
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(bad), "--out", str(tmp_path / "o"), "--no-progress"])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
