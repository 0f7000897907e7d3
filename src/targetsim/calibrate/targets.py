"""Targets with their probability of attainment, from the projection cube.

Quantile convention
-------------------
For ``n`` simulated outcomes ``x`` (one per posterior draw) and a chosen attainment
probability ``p``, the target is the **largest simulated value** ``t`` such that the
empirical ``P(x >= t) = #{i : x_i >= t} / n`` is at least ``p``. With the outcomes sorted
ascending ``x_(0) <= ... <= x_(n-1)`` this is ``x_(n - ceil(p n))``: at least ``ceil(p n)``
draws reach it, so ``P(outcome >= target) >= p`` always holds (ties only raise it). It is the
lower ("inverted CDF") ``1 - p`` quantile, not an interpolated one, because an interpolated
value can sit above the draws it claims to cover.

Rounding
--------
Bookings targets are rounded **down** to three significant figures (1 234 567 → 1 230 000,
45 678 → 45 600); deal counts are integers already. Rounding down can only raise the
probability, so the guarantee above survives, and ``attainment_probability`` is always
recomputed for the rounded value (it is what a sales leader will be held to).
``p10/p50/p90`` are the linear-interpolated quantiles of the simulated outcome (the band),
rounded to whole currency units (bookings) or one decimal (deals).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from targetsim.calibrate.periods import period_months
from targetsim.errors import ConfigError, DataError

#: Exact columns of targets.csv (DESIGN.md contract).
TARGET_COLUMNS = [
    "scenario", "level", "name", "period", "metric", "target",
    "attainment_probability", "p10", "p50", "p90",
]
#: Columns of stress.csv.
STRESS_COLUMNS = [
    "level", "name", "period", "metric", "target", "scenario", "attainment_probability",
]
#: Columns of tiers.csv.
TIER_COLUMNS = [
    "scenario", "level", "name", "period", "metric", "tier", "probability", "target",
    "attainment_probability",
]
METRICS = ("bookings", "deals_won")
LEVELS = ("total", "segment", "owner")
#: Name of the single row of the ``total`` level.
TOTAL = "total"


def check_probability(p: float, what: str = "--probability") -> float:
    """Validate an attainment probability (strictly between 0 and 1)."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected a number between 0 and 1, got {p!r}") from None
    if not 0.0 < value < 1.0 or math.isnan(value):
        raise ConfigError(f"{what}: must be strictly between 0 and 1, got {p!r}")
    return value


def target_at_probability(samples: np.ndarray, p: float) -> float | np.ndarray:
    """Largest simulated value reached with empirical probability at least ``p``.

    The one home of the rule "the target reached with probability p": calibrate, the
    report's slider, the backtest and tracking all call it.

    Parameters
    ----------
    samples : ndarray, shape (n,) or (..., n)
        Simulated outcomes along the last axis (one per draw).
    p : float
        Attainment probability in (0, 1] (1: the smallest simulated value).

    Returns
    -------
    float or ndarray
        ``sorted(samples)[n - ceil(p n)]`` along the last axis (see the module
        docstring); a float for one-dimensional samples.

    Raises
    ------
    DataError
        No samples, or ``p`` outside (0, 1].
    """
    x = np.sort(np.asarray(samples, dtype=float), axis=-1)
    n = x.shape[-1] if x.ndim else 0
    if n == 0:
        raise DataError("no simulated draws to set a target from")
    if not 0.0 < p <= 1.0 or math.isnan(p):
        raise DataError(f"attainment probability must be in (0, 1], got {p}")
    # A tiny tolerance keeps ceil(0.6 * 10) at 6 despite binary floating point.
    k = min(max(int(math.ceil(p * n - 1e-9)), 1), n)
    out = x[..., n - k]
    return float(out) if x.ndim == 1 else out


