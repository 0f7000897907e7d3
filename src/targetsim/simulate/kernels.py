"""Compiled inner loops of the simulator (Numba): a block of draws, deal by deal.

:func:`run_block` walks every deal of every draw of a block — the open pipeline, the
backlog's candidates, the new opportunities — and either writes them out (for the SimPy
engine) or closes them in closed form and counts them straight away (the vectorised
engine): nothing per deal is stored, a draw's tables and tallies stay in the processor's
cache. :func:`tally_block` counts deals closed by the SimPy engine with the same rules.
The rules are documented where they belong: :mod:`targetsim.simulate.sampling` (spawning,
backlog, values, random numbers), :mod:`targetsim.model.hazard_kernel` (fates and times),
:mod:`targetsim.simulate.timeline` (time dilation) and :mod:`targetsim.simulate.tally`
(the month accounting).

Written for the processor: helpers called once per deal take scalars or one or two arrays
(every array handed to a compiled function costs a few words of call, and inlining one
costs reference counting), tables are packed into single arrays, and no branch depends on
a coin flip where arithmetic can do.

Imported only when simulating: it costs the Numba import and, on first use after an
install, the compilation (cached on disk afterwards).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from targetsim.model.hazard_kernel import build_tables, hazard_one

WON, LOST, STALL, COLD = 0, 1, 2, 3
_LOW = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_SCALE = 2.0**-32


@njit(cache=True, nogil=True, inline="always")
def high(word):  # noqa: ANN001, ANN201
    """Uniform on [0, 1) from the high 32 bits of a random 64-bit word."""
    return (word >> _SHIFT) * _SCALE


@njit(cache=True, nogil=True, inline="always")
def low(word):  # noqa: ANN001, ANN201
    """Uniform on [0, 1) from the low 32 bits of a random 64-bit word."""
    return (word & _LOW) * _SCALE


@njit(cache=True, nogil=True, inline="always")
def close_time(created, duration, c, h0):  # noqa: ANN001, ANN201
    """Real close day of a deal worked from its creation (``inf`` if stalled: its duration).

    The raw clock runs at the real pace before the horizon start ``h0`` and ``1/c`` times
    as fast after it (:mod:`targetsim.simulate.timeline`).
    """
    raw0 = created if created < h0 else h0 + (created - h0) / c
    end = raw0 + duration
    return end if end < h0 else h0 + c * (end - h0)


@njit(cache=True, nogil=True)
def spawn_draw(k, layout, otab, p_seg, p_owner, p_age, raw, seg, owner, age, created, off):  # noqa: ANN001, ANN201
    """Segment, owner, age and creation day of draw ``k``'s rows, written at ``row - off``.

    Rows: the open pipeline (its ages; created 0), the backlog candidates and the new
    opportunities (age 0, sampled from their creation). A new deal's owner comes from the
    high half of its first word by Walker's alias method on the segment's owner shares
    (``otab`` from :func:`targetsim.simulate.sampling.owner_table`); what is left of that
    uniform within the chosen part of the column is uniform again, independent of the
    owner, and places the creation in its month piece.
    """
    start, counts, b_counts, lo, hi, b_lo, b_hi = layout
    n_seg = counts.shape[1]
    n_own = (otab.shape[1] - 1) // 4
    i = start[k]
    for q in range(p_seg.shape[0]):
        seg[i - off], owner[i - off], age[i - off], created[i - off] = (
            p_seg[q], p_owner[q], p_age[q], 0.0)
        i += 1
    for phase in range(2):
        cnt = b_counts if phase == 0 else counts
        t0, t1 = (b_lo, b_hi) if phase == 0 else (lo, hi)
        for s in range(n_seg):
            has_owner = otab[s, 4 * n_own] > 0.0
            for p in range(cnt.shape[2]):
                width = t1[p] - t0[p]
                for _ in range(cnt[k, s, p]):
                    x = high(raw[i, 0])
                    o = -1
                    if has_owner:
                        y = x * n_own
                        col = min(int(y), n_own - 1)
                        f = y - col
                        keep = otab[s, col]
                        if f < keep:
                            o, x = col, f * otab[s, 2 * n_own + col]
                        else:
                            o = int(otab[s, n_own + col])
                            x = (f - keep) * otab[s, 3 * n_own + col]
                    seg[i - off], owner[i - off], age[i - off] = s, o, 0.0
                    created[i - off] = t0[p] + x * width
                    i += 1


@njit(cache=True, nogil=True, inline="always")
def count(hist, own, lut, s, o, created, t, fate, value):  # noqa: ANN001, ANN201
    """One deal into its draw's histograms.

    ``hist`` (S, M + 2, M + 2, 4, 2): deals and their values by segment, month of creation
    and month of close (each shifted by one: 0 = before the horizon, ``M + 1`` = after it
    or never) and fate; ``own`` ((O + 1) * (M + 2) + 1, 2): won deals by owner and month of
    close (the last row takes every other deal, so that no branch is needed).
    """
    e_m = float(lut.shape[0] - 1)
    b = lut[int(min(created, e_m))] + 1
    c = lut[int(min(t, e_m))] + 1
    hist[s, b, c, fate, 0] += 1.0
    hist[s, b, c, fate, 1] += value
    m2 = hist.shape[1]
    k = (o + 1) * m2 + c if fate == WON else own.shape[0] - 1
    own[k, 0] += 1.0
    own[k, 1] += value


@njit(cache=True, nogil=True)
def derive(k, hist, own, out):  # noqa: ANN001, ANN201
    """Draw ``k``'s monthly figures from its histograms (see :mod:`.tally`)."""
    won, lost, cold, booked, new, open_n, open_v, own_booked, own_won = out
    n_seg, m2 = hist.shape[0], hist.shape[1]
    n_m = m2 - 2
    for s in range(n_seg):
        for b in range(m2):
            for c in range(m2):
                for f in range(4):
                    n = np.int64(hist[s, b, c, f, 0])
                    if n == 0:
                        continue
                    v = hist[s, b, c, f, 1]
                    if 1 <= c <= n_m:
                        if f == WON:
                            won[k, s, c - 1] += n
                            booked[k, s, c - 1] += v
                        elif f == LOST:
                            lost[k, s, c - 1] += n
                        elif f == COLD:
                            cold[k, s, c - 1] += n
                    if 1 <= b <= n_m:
                        new[k, s, b - 1] += n
                    # Open at the month starts from the first after its creation (index b)
                    # to the last at or before its close (index c - 1).
                    first = min(b, n_m + 1)
                    if c > first:
                        open_n[k, s, first] += n
                        open_n[k, s, c] -= n
                        open_v[k, s, first] += v
                        open_v[k, s, c] -= v
        for m in range(1, n_m + 2):
            open_n[k, s, m] += open_n[k, s, m - 1]
            open_v[k, s, m] += open_v[k, s, m - 1]
    for o in range(own_won.shape[1]):
        for c in range(1, n_m + 1):
            own_won[k, o, c - 1] = np.int64(own[(o + 1) * m2 + c, 0])
            own_booked[k, o, c - 1] = own[(o + 1) * m2 + c, 1]


