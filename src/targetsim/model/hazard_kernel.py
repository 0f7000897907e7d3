"""Compiled per-deal rule of :class:`~targetsim.model.outcomes.HazardOutcome` (Numba).

Per draw, :func:`build_tables` lays out what sampling needs for every *cell* (a segment and
an owner, ``cell = segment * (O + 1) + owner + 1``, owner -1 = none) in one row: the
cumulative incidences of a win and of a loss at each bin edge, per bin the coefficients of
the closed-form inverse inside it, and the shares of a new deal under the scenario.

:func:`hazard_one` samples a deal still open at age ``a`` (0 for a new deal): it is won,
lost or stalls with the cell's incidences beyond ``a`` divided by the survival to ``a``,
the scenario's win factor rescaling the win share as
:func:`~targetsim.model.outcomes.scale_win` does; its close is the inverse of the
cumulative incidence of that fate beyond ``a`` — the bin by bisection, the day inside it in
closed form, the hazard being constant in a bin. Two uniforms per deal, one for the fate and
one for the time, so that a deal won under two win factors closes on the same day under
both (common random numbers across scenarios).

The loops are written for the processor: no data-dependent branch where the outcome is a
coin flip (the fate, the bisection), a draw's tables in one array small enough to stay in
cache.

Imported only when deals are sampled: it costs the Numba import and, on first use after an
install, the compilation (cached on disk afterwards).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

WON, LOST, STALL = 0, 1, 2


@njit(cache=True, nogil=True, error_model="numpy")
def padded(n_bins: int) -> int:
    """Length of a cumulative table row: the ``n_bins + 1`` edges, at least one ``inf`` (which
    stops every search), padded to a power of two."""
    p = 2
    while p < n_bins + 2:
        p *= 2
    return p


def table_width(n_bins: int) -> int:
    """Length of a cell's row in the tables of :func:`build_tables`."""
    return 2 * padded(n_bins) + 8 * n_bins + 2


@njit(cache=True, nogil=True, error_model="numpy")
def build_tables(hw, hl, own_mult, edges, factor, tab, guide):  # noqa: ANN001, ANN201
    """One draw's sampling tables, a row per cell, under the win factors (filled in place).

    Parameters
    ----------
    hw, hl : ndarray (S, J)
        Hazards of a win / a loss per bin, no owner effect.
    own_mult : ndarray (O,)
        Each owner's factor on the hazard of winning.
    edges : ndarray (J + 1,)
    factor : ndarray (S,)
        The scenario's win factor per segment.
    tab : ndarray (R, W)
        Per cell (``W`` from :func:`table_width`, ``L`` from :func:`padded`):
        ``[0, L)`` the cumulative incidence of a win at each edge from creation, then inf;
        ``[L, 2L)`` the same for a loss; then per fate and bin ``1 / (survival to the bin *
        share of that fate)`` (0 where the bin holds no such event) and ``1 / hazard``
        (0 where none); then per bin the total hazard, the survival to its start and the
        shares of the hazard that are a win and a loss (a deal part-way through a bin);
        last the thresholds of a new deal (:func:`scaled`).
    guide : ndarray of int (2 R, L)
        Per cell and fate, for each quantile ``g / L`` of the incidence, the bin it falls
        in: where the search for a new deal's bin starts.
    """
    n_seg, n_bin = hw.shape
    n_cell = own_mult.shape[0] + 1
    pad = (tab.shape[1] - 8 * n_bin - 2) // 2
    coef, part, last = 2 * pad, 2 * pad + 4 * n_bin, 2 * pad + 8 * n_bin
    n_guide = guide.shape[1]
    for s in range(n_seg):
        for c in range(n_cell):
            r = s * n_cell + c
            m = 1.0 if c == 0 else own_mult[c - 1]
            alive, cw, cl = 1.0, 0.0, 0.0
            tab[r, 0] = 0.0
            tab[r, pad] = 0.0
            for b in range(n_bin):
                a, lo = hw[s, b] * m, hl[s, b]
                tot = a + lo
                em = math.expm1(-tot * (edges[b + 1] - edges[b]))
                inv_tot = 1.0 / tot if tot > 0.0 else 0.0
                share_w, share_l = a * inv_tot, lo * inv_tot
                dw, dl = alive * share_w, alive * share_l
                tab[r, coef + 2 * b] = 1.0 / dw if dw > 0.0 else 0.0
                tab[r, coef + 2 * b + 1] = inv_tot
                tab[r, coef + 2 * (n_bin + b)] = 1.0 / dl if dl > 0.0 else 0.0
                tab[r, coef + 2 * (n_bin + b) + 1] = inv_tot
                tab[r, part + 4 * b] = tot
                tab[r, part + 4 * b + 1] = alive
                tab[r, part + 4 * b + 2] = share_w
                tab[r, part + 4 * b + 3] = share_l
                cw -= dw * em
                cl -= dl * em
                tab[r, b + 1] = cw
                tab[r, pad + b + 1] = cl
                alive *= 1.0 + em
            for k in range(n_bin + 1, pad):
                tab[r, k] = np.inf
                tab[r, pad + k] = np.inf
            tab[r, last], tab[r, last + 1] = scaled(tab[r, n_bin], tab[r, pad + n_bin],
                                                    factor[s])
            for k in range(2):
                # Bin by bin, the guide entries whose quantile lies below the bin's upper
                # edge (a run per bin: no branch on each entry).
                off, g = k * pad, 0
                total = tab[r, off + n_bin]
                for b in range(n_bin - 1):
                    top = tab[r, off + b + 1]
                    while g < n_guide and g / n_guide * total < top:
                        guide[2 * r + k, g] = b
                        g += 1
                guide[2 * r + k, g:] = n_bin - 1


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def scaled(tw, tl, f):  # noqa: ANN001, ANN201
    """Thresholds (P(won), P(won or lost)) after the win factor ``f`` (capped at 1).

    Lost and stall share the rest in their original ratio; with no loss hazard left, what
    is not won stalls.
    """
    ts = min(max(1.0 - tw - tl, 0.0), 1.0)
    nw = min(1.0, tw * f)
    rest = tl + ts
    nl = tl * (1.0 - nw) / rest if rest > 0.0 else 1.0 - nw
    if not tl > 0.0:
        nl = 0.0
    return nw, nw + nl


