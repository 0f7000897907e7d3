"""Scores of a probabilistic forecast against what happened.

Pure functions on arrays: the forecast is a set of samples (posterior predictive draws)
along the last axis, the outcome one number per forecast.

References
----------
Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
estimation. *Journal of the American Statistical Association*, 102(477), 359-378.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from targetsim.calibrate.targets import attainment_probability
from targetsim.errors import ConfigError


def _samples_2d(samples: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(samples, dtype=float)
    y = np.asarray(observed, dtype=float)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ConfigError("a forecast needs at least one sample along the last axis")
    if x.shape[:-1] != y.shape:
        raise ConfigError(
            f"samples of shape {x.shape} do not match outcomes of shape {y.shape}: "
            "the last axis of samples is the sample axis"
        )
    if np.isnan(x).any():
        raise ConfigError("forecast samples contain NaN")
    return x, y


def crps_from_samples(samples: np.ndarray, observed: np.ndarray | float) -> np.ndarray:
    """Continuous ranked probability score of an empirical forecast (lower is better).

    ``CRPS(F, y) = E|X - y| - E|X - X'| / 2`` with ``X, X'`` independent draws of ``F``
    (Gneiting and Raftery 2007, eq. 20), computed exactly for the empirical distribution
    of the samples in ``O(n log n)`` with the sorted-sample identity
    ``E|X - X'| = 2 / n**2 * sum_i (2 i - n - 1) x_(i)``.

    Parameters
    ----------
    samples : ndarray, shape (..., n)
        Forecast samples along the last axis.
    observed : ndarray or float, shape (...)
        The outcome of each forecast.

    Returns
    -------
    ndarray, shape (...)
        CRPS in the units of the outcome; for a single sample it is the absolute error.
    """
    x, y = _samples_2d(samples, observed)
    n = x.shape[-1]
    abs_err = np.abs(x - y[..., None]).mean(axis=-1)
    xs = np.sort(x, axis=-1)
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    spread = 2.0 / n**2 * (xs * weights).sum(axis=-1)
    return abs_err - 0.5 * spread


def crps_normal(mu: np.ndarray | float, sigma: np.ndarray | float, observed: np.ndarray | float):
    """Closed-form CRPS of a normal forecast ``N(mu, sigma**2)`` (Gneiting and Raftery 2007).

    ``sigma * (z * (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))`` with ``z = (y - mu) / sigma``.
    """
    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    z = (np.asarray(observed, dtype=float) - mu) / sigma
    return sigma * (z * (2.0 * norm.cdf(z) - 1.0) + 2.0 * norm.pdf(z) - 1.0 / np.sqrt(np.pi))


def interval_coverage(
    lower: np.ndarray, upper: np.ndarray, observed: np.ndarray
) -> float:
    """Fraction of outcomes inside their closed interval ``[lower, upper]``.

    Parameters
    ----------
    lower, upper, observed : ndarray, shape (k,)
        Bounds of each forecast's interval (e.g. p10 and p90) and the outcomes.

    Returns
    -------
    float
        Empirical coverage; NaN when there is no forecast.
    """
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    y = np.asarray(observed, dtype=float)
    if not (lo.shape == hi.shape == y.shape):
        raise ConfigError(f"shapes differ: lower {lo.shape}, upper {hi.shape}, outcome {y.shape}")
    if y.size == 0:
        return float("nan")
    return float(np.mean((y >= lo) & (y <= hi)))


def hit_rate(targets: np.ndarray, observed: np.ndarray) -> float:
    """Fraction of targets reached (outcome ``>=`` target); NaN when there is none."""
    t = np.asarray(targets, dtype=float)
    y = np.asarray(observed, dtype=float)
    if t.shape != y.shape:
        raise ConfigError(f"shapes differ: targets {t.shape}, outcomes {y.shape}")
    if y.size == 0:
        return float("nan")
    return float(np.mean(y >= t))


#: ``P(X >= target)`` along the last axis: the calibrate step's rule, under the name the
#: scorecard uses.
probability_of_attainment = attainment_probability
