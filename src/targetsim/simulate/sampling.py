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
    n_seg = len(params.segments)
    outcome = params.outcome

    # New opportunities: pieces of [0, horizon start) at the draw's rate, then the horizon.
    if grid is None:
        grid = timeline.arrival_pieces()
    lo_a, hi_a, in_h = grid["lo"], grid["hi"], grid["in_horizon"]
    log_mean = params.arrivals.log_mean(grid["m"].astype(int), d)
    lead = np.where(in_h[None, :], mult.lead_volume[:, None], 1.0)
    mean = np.exp(log_mean) * grid["share"][None, :] * lead
    counts = _arrivals(rng, mean, np.asarray(params.arrivals.alpha[d])[:, None])  # (S, P)
    flat = counts.ravel()
    seg_new = np.repeat(np.repeat(np.arange(n_seg), len(lo_a)), flat)
    piece = np.repeat(np.tile(np.arange(len(lo_a)), n_seg), flat)
    created_new = lo_a[piece] + rng.random(len(piece)) * (hi_a[piece] - lo_a[piece])
    n_new = len(seg_new)

    # Owners of new deals from the segment's owner shares.
    n_own = len(params.owners)
    if n_own and params.owner_share.shape == (n_seg, n_own):
        cum = np.cumsum(params.owner_share, axis=1)
        u = rng.random(n_new) * cum[seg_new, -1]
        owner_new = np.minimum((u[:, None] >= cum[seg_new]).sum(axis=1), n_own - 1)
        owner_new = np.where(cum[seg_new, -1] > 0, owner_new, -1)
    else:
        owner_new = np.full(n_new, -1)

    seg = np.concatenate([pipeline.segment, seg_new])
    owner = np.concatenate([pipeline.owner, owner_new]).astype(int)
    n_open = pipeline.size

    # Fates: the open pipeline conditional on its ages, new deals from age 0.
    if open_prep is None:
        open_prep = prepare_open(params, d, pipeline)
    new_prep = outcome.prepare(d, seg_new, owner_new, np.zeros(n_new))
    o_out, o_rem, o_hold = outcome.sample(rng, open_prep, mult.win_rate[pipeline.segment])
    n_out, n_rem, n_hold = outcome.sample(rng, new_prep, mult.win_rate[seg_new])
    fate = np.concatenate([o_out, n_out]).astype(int)
    duration = np.concatenate([o_rem, n_rem])
    hold = np.concatenate([o_hold, n_hold])

    drawn = params.size.sample(rng, d, seg)
    known = np.concatenate([pipeline.amount, np.full(n_new, np.nan)])
    value = np.where(np.isfinite(known), known, drawn) * mult.deal_size[seg]

    created = np.concatenate([np.zeros(n_open), created_new])
    return Deals(seg, owner, created, fate, duration, hold, value, n_open)