@njit(cache=True, nogil=True, error_model="numpy")
def hazard_rows(tab, guide, edges, cell, age, b0, seg, factor, u_fate, u_time, fate, remaining):  # noqa: ANN001, ANN201
    """Fate and remaining days (``inf`` if it stalls) of deals open at ``age``, one draw.

    ``tab`` and ``guide`` from :func:`build_tables`; per deal its cell, age, bin of the age
    (:func:`age_bins`), segment, and two uniforms; ``factor`` (S,) the scenario's win
    factor (a new deal's thresholds, ``age == 0``, are in the table). Outputs in place.
    Each deal by :func:`hazard_one`.
    """
    for j in range(cell.shape[0]):
        fate[j], remaining[j] = hazard_one(tab, guide, edges, cell[j], age[j], b0[j],
                                           factor[seg[j]], u_fate[j], u_time[j])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def hazard_one(tab, guide, edges, r, a, start, factor, u_fate, u_time):  # noqa: ANN001, ANN201
    """Fate and remaining days (``inf`` if it stalls) of one deal open at age ``a``.

    ``r`` its cell (row of ``tab`` and ``guide`` from :func:`build_tables`), ``start`` the
    bin of its age (:func:`age_bins`), ``factor`` its segment's win factor (a new deal's
    thresholds, ``a == 0``, are in the table), two uniforms. Written for the processor: no
    branch on a coin flip (the fate, the bisection), the bisection of a new deal started
    from the guide.
    """
    n_bin = edges.shape[0] - 1
    pad = (tab.shape[1] - 8 * n_bin - 2) // 2
    coef, part, last = 2 * pad, 2 * pad + 4 * n_bin, 2 * pad + 8 * n_bin
    n_guide = guide.shape[1]
    if a == 0.0:
        start, base_w, base_l = 0, 0.0, 0.0
        p_w, p_wl = tab[r, last], tab[r, last + 1]
    else:
        if start >= n_bin:  # older than anything that ever closed: never closes
            return STALL, np.inf
        h, s0 = tab[r, part + 4 * start], tab[r, part + 4 * start + 1]
        into = -math.expm1(-h * (a - edges[start]))
        alive = s0 * (1.0 - into)
        base_w = tab[r, start] + s0 * tab[r, part + 4 * start + 2] * into
        base_l = tab[r, pad + start] + s0 * tab[r, part + 4 * start + 3] * into
        if not alive > 0.0:
            return STALL, np.inf
        inv = 1.0 / alive
        p_w, p_wl = scaled(max((tab[r, n_bin] - base_w) * inv, 0.0),
                           max((tab[r, pad + n_bin] - base_l) * inv, 0.0), factor)
    u = u_fate
    f = np.int64(u >= p_w) + np.int64(u >= p_wl)
    k = min(f, 1)  # a stalled deal's time is worked out on the loss table, then dropped
    base = base_l if k else base_w
    off = k * pad
    total = tab[r, off + n_bin]
    x = base + u_time * (total - base)
    if a == 0.0:
        # The guide's bin for the quantile, then a step or two up.
        b = guide[2 * r + k, min(int(u_time * n_guide), n_guide - 1)]
        if tab[r, off + b] > x:  # the product rounded up onto the next entry
            b -= 1
        b += np.int64(tab[r, off + b + 1] <= x)
        b += np.int64(tab[r, off + b + 1] <= x)
        while tab[r, off + b + 1] <= x:
            b += 1
    else:
        # Bisection for the last edge at or below x, halvings unrolled and taken
        # arithmetically; rows are padded with inf.
        i = 0
        step = pad // 2
        while step > 64:  # more bins than any grid the model builds
            if tab[r, off + i + step] <= x:
                i += step
            step >>= 1
        if step >= 64:
            i += 64 * np.int64(tab[r, off + i + 64] <= x)
        if step >= 32:
            i += 32 * np.int64(tab[r, off + i + 32] <= x)
        if step >= 16:
            i += 16 * np.int64(tab[r, off + i + 16] <= x)
        if step >= 8:
            i += 8 * np.int64(tab[r, off + i + 8] <= x)
        if step >= 4:
            i += 4 * np.int64(tab[r, off + i + 4] <= x)
        if step >= 2:
            i += 2 * np.int64(tab[r, off + i + 2] <= x)
        b = i + np.int64(tab[r, off + i + 1] <= x)
    if b >= n_bin:  # x rounded onto the total: the last bin that holds any mass
        b = n_bin - 1
        while b > start and tab[r, off + b] >= total:
            b -= 1
    cb = coef + 2 * (k * n_bin + b)
    q = min((x - tab[r, off + b]) * tab[r, cb], 1.0)
    tau = min(-math.log1p(-q) * tab[r, cb + 1], edges[b + 1] - edges[b])
    return f, (np.inf if f == STALL else max(edges[b] + tau - a, 0.0))


