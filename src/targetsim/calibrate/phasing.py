"""Whole numbers that add up: splitting an amount over parts, and a year over its quarters.

Quotas are handed out in round figures, and a VP adds them up. Two rules live here:

* :func:`split_exact`: round parts to a common step so that they add up **exactly** to the
  whole (largest-remainder method: each part is rounded down to the step, and the steps
  left over go to the parts with the largest remainders);
* :func:`phase_quarters`: the full-year quota split over the horizon's quarters in
  proportion to the simulated seasonal profile (each quarter's mean simulated outcome over
  the mean full-year outcome, which add up to one), then :func:`split_exact`. Each
  quarter's own probability ``P(quarter outcome >= its quota)`` is reported beside it: a
  phased quarter is a milestone on the way to the year, not a target set at ``p`` itself.
"""

from __future__ import annotations

import math

import numpy as np


def rounding_step(values: np.ndarray | list[float], metric: str) -> float:
    """A common rounding step for quotas of this size: three significant figures of the
    median part (whole deals for counts)."""
    if metric == "deals_won":
        return 1.0
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return 1.0
    return max(10.0 ** (math.floor(math.log10(float(np.median(v)))) - 2), 1.0)


def split_exact(raw: np.ndarray | list[float], total: float, step: float) -> np.ndarray:
    """Multiples of ``step`` close to ``raw`` that add up exactly to ``total``.

    Parameters
    ----------
    raw : array of float
        Unrounded parts (non-negative).
    total : float
        What they must add up to; rounded to the nearest multiple of ``step`` first.
    step : float

    Returns
    -------
    ndarray
        Rounded parts; ``sum == round(total / step) * step``.
    """
    x = np.clip(np.asarray(raw, dtype=float), 0.0, None)
    if x.size == 0:
        return x
    units_total = int(round(total / step))
    s = x.sum()
    scaled = x / s * units_total if s > 0 else np.full(x.size, units_total / x.size)
    base = np.floor(scaled + 1e-9).astype(np.int64)
    left = units_total - int(base.sum())
    if left > 0:
        # Largest remainders first; ties go to the earlier part (stable, reproducible).
        order = np.argsort(-(scaled - base), kind="stable")
        base[order[:left]] += 1
    elif left < 0:
        order = np.argsort(scaled - base, kind="stable")
        for i in order:
            if left == 0:
                break
            if base[i] > 0:
                base[i] -= 1
                left += 1
    return base.astype(float) * step


def seasonal_shares(quarters: np.ndarray) -> np.ndarray:
    """Share of the year in each quarter: mean simulated outcome per quarter ÷ their sum.

    Parameters
    ----------
    quarters : ndarray, shape (draw, n_quarters)
        Simulated outcome of each quarter.
    """
    m = np.asarray(quarters, dtype=float).mean(axis=0)
    s = m.sum()
    return m / s if s > 0 else np.full(m.size, 1.0 / max(m.size, 1))


def phase_quarters(fy_quota: float, quarters: np.ndarray, metric: str) -> np.ndarray:
    """Quarterly quotas adding up exactly to ``fy_quota``, phased by the simulated season.

    The rounding step is that of the quarters' size (:func:`rounding_step`), never coarser
    than what the full-year quota itself is written in.
    """
    shares = seasonal_shares(quarters)
    raw = fy_quota * shares
    step = rounding_step(raw, metric)
    while step > 1.0 and abs(fy_quota / step - round(fy_quota / step)) > 1e-6:
        step /= 10.0
    return split_exact(raw, fy_quota, step)
