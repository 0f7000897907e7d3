"""What happens to each deal in a posterior draw: pure statistics shared by both engines.

Outcomes and timing come from the draw's outcome component
(:mod:`targetsim.model.outcomes`), contract values from its size component and new
opportunities from its arrival paths (:class:`~targetsim.model.params.FunnelParams`).

**Open pipeline.** A deal still open at age ``a`` wins, is lost or stalls with the
component's probabilities *conditional on being open at ``a``*, and its remaining time is
drawn from the time-to-close distribution beyond ``a``; a deal older than anything that
ever closed never closes. A missing amount is drawn from the segment's deal sizes. The
deal's ``stage`` is not used: the components carry no per-stage parameters, so age is the
only evidence the simulator conditions on.

**New opportunities.** Per calendar month, NegativeBinomial (Poisson when ``alpha = inf``)
counts around the draw's arrival path × ``lead_volume``, spread uniformly within the month;
the owner is drawn from ``owner_share``. Between ``as_of`` and the horizon start the path
applies without the scenario's lead volume.

**Backlog.** Deals created in the last months before ``as_of`` but not in the export yet
(the arrival component says how many are missing) are drawn as new deals at their creation
and kept when still open at ``as_of``; they join the open pipeline.

**Scenario multipliers.** ``win_rate`` multiplies the win probability (capped at 1; lost and
stall share the rest in their original ratio), ``deal_size`` the values, ``cycle_length`` the
durations inside the horizon (:mod:`targetsim.simulate.timeline`); they apply to new deals
and to the open pipeline's remaining chance, time and value alike.

**Slots (capacity engine only).** A won or lost deal holds a rep's slot for its whole
(remaining) cycle. A stalled deal never closes: it stays open in the counts, but releases its
slot after the 95th percentile of its segment's won cycle counted from creation (an open deal
older than that holds no slot at all).

**Random numbers.** Each draw has its own stream (see :mod:`targetsim.simulate.engine`),
consumed in this order: the new opportunities' counts per segment and month piece
(gamma-Poisson), the backlog's counts, then two 64-bit words per deal, deals laid out as
[open pipeline, backlog, new], each word giving two uniforms of 32 bits: the first word's
high half places a new deal (its owner, then with what is left of that uniform its creation
day), its low half decides the fate; the second word's high half gives the time to close
within that fate, its low half the contract value. A deal's time and value do not depend
on the scenario's win rate, so a deal won under two scenarios closes on the same day for
the same amount under both. Draws are sampled by blocks (:class:`DealSampler`) in compiled
loops (:mod:`targetsim.simulate.kernels`), which draw the deals' words from the streams
themselves (the words ``random_raw`` gives); a draw's deals do not depend on the block it
is sampled with, nor on the engine that closes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from targetsim.errors import DataError
from targetsim.model.outcomes import LOST, STALL, STALL_QUANTILE, WON, HazardOutcome, scale_win
from targetsim.model.params import EmpiricalSize, FunnelParams
from targetsim.simulate.scenario import Scenario
from targetsim.simulate.timeline import Timeline

#: Random 64-bit words drawn per deal (see the module docstring).
WORDS = 2

__all__ = [
    "LOST",
    "STALL",
    "STALL_QUANTILE",
    "WON",
    "Block",
    "DealSampler",
    "Deals",
    "Multipliers",
    "Pipeline",
    "encode_pipeline",
    "sample_deals",
    "scale_win",
]


@dataclass(frozen=True)
class Pipeline:
    """The open pipeline as integer-coded arrays (built once for all draws)."""

    segment: np.ndarray
    owner: np.ndarray
    age: np.ndarray
    amount: np.ndarray

    @property
    def size(self) -> int:
        return len(self.segment)


def encode_pipeline(open_pipeline: pd.DataFrame | None, params: FunnelParams) -> Pipeline:
    """Code the open-pipeline table (``segment, owner, age_days, amount``) against ``params``.

    Raises
    ------
    DataError
        A required column is missing, a segment is not one of the fit, or an age is negative.
    """
    if open_pipeline is None or len(open_pipeline) == 0:
        e = np.zeros(0)
        return Pipeline(e.astype(int), e.astype(int), e, e)
    missing = [c for c in ("segment", "age_days") if c not in open_pipeline]
    if missing:
        raise DataError(f"open pipeline: missing column(s) {', '.join(missing)}")
    seg_of = {s: i for i, s in enumerate(params.segments)}
    segs = open_pipeline["segment"].astype(str)
    unknown = sorted(set(segs) - set(seg_of))
    if unknown:
        raise DataError(
            f"open pipeline: segment(s) {', '.join(unknown)} not in the fit "
            f"({', '.join(params.segments)})"
        )
    owner_of = {o: i for i, o in enumerate(params.owners)}
    if "owner" in open_pipeline:
        # Unknown owners and missing ones alike: no owner (-1); one lookup per row, in pandas.
        codes = open_pipeline["owner"].astype(object).map(owner_of)
        owner = codes.fillna(-1).to_numpy(dtype=int)
    else:
        owner = np.full(len(open_pipeline), -1)
    age = open_pipeline["age_days"].to_numpy(dtype=float)
    if np.any(~np.isfinite(age)) or np.any(age < 0):
        raise DataError("open pipeline: age_days must be finite and >= 0")
    amount = (
        open_pipeline["amount"].to_numpy(dtype=float)
        if "amount" in open_pipeline
        else np.full(len(open_pipeline), np.nan)
    )
    return Pipeline(segs.map(seg_of).to_numpy(dtype=int), owner, age, amount)


@dataclass(frozen=True)
class Multipliers:
    """A scenario's multipliers as arrays over segments."""

    lead_volume: np.ndarray
    win_rate: np.ndarray
    deal_size: np.ndarray
    cycle_length: np.ndarray

    @classmethod
    def of(cls, scenario: Scenario, segments: tuple[str, ...]) -> Multipliers:
        def arr(key: str) -> np.ndarray:
            return np.array([scenario.multiplier(key, s) for s in segments], dtype=float)

        return cls(arr("lead_volume"), arr("win_rate"), arr("deal_size"), arr("cycle_length"))


