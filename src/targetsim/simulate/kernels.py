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
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from targetsim.model.hazard_kernel import build_tables, hazard_rows, padded

WON, LOST, STALL, COLD = 0, 1, 2, 3
_LOW = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_SCALE = 2.0**-32


@intrinsic
def _mul_high(typingctx, a, b):  # noqa: ANN001, ANN202
    """High 64 bits of the 128-bit product of two 64-bit words (one machine multiply)."""
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        wide = ir.IntType(128)
        prod = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        return builder.trunc(builder.lshr(prod, ir.Constant(wide, 64)), ir.IntType(64))

    return sig, codegen


_MULT_HI = np.uint64(2549297995355413924)
_MULT_LO = np.uint64(4865540595714422341)
_ROT = np.uint64(58)
_BITS = np.uint64(63)
_WIDTH = np.uint64(64)


@njit(cache=True, nogil=True, error_model="numpy")
def pcg64_words(state, out):  # noqa: ANN001, ANN201
    """Fill ``out`` (N, 2) with the next ``2 N`` words of a PCG64 stream, row by row.

    ``state`` = (state high, state low, increment high, increment low) as
    ``numpy.random.PCG64`` holds them (advanced in place): the words its ``random_raw``
    gives (the 128-bit LCG step, then the XSL-RR output), without a round trip through
    memory.
    """
    hi, lo, inc_hi, inc_lo = state[0], state[1], state[2], state[3]
    for i in range(out.shape[0]):
        for j in range(2):
            new_lo = lo * _MULT_LO
            new_hi = _mul_high(lo, _MULT_LO) + lo * _MULT_HI + hi * _MULT_LO
            lo = new_lo + inc_lo
            hi = new_hi + inc_hi + np.uint64(lo < new_lo)
            x, rot = hi ^ lo, hi >> _ROT
            out[i, j] = (x >> rot) | (x << ((_WIDTH - rot) & _BITS))
    state[0], state[1] = hi, lo


@njit(cache=True, nogil=True, error_model="numpy")
def fill_words(states, start, raw):  # noqa: ANN001, ANN201
    """Every row's words (:func:`pcg64_words`), draw ``k``'s rows ``start[k]:start[k + 1]``
    from its stream ``states[k]``."""
    for k in range(start.shape[0] - 1):
        pcg64_words(states[k], raw[start[k]:start[k + 1]])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def high(word):  # noqa: ANN001, ANN201
    """Uniform on [0, 1) from the high 32 bits of a random 64-bit word."""
    return (word >> _SHIFT) * _SCALE


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def low(word):  # noqa: ANN001, ANN201
    """Uniform on [0, 1) from the low 32 bits of a random 64-bit word."""
    return (word & _LOW) * _SCALE


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def close_time(created, duration, c, h0):  # noqa: ANN001, ANN201
    """Real close day of a deal worked from its creation (``inf`` if stalled: its duration).

    The raw clock runs at the real pace before the horizon start ``h0`` and ``1/c`` times
    as fast after it (:mod:`targetsim.simulate.timeline`).
    """
    raw0 = created if created < h0 else h0 + (created - h0) / c
    end = raw0 + duration
    return end if end < h0 else h0 + c * (end - h0)


@njit(cache=True, nogil=True, error_model="numpy")
def close_times(created, duration, seg, cycle, h0, out):  # noqa: ANN001, ANN201
    """:func:`close_time` of every deal (outputs in place)."""
    for i in range(created.shape[0]):
        out[i] = close_time(created[i], duration[i], cycle[seg[i]], h0)


