"""Rolling-origin backtest: fit at each cutoff, forecast the next months, score what happened.

As Prophet's ``cross_validation``: for each cutoff the export is rewound to what it knew
then (:func:`~targetsim.track.cutoff.as_of_cutoff`), the forecaster predicts bookings and
wins of the ``horizon_months`` after it, and the forecast is scored against the actuals of
the full export, next to the two baselines of :mod:`targetsim.track.baselines`:

* ``coverage``: how often the outcome fell inside the p10-p90 band (0.8 if calibrated);
* ``crps``: continuous ranked probability score (for a point forecast, the absolute error);
* ``hit_rate``: how often the target at probability ``p`` was reached (``p`` if calibrated;
  for a baseline, how often its point forecast was reached).

The forecaster is a parameter, so the procedure is tested with a forecaster that knows the
true parameters, and used with the model (:func:`model_forecaster`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from targetsim.data.funnel import Opportunities, build_funnel
from targetsim.errors import ConfigError, DataError
from targetsim.model.params import FunnelParams
from targetsim.track.baselines import last_period_growth, stage_weighted_pipeline
from targetsim.track.cutoff import as_of_cutoff, won_in_window
from targetsim.track.scoring import crps_from_samples, target_at_probability
from targetsim.track.track import rebase_params

__all__ = [
    "BACKTEST_COLUMNS",
    "BacktestResult",
    "Forecast",
    "as_of_cutoff",
    "backtest",
    "model_forecaster",
    "params_forecaster",
    "parse_cutoffs",
    "scorecard",
]

METRICS = ("bookings", "deals_won")
METHODS = ("model", "last_period", "pipeline")
BACKTEST_COLUMNS = [
    "cutoff", "period_start", "period_end", "level", "name", "metric", "method",
    "forecast", "p10", "p90", "target", "actual", "crps", "covered", "hit",
]


@dataclass(frozen=True)
class Forecast:
    """Simulated outcomes of one forecast period, jointly over segments.

    Attributes
    ----------
    segments : tuple of str
        Axis ``S``.
    bookings, deals_won : ndarray, shape (n, S)
        One row per simulation draw: won amount and number of wins in the period.
    """

    segments: tuple[str, ...]
    bookings: np.ndarray
    deals_won: np.ndarray


#: ``forecaster(opps_at_cutoff, period_start, months, random_seed) -> Forecast``.
Forecaster = Callable[[Opportunities, pd.Timestamp, int, int], Forecast]


@dataclass(frozen=True)
class BacktestResult:
    """Per-forecast scores (``table``, columns :data:`BACKTEST_COLUMNS`) and their summary."""

    table: pd.DataFrame
    scorecard: pd.DataFrame
    probability: float


def parse_cutoffs(text: str | Sequence[str]) -> tuple[pd.Timestamp, ...]:
    """Parse ``2017-06-30,2017-09-30`` into sorted month-end dates.

    Raises
    ------
    ConfigError
        If a value is not a date or not the last day of a month (the simulation counts
        whole calendar months after the cutoff).
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for raw in (str(i).strip() for i in items):
        if not raw:
            continue
        try:
            ts = pd.Timestamp(raw).normalize()
        except (TypeError, ValueError):
            raise ConfigError(f"--cutoffs: {raw!r} is not a date (YYYY-MM-DD)") from None
        if ts != ts + pd.offsets.MonthEnd(0):
            raise ConfigError(
                f"--cutoffs: {raw} is not the last day of a month; forecasts cover whole "
                f"months after the cutoff (e.g. {(ts + pd.offsets.MonthEnd(0)).date()})"
            )
        out.append(ts)
    if not out:
        raise ConfigError("--cutoffs: give at least one date, e.g. --cutoffs 2017-06-30")
    return tuple(sorted(set(out)))