@dataclass(frozen=True)
class Deals:
    """Every deal of one draw and scenario, before any queueing.

    Attributes
    ----------
    segment, owner : ndarray of int
        Codes (owner -1 = none).
    created : ndarray
        Real day of creation (0 for the open pipeline).
    outcome : ndarray of int
        ``WON``, ``LOST`` or ``STALL``.
    duration : ndarray
        Raw-clock days from the start of work to the close (``inf`` for stalled deals).
    hold : ndarray
        Raw-clock days the deal holds a slot from the start of work.
    value : ndarray
        Contract value if won (deal-size multiplier applied).
    n_open : int
        The first ``n_open`` deals are the open pipeline.
    """

    segment: np.ndarray
    owner: np.ndarray
    created: np.ndarray
    outcome: np.ndarray
    duration: np.ndarray
    hold: np.ndarray
    value: np.ndarray
    n_open: int


def _arrival_params(mean: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, ...]:
    """Gamma shape and scale of NegativeBinomial counts around ``mean`` (gamma-Poisson).

    Where ``alpha`` is inf the counts are Poisson: ``finite`` is False there.
    """
    finite = np.broadcast_to(np.isfinite(alpha), mean.shape)
    shape = np.where(finite, np.broadcast_to(alpha, mean.shape), 1.0)
    return finite, shape, np.where(finite, mean / shape, 1.0)


