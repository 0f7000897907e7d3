"""The numbers the report shows that no earlier step wrote: pure functions, tested on known truth.

Quantile convention (the same as the targets): the target at attainment probability ``p``
is the largest simulated value ``t`` with ``P(outcome >= t) >= p`` over the draws, i.e. the
``floor(n (1 - p)) + 1``-th smallest of ``n`` draws. Its reported probability is the
empirical ``P(outcome >= t)``, which can exceed ``p`` when draws tie.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from targetsim.calibrate.targets import (
    attainment_probability,
    round_target,
    target_at_probability,
)
from targetsim.errors import DataError

#: Probabilities offered by the report's control: 30 % to 90 % by 5 points.
PROBABILITY_GRID = tuple(round(0.30 + 0.05 * k, 2) for k in range(13))
#: Fit-summary parameters that are rates in [0, 1] (their interval width is read in points).
RATE_PARAMETERS = ("win_rate", "conversion", "stall_rate", "loss_rate", "lost_rate")
#: A rate's 90 % interval is "wide" above this many probability points.
WIDE_RATE_WIDTH = 0.20
#: Any other parameter's 90 % interval is "wide" above this fraction of its median.
WIDE_RELATIVE_WIDTH = 0.80

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


# One home for the rules shared with the calibrate step: the target reached with
# probability p, its rounding, and the probability of a target.
round_down = round_target
attainment = attainment_probability


def _months_of(ds: xr.Dataset, period: str) -> np.ndarray:
    months = pd.DatetimeIndex(ds["month"].values)
    if period == "FY":
        return np.ones(len(months), dtype=bool)
    m = _QUARTER.match(period)
    if not m:
        raise DataError(f"targets.csv: period {period!r} is neither FY nor YYYY-Qn.")
    year, q = int(m.group(1)), int(m.group(2))
    return np.asarray((months.year == year) & ((months.month - 1) // 3 + 1 == q))


def _collapse(da: xr.DataArray, keep: tuple[str, ...]) -> xr.DataArray:
    extra = [d for d in da.dims if d not in keep]
    return da.sum(extra) if extra else da


def _cube(ds: xr.Dataset, level: str, metric: str) -> tuple[np.ndarray, list[str]] | None:
    """Outcomes of a level as an array (draw, scenario, name, month) and the names."""
    if level == "owner":
        var = f"owner_{metric}"
        if var not in ds or "owner" not in ds.dims:
            return None
        da = _collapse(ds[var], ("draw", "scenario", "owner", "month"))
        da, names = da.transpose("draw", "scenario", "owner", "month"), ds["owner"].values
    else:
        if metric not in ds:
            return None
        da = _collapse(ds[metric], ("draw", "scenario", "segment", "month"))
        da = da.transpose("draw", "scenario", "segment", "month")
        names = ds["segment"].values
        if level == "total":
            da, names = da.sum("segment").expand_dims("segment", axis=2), ["total"]
    return np.asarray(da.values, dtype=float), [str(n) for n in names]


def _from_cube(
    ds: xr.Dataset, cube: tuple[np.ndarray, list[str]] | None, level: str,
    scenario: str, name: str, period: str, mask: np.ndarray | None = None,
) -> np.ndarray | None:
    scenarios = [str(s) for s in ds["scenario"].values]
    if cube is None or scenario not in scenarios:
        return None
    values, names = cube
    # The total level has one row whatever targets.csv calls it.
    i = 0 if level == "total" else names.index(name) if name in names else -1
    if i < 0:
        return None
    mask = _months_of(ds, period) if mask is None else mask
    if not mask.any():
        return None
    return values[:, scenarios.index(scenario), i, :][:, mask].sum(axis=1)


def outcome_samples(
    ds: xr.Dataset, *, scenario: str, level: str, name: str, period: str, metric: str
) -> np.ndarray | None:
    """Simulated outcomes (one per draw) of one row of targets.csv, or None if not simulated.

    ``total`` sums every segment; ``segment`` selects one; ``owner`` reads
    ``owner_<metric>``. ``FY`` sums every month of the horizon, ``YYYY-Qn`` the months of
    that quarter.
    """
    return _from_cube(ds, _cube(ds, level, metric), level, scenario, name, period)


def targets_on_grid(samples: np.ndarray, grid: tuple[float, ...], metric: str) -> list[float]:
    """:func:`round_down` of :func:`target_at_probability` at every grid probability."""
    return [round_down(target_at_probability(samples, p), metric) for p in grid]


def probability_table(
    ds: xr.Dataset, targets: pd.DataFrame, grid: tuple[float, ...] = PROBABILITY_GRID
) -> list[dict[str, list[float]] | None]:
    """For each row of ``targets``, the target and its attainment at every grid probability.

    Targets are rounded down like the calibrate step's (:func:`round_down`) and their
    probability is that of the rounded value.

    Returns
    -------
    list
        One entry per row (in row order): ``{"t": [...], "p": [...]}`` aligned with
        ``grid``, or None when the projection does not hold that row's outcome.
    """
    cubes: dict[tuple[str, str], tuple[np.ndarray, list[str]] | None] = {}
    masks: dict[str, np.ndarray] = {}
    out: list[dict[str, list[float]] | None] = []
    for row in targets.itertuples(index=False):
        key = (row.level, row.metric)
        if key not in cubes:
            cubes[key] = _cube(ds, row.level, row.metric)
        if row.period not in masks:
            masks[row.period] = _months_of(ds, row.period)
        x = _from_cube(ds, cubes[key], row.level, row.scenario, row.name, row.period,
                       masks[row.period])
        if x is None:
            out.append(None)
            continue
        ts = targets_on_grid(x, grid, row.metric)
        out.append({"t": ts, "p": [attainment(x, t) for t in ts]})
    return out


def cumulative_band(
    ds: xr.Dataset, *, scenario: str, segment: str | None, var: str = "bookings"
) -> pd.DataFrame:
    """Quantiles of cumulative ``var`` through the horizon (segment None = all segments).

    Returns
    -------
    pandas.DataFrame
        One row per month: ``month, p10, p50, p90``, cumulative from the horizon start.
    """
    da = ds[var].sel(scenario=scenario)
    if segment is not None:
        da = da.sel(segment=segment)
    da = _collapse(da, ("draw", "month")).transpose("draw", "month")
    cum = np.cumsum(np.asarray(da.values, dtype=float), axis=1)
    q = np.quantile(cum, [0.1, 0.5, 0.9], axis=0)
    return pd.DataFrame(
        {"month": pd.DatetimeIndex(ds["month"].values), "p10": q[0], "p50": q[1], "p90": q[2]}
    )


def win_rate_interval(won: int, lost: int, level: float = 0.9) -> tuple[float, float, float]:
    """Win rate among closed deals with its Jeffreys interval.

    Returns ``(rate, low, high)``; all NaN when nothing closed. The Jeffreys interval
    (Beta(won + 1/2, lost + 1/2) quantiles; Brown, Cai & DasGupta 2001) keeps good coverage
    for the few deals a single rep closes.
    """
    n = won + lost
    if n <= 0:
        return (float("nan"),) * 3
    a, b = won + 0.5, lost + 0.5
    tail = (1.0 - level) / 2.0
    lo = 0.0 if won == 0 else float(stats.beta.ppf(tail, a, b))
    hi = 1.0 if lost == 0 else float(stats.beta.ppf(1.0 - tail, a, b))
    return won / n, lo, hi


def wide_parameters(fit_summary: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``fit_summary.csv`` whose 90 % interval is wide (see module constants).

    Returns the matching rows with an added ``width`` column (points for rates, fraction
    of the median otherwise), widest first. Parameters whose interval reaches zero or below
    (e.g. a trend) are not judged by relative width.
    """
    fs = fit_summary.copy()
    is_rate = fs["parameter"].isin(RATE_PARAMETERS)
    span = fs["q95"] - fs["q05"]
    # Relative width only means something on a positive scale: a trend around zero would
    # always look "wide", so signed parameters are left out.
    positive = fs["q05"] > 0
    rel = span / fs["q50"].where(positive)
    fs["width"] = np.where(is_rate, span, rel)
    wide = np.where(is_rate, span > WIDE_RATE_WIDTH, positive & (rel > WIDE_RELATIVE_WIDTH))
    return fs.loc[wide].sort_values("width", ascending=False)


