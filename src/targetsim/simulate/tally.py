"""Month-by-month accounting of one draw: from each deal's fate to the projection's variables.

A deal is *open* at a month start ``E`` when it was created before ``E`` and has not closed
before ``E``; it *closes in month k* when its close time falls in ``[E_k, E_{k+1})``. With
these half-open bins every deal in the system at the horizon start or created in it is
counted exactly once as won, lost, gone cold or still open at the end (flow conservation).
"""

from __future__ import annotations

import numpy as np

from targetsim.simulate.sampling import LOST, WON, Deals
from targetsim.simulate.timeline import Timeline

#: Fate of a lead that waited longer than the scenario's patience for a free rep.
COLD = 3


def _bincount2(a: np.ndarray, b: np.ndarray, nb: int, na: int, w: np.ndarray | None = None):
    return np.bincount(a * nb + b, weights=w, minlength=na * nb).reshape(na, nb)


def tally(
    deals: Deals, t_close: np.ndarray, fate: np.ndarray, timeline: Timeline, n_seg: int, n_own: int
) -> dict[str, np.ndarray]:
    """Per-segment (and per-owner) monthly figures of one draw and scenario.

    Parameters
    ----------
    deals : Deals
        The sampled deals.
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
        open_value`` of shape (S, M), ``open_count_final, initial_open`` (S,),
        ``owner_bookings, owner_deals_won`` (O, M).
    """
    edges = timeline.edges
    m = timeline.months
    seg = deals.segment
    month = np.searchsorted(edges, t_close, side="right") - 1
    in_h = (month >= 0) & (month < m)
    out: dict[str, np.ndarray] = {}
    for name, code in (("deals_won", WON), ("deals_lost", LOST), ("went_cold", COLD)):
        sel = in_h & (fate == code)
        out[name] = _bincount2(seg[sel], month[sel], m, n_seg).astype(np.int64)
    won = in_h & (fate == WON)
    out["bookings"] = _bincount2(seg[won], month[won], m, n_seg, deals.value[won])

    born = np.searchsorted(edges, deals.created, side="right") - 1
    new = (born >= 0) & (born < m) & (deals.created >= edges[0])
    out["new_opportunities"] = _bincount2(seg[new], born[new], m, n_seg).astype(np.int64)

    # Open at edge k for k in [first edge after creation, last edge at or before the close].
    lo = np.minimum(born + 1, m + 1)
    hi = month + 1  # one past the last open edge
    keep = hi > lo
    s, lo, hi = seg[keep], lo[keep], hi[keep]
    v = deals.value[keep]
    diff_n = _bincount2(s, lo, m + 2, n_seg) - _bincount2(s, hi, m + 2, n_seg)
    diff_v = _bincount2(s, lo, m + 2, n_seg, v) - _bincount2(s, hi, m + 2, n_seg, v)
    open_n = np.cumsum(diff_n, axis=1)[:, : m + 1].round().astype(np.int64)
    open_v = np.cumsum(diff_v, axis=1)[:, : m + 1]
    out["open_count"] = open_n[:, :m]
    out["open_value"] = np.maximum(open_v[:, :m], 0.0)
    out["open_count_final"] = open_n[:, m]
    out["initial_open"] = open_n[:, 0]

    if n_own:
        sel = won & (deals.owner >= 0)
        o, mo = deals.owner[sel], month[sel]
        out["owner_bookings"] = _bincount2(o, mo, m, n_own, deals.value[sel])
        out["owner_deals_won"] = _bincount2(o, mo, m, n_own).astype(np.int64)
    return out
