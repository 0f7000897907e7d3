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
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from targetsim.calibrate.targets import target_at_probability
from targetsim.data.funnel import Opportunities, build_funnel
from targetsim.errors import ConfigError, DataError
from targetsim.model.params import FunnelParams
from targetsim.track.baselines import last_period_growth, stage_weighted_pipeline
from targetsim.track.cutoff import as_of_cutoff, won_in_window
from targetsim.track.scoring import crps_from_samples
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
    converged : bool or None
        Whether the fit behind the forecast passed the convergence gate (None: no fit).
    """

    segments: tuple[str, ...]
    bookings: np.ndarray
    deals_won: np.ndarray
    converged: bool | None = None


#: ``forecaster(opps_at_cutoff, period_start, months, random_seed) -> Forecast``.
Forecaster = Callable[[Opportunities, pd.Timestamp, int, int], Forecast]


@dataclass(frozen=True)
class BacktestResult:
    """Per-forecast scores (``table``, columns :data:`BACKTEST_COLUMNS`) and their summary.

    ``converged`` maps each cutoff to whether its fit passed the gate (None: no fit).
    """

    table: pd.DataFrame
    scorecard: pd.DataFrame
    probability: float
    converged: dict[str, bool | None] = field(default_factory=dict)

    def verdict(self) -> list[str]:
        """The scorecard in words: see :func:`verdict`."""
        return verdict(self)


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


#: Months of history a cutoff needs before it for :func:`default_cutoffs` (five: an export
#: starting on October 20 allows a cutoff on March 31).
MIN_HISTORY_MONTHS = 5
#: Most cutoffs :func:`default_cutoffs` picks.
MAX_DEFAULT_CUTOFFS = 4


def default_cutoffs(
    opps: Opportunities, horizon_months: int = 3, *, max_cutoffs: int = MAX_DEFAULT_CUTOFFS
) -> tuple[pd.Timestamp, ...]:
    """The last quarter-ends the export allows as backtest cutoffs.

    A cutoff needs ``MIN_HISTORY_MONTHS`` of history before it (from the first creation
    date) and its ``horizon_months`` after it inside the export (up to ``as_of``).

    Raises
    ------
    DataError
        If the export is too short for any cutoff.
    """
    t = opps.table
    dated = t.loc[~t["created_imputed"].astype(bool), "created_at"] if "created_imputed" in t \
        else t["created_at"]
    first = pd.Timestamp(dated.min()).normalize()
    as_of = pd.Timestamp(opps.as_of).normalize()
    earliest = first + pd.DateOffset(months=MIN_HISTORY_MONTHS) - pd.Timedelta(days=1)
    latest = as_of - pd.DateOffset(months=horizon_months)
    quarter_ends = pd.date_range(earliest, latest, freq="QE")
    cuts = tuple(pd.Timestamp(q).normalize() for q in quarter_ends[-max_cutoffs:])
    if not cuts:
        raise DataError(
            f"{opps.source}: history from {first.date()} to {as_of.date()} is too short for a "
            f"backtest: a cutoff needs {MIN_HISTORY_MONTHS} months before it and "
            f"{horizon_months} after it; shorten --horizon-months or give --cutoffs"
        )
    return cuts


def model_forecaster(
    *,
    draws: int | None = None,
    tune: int | None = None,
    chains: int = 2,
    n_sim_draws: int | None = 400,
    sampler: str = "nutpie",
    engine: str = "fast",
    model_config: object | None = None,
) -> Forecaster:
    """Forecaster that fits the funnel model at the cutoff and simulates the period.

    Parameters
    ----------
    draws, tune, chains : int
        MCMC settings of each fit; default the shipped ones (``DEFAULT_DRAWS``,
        ``DEFAULT_TUNE``): the backtest judges the product as it plans.
    n_sim_draws : int, optional
        Posterior draws passed to the simulator (400, as ``plan``); None: all of them.
    model_config : ModelConfig or mapping, optional
        The model's components and priors (default ``ModelConfig()``).
    sampler, engine : str
        Passed to :func:`targetsim.model.fit_funnel` and :func:`targetsim.simulate.simulate`.
    """

    def forecast(opps: Opportunities, start: pd.Timestamp, months: int, seed: int) -> Forecast:
        from targetsim.model import ModelConfig, fit_funnel
        from targetsim.model.config import DEFAULT_DRAWS, DEFAULT_TUNE
        from targetsim.simulate import simulate

        cfg = model_config
        if cfg is not None and not isinstance(cfg, ModelConfig):
            cfg = ModelConfig.from_dict(dict(cfg))
        fit_seed, draw_seed, sim_seed = (
            int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(3)
        )
        fit = fit_funnel(
            build_funnel(opps), cfg, draws=draws or DEFAULT_DRAWS, tune=tune or DEFAULT_TUNE,
            chains=chains, sampler=sampler, random_seed=fit_seed, progress=False,
        )
        params = fit.params(n_sim_draws, random_seed=draw_seed)
        cube = simulate(
            params, fit.open_pipeline, start=str(start.date()), months=months, engine=engine,
            random_seed=sim_seed, progress=False,
        )
        return replace(forecast_from_projection(cube), converged=bool(fit.diagnostics.converged))

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
    cutoffs: Sequence[str | pd.Timestamp] | str | None = None,
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
    cutoffs : sequence of dates, a comma-separated string, or None
        Month-end dates; the data known at each is used to forecast what follows. None:
        :func:`default_cutoffs` (the last quarter-ends the export allows).
    horizon_months : int
        Length of the forecast period after each cutoff.
    forecaster : callable, optional
        ``(opps_at_cutoff, period_start, months, random_seed) -> Forecast``; default
        :func:`model_forecaster` with the shipped settings.
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
    if cutoffs is None:
        cuts = default_cutoffs(opps, horizon_months)
    else:
        cuts = parse_cutoffs(cutoffs if isinstance(cutoffs, str) else [str(c) for c in cutoffs])
    forecaster = forecaster or model_forecaster()
    as_of = pd.Timestamp(opps.as_of).normalize()
    seeds = np.random.SeedSequence(random_seed).spawn(len(cuts))
    rows: list[dict[str, object]] = []
    gate: dict[str, bool | None] = {}
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
        gate[cut.date().isoformat()] = fc.converged
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
    return BacktestResult(table=table, scorecard=scorecard(table), probability=probability,
                          converged=gate)


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


#: Share of outcomes a calibrated p10-p90 band holds, and the least the verdict accepts.
COVERAGE_EXPECTED, COVERAGE_FLOOR = 0.8, 0.7
_NAMES = {"last_period": "last period", "pipeline": "the stage-weighted pipeline"}


def verdict(result: BacktestResult) -> list[str]:
    """Plain-words verdict of a backtest, one sentence per metric and level.

    For each metric (bookings, deals won) and level (total, segments): whether the model's
    mean CRPS beats the better of the two baselines (and by how much), and whether its
    p10-p90 band held the outcome often enough (at least 70 % of the forecasts; 80 % is
    what a calibrated band holds), plus a line on fits that failed the convergence gate.
    """
    card = result.scorecard
    out: list[str] = []
    labels = {"bookings": "bookings", "deals_won": "deals won"}
    for metric in METRICS:
        for level in ("total", "segment"):
            rows = card.loc[card["metric"].eq(metric) & card["level"].eq(level)]
            if rows.empty:
                continue
            by = rows.set_index("method")
            model = float(by.loc["model", "crps"])
            base = by.drop(index="model")
            best = str(base["crps"].idxmin())
            best_crps = float(base.loc[best, "crps"])
            cover = float(by.loc["model", "coverage_p10_p90"])
            n = int(by.loc["model", "n"])
            where = "the company total" if level == "total" else "the segments"
            if model <= best_crps:
                gain = 1.0 - model / best_crps if best_crps > 0 else 0.0
                head = (f"On {labels[metric]} ({where}), the model beats {_NAMES[best]}, the "
                        f"better baseline: mean CRPS {model:,.4g} against {best_crps:,.4g} "
                        f"({gain:.0%} lower)")
            else:
                loss = model / best_crps - 1.0 if best_crps > 0 else float("inf")
                head = (f"On {labels[metric]} ({where}), the model loses to {_NAMES[best]}: "
                        f"mean CRPS {model:,.4g} against {best_crps:,.4g} ({loss:.0%} higher)")
            if cover >= COVERAGE_FLOOR:
                band = (f"its p10-p90 band held {cover:.0%} of {n} outcomes (80 % expected)")
            else:
                band = (f"but its p10-p90 band held only {cover:.0%} of {n} outcomes "
                        f"(80 % expected, {COVERAGE_FLOOR:.0%} at least): the band is too "
                        "narrow or off centre")
            out.append(f"{head}; {band}.")
    failed = [c for c, ok in result.converged.items() if ok is False]
    if failed:
        out.append(f"The fit did not pass the convergence gate at {', '.join(failed)}: "
                   "those forecasts are flagged.")
    return out
