"""From the sampled variables to the funnel's named parameters (pure NumPy).

The PyMC graph keeps only what the likelihood needs (``theta`` and a few vectors, see
:func:`targetsim.model.funnel_model.build_pymc_model`); everything a user or the simulator
reads is derived here, after sampling, so the compiled graph stays small.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import expit

from targetsim.model.funnel_model import BASE_PARAMS, MONTHS

#: Derived per-segment parameters, all with dims (chain, draw, segment).
SEGMENT_PARAMS = (
    "p_win",
    "p_lost",
    "p_stall",
    "won_mu",
    "won_sigma",
    "lost_mu",
    "lost_sigma",
    "size_mu",
    "size_sigma",
    "arrival_log_rate",
    "arrival_trend",
    "arrival_alpha",
)


def derive(posterior: xr.Dataset) -> xr.Dataset:
    """Named funnel parameters of every posterior draw.

    Parameters
    ----------
    posterior : xarray.Dataset
        The ``posterior`` group of a fit (needs ``theta`` with a ``param`` coordinate,
        ``season``, ``arrival_inv_sqrt_alpha``; ``owner_effect`` and ``step_params``
        when present).

    Returns
    -------
    xarray.Dataset
        :data:`SEGMENT_PARAMS` (chain, draw, segment), ``season`` (chain, draw,
        month_of_year), ``owner_effect`` (chain, draw, owner) when owners exist and
        ``conversion``, ``stage_cycle_days_median`` (chain, draw, step, segment) with stages.
    """
    theta = posterior["theta"]
    row = {str(p): i for i, p in enumerate(theta["param"].values)}

    def th(name: str) -> xr.DataArray:
        return theta.isel(param=row[name]).drop_vars("param")

    p_win = xr.apply_ufunc(expit, th("win_logit"))
    p_lost = (1.0 - p_win) * xr.apply_ufunc(expit, th("lost_share_logit"))
    out = {
        "p_win": p_win,
        "p_lost": p_lost,
        "p_stall": (1.0 - p_win - p_lost).clip(0.0, 1.0),
        "won_mu": th("won_log_days"),
        "won_sigma": np.exp(th("won_log_sigma")),
        "lost_mu": th("lost_log_days"),
        "lost_sigma": np.exp(th("lost_log_sigma")),
        "size_mu": th("size_log"),
        "size_sigma": np.exp(th("size_log_sigma")),
        "arrival_log_rate": th("arrival_log_rate"),
        "arrival_trend": (
            posterior["arrival_trend"] if "arrival_trend" in posterior else th("arrival_trend")
        ),
        "arrival_alpha": 1.0 / posterior["arrival_inv_sqrt_alpha"] ** 2,
        "season": posterior["season"],
    }
    if "owner_effect" in posterior:
        out["owner_effect"] = posterior["owner_effect"]
    steps = [
        str(p).split(":", 1)[1] for p in theta["param"].values if str(p).startswith("stage_logit:")
    ]
    if steps:
        conv = xr.concat([xr.apply_ufunc(expit, th(f"stage_logit:{k}")) for k in steps], dim="step")
        days = xr.concat([np.exp(th(f"stage_log_days:{k}")) for k in steps], dim="step")
        out["conversion"] = conv.assign_coords(step=steps).transpose("chain", "draw", "step", ...)
        out["stage_cycle_days_median"] = days.assign_coords(step=steps).transpose(
            "chain", "draw", "step", ...
        )
    ds = xr.Dataset(out)
    return ds.assign_coords(month_of_year=list(MONTHS)) if "month_of_year" in ds.dims else ds


__all__ = ["BASE_PARAMS", "SEGMENT_PARAMS", "derive"]
