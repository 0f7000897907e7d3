"""Month-by-month accounting of a block of draws: from each deal's fate to the projection.

A deal is *open* at a month start ``E`` when it was created before ``E`` and has not closed
before ``E``; it *closes in month k* when its close time falls in ``[E_k, E_{k+1})``. With
these half-open bins every deal in the system at the horizon start or created in it is
counted exactly once as won, lost, gone cold or still open at the end (flow conservation).

Each draw's deals are counted into histograms by (segment, month of creation, month of
close, fate) — counts and values — and by (owner, month of close) for won deals; the
monthly figures follow from them (:mod:`targetsim.simulate.kernels`). Both engines count
with the same compiled rules.
"""

from __future__ import annotations

import numpy as np

from targetsim.simulate.sampling import Block
from targetsim.simulate.timeline import Timeline

#: Fate of a lead that waited longer than the scenario's patience for a free rep.
COLD = 3


def empty_tallies(n_k: int, n_seg: int, n_own: int, months: int) -> tuple[np.ndarray, ...]:
    """Zeroed tallies of ``n_k`` draws, in the order the compiled loops fill them.

    ``won, lost, cold, booked, new`` (K, S, M), ``open_n, open_v`` (K, S, M + 2) (deals open
    at each month start, then at the end, then a spare), ``own_booked, own_won`` (K, O, M).
    """
    def count(*shape: int) -> np.ndarray:
        return np.zeros(shape, dtype=np.int64)

    m = months
    return (count(n_k, n_seg, m), count(n_k, n_seg, m), count(n_k, n_seg, m),
            np.zeros((n_k, n_seg, m)), count(n_k, n_seg, m), count(n_k, n_seg, m + 2),
            np.zeros((n_k, n_seg, m + 2)), np.zeros((n_k, n_own, m)), count(n_k, n_own, m))


def tallies_dict(out: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
    """The projection's variables from :func:`empty_tallies` once filled."""
    won, lost, cold, booked, new, open_n, open_v, own_booked, own_won = out
    m = won.shape[2]
    res = {
        "deals_won": won, "deals_lost": lost, "went_cold": cold, "bookings": booked,
        "new_opportunities": new, "open_count": open_n[:, :, :m],
        # Values enter and leave the running sum: rounding may leave a speck below 0.
        "open_value": np.maximum(open_v[:, :, :m], 0.0),
        "open_count_final": open_n[:, :, m], "initial_open": open_n[:, :, 0],
    }
    if own_won.shape[1]:
        res["owner_bookings"], res["owner_deals_won"] = own_booked, own_won
    return res


def tally(
    block: Block, t_close: np.ndarray, fate: np.ndarray, timeline: Timeline, n_seg: int,
    n_own: int,
) -> dict[str, np.ndarray]:
    """Per-segment (and per-owner) monthly figures of each draw of a block, one scenario.

    Parameters
    ----------
    block : Block
        The sampled deals of ``K`` draws.
    t_close : ndarray
        Real day each deal closed (won, lost or went cold); ``inf`` while open.
    fate : ndarray of int
        ``WON``, ``LOST``, ``STALL`` (never closes) or :data:`COLD`.
    timeline : Timeline
    n_seg, n_own : int
        Numbers of segments and owners.

    Returns
    -------
    dict of ndarray
        ``bookings, deals_won, deals_lost, went_cold, new_opportunities, open_count,
        open_value`` of shape (K, S, M), ``open_count_final, initial_open`` (K, S),
        ``owner_bookings, owner_deals_won`` (K, O, M) when there are owners.
    """
    from targetsim.simulate.kernels import histograms, tally_block

    out = empty_tallies(len(block.n_open), n_seg, n_own, timeline.months)
    hist, own = histograms(n_seg, n_own, timeline.months)
    tally_block(block.start, block.segment, block.owner, block.created,
                np.ascontiguousarray(t_close, dtype=float),
                np.ascontiguousarray(fate, dtype=np.int64), block.value, day_months(timeline),
                hist, own, out)
    return tallies_dict(out)


def day_months(timeline: Timeline) -> np.ndarray:
    """Month of each whole day from ``as_of`` to the horizon end (-1 before it, ``M`` at it).

    Edges are whole days from ``as_of``, so a time's month is the month of its whole part.
    """
    edges = np.asarray(timeline.edges, dtype=float)
    return np.searchsorted(edges, np.arange(int(edges[-1]) + 1), side="right") - 1
