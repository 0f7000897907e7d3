"""Pieces shared by the components' PyMC builders: partial pooling and its parameterisation.

Every segment-level parameter is ``Normal(mean, sd)`` around a population mean. Each entry
is *centred* or *non-centred* according to the strength of its own data (estimated before
sampling from crude per-segment estimates and their standard errors): where the data
outweigh the spread between segments the centred form samples well, elsewhere the
non-centred ``mean + sd * z`` avoids the funnel of hierarchical models (Papaspiliopoulos,
Roberts and Skold 2007; Betancourt and Girolami 2015). The spread itself is estimated
beforehand by the DerSimonian-Laird moment estimator, so one small, odd segment does not
pose as heterogeneity.

PyMC and PyTensor are imported inside the builders: this module is also read by code that
only needs the NumPy helpers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: A segment's parameter is centred when the standard error its own data give is below
#: this fraction of the segments' estimated spread (see :func:`centred`).
CENTRE_RATIO = 0.5
_LOG_2PI = math.log(2.0 * math.pi)


def safe(n: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(n, dtype=float), 1.0)


def logit_se(n_yes: np.ndarray, n_no: np.ndarray) -> np.ndarray:
    """Rough standard error of a logit from counts (only used to choose a parameterisation)."""
    n = np.asarray(n_yes + n_no, dtype=float)
    # Haldane's +0.5: with no "no" at all (every deal of a step converts) the likelihood
    # is flat towards +inf, and the error must say "weak data", not "very precise".
    p = (n_yes + 0.5) / (n + 1.0)
    return 1.0 / np.sqrt((n + 1.0) * p * (1.0 - p))


def between_sd(est: np.ndarray, se: np.ndarray) -> float:
    """DerSimonian-Laird estimate of the spread of true values behind noisy ``est``."""
    w = 1.0 / se**2
    mean = np.sum(w * est) / np.sum(w)
    q = np.sum(w * (est - mean) ** 2)
    denom = np.sum(w) - np.sum(w**2) / np.sum(w)
    return float(np.sqrt(max((q - (len(est) - 1)) / denom, 0.0))) if denom > 0 else 0.0


def centred(est: np.ndarray, se: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Which entries to centre, row by row: those whose data beat the segments' spread.

    Parameters
    ----------
    est, se : ndarray, shape (R, S)
        Crude estimates and their standard errors (NaN / huge where there are no data).
    floor : float
        Smallest spread to compare with: the mode of the spread's prior. Segments that
        look alike (DerSimonian-Laird spread 0) still have a spread of about that size a
        posteriori, and data more precise than it are better sampled centred.
    """
    est, se = np.atleast_2d(est), np.atleast_2d(se)
    out = np.zeros(est.shape, dtype=bool)
    for r in range(est.shape[0]):
        ok = np.isfinite(est[r]) & (se[r] < 1e5)
        if ok.sum() < 2:
            continue
        tau = max(between_sd(est[r, ok], se[r, ok]), floor)
        out[r] = ok & (se[r] < CENTRE_RATIO * tau)
    return out


def gamma_mode(prior) -> float:  # noqa: ANN001 (a Gamma prior config)
    """Mode ``(alpha - 1) / beta`` of a Gamma prior (0 when alpha <= 1)."""
    return max(prior.alpha - 1.0, 0.0) / prior.beta


def mixed_normal(name: str, mean, sd, centred_mask, dims):  # noqa: ANN001, ANN201
    """``x ~ Normal(mean, sd)`` elementwise, centred where ``centred_mask`` (0/1) else not.

    One raw variable serves both forms (``Normal(mean, sd)`` where centred, ``Normal(0, 1)``
    elsewhere), so the choice is data, not graph structure.
    """
    import pymc as pm

    raw = pm.Normal(
        f"{name}_raw", mu=centred_mask * mean, sigma=centred_mask * sd + (1.0 - centred_mask),
        dims=dims,
    )
    return centred_mask * raw + (1.0 - centred_mask) * (mean + sd * raw)


@dataclass(frozen=True)
class LogNormalStatsLike:
    n: object
    s1: object
    s2: object


def lognormal_loglik(stats, mu, sigma):  # noqa: ANN001, ANN201
    """Sum of log LogNormal densities from ``n``, ``sum log x``, ``sum (log x)**2``."""
    import pytensor.tensor as pt

    n, s1, s2 = stats.n, stats.s1, stats.s2
    sq = s2 - 2.0 * mu * s1 + n * mu**2
    return pt.sum(-n * pt.log(sigma) - 0.5 * n * _LOG_2PI - s1 - sq / (2.0 * sigma**2))


def normal_sf(mu, sigma, x):  # noqa: ANN001, ANN201
    """Survival ``P(X > x)`` of Normal(``mu``, ``sigma``) (``erfc``, exact in float64)."""
    import pytensor.tensor as pt

    return 0.5 * pt.erfc((x - mu) / (sigma * math.sqrt(2.0)))


def hier_block(
    name: str,
    rows: tuple[str, ...],
    n_seg: int,
    mu0: np.ndarray,
    sig0: np.ndarray,
    alpha0: np.ndarray,
    beta0: np.ndarray,
    centred_mask: np.ndarray,
):  # noqa: ANN201
    """A (row x segment) matrix of partially pooled parameters, registered as ``name``.

    With one segment its mean and spread are not identified apart, and
    ``theta = mean + sd * z`` is a ridge NUTS crawls along: the mean is integrated out
    exactly instead (normal-normal), ``theta | sd ~ Normal(mu0, sqrt(sigma0^2 + sd^2))``,
    the same prior for ``theta``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    dims = (f"{name}_param", "segment")
    D = pm.Data  # noqa: N806
    h_sd = pm.Gamma(
        f"{name}_sd", alpha=D(f"{name}_prior_sd_alpha", alpha0),
        beta=D(f"{name}_prior_sd_beta", beta0), dims=dims[0],
    )
    if n_seg > 1:
        h_mean = pm.Normal(
            f"{name}_mean", mu=D(f"{name}_prior_mu", mu0), sigma=D(f"{name}_prior_sigma", sig0),
            dims=dims[0],
        )
        theta = mixed_normal(
            name, h_mean[:, None], h_sd[:, None], D(f"{name}_centred", centred_mask.astype(float)),
            dims,
        )
    else:
        theta = pm.Normal(
            f"{name}_raw", mu=D(f"{name}_prior_mu", mu0)[:, None],
            sigma=pt.sqrt(D(f"{name}_prior_sigma", sig0) ** 2 + h_sd**2)[:, None], dims=dims,
        )
    return pm.Deterministic(name, theta, dims=dims)
