"""Vectorised engine (``fast``): every deal of a block of draws at once, no capacity limit.

Without capacity a deal starts being worked when it is created, so its close time is a
closed-form function of its sampled duration (:func:`close_times`). The deals of a block
are sampled, closed and counted in one compiled pass that keeps nothing per deal
(:meth:`~targetsim.simulate.sampling.DealSampler.tally`): the same deals the SimPy engine
receives, so that without capacity the two engines give the same projection.
"""

from __future__ import annotations

import numpy as np

from targetsim.simulate.sampling import Block, Deals, DealSampler, Multipliers
from targetsim.simulate.timeline import Timeline


def close_times(deals: Deals | Block, mult: Multipliers, timeline: Timeline) -> np.ndarray:
    """Real close day of each deal worked from its creation (``inf`` for stalled deals).

    The rule the engine applies deal by deal (:func:`targetsim.simulate.kernels.close_time`).
    """
    from targetsim.simulate.kernels import close_times as kernel

    out = np.empty(len(deals.segment))
    kernel(np.ascontiguousarray(deals.created, dtype=float),
           np.ascontiguousarray(deals.duration, dtype=float),
           np.ascontiguousarray(deals.segment, dtype=np.int64), mult.cycle_length,
           timeline.start, out)
    return out


def run_fast(
    sampler: DealSampler, draws: np.ndarray, mult: Multipliers,
    rngs: list[np.random.Generator], outcomes=None,  # noqa: ANN001
) -> dict[str, np.ndarray]:
    """The projection's variables of ``draws`` (a block) under one scenario.

    Capacity is unlimited: ``capacity`` is ``inf`` everywhere.
    """
    out = sampler.tally(draws, mult, rngs, outcomes)
    out["capacity"] = np.full((len(draws), len(mult.lead_volume), sampler.timeline.months),
                              np.inf)
    return out
