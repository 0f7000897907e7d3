"""What happens to one deal: the outcome-and-timing components, as the simulator sees them.

An opportunity is eventually **won**, **lost**, or **stalls** (never closes). Two
components describe when, per posterior draw and segment:

* :class:`HazardOutcome` (shipped): piecewise-constant hazards of winning and of losing on
  a grid of day bins ``edges`` (competing risks, no fixed shape). A deal still open at the
  last edge never closes: the stall (no-decision) share is whatever survives the grid.
  An owner shifts the log hazard of winning.
* :class:`LogNormalOutcome` (legacy): eventual shares ``p_win, p_lost, p_stall`` with
  log-normal times to win and to loss; an owner shifts the logit of ``p_win``; an open deal
  older than ``stale_after_days`` never closes.

Both answer the same questions for the simulator and the reports:
:meth:`~HazardOutcome.eventual` (segment-level shares), :meth:`~HazardOutcome.conditional`
(the shares of deals still open at a given age), :meth:`~HazardOutcome.sample` (fate, time
to close and how long a stalled deal keeps a rep busy), :meth:`~HazardOutcome.sampler`
(the same for many draws from given uniforms, as the simulator draws them) and
:meth:`~HazardOutcome.won_quantile`. Every array has the draw axis first. NumPy only, but
for the hazard component's sampling loop, compiled with Numba
(:mod:`targetsim.model.hazard_kernel`, imported when first sampling): the steps after the
fit read these without importing the sampler.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar

import numpy as np
from scipy.special import expit, log_ndtr, logit, ndtri

WON, LOST, STALL = 0, 1, 2
#: Quantile of a segment's won-cycle distribution after which a stalled deal frees its slot.
STALL_QUANTILE = 0.95


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


def _owner_shift(owner_effect: np.ndarray, d, owner: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """Owner effects of deals (0 for deals without an owner), draws ``d`` first."""
    if owner_effect.size == 0 or len(owner) == 0:
        return np.zeros(len(owner))  # broadcasts against any draw axis
    return np.where(owner >= 0, owner_effect[d][..., np.maximum(owner, 0)], 0.0)


def subset_draws(obj, idx):  # noqa: ANN001, ANN201
    """``obj`` (a component's draws) restricted to the draws ``idx``.

    Each component names its fields with a draw axis in ``DRAW_FIELDS``.
    """
    return replace(obj, **{name: getattr(obj, name)[idx] for name in obj.DRAW_FIELDS})


# --------------------------------------------------------------------------- hazard
@dataclass(frozen=True)
class HazardOutcome:
    """Competing risks with piecewise-constant hazards (per day) on day bins.

    Attributes
    ----------
    edges : ndarray, shape (J + 1,)
        Bin edges in days from creation, ``edges[0] = 0``; beyond ``edges[-1]`` (the
        longest time to close the data show) nothing closes any more.
    log_h_won, log_h_lost : ndarray, shape (D, S, J)
        Log hazards of a win and of a loss in each bin.
    owner_effect : ndarray, shape (D, O)
        Additive shift of an owner's log hazard of winning.
    """

    edges: np.ndarray
    log_h_won: np.ndarray
    log_h_lost: np.ndarray
    owner_effect: np.ndarray
    DRAW_FIELDS: ClassVar[tuple[str, ...]] = ("log_h_won", "log_h_lost", "owner_effect")

    @property
    def n_draws(self) -> int:
        return int(self.log_h_won.shape[0])

    def subset(self, idx: np.ndarray) -> HazardOutcome:
        return subset_draws(self, idx)

    def _tables(self, d, seg: np.ndarray, owner: np.ndarray, age: np.ndarray):  # noqa: ANN001, ANN202
        """Per deal (draws ``d`` first): win / loss probability of each bin and its timing.

        Returns ``pw, pl`` (..., N, J) probabilities of winning / losing in each bin given
        the deal is open at ``age``, ``start`` (N, J) the first day of the bin still ahead
        (``max(edge, age)``), ``width`` (N, J) its remaining length, ``h_tot`` (..., N, J).
        """
        e0, e1 = self.edges[:-1], self.edges[1:]
        start = np.maximum(e0[None, :], age[:, None])
        width = np.maximum(e1[None, :] - start, 0.0)
        shift = _owner_shift(self.owner_effect, d, owner)[..., None]
        hw = np.exp(self.log_h_won[d][..., seg, :] + shift)
        hl = np.exp(self.log_h_lost[d][..., seg, :])
        h_tot = hw + hl
        mass = h_tot * width
        surv = np.exp(-(np.cumsum(mass, axis=-1) - mass))
        with np.errstate(invalid="ignore", divide="ignore"):
            event = surv * -np.expm1(-mass)
            share_w = np.where(h_tot > 0, hw / h_tot, 0.0)
        return event * share_w, event * (1.0 - share_w), start, width, h_tot

    def cumulative(self, d, seg: np.ndarray, owner: np.ndarray, t: np.ndarray):  # noqa: ANN001, ANN201
        """``(won by t, lost by t, still open at t)`` of new deals, draws ``d`` first."""
        t = np.asarray(t, dtype=float)
        zero = np.zeros(t.shape)
        pw, pl, start, width, h_tot = self._tables(d, seg, owner, zero)
        # The part of each bin before t, and the share of the bin's events it holds.
        part = np.clip(t[:, None] - start, 0.0, width)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(h_tot * width > 0, -np.expm1(-h_tot * part) / -np.expm1(
                -h_tot * width), 0.0)
        won, lost = (pw * frac).sum(-1), (pl * frac).sum(-1)
        return won, lost, np.clip(1.0 - won - lost, 0.0, 1.0)

    def conditional(
        self, d, seg: np.ndarray, owner: np.ndarray, age: np.ndarray  # noqa: ANN001
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(p_win, p_lost, p_stall)`` of deals still open at ``age`` days, draws ``d``."""
        pw, pl, *_ = self._tables(d, seg, owner, np.asarray(age, dtype=float))
        w, lo = pw.sum(axis=-1), pl.sum(axis=-1)
        return w, lo, np.clip(1.0 - w - lo, 0.0, 1.0)

    def eventual(self, d=slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
        """Segment-level ``(p_win, p_lost, p_stall)`` of a new deal, shape (D, S)."""
        n_seg = self.log_h_won.shape[1]
        seg = np.arange(n_seg)
        pw, pl, *_ = self._tables(d, seg, np.full(n_seg, -1), np.zeros(n_seg))
        w, lo = pw.sum(axis=-1), pl.sum(axis=-1)
        return w, lo, np.clip(1.0 - w - lo, 0.0, 1.0)

    def _quantile(self, q: float, which: int) -> np.ndarray:
        """Quantile ``q`` of the time to a win (``which = WON``) or a loss, among those."""
        n_seg = self.log_h_won.shape[1]
        seg = np.arange(n_seg)
        pw, pl, _, width, h_tot = self._tables(
            slice(None), seg, np.full(n_seg, -1), np.zeros(n_seg)
        )
        p = pw if which == WON else pl
        h_r = np.exp(self.log_h_won if which == WON else self.log_h_lost)
        width = np.broadcast_to(width, p.shape)
        total = p.sum(axis=-1)
        cum = np.cumsum(p, axis=-1)
        goal = q * total
        # The bin where the cumulative incidence crosses the goal, then the exact time
        # inside it: before + S_j (h_r / H) (1 - exp(-H tau)) = goal.
        j = np.minimum((cum < goal[..., None]).sum(axis=-1), p.shape[-1] - 1)[..., None]
        mass = h_tot * width
        s_j = np.exp(-np.take_along_axis(np.cumsum(mass, axis=-1) - mass, j, -1)[..., 0])
        before = np.take_along_axis(cum - p, j, -1)[..., 0]
        h = np.take_along_axis(h_tot, j, -1)[..., 0]
        hr = np.take_along_axis(h_r, j, -1)[..., 0]
        w_j = np.take_along_axis(width, j, -1)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            inner = 1.0 - (goal - before) * h / (s_j * hr)
            tau = np.where(h > 0, -np.log(np.clip(inner, 1e-300, 1.0)) / h, 0.0)
        out = self.edges[:-1][j[..., 0]] + np.minimum(tau, w_j)
        return np.where(total > 0, out, np.nan)

    def won_quantile(self, q: float) -> np.ndarray:
        """Quantile ``q`` of days from creation to a win, among won deals (D, S)."""
        return self._quantile(q, WON)

    def lost_quantile(self, q: float) -> np.ndarray:
        """Quantile ``q`` of days from creation to a loss, among lost deals (D, S)."""
        return self._quantile(q, LOST)

    @cached_property
    def stall_hold_days(self) -> np.ndarray:
        """Days from creation a stalled deal holds a slot: the won cycle's 95th pct (D, S)."""
        return np.nan_to_num(self.won_quantile(STALL_QUANTILE), nan=0.0)

    def sampler(self, draws: np.ndarray) -> HazardSampler:
        """Fates and times of deals in the given draws (see :class:`HazardSampler`)."""
        draws = np.asarray(draws, dtype=np.int64)
        return HazardSampler(
            self, np.ascontiguousarray(np.exp(self.log_h_won[draws])),
            np.ascontiguousarray(np.exp(self.log_h_lost[draws])),
            np.ascontiguousarray(np.exp(self.owner_effect[draws])),
            np.ascontiguousarray(self.stall_hold_days[draws]),
        )

    def prepare(self, d: int, seg: np.ndarray, owner: np.ndarray, age: np.ndarray) -> dict:
        """What :meth:`sample` needs about deals open at ``age`` in draw ``d`` (reusable)."""
        return {"sampler": self.sampler(np.array([d])), "seg": np.asarray(seg, dtype=int),
                "owner": np.asarray(owner, dtype=int), "age": np.asarray(age, dtype=float)}

    def sample(
        self,
        rng: np.random.Generator,
        prep: dict,
        win_factor: np.ndarray | float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fate, remaining days to the close and slot hold of prepared deals (one draw).

        Parameters
        ----------
        rng : numpy.random.Generator
        prep : dict
            From :meth:`prepare`.
        win_factor : float or ndarray, shape (S,)
            Scenario multiplier of the win probability, per segment (capped at 1).

        Returns
        -------
        outcome : ndarray of int
            ``WON``, ``LOST`` or ``STALL``.
        remaining : ndarray
            Days from ``age`` to the close (``inf`` for stalled deals).
        hold : ndarray
            Days from ``age`` a deal keeps a rep's slot: to its close, or for a stalled deal
            until the segment's 95th percentile of won cycles.
        """
        seg = prep["seg"]
        u = rng.random((len(seg), 2))
        return prep["sampler"].draw(np.zeros(len(seg), dtype=np.int64), seg, prep["owner"],
                                    prep["age"], u[:, 0], u[:, 1], win_factor)


@dataclass(frozen=True)
class HazardSampler:
    """:class:`HazardOutcome` of some draws, ready to sample deals.

    Attributes
    ----------
    hw, hl : ndarray (D, S, J)
        Hazards of a win / a loss per bin (no owner effect).
    own_mult : ndarray (D, O)
        Each owner's factor on the hazard of winning.
    hold_days : ndarray (D, S)
        :attr:`HazardOutcome.stall_hold_days` of these draws.
    """

    outcome: HazardOutcome
    hw: np.ndarray
    hl: np.ndarray
    own_mult: np.ndarray
    hold_days: np.ndarray

    def draw(
        self, j: np.ndarray, seg: np.ndarray, owner: np.ndarray, age: np.ndarray,
        u_fate: np.ndarray, u_time: np.ndarray, win_factor: np.ndarray | float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fate, remaining days and slot hold of deals open at ``age``.

        ``j`` (sorted) indexes the sampler's draws; ``u_fate`` and ``u_time`` are uniforms
        on [0, 1): the fate by comparison with the (scaled) shares conditional on ``age``,
        the day by inverting the cumulative incidence of that fate
        (:mod:`targetsim.model.hazard_kernel`). ``win_factor`` as in
        :meth:`HazardOutcome.sample`.
        """
        from targetsim.model.hazard_kernel import age_bins, hazard_sample, table_width

        o = self.outcome
        n_seg = o.log_h_won.shape[1]
        n = len(j)
        seg, owner = np.asarray(seg, dtype=np.int64), np.asarray(owner, dtype=np.int64)
        n_eff = o.owner_effect.shape[1]
        # An owner without an effect (none, or beyond the table) takes the segment's row.
        cell = seg * (n_eff + 1) + np.where((owner >= 0) & (owner < n_eff), owner + 1, 0)
        factor = np.ascontiguousarray(np.broadcast_to(np.asarray(win_factor, dtype=float),
                                                      (n_seg,)))
        fate = np.empty(n, dtype=np.int64)
        remaining, hold = np.empty(n), np.empty(n)
        edges = np.asarray(o.edges, dtype=float)
        age = np.asarray(age, dtype=float)
        hazard_sample(self.hw, self.hl, self.own_mult, edges, table_width(len(edges) - 1),
                      self.hold_days, np.asarray(j, dtype=np.int64), cell, seg, age,
                      age_bins(edges, age), factor, np.asarray(u_fate, dtype=float),
                      np.asarray(u_time, dtype=float), fate, remaining, hold)
        return fate, remaining, hold


# --------------------------------------------------------------------------- log-normal
def log_survival(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``log P(T > x)`` for ``T ~ LogNormal(mu, sigma)`` (0 for ``x <= 0``)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        z = (np.log(np.maximum(x, 1e-300)) - mu) / sigma
    return np.where(x > 0, log_ndtr(-z), 0.0)


def _normalise(q_win, q_lost, q_stall, log_s_won, log_s_lost):  # noqa: ANN001, ANN202
    with np.errstate(divide="ignore"):
        lw = np.log(q_win) + log_s_won
        ll = np.log(q_lost) + log_s_lost
        ls = np.log(q_stall) + np.zeros_like(lw)
    top = np.maximum(np.maximum(lw, ll), ls)
    w, lo, s = np.exp(lw - top), np.exp(ll - top), np.exp(ls - top)
    z = w + lo + s
    return w / z, lo / z, s / z


def remaining_time(
    u: np.ndarray, age: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
    log_s_age: np.ndarray | None = None,
) -> np.ndarray:
    """Remaining days ``T - age`` with ``T ~ LogNormal(mu, sigma)`` conditional on ``T > age``.

    Inverse CDF on the conditional, on the survival scale (``S(T) = u·S(age)``), so that ages
    deep in the tail stay accurate.
    """
    if log_s_age is None:
        log_s_age = log_survival(age, mu, sigma)
    v = np.exp(np.maximum(log_s_age + np.log(u), -700.0))
    return np.maximum(np.exp(mu - sigma * ndtri(v)) - age, 0.0)


@dataclass(frozen=True)
class LogNormalOutcome:
    """Eventual shares with log-normal times to win and to loss (the legacy component).

    Attributes
    ----------
    p_win, p_lost : ndarray, shape (D, S)
        Eventual probabilities; ``p_stall = 1 - p_win - p_lost``.
    won_mu, won_sigma, lost_mu, lost_sigma : ndarray, shape (D, S)
        Log-normal parameters of days from creation to a win / a loss.
    owner_effect : ndarray, shape (D, O)
        Additive logit shift of an owner's win probability.
    stale_after_days : float
        An open deal older than this never closes (``inf``: no such rule).
    """

    p_win: np.ndarray
    p_lost: np.ndarray
    won_mu: np.ndarray
    won_sigma: np.ndarray
    lost_mu: np.ndarray
    lost_sigma: np.ndarray
    owner_effect: np.ndarray
    stale_after_days: float = np.inf
    DRAW_FIELDS: ClassVar[tuple[str, ...]] = (
        "p_win", "p_lost", "won_mu", "won_sigma", "lost_mu", "lost_sigma", "owner_effect",
    )

    @property
    def n_draws(self) -> int:
        return int(self.p_win.shape[0])

    def subset(self, idx: np.ndarray) -> LogNormalOutcome:
        return subset_draws(self, idx)

    def _eventual_deals(self, d, seg: np.ndarray, owner: np.ndarray):  # noqa: ANN001, ANN202
        q_w = self.p_win[d][..., seg]
        shift = _owner_shift(self.owner_effect, d, owner)
        q_w = np.where(shift != 0, expit(logit(np.clip(q_w, 1e-12, 1 - 1e-12)) + shift), q_w)
        pl = self.p_lost[d][..., seg]
        ps = np.clip(1.0 - self.p_win[d][..., seg] - pl, 0.0, 1.0)
        denom = pl + ps
        with np.errstate(divide="ignore", invalid="ignore"):
            frac_l = np.where(denom > 0, pl / denom, 1.0)
        return q_w, (1 - q_w) * frac_l, (1 - q_w) * (1 - frac_l)

    def cumulative(self, d, seg, owner, t):  # noqa: ANN001, ANN201
        """``(won by t, lost by t, still open at t)`` of new deals, draws ``d`` first."""
        t = np.asarray(t, dtype=float)
        qw, ql, qs = self._eventual_deals(d, seg, owner)
        sw = np.exp(log_survival(t, self.won_mu[d][..., seg], self.won_sigma[d][..., seg]))
        sl = np.exp(log_survival(t, self.lost_mu[d][..., seg], self.lost_sigma[d][..., seg]))
        won, lost = qw * (1.0 - sw), ql * (1.0 - sl)
        return won, lost, np.clip(1.0 - won - lost, 0.0, 1.0)

    def conditional(self, d, seg, owner, age):  # noqa: ANN001, ANN201
        """``(p_win, p_lost, p_stall)`` of deals still open at ``age`` days, draws ``d``."""
        age = np.asarray(age, dtype=float)
        q = self._eventual_deals(d, seg, owner)
        lsw = log_survival(age, self.won_mu[d][..., seg], self.won_sigma[d][..., seg])
        lsl = log_survival(age, self.lost_mu[d][..., seg], self.lost_sigma[d][..., seg])
        w, lo, s = _normalise(*q, lsw, lsl)
        stale = np.broadcast_to(age > self.stale_after_days, w.shape)
        return np.where(stale, 0.0, w), np.where(stale, 0.0, lo), np.where(stale, 1.0, s)

    def eventual(self, d=slice(None)):  # noqa: ANN001, ANN201
        """Segment-level ``(p_win, p_lost, p_stall)`` of a new deal, shape (D, S)."""
        pw, pl = self.p_win[d], self.p_lost[d]
        return pw, pl, np.clip(1.0 - pw - pl, 0.0, 1.0)

    def won_quantile(self, q: float) -> np.ndarray:
        return np.exp(self.won_mu + ndtri(q) * self.won_sigma)

    def lost_quantile(self, q: float) -> np.ndarray:
        return np.exp(self.lost_mu + ndtri(q) * self.lost_sigma)

    @cached_property
    def stall_hold_days(self) -> np.ndarray:
        """Days from creation a stalled deal holds a slot: the won cycle's 95th pct (D, S)."""
        return self.won_quantile(STALL_QUANTILE)

    def prepare(self, d: int, seg: np.ndarray, owner: np.ndarray, age: np.ndarray) -> dict:
        age = np.asarray(age, dtype=float)
        w, lo, s = self.conditional(d, seg, owner, age)
        return {
            "pw": w, "pl": lo, "ps": s, "age": age, "seg": seg,
            "lsw": log_survival(age, self.won_mu[d][seg], self.won_sigma[d][seg]),
            "lsl": log_survival(age, self.lost_mu[d][seg], self.lost_sigma[d][seg]),
            "d": d,
        }

    def sample(self, rng: np.random.Generator, prep: dict, win_factor):  # noqa: ANN001, ANN201
        """Fate, remaining days and slot hold (see :meth:`HazardOutcome.sample`)."""
        u = rng.random((len(prep["seg"]), 2))
        return self._sample_uniform(prep, u[:, 0], u[:, 1], win_factor)

    def _sample_uniform(self, prep: dict, u_fate, u_time, win_factor):  # noqa: ANN001, ANN202
        d, seg, age = prep["d"], prep["seg"], prep["age"]
        factor = win_factor if np.ndim(win_factor) == 0 else np.asarray(win_factor)[seg]
        pw, pl, _ = scale_win(prep["pw"], prep["pl"], prep["ps"], factor)
        outcome = np.where(u_fate < pw, WON, np.where(u_fate < pw + pl, LOST, STALL))
        won = outcome == WON
        mu = np.where(won, self.won_mu[d][seg], self.lost_mu[d][seg])
        sd = np.where(won, self.won_sigma[d][seg], self.lost_sigma[d][seg])
        remaining = remaining_time(u_time, age, mu, sd, np.where(won, prep["lsw"], prep["lsl"]))
        stall = outcome == STALL
        remaining = np.where(stall, np.inf, remaining)
        hold = np.where(stall, np.maximum(self.stall_hold_days[d][seg] - age, 0.0), remaining)
        return outcome, remaining, hold

    def sampler(self, draws: np.ndarray) -> LogNormalSampler:
        """Fates and times of deals in the given draws (see :meth:`HazardOutcome.sampler`)."""
        return LogNormalSampler(self, np.asarray(draws, dtype=np.int64))


@dataclass(frozen=True)
class LogNormalSampler:
    """:class:`LogNormalOutcome` for some draws: :meth:`HazardSampler.draw`'s contract."""

    outcome: LogNormalOutcome
    draws: np.ndarray

    def draw(self, j, seg, owner, age, u_fate, u_time, win_factor):  # noqa: ANN001, ANN201
        """See :meth:`HazardSampler.draw` (``j`` sorted: deals grouped by draw)."""
        n = len(j)
        fate, remaining, hold = np.empty(n, dtype=np.int64), np.empty(n), np.empty(n)
        bounds = np.searchsorted(j, np.arange(len(self.draws) + 1))
        for k in range(len(self.draws)):
            sl = slice(bounds[k], bounds[k + 1])
            if sl.start == sl.stop:
                continue
            prep = self.outcome.prepare(int(self.draws[k]), seg[sl], owner[sl], age[sl])
            fate[sl], remaining[sl], hold[sl] = self.outcome._sample_uniform(
                prep, u_fate[sl], u_time[sl], win_factor)
        return fate, remaining, hold


OutcomeDraws = HazardOutcome | LogNormalOutcome


def transition(
    outcome: OutcomeDraws, seg: np.ndarray, owner: np.ndarray, age_then: np.ndarray,
    age_now: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``P(won by age_now | open at age_then)`` and ``P(open at age_now | open at age_then)``.

    Every draw of ``outcome`` (D, N). Past an abandoned age (the last hazard edge, or the
    log-normal component's stale age) a deal stays open for ever.
    """
    d = slice(None)
    w0, _, o0 = outcome.cumulative(d, seg, owner, age_then)
    w1, _, o1 = outcome.cumulative(d, seg, owner, age_now)
    stale = getattr(outcome, "stale_after_days", np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_won = np.where(o0 > 0, (w1 - w0) / o0, 0.0)
        p_open = np.where(o0 > 0, o1 / o0, 1.0)
    gone = np.broadcast_to(np.asarray(age_then) > stale, p_won.shape)
    return np.where(gone, 0.0, np.clip(p_won, 0.0, 1.0)), np.where(gone, 1.0, np.clip(
        p_open, 0.0, 1.0))