def histograms(n_seg: int, n_own: int, months: int) -> tuple[np.ndarray, np.ndarray]:
    """Zeroed histograms of one draw (see :func:`count`)."""
    return (np.zeros((n_seg, months + 2, months + 2, 4, 2)),
            np.zeros(((n_own + 1) * (months + 2) + 1, 2)))


@njit(cache=True, nogil=True)
def tally_block(start, seg, owner, created, t_close, fate, value, lut, hist, own, out):  # noqa: ANN001, ANN201
    """Count deals whose close times and fates are given (the SimPy engine's)."""
    for k in range(start.shape[0] - 1):
        hist[:] = 0.0
        own[:] = 0.0
        for i in range(start[k], start[k + 1]):
            count(hist, own, lut, seg[i], owner[i], created[i], t_close[i], fate[i], value[i])
        derive(k, hist, own, out)


@njit(cache=True, nogil=True)
def run_block(layout, otab, pipe, raw, scen, hazard, given, slices, h0, lut, materialise,
              deals, hist, own, out):  # noqa: ANN001, ANN201
    """Sample every deal of a block of draws; write them out or close and count them.

    Parameters
    ----------
    layout : tuple
        ``start`` (K + 1) offsets of each draw's rows in ``raw`` ([open | backlog | new]);
        ``counts`` (K, S, P) new deals per arrival piece ``[lo, hi)``; ``b_counts``
        (K, S, B) backlog candidates per backlog month ``[b_lo, b_hi)``.
    otab : ndarray (S, 4 O + 1)
        Alias tables of the owner shares (:func:`spawn_draw`).
    pipe : tuple
        The open pipeline: segment, owner, age, amount (NaN = draw it).
    raw : ndarray of uint64 (N, 2)
        Each row's random words: the high half of the first places the deal (owner,
        creation), the low half decides its fate; the second word's high half its time,
        its low half its value.
    scen : tuple
        The scenario's win, deal-size and cycle-length factors per segment.
    hazard : tuple
        ``(use, hw, hl, own_mult, edges, width, hold_days)``: when ``use``, fates from the
        hazard component (:mod:`targetsim.model.hazard_kernel`), per draw of the block.
    given : tuple
        Otherwise ``(fate, remaining, hold, value)`` per row, sampled by the components from
        the same uniforms (``value`` used whenever ``slices`` is empty).
    slices : ndarray (K, S, Q)
        Empirical size slices per draw of the block (empty: values given).
    h0 : float
        Horizon start (day).
    lut : ndarray of int
        Month of each whole day (-1 before the horizon, ``M`` from its end).
    materialise : bool
        Write the deals to ``deals`` (the SimPy engine) instead of counting into ``out``.
    deals : tuple
        ``out_start`` (K + 1), ``n_open`` (K), then segment, owner, created, fate,
        duration, hold, value per deal.
    hist, own : ndarray
        Scratch histograms (:func:`histograms`).
    out : tuple
        The tallies (see :func:`targetsim.simulate.tally.empty_tallies`).
    """
    # Tuples are unpacked here once: handing a tuple of arrays to a helper inside the loop
    # costs reference counting on every call.
    start, counts, b_counts = layout[0], layout[1], layout[2]
    p_seg, p_owner, p_age, p_amount = pipe
    win, deal_size, cycle = scen
    use_hazard, hw, hl, own_mult, hz_edges, width, hold_days = hazard
    g_fate, g_rem, g_hold, g_value = given
    out_start, n_open, o_seg, o_owner, o_created, o_fate, o_dur, o_hold, o_value = deals
    n_k, n_seg = counts.shape[0], counts.shape[1]
    n_p, n_q = p_seg.shape[0], slices.shape[2]
    n_cell = own_mult.shape[1] + 1
    tab = np.empty((n_seg * n_cell, width))
    rows = 0
    for k in range(n_k):
        rows = max(rows, start[k + 1] - start[k])
    seg, owner = np.empty(rows, dtype=np.int64), np.empty(rows, dtype=np.int64)
    age, created = np.empty(rows), np.empty(rows)
    w = 0
    for k in range(n_k):
        if use_hazard:
            build_tables(hw[k], hl[k], own_mult[k], hz_edges, win, tab)
        spawn_draw(k, layout, otab, p_seg, p_owner, p_age, raw, seg, owner, age, created,
                   start[k])
        if materialise:
            out_start[k] = w
        else:
            hist[:] = 0.0
            own[:] = 0.0
        n_back = 0
        for s in range(n_seg):
            for b in range(b_counts.shape[2]):
                n_back += b_counts[k, s, b]
        for q in range(start[k + 1] - start[k]):
            i = start[k] + q
            s, o, a, c = seg[q], owner[q], age[q], created[q]
            w0, w1 = raw[i, 0], raw[i, 1]
            if use_hazard:
                fate, dur = hazard_one(tab, hz_edges, s * n_cell + o + 1, a, win[s], low(w0),
                                       high(w1))
                hold = max(hold_days[k, s] - a, 0.0) if fate == STALL else dur
            else:
                fate, dur, hold = g_fate[i], g_rem[i], g_hold[i]
            if q < n_p and np.isfinite(p_amount[q]):
                v = p_amount[q]
            elif n_q:
                v = slices[k, s, min(int(low(w1) * n_q), n_q - 1)]
            else:
                v = g_value[i]
            v *= deal_size[s]
            if n_p <= q < n_p + n_back:
                # A backlog candidate: kept when still open at as_of, where it joins the
                # open pipeline with what is left of its duration and hold.
                if fate != STALL and not dur > -c:
                    continue
                dur, hold, c = dur + c, max(hold + c, 0.0), 0.0
            if materialise:
                o_seg[w], o_owner[w], o_created[w], o_fate[w] = s, o, c, fate
                o_dur[w], o_hold[w], o_value[w] = dur, hold, v
                w += 1
                if q < n_p + n_back:
                    n_open[k] = w - out_start[k]
            else:
                count(hist, own, lut, s, o, c, close_time(c, dur, cycle[s], h0), fate, v)
        if not materialise:
            derive(k, hist, own, out)
    if materialise:
        out_start[n_k] = w


@njit(cache=True, nogil=True)
def spawn_rows(layout, otab, pipe, raw, j, seg, owner, age, created):  # noqa: ANN001, ANN201
    """Every row's draw, segment, owner, age and creation day, as :func:`run_block` has them.

    For components sampled outside the compiled loop, which need the deals first.
    """
    start = layout[0]
    p_seg, p_owner, p_age = pipe[0], pipe[1], pipe[2]
    for k in range(start.shape[0] - 1):
        spawn_draw(k, layout, otab, p_seg, p_owner, p_age, raw, seg, owner, age, created, 0)
        for i in range(start[k], start[k + 1]):
            j[i] = k


@njit(cache=True, nogil=True)
def split_uniforms(raw, out):  # noqa: ANN001, ANN201
    """Every row's fate, time and value uniforms (N, 3), for components sampled outside."""
    for i in range(raw.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = low(raw[i, 0]), high(raw[i, 1]), low(raw[i, 1])
