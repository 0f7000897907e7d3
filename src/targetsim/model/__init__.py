"""The Bayesian funnel model: components, fitting, diagnostics and fit files.

Public API::

    from targetsim.model import fit_funnel, FunnelFit, ModelConfig, write_fit_outputs
    fit = fit_funnel(funnel, random_seed=0)
    fit.params(n_draws=200)      # FunnelParams for the simulator
    fit.summary()                # fit_summary.csv
    write_fit_outputs(fit, "out/")

Names are imported on first use: the steps after the fit (simulate, calibrate, report,
track) read ``targetsim.model.params`` and ``FunnelFit.load`` without importing PyMC,
PyTensor, JAX or nutpie, which cost seconds.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "MODEL_VERSION": "targetsim.model.config",
    "ModelConfig": "targetsim.model.config",
    "Normal": "targetsim.model.config",
    "HalfNormal": "targetsim.model.config",
    "Gamma": "targetsim.model.config",
    "Diagnostics": "targetsim.model.diagnostics",
    "diagnose": "targetsim.model.diagnostics",
    "SUMMARY_COLUMNS": "targetsim.model.fit",
    "FunnelFit": "targetsim.model.fit",
    "fit_funnel": "targetsim.model.fit",
    "write_fit_outputs": "targetsim.model.fit",
    "FunnelModel": "targetsim.model.funnel_model",
    "FunnelParams": "targetsim.model.params",
}


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'targetsim.model' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = sorted(_API)
