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

from dataclasses import dataclass, field, fields, replace

import numpy as np

from targetsim.errors import ConfigError
from targetsim.model.outcomes import HazardOutcome, LogNormalOutcome, OutcomeDraws


def _draw_subset(obj, idx: np.ndarray):  # noqa: ANN001, ANN202
    n = obj.n_draws
    kw = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n:
            kw[f.name] = v[idx]
    return replace(obj, **kw)


@dataclass(frozen=True)
class ArrivalDraws:
    """New opportunities per calendar month, per draw and segment.

    Attributes
    ----------
    log_rate : ndarray, shape (D, S, M)
        Log mean arrivals in calendar month ``m`` counted from the month of ``as_of``
        (``m = 0``), trend, seasonality and the draw's path of the level included.
    alpha : ndarray, shape (D, S)
        Negative-binomial dispersion of a month's count around that mean (variance
        ``mean + mean**2 / alpha``); ``inf`` = Poisson.
    """

    log_rate: np.ndarray
    alpha: np.ndarray

    @property
    def n_draws(self) -> int:
        return int(self.log_rate.shape[0])

    @property
    def months(self) -> int:
        """Number of months the paths cover (from the as-of month)."""
        return int(self.log_rate.shape[2])

    def subset(self, idx: np.ndarray) -> ArrivalDraws:
        return _draw_subset(self, idx)

    def log_mean(self, m: np.ndarray, d=slice(None)) -> np.ndarray:  # noqa: ANN001
        """Log mean arrivals of draws ``d`` in months ``m`` (..., S, len(m)).

        Raises
        ------
        ConfigError
            A month beyond the paths (a horizon too far from the data's as-of date).
        """
        m = np.asarray(m, dtype=int)
        if m.size and (m.min() < 0 or m.max() >= self.months):
            raise ConfigError(
                f"the arrival paths cover {self.months} months from the as-of month; month "
                f"{int(m.max())} was asked for: choose a horizon closer to the data"
            )
        return self.log_rate[d][..., m]

    def rebase(self, k: int) -> ArrivalDraws:
        """The same paths seen from ``k`` months later (month ``k`` becomes month 0)."""
        if k < 0 or k >= self.months:
            raise ConfigError(f"cannot move the arrival clock by {k} months")
        return replace(self, log_rate=self.log_rate[:, :, k:])

    @classmethod
    def from_trend(
        cls,
        level: np.ndarray,
        trend: np.ndarray,
        season: np.ndarray,
        alpha: np.ndarray,
        as_of_month: int,
        months: int,
    ) -> ArrivalDraws:
        """Paths ``level + trend * m + season[month of year]`` (D, S) / (D, 12) arrays."""
        m = np.arange(months)
        moy = (as_of_month - 1 + m) % 12
        log_rate = (
            level[:, :, None] + trend[:, :, None] * m[None, None, :] + season[:, None, moy]
        )
        return cls(log_rate=log_rate, alpha=np.asarray(alpha, dtype=float))


@dataclass(frozen=True)
class LogNormalSize:
    """Won contract values LogNormal(``size_mu``, ``size_sigma``) (D, S) (legacy component)."""

    size_mu: np.ndarray
    size_sigma: np.ndarray

    @property
    def n_draws(self) -> int:
        return int(self.size_mu.shape[0])

    def subset(self, idx: np.ndarray) -> LogNormalSize:
        return _draw_subset(self, idx)

    def sample(self, rng: np.random.Generator, d: int, seg: np.ndarray) -> np.ndarray:
        """One contract value per deal of segments ``seg`` in draw ``d``."""
        z = rng.standard_normal(len(seg))
        return np.exp(self.size_mu[d][seg] + self.size_sigma[d][seg] * z)

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

    @property
    def n_draws(self) -> int:
        return int(self.slices.shape[0])

    def subset(self, idx: np.ndarray) -> EmpiricalSize:
        return _draw_subset(self, idx)

    def sample(self, rng: np.random.Generator, d: int, seg: np.ndarray) -> np.ndarray:
        k = self.slices.shape[2]
        return self.slices[d][seg, rng.integers(0, k, size=len(seg))]

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

    def first(self, k: int) -> FunnelParams:
        """The first ``k`` draws (all of them when there are fewer)."""
        return self.subset(np.arange(min(self.n_draws, k)))

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
    ) -> FunnelParams:
        """Known log-normal parameters repeated over ``n_draws`` draws (tests, examples)."""
        s = len(segments)

        def arr(x: float | list[float]) -> np.ndarray:
            return np.broadcast_to(np.asarray(x, dtype=float), (s,))[None, :].repeat(n_draws, 0)

        pw = arr(p_win)
        pl = 1.0 - pw if p_lost is None else arr(p_lost)
        outcome = LogNormalOutcome(
            p_win=pw,
            p_lost=pl,
            won_mu=np.log(arr(won_median_days)),
            won_sigma=arr(won_sigma),
            lost_mu=np.log(arr(lost_median_days)),
            lost_sigma=arr(lost_sigma),
            owner_effect=np.zeros((n_draws, 0)),
        )
        size = LogNormalSize(size_mu=np.log(arr(size_median)), size_sigma=arr(size_sigma))
        arrivals = ArrivalDraws.from_trend(
            np.log(arr(arrivals_per_month)), np.zeros((n_draws, s)), np.zeros((n_draws, 12)),
            arr(arrival_alpha), 1, months,
        )
        return cls(tuple(segments), outcome, size, arrivals, as_of=as_of)


__all__ = [
    "ArrivalDraws",
    "EmpiricalSize",
    "FunnelParams",
    "HazardOutcome",
    "LogNormalOutcome",
    "LogNormalSize",
]
