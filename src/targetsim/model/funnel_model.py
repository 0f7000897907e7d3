"""The funnel model: components composed into one posterior.

The likelihood of a CRM export factorises into three independent parts, one per
component chosen in :class:`~targetsim.model.config.ModelConfig` (pymc-marketing style:
each has its priors, its likelihood or direct fit, and its sampler for the simulation):

* ``cycle`` (outcome and timing of every deal, owner effects included): ``hazard``
  (:mod:`~targetsim.model.components.hazard`) or ``lognormal``
  (:mod:`~targetsim.model.components.lognormal`); sampled with NUTS;
* ``size`` (won contract values): ``empirical``
  (:mod:`~targetsim.model.components.empirical_size`, direct) or ``lognormal`` (NUTS);
* ``arrivals`` (new opportunities per month): ``local_trend``
  (:mod:`~targetsim.model.components.local_trend`, direct) or ``negbin`` (NUTS);

plus the funnel stages when the data have them (NUTS). With independent priors the
posterior is the product of the parts' posteriors, so the parts sampled with NUTS share
one PyMC model (written on sufficient statistics: its size does not grow with deals) and
the direct parts are fitted exactly, each with its own random stream.

Every number that comes from the data or the priors enters the PyMC model through
``pm.Data``, so a compiled model can take new data of the same shape without compiling
again.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from targetsim.data.funnel import FunnelData
from targetsim.errors import ConfigError, NotFittedError
from targetsim.model.components import hazard, lognormal
from targetsim.model.config import DEFAULT_DRAWS, DEFAULT_TUNE, ModelConfig
from targetsim.model.stats import FunnelStats, funnel_stats

if TYPE_CHECKING:
    import pymc as pm

    from targetsim.model.fit import FunnelFit

MONTHS = lognormal.MONTHS

# PyTensor warns on import when its C backend finds no BLAS (any pip install). The sampler
# compiles the model with JAX, which brings its own kernels, and the graph has no matrix
# products for the C fallback to need a BLAS for: the warning would only alarm users.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)
# ArviZ (imported by PyMC, and for the fit's diagnostics) greets the first import of each
# day with a FutureWarning about its own refactor: nothing a targetsim user can act on.
warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor",
                        category=FutureWarning)


def build_pymc_model(st: FunnelStats, cfg: ModelConfig) -> tuple[pm.Model, dict]:
    """The PyMC model of the sampled components of ``st`` under ``cfg``.

    Returns
    -------
    model : pymc.Model
    meta : dict
        What turning the posterior into draws needs besides it: hazard bin edges, the
        stale age, the as-of month of year.
    """
    import pymc as pm

    coords: dict[str, tuple[str, ...]] = {"segment": st.segments}
    if st.owners:
        coords["owner"] = st.owners
    as_of_moy = int(st.arrival_moy[np.argmax(st.arrival_month)]) + 1 if len(st.arrival_moy) else 1
    meta: dict = {"as_of_month": as_of_moy, "horizon_months": cfg.local_trend.horizon_months}
    with pm.Model(coords=coords) as model:
        (hazard.build if cfg.cycle == "hazard" else lognormal.build_outcome)(st, cfg, meta)
        if cfg.size == "lognormal":
            lognormal.build_size(st, cfg, meta)
        if cfg.arrivals == "negbin":
            lognormal.build_arrivals(st, cfg, meta)
        if st.stages is not None:
            lognormal.build_stages(st, cfg, meta)
    return model, meta


class FunnelModel:
    """Bayesian funnel model with a pymc-marketing-like lifecycle.

    Examples
    --------
    >>> model = FunnelModel()  # doctest: +SKIP
    >>> model.build_model(funnel)  # doctest: +SKIP
    >>> fit = model.fit(draws=1000, tune=500)  # doctest: +SKIP
    """

    #: Default components and priors, readable without building anything.
    default_model_config: ModelConfig = ModelConfig()

    def __init__(self, config: ModelConfig | None = None) -> None:
        if config is not None and not isinstance(config, ModelConfig):
            raise ConfigError(f"config must be a ModelConfig, got {type(config).__name__}")
        self.config = config or self.default_model_config
        self.model: pm.Model | None = None
        self.meta: dict = {}
        self.funnel: FunnelData | None = None
        self.stats: FunnelStats | None = None
        self._fit: FunnelFit | None = None

    def build_model(self, funnel: FunnelData) -> pm.Model:
        """Build the PyMC model of ``funnel`` (and keep it as ``self.model``)."""
        stats = funnel_stats(funnel)
        self.funnel, self.stats = funnel, stats
        self.model, self.meta = build_pymc_model(stats, self.config)
        self._fit = None
        return self.model

    def fit(
        self,
        *,
        draws: int = DEFAULT_DRAWS,
        tune: int = DEFAULT_TUNE,
        chains: int = 2,
        sampler: str = "nutpie",
        random_seed: int = 0,
        progress: bool = True,
    ) -> FunnelFit:
        """Sample the posterior; see :func:`targetsim.model.fit_funnel`."""
        if self.model is None or self.funnel is None:
            raise NotFittedError("FunnelModel.fit() needs a model: call build_model(funnel) first")
        from targetsim.model.fit import sample_model

        self._fit = sample_model(
            self, draws=draws, tune=tune, chains=chains, sampler=sampler,
            random_seed=random_seed, progress=progress,
        )
        return self._fit

    @property
    def fit_result(self) -> FunnelFit:
        """The :class:`FunnelFit` of the last :meth:`fit`."""
        if self._fit is None:
            raise NotFittedError("no posterior yet: call FunnelModel.fit() first")
        return self._fit

    @property
    def idata(self):  # noqa: ANN201
        """Posterior InferenceData of the last :meth:`fit`."""
        return self.fit_result.idata
