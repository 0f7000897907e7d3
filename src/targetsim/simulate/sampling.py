"""What happens to each deal in one posterior draw: pure statistics shared by both engines.

Outcomes follow :class:`~targetsim.model.params.FunnelParams` (competing outcomes won / lost /
stalled with log-normal times to win and to loss).

**Open pipeline.** A deal still open at age ``a`` has the conditional outcome probabilities
``P(win | a) ∝ q_win·S_won(a)``, ``P(lost | a) ∝ q_lost·S_lost(a)``, ``P(stall | a) ∝ q_stall``
where ``S`` is the log-normal survival function and ``q`` the eventual probabilities of its
segment and owner (:func:`conditional_outcome`). A deal far older than the bulk of won cycles
therefore has a near-zero chance to win. Its remaining time is drawn from the log-normal
truncated at ``a`` by inverse CDF on the conditional (:func:`remaining_time`). A missing
amount is drawn from the segment's deal-size distribution. The deal's ``stage`` is not used:
:class:`~targetsim.model.params.FunnelParams` carries no per-stage parameters, so age is the
only evidence the simulator conditions on.

**New opportunities.** Per calendar month, NegativeBinomial (Poisson when ``alpha = inf``)
counts with the fitted mean × ``lead_volume``, spread uniformly within the month; the owner
is drawn from ``owner_share`` and shifts the win probability by ``owner_effect``. Between
``as_of`` and the horizon start the fitted rate applies without the scenario's lead volume.

**Scenario multipliers.** ``win_rate`` multiplies the win probability (capped at 1; lost and
stall share the rest in their original ratio), ``deal_size`` the values, ``cycle_length`` the
durations inside the horizon (:mod:`targetsim.simulate.timeline`); they apply to new deals
and to the open pipeline's remaining chance, time and value alike.

**Slots (capacity engine only).** A won or lost deal holds a rep's slot for its whole
(remaining) cycle. A stalled deal never closes: it stays open in the counts, but releases its
slot after the 95th percentile of its segment's won cycle (:data:`STALL_QUANTILE`) counted
from creation (an open deal older than that holds no slot at all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, log_ndtr, logit, ndtri

from targetsim.errors import DataError
from targetsim.model.params import FunnelParams
from targetsim.simulate.scenario import Scenario
from targetsim.simulate.timeline import Timeline

WON, LOST, STALL = 0, 1, 2
#: Quantile of the won-cycle distribution after which a stalled deal frees its slot.
STALL_QUANTILE = 0.95
_Z_STALL = float(ndtri(STALL_QUANTILE))


def log_survival(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``log P(T > x)`` for ``T ~ LogNormal(mu, sigma)`` (0 for ``x <= 0``)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        z = (np.log(np.maximum(x, 1e-300)) - mu) / sigma
    return np.where(x > 0, log_ndtr(-z), 0.0)


def conditional_outcome(
    q_win: np.ndarray,
    q_lost: np.ndarray,
    q_stall: np.ndarray,
    age: np.ndarray,
    won_mu: np.ndarray,
    won_sigma: np.ndarray,
    lost_mu: np.ndarray,
    lost_sigma: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcome probabilities of a deal known to be still open at ``age`` days.

    Returns
    -------
    (p_win, p_lost, p_stall) : tuple of ndarray
        ``∝ (q_win·S_won(age), q_lost·S_lost(age), q_stall)``, normalised; computed in log
        space so that very old deals do not underflow to 0/0.
    """
    return _conditional(
        q_win, q_lost, q_stall,
        log_survival(age, won_mu, won_sigma), log_survival(age, lost_mu, lost_sigma),
    )


def _conditional(q_win, q_lost, q_stall, log_s_won, log_s_lost):
    with np.errstate(divide="ignore"):
        lw = np.log(q_win) + log_s_won
        ll = np.log(q_lost) + log_s_lost
        ls = np.log(q_stall) + np.zeros_like(lw)
    top = np.maximum(np.maximum(lw, ll), ls)
    w, lo, s = np.exp(lw - top), np.exp(ll - top), np.exp(ls - top)
    z = w + lo + s
    return w / z, lo / z, s / z


