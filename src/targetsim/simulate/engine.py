"""``simulate``: run the engines over posterior draws and scenarios, build the projection cube.

Seeds: draw ``g`` (its index in the posterior sample) samples its deals from the stream
``SeedSequence(random_seed, spawn_key=(g, 0))`` and its capacity (attrition) from
``spawn_key=(g, 1)`` — the two children of ``SeedSequence(random_seed, spawn_key=(g,))`` —
created afresh for each scenario. A draw's result therefore depends on nothing but the seed,
its index and the scenario: chunks of draws can run anywhere (``workers``, ``scheduler``),
in blocks of any size, and the result is identical; the two engines sample the same deals.

Every scenario of a draw starts from the same random numbers (common random numbers): the
difference between two scenarios is their effect rather than Monte-Carlo noise, and a
scenario's result does not depend on which other scenarios share the run.

Draws are processed by blocks of :data:`BLOCK_DRAWS`: the deals of a block are sampled
together (:class:`~targetsim.simulate.sampling.DealSampler`); the vectorised engine closes
and counts them in the same pass (:func:`~targetsim.simulate.fast.run_fast`), the SimPy
engine runs each draw's deals in turn and :func:`~targetsim.simulate.tally.tally` counts
them with the same rules. Without workers, the vectorised engine runs its blocks on as many
threads as the process has processors (:func:`default_threads`): its compiled loops release
the GIL, and each block writes only its own draws, so the result is the same.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import xarray as xr

from targetsim.errors import ConfigError, ScenarioError
from targetsim.model.params import FunnelParams
from targetsim.simulate.budget import check_simulation
from targetsim.simulate.des import run_des
from targetsim.simulate.fast import run_fast
from targetsim.simulate.sampling import DealSampler, Multipliers, Pipeline, encode_pipeline
from targetsim.simulate.scenario import Scenario
from targetsim.simulate.tally import tally
from targetsim.simulate.timeline import Timeline, make_timeline

ENGINES = ("auto", "des", "fast")
_SEG_VARS = (
    "bookings", "deals_won", "deals_lost", "new_opportunities", "went_cold",
    "open_count", "open_value",
)


#: Draws sampled and tallied together (memory and speed only: results do not depend on it).
BLOCK_DRAWS = 8


def deal_stream(random_seed: int, draw: int) -> np.random.Generator:
    """The stream draw ``draw`` samples its deals from (the same for every scenario)."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(random_seed, spawn_key=(draw, 0))))


def capacity_stream(random_seed: int, draw: int) -> np.random.Generator:
    """The stream of draw ``draw``'s capacity: attrition of reps (the ``des`` engine)."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(random_seed, spawn_key=(draw, 1))))


def run_chunk(
    params: FunnelParams,
    draw_ids: Sequence[int],
    pipeline: Pipeline,
    scenarios: Sequence[Scenario],
    timeline: Timeline,
    engine: str,
    random_seed: int,
    on_draw: Callable[[int], None] | None = None,
    threads: int = 1,
) -> dict[str, np.ndarray]:
    """Simulate draws ``draw_ids`` (``params`` holds exactly those draws, in that order).

    ``on_draw(k)`` is called after each block of ``k`` draws, in order; an exception it
    raises stops the chunk. With ``threads`` > 1 the vectorised engine runs blocks on that
    many threads at once (its compiled loops release the GIL); the SimPy engine always
    runs them one after another.

    Returns
    -------
    dict of ndarray
        Every variable of the projection with leading axes (draw, scenario).
    """
    n_seg, n_own = len(params.segments), len(params.owners)
    mults = [Multipliers.of(sc, params.segments) for sc in scenarios]
    sampler = DealSampler(params, pipeline, timeline)

    def block(js: np.ndarray) -> dict[str, np.ndarray]:
        gs = [int(draw_ids[j]) for j in js]
        outcomes = params.outcome.sampler(js)  # the same for every scenario
        rows = []
        for k, sc in enumerate(scenarios):
            rngs = [deal_stream(random_seed, g) for g in gs]
            if engine == "fast":
                out = run_fast(sampler, js, mults[k], rngs, outcomes)
            else:
                deals = sampler.sample(js, mults[k], rngs, outcomes)
                t_close, fate = np.empty(len(deals.segment)), deals.outcome.copy()
                cap = np.empty((len(js), n_seg, timeline.months))
                for q, g in enumerate(gs):
                    sl = slice(int(deals.start[q]), int(deals.start[q + 1]))
                    t_close[sl], fate[sl], cap[q] = run_des(
                        deals.deals(q), mults[k], timeline, sc.capacity, params.segments,
                        capacity_stream(random_seed, g),
                    )
                out = tally(deals, t_close, fate, timeline, n_seg, n_own)
                out["capacity"] = cap
            rows.append(out)
        return {name: np.stack([r[name] for r in rows], axis=1) for name in rows[0]}

    blocks = [np.arange(first, min(first + BLOCK_DRAWS, len(draw_ids)))
              for first in range(0, len(draw_ids), BLOCK_DRAWS)]
    parts: list[dict[str, np.ndarray]] = []
    if engine == "fast" and threads > 1 and len(blocks) > 1:
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="targetsim-fast")
        try:
            futures = [pool.submit(block, js) for js in blocks]
            for js, fut in zip(blocks, futures, strict=True):
                parts.append(fut.result())
                if on_draw is not None:
                    on_draw(len(js))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        for js in blocks:
            parts.append(block(js))
            if on_draw is not None:
                on_draw(len(js))
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def default_threads() -> int:
    """Threads of the vectorised engine in this process: the processors it may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _horizon(
    scenarios: Sequence[Scenario], start: str | None, months: int | None
) -> tuple[str | None, int]:
    """The one horizon of the cube: arguments first, then the scenarios' (which must agree)."""
    starts = {sc.horizon.start for sc in scenarios if sc.horizon and sc.horizon.start}
    lengths = {sc.horizon.months for sc in scenarios if sc.horizon}
    if start is None and len(starts) > 1:
        raise ScenarioError(
            f"scenarios disagree on horizon.start ({', '.join(sorted(starts))}); "
            "give --start to choose one"
        )
    if months is None and len(lengths) > 1:
        raise ScenarioError(
            f"scenarios disagree on horizon.months ({', '.join(map(str, sorted(lengths)))}); "
            "give --months to choose one"
        )
    if start is None and starts:
        start = next(iter(starts))
    if months is None:
        months = next(iter(lengths)) if lengths else 12
    return start, months


