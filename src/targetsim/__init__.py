"""targetsim: evidence-based sales targets from a CRM export.

The Python API of every step is exported here; the CLI is a thin layer over it. The
steps are imported on first use (``targetsim.fit_funnel`` loads PyMC), so that
``import targetsim`` and ``targetsim ingest`` stay fast. The functions named like
their step's subpackage are called through it: ``targetsim.simulate.simulate``,
``targetsim.calibrate.calibrate``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from targetsim.errors import (
    ConfigError,
    ConvergenceError,
    DataError,
    ModelMismatchError,
    NotFittedError,
    ScenarioError,
    TargetsimError,
)

try:
    __version__ = version("targetsim")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

#: Public name -> the subpackage that defines it (one per step of the data flow).
_API = {
    "Opportunities": "targetsim.data",
    "FunnelData": "targetsim.data",
    "load_opportunities": "targetsim.data",
    "load_funnel": "targetsim.data",
    "build_funnel": "targetsim.data",
    "summarize_funnel": "targetsim.data",
    "demo_data_path": "targetsim.data",
    "ExportOptions": "targetsim.data",
    "FunnelModel": "targetsim.model",
    "ModelConfig": "targetsim.model",
    "FunnelFit": "targetsim.model",
    "FunnelParams": "targetsim.model",
    "fit_funnel": "targetsim.model",
    "write_fit_outputs": "targetsim.model",
    "Scenario": "targetsim.simulate",
    "load_scenario": "targetsim.simulate",
    "save_projection": "targetsim.simulate",
    "load_projection": "targetsim.simulate",
    "write_calibration": "targetsim.calibrate",
    "read_quotas": "targetsim.calibrate",
    "score_quotas": "targetsim.calibrate",
    "score_plan": "targetsim.calibrate",
    "run_plan": "targetsim.plan",
    "run_calibrate": "targetsim.plan",
    "write_report": "targetsim.report",
    "track_plan": "targetsim.track",
    "backtest": "targetsim.track",
}


#: Subpackages, one per step, reachable as attributes (``targetsim.simulate.simulate``).
_STEPS = ("data", "model", "simulate", "calibrate", "report", "track", "plan")


def __getattr__(name: str) -> Any:
    if name in _STEPS:
        return importlib.import_module(f"targetsim.{name}")
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'targetsim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, *_STEPS])


__all__ = [
    "ConfigError",
    "ConvergenceError",
    "DataError",
    "ModelMismatchError",
    "NotFittedError",
    "ScenarioError",
    "TargetsimError",
    "__version__",
    *_API,
]
