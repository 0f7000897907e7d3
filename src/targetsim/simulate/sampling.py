"""What happens to each deal in one posterior draw: pure statistics shared by both engines.

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

**Scenario multipliers.** ``win_rate`` multiplies the win probability (capped at 1; lost and
stall share the rest in their original ratio), ``deal_size`` the values, ``cycle_length`` the
durations inside the horizon (:mod:`targetsim.simulate.timeline`); they apply to new deals
and to the open pipeline's remaining chance, time and value alike.

**Slots (capacity engine only).** A won or lost deal holds a rep's slot for its whole
(remaining) cycle. A stalled deal never closes: it stays open in the counts, but releases its
slot after the 95th percentile of its segment's won cycle counted from creation (an open deal
older than that holds no slot at all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from targetsim.errors import DataError
from targetsim.model.outcomes import LOST, STALL, STALL_QUANTILE, WON, scale_win
from targetsim.model.params import FunnelParams
from targetsim.simulate.scenario import Scenario
from targetsim.simulate.timeline import Timeline

__all__ = [
    "LOST",
    "STALL",
    "STALL_QUANTILE",
    "WON",
    "Deals",
    "Multipliers",
    "Pipeline",
    "encode_pipeline",
    "prepare_open",
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
        owners = open_pipeline["owner"]
        owner = np.array([owner_of.get(o, -1) if pd.notna(o) else -1 for o in owners], dtype=int)
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


def _arrivals(
    rng: np.random.Generator, mean: np.ndarray, alpha: np.ndarray
) -> np.ndarray:
    """NegativeBinomial counts (gamma-Poisson mixture; Poisson where ``alpha`` is inf)."""
    finite = np.isfinite(alpha)
    rate = mean.copy()
    if finite.any():
        a = np.broadcast_to(alpha, mean.shape)
        g = rng.gamma(np.where(finite, a, 1.0), np.where(finite, mean / np.where(finite, a, 1), 1))
        rate = np.where(finite, g, mean)
    return rng.poisson(rate)


def prepare_open(params: FunnelParams, d: int, pipeline: Pipeline) -> dict:
    """The open pipeline's conditional outcome tables in draw ``d`` (shared by scenarios)."""
    return params.outcome.prepare(d, pipeline.segment, pipeline.owner, pipeline.age)


def _spawn(
    rng: np.random.Generator, params: FunnelParams, counts: np.ndarray, lo: np.ndarray,
    hi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments, owners and creation days of ``counts`` (S, P) deals spread over pieces."""
    n_seg = counts.shape[0]
    flat = counts.ravel()
    seg = np.repeat(np.repeat(np.arange(n_seg), len(lo)), flat)
    piece = np.repeat(np.tile(np.arange(len(lo)), n_seg), flat)
    created = lo[piece] + rng.random(len(piece)) * (hi[piece] - lo[piece])
    n_own = len(params.owners)
    if n_own and params.owner_share.shape == (n_seg, n_own):
        cum = np.cumsum(params.owner_share, axis=1)
        u = rng.random(len(seg)) * cum[seg, -1]
        owner = np.minimum((u[:, None] >= cum[seg]).sum(axis=1), n_own - 1)
        owner = np.where(cum[seg, -1] > 0, owner, -1)
    else:
        owner = np.full(len(seg), -1)
    return seg, owner.astype(int), created


def _backlog(
    params: FunnelParams, d: int, rng: np.random.Generator, win_rate: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Deals created before ``as_of`` but not yet in the export, still open at ``as_of``.

    Their number is what the arrival rate says is missing from the trailing months read
    as not fully recorded; each is drawn as a new deal at its creation and kept if still
    open at ``as_of`` (rejection: the kept ones' futures follow the fate given their age).
    The scenario's win rate applies from their creation: they are weeks old at most.
    """
    miss = params.arrivals.missing(d)
    arr = params.arrivals
    seg, owner, created = _spawn(rng, params, rng.poisson(miss), arr.backlog_lo, arr.backlog_hi)
    age = -created
    fate, rem, hold = params.outcome.sample(
        rng, params.outcome.prepare(d, seg, owner, np.zeros(len(seg))), win_rate
    )
    keep = (fate == STALL) | (rem > age)
    left = age[keep]
    return seg[keep], owner[keep], fate[keep], rem[keep] - left, np.maximum(hold[keep] - left,
                                                                             0.0)


def sample_deals(
    params: FunnelParams,
    d: int,
    pipeline: Pipeline,
    mult: Multipliers,
    timeline: Timeline,
    rng: np.random.Generator,
    open_prep: dict | None = None,
    grid: dict[str, np.ndarray] | None = None,
) -> Deals:
    """Draw every deal of posterior draw ``d`` under one scenario (see the module docstring).

    ``open_prep`` is :func:`prepare_open` of the draw and ``grid`` the timeline's
    :meth:`~targetsim.simulate.timeline.Timeline.arrival_pieces`, when precomputed.
    """
    outcome = params.outcome

    # New opportunities: pieces of [0, horizon start) at the draw's rate, then the horizon.
    if grid is None:
        grid = timeline.arrival_pieces()
    lo_a, hi_a, in_h = grid["lo"], grid["hi"], grid["in_horizon"]
    log_mean = params.arrivals.log_mean(grid["m"].astype(int), d)
    lead = np.where(in_h[None, :], mult.lead_volume[:, None], 1.0)
    mean = np.exp(log_mean) * grid["share"][None, :] * lead
    counts = _arrivals(rng, mean, np.asarray(params.arrivals.alpha[d])[:, None])  # (S, P)
    seg_new, owner_new, created_new = _spawn(rng, params, counts, lo_a, hi_a)
    n_new = len(seg_new)

    # Fates: the open pipeline conditional on its ages, new deals from age 0.
    if open_prep is None:
        open_prep = prepare_open(params, d, pipeline)
    o_out, o_rem, o_hold = outcome.sample(rng, open_prep, mult.win_rate)
    new_prep = outcome.prepare(d, seg_new, owner_new, np.zeros(n_new))
    n_out, n_rem, n_hold = outcome.sample(rng, new_prep, mult.win_rate)
    b_seg, b_own, b_out, b_rem, b_hold = _backlog(params, d, rng, mult.win_rate)
    n_open = pipeline.size + len(b_seg)

    seg = np.concatenate([pipeline.segment, b_seg, seg_new])
    owner = np.concatenate([pipeline.owner, b_own, owner_new]).astype(int)
    fate = np.concatenate([o_out, b_out, n_out]).astype(int)
    duration = np.concatenate([o_rem, b_rem, n_rem])
    hold = np.concatenate([o_hold, b_hold, n_hold])

    drawn = params.size.sample(rng, d, seg)
    known = np.concatenate([pipeline.amount, np.full(len(b_seg) + n_new, np.nan)])
    value = np.where(np.isfinite(known), known, drawn) * mult.deal_size[seg]

    created = np.concatenate([np.zeros(n_open), created_new])
    return Deals(seg, owner, created, fate, duration, hold, value, n_open)