def attainment_probability(
    samples: np.ndarray, target: float | np.ndarray
) -> float | np.ndarray:
    """Empirical ``P(outcome >= target)`` over the draws (the last axis of ``samples``).

    A float for one-dimensional samples and a scalar target; otherwise an array of the
    leading shape.
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim <= 1 and np.ndim(target) == 0:
        return float(np.mean(x >= target)) if x.size else float("nan")
    return (x >= np.asarray(target, dtype=float)[..., None]).mean(axis=-1)


def round_target(value: float, metric: str) -> float:
    """Round a target down for humans (three significant figures; deals are integers)."""
    if not np.isfinite(value) or value <= 0:
        return 0.0
    if metric == "deals_won":
        return float(math.floor(value + 1e-9))
    step = 10.0 ** (math.floor(math.log10(value)) - 2)
    step = max(step, 1.0)
    return float(math.floor(value / step + 1e-9) * step)


def _round_band(value: float, metric: str) -> float:
    return round(float(value), 1) if metric == "deals_won" else float(round(float(value)))


@dataclass(frozen=True)
class Outcome:
    """Simulated outcomes of one level, metric and period.

    Attributes
    ----------
    level, metric, period : str
    names : tuple of str
        Row names of the level (``("total",)``, segments or owners).
    values : ndarray, shape (draw, scenario, name)
    scenarios : tuple of str
    """

    level: str
    metric: str
    period: str
    names: tuple[str, ...]
    scenarios: tuple[str, ...]
    values: np.ndarray

    def samples(self, scenario: str, name: str) -> np.ndarray:
        """Draws of one scenario and name."""
        return self.values[:, self.scenarios.index(scenario), self.names.index(name)]


def _variable(projection: xr.Dataset, level: str, metric: str) -> xr.DataArray | None:
    var = metric if level in ("total", "segment") else f"owner_{metric}"
    if var not in projection:
        if level == "owner":
            return None
        raise DataError(f"projection has no '{var}' variable: was it made by targetsim simulate?")
    return projection[var]


def outcome(projection: xr.Dataset, level: str, metric: str, period: str) -> Outcome | None:
    """Sum of a metric over the months of a period, per draw, scenario and name.

    Returns None for the owner level when the projection has no owners.
    """
    if level not in LEVELS:
        raise ConfigError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    periods = period_months(projection)
    if period not in periods:
        raise ConfigError(f"unknown period {period!r}; expected one of {', '.join(periods)}")
    da = _variable(projection, level, metric)
    if da is None:
        return None
    dim = "owner" if level == "owner" else "segment"
    if level == "owner" and da.sizes.get("owner", 0) == 0:
        return None
    da = da.isel(month=periods[period]).sum("month")
    if level == "total":
        da = da.sum(dim).expand_dims({dim: [TOTAL]}, axis=-1)
    da = da.transpose("draw", "scenario", dim)
    return Outcome(
        level=level,
        metric=metric,
        period=period,
        names=tuple(str(v) for v in da[dim].values),
        scenarios=tuple(str(v) for v in projection["scenario"].values),
        values=np.asarray(da.values, dtype=float),
    )


def iter_outcomes(projection: xr.Dataset) -> Iterator[Outcome]:
    """Every (level, period, metric) outcome of the projection, in the output order."""
    for level in LEVELS:
        for period in period_months(projection):
            for metric in METRICS:
                out = outcome(projection, level, metric, period)
                if out is not None:
                    yield out


def compute_targets(projection: xr.Dataset, probability: float = 0.6) -> pd.DataFrame:
    """targets.csv: one row per scenario × level × name × period × metric.

    Parameters
    ----------
    projection : xarray.Dataset
        The projection cube of :func:`targetsim.simulate.simulate`.
    probability : float
        Attainment probability ``p`` of the targets.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TARGET_COLUMNS`; ``attainment_probability`` is the empirical
        probability of the rounded target (>= ``probability`` by construction).
    """
    p = check_probability(probability)
    rows = []
    for out in iter_outcomes(projection):
        for scenario in out.scenarios:
            for name in out.names:
                x = out.samples(scenario, name)
                t = round_target(target_at_probability(x, p), out.metric)
                q10, q50, q90 = np.quantile(x, [0.1, 0.5, 0.9])
                rows.append(
                    (scenario, out.level, name, out.period, out.metric, t,
                     attainment_probability(x, t), _round_band(q10, out.metric),
                     _round_band(q50, out.metric), _round_band(q90, out.metric))
                )
    df = pd.DataFrame(rows, columns=TARGET_COLUMNS)
    return _sort(df)


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    # Scenario order follows the projection, levels total → segment → owner: stable sort
    # on the categorical levels keeps the projection's own order inside each level.
    key = df["level"].map({lvl: i for i, lvl in enumerate(LEVELS)})
    return df.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def parse_tiers(text: str | Sequence[float]) -> tuple[float, float, float]:
    """``"0.9,0.6,0.3"`` → (floor, target, stretch) probabilities, strictly decreasing."""
    if isinstance(text, str):
        parts = [s.strip() for s in text.split(",") if s.strip()]
    else:
        parts = list(text)
    if len(parts) != 3:
        raise ConfigError(
            f"--tiers: expected three probabilities floor,target,stretch like 0.9,0.6,0.3, "
            f"got {text!r}"
        )
    values = tuple(check_probability(v, "--tiers") for v in parts)
    if not values[0] > values[1] > values[2]:
        raise ConfigError(
            f"--tiers: probabilities must decrease from floor to stretch (e.g. 0.9,0.6,0.3), "
            f"got {text!r}"
        )
    return values  # type: ignore[return-value]


def compute_tiers(
    projection: xr.Dataset, tiers: tuple[float, float, float]
) -> pd.DataFrame:
    """tiers.csv: floor / target / stretch for every target row (same convention).

    Parameters
    ----------
    projection : xarray.Dataset
    tiers : tuple of float
        Probabilities of floor, target and stretch, e.g. ``(0.9, 0.6, 0.3)``.
    """
    names = ("floor", "target", "stretch")
    rows = []
    for out in iter_outcomes(projection):
        for scenario in out.scenarios:
            for name in out.names:
                x = out.samples(scenario, name)
                for tier, p in zip(names, tiers, strict=True):
                    t = round_target(target_at_probability(x, p), out.metric)
                    rows.append(
                        (scenario, out.level, name, out.period, out.metric, tier, p, t,
                         attainment_probability(x, t))
                    )
    return _sort(pd.DataFrame(rows, columns=TIER_COLUMNS))


def reference_scenario(scenarios: Sequence[str]) -> str:
    """The scenario targets are set on: ``baseline`` when simulated, else the first one."""
    names = [str(s) for s in scenarios]
    if not names:
        raise DataError("projection has no scenario")
    return "baseline" if "baseline" in names else names[0]


def stress_test(projection: xr.Dataset, targets: pd.DataFrame) -> pd.DataFrame:
    """stress.csv: each reference-scenario target's probability under every other scenario.

    "Which targets still hold under tension?": the target stays the one set on the
    reference scenario (:func:`reference_scenario`); only the outcome distribution changes.
    """
    scenarios = [str(s) for s in projection["scenario"].values]
    ref = reference_scenario(scenarios)
    others = [s for s in scenarios if s != ref]
    base = targets.loc[targets["scenario"].eq(ref)]
    rows = []
    if others:
        for out in iter_outcomes(projection):
            sel = base.loc[
                base["level"].eq(out.level) & base["period"].eq(out.period)
                & base["metric"].eq(out.metric)
            ]
            for name, t in zip(sel["name"], sel["target"], strict=True):
                for s in others:
                    rows.append(
                        (out.level, name, out.period, out.metric, t, s,
                         attainment_probability(out.samples(s, name), t))
                    )
    return pd.DataFrame(rows, columns=STRESS_COLUMNS)
