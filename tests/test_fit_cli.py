"""``targetsim fit``: files written, exit codes (sampling mocked: plumbing only)."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from pymc.testing import mock_sample

from targetsim.cli import main
from targetsim.model import SUMMARY_COLUMNS, FunnelFit
from targetsim.model.params import FunnelParams
from targetsim.synthetic import generate_crm


@pytest.fixture()
def crm_csv(tmp_path):
    truth = FunnelParams.constant(("SMB", "Mid"), p_win=[0.3, 0.4], arrivals_per_month=[30, 15])
    path = tmp_path / "crm.csv"
    generate_crm(truth, random_seed=4).to_csv(path, index=False)
    return path


@pytest.fixture()
def mocked_sampler(monkeypatch):
    monkeypatch.setattr(
        pm,
        "sample",
        partial(mock_sample, sample_stats={"diverging": lambda size: np.zeros(size, bool)}),
    )


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
        raise SystemExit(0)
    return int(exc.value.code or 0)


def test_fit_writes_outputs_and_flags_non_convergence(crm_csv, tmp_path, mocked_sampler, capsys):
    out = tmp_path / "out"
    code = _run(
        [
            "fit", str(crm_csv), "--out", str(out), "--sampler", "pymc", "--mcmc-draws", "20",
            "--tune", "5", "--seed", "3", "--quiet",
        ]
    )
    # 40 prior draws cannot reach an ESS of 200: the gate fails, the files are still there.
    assert code == 3
    err = capsys.readouterr().err
    assert "DID NOT CONVERGE" in err and "ESS" in err
    assert (out / "fit.nc").exists()
    summary = pd.read_csv(out / "fit_summary.csv", keep_default_na=False)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert set(summary["segment"]) == {"SMB", "Mid"}
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["converged"] is False
    fit = FunnelFit.load(out / "fit.nc")
    assert fit.seed == 3 and fit.segments == ("Mid", "SMB")


def test_bad_input_exits_2(tmp_path, capsys):
    code = _run(["fit", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "missing.csv" in capsys.readouterr().err


def test_bad_sampler_and_priors_exit_2(crm_csv, tmp_path, capsys):
    assert _run(["fit", str(crm_csv), "--out", str(tmp_path), "--sampler", "gibbs"]) == 2
    assert "gibbs" in capsys.readouterr().err
    bad = tmp_path / "priors.yaml"
    bad.write_text("win_logit: {mu: 0, sigma: -2}\n")
    assert _run(["fit", str(crm_csv), "--out", str(tmp_path), "--priors", str(bad)]) == 2
    assert "win_logit" in capsys.readouterr().err


def test_cli_fit_defaults_are_the_models_and_need_no_sampler():
    """The CLI reads its MCMC defaults from the model's config, which imports no PyMC."""
    import inspect
    import subprocess
    import sys

    from targetsim.cli import fit as cli_fit
    from targetsim.model.config import DEFAULT_DRAWS, DEFAULT_TUNE

    params = inspect.signature(cli_fit.register).parameters  # noqa: F841 (the module loads)
    src = inspect.getsource(cli_fit)
    assert "draws: DrawsOpt = DEFAULT_DRAWS," in src and "tune: TuneOpt = DEFAULT_TUNE," in src
    assert (DEFAULT_DRAWS, DEFAULT_TUNE) == (1500, 500)
    code = ("import sys, targetsim.cli; "
            "print(sorted(m for m in ('pymc', 'pytensor', 'jax', 'nutpie') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
