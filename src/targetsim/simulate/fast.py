"""Vectorised engine (``fast``): every deal of a block of draws at once, no capacity limit.

Without capacity a deal starts being worked when it is created, so its close time is a
closed-form function of its sampled duration (:func:`close_times`); the month accounting is
one compiled pass over the block (:func:`targetsim.simulate.tally.tally`).
"""

from __future__ import annotations

import numpy as np

from targetsim.simulate.sampling import STALL, Block, Deals, Multipliers
from targetsim.simulate.timeline import Timeline, dilate, undilate


def close_times(deals: Deals | Block, mult: Multipliers, timeline: Timeline) -> np.ndarray:
    """Real close day of each deal worked from its creation (``inf`` for stalled deals)."""
    h = timeline.start
    c = mult.cycle_length[deals.segment]
    with np.errstate(invalid="ignore"):
        end = dilate(undilate(deals.created, h, c) + deals.duration, h, c)
    return np.where(deals.outcome == STALL, np.inf, end)


def run_fast(
    block: Block, mult: Multipliers, timeline: Timeline
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Close times, fates and capacity (all ``inf``, per draw) of a block under a scenario."""
    n_seg = len(mult.lead_volume)
    cap = np.full((len(block.n_open), n_seg, timeline.months), np.inf)
    return close_times(block, mult, timeline), block.outcome, cap
