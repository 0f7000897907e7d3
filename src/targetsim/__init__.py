"""targetsim: evidence-based sales targets from a CRM export."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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

__all__ = [
    "ConfigError",
    "ConvergenceError",
    "DataError",
    "ModelMismatchError",
    "NotFittedError",
    "ScenarioError",
    "TargetsimError",
    "__version__",
]