def stress_status(probability: float, plan_probability: float) -> str:
    """``holds`` (at least the plan's probability), ``breaks`` (below 50 %) or ``at_risk``."""
    if probability >= plan_probability - 1e-9:
        return "holds"
    if probability < 0.5:
        return "breaks"
    return "at_risk"


def predictive_last_year(
    params: object, *, n_months: int = 12, random_seed: int = 0
) -> dict[str, dict[str, np.ndarray]]:
    """Posterior-predictive wins and bookings of the 12 months up to the as-of date.

    For each posterior draw: new opportunities per month from the arrival process at months
    ``-n_months+1 .. 0`` (the months up to ``as_of``), wins ~ Binomial(opportunities,
    p_win), bookings = the sum of that many contract values. Counting the year's
    wins from the year's arrivals is the steady-state reading (wins closing in the window
    from earlier arrivals replace the window's own late wins still open), exact when the
    arrival rate is flat.

    Parameters
    ----------
    params : FunnelParams
        Posterior draws (``targetsim.model.params.FunnelParams``).
    n_months : int
        Window length.
    random_seed : int
        Seed; one independent stream per segment from ``SeedSequence(random_seed)``.

    Returns
    -------
    dict
        Segment name → ``{"wins": ndarray (D,), "bookings": ndarray (D,)}``.
    """
    p = params
    n_draws = int(p.n_draws)  # type: ignore[attr-defined]
    segments = tuple(p.segments)  # type: ignore[attr-defined]
    p_win = p.outcome.eventual()[0]  # type: ignore[attr-defined]
    streams = np.random.SeedSequence(random_seed).spawn(len(segments))
    out: dict[str, dict[str, np.ndarray]] = {}
    for s, (seg, ss) in enumerate(zip(segments, streams, strict=True)):
        rng = np.random.default_rng(ss)
        # Months the paths do not cover (a fitted path starts at the as-of month) take the
        # as-of month's level: the steady-state reading again.
        arrivals = p.arrivals  # type: ignore[attr-defined]
        m = np.maximum(np.arange(-n_months + 1, 1), arrivals.first_month)
        mean = np.exp(arrivals.log_mean(m)[:, s])
        alpha = np.asarray(p.arrivals.alpha[:, s], dtype=float)  # type: ignore[attr-defined]
        finite = np.isfinite(alpha)
        # Negative binomial as a gamma-Poisson mixture; alpha = inf is plain Poisson.
        safe_alpha = np.where(finite, alpha, 1.0)[:, None]
        lam = np.where(
            finite[:, None], rng.gamma(safe_alpha, mean / safe_alpha, size=mean.shape), mean
        )
        n_opps = rng.poisson(lam).sum(axis=1)
        wins = rng.binomial(n_opps, np.clip(p_win[:, s], 0.0, 1.0))
        draw_of = np.repeat(np.arange(n_draws), wins)
        sizes = np.concatenate([
            p.size.sample(rng, int(d), np.full(int(k), s))  # type: ignore[attr-defined]
            for d, k in enumerate(wins)
        ]) if wins.sum() else np.zeros(0)
        bookings = np.bincount(draw_of, weights=sizes, minlength=n_draws)
        out[seg] = {"wins": wins.astype(float), "bookings": bookings}
    return out