@njit(cache=True, nogil=True, error_model="numpy")
def spawn_draw(k, layout, otab, pipe, raw, n_cell, scratch, off):  # noqa: ANN001, ANN201
    """Draw ``k``'s rows before their fates, written at ``row - off`` into ``scratch``.

    Row ``row``'s two random words are ``raw[row - off]``.

    ``scratch`` = segment, owner, table row (:func:`_cell`), bin of the age,
    age, creation day, and the fate and time uniforms. Rows: the open pipeline (its ages;
    created 0), the backlog candidates and the new opportunities (age 0, sampled from their
    creation). A new deal's owner comes from the high half of its first word by Walker's
    alias method on the segment's owner shares (``otab`` from
    :func:`targetsim.simulate.sampling.owner_table`); what is left of that uniform within
    the chosen part of the column is uniform again, independent of the owner, and places
    the creation in its month piece.
    """
    start, counts, b_counts, lo, hi, b_lo, b_hi = layout
    p_seg, p_owner, p_age, _, p_bin = pipe
    seg, owner, cell, b0, age, created, u_fate, u_time = scratch
    n_seg = counts.shape[1]
    n_own = (otab.shape[1] - 1) // 4
    i = start[k]
    for q in range(p_seg.shape[0]):
        w = i - off
        seg[w], owner[w], age[w], created[w], b0[w] = p_seg[q], p_owner[q], p_age[q], 0.0, p_bin[q]
        cell[w] = _cell(p_seg[q], p_owner[q], n_cell)
        u_fate[w], u_time[w] = low(raw[w, 0]), high(raw[w, 1])
        i += 1
    for phase in range(2):
        cnt = b_counts if phase == 0 else counts
        t0, t1 = (b_lo, b_hi) if phase == 0 else (lo, hi)
        for s in range(n_seg):
            has_owner = otab[s, 4 * n_own] > 0.0
            for p in range(cnt.shape[2]):
                width = t1[p] - t0[p]
                for _ in range(cnt[k, s, p]):
                    w = i - off
                    x = high(raw[w, 0])
                    o = -1
                    if has_owner:
                        y = x * n_own
                        col = min(int(y), n_own - 1)
                        f = y - col
                        keep = otab[s, col]
                        # Both parts of the column worked out, one kept: no branch on the
                        # coin flip (the other part's reciprocal may be 0 or inf, unused).
                        stay = f < keep
                        o = col if stay else int(otab[s, n_own + col])
                        x = f * otab[s, 2 * n_own + col] if stay else (
                            (f - keep) * otab[s, 3 * n_own + col])
                    seg[w], owner[w], cell[w], b0[w] = s, o, _cell(s, o, n_cell), 0
                    age[w], created[w] = 0.0, t0[p] + x * width
                    u_fate[w], u_time[w] = low(raw[w, 0]), high(raw[w, 1])
                    i += 1


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _cell(s, o, n_cell):  # noqa: ANN001, ANN202
    """Table row of segment ``s`` and owner ``o``; an owner the outcome has no effect for
    (none, or beyond its table) takes the segment's row without owner."""
    return s * n_cell + (o + 1 if 0 <= o < n_cell - 1 else 0)


def scratch_rows(n: int) -> tuple[np.ndarray, ...]:
    """Per-row scratch of :func:`spawn_draw` for ``n`` rows."""
    def ints() -> np.ndarray:
        return np.empty(n, dtype=np.int64)

    return (ints(), ints(), ints(), ints(), np.empty(n), np.empty(n), np.empty(n), np.empty(n))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def count(hist, own, lut, n_m, s, o, created, t, fate, value):  # noqa: ANN001, ANN201
    """One deal into its draw's histograms (flat, for cheap indexing).

    ``hist`` (S * (M + 2) * (M + 2) * 4, 2): deals and their values by segment, month of
    creation and month of close (each shifted by one: 0 = before the horizon, ``M + 1`` =
    after it or never) and fate; ``own`` ((O + 1) * (M + 2) + 1, 2): won deals by owner and
    month of close (the last row takes every other deal, so that no branch is needed).
    """
    e_m = float(lut.shape[0] - 1)
    m2 = n_m + 2
    b = lut[_day(created, e_m)] + 1
    c = lut[_day(t, e_m)] + 1
    cell = ((s * m2 + b) * m2 + c) * 4 + fate
    hist[cell, 0] += 1.0
    hist[cell, 1] += value
    k = (o + 1) * m2 + c if fate == WON else own.shape[0] - 1
    own[k, 0] += 1.0
    own[k, 1] += value


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _day(t, e_m):  # noqa: ANN001, ANN202
    """Whole day of ``t`` within ``[0, e_m]`` (never, or NaN: the end)."""
    if not t < e_m:
        return int(e_m)
    return int(t) if t > 0.0 else 0


@njit(cache=True, nogil=True, error_model="numpy")
def derive(k, hist, own, out):  # noqa: ANN001, ANN201
    """Draw ``k``'s monthly figures from its histograms (see :mod:`.tally`)."""
    won, lost, cold, booked, new, open_n, open_v, own_booked, own_won = out
    n_seg, n_m = won.shape[1], won.shape[2]
    m2 = n_m + 2
    for s in range(n_seg):
        for b in range(m2):
            for c in range(m2):
                for f in range(4):
                    cell = ((s * m2 + b) * m2 + c) * 4 + f
                    n = np.int64(hist[cell, 0])
                    if n == 0:
                        continue
                    v = hist[cell, 1]
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
    return (np.zeros((n_seg * (months + 2) ** 2 * 4, 2)),
            np.zeros(((n_own + 1) * (months + 2) + 1, 2)))


@njit(cache=True, nogil=True, error_model="numpy")
def tally_block(start, seg, owner, created, t_close, fate, value, lut, hist, own, out):  # noqa: ANN001, ANN201
    """Count deals whose close times and fates are given (the SimPy engine's)."""
    n_m = out[0].shape[2]
    for k in range(start.shape[0] - 1):
        hist[:] = 0.0
        own[:] = 0.0
        for i in range(start[k], start[k + 1]):
            count(hist, own, lut, n_m, seg[i], owner[i], created[i], t_close[i], fate[i],
                  value[i])
        derive(k, hist, own, out)