def _arrivals(rng: np.random.Generator, mean: np.ndarray, finite: np.ndarray,
              shape: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """NegativeBinomial counts of one draw (see :func:`_arrival_params`)."""
    if finite.any():
        return rng.poisson(np.where(finite, rng.gamma(shape, scale), mean))
    return rng.poisson(mean)


@dataclass(frozen=True)
class Block:
    """The deals of a block of draws, one draw after another (arrays as in :class:`Deals`).

    ``start[k]:start[k + 1]`` are draw ``k``'s deals, the first ``n_open[k]`` of them its
    open pipeline.
    """

    segment: np.ndarray
    owner: np.ndarray
    created: np.ndarray
    outcome: np.ndarray
    duration: np.ndarray
    hold: np.ndarray
    value: np.ndarray
    start: np.ndarray
    n_open: np.ndarray

    def deals(self, k: int) -> Deals:
        """Draw ``k``'s deals."""
        sl = slice(int(self.start[k]), int(self.start[k + 1]))
        return Deals(self.segment[sl], self.owner[sl], self.created[sl], self.outcome[sl],
                     self.duration[sl], self.hold[sl], self.value[sl], int(self.n_open[k]))


def owner_table(share: np.ndarray) -> np.ndarray:
    """Walker's alias tables of each row of ``share`` (S, O), packed for the compiled loop.

    Row ``s``: the probability of keeping each column, its alias, the reciprocals of the
    two parts of the column (for the residual uniform, see
    :func:`targetsim.simulate.kernels.spawn_draw`), then 1 when the segment has owners.
    Vose's construction.
    """
    n_seg, n_own = share.shape
    out = np.zeros((n_seg, 4 * n_own + 1))
    for s in range(n_seg):
        total = share[s].sum() if n_own else 0.0
        if total <= 0:
            continue
        prob, alias = np.ones(n_own), np.arange(n_own)
        q = share[s] / total * n_own
        small = [i for i in range(n_own) if q[i] < 1.0]
        large = [i for i in range(n_own) if q[i] >= 1.0]
        while small and large:
            lo, hi = small.pop(), large.pop()
            prob[lo], alias[lo] = q[lo], hi
            q[hi] += q[lo] - 1.0
            (small if q[hi] < 1.0 else large).append(hi)
        with np.errstate(divide="ignore"):
            out[s] = np.concatenate([prob, alias, np.where(prob > 0, 1.0 / prob, 0.0),
                                     np.where(prob < 1, 1.0 / (1.0 - prob), 0.0), [1.0]])
    return out


def _words(rngs, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """The deals' random words of each stream: ``rows[k] * WORDS`` words of ``rngs[k]``.

    PCG64 streams (the engine's) hand their state to the compiled loops, which draw the
    words themselves (:func:`targetsim.simulate.kernels.pcg64_words`, the words
    ``random_raw`` would give); the streams are advanced past them here. Any other bit
    generator gives its words as an array. Returns ``(states (K, 4), raw (N, 2))``, one of
    them empty.
    """
    mask = (1 << 64) - 1
    if all(isinstance(rng.bit_generator, np.random.PCG64) for rng in rngs):
        states = np.empty((len(rngs), 4), dtype=np.uint64)
        for k, (rng, n) in enumerate(zip(rngs, rows, strict=True)):
            st = rng.bit_generator.state["state"]
            states[k] = (st["state"] >> 64, st["state"] & mask, st["inc"] >> 64,
                         st["inc"] & mask)
            rng.bit_generator.advance(int(n) * WORDS)
        return states, np.zeros((0, WORDS), dtype=np.uint64)
    raw = np.concatenate([rng.bit_generator.random_raw(int(n) * WORDS)
                          for rng, n in zip(rngs, rows, strict=True)]).reshape(-1, WORDS)
    return np.zeros((0, 4), dtype=np.uint64), raw


class DealSampler:
    """Samples the deals of blocks of draws; what does not depend on the draw, once.

    Parameters
    ----------
    params : FunnelParams
        The draws (blocks index them).
    pipeline : Pipeline
        The open pipeline.
    timeline : Timeline
    """

    def __init__(self, params: FunnelParams, pipeline: Pipeline, timeline: Timeline) -> None:
        self.params, self.timeline = params, timeline
        grid = timeline.arrival_pieces()
        self.lo, self.hi, self.share = grid["lo"], grid["hi"], grid["share"]
        self.in_horizon, self.month = grid["in_horizon"], grid["m"].astype(int)
        arr = params.arrivals
        self.b_lo = np.asarray(arr.backlog_lo, dtype=float)
        self.b_hi = np.asarray(arr.backlog_hi, dtype=float)
        n_seg, n_own = len(params.segments), len(params.owners)
        share = np.asarray(params.owner_share, dtype=float)
        if not (n_own and share.shape == (n_seg, n_own)):
            share = np.zeros((n_seg, 0))
        self.otab = owner_table(share)
        self.hazard = isinstance(params.outcome, HazardOutcome)
        self.empirical = isinstance(params.size, EmpiricalSize)
        age = np.ascontiguousarray(pipeline.age, dtype=float)
        if self.hazard:
            from targetsim.model.hazard_kernel import age_bins

            bins = age_bins(np.asarray(params.outcome.edges, dtype=float), age)
        else:
            bins = np.zeros(len(age), dtype=np.int64)
        self.pipe = (np.ascontiguousarray(pipeline.segment, dtype=np.int64),
                     np.ascontiguousarray(pipeline.owner, dtype=np.int64), age,
                     np.ascontiguousarray(pipeline.amount, dtype=float),
                     np.ascontiguousarray(bins, dtype=np.int64))
        self.n_open = pipeline.size
        from targetsim.simulate.tally import day_months

        self.lut = day_months(timeline)

    def _streams(self, draws: np.ndarray, mult: Multipliers, rngs) -> tuple:  # noqa: ANN001
        """Counts, then uniforms, from each draw's stream (see the module docstring)."""
        p = self.params
        n_k, n_seg = len(draws), len(p.segments)
        lead = np.where(self.in_horizon[None, :], mult.lead_volume[:, None], 1.0)
        mean = np.exp(p.arrivals.log_mean(self.month, draws)) * (self.share * lead)[None]
        alpha = np.asarray(p.arrivals.alpha, dtype=float)[draws][:, :, None]
        finite, shape, scale = _arrival_params(mean, alpha)
        missing = p.arrivals.missing(draws)
        counts = np.empty((n_k, n_seg, len(self.lo)), dtype=np.int64)
        b_counts = np.empty((n_k, n_seg, len(self.b_lo)), dtype=np.int64)
        for k, rng in enumerate(rngs):
            counts[k] = _arrivals(rng, mean[k], finite[k], shape[k], scale[k])
            b_counts[k] = rng.poisson(missing[k])
        rows = self.n_open + b_counts.sum(axis=(1, 2)) + counts.sum(axis=(1, 2))
        start = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        layout = (start, counts, b_counts, self.lo, self.hi, self.b_lo, self.b_hi)
        return layout, _words(rngs, rows)

    def _run(self, draws, mult, rngs, outcomes, materialise: bool, out: tuple) -> tuple:  # noqa: ANN001
        from targetsim.model.hazard_kernel import table_width
        from targetsim.simulate.kernels import (
            fill_words,
            histograms,
            run_block,
            scratch_rows,
            spawn_rows,
            value_uniforms,
        )

        p = self.params
        draws = np.asarray(draws, dtype=np.int64)
        if outcomes is None:
            outcomes = p.outcome.sampler(draws)
        layout, words = self._streams(draws, mult, rngs)
        n, n_k, n_seg = int(layout[0][-1]), len(draws), len(p.segments)
        given = (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
        if not (self.hazard and self.empirical):  # a component sampled outside the loop
            states, raw = words
            if len(states):
                raw = np.empty((n, WORDS), dtype=np.uint64)
                fill_words(states.copy(), layout[0], raw)
            words = (np.zeros((0, 4), dtype=np.uint64), raw)
            j, scratch = np.empty(n, dtype=np.int64), scratch_rows(n)
            spawn_rows(layout, self.otab, self.pipe, raw, j, scratch)
            seg, owner, _, _, age, _, u_fate, u_time = scratch
            fate, rem, hold = given[:3]
            if not self.hazard:
                fate, rem, hold = outcomes.draw(j, seg, owner, age, u_fate, u_time,
                                                mult.win_rate)
            value = (p.size.quantile(draws[j], seg, value_uniforms(raw)) if not self.empirical
                     else given[3])
            given = (np.ascontiguousarray(fate, dtype=np.int64), np.ascontiguousarray(rem),
                     np.ascontiguousarray(hold), np.ascontiguousarray(value, dtype=float))
        if self.hazard:
            edges = np.asarray(p.outcome.edges, dtype=float)
            hazard = (True, outcomes.hw, outcomes.hl, outcomes.own_mult, edges,
                      table_width(len(edges) - 1), outcomes.hold_days)
        else:
            hazard = (False, np.zeros((n_k, n_seg, 1)), np.zeros((n_k, n_seg, 1)),
                      np.zeros((n_k, 0)), np.zeros(2), table_width(1), np.zeros((n_k, n_seg)))
        slices = (np.ascontiguousarray(p.size.slices[draws]) if self.empirical
                  else np.zeros((n_k, n_seg, 0)))
        m = n if materialise else 0
        deals = (np.zeros(n_k + 1, dtype=np.int64), np.zeros(n_k, dtype=np.int64),
                 np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64), np.empty(m),
                 np.empty(m, dtype=np.int64), np.empty(m), np.empty(m), np.empty(m))
        scen = (mult.win_rate, mult.deal_size, mult.cycle_length)
        hist, own = histograms(n_seg, out[8].shape[1], self.timeline.months)
        run_block(layout, self.otab, self.pipe, words, scen, hazard, given, slices,
                  float(self.timeline.start), self.lut, materialise, deals, hist, own, out)
        return deals

    def sample(
        self, draws: np.ndarray, mult: Multipliers, rngs: list[np.random.Generator],
        outcomes=None,  # noqa: ANN001
    ) -> Block:
        """Every deal of ``draws`` (indices into ``params``) under one scenario.

        ``rngs`` are the draws' streams; ``outcomes`` is ``params.outcome.sampler(draws)``
        when precomputed (it does not depend on the scenario).
        """
        from targetsim.simulate.tally import empty_tallies

        out = empty_tallies(0, len(self.params.segments), 0, self.timeline.months)
        start, n_open, *arrays = self._run(draws, mult, rngs, outcomes, True, out)
        m = int(start[-1])
        return Block(*(a[:m] for a in arrays), start, n_open)

    def tally(
        self, draws: np.ndarray, mult: Multipliers, rngs: list[np.random.Generator],
        outcomes=None,  # noqa: ANN001
    ) -> dict[str, np.ndarray]:
        """The vectorised engine on ``draws``: deals closed in closed form and tallied.

        The same deals as :meth:`sample`; the result as
        :func:`targetsim.simulate.tally.tally` gives it.
        """
        from targetsim.simulate.tally import empty_tallies, tallies_dict

        out = empty_tallies(len(draws), len(self.params.segments), len(self.params.owners),
                            self.timeline.months)
        self._run(draws, mult, rngs, outcomes, False, out)
        return tallies_dict(out)


def sample_deals(
    params: FunnelParams,
    d: int,
    pipeline: Pipeline,
    mult: Multipliers,
    timeline: Timeline,
    rng: np.random.Generator,
) -> Deals:
    """Draw every deal of posterior draw ``d`` under one scenario (see the module docstring).

    ``rng`` is the draw's stream: the deals are those :class:`DealSampler` gives that draw.
    """
    block = DealSampler(params, pipeline, timeline).sample(np.array([d]), mult, [rng])
    return block.deals(0)
