"""Sales capacity as a SimPy resource: slots held by deals, FIFO queue, reneging, changing size.

**Slots.** A segment's capacity at time ``t`` is ``floor(Σ_reps ramp(t) × max_open_deals_per_rep)``
(evaluated daily): reps present at the start are fully ramped; a hire joins on the first day
of its month and ramps linearly from 0 to 1 over ``ramp_months`` (30.4375 days each); every rep
(hires included) leaves after an exponential time of rate ``attrition_per_year`` (a Poisson
process per rep, drawn from the draw's own stream) and is not replaced.

**Queue.** A deal holds one slot from when it starts being worked until it closes (or, for a
stalled deal, until its slot timeout: see :mod:`targetsim.simulate.sampling`). A deal that
finds no free slot waits first-in-first-out; a lead that has waited ``patience_days`` goes
cold and counts as lost (``went_cold``); ``patience_days: null`` means leads wait for ever.
When capacity shrinks below the slots in use (attrition), no deal is dropped: new deals
simply wait until enough slots are released. The open pipeline occupies its slots first,
even beyond capacity.

:class:`CapacityPool` is the component the engine uses; it also keeps the time-weighted
statistics that the queueing-theory tests compare with Erlang C and Little's law.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np
import simpy

from targetsim.errors import ConfigError

#: Days per month of a rep's ramp.
DAYS_PER_MONTH = 30.4375


class CapacityPool:
    """A pool of ``capacity`` slots with a FIFO queue whose waiters renege after ``patience``.

    Callback-based (no SimPy process per deal) so that millions of deals stay affordable.

    Parameters
    ----------
    env : simpy.Environment
    capacity : float
        Initial number of slots (``inf`` = unlimited).
    patience : float or None
        Days a waiter stays in the queue before going cold; ``None`` = for ever.

    Attributes
    ----------
    arrivals, waited, reneged, served : int
        Requests made, requests that had to queue, waiters gone cold, requests granted.
    wait_total : float
        Sum of the waits of granted requests (those granted at once count 0).
    area_queue, area_busy : float
        Time integrals of the number waiting and the number of slots in use.
    """

    def __init__(self, env: simpy.Environment, capacity: float, patience: float | None) -> None:
        if capacity < 0:
            raise ConfigError(f"capacity must be >= 0, got {capacity}")
        if patience is not None and not patience > 0:
            raise ConfigError(f"patience must be > 0, got {patience}")
        self.env = env
        self.capacity = capacity
        self.patience = patience
        self.in_use = 0
        self.waiting = 0
        self._queue: deque[list] = deque()
        self._last = env.now
        self.arrivals = self.waited = self.reneged = self.served = 0
        self.wait_total = 0.0
        self.area_queue = 0.0
        self.area_busy = 0.0

    def _tick(self) -> None:
        now = self.env.now
        dt = now - self._last
        if dt:
            self.area_queue += dt * self.waiting
            self.area_busy += dt * self.in_use
            self._last = now

    def request(
        self, on_grant: Callable[[float], None], on_cold: Callable[[], None] | None = None
    ) -> None:
        """Ask for a slot: ``on_grant(wait)`` when granted, ``on_cold()`` if the lead reneges."""
        self._tick()
        self.arrivals += 1
        if self.waiting == 0 and self.in_use < self.capacity:
            self.in_use += 1
            self.served += 1
            on_grant(0.0)
            return
        entry = [on_grant, on_cold, self.env.now, True]
        self._queue.append(entry)
        self.waiting += 1
        self.waited += 1
        if self.patience is not None:
            ev = self.env.timeout(self.patience)
            ev.callbacks.append(lambda _ev, e=entry: self._renege(e))

    def try_acquire(self) -> bool:
        """Take a free slot at once if there is one and nobody waits (the common fast path)."""
        if self.waiting == 0 and self.in_use < self.capacity:
            self._tick()
            self.arrivals += 1
            self.in_use += 1
            self.served += 1
            return True
        return False

    def on_release(self, _event: object = None) -> None:
        """:meth:`release` as an event callback."""
        self.release()

    def _renege(self, entry: list) -> None:
        if not entry[3]:
            return
        self._tick()
        entry[3] = False
        self.waiting -= 1
        self.reneged += 1
        if entry[1] is not None:
            entry[1]()

    def occupy(self) -> None:
        """Take a slot unconditionally (the open pipeline, already being worked)."""
        self._tick()
        self.in_use += 1

    def release(self) -> None:
        """Free a slot and serve the queue."""
        self._tick()
        self.in_use -= 1
        self._dispatch()

    def set_capacity(self, capacity: float) -> None:
        """Change the number of slots (hires, ramp, attrition) and serve the queue."""
        self._tick()
        self.capacity = capacity
        self._dispatch()

    def _dispatch(self) -> None:
        while self.waiting and self.in_use < self.capacity:
            entry = self._queue.popleft()
            if not entry[3]:
                continue
            entry[3] = False
            self.waiting -= 1
            self.in_use += 1
            self.served += 1
            wait = self.env.now - entry[2]
            self.wait_total += wait
            entry[0](wait)

    def finish(self) -> None:
        """Bring the time integrals up to ``env.now`` (call once the run is over)."""
        self._tick()


def capacity_schedule(
    reps: int,
    hires: list[tuple[float, int]],
    max_open_deals_per_rep: float,
    ramp_months: float,
    attrition_per_year: float,
    t_end: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Slots of one segment over ``[0, t_end]``, as the days where the count changes.

    Parameters
    ----------
    reps : int
        Fully ramped headcount at day 0.
    hires : list of (day, count)
        Hires joining on ``day``.
    max_open_deals_per_rep, ramp_months, attrition_per_year : float
        See the module docstring.
    t_end : float
        Last day simulated.
    rng : numpy.random.Generator
        Stream of this draw and segment (attrition times).

    Returns
    -------
    (days, slots) : tuple of ndarray
        ``slots[i]`` holds from ``days[i]`` (``days[0] == 0``) until the next change.
    """
    start = np.concatenate(
        [np.full(reps, -np.inf), np.repeat([float(t) for t, _ in hires], [n for _, n in hires])]
    ).astype(float)
    joined = np.maximum(start, 0.0)
    if attrition_per_year > 0:
        leave = joined + rng.exponential(365.25 / attrition_per_year, size=len(start))
    else:
        leave = np.full(len(start), np.inf)
    days = np.arange(0.0, math.ceil(t_end) + 1.0)
    ramp = ramp_months * DAYS_PER_MONTH
    with np.errstate(invalid="ignore", divide="ignore"):
        since = days[None, :] - start[:, None]
        frac = np.clip(since / ramp, 0.0, 1.0) if ramp > 0 else (since >= 0).astype(float)
    frac = np.where(np.isneginf(start)[:, None], 1.0, frac)
    frac = np.where(days[None, :] < leave[:, None], frac, 0.0)
    slots = np.floor(frac.sum(axis=0) * max_open_deals_per_rep + 1e-9)
    change = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1]])
    return days[change], slots[change]


def slots_at(days: np.ndarray, slots: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Slots available at times ``t`` from a schedule of :func:`capacity_schedule`."""
    return slots[np.searchsorted(days, t, side="right") - 1]
