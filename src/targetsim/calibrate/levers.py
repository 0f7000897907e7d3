"""Re-simulation of the top-down levers (lead volume, win rate, hires) for one scenario.

The pure solvers live in :mod:`targetsim.calibrate.topdown`; this module builds the
modified scenarios and calls the simulator. Each lever is applied on top of the scenario:
the ``lead_volume`` and ``win_rate`` multipliers multiply the scenario's own values
(market and per-segment overrides alike), hires are added as ``k`` extra reps **in every
segment** in the horizon's first month, on top of the scenario's own hires.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from targetsim.calibrate.periods import FY
from targetsim.calibrate.targets import attainment_probability, outcome
from targetsim.calibrate.topdown import (
    LeverResult,
    describe_change,
    solve_integer,
    solve_multiplier,
)

if TYPE_CHECKING:
    from targetsim.model.params import FunnelParams
    from targetsim.simulate.scenario import Scenario

#: Upper bound of the lead-volume multiplier searched.
LEAD_MAX = 4.0
#: Upper bound of extra hires per segment searched.
HIRES_MAX = 30


def scale_multiplier(scenario: Scenario, key: str, factor: float) -> Scenario:
    """A copy of ``scenario`` with multiplier ``key`` multiplied by ``factor`` everywhere."""
    market = scenario.market.model_copy(update={key: getattr(scenario.market, key) * factor})
    segments = {}
    for seg, over in scenario.segments.items():
        value = getattr(over, key)
        segments[seg] = over if value is None else over.model_copy(
            update={key: value * factor})
    return scenario.model_copy(update={"market": market, "segments": segments})


def add_hires(scenario: Scenario, segments: Sequence[str], count: int, month: str) -> Scenario:
    """A copy of ``scenario`` with ``count`` extra hires in every segment at ``month``."""
    from targetsim.simulate.scenario import Hire

    if scenario.capacity is None or count <= 0:
        return scenario
    hires = tuple(scenario.capacity.hires) + tuple(
        Hire(month=month, segment=s, count=count) for s in segments
    )
    capacity = scenario.capacity.model_copy(update={"hires": hires})
    return scenario.model_copy(update={"capacity": capacity})


#: Upper bound of the win-rate multiplier searched (see :func:`solve_levers`).
WIN_MAX = 10.0


def _bisection_budget(lo: float, hi: float, tol: float) -> int:
    """Most evaluations :func:`~targetsim.calibrate.topdown.solve_multiplier` makes."""
    return 2 + math.ceil(math.log2(max((hi - lo) / tol, 1.0))) + 2


def max_simulations(scenario: Scenario) -> int:
    """Most re-simulations :func:`solve_levers` runs for ``scenario`` (for a progress bar)."""
    n = 1 + _bisection_budget(1.0, LEAD_MAX, 0.01) + _bisection_budget(1.0, WIN_MAX, 0.01)
    if scenario.capacity is not None:
        n += 2 + math.ceil(math.log2(HIRES_MAX))
    return n


def base_win_rate(params: FunnelParams) -> float:
    """Average eventual win probability, weighted by each segment's arrival rate."""
    w = np.exp(params.arrivals.log_mean(np.array([1]))[:, :, 0])
    return float(np.sum(params.p_win * w) / np.sum(w))


def solve_levers(
    params: FunnelParams,
    open_pipeline: pd.DataFrame,
    scenario: Scenario,
    company_target: float,
    probability: float,
    *,
    start: str | None = None,
    months: int = 12,
    engine: str = "auto",
    random_seed: int = 0,
    simulate_kw: dict[str, Any] | None = None,
    lang: str = "en",
    on_simulation: Callable[[str], None] | None = None,
) -> list[dict[str, object]]:
    """Smallest lead-volume, win-rate and hiring change reaching ``probability``.

    Parameters
    ----------
    params : FunnelParams
        Posterior draws (fewer draws make each re-simulation cheaper).
    open_pipeline : DataFrame
    scenario : Scenario
    company_target : float
        The board's FY bookings number.
    probability : float
        Probability to reach.
    start, months, engine, random_seed
        As for :func:`targetsim.simulate.simulate`; the seed is the same in every
        evaluation (common random numbers).
    on_simulation : callable, optional
        Called with the lever's name after each re-simulation (a progress bar; at most
        :func:`max_simulations` calls).

    Returns
    -------
    list of dict
        Rows of topdown.csv (one per lever).
    """
    from targetsim.simulate import simulate

    kw = dict(simulate_kw or {})
    lever = ["now"]

    def prob(sc: Scenario) -> tuple[float, Any]:
        ds = simulate(params, open_pipeline, [sc], start=start, months=months, engine=engine,
                      random_seed=random_seed, progress=False, **kw)
        if on_simulation is not None:
            on_simulation(lever[0])
        total = outcome(ds, "total", "bookings", FY)
        return attainment_probability(total.samples(sc.name, "total"), company_target), ds

    p_now, ds0 = prob(scenario)
    first_month = pd.Timestamp(ds0["month"].values[0]).strftime("%Y-%m")
    segments = tuple(str(s) for s in ds0["segment"].values)
    base = base_win_rate(params) * scenario.market.win_rate
    win_hi = float(min(WIN_MAX,
                       1.0 / max(float(np.min(np.median(params.p_win, axis=0))), 0.1)))

    lever[0] = "lead_volume"
    results: list[tuple[str, LeverResult, float]] = [
        ("lead_volume", solve_multiplier(
            lambda m: prob(scale_multiplier(scenario, "lead_volume", m))[0], probability,
            1.0, LEAD_MAX), LEAD_MAX),
    ]
    lever[0] = "win_rate"
    results.append(("win_rate", solve_multiplier(
        lambda m: prob(scale_multiplier(scenario, "win_rate", m))[0], probability,
        1.0, win_hi), win_hi))
    if scenario.capacity is not None:
        lever[0] = "hires"
        results.append(("hires", solve_integer(
            lambda k: prob(add_hires(scenario, segments, k, first_month))[0], probability,
            0, HIRES_MAX), float(HIRES_MAX)))
    rows = []
    for lever, res, hi in results:
        rows.append({
            "scenario": scenario.name,
            "company_target": float(company_target),
            "attainment_probability": p_now,
            "target_probability": probability,
            "lever": lever,
            "value": res.value if res.value is not None else float("nan"),
            "achieved_probability": res.probability,
            "change": describe_change(lever, res, base_win_rate=base, hire_month=first_month,
                                      hi=hi, lang=lang),
        })
    return rows