def _eventual(params: FunnelParams, draws, seg: np.ndarray, owner: np.ndarray):
    """Eventual (win, lost, stall) probabilities of deals, with the owner's logit shift."""
    q_w = params.p_win[draws][..., seg]
    if len(params.owners):
        eff = np.where(owner >= 0, params.owner_effect[draws][..., np.maximum(owner, 0)], 0.0)
        q_w = expit(logit(np.clip(q_w, 1e-12, 1 - 1e-12)) + eff)
    pl, ps = params.p_lost[draws][..., seg], params.p_stall[draws][..., seg]
    denom = pl + ps
    with np.errstate(divide="ignore", invalid="ignore"):
        frac_l = np.where(denom > 0, pl / denom, 1.0)
    return q_w, (1 - q_w) * frac_l, (1 - q_w) * (1 - frac_l)


@dataclass(frozen=True)
class OpenStats:
    """Open-pipeline quantities that depend only on the draw, computed for many draws at once.

    Attributes
    ----------
    p_win, p_lost, p_stall : ndarray, shape (D, N)
        Conditional outcome probabilities given the age (before scenario multipliers).
    log_s_won, log_s_lost : ndarray, shape (D, N)
        Log survival of the won / lost cycle at the age (for the truncated remaining time).
    """

    p_win: np.ndarray
    p_lost: np.ndarray
    p_stall: np.ndarray
    log_s_won: np.ndarray
    log_s_lost: np.ndarray


def open_stats(params: FunnelParams, pipeline: Pipeline, draws=slice(None)) -> OpenStats:
    """:class:`OpenStats` of ``pipeline`` for the given draws of ``params``."""
    seg, age = pipeline.segment, pipeline.age
    q = _eventual(params, draws, seg, pipeline.owner)
    lsw = log_survival(age, params.won_mu[draws][..., seg], params.won_sigma[draws][..., seg])
    lsl = log_survival(age, params.lost_mu[draws][..., seg], params.lost_sigma[draws][..., seg])
    p_win, p_lost, p_stall = _conditional(*q, lsw, lsl)
    # Abandoned deals (older than the fit's stale age) never close, whatever the cycle's
    # tail would say: the fit explained them by the stall branch alone.
    stale = np.broadcast_to(age > params.stale_after_days, p_win.shape)
    p_win, p_lost = np.where(stale, 0.0, p_win), np.where(stale, 0.0, p_lost)
    p_stall = np.where(stale, 1.0, p_stall)
    return OpenStats(p_win, p_lost, p_stall, lsw, lsl)


