"""Ground truth for the calibration benchmark: CRM exports from a declared process, and the
true distribution of the horizon's outcomes given what an export shows.

Written apart from targetsim (this module imports none of it and copies none of its code),
so the benchmark can judge the model on processes the model was not written for.

The true process
----------------
A :class:`Generator` declares it. Each segment receives new opportunities as a Poisson
process (optionally with a Gamma-distributed multiplier per segment and month: negative
binomial counts) whose monthly rate is ``rate × (1 + growth)^k × season[month of year] ×
shift`` in month ``k`` of the history (``k = 0`` is its first month) and continues the same
way after it. A deal is owned by one of the segment's owners (shares per segment); it is
eventually won with probability ``expit(logit(p_win) + skill of its owner)``; the rest is
split between *lost* and *no decision* (never closes) in the segment's proportions
``p_lost : 1 - p_win - p_lost``. Won and lost deals close after a cycle of ``T`` days drawn
from the segment's won or lost cycle distribution; every deal has a real value drawn from
the segment's deal-size distribution, independent of everything else.

Time convention: days are integers. A deal created on day ``c`` with cycle ``T`` closes on
day ``c + ceil(T)``. A deal of the export is open at the as-of day ``D`` when it closes
after ``D``: with age ``a = D - c`` that is exactly ``T > a``.

Export artefacts (:class:`ExportSpec`) belong to the history only: in the first months the
CRM records only a share of the deals (a ramp-up of CRM adoption; unrecorded deals never
enter the CRM, so they never count); in the as-of month only a share of the new deals is
recorded by the as-of date (a thin last month; the others exist, are recorded later and
close like any deal, so the truth counts them). Open deals show an estimated amount (the
real value times log-normal noise, sometimes missing); lost deals' amounts are sometimes
missing.

The truth
---------
:func:`true_outcomes` simulates the process over the 12 calendar months after the as-of
month (the horizon ``targetsim plan`` uses by default), conditional on what the export
shows: each open deal's fate is drawn from its conditional distribution given that it is
still open at its age (``P(win | T > a) ∝ p_win S_won(a)``, against ``p_lost S_lost(a)``
and ``p_no_decision``; its cycle from ``T | T > a``), never from the fate it was generated
with; the unrecorded deals of the thin last month and the new deals of the horizon come
from the arrival process (with over-dispersion, the last month's multiplier is drawn from
its posterior given the recorded count). The result holds bookings and deals won per
replication, segment and month, so any target can be scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import special, stats

#: Version of the generators and the truth: bump it when a data set or its truth would
#: change, so the benchmark's resumable results are not mixed across versions.
VERSION = "1"
#: Columns of the canonical export (DESIGN.md, "Input: canonical opportunities table").
EXPORT_COLUMNS = (
    "opportunity_id", "created_at", "outcome", "closed_at", "amount", "segment", "owner",
)
#: Months of the horizon the truth covers (``targetsim plan``'s default).
HORIZON_MONTHS = 12
#: Name of the company-wide level in :meth:`Truth.outcome`.
TOTAL = "total"
#: Name of the whole-horizon period.
FY = "FY"


# --------------------------------------------------------------------------- distributions


class Distribution(Protocol):
    """A positive continuous distribution: cycle lengths in days or deal values."""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray: ...

    def logsf(self, t: np.ndarray) -> np.ndarray: ...

    def sample_after(self, rng: np.random.Generator, a: np.ndarray) -> np.ndarray: ...

    def q50(self) -> float: ...


class _Scipy:
    """Shared methods of distributions backed by a frozen :mod:`scipy.stats` law."""

    def rv(self) -> Any:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws."""
        return np.asarray(self.rv().rvs(size=n, random_state=rng), dtype=float)

    def logsf(self, t: np.ndarray) -> np.ndarray:
        """``log P(X > t)``."""
        return np.asarray(self.rv().logsf(np.asarray(t, dtype=float)), dtype=float)

    def sample_after(self, rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
        """One draw of ``X | X > a`` for each ``a`` (inverse survival function).

        ``X = S⁻¹(U · S(a))`` with ``U`` uniform; ``U · S(a)`` is formed in log space, so
        ages down to a survival of about 1e-300 are drawn accurately.
        """
        a = np.asarray(a, dtype=float)
        log_u = np.log(rng.uniform(size=a.shape))
        x = self.rv().isf(np.exp(log_u + self.logsf(a)))
        return np.maximum(np.asarray(x, dtype=float), a)

    def q50(self) -> float:
        """Median."""
        return float(self.rv().median())


@dataclass(frozen=True)
class LogNormal(_Scipy):
    """Log-normal with the given median and log-scale ``sigma``."""

    median: float
    sigma: float

    def rv(self) -> Any:
        return stats.lognorm(s=self.sigma, scale=self.median)


@dataclass(frozen=True)
class Weibull(_Scipy):
    """Weibull with ``shape`` k and ``scale`` λ (``S(t) = exp(-(t/λ)^k)``)."""

    shape: float
    scale: float

    def rv(self) -> Any:
        return stats.weibull_min(c=self.shape, scale=self.scale)


@dataclass(frozen=True)
class Gamma(_Scipy):
    """Gamma with the given ``shape`` and ``mean``."""

    shape: float
    mean: float

    def rv(self) -> Any:
        return stats.gamma(a=self.shape, scale=self.mean / self.shape)


@dataclass(frozen=True)
class LogLogistic(_Scipy):
    """Log-logistic (Fisk) with the given median and ``shape`` (heavier tail when small)."""

    median: float
    shape: float

    def rv(self) -> Any:
        return stats.fisk(c=self.shape, scale=self.median)


@dataclass(frozen=True)
class Exponential(_Scipy):
    """Exponential with the given mean (memoryless: ``T - a | T > a`` is the same law)."""

    mean: float

    def rv(self) -> Any:
        return stats.expon(scale=self.mean)


@dataclass(frozen=True)
class Uniform(_Scipy):
    """Uniform on ``[low, high]``."""

    low: float
    high: float

    def rv(self) -> Any:
        return stats.uniform(loc=self.low, scale=self.high - self.low)


@dataclass(frozen=True)
class Mixture:
    """A mixture of distributions, e.g. very fast deals beside slow ones."""

    components: tuple[Distribution, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.components) != len(self.weights) or not self.components:
            raise ValueError("Mixture: one weight per component, at least one component")
        if min(self.weights) < 0 or not math.isclose(sum(self.weights), 1.0, abs_tol=1e-9):
            raise ValueError(f"Mixture: weights must be >= 0 and sum to 1, got {self.weights}")

    def _pick(self, rng: np.random.Generator, log_w: np.ndarray) -> np.ndarray:
        """Component index per row of ``log_w`` (rows: items, columns: components)."""
        p = np.exp(log_w - special.logsumexp(log_w, axis=1, keepdims=True))
        u = rng.uniform(size=(p.shape[0], 1))
        return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), len(self.components) - 1)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k = rng.choice(len(self.components), size=n, p=np.asarray(self.weights))
        out = np.empty(n)
        for j, comp in enumerate(self.components):
            sel = k == j
            out[sel] = comp.sample(rng, int(sel.sum()))
        return out

    def logsf(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore"):
            parts = [np.log(w) + c.logsf(t) for c, w in zip(self.components, self.weights,
                                                            strict=True)]
        return special.logsumexp(np.stack(parts, axis=-1), axis=-1)

    def sample_after(self, rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
        """``X | X > a``: the component in proportion to ``w_k S_k(a)``, then its tail."""
        a = np.asarray(a, dtype=float)
        with np.errstate(divide="ignore"):
            log_w = np.stack([np.log(w) + c.logsf(a) for c, w in zip(
                self.components, self.weights, strict=True)], axis=-1)
        k = self._pick(rng, log_w.reshape(-1, len(self.components))).reshape(a.shape)
        out = np.empty(a.shape)
        for j, comp in enumerate(self.components):
            sel = k == j
            out[sel] = comp.sample_after(rng, a[sel])
        return out

    def q50(self) -> float:
        """Median (bisection on the survival function)."""
        lo, hi = 0.0, 1.0
        while np.exp(self.logsf(np.array(hi))) > 0.5:
            hi *= 2.0
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if np.exp(self.logsf(np.array(mid))) > 0.5 else (lo, mid)
        return 0.5 * (lo + hi)


@dataclass(frozen=True)
class ListPrices:
    """A handful of list prices, each sold at a small discount (uniform up to ``max_discount``)."""

    prices: tuple[float, ...]
    weights: tuple[float, ...]
    max_discount: float = 0.1

    def __post_init__(self) -> None:
        if len(self.prices) != len(self.weights) or not self.prices:
            raise ValueError("ListPrices: one weight per price, at least one price")
        if not math.isclose(sum(self.weights), 1.0, abs_tol=1e-9) or min(self.weights) < 0:
            raise ValueError(f"ListPrices: weights must be >= 0 and sum to 1: {self.weights}")
        if not 0.0 <= self.max_discount < 1.0:
            raise ValueError(f"ListPrices: max_discount in [0, 1), got {self.max_discount}")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent deal values."""
        price = rng.choice(np.asarray(self.prices, dtype=float), size=n,
                           p=np.asarray(self.weights))
        return price * (1.0 - rng.uniform(0.0, self.max_discount, size=n))


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Segment:
    """One segment of the true process.

    Attributes
    ----------
    name : str
    rate : float
        Expected new deals a month in the first month of the history, before growth,
        season and level shift.
    p_win, p_lost : float
        Eventual probabilities of a win and of a recorded loss for an owner of skill 0; the
        rest (``1 - p_win - p_lost``) never closes (stalled, no decision).
    won_cycle, lost_cycle : Distribution
        Days from creation to a win, to a loss.
    size : Distribution or ListPrices
        Real value of a deal.
    owners : tuple of (str, float)
        Owner names and their shares of the segment's deals (summing to 1).
    """

    name: str
    rate: float
    p_win: float
    p_lost: float
    won_cycle: Distribution
    lost_cycle: Distribution
    size: Distribution | ListPrices
    owners: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"segment {self.name}: rate must be > 0, got {self.rate}")
        if not (0 < self.p_win < 1 and 0 <= self.p_lost and self.p_win + self.p_lost <= 1):
            raise ValueError(f"segment {self.name}: need 0 < p_win < 1, p_lost >= 0 and "
                             f"p_win + p_lost <= 1, got {self.p_win}, {self.p_lost}")
        shares = [s for _, s in self.owners]
        if not shares or min(shares) <= 0 or not math.isclose(sum(shares), 1.0, abs_tol=1e-9):
            raise ValueError(f"segment {self.name}: owner shares must be > 0 and sum to 1")

    @property
    def p_no_decision(self) -> float:
        return max(1.0 - self.p_win - self.p_lost, 0.0)

    @property
    def owner_names(self) -> tuple[str, ...]:
        return tuple(o for o, _ in self.owners)

    @property
    def owner_shares(self) -> np.ndarray:
        return np.array([s for _, s in self.owners])


@dataclass(frozen=True)
class Owner:
    """A rep: ``skill`` is added to the logit of the win probability of their deals."""

    name: str
    skill: float = 0.0


@dataclass(frozen=True)
class ArrivalSpec:
    """How the monthly rate of new deals moves (history and future alike).

    Attributes
    ----------
    growth : float
        Relative change per month (0.01 = +1 % a month, -0.01 a decline).
    season : tuple of 12 float
        Multiplier per month of the year (January first).
    shift_month : int, optional
        History month (0 = first) from which the rate is multiplied by ``shift_factor``.
    shift_factor : float
    dispersion : float, optional
        Shape ``k`` of a Gamma(k, 1/k) multiplier of each segment's rate per month (negative
        binomial counts); None = Poisson.
    """

    growth: float = 0.0
    season: tuple[float, ...] = (1.0,) * 12
    shift_month: int | None = None
    shift_factor: float = 1.0
    dispersion: float | None = None

    def __post_init__(self) -> None:
        if len(self.season) != 12 or min(self.season) <= 0:
            raise ValueError("season: 12 positive multipliers, January first")
        if self.growth <= -1 or self.shift_factor <= 0:
            raise ValueError("growth must be > -1 and shift_factor > 0")
        if self.dispersion is not None and self.dispersion <= 0:
            raise ValueError("dispersion must be > 0 (or None for Poisson)")

    def multiplier(self, k: np.ndarray, month_of_year: np.ndarray) -> np.ndarray:
        """Rate multiplier in month ``k`` (0 = first month of the history)."""
        k = np.asarray(k, dtype=float)
        out = (1.0 + self.growth) ** k * np.asarray(self.season)[np.asarray(month_of_year) - 1]
        if self.shift_month is not None:
            out = out * np.where(k >= self.shift_month, self.shift_factor, 1.0)
        return out


@dataclass(frozen=True)
class ExportSpec:
    """Artefacts of the CRM export (history only, never the future).

    Attributes
    ----------
    ramp : tuple of float
        Share of deals the CRM recorded in each of the first months of the history.
    thin_last_month : float
        Share of the as-of month's new deals recorded by the as-of date.
    open_amount_noise : float
        Log-scale sd of an open deal's estimated amount around its real value.
    open_amount_missing, lost_amount_missing : float
        Probability that an open deal's estimate, a lost deal's amount, is empty.
    """

    ramp: tuple[float, ...] = ()
    thin_last_month: float = 1.0
    open_amount_noise: float = 0.25
    open_amount_missing: float = 0.1
    lost_amount_missing: float = 0.5

    def __post_init__(self) -> None:
        if any(not 0 < r <= 1 for r in (*self.ramp, self.thin_last_month)):
            raise ValueError("ramp and thin_last_month are shares in (0, 1]")
        if not (0 <= self.open_amount_missing <= 1 and 0 <= self.lost_amount_missing <= 1):
            raise ValueError("missing-amount probabilities are in [0, 1]")


@dataclass(frozen=True)
class Generator:
    """The true process of one benchmark case (see the module docstring).

    Attributes
    ----------
    name, description : str
    segments : tuple of Segment
    owners : tuple of Owner
        Every owner named by a segment, with their skill.
    arrivals : ArrivalSpec
    export : ExportSpec
    history_months : int
        Months of history up to and including the as-of month.
    as_of : str
        The export's as-of date, the last day of a month (``YYYY-MM-DD``).
    """

    name: str
    description: str
    segments: tuple[Segment, ...]
    owners: tuple[Owner, ...]
    arrivals: ArrivalSpec = field(default_factory=ArrivalSpec)
    export: ExportSpec = field(default_factory=ExportSpec)
    history_months: int = 24
    as_of: str = "2025-12-31"

    def __post_init__(self) -> None:
        as_of = pd.Timestamp(self.as_of)
        if as_of != as_of + pd.offsets.MonthEnd(0):
            raise ValueError(f"{self.name}: as_of must be the last day of a month: {self.as_of}")
        if not 6 <= self.history_months <= 120:
            raise ValueError(f"{self.name}: history_months in [6, 120]")
        if len(self.export.ramp) >= self.history_months - 1:
            raise ValueError(f"{self.name}: the ramp must end before the last month")
        known = {o.name for o in self.owners}
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"{self.name}: segment names must be unique and non-empty")
        for s in self.segments:
            missing = set(s.owner_names) - known
            if missing:
                raise ValueError(f"{self.name}: segment {s.name} names unknown owners {missing}")

    # -- derived quantities ---------------------------------------------------------------

    @property
    def segment_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.segments)

    @property
    def as_of_date(self) -> pd.Timestamp:
        return pd.Timestamp(self.as_of)

    @property
    def first_month(self) -> pd.Period:
        return self.as_of_date.to_period("M") - (self.history_months - 1)

    def skill(self, owner: str) -> float:
        return next(o.skill for o in self.owners if o.name == owner)

    def owner_probabilities(self, seg: Segment) -> np.ndarray:
        """(owners, 3): P(win), P(lost), P(no decision) for each of the segment's owners."""
        skills = np.array([self.skill(o) for o in seg.owner_names])
        p_win = special.expit(special.logit(seg.p_win) + skills)
        rest = 1.0 - p_win
        lost_share = seg.p_lost / (seg.p_lost + seg.p_no_decision) if seg.p_lost > 0 else 0.0
        return np.stack([p_win, rest * lost_share, rest * (1.0 - lost_share)], axis=1)

    def segment_win_rate(self, seg: Segment) -> float:
        """Eventual win rate of the segment's deals (owners' shares and skills)."""
        return float(seg.owner_shares @ self.owner_probabilities(seg)[:, 0])

    def monthly_rate(self, seg: Segment, months: Sequence[pd.Period]) -> np.ndarray:
        """True expected new deals of ``seg`` in calendar ``months`` (history or future)."""
        k = np.array([(m - self.first_month).n for m in months])
        moy = np.array([m.month for m in months])
        return seg.rate * self.arrivals.multiplier(k, moy)

    def recorded_share(self, k: int) -> float:
        """Share of the deals of month ``k`` the export shows (1 after the history)."""
        if k >= self.history_months:
            return 1.0
        if k < len(self.export.ramp):
            return self.export.ramp[k]
        if k == self.history_months - 1:
            return self.export.thin_last_month
        return 1.0


# --------------------------------------------------------------------------- data sets


def _day(ts: pd.Timestamp | pd.Period) -> int:
    """Day number (days since 1970-01-01) of a date or of a month's first day."""
    if isinstance(ts, pd.Period):
        ts = ts.start_time
    return int(np.datetime64(pd.Timestamp(ts).date(), "D").astype(np.int64))


def _days_in(m: pd.Period) -> int:
    return int(m.days_in_month)


@dataclass(frozen=True)
class ObservedState:
    """What the truth conditions on: the export's open pipeline (with real values).

    Attributes
    ----------
    as_of : pandas.Timestamp
    open_deals : pandas.DataFrame
        ``segment, owner, age_days, value``: the open deals at the as-of date, ``value`` the
        real one (the export shows only a noisy estimate).
    recorded_last_month : dict of str to int
        New deals of the as-of month the export shows, per segment (the evidence about
        that month's rate multiplier when arrivals are over-dispersed).
    """

    as_of: pd.Timestamp
    open_deals: pd.DataFrame
    recorded_last_month: dict[str, int]


@dataclass(frozen=True)
class Dataset:
    """One generated CRM export with the truth behind it.

    Attributes
    ----------
    generator : Generator
    seed : int
    export : pandas.DataFrame
        The canonical export (:data:`EXPORT_COLUMNS`), dates as ``datetime64``.
    latent : pandas.DataFrame
        Every deal of the process in the history, recorded or not: ``opportunity_id,
        segment, owner, created_day, month_index`` (0 = first month of the history),
        ``fate`` (``won``/``lost``/``no_decision``), ``cycle`` (days, ``inf`` if never),
        ``close_day``, ``value``, ``in_crm`` (False for deals the CRM's ramp-up missed),
        ``in_export``; with ``future_months``, also the deals of the future.
    state : ObservedState
    """

    generator: Generator
    seed: int
    export: pd.DataFrame
    latent: pd.DataFrame
    state: ObservedState

    @property
    def as_of(self) -> pd.Timestamp:
        return self.generator.as_of_date

    def write_csv(self, path: str | Path) -> Path:
        """Write the export as a canonical CSV (ISO dates, empty cells for missing values)."""
        out = self.export.copy()
        for col in ("created_at", "closed_at"):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
        out["amount"] = out["amount"].round(2)
        path = Path(path)
        out.to_csv(path, index=False, na_rep="")
        return path


def _fates(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """0 = won, 1 = lost, 2 = no decision, one per row of ``probs`` (rows sum to 1)."""
    u = rng.uniform(size=(probs.shape[0], 1))
    return np.minimum((np.cumsum(probs, axis=1) < u).sum(axis=1), 2)


def _segment_deals(gen: Generator, seg: Segment, first: int, n_months: int,
                   rng: np.random.Generator) -> pd.DataFrame:
    """Every deal the process creates in ``seg`` in months ``first .. first + n_months - 1``.

    Month 0 is the first month of the history; months from ``history_months`` on are the
    future. ``in_crm`` is False only for deals the CRM never recorded (its ramp-up);
    ``in_export`` marks the deals the as-of export shows.
    """
    months = [gen.first_month + (first + i) for i in range(n_months)]
    lam = gen.monthly_rate(seg, months)
    disp = gen.arrivals.dispersion
    if disp is not None:
        lam = lam * rng.gamma(disp, 1.0 / disp, size=len(months))
    counts = rng.poisson(lam)
    k = np.repeat(np.arange(len(months)), counts)
    start = np.array([_day(m) for m in months])[k]
    ndays = np.array([_days_in(m) for m in months])[k]
    created = start + np.floor(rng.uniform(size=k.size) * ndays).astype(np.int64)
    owner_idx = rng.choice(len(seg.owners), size=k.size, p=seg.owner_shares)
    fate = _fates(rng, gen.owner_probabilities(seg)[owner_idx])
    cycle = np.full(k.size, np.inf)
    cycle[fate == 0] = seg.won_cycle.sample(rng, int((fate == 0).sum()))
    cycle[fate == 1] = seg.lost_cycle.sample(rng, int((fate == 1).sum()))
    value = seg.size.sample(rng, k.size)
    k = k + first
    shown = np.array([gen.recorded_share(int(i)) for i in k])
    in_export = (k < gen.history_months) & (rng.uniform(size=k.size) < shown)
    # The thin last month's unrecorded deals are recorded later; the ramp's never are.
    in_crm = in_export | (k >= len(gen.export.ramp))
    return pd.DataFrame({
        "segment": seg.name,
        "owner": np.asarray(seg.owner_names, dtype=object)[owner_idx],
        "created_day": created,
        "month_index": k,
        "fate": np.array(["won", "lost", "no_decision"])[fate],
        "cycle": cycle,
        "close_day": created + np.ceil(cycle),
        "value": value,
        "in_crm": in_crm,
        "in_export": in_export,
    })


def _export(gen: Generator, latent: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The canonical export of the recorded deals as seen on the as-of day."""
    d = latent.loc[latent["in_export"]].reset_index(drop=True)
    as_of = _day(gen.as_of_date)
    closed = d["close_day"].to_numpy() <= as_of
    outcome = np.where(closed, d["fate"].to_numpy(), "open")
    value = d["value"].to_numpy()
    amount = value.copy()
    is_open = outcome == "open"
    noise = np.exp(rng.normal(0.0, gen.export.open_amount_noise, size=len(d)))
    amount[is_open] = (value * noise)[is_open]
    missing = np.where(is_open, gen.export.open_amount_missing,
                       np.where(outcome == "lost", gen.export.lost_amount_missing, 0.0))
    amount[rng.uniform(size=len(d)) < missing] = np.nan
    epoch = np.datetime64("1970-01-01", "D")
    close = d["close_day"].to_numpy()
    closed_at = np.where(closed, close, 0).astype(np.int64).astype("timedelta64[D]") + epoch
    return pd.DataFrame({
        "opportunity_id": d["opportunity_id"],
        "created_at": pd.to_datetime(d["created_day"].to_numpy().astype("timedelta64[D]")
                                     + epoch),
        "outcome": outcome,
        "closed_at": pd.to_datetime(closed_at).where(closed),
        "amount": amount,
        "segment": d["segment"],
        "owner": d["owner"],
    }, columns=list(EXPORT_COLUMNS))


def generate(gen: Generator, seed: int, *, future_months: int = 0) -> Dataset:
    """Draw one history of ``gen`` and its export.

    Parameters
    ----------
    gen : Generator
    seed : int
        Seed of :class:`numpy.random.SeedSequence`; same seed, same data set.
    future_months : int
        Also draw the process this many months past the as-of month (the latent future,
        see :func:`realised_outcomes`); the export does not depend on it.

    Returns
    -------
    Dataset
    """
    hist_ss, export_ss, future_ss = np.random.SeedSequence(seed).spawn(3)
    n_seg = len(gen.segments)
    parts = [_segment_deals(gen, s, 0, gen.history_months, np.random.default_rng(ss))
             for s, ss in zip(gen.segments, hist_ss.spawn(n_seg), strict=True)]
    if future_months:
        parts += [_segment_deals(gen, s, gen.history_months, future_months,
                                 np.random.default_rng(ss))
                  for s, ss in zip(gen.segments, future_ss.spawn(n_seg), strict=True)]
    latent = pd.concat(parts, ignore_index=True).sort_values(
        ["created_day", "segment"], kind="stable").reset_index(drop=True)
    latent.insert(0, "opportunity_id", [f"OPP{i:06d}" for i in range(1, len(latent) + 1)])
    export = _export(gen, latent, np.random.default_rng(export_ss))

    as_of = _day(gen.as_of_date)
    shown = latent.loc[latent["in_export"]]
    still_open = shown.loc[shown["close_day"] > as_of]
    open_deals = pd.DataFrame({
        "opportunity_id": still_open["opportunity_id"].to_numpy(),
        "segment": still_open["segment"].to_numpy(),
        "owner": still_open["owner"].to_numpy(),
        "age_days": (as_of - still_open["created_day"]).to_numpy().astype(np.int64),
        "value": still_open["value"].to_numpy(),
    })
    last = export.loc[export["created_at"].dt.to_period("M") == gen.as_of_date.to_period("M")]
    counts = last["segment"].value_counts()
    recorded_last = {s: int(counts.get(s, 0)) for s in gen.segment_names}
    state = ObservedState(gen.as_of_date, open_deals, recorded_last)
    return Dataset(gen, int(seed), export, latent, state)


# --------------------------------------------------------------------------- the truth


@dataclass(frozen=True)
class Truth:
    """True outcomes of the horizon: one row per replication.

    Attributes
    ----------
    months : pandas.PeriodIndex
        The horizon's calendar months.
    segments : tuple of str
    bookings : ndarray, shape (replications, segments, months)
        Sum of the real values of deals won in each month.
    deals_won : ndarray of int, same shape
    """

    months: pd.PeriodIndex
    segments: tuple[str, ...]
    bookings: np.ndarray
    deals_won: np.ndarray

    @property
    def replications(self) -> int:
        return int(self.bookings.shape[0])

    def periods(self) -> dict[str, np.ndarray]:
        """``FY`` (all months) then calendar quarters ``YYYY-Qn``: month positions."""
        out: dict[str, np.ndarray] = {FY: np.arange(len(self.months))}
        labels = [f"{m.year}-Q{m.quarter}" for m in self.months]
        for lab in dict.fromkeys(labels):
            out[lab] = np.flatnonzero(np.array(labels) == lab)
        return out

    def outcome(self, metric: str, name: str, period: str) -> np.ndarray:
        """True outcomes (one per replication) of a metric for a segment or ``total``."""
        cube = {"bookings": self.bookings, "deals_won": self.deals_won}[metric]
        idx = self.periods()[period]
        per_seg = cube[:, :, idx].sum(axis=2)
        if name == TOTAL:
            return per_seg.sum(axis=1)
        return per_seg[:, self.segments.index(name)]

    def take(self, rows: slice | np.ndarray) -> Truth:
        """A subset of the replications."""
        return Truth(self.months, self.segments, self.bookings[rows], self.deals_won[rows])


def horizon_months(as_of: pd.Timestamp, months: int = HORIZON_MONTHS) -> pd.PeriodIndex:
    """The calendar months after the as-of month."""
    first = pd.Timestamp(as_of).to_period("M") + 1
    return pd.period_range(first, periods=months, freq="M")


def realised_outcomes(data: Dataset, months: int = HORIZON_MONTHS) -> Truth:
    """The horizon as it happened in the latent future of ``data`` (one replication).

    Needs ``generate(..., future_months=months)``. Counts every won deal of the CRM
    (export, unrecorded deals of the thin last month, new deals) closing in the horizon:
    one draw from the distribution :func:`true_outcomes` computes, which is what makes
    the latter testable.
    """
    gen = data.generator
    if data.latent["month_index"].max() < gen.history_months + months - 1:
        raise ValueError("realised_outcomes: generate the data set with future_months")
    horizon = horizon_months(data.as_of, months)
    edges = np.array([_day(m) for m in horizon] + [_day(horizon[-1] + 1)])
    won = data.latent.loc[data.latent["in_crm"] & data.latent["fate"].eq("won")]
    bookings = np.zeros((1, len(gen.segments), months))
    wins = np.zeros((1, len(gen.segments), months), dtype=np.int64)
    for j, seg in enumerate(gen.segments):
        d = won.loc[won["segment"] == seg.name]
        tally = _Tally(1, edges)
        tally.add(np.zeros(len(d), dtype=np.int64), d["close_day"].to_numpy(),
                  d["value"].to_numpy())
        bookings[0, j], wins[0, j] = tally.bookings[0], tally.wins[0]
    return Truth(horizon, gen.segment_names, bookings, wins)


class _Tally:
    """Accumulates won deals into (replication, month) bookings and counts of one segment."""

    def __init__(self, reps: int, edges: np.ndarray) -> None:
        self.edges = edges
        self.n_months = len(edges) - 1
        self.bookings = np.zeros((reps, self.n_months))
        self.wins = np.zeros((reps, self.n_months), dtype=np.int64)

    def add(self, rep: np.ndarray, close_day: np.ndarray, value: np.ndarray) -> None:
        month = np.searchsorted(self.edges, close_day, side="right") - 1
        ok = (month >= 0) & (month < self.n_months)
        flat = rep[ok] * self.n_months + month[ok]
        size = self.bookings.size
        self.bookings += np.bincount(flat, weights=value[ok], minlength=size).reshape(
            self.bookings.shape)
        self.wins += np.bincount(flat, minlength=size).reshape(self.wins.shape)


def open_win_probability(gen: Generator, seg: Segment, owners: np.ndarray,
                         ages: np.ndarray) -> np.ndarray:
    """``P(eventually won | still open at age a)`` for each open deal of ``seg``.

    ``p_win S_won(a) / (p_win S_won(a) + p_lost S_lost(a) + p_no_decision)`` with the
    owner's probabilities; 0 for an age no fate can reach (every survival is zero).
    """
    probs = gen.owner_probabilities(seg)
    idx = np.array([seg.owner_names.index(o) for o in owners], dtype=np.int64)
    p = probs[idx] if idx.size else np.zeros((0, 3))
    ages = np.asarray(ages, dtype=float)
    with np.errstate(divide="ignore"):
        log_w = np.stack([
            np.log(p[:, 0]) + seg.won_cycle.logsf(ages),
            np.log(p[:, 1]) + seg.lost_cycle.logsf(ages),
            np.log(p[:, 2]),
        ], axis=1)
    total = special.logsumexp(log_w, axis=1)
    out = np.zeros(ages.shape)
    ok = np.isfinite(total)
    out[ok] = np.exp(log_w[ok, 0] - total[ok])
    return out


def _simulate_open(gen: Generator, seg: Segment, deals: pd.DataFrame, as_of: int,
                   tally: _Tally, rng: np.random.Generator) -> None:
    """The open pipeline of ``seg``: fates and cycles conditional on each deal's age."""
    if deals.empty:
        return
    ages = deals["age_days"].to_numpy(dtype=float)
    q = open_win_probability(gen, seg, deals["owner"].to_numpy(), ages)
    reps = tally.bookings.shape[0]
    won = rng.uniform(size=(reps, ages.size)) < q
    rep, deal = np.nonzero(won)
    a = ages[deal]
    cycle = seg.won_cycle.sample_after(rng, a)
    close = (as_of - a) + np.maximum(np.ceil(cycle), a + 1)
    tally.add(rep, close, deals["value"].to_numpy(dtype=float)[deal])


def _simulate_new(seg: Segment, reps: int, months: list[pd.Period], expected_wins: np.ndarray,
                  tally: _Tally, rng: np.random.Generator) -> None:
    """Won deals among new arrivals: ``expected_wins`` (reps, months) of Poisson means."""
    counts = rng.poisson(expected_wins)
    rep = np.repeat(np.repeat(np.arange(reps), len(months)), counts.ravel())
    k = np.repeat(np.tile(np.arange(len(months)), reps), counts.ravel())
    start = np.array([_day(m) for m in months])[k]
    ndays = np.array([_days_in(m) for m in months])[k]
    created = start + np.floor(rng.uniform(size=k.size) * ndays)
    cycle = seg.won_cycle.sample(rng, k.size)
    tally.add(rep, created + np.ceil(cycle), seg.size.sample(rng, k.size))


def _multipliers(gen: Generator, reps: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Fresh monthly rate multipliers of the future (ones for Poisson arrivals)."""
    k = gen.arrivals.dispersion
    return np.ones((reps, n)) if k is None else rng.gamma(k, 1.0 / k, size=(reps, n))


def _last_month_multiplier(gen: Generator, seg: Segment, recorded: int, reps: int,
                           rng: np.random.Generator) -> np.ndarray:
    """The as-of month's rate multiplier given the export recorded ``recorded`` new deals.

    Recorded deals are Poisson(λ r G) with G ~ Gamma(k, rate k): the posterior is
    Gamma(k + recorded, rate k + λ r) (conjugacy). Poisson arrivals: G = 1.
    """
    k = gen.arrivals.dispersion
    if k is None:
        return np.ones(reps)
    lam = float(gen.monthly_rate(seg, [gen.as_of_date.to_period("M")])[0])
    seen = lam * gen.export.thin_last_month
    return rng.gamma(k + recorded, 1.0 / (k + seen), size=reps)


def true_outcomes(gen: Generator, state: ObservedState, *, reps: int = 4000, seed: int = 0,
                  months: int = HORIZON_MONTHS, chunk: int = 500) -> Truth:
    """Simulate the true process over the horizon, conditional on the export.

    Parameters
    ----------
    gen : Generator
        The true process.
    state : ObservedState
        The export's open pipeline (real values) and the as-of month's recorded counts.
    reps : int
        Replications.
    seed : int
    months : int
        Horizon length in calendar months after the as-of month.
    chunk : int
        Replications simulated at once (memory).

    Returns
    -------
    Truth
    """
    as_of = _day(state.as_of)
    horizon = horizon_months(state.as_of, months)
    edges = np.array([_day(m) for m in horizon] + [_day(horizon[-1] + 1)])
    last = state.as_of.to_period("M")
    future = list(horizon)
    n_seg = len(gen.segments)
    bookings = np.zeros((reps, n_seg, months))
    wins = np.zeros((reps, n_seg, months), dtype=np.int64)
    seg_ss = np.random.SeedSequence(seed).spawn(n_seg)
    for j, (seg, ss) in enumerate(zip(gen.segments, seg_ss, strict=True)):
        rng = np.random.default_rng(ss)
        deals = state.open_deals.loc[state.open_deals["segment"] == seg.name]
        p_won = gen.segment_win_rate(seg)
        lam_future = gen.monthly_rate(seg, future)
        lam_last = float(gen.monthly_rate(seg, [last])[0])
        hidden_share = 1.0 - gen.export.thin_last_month
        for lo in range(0, reps, chunk):
            r = min(chunk, reps - lo)
            tally = _Tally(r, edges)
            _simulate_open(gen, seg, deals, as_of, tally, rng)
            if hidden_share > 0:
                g = _last_month_multiplier(gen, seg, state.recorded_last_month[seg.name], r,
                                           rng)
                _simulate_new(seg, r, [last], (lam_last * hidden_share * p_won * g)[:, None],
                              tally, rng)
            g = _multipliers(gen, r, months, rng)
            _simulate_new(seg, r, future, lam_future[None, :] * p_won * g, tally, rng)
            bookings[lo:lo + r, j] = tally.bookings
            wins[lo:lo + r, j] = tally.wins
    return Truth(horizon, gen.segment_names, bookings, wins)


def truth_of(data: Dataset, *, reps: int = 4000, seed: int = 0) -> Truth:
    """:func:`true_outcomes` of a generated data set."""
    return true_outcomes(data.generator, data.state, reps=reps, seed=seed)


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class _Base:
    """One segment of the benchmark's reference company, before a family is chosen."""

    name: str
    rate: float
    p_win: float
    won_days: float
    lost_days: float
    size: float
    size_sigma: float
    team: int


#: The reference company: a high-volume fast SMB line, a slow large-ticket Enterprise line.
_COMPANY = (
    _Base("Direct", 40.0, 0.30, 45.0, 25.0, 8_000.0, 0.6, 5),
    _Base("Partner", 20.0, 0.40, 60.0, 35.0, 15_000.0, 0.5, 3),
    _Base("Enterprise", 8.0, 0.25, 120.0, 60.0, 60_000.0, 1.0, 2),
    _Base("SMB", 70.0, 0.35, 25.0, 15.0, 3_000.0, 0.4, 6),
    _Base("Renewals", 15.0, 0.60, 30.0, 30.0, 12_000.0, 0.3, 2),
)
#: Maven-like list prices per segment (one or two products each), for ``list_prices``.
_LIST_PRICES = {
    "Direct": ((550.0, 1_096.0), (0.6, 0.4)),
    "Partner": ((3_393.0,), (1.0,)),
    "Enterprise": ((26_768.0, 5_482.0), (0.7, 0.3)),
    "SMB": ((55.0, 550.0), (0.5, 0.5)),
    "Renewals": ((4_821.0,), (1.0,)),
}


def _cycle(family: str, median: float, won: bool) -> Distribution:
    """A cycle distribution of ``family`` with (about) the given median in days."""
    if family == "lognormal":
        return LogNormal(median, 0.7 if won else 0.8)
    if family == "weibull":
        k = 1.8 if won else 1.3
        return Weibull(k, median / math.log(2.0) ** (1.0 / k))
    if family == "gamma":
        k = 3.0 if won else 2.0
        return Gamma(k, median * (1.0 + 1.0 / (3.0 * k)))
    if family == "loglogistic":
        return LogLogistic(median, 2.2 if won else 2.6)
    if family == "fast_slow":
        # As in the Maven data: a third of the deals close within 10 days, the others
        # around the median, none much beyond twice it (a bounded Weibull tail).
        slow = Weibull(4.0, 1.5 * median / math.log(2.0) ** 0.25)
        return Mixture((Uniform(0.0, 10.0), slow), (0.35, 0.65))
    raise ValueError(f"unknown cycle family {family!r}")


def _size(family: str, b: _Base) -> Distribution | ListPrices:
    if family == "lognormal":
        return LogNormal(b.size, b.size_sigma)
    if family == "gamma":
        return Gamma(1.5, b.size * 1.2)
    if family == "list":
        prices, weights = _LIST_PRICES[b.name]
        return ListPrices(prices, weights, max_discount=0.1)
    raise ValueError(f"unknown size family {family!r}")


def _team(b: _Base, n: int | None = None) -> tuple[tuple[str, float], ...]:
    n = n or b.team
    return tuple((f"{b.name[:3]}-{i + 1}", 1.0 / n) for i in range(n))


def _company(*, cycles: str = "lognormal", sizes: str = "lognormal", no_decision: float = 0.1,
             names: Sequence[str] | None = None,
             bases: Sequence[_Base] = _COMPANY) -> tuple[tuple[Segment, ...], tuple[Owner, ...]]:
    """Segments of the reference company in the given families (owners of skill 0)."""
    chosen = [b for b in bases if names is None or b.name in names]
    segs = []
    for b in chosen:
        p_lost = max(1.0 - b.p_win - no_decision, 0.0)
        segs.append(Segment(b.name, b.rate, b.p_win, p_lost,
                            _cycle(cycles, b.won_days, True), _cycle(cycles, b.lost_days, False),
                            _size(sizes, b), _team(b)))
    owners = tuple(Owner(o) for s in segs for o in s.owner_names)
    return tuple(segs), owners


def _owner_skill() -> Generator:
    """Reps of different skill (win logit -1 to +1), unequal shares, some in two segments."""
    segs, _ = _company(names=("Direct", "Partner", "Enterprise", "SMB"))
    teams = {
        "Direct": (("Ava", 0.35), ("Ben", 0.25), ("Cleo", 0.25), ("Dan", 0.15)),
        "Partner": (("Eve", 0.6), ("Ben", 0.4)),
        "Enterprise": (("Finn", 0.5), ("Gus", 0.5)),
        "SMB": (("Hana", 0.3), ("Ivo", 0.3), ("Jo", 0.2), ("Cleo", 0.2)),
    }
    skill = {"Ava": 1.0, "Ben": -0.8, "Cleo": 0.4, "Dan": -1.0, "Eve": 0.6, "Finn": 0.9,
             "Gus": -0.9, "Hana": -0.6, "Ivo": 0.7, "Jo": 0.0}
    segs = tuple(Segment(s.name, s.rate, s.p_win, s.p_lost, s.won_cycle, s.lost_cycle, s.size,
                         teams[s.name]) for s in segs)
    return Generator("owner_skill", "reps of different skill (win logit -1 to +1)", segs,
                     tuple(Owner(n, k) for n, k in skill.items()), history_months=20)


def _small_segments() -> Generator:
    """Two regular segments and three with under 50 deals in the history."""
    small = (
        _Base("Pilot", 2.0, 0.35, 60.0, 30.0, 20_000.0, 0.6, 1),
        _Base("Gov", 1.5, 0.30, 150.0, 70.0, 80_000.0, 0.7, 1),
        _Base("Export", 2.0, 0.40, 40.0, 25.0, 10_000.0, 0.5, 2),
    )
    segs, owners = _company(names=("Direct", "Partner", *(b.name for b in small)),
                            bases=(*_COMPANY, *small))
    return Generator("small_segments", "three segments with under 50 deals in 20 months",
                     segs, owners, history_months=20)


#: Q4 peak of new deals (January first).
Q4_PEAK = (0.9, 0.9, 1.0, 1.0, 1.0, 0.9, 0.8, 0.8, 1.0, 1.3, 1.5, 1.7)


def catalogue() -> dict[str, Generator]:
    """The benchmark's generators by name (every case the issue lists)."""
    core4 = ("Direct", "Partner", "Enterprise", "SMB")
    gens = [
        Generator("lognormal_core", "the model's own families: log-normal cycles and sizes, "
                  "Poisson arrivals, 10 % stalled", *_company(), history_months=18),
        Generator("lognormal_no_stall", "log-normal families without a stalled deal",
                  *_company(no_decision=0.0), history_months=18, as_of="2025-06-30"),
        Generator("many_stalls", "log-normal families, 35 % of deals never close",
                  *_company(no_decision=0.35), history_months=24),
        Generator("weibull_cycles", "Weibull cycles (shape 1.8 won, 1.3 lost)",
                  *_company(cycles="weibull", names=core4), history_months=24),
        Generator("gamma_cycles", "gamma cycles (shape 3 won, 2 lost)",
                  *_company(cycles="gamma", names=core4), history_months=20,
                  as_of="2025-09-30"),
        Generator("loglogistic_cycles", "log-logistic cycles (heavy tail)",
                  *_company(cycles="loglogistic"), history_months=24),
        Generator("fast_slow_cycles", "35 % of deals close in 1-10 days, the rest slow, "
                  "bounded tail (as in the Maven data)",
                  *_company(cycles="fast_slow", names=core4), history_months=20),
        Generator("gamma_sizes", "gamma deal sizes (shape 1.5)", *_company(sizes="gamma"),
                  history_months=24),
        Generator("list_prices", "a handful of list prices, discounts up to 10 %",
                  *_company(sizes="list"), history_months=20, as_of="2026-03-31"),
        Generator("export_artefacts", "CRM ramp-up over the first 4 months, 30 % of the "
                  "last month's new deals recorded",
                  *_company(), history_months=18,
                  export=ExportSpec(ramp=(0.03, 0.2, 0.45, 0.75), thin_last_month=0.3)),
        Generator("growth", "arrivals +1 % a month", *_company(),
                  arrivals=ArrivalSpec(growth=0.01), history_months=24),
        Generator("decline", "arrivals -1 % a month", *_company(),
                  arrivals=ArrivalSpec(growth=-0.01), history_months=24),
        Generator("q4_peak", "Q4 seasonal peak of new deals (x1.7 in December)",
                  *_company(), arrivals=ArrivalSpec(season=Q4_PEAK), history_months=30,
                  as_of="2025-09-30"),
        Generator("level_shift", "arrivals x1.5 from month 12 of 20", *_company(),
                  arrivals=ArrivalSpec(shift_month=12, shift_factor=1.5), history_months=20),
        _owner_skill(),
        _small_segments(),
        Generator("overdispersed", "negative-binomial arrivals (Gamma(10) monthly factor)",
                  *_company(), arrivals=ArrivalSpec(dispersion=10.0), history_months=24),
        Generator("outside_families", "Weibull cycles, gamma sizes, 15-30 % no decision, "
                  "Q4 peak, +1 % a month, 30 months",
                  *_outside(), arrivals=ArrivalSpec(growth=0.01, season=Q4_PEAK),
                  history_months=30),
    ]
    return {g.name: g for g in gens}


def _outside() -> tuple[tuple[Segment, ...], tuple[Owner, ...]]:
    """The issue's combination: Weibull cycles, gamma sizes, 15-30 % no decision."""
    no_decision = {"Direct": 0.2, "Partner": 0.15, "Enterprise": 0.3, "SMB": 0.2,
                   "Renewals": 0.15}
    segs: list[Segment] = []
    owners: tuple[Owner, ...] = ()
    for b in _COMPANY:
        b = _Base(b.name, 55.0 if b.name == "SMB" else b.rate, b.p_win, b.won_days,
                  b.lost_days, b.size, b.size_sigma, b.team)
        (seg,), own = _company(cycles="weibull", sizes="gamma", no_decision=no_decision[b.name],
                               bases=(b,))
        segs.append(seg)
        owners += own
    return tuple(segs), owners
