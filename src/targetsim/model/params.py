"""The hand-off from the fit to the simulator: funnel parameters per posterior draw.

The simulator only ever sees this object, so it can be built and tested against known
parameters (a :class:`FunnelParams` written by hand) as well as against a posterior.

The funnel of one segment ``s`` (and owner ``o``) is a three-way competing outcome:

* an opportunity is eventually **won** with probability
  ``win_prob(s, o) = expit(logit(p_win[s]) + owner_effect[o])``;
* otherwise it is **lost** or **stalls** (never closes: it stays open for ever and goes
  cold), splitting the rest in the ratio ``p_lost[s] : p_stall[s]``;
* the time from creation to the win is LogNormal(``won_mu[s]``, ``won_sigma[s]``) days,
  to the loss LogNormal(``lost_mu[s]``, ``lost_sigma[s]``) days;
* a won deal's contract value is LogNormal(``size_mu[s]``, ``size_sigma[s]``);
* new opportunities arrive per calendar month ``m`` (months counted from the month of
  ``as_of``, so ``m = 1`` is the first month after it) as NegativeBinomial with mean
  ``exp(arrival_log_rate[s] + arrival_trend[s] * m + season[month_of_year(m)])`` and
  dispersion ``arrival_alpha[s]`` (``inf`` = Poisson).

Every array has the draw axis first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, logit


@dataclass(frozen=True)
class FunnelParams:
    """Funnel parameters for ``n_draws`` posterior draws.

    Attributes
    ----------
    segments : tuple of str
        Segment names (axis ``S``).
    p_win, p_lost : ndarray, shape (D, S)
        Eventual probabilities of winning and losing; ``p_stall = 1 - p_win - p_lost``.
    won_mu, won_sigma, lost_mu, lost_sigma : ndarray, shape (D, S)
        Log-normal parameters of days from creation to win / loss.
    size_mu, size_sigma : ndarray, shape (D, S)
        Log-normal parameters of a won deal's contract value.
    arrival_log_rate, arrival_trend : ndarray, shape (D, S)
        Log mean arrivals per month at the month of ``as_of`` and its slope per month.
    season : ndarray, shape (D, 12)
        Additive log effect of each calendar month (January first); zeros = no seasonality.
    arrival_alpha : ndarray, shape (D, S)
        Negative-binomial dispersion (variance = mean + mean**2 / alpha); ``inf`` = Poisson.
    owners : tuple of str
        Owner names (axis ``O``), empty when the data has none.
    owner_effect : ndarray, shape (D, O)
        Additive logit shift of an owner's win probability.
    owner_share : ndarray, shape (S, O)
        Share of a segment's new opportunities each owner receives (rows sum to 1 when
        owners exist), from the history.
    as_of : str
        ISO date of the data's as-of date; month 0 of the arrival clock.
    stale_after_days : float
        An open deal older than this (days since creation) is abandoned: it never closes.
        ``inf`` (default): no such rule.
    """

    segments: tuple[str, ...]
    p_win: np.ndarray
    p_lost: np.ndarray
    won_mu: np.ndarray
    won_sigma: np.ndarray
    lost_mu: np.ndarray
    lost_sigma: np.ndarray
    size_mu: np.ndarray
    size_sigma: np.ndarray
    arrival_log_rate: np.ndarray
    arrival_trend: np.ndarray
    season: np.ndarray
    arrival_alpha: np.ndarray
    owners: tuple[str, ...] = ()
    owner_effect: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    owner_share: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    as_of: str = "1970-01-01"
    stale_after_days: float = np.inf

    @property
    def n_draws(self) -> int:
        return int(self.p_win.shape[0])

    @property
    def p_stall(self) -> np.ndarray:
        return np.clip(1.0 - self.p_win - self.p_lost, 0.0, 1.0)

    def win_prob(self, segment_idx: np.ndarray, owner_idx: np.ndarray | None = None) -> np.ndarray:
        """Eventual win probability per draw for deals of given segments (and owners).

        ``owner_idx`` of -1 means no owner (no effect).
        """
        p = self.p_win[:, segment_idx]
        if owner_idx is None or len(self.owners) == 0:
            return p
        eff = np.where(owner_idx >= 0, self.owner_effect[:, np.maximum(owner_idx, 0)], 0.0)
        return expit(logit(np.clip(p, 1e-12, 1 - 1e-12)) + eff)

    def subset(self, draws: np.ndarray) -> FunnelParams:
        """The same parameters restricted to the given draw indices."""
        kw = {}
        n = self.n_draws
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            # owner_share has no draw axis; owner_effect is (0, 0) when there are no owners
            if isinstance(v, np.ndarray) and name != "owner_share" and v.ndim >= 1:
                if v.shape[0] == n:
                    v = v[draws]
            kw[name] = v
        return FunnelParams(**kw)

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
    ) -> FunnelParams:
        """Known parameters repeated over ``n_draws`` draws (for tests and examples)."""
        s = len(segments)

        def arr(x: float | list[float]) -> np.ndarray:
            return np.broadcast_to(np.asarray(x, dtype=float), (s,))[None, :].repeat(n_draws, 0)

        pw = arr(p_win)
        pl = 1.0 - pw if p_lost is None else arr(p_lost)
        return cls(
            segments=tuple(segments),
            p_win=pw,
            p_lost=pl,
            won_mu=np.log(arr(won_median_days)),
            won_sigma=arr(won_sigma),
            lost_mu=np.log(arr(lost_median_days)),
            lost_sigma=arr(lost_sigma),
            size_mu=np.log(arr(size_median)),
            size_sigma=arr(size_sigma),
            arrival_log_rate=np.log(arr(arrivals_per_month)),
            arrival_trend=np.zeros((n_draws, s)),
            season=np.zeros((n_draws, 12)),
            arrival_alpha=arr(arrival_alpha),
            as_of=as_of,
        )