def scale_win(
    p_win: np.ndarray, p_lost: np.ndarray, p_stall: np.ndarray, factor: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multiply the win probability by ``factor`` (capped at 1); lost and stall share the rest."""
    new = np.minimum(1.0, p_win * factor)
    rest_old = p_lost + p_stall
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(rest_old > 0, (1.0 - new) / rest_old, 0.0)
    lost = np.where(rest_old > 0, p_lost * k, 1.0 - new)
    return new, lost, np.where(rest_old > 0, p_stall * k, 0.0)


def remaining_time(
    u: np.ndarray,
    age: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    log_s_age: np.ndarray | None = None,
) -> np.ndarray:
    """Remaining days ``T - age`` with ``T ~ LogNormal(mu, sigma)`` conditional on ``T > age``.

    Inverse CDF on the conditional, written on the survival scale (``S(T) = u·S(age)``) so
    that ages deep in the tail stay accurate. ``u`` are uniforms on (0, 1); ``log_s_age``
    (``log S(age)``) may be given when already known.
    """
    if log_s_age is None:
        log_s_age = log_survival(age, mu, sigma)
    log_s = log_s_age + np.log(u)
    v = np.exp(np.maximum(log_s, -700.0))
    total = np.exp(mu - sigma * ndtri(v))
    return np.maximum(total - age, 0.0)


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


def sample_deals(
    params: FunnelParams,
    d: int,
    pipeline: Pipeline,
    mult: Multipliers,
    timeline: Timeline,
    rng: np.random.Generator,
    stats: OpenStats | None = None,
    row: int = 0,
    grid: dict[str, np.ndarray] | None = None,
) -> Deals:
    """Draw every deal of posterior draw ``d`` under one scenario (see the module docstring).

    ``stats`` (row ``row``) are the draw's :class:`OpenStats` and ``grid`` the timeline's
    :meth:`~targetsim.simulate.timeline.Timeline.arrival_pieces`, when precomputed.
    """
    n_seg = len(params.segments)
    won_mu, won_sd = params.won_mu[d], params.won_sigma[d]
    lost_mu, lost_sd = params.lost_mu[d], params.lost_sigma[d]
    size_mu, size_sd = params.size_mu[d], params.size_sigma[d]
    stall_hold = np.exp(won_mu + _Z_STALL * won_sd)

    # New opportunities: pieces of [0, horizon start) at the fitted rate, then horizon months.
    if grid is None:
        grid = timeline.arrival_pieces()
    lo_a, hi_a, in_h = grid["lo"], grid["hi"], grid["in_horizon"]
    log_mean = (
        params.arrival_log_rate[d][:, None]
        + params.arrival_trend[d][:, None] * grid["m"][None, :]
        + params.season[d][grid["moy"] - 1][None, :]
    )
    lead = np.where(in_h[None, :], mult.lead_volume[:, None], 1.0)
    mean = np.exp(log_mean) * grid["share"][None, :] * lead
    counts = _arrivals(rng, mean, np.asarray(params.arrival_alpha[d])[:, None])  # (S, P)
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

    # Open deals: probabilities conditional on their age (precomputed for many draws at
    # once when the caller has them); new deals start at age 0 (no conditioning).
    if stats is None:
        stats, row = open_stats(params, pipeline, [d]), 0
    o = slice(0, n_open)
    q_new = _eventual(params, d, seg_new, owner_new)
    pw = np.concatenate([stats.p_win[row], q_new[0]])
    pl = np.concatenate([stats.p_lost[row], q_new[1]])
    ps = np.concatenate([stats.p_stall[row], q_new[2]])
    pw, pl, ps = scale_win(pw, pl, ps, mult.win_rate[seg])
    u = rng.random(len(seg))
    outcome = np.where(u < pw, WON, np.where(u < pw + pl, LOST, STALL))

    is_won = outcome == WON
    mu = np.where(is_won, won_mu[seg], lost_mu[seg])
    sd = np.where(is_won, won_sd[seg], lost_sd[seg])
    duration = np.empty(len(seg))
    log_s_age = np.where(is_won[o], stats.log_s_won[row], stats.log_s_lost[row])
    duration[o] = remaining_time(rng.random(n_open), pipeline.age, mu[o], sd[o], log_s_age)
    duration[n_open:] = np.exp(mu[n_open:] + sd[n_open:] * rng.standard_normal(n_new))
    stall = outcome == STALL
    duration[stall] = np.inf
    hold = duration.copy()
    age_all = np.concatenate([pipeline.age, np.zeros(n_new)])
    hold[stall] = np.maximum(stall_hold[seg[stall]] - age_all[stall], 0.0)

    drawn = np.exp(size_mu[seg] + size_sd[seg] * rng.standard_normal(len(seg)))
    known = np.concatenate([pipeline.amount, np.full(n_new, np.nan)])
    value = np.where(np.isfinite(known), known, drawn) * mult.deal_size[seg]

    created = np.concatenate([np.zeros(n_open), created_new])
    return Deals(seg, owner, created, outcome, duration, hold, value, n_open)