@njit(cache=True, nogil=True, error_model="numpy")
def run_block(layout, otab, pipe, words, scen, hazard, given, slices, h0, lut, materialise,
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
        The open pipeline: segment, owner, age, amount (NaN = draw it), bin of the age in
        the hazard grid.
    words : tuple
        ``(states, raw)``: each row's two random words, the next from its draw's stream
        (``states`` (K, 4), :func:`pcg64_words`; advanced in place), or when ``states`` is
        empty given in ``raw`` (N, 2). The high half of the first places the deal (owner,
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
    p_seg, p_amount = pipe[0], pipe[3]
    win, deal_size, cycle = scen
    use_hazard, hw, hl, own_mult, hz_edges, width, hold_days = hazard
    g_fate, g_rem, g_hold, g_value = given
    out_start, n_open, o_seg, o_owner, o_created, o_fate, o_dur, o_hold, o_value = deals
    n_k, n_seg = counts.shape[0], counts.shape[1]
    n_p, n_q, n_m = p_seg.shape[0], slices.shape[2], out[0].shape[2]
    n_cell = own_mult.shape[1] + 1
    tab = np.empty((n_seg * n_cell, width))
    guide = np.empty((2 * n_seg * n_cell, padded(hz_edges.shape[0] - 1)), dtype=np.int64)
    rows = 0
    for k in range(n_k):
        rows = max(rows, start[k + 1] - start[k])
    scratch = (np.empty(rows, dtype=np.int64), np.empty(rows, dtype=np.int64),
               np.empty(rows, dtype=np.int64), np.empty(rows, dtype=np.int64), np.empty(rows),
               np.empty(rows), np.empty(rows), np.empty(rows))
    seg, owner, cell, b0, age, created, u_fate, u_time = scratch
    fates, durs = np.empty(rows, dtype=np.int64), np.empty(rows)
    states, given_raw = words
    raw = np.empty((rows, 2), dtype=np.uint64)
    w = 0
    for k in range(n_k):
        n_rows = start[k + 1] - start[k]
        if states.shape[0]:
            pcg64_words(states[k], raw[:n_rows])
        else:
            raw[:n_rows] = given_raw[start[k]:start[k + 1]]
        spawn_draw(k, layout, otab, pipe, raw, n_cell, scratch, start[k])
        if use_hazard:
            build_tables(hw[k], hl[k], own_mult[k], hz_edges, win, tab, guide)
            hazard_rows(tab, guide, hz_edges, cell[:n_rows], age[:n_rows], b0[:n_rows],
                        seg[:n_rows], win, u_fate[:n_rows], u_time[:n_rows], fates[:n_rows],
                        durs[:n_rows])
        if materialise:
            out_start[k] = w
        else:
            hist[:] = 0.0
            own[:] = 0.0
        n_back = 0
        for s in range(n_seg):
            for b in range(b_counts.shape[2]):
                n_back += b_counts[k, s, b]
        for q in range(n_rows):
            i = start[k] + q
            s, o, a, c = seg[q], owner[q], age[q], created[q]
            if use_hazard:
                fate, dur = fates[q], durs[q]
                hold = 0.0
                if materialise:  # a slot's hold matters to the capacity engine only
                    hold = max(hold_days[k, s] - a, 0.0) if fate == STALL else dur
            else:
                fate, dur, hold = g_fate[i], g_rem[i], g_hold[i]
            if q < n_p and np.isfinite(p_amount[q]):
                v = p_amount[q]
            elif n_q:
                v = slices[k, s, min(int(low(raw[q, 1]) * n_q), n_q - 1)]
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
                count(hist, own, lut, n_m, s, o, c, close_time(c, dur, cycle[s], h0), fate, v)
        if not materialise:
            derive(k, hist, own, out)
    if materialise:
        out_start[n_k] = w


@njit(cache=True, nogil=True, error_model="numpy")
def spawn_rows(layout, otab, pipe, raw, j, scratch):  # noqa: ANN001, ANN201
    """Every row's draw and :func:`spawn_draw` scratch, as :func:`run_block` has them.

    For components sampled outside the compiled loop, which need the deals first.
    """
    start = layout[0]
    for k in range(start.shape[0] - 1):
        spawn_draw(k, layout, otab, pipe, raw, 1, scratch, 0)
        for i in range(start[k], start[k + 1]):
            j[i] = k


def value_uniforms(raw: np.ndarray) -> np.ndarray:
    """Every row's value uniform (the low half of its second word)."""
    return (raw[:, 1] & _LOW) * _SCALE