def age_bins(edges: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Bin of each age (``edges[b] <= age < edges[b + 1]``; ``J`` from the last edge on)."""
    return np.searchsorted(edges, age, side="right") - 1 if len(age) else np.zeros(0, int)


@njit(cache=True, nogil=True, error_model="numpy")
def hazard_sample(
    hw, hl, own_mult, edges, width, hold_days, j, cell, seg, age, b0, factor, u_fate, u_time,
    fate, remaining, hold,
):  # noqa: ANN001, ANN201
    """Fate, remaining days and slot hold of deals grouped by draw ``j`` (sorted).

    ``hw, hl`` (D, S, J), ``own_mult`` (D, O) and ``hold_days`` (D, S) per draw; ``width``
    from :func:`table_width`; ``b0`` from :func:`age_bins`; ``factor`` (S,) the scenario's
    win factor. Outputs in place.
    """
    n_seg, n_bin = hw.shape[1], hw.shape[2]
    n_cell = n_seg * (own_mult.shape[1] + 1)
    tab = np.empty((n_cell, width))
    guide = np.empty((2 * n_cell, padded(n_bin)), dtype=np.int64)
    lo = 0
    while lo < j.shape[0]:
        d = j[lo]
        hi = lo
        while hi < j.shape[0] and j[hi] == d:
            hi += 1
        build_tables(hw[d], hl[d], own_mult[d], edges, factor, tab, guide)
        hazard_rows(tab, guide, edges, cell[lo:hi], age[lo:hi], b0[lo:hi], seg[lo:hi], factor,
                    u_fate[lo:hi], u_time[lo:hi], fate[lo:hi], remaining[lo:hi])
        for i in range(lo, hi):
            hold[i] = max(hold_days[d, seg[i]] - age[i], 0.0) if fate[i] == STALL else (
                remaining[i])
        lo = hi
