"""The hand-off from the fit to the simulator: the sales process of each posterior draw.

The simulator, the tracker and the reports only ever see :class:`FunnelParams`, so they can
be built and tested against known parameters (written by hand with
:meth:`FunnelParams.constant`) as well as against a posterior. It is made of three
components, each an object with the draw axis first:

* ``outcome``: what happens to a deal and when (:mod:`targetsim.model.outcomes`:
  :class:`~targetsim.model.outcomes.HazardOutcome` or
  :class:`~targetsim.model.outcomes.LogNormalOutcome`), owner effects included;
* ``size``: the contract value of a won deal (:class:`EmpiricalSize`, quantile functions
  drawn by a Bayesian bootstrap of the won amounts, or :class:`LogNormalSize`);
* ``arrivals``: new opportunities per calendar month (:class:`ArrivalDraws`: a path of log
  mean rates per draw, month 0 being the month of ``as_of``, and a negative-binomial
  dispersion for the month-to-month noise around it).

NumPy only: the steps after the fit import this module without the sampler.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import pandas as pd

from targetsim.errors import ConfigError
from targetsim.model.outcomes import (
    HazardOutcome,
    LogNormalOutcome,
    OutcomeDraws,
    subset_draws,
)


@dataclass(frozen=True)
class ArrivalDraws:
    """New opportunities per calendar month, per draw and segment.

    Attributes
    ----------
    log_rate : ndarray, shape (D, S, M)
        Log mean arrivals per calendar month, trend, seasonality and the draw's path of
        the level included; ``log_rate[..., i]`` is month ``first_month + i`` counted from
        the month of ``as_of`` (month 0).
    alpha : ndarray, shape (D, S)
        Negative-binomial dispersion of a month's count around that mean (variance
        ``mean + mean**2 / alpha``); ``inf`` = Poisson.
    backlog_lo, backlog_hi, backlog_exposure : ndarray, shape (B,)
        Months before ``as_of`` whose new deals are not all recorded yet (an export
        artefact, see :mod:`targetsim.model.components.local_trend`): their first and last
        day (days from ``as_of``, negative) and the fraction of the month observed. The
        simulator adds the deals the rate says are missing, still open at ``as_of``.
    backlog_observed : ndarray, shape (S, B)
        Deals recorded in those months.
    first_month : int
        Month of the first column of ``log_rate`` (0: the paths start at the as-of month;
        negative: they cover history too, as known parameters written by hand do).
    """

    log_rate: np.ndarray
    alpha: np.ndarray
    DRAW_FIELDS: ClassVar[tuple[str, ...]] = ("log_rate", "alpha")
    first_month: int = 0
    backlog_lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    backlog_hi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    backlog_exposure: np.ndarray = field(default_factory=lambda: np.zeros(0))
    backlog_observed: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def n_draws(self) -> int:
        return int(self.log_rate.shape[0])

    @property
    def last_month(self) -> int:
        """Last month (counted from the as-of month) the paths cover."""
        return self.first_month + int(self.log_rate.shape[2]) - 1

    def subset(self, idx: np.ndarray) -> ArrivalDraws:
        return subset_draws(self, idx)

    def log_mean(self, m: np.ndarray, d=slice(None)) -> np.ndarray:  # noqa: ANN001
        """Log mean arrivals of draws ``d`` in months ``m`` (..., S, len(m)).

        Raises
        ------
        ConfigError
            A month the paths do not cover (a horizon too far from the data's as-of date).
        """
        m = np.asarray(m, dtype=int)
        if m.size and (m.min() < self.first_month or m.max() > self.last_month):
            raise ConfigError(
                f"the arrival paths cover months {self.first_month} to {self.last_month} "
                f"from the as-of month; month {int(m.max())} was asked for: choose a horizon "
                "closer to the data"
            )
        return self.log_rate[d][..., m - self.first_month]

    def rebase(self, k: int) -> ArrivalDraws:
        """The same paths seen from ``k`` months later (month ``k`` becomes month 0).

        The backlog of unrecorded deals belongs to the original as-of date: dropped.
        """
        return ArrivalDraws(log_rate=self.log_rate, alpha=self.alpha,
                            first_month=self.first_month - k)

    def missing(self, d: int | np.ndarray) -> np.ndarray:
        """Expected unrecorded deals of draw(s) ``d`` per segment and backlog month.

        Shape (S, B) for one draw, (len(d), S, B) for an array of draws.
        """
        if self.backlog_lo.size == 0:
            return np.zeros(np.shape(d) + (self.log_rate.shape[1], 0))
        level = np.exp(self.log_mean(np.array([0]), d)[..., 0])
        return np.maximum(level[..., None] * self.backlog_exposure - self.backlog_observed, 0.0)

    @classmethod
    def from_trend(
        cls,
        level: np.ndarray,
        trend: np.ndarray,
        season: np.ndarray,
        alpha: np.ndarray,
        as_of_month: int,
        months: int,
        first_month: int = 0,
    ) -> ArrivalDraws:
        """Paths ``level + trend * m + season[month of year]`` (D, S) / (D, 12) arrays.

        ``as_of_month`` is the as-of date's month of year (1-12); the paths run from month
        ``first_month`` for ``months`` months.
        """
        m = np.arange(first_month, first_month + months)
        moy = (as_of_month - 1 + m) % 12
        log_rate = (
            level[:, :, None] + trend[:, :, None] * m[None, None, :] + season[:, None, moy]
        )
        return cls(log_rate=log_rate, alpha=np.asarray(alpha, dtype=float),
                   first_month=first_month)


@dataclass(frozen=True)
class LogNormalSize:
    """Won contract values LogNormal(``size_mu``, ``size_sigma``) (D, S) (legacy component)."""

    size_mu: np.ndarray
    size_sigma: np.ndarray
    DRAW_FIELDS: ClassVar[tuple[str, ...]] = ("size_mu", "size_sigma")

    @property
    def n_draws(self) -> int:
        return int(self.size_mu.shape[0])

    def subset(self, idx: np.ndarray) -> LogNormalSize:
        return subset_draws(self, idx)

    def sample(self, rng: np.random.Generator, d: int, seg: np.ndarray) -> np.ndarray:
        """One contract value per deal of segments ``seg`` in draw ``d``."""
        z = rng.standard_normal(len(seg))
        return np.exp(self.size_mu[d][seg] + self.size_sigma[d][seg] * z)

    def quantile(self, d: np.ndarray, seg: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Contract value at quantile ``u`` of draw ``d[i]`` and segment ``seg[i]``."""
        from scipy.special import ndtri

        return np.exp(self.size_mu[d, seg] + self.size_sigma[d, seg] * ndtri(u))

    def mean(self) -> np.ndarray:
        """Mean contract value (D, S)."""
        return np.exp(self.size_mu + self.size_sigma**2 / 2)

    def median(self) -> np.ndarray:
        return np.exp(self.size_mu)


@dataclass(frozen=True)
class EmpiricalSize:
    """Won contract values as a quantile function per draw and segment (no fixed shape).

    Each draw's distribution is a Bayesian bootstrap of the segment's won amounts, mixed
    (Dirichlet process) with the pooled amounts of every segment rescaled to the segment,
    so a small segment borrows shape from the others (see
    :mod:`targetsim.model.components.empirical_size`). It is stored as ``K`` equally likely
    values (the means of ``K`` slices of probability ``1/K``), which keeps each draw's mean
    exact and list prices as atoms.

    Attributes
    ----------
    slices : ndarray, shape (D, S, K)
        Sorted slice means.
    """

    slices: np.ndarray
    DRAW_FIELDS: ClassVar[tuple[str, ...]] = ("slices",)

    @property
    def n_draws(self) -> int:
        return int(self.slices.shape[0])

    def subset(self, idx: np.ndarray) -> EmpiricalSize:
        return subset_draws(self, idx)

    def sample(self, rng: np.random.Generator, d: int, seg: np.ndarray) -> np.ndarray:
        k = self.slices.shape[2]
        return self.slices[d][seg, rng.integers(0, k, size=len(seg))]

    def quantile(self, d: np.ndarray, seg: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Contract value at quantile ``u`` of draw ``d[i]`` and segment ``seg[i]``."""
        k = self.slices.shape[2]
        return self.slices[d, seg, np.minimum((u * k).astype(np.int64), k - 1)]

    def mean(self) -> np.ndarray:
        return self.slices.mean(axis=2)

    def median(self) -> np.ndarray:
        return np.median(self.slices, axis=2)


SizeDraws = EmpiricalSize | LogNormalSize


@dataclass(frozen=True)
class FunnelParams:
    """The sales process of ``n_draws`` posterior draws.

    Attributes
    ----------
    segments : tuple of str
        Segment names (axis ``S``).
    outcome : HazardOutcome or LogNormalOutcome
        Fate and timing of deals (owner effects included).
    size : EmpiricalSize or LogNormalSize
        Won contract values.
    arrivals : ArrivalDraws
        New opportunities per month.
    owners : tuple of str
        Owner names (axis ``O``), empty when the data has none.
    owner_share : ndarray, shape (S, O)
        Share of a segment's new opportunities each owner receives (rows sum to 1 when
        owners exist), from the history.
    as_of : str
        ISO date of the data's as-of date; month 0 of the arrival clock.
    """

    segments: tuple[str, ...]
    outcome: OutcomeDraws
    size: SizeDraws
    arrivals: ArrivalDraws
    owners: tuple[str, ...] = ()
    owner_share: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    as_of: str = "1970-01-01"

    def __post_init__(self) -> None:
        n = {self.outcome.n_draws, self.size.n_draws, self.arrivals.n_draws}
        if len(n) != 1:
            raise ConfigError(f"components disagree on the number of draws: {sorted(n)}")

    @property
    def n_draws(self) -> int:
        return self.outcome.n_draws

    @property
    def owner_effect(self) -> np.ndarray:
        """Owner effects (D, O) of the outcome component."""
        return self.outcome.owner_effect

    @property
    def p_win(self) -> np.ndarray:
        """Eventual win probability of a new deal (D, S), no owner effect."""
        return self.outcome.eventual()[0]

    @property
    def p_lost(self) -> np.ndarray:
        return self.outcome.eventual()[1]

    @property
    def p_stall(self) -> np.ndarray:
        return self.outcome.eventual()[2]

    def subset(self, draws: np.ndarray) -> FunnelParams:
        """The same process restricted to the given draw indices."""
        idx = np.asarray(draws)
        return replace(
            self,
            outcome=self.outcome.subset(idx),
            size=self.size.subset(idx),
            arrivals=self.arrivals.subset(idx),
        )

    def with_owners(
        self, owners: tuple[str, ...], owner_effect: np.ndarray, owner_share: np.ndarray
    ) -> FunnelParams:
        """The same process with reps: their effects (D, O) and shares of segments (S, O)."""
        return replace(
            self, owners=tuple(owners), owner_share=np.asarray(owner_share, dtype=float),
            outcome=replace(self.outcome, owner_effect=np.asarray(owner_effect, dtype=float)),
        )

    def first(self, k: int) -> FunnelParams:
        """The first ``k`` draws (all of them when there are fewer)."""
        return self.subset(np.arange(min(self.n_draws, k)))

    @classmethod
    def lognormal(
        cls,
        segments: tuple[str, ...],
        *,
        p_win: np.ndarray,
        p_lost: np.ndarray,
        won_mu: np.ndarray,
        won_sigma: np.ndarray,
        lost_mu: np.ndarray,
        lost_sigma: np.ndarray,
        size_mu: np.ndarray,
        size_sigma: np.ndarray,
        arrival_log_rate: np.ndarray,
        arrival_trend: np.ndarray | None = None,
        season: np.ndarray | None = None,
        arrival_alpha: np.ndarray | float = np.inf,
        owners: tuple[str, ...] = (),
        owner_effect: np.ndarray | None = None,
        owner_share: np.ndarray | None = None,
        as_of: str = "2026-12-31",
        stale_after_days: float = np.inf,
        months: int = 121,
        history_months: int = 60,
    ) -> FunnelParams:
        """The log-normal components from arrays with the draw axis first (D, S).

        Arrivals: ``exp(arrival_log_rate + arrival_trend * m + season[month of year])`` in
        month ``m`` from the as-of month, paths covering ``history_months`` before it and
        ``months`` from it. For known parameters written by hand (tests, benchmarks).
        """
        p_win = np.asarray(p_win, dtype=float)
        n, s = p_win.shape
        zeros = np.zeros((n, s))
        outcome = LogNormalOutcome(
            p_win=p_win, p_lost=np.asarray(p_lost, float), won_mu=np.asarray(won_mu, float),
            won_sigma=np.asarray(won_sigma, float), lost_mu=np.asarray(lost_mu, float),
            lost_sigma=np.asarray(lost_sigma, float),
            owner_effect=np.zeros((n, len(owners))) if owner_effect is None else np.asarray(
                owner_effect, float),
            stale_after_days=float(stale_after_days),
        )
        size = LogNormalSize(size_mu=np.asarray(size_mu, float),
                             size_sigma=np.asarray(size_sigma, float))
        arrivals = ArrivalDraws.from_trend(
            np.asarray(arrival_log_rate, float),
            zeros if arrival_trend is None else np.asarray(arrival_trend, float),
            np.zeros((n, 12)) if season is None else np.asarray(season, float),
            np.broadcast_to(np.asarray(arrival_alpha, float), (n, s)).copy(),
            int(pd.Timestamp(as_of).month), months + history_months, first_month=-history_months,
        )
        if owner_share is None:
            owner_share = np.zeros((s, len(owners))) if owners else np.zeros((0, 0))
        return cls(tuple(segments), outcome, size, arrivals, owners=tuple(owners),
                   owner_share=np.asarray(owner_share, float), as_of=as_of)

    @classmethod
    def constant(
        cls,
        segments: tuple[str, ...],
        *,
        p_win: float | list[float],
        p_lost: float | list[float] | None = None,
        won_median_days: float | list[float] = 60.0,
        won_sigma: float = 0.5,
        lost_median_days: float | list[float] = 30.0,
        lost_sigma: float = 0.5,
        size_median: float | list[float] = 10_000.0,
        size_sigma: float = 0.5,
        arrivals_per_month: float | list[float] = 20.0,
        arrival_alpha: float = np.inf,
        n_draws: int = 1,
        as_of: str = "2026-12-31",
        months: int = 121,
        history_months: int = 60,
    ) -> FunnelParams:
        """Known log-normal parameters repeated over ``n_draws`` draws (tests, examples).

        The arrival paths cover ``history_months`` before the as-of month (for synthetic
        exports) and ``months`` from it.
        """
        s = len(segments)

        def arr(x: float | list[float]) -> np.ndarray:
            return np.broadcast_to(np.asarray(x, dtype=float), (s,))[None, :].repeat(n_draws, 0)

        pw = arr(p_win)
        return cls.lognormal(
            segments,
            p_win=pw,
            p_lost=1.0 - pw if p_lost is None else arr(p_lost),
            won_mu=np.log(arr(won_median_days)),
            won_sigma=arr(won_sigma),
            lost_mu=np.log(arr(lost_median_days)),
            lost_sigma=arr(lost_sigma),
            size_mu=np.log(arr(size_median)),
            size_sigma=arr(size_sigma),
            arrival_log_rate=np.log(arr(arrivals_per_month)),
            arrival_alpha=arr(arrival_alpha),
            as_of=as_of,
            months=months,
            history_months=history_months,
        )


__all__ = [
    "ArrivalDraws",
    "EmpiricalSize",
    "FunnelParams",
    "HazardOutcome",
    "LogNormalOutcome",
    "LogNormalSize",
]
