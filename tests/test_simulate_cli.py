"""``targetsim simulate DIR``: writes projection.nc, prints a summary, errors without traceback.

Until a real fit is needed, ``FunnelFit`` is replaced by a test double holding known
parameters; the slow test at the end runs on a real fit of the Maven data when available.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import targetsim.model
from targetsim.cli import main
from targetsim.model.params import FunnelParams
from targetsim.simulate import load_projection


class KnownFit:
    """Stands in for ``FunnelFit``: ``load``, ``params``, ``open_pipeline``, ``as_of``."""

    as_of = pd.Timestamp("2026-12-31")
    open_pipeline = pd.DataFrame({
        "opportunity_id": ["a", "b"], "segment": ["X", "Y"], "owner": [None, None],
        "age_days": [10.0, 200.0], "amount": [5_000.0, np.nan], "stage": ["created"] * 2,
    })

    @classmethod
    def load(cls, path):
        assert path.name == "fit.nc" and path.is_file()
        return cls()

    def params(self, n_draws, random_seed=0):
        return FunnelParams.constant(("X", "Y"), p_win=0.3, arrivals_per_month=[8.0, 4.0],
                                     n_draws=n_draws)


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture
def fit_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(targetsim.model, "FunnelFit", KnownFit, raising=False)
    (tmp_path / "fit.nc").write_bytes(b"known fit")
    return tmp_path


def test_simulate_writes_projection_and_prints_summary(fit_dir, capsys):
    code, out, err = run(["simulate", str(fit_dir), "--scenario", "tension", "--scenario",
                          "hiring-freeze", "--draws", "15", "--seed", "3", "--months", "6"],
                         capsys)
    assert code == 0, err
    ds = load_projection(fit_dir / "projection.nc")
    assert list(ds.scenario.values) == ["tension", "hiring-freeze"]
    assert ds.sizes == {"draw": 15, "scenario": 2, "segment": 2, "month": 6}
    assert ds.attrs["engine"] == "des" and ds.attrs["seed"] == 3
    assert "tension" in out and "hiring-freeze" in out and "FY bookings" in out
    median = float(ds.bookings.sel(scenario="tension").sum(("segment", "month")).median())
    assert f"{median:,.0f}" in out


def test_simulate_errors_are_messages_not_tracebacks(fit_dir, tmp_path, capsys):
    code, _, err = run(["simulate", str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "fit.nc: not found" in err and "Traceback" not in err
    code, _, err = run(["simulate", str(fit_dir), "--scenario", "nope.yaml"], capsys)
    assert code == 2 and "nope.yaml: scenario file not found" in err
    code, _, err = run(["simulate", str(fit_dir), "--engine", "fast", "--scenario",
                        "hiring-freeze", "--draws", "2"], capsys)
    assert code == 2 and "the fast engine has no capacity model" in err
    code, _, err = run(["simulate", str(fit_dir), "--start", "2027-02-15", "--draws", "2"],
                       capsys)
    assert code == 2 and "first day of a month" in err
    assert not (fit_dir / "projection.nc").exists()
