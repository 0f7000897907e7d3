"""The Bayesian funnel model: priors, the PyMC model, fitting, diagnostics and fit files.

Public API::

    from targetsim.model import fit_funnel, FunnelFit, ModelConfig, write_fit_outputs
    fit = fit_funnel(funnel, draws=500, tune=500, chains=2, random_seed=0)
    fit.params(n_draws=200)      # FunnelParams for the simulator
    fit.summary()                # fit_summary.csv
    write_fit_outputs(fit, "out/")
"""

import warnings

# PyTensor warns on import when its C backend finds no BLAS (any pip install). The sampler
# compiles the model with JAX, which brings its own kernels, and the graph has no matrix
# products for the C fallback to need a BLAS for: the warning would only alarm users.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)
# ArviZ (imported here for the fit's diagnostics, and by PyMC) greets the first import of
# each day with a FutureWarning about its own refactor: nothing a targetsim user can act on.
warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor",
                        category=FutureWarning)

from targetsim.model.config import MODEL_VERSION, Gamma, HalfNormal, ModelConfig, Normal
from targetsim.model.diagnostics import Diagnostics, diagnose
from targetsim.model.fit import (
    SUMMARY_COLUMNS,
    FunnelFit,
    fit_funnel,
    write_fit_outputs,
)
from targetsim.model.funnel_model import FunnelModel
from targetsim.model.params import FunnelParams

__all__ = [
    "MODEL_VERSION",
    "SUMMARY_COLUMNS",
    "Diagnostics",
    "FunnelFit",
    "FunnelModel",
    "FunnelParams",
    "Gamma",
    "HalfNormal",
    "ModelConfig",
    "Normal",
    "diagnose",
    "fit_funnel",
    "write_fit_outputs",
]
