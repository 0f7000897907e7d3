"""SimPy engine (``des``): the reference, with exact capacity and queueing semantics.

The deals of a draw come from :func:`targetsim.simulate.sampling.sample_deals` (the same
statistics as the vectorised engine); this engine decides *when* each deal starts being
worked. Events: a new deal arrives at its creation time and asks its segment's
:class:`~targetsim.simulate.capacity.CapacityPool` for a slot; once granted, its close time
is its sampled duration after the start of work (time-dilated by the scenario's
``cycle_length`` inside the horizon), and its slot is released at the close (a stalled deal:
after its slot timeout). A lead still waiting after ``patience_days`` goes cold. Without a
``capacity`` section every request is granted at once, so the engine reproduces the
vectorised engine exactly on the same stream.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import simpy

from targetsim.simulate.capacity import CapacityPool, capacity_schedule, slots_at
from targetsim.simulate.sampling import STALL, Deals, Multipliers
from targetsim.simulate.scenario import Capacity
from targetsim.simulate.tally import COLD
from targetsim.simulate.timeline import Timeline


def hire_days(capacity: Capacity, segments: tuple[str, ...], timeline: Timeline) -> list[list]:
    """Hires per segment as ``(day from as_of, count)``; months were checked by the caller."""
    out: list[list] = [[] for _ in segments]
    for hire in capacity.hires:
        day = float((pd.Timestamp(hire.month + "-01") - timeline.as_of).days)
        out[segments.index(hire.segment)].append((max(day, 0.0), hire.count))
    return out


def run_des(
    deals: Deals,
    mult: Multipliers,
    timeline: Timeline,
    capacity: Capacity | None,
    segments: tuple[str, ...],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate one draw and scenario event by event.

    Returns
    -------
    (t_close, fate, capacity) : tuple of ndarray
        Real close day per deal (``inf`` while open), fate per deal (``WON``, ``LOST``,
        ``STALL`` or ``COLD``), slots at each month start (S, M) (``inf`` = unlimited).
    """
    env = simpy.Environment()
    n_seg = len(segments)
    h, t_end = timeline.start, timeline.end
    cyc = mult.cycle_length.tolist()
    cap_out = np.full((n_seg, timeline.months), np.inf)
    pools: list[CapacityPool | None] = [None] * n_seg
    if capacity is not None:
        hires = hire_days(capacity, segments, timeline)
        seg_rngs = rng.spawn(n_seg)
        for s, name in enumerate(segments):
            days, slots = capacity_schedule(
                capacity.reps_of(name),
                hires[s],
                capacity.max_open_deals_per_rep,
                capacity.ramp_months,
                capacity.attrition_per_year,
                t_end,
                seg_rngs[s],
            )
            pool = CapacityPool(env, float(slots[0]), capacity.patience_days)
            pools[s] = pool
            cap_out[s] = slots_at(days, slots, timeline.edges[:-1])
            for day, n in zip(days[1:].tolist(), slots[1:].tolist(), strict=True):
                env.timeout(day).callbacks.append(lambda _e, p=pool, n=n: p.set_capacity(n))

    seg = deals.segment.tolist()
    dur = deals.duration.tolist()
    hold = deals.hold.tolist()
    stalled = (deals.outcome == STALL).tolist()
    t_close = np.full(len(seg), np.inf)
    fate = deals.outcome.copy()

    def real(raw: float, c: float) -> float:
        return raw if raw < h else h + c * (raw - h)

    def begin(i: int, holds_slot: bool = True) -> None:
        now = env.now
        c = cyc[seg[i]]
        raw0 = now if now < h else h + (now - h) / c
        if not stalled[i]:
            t_close[i] = real(raw0 + dur[i], c)
        pool = pools[seg[i]]
        if pool is not None and holds_slot:
            rel = real(raw0 + hold[i], c)
            if rel < t_end:
                env.timeout(rel - now).callbacks.append(lambda _e, p=pool: p.release())

    def cold(i: int) -> None:
        t_close[i] = env.now
        fate[i] = COLD

    for i in range(deals.n_open):
        pool = pools[seg[i]]
        holds = pool is not None and hold[i] > 0
        if holds:
            pool.occupy()
        begin(i, holds)

    def arrive(i: int) -> None:
        pool = pools[seg[i]]
        if pool is None:
            begin(i)
        else:
            pool.request(lambda _w, i=i: begin(i), lambda i=i: cold(i))

    created = deals.created.tolist()
    for i in range(deals.n_open, len(seg)):
        if created[i] < t_end:
            env.timeout(created[i]).callbacks.append(lambda _e, i=i: arrive(i))
    env.run(until=t_end)
    return t_close, fate, cap_out