def _check_hires(scenarios: Sequence[Scenario], timeline: Timeline) -> None:
    first = timeline.as_of.to_period("M")
    last = timeline.month_starts[-1].to_period("M")
    for sc in scenarios:
        if sc.capacity is None:
            continue
        for i, hire in enumerate(sc.capacity.hires):
            month = pd.Period(hire.month, freq="M")
            if not first <= month <= last:
                raise ScenarioError(
                    f"{sc.source}: capacity.hires.{i}.month: {hire.month} is outside the "
                    f"simulated period {first} .. {last}"
                )


def _progress(enabled: bool):
    """A rich progress bar over draws (a no-op when disabled)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} draws"),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=True,
    )


def simulate(
    params: FunnelParams,
    open_pipeline: pd.DataFrame | None,
    scenarios: Sequence[Scenario] = (),
    *,
    start: str | None = None,
    months: int | None = None,
    engine: str = "auto",
    random_seed: int = 0,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> xr.Dataset:
    """Project the pipeline of every posterior draw under every scenario.

    Parameters
    ----------
    params : FunnelParams
        Funnel parameters, one set per posterior draw.
    open_pipeline : pandas.DataFrame or None
        Open deals at ``params.as_of``: ``opportunity_id, segment, owner, age_days, amount,
        stage`` (``amount`` NaN = drawn from the deal-size distribution, ``owner`` may be NA).
    scenarios : sequence of Scenario
        Default: ``[Scenario.baseline()]``.
    start : str, optional
        First day of the horizon (a month start); default the scenarios' ``horizon.start``,
        else the first day of the month after ``as_of``.
    months : int, optional
        Horizon length; default the scenarios' ``horizon.months``, else 12.
    engine : {"auto", "des", "fast"}
        ``auto`` = ``fast`` unless a scenario has ``capacity``.
    random_seed : int
        Root seed (see the module docstring).
    workers : int, optional
        Run chunks of draws on a local dask.distributed cluster of this many processes.
    scheduler : str, optional
        Address of an existing dask.distributed scheduler (overrides ``workers``).
    progress : bool
        Show a progress bar.
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` after each block of draws (each chunk with
        workers), e.g. by ``targetsim serve``; an exception it raises stops the simulation
        and propagates (how a superseded what-if is abandoned).

    Returns
    -------
    xarray.Dataset
        The projection cube (variables listed in :mod:`targetsim.simulate`).

    Raises
    ------
    ScenarioError
        Unknown segments, duplicate scenario names, disagreeing horizons, hires outside it.
    ConfigError
        Unknown engine, ``fast`` with a capacity scenario, bad ``start``/``months``/``workers``.
    """
    from targetsim import __version__

    scenarios = list(scenarios) or [Scenario.baseline()]
    names = [sc.name for sc in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScenarioError(f"two scenarios are named {', '.join(dup)}: names must be unique")
    for sc in scenarios:
        sc.check_segments(params.segments, "the fit")
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    has_cap = [sc.name for sc in scenarios if sc.capacity is not None]
    if engine == "fast" and has_cap:
        raise ConfigError(
            f"the fast engine has no capacity model, but scenario(s) {', '.join(has_cap)} "
            "set capacity; use --engine des (or auto)"
        )
    used = ("des" if has_cap else "fast") if engine == "auto" else engine
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if params.n_draws < 1:
        raise ConfigError("the fit has no posterior draws")

    from_file = start is None and any(sc.horizon and sc.horizon.start for sc in scenarios)
    start, n_months = _horizon(scenarios, start, months)
    try:
        timeline = make_timeline(params.as_of, start, n_months)
    except ConfigError as exc:
        if not from_file:
            raise
        src = next(sc.source for sc in scenarios if sc.horizon and sc.horizon.start)
        raise ScenarioError(f"{src}: horizon.start: {exc}".replace("--start ", "")) from None
    _check_hires(scenarios, timeline)
    pipeline = encode_pipeline(open_pipeline, params)
    check_simulation(params, pipeline.size, scenarios, timeline, used)  # memory/time budget
    n = params.n_draws
    args = (pipeline, scenarios, timeline, used, random_seed)

    with _progress(progress) as bar:
        task = bar.add_task("draws", total=n)
        done = [0]

        def advance(k: int) -> None:
            bar.advance(task, k)
            done[0] += k
            if on_progress is not None:
                on_progress(done[0], n)

        if scheduler is None and (workers is None or workers == 1):
            result = run_chunk(params, range(n), *args, on_draw=advance,
                               threads=default_threads())
        else:
            result = _run_distributed(params, args, workers or 1, scheduler, advance)

    return _dataset(result, params, scenarios, timeline, used, random_seed, __version__)


def _run_distributed(params, args, workers, scheduler, advance) -> dict[str, np.ndarray]:
    """Chunks of draws on a dask.distributed cluster, reassembled in draw order."""
    from dask.distributed import Client, LocalCluster, as_completed

    n = params.n_draws
    n_chunks = min(n, 4 * workers)
    chunks = [c for c in np.array_split(np.arange(n), n_chunks) if len(c)]
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = Client(scheduler if scheduler is not None else cluster)
    try:
        futures = {
            client.submit(run_chunk, params.subset(c), c.tolist(), *args, pure=False): i
            for i, c in enumerate(chunks)
        }
        parts: dict[int, dict[str, np.ndarray]] = {}
        for fut in as_completed(futures):
            parts[futures[fut]] = fut.result()
            advance(len(chunks[futures[fut]]))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return {k: np.concatenate([parts[i][k] for i in range(len(chunks))]) for k in parts[0]}


def _dataset(
    r: dict[str, np.ndarray],
    params: FunnelParams,
    scenarios: Sequence[Scenario],
    timeline: Timeline,
    engine: str,
    seed: int,
    version: str,
) -> xr.Dataset:
    seg4 = ("draw", "scenario", "segment", "month")
    data_vars = {name: (seg4, r[name]) for name in (*_SEG_VARS, "capacity")}
    data_vars["open_count_final"] = (seg4[:3], r["open_count_final"])
    data_vars["initial_open"] = (seg4[:3], r["initial_open"])
    coords = {
        "draw": np.arange(params.n_draws),
        "scenario": [sc.name for sc in scenarios],
        "segment": list(params.segments),
        "month": timeline.month_starts.values.astype("datetime64[ns]"),
    }
    if params.owners:
        own = ("draw", "scenario", "owner", "month")
        data_vars["owner_bookings"] = (own, r["owner_bookings"])
        data_vars["owner_deals_won"] = (own, r["owner_deals_won"])
        coords["owner"] = list(params.owners)
    attrs = {
        "as_of": str(timeline.as_of.date()),
        "horizon_start": str(timeline.month_starts[0].date()),
        "months": int(timeline.months),
        "seed": int(seed),
        "engine": engine,
        "n_draws": int(params.n_draws),
        "scenarios_json": json.dumps([json.loads(sc.to_json()) for sc in scenarios]),
        "targetsim_version": version,
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