def model_forecaster(
    *,
    draws: int = 200,
    tune: int = 200,
    chains: int = 2,
    n_sim_draws: int | None = None,
    sampler: str = "nutpie",
    engine: str = "fast",
) -> Forecaster:
    """Forecaster that fits the funnel model at the cutoff and simulates the period.

    Parameters
    ----------
    draws, tune, chains : int
        MCMC settings of each fit (small by default: a backtest fits once per cutoff).
    n_sim_draws : int, optional
        Posterior draws passed to the simulator; default all of them.
    sampler, engine : str
        Passed to :func:`targetsim.model.fit_funnel` and :func:`targetsim.simulate.simulate`.
    """

    def forecast(opps: Opportunities, start: pd.Timestamp, months: int, seed: int) -> Forecast:
        from targetsim.model import fit_funnel
        from targetsim.simulate import simulate

        fit_seed, draw_seed, sim_seed = (
            int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(3)
        )
        fit = fit_funnel(
            build_funnel(opps), draws=draws, tune=tune, chains=chains, sampler=sampler,
            random_seed=fit_seed, progress=False,
        )
        params = fit.params(n_sim_draws or draws * chains, random_seed=draw_seed)
        cube = simulate(
            params, fit.open_pipeline, start=str(start.date()), months=months, engine=engine,
            random_seed=sim_seed, progress=False,
        )
        return forecast_from_projection(cube)

    return forecast


def params_forecaster(params: FunnelParams, *, engine: str = "fast") -> Forecaster:
    """Forecaster that simulates from fixed parameters (known truth, or a saved posterior).

    The parameters' arrival clock is moved to each cutoff
    (:func:`~targetsim.track.track.rebase_params`); the open pipeline is the export's at
    the cutoff.
    """

    def forecast(opps: Opportunities, start: pd.Timestamp, months: int, seed: int) -> Forecast:
        from targetsim.simulate import simulate

        cube = simulate(
            rebase_params(params, pd.Timestamp(opps.as_of)), build_funnel(opps).open_pipeline,
            start=str(start.date()), months=months, engine=engine, random_seed=seed,
            progress=False,
        )
        return forecast_from_projection(cube)

    return forecast


def forecast_from_projection(cube) -> Forecast:  # noqa: ANN001 (xarray.Dataset)
    """Sum a projection's first scenario over its months into a :class:`Forecast`."""
    sub = cube.isel(scenario=0) if "scenario" in cube.dims else cube
    b = sub["bookings"].sum("month").transpose("draw", "segment")
    w = sub["deals_won"].sum("month").transpose("draw", "segment")
    return Forecast(
        segments=tuple(str(s) for s in b["segment"].values),
        bookings=np.asarray(b.values, dtype=float),
        deals_won=np.asarray(w.values, dtype=float),
    )


def _score_rows(
    base: dict[str, object],
    samples: np.ndarray,
    actual: float,
    baselines: dict[str, float],
    probability: float,
) -> list[dict[str, object]]:
    p10, p50, p90 = np.quantile(samples, [0.1, 0.5, 0.9])
    target = float(target_at_probability(samples, probability))
    rows = [
        {
            **base, "method": "model", "forecast": float(p50), "p10": float(p10),
            "p90": float(p90), "target": target, "actual": actual,
            "crps": float(crps_from_samples(samples, actual)),
            "covered": bool(p10 <= actual <= p90), "hit": bool(actual >= target),
        }
    ]
    for method, point in baselines.items():
        rows.append(
            {
                **base, "method": method, "forecast": point, "p10": np.nan, "p90": np.nan,
                "target": point, "actual": actual, "crps": abs(point - actual),
                "covered": np.nan, "hit": bool(actual >= point),
            }
        )
    return rows


