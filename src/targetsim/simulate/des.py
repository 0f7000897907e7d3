"""SimPy engine (``des``): the reference, with exact capacity and queueing semantics.

The deals of a draw come from :meth:`targetsim.simulate.sampling.DealSampler.sample` (the
deals the vectorised engine closes, from the same stream); this engine decides *when* each
deal starts being
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
    timeout = env.timeout

    def begin(i: int, holds_slot: bool = True) -> None:
        # Work starts now: close (and slot release) after the raw duration, time-dilated
        # by the scenario's cycle_length past the horizon start.
        now = env.now
        s = seg[i]
        c = cyc[s]
        raw0 = now if now < h else h + (now - h) / c
        if not stalled[i]:
            end = raw0 + dur[i]
            t_close[i] = end if end < h else h + c * (end - h)
        pool = pools[s]
        if pool is not None and holds_slot:
            rel = raw0 + hold[i]
            rel = rel if rel < h else h + c * (rel - h)
            if rel < t_end:  # max: the round trip through the dilation may dip below now
                timeout(max(rel - now, 0.0)).callbacks.append(pool.on_release)

    def cold(i: int) -> None:
        t_close[i] = env.now
        fate[i] = COLD

    for i in range(deals.n_open):
        pool = pools[seg[i]]
        holds = pool is not None and hold[i] > 0
        if holds:
            pool.occupy()
        begin(i, holds)

    created = deals.created.tolist()
    order = sorted(range(deals.n_open, len(seg)), key=created.__getitem__)

    def arrivals():
        # One process walks the new deals in creation order (a small event heap).
        for i in order:
            t = created[i]
            if t >= t_end:
                return
            if t > env.now:
                yield timeout(t - env.now)
            pool = pools[seg[i]]
            if pool is None or pool.try_acquire():
                begin(i)
            else:
                pool.request(lambda _w, i=i: begin(i), lambda i=i: cold(i))

    env.process(arrivals())
    env.run(until=t_end)
    return t_close, fate, cap_out
