"""Before simulating: how many deals, how much memory and work; stop past a budget.

A simulation holds every deal of one posterior draw and scenario in memory at once, and
keeps one result cube per draw and scenario. :func:`estimate` counts, from the arrival rates
and the scenarios' lead volumes, the deals of the largest (draw, scenario) run and of the
whole simulation, and turns them into bytes and seconds with the per-deal costs measured on
the two engines (the constants below, with a margin). :func:`check`
stops with a :class:`~targetsim.errors.ConfigError` (exit 2) that says which option to
lower when

* the memory of one run plus the result cube exceeds :func:`memory_budget` (default: half
  the machine's memory, at most 8 GiB; ``TARGETSIM_MAX_MEMORY_GB`` overrides it), or
* the estimated time exceeds :func:`time_budget` (default one hour of one core;
  ``TARGETSIM_MAX_SIMULATION_HOURS`` overrides it).

:func:`check_simulation` is called at the start of :func:`targetsim.simulate.simulate`
with the posterior's own rates; :func:`check_history` lets ``plan`` refuse before fitting,
from the history's arrival rates.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from targetsim.errors import ConfigError
from targetsim.simulate.scenario import MAX_MONTHS, Scenario

if TYPE_CHECKING:
    from targetsim.data.funnel import FunnelData
    from targetsim.model.params import FunnelParams
    from targetsim.simulate.timeline import Timeline

#: Bytes one simulated deal needs while its run is simulated (measured: about 240 with the
#: vectorised engine, 270 with SimPy), with a margin; owners add a byte each for the draw
#: of the owner (measured 5), counted 8.
BYTES_PER_DEAL = 400
BYTES_PER_DEAL_PER_OWNER = 8
#: Deals simulated per second on one core (measured: 570,000 vectorised, 17,000 SimPy under
#: tracemalloc), with a margin for a loaded machine.
DEALS_PER_SECOND = {"fast": 300_000, "des": 8_000}
#: Variables of the cube per segment and month (7 counts, capacity) and per owner (2).
_SEGMENT_VARS, _OWNER_VARS = 8, 2
_GIB = 1024**3


def _env_amount(name: str, unit: str) -> float | None:
    """A positive finite number from environment variable ``name`` (None when unset)."""
    env = os.environ.get(name)
    if not env:
        return None
    try:
        value = float(env)
    except ValueError:
        raise ConfigError(f"{name}={env!r}: expected a number of {unit}") from None
    if not value > 0 or not math.isfinite(value):
        raise ConfigError(f"{name}={env!r}: expected a positive number")
    return value


def memory_budget() -> float:
    """Bytes a simulation may use: ``TARGETSIM_MAX_MEMORY_GB`` or min(8 GiB, half the RAM)."""
    value = _env_amount("TARGETSIM_MAX_MEMORY_GB", "GiB")
    if value is not None:
        return value * _GIB
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        total = 16 * _GIB
    return float(min(8 * _GIB, total / 2))


def time_budget() -> float:
    """Seconds of one core a simulation may take (``TARGETSIM_MAX_SIMULATION_HOURS``)."""
    value = _env_amount("TARGETSIM_MAX_SIMULATION_HOURS", "hours")
    return (value if value is not None else 1.0) * 3600.0


@dataclass(frozen=True)
class Budget:
    """What a simulation will cost.

    Attributes
    ----------
    n_draws, n_scenarios, months : int
    deals_per_run : float
        Deals of the largest (draw, scenario) run (its worst draw).
    busiest : str
        The scenario of that run.
    total_deals : float
        Expected deals of the whole simulation.
    run_bytes, cube_bytes : float
        Memory of the largest run, and of the result cube.
    seconds : float
        Expected time on one core.
    engine : str
    """

    n_draws: int
    n_scenarios: int
    months: int
    deals_per_run: float
    busiest: str
    total_deals: float
    run_bytes: float
    cube_bytes: float
    seconds: float
    engine: str

    @property
    def memory_bytes(self) -> float:
        # the cube is assembled from per-draw pieces: twice its size at the end
        return self.run_bytes + 2 * self.cube_bytes

    def describe(self) -> str:
        """One line for a log: deals, memory, time."""
        return (
            f"{self.total_deals:,.0f} simulated deals ({self.n_draws:,} draws x "
            f"{self.n_scenarios} scenario(s) x {self.months} months), about "
            f"{_size(self.memory_bytes)} of memory and {_duration(self.seconds)} of one core"
        )


def _size(b: float) -> str:
    return f"{b / _GIB:,.1f} GiB" if b >= _GIB else f"{b / 1024**2:,.0f} MiB"


def _duration(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:,.1f} h"
    return f"{s / 60:,.1f} min" if s >= 60 else f"{s:,.0f} s"


def estimate(
    new_max: Sequence[float] | np.ndarray,
    new_mean: Sequence[float] | np.ndarray,
    n_open: int,
    scenario_names: Sequence[str],
    *,
    n_draws: int,
    months: int,
    n_segments: int,
    n_owners: int,
    engine: str,
) -> Budget:
    """Cost of a simulation from the expected new deals of each scenario.

    Parameters
    ----------
    new_max, new_mean : array of shape (K,)
        Expected new opportunities over the simulated period in the busiest draw, and on
        average over the draws, per scenario.
    n_open : int
        Open deals at the as-of date (simulated in every run).
    scenario_names : sequence of str
        Names of the K scenarios.
    n_draws, months, n_segments, n_owners : int
    engine : {"fast", "des"}
    """
    new_max = np.nan_to_num(np.asarray(new_max, dtype=float), nan=np.inf)
    new_mean = np.nan_to_num(np.asarray(new_mean, dtype=float), nan=np.inf)
    n_sc = len(scenario_names)
    per_run = new_max + n_open
    k = int(np.argmax(per_run))
    total = float((new_mean.sum() + n_open * n_sc) * n_draws)
    per_deal = BYTES_PER_DEAL + BYTES_PER_DEAL_PER_OWNER * n_owners
    return Budget(
        n_draws=int(n_draws), n_scenarios=n_sc, months=int(months),
        deals_per_run=float(per_run[k]), busiest=str(scenario_names[k]), total_deals=total,
        run_bytes=float(per_run[k]) * per_deal,
        cube_bytes=_cube_bytes(n_draws, n_sc, months, n_segments, n_owners),
        seconds=total / DEALS_PER_SECOND.get(engine, DEALS_PER_SECOND["des"]), engine=engine,
    )


def _cube_bytes(n_draws: int, n_sc: int, months: int, n_segments: int, n_owners: int) -> float:
    return float(n_draws) * n_sc * months * (_SEGMENT_VARS * n_segments
                                              + _OWNER_VARS * n_owners) * 8.0


def check(budget: Budget, *, lead_volume_of: dict[str, float] | None = None) -> Budget:
    """Raise a :class:`ConfigError` naming the option to lower when ``budget`` is too big.

    Parameters
    ----------
    budget : Budget
    lead_volume_of : dict, optional
        Largest lead-volume multiplier of each scenario, to name it in the message.
    """
    _check_cube(budget.cube_bytes, budget.n_draws, budget.n_scenarios, budget.months)
    mem, limit = budget.memory_bytes, memory_budget()
    if not mem <= limit:
        lv = (lead_volume_of or {}).get(budget.busiest)
        what = (
            f"lower lead_volume in scenario {budget.busiest!r} (now {lv:g}) or --months"
            if lv is not None and lv > 1 else "lower --months"
        )
        raise ConfigError(
            f"simulating would need about {_size(mem)} of memory, more than the budget of "
            f"{_size(limit)}: one simulated run of scenario {budget.busiest!r} has about "
            f"{budget.deals_per_run:,.0f} deals. To fit, {what}; TARGETSIM_MAX_MEMORY_GB sets "
            "the budget."
        )
    seconds, allowed = budget.seconds, time_budget()
    if not seconds <= allowed:
        raise ConfigError(
            f"simulating {budget.total_deals:,.0f} deals would take about "
            f"{_duration(seconds)} of one core with the {budget.engine} engine, more than the "
            f"budget of {_duration(allowed)}: lower --draws (or --months, or run fewer "
            "scenarios at once; TARGETSIM_MAX_SIMULATION_HOURS sets the budget)."
        )
    return budget


def _check_cube(cube: float, n_draws: int, n_sc: int, months: int) -> None:
    limit = memory_budget()
    if not 2 * cube <= limit:
        raise ConfigError(
            f"simulating would need about {_size(2 * cube)} of memory for its results "
            f"({n_draws:,} draws x {n_sc} scenario(s) x {months} months), more than the "
            f"budget of {_size(limit)}: lower --draws (or --months, or run fewer scenarios at "
            "once; TARGETSIM_MAX_MEMORY_GB sets the budget)."
        )


def check_months(months: int | None, option: str = "--months") -> None:
    """Refuse a horizon outside 1..:data:`MAX_MONTHS`."""
    if months is None:
        return
    if not 1 <= int(months) <= MAX_MONTHS:
        raise ConfigError(
            f"{option}: the horizon is 1 to {MAX_MONTHS} months (five years), got {months}"
        )


def _lead_volumes(scenarios: Sequence[Scenario], segments: Sequence[str]) -> np.ndarray:
    """(K, S) lead-volume multipliers."""
    return np.array([[sc.multiplier("lead_volume", s) for s in segments] for sc in scenarios])


def check_simulation(
    params: FunnelParams,
    n_open: int,
    scenarios: Sequence[Scenario],
    timeline: Timeline,
    engine: str,
) -> Budget:
    """:func:`check` for a simulation of ``params`` (the posterior's own arrival rates).

    Expected arrivals follow the simulator's own mean: each draw's arrival path
    (:meth:`~targetsim.model.params.ArrivalDraws.log_mean`, trend, seasonality and level
    included) per piece of month, times its share of the month, times ``lead_volume``
    inside the horizon (the negative-binomial counts have that mean whatever ``alpha``);
    plus the deals the draw adds as not yet recorded at the as-of date
    (:meth:`~targetsim.model.params.ArrivalDraws.missing`), all counted although those
    still closed at the as-of date are dropped again.
    """
    n_draws, n_sc = params.n_draws, len(scenarios)
    _check_cube(
        _cube_bytes(n_draws, n_sc, timeline.months, len(params.segments), len(params.owners)),
        n_draws, n_sc, timeline.months,
    )
    grid = timeline.arrival_pieces()
    lv = _lead_volumes(scenarios, params.segments)  # (K, S)
    inside = grid["in_horizon"]
    arrivals = params.arrivals
    new_max, new_mean = np.zeros(n_sc), np.zeros(n_sc)
    with np.errstate(over="ignore", invalid="ignore"):
        log_mean = arrivals.log_mean(grid["m"].astype(int))  # (D, S, P)
        mean = np.exp(log_mean) * grid["share"][None, None, :]
        backlog = np.zeros(n_draws)
        if arrivals.backlog_lo.size:
            level = np.exp(arrivals.log_mean(np.array([0]))[:, :, 0])  # (D, S)
            backlog = np.maximum(level[:, :, None] * arrivals.backlog_exposure[None, None, :]
                                 - arrivals.backlog_observed[None], 0.0).sum(axis=(1, 2))
        for k in range(n_sc):
            factor = np.where(inside[None, :], lv[k][:, None], 1.0)  # (S, P)
            per_draw = (mean * factor[None]).sum(axis=(1, 2)) + backlog
            new_max[k], new_mean[k] = per_draw.max(), per_draw.mean()
    budget = estimate(
        new_max, new_mean, n_open, [sc.name for sc in scenarios], n_draws=n_draws,
        months=timeline.months, n_segments=len(params.segments), n_owners=len(params.owners),
        engine=engine,
    )
    return check(budget, lead_volume_of={sc.name: float(lv[k].max())
                                         for k, sc in enumerate(scenarios)})


def check_history(
    funnel: FunnelData,
    n_draws: int,
    scenarios: Sequence[Scenario],
    months: int,
    engine: str,
) -> Budget:
    """:func:`check` before a fit, from the history's arrivals of the last 12 months.

    The posterior will be close to the history's rates; a run refused here would be
    refused after minutes of fitting.
    """
    arr = funnel.arrivals
    segments = list(funnel.segments)
    rate = np.zeros(len(segments))
    if not arr.empty:
        recent = arr.sort_values("month").groupby("segment").tail(12)
        per = recent.groupby("segment")[["count", "exposure"]].sum()
        for j, s in enumerate(segments):
            if s in per.index and per.loc[s, "exposure"] > 0:
                rate[j] = per.loc[s, "count"] / per.loc[s, "exposure"]
    lv = _lead_volumes(scenarios, segments)  # (K, S)
    # the horizon plus about one month between the as-of date and its start
    new = (lv * rate[None, :]).sum(axis=1) * months + rate.sum()
    budget = estimate(
        new, new, len(funnel.open_pipeline), [sc.name for sc in scenarios],
        n_draws=max(int(n_draws), 1), months=months, n_segments=len(segments),
        n_owners=len(funnel.owners), engine=engine,
    )
    return check(budget, lead_volume_of={sc.name: float(lv[k].max())
                                         for k, sc in enumerate(scenarios)})