def backtest(
    opps: Opportunities,
    cutoffs: Sequence[str | pd.Timestamp] | str,
    *,
    horizon_months: int = 3,
    forecaster: Forecaster | None = None,
    probability: float = 0.6,
    growth: float = 0.0,
    hide_amounts: bool | None = None,
    random_seed: int = 0,
) -> BacktestResult:
    """Rolling-origin backtest of the forecaster and the two baselines.

    Parameters
    ----------
    opps : Opportunities
        The full export: it knows what happened after every cutoff.
    cutoffs : sequence of dates, or a comma-separated string
        Month-end dates; the data known at each is used to forecast what follows.
    horizon_months : int
        Length of the forecast period after each cutoff.
    forecaster : callable, optional
        ``(opps_at_cutoff, period_start, months, random_seed) -> Forecast``; default
        :func:`model_forecaster` with its small default draws.
    probability : float
        ``p`` of the target whose hit rate is scored.
    growth : float
        Growth of the "last period + growth" baseline.
    hide_amounts : bool, optional
        Hide the amounts of deals reopened at the cutoff (default: when the export only
        knows amounts at the close, see :func:`~targetsim.track.cutoff.as_of_cutoff`).
    random_seed : int
        Seed; each cutoff gets its own stream from ``SeedSequence(random_seed).spawn``.

    Returns
    -------
    BacktestResult

    Raises
    ------
    DataError
        If a forecast period runs past the export's as-of date (no actuals to score).
    """
    if horizon_months < 1:
        raise ConfigError(f"--horizon-months must be at least 1, got {horizon_months}")
    if not 0.0 < probability < 1.0:
        raise ConfigError(f"--probability must be strictly between 0 and 1, got {probability}")
    cuts = parse_cutoffs(cutoffs if isinstance(cutoffs, str) else [str(c) for c in cutoffs])
    forecaster = forecaster or model_forecaster()
    as_of = pd.Timestamp(opps.as_of).normalize()
    seeds = np.random.SeedSequence(random_seed).spawn(len(cuts))
    rows: list[dict[str, object]] = []
    for cut, ss in zip(cuts, seeds, strict=True):
        start = cut + pd.Timedelta(days=1)
        end = start + pd.DateOffset(months=horizon_months) - pd.Timedelta(days=1)
        if end > as_of:
            raise DataError(
                f"cutoff {cut.date()} + {horizon_months} months ends on {end.date()}, after "
                f"the as-of date of {opps.source} ({as_of.date()}): nothing to score against; "
                "use an earlier cutoff or a shorter --horizon-months"
            )
        known = as_of_cutoff(opps, cut, hide_amounts=hide_amounts)
        fc = forecaster(known, start, horizon_months, int(ss.generate_state(1)[0]))
        actual = won_in_window(opps, start, end).reindex(list(fc.segments), fill_value=0.0)
        last = last_period_growth(known, horizon_months, growth).reindex(
            list(fc.segments), fill_value=0.0
        )
        pipe = stage_weighted_pipeline(known).reindex(list(fc.segments), fill_value=0.0)
        for metric in METRICS:
            samples = fc.bookings if metric == "bookings" else fc.deals_won
            base = {
                "cutoff": cut.date().isoformat(), "period_start": start.date().isoformat(),
                "period_end": end.date().isoformat(), "metric": metric,
            }
            rows += _score_rows(
                {**base, "level": "total", "name": "total"},
                samples.sum(axis=1),
                float(actual[metric].sum()),
                {"last_period": float(last[metric].sum()), "pipeline": float(pipe[metric].sum())},
                probability,
            )
            if len(fc.segments) > 1:
                for j, seg in enumerate(fc.segments):
                    rows += _score_rows(
                        {**base, "level": "segment", "name": seg},
                        samples[:, j],
                        float(actual.loc[seg, metric]),
                        {
                            "last_period": float(last.loc[seg, metric]),
                            "pipeline": float(pipe.loc[seg, metric]),
                        },
                        probability,
                    )
    table = pd.DataFrame(rows, columns=BACKTEST_COLUMNS)
    return BacktestResult(table=table, scorecard=scorecard(table), probability=probability)


def scorecard(table: pd.DataFrame) -> pd.DataFrame:
    """Summary per metric, level and method of a backtest table.

    Columns: ``n`` forecasts, ``crps`` (mean), ``relative_crps`` (sum of CRPS / sum of
    actuals, comparable across scales), ``mape`` (mean absolute percentage error of the point
    forecast: model median or baseline value), ``coverage_p10_p90`` (model only) and
    ``hit_rate``.
    """
    t = table.copy()
    t["ape"] = (t["forecast"] - t["actual"]).abs() / t["actual"].where(t["actual"] > 0)
    t["covered"] = pd.to_numeric(t["covered"], errors="coerce")
    t["hit"] = pd.to_numeric(t["hit"], errors="coerce")
    g = t.groupby(["metric", "level", "method"], sort=False)
    out = pd.DataFrame(
        {
            "n": g.size(),
            "crps": g["crps"].mean(),
            "relative_crps": g["crps"].sum() / g["actual"].sum(),
            "mape": g["ape"].mean(),
            "coverage_p10_p90": g["covered"].mean(),
            "hit_rate": g["hit"].mean(),
        }
    )
    return out.reset_index()
