"""Top-down meets bottom-up: the board's number against the simulated funnel.

``P(total FY bookings >= X)`` is read from the projection of each scenario. The smallest
change that lifts it to the plan's probability ``p`` is then solved **by re-simulation**,
one lever at a time, with everything else held at the scenario's values:

* ``lead_volume``: multiplier on the arrival of new opportunities (bisection in [1, 4]);
* ``win_rate``: multiplier on the win probability (bisection in [1, 1 / max p_win]),
  reported in points of the average win rate;
* ``hires``: extra fully-budgeted reps hired in the horizon's first month (integer
  bisection in [0, 50]; only for scenarios with a capacity section, since without a
  capacity limit headcount does not bind).

Every evaluation re-simulates with the **same** random seed (common random numbers), so the
probability is a non-decreasing step function of the lever up to Monte-Carlo noise and the
bisection is stable. The answer is where the bisection bracket crosses ``p`` on a 1 % grid:
the smallest change up to Monte-Carlo noise (a non-monotone wiggle of the simulated
probability can hide a slightly smaller value). The probability at the reported lever value
is re-checked and reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from targetsim.calibrate.periods import FY
from targetsim.calibrate.targets import attainment_probability, outcome
from targetsim.errors import ConfigError, DataError

TOPDOWN_COLUMNS = [
    "scenario", "company_target", "attainment_probability", "target_probability", "lever",
    "value", "achieved_probability", "change",
]


def company_probabilities(projection: xr.Dataset, company_target: float) -> dict[str, float]:
    """``P(total FY bookings >= company_target)`` per scenario."""
    if not np.isfinite(company_target) or company_target < 0:
        raise ConfigError(f"--company-target: must be a number >= 0, got {company_target!r}")
    total = outcome(projection, "total", "bookings", FY)
    if total is None:  # pragma: no cover - the total level always exists
        raise DataError("projection has no bookings")
    return {
        s: attainment_probability(total.samples(s, "total"), company_target)
        for s in total.scenarios
    }


@dataclass(frozen=True)
class LeverResult:
    """Smallest lever value reaching the probability, or None when out of range.

    Attributes
    ----------
    value : float or None
        Multiplier (or hire count) found; None when even the upper bound falls short.
    probability : float
        Probability at ``value`` (at the upper bound when ``value`` is None).
    evaluations : int
        Re-simulations used.
    """

    value: float | None
    probability: float
    evaluations: int


def solve_multiplier(
    evaluate: Callable[[float], float],
    target_probability: float,
    lo: float = 1.0,
    hi: float = 4.0,
    tol: float = 0.01,
) -> LeverResult:
    """Smallest multiplier ``m`` in [lo, hi] with ``evaluate(m) >= target_probability``.

    ``evaluate`` must be non-decreasing (common random numbers make it so up to noise).
    The answer is rounded **up** to the tolerance grid, so it is never an understatement.
    """
    n = 1
    p_lo = evaluate(lo)
    if p_lo >= target_probability:
        return LeverResult(lo, p_lo, n)
    p_hi = evaluate(hi)
    n += 1
    if p_hi < target_probability:
        return LeverResult(None, p_hi, n)
    a, b, pb = lo, hi, p_hi
    while b - a > tol:
        mid = 0.5 * (a + b)
        pm = evaluate(mid)
        n += 1
        if pm >= target_probability:
            b, pb = mid, pm
        else:
            a = mid
    value = math.ceil((b - lo) / tol - 1e-9) * tol + lo
    if value != b:
        pb = evaluate(value)
        n += 1
        if pb < target_probability:  # noise: stay on the verified point
            value, pb = b, evaluate(b)
            n += 1
    return LeverResult(round(value, 6), pb, n)


def solve_integer(
    evaluate: Callable[[int], float], target_probability: float, lo: int = 0, hi: int = 50
) -> LeverResult:
    """Smallest integer ``k`` in [lo, hi] with ``evaluate(k) >= target_probability``."""
    n = 1
    p_lo = evaluate(lo)
    if p_lo >= target_probability:
        return LeverResult(float(lo), p_lo, n)
    p_hi = evaluate(hi)
    n += 1
    if p_hi < target_probability:
        return LeverResult(None, p_hi, n)
    a, b, pb = lo, hi, p_hi
    while b - a > 1:
        mid = (a + b) // 2
        pm = evaluate(mid)
        n += 1
        if pm >= target_probability:
            b, pb = mid, pm
        else:
            a = mid
    return LeverResult(float(b), pb, n)


_PHRASES = {
    "en": {
        "none": "no change needed",
        "not_simulated": "levers not re-simulated (no fit.nc in the plan)",
        "unsized": "levers not re-simulated: segment(s) without amounts {x}",
        "lead_no": "not reachable with up to {x} leads alone",
        "win_no": "not reachable with win rate alone",
        "hire_no": "not reachable with up to {x} hires per segment alone",
        "lead": "{x} leads",
        "win": "+{x} points of win rate (x{m})",
        "hire": "+{x} hire(s) per segment by {month}",
    },
    "fr": {
        "none": "aucun changement nécessaire",
        "not_simulated": "leviers non resimulés (pas de fit.nc dans le plan)",
        "unsized": "leviers non resimulés : segment(s) sans montants {x}",
        "lead_no": "inatteignable avec jusqu'à {x} de leads seulement",
        "win_no": "inatteignable par le seul taux de transformation",
        "hire_no": "inatteignable avec jusqu'à {x} recrutements par segment seulement",
        "lead": "{x} de leads",
        "win": "+{x} points de taux de transformation (x{m})",
        "hire": "+{x} recrutement(s) par segment d'ici {month}",
    },
}


def phrase(key: str, lang: str = "en") -> str:
    """A fixed phrase of topdown.csv's ``change`` column (``none``, ``not_simulated``)."""
    return _PHRASES.get(lang, _PHRASES["en"])[key]


def describe_change(lever: str, result: LeverResult, *, base_win_rate: float = float("nan"),
                    hire_month: str = "", hi: float = 4.0, lang: str = "en") -> str:
    """Human phrase for a lever result ("+18% leads", "+6.0 points of win rate", ...), numbers
    written by :mod:`targetsim.formatting`."""
    from targetsim import formatting as fmt

    t = _PHRASES.get(lang, _PHRASES["en"])

    def num(x: float, d: int) -> str:
        return fmt.number(x, lang, d)

    if result.value is None:
        if lever == "lead_volume":
            return t["lead_no"].format(x=fmt.growth(hi - 1, lang))
        if lever == "win_rate":
            return t["win_no"]
        return t["hire_no"].format(x=int(hi))
    v = result.value
    if lever == "lead_volume":
        return t["none"] if v <= 1.0 else t["lead"].format(x=fmt.growth(v - 1, lang))
    if lever == "win_rate":
        if v <= 1.0:
            return t["none"]
        return t["win"].format(x=num((v - 1.0) * base_win_rate * 100, 1), m=num(v, 2))
    k = int(v)
    return t["none"] if k == 0 else t["hire"].format(x=k, month=hire_month)


def topdown_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """topdown.csv from lever rows (keys :data:`TOPDOWN_COLUMNS`)."""
    return pd.DataFrame(rows, columns=TOPDOWN_COLUMNS)
