"""Early warnings: weak signals that the year is drifting from the plan, each with evidence.

Every check compares what the fresh export shows with what the plan's model predicts for
that same export, and fires only when the observation falls in the outer tail of the
posterior predictive distribution: **a one-sided 2.5 % tail (one side of a 95 % band) per
check and segment**. On data that follow the plan's own model, each check therefore fires
with probability at most 2.5 % (the false-alarm rate by design; with ``k`` segments and
four checks, at most ``1 - 0.975 ** (4 k)`` for at least one warning).

The checks
----------
``conversion``
    The *cohort* is every deal the plan had to reckon with: open at the plan's as-of date,
    or created since. Under the plan, deal ``i`` has won by today with probability
    ``P_i = P(won by age_now | open at age_then)`` (a new deal is "open at age 0"); the
    predictive count of wins is a sum of Bernoulli(``P_i``) per posterior draw. Fires when
    the observed wins are in the lower tail.
``cycle_length``
    Deals created since the plan's as-of date and old enough today to be past the model's
    90th percentile of time-to-win (``expected_days``); the predictive count of those still
    open is a sum of Bernoulli(``P(open at age_now)``). Fires when too many are still open:
    cycles are lengthening (or deals are stalling). Deals already open at the plan date are
    left out: the model reads an old open deal as probably stalled, which would hide the
    signal. Because wins are counted "by today", longer cycles also lower the conversion
    count; the cycle check tells the two causes apart.
``inflow``
    New opportunities created since the horizon start against what the targets need
    (``indicators.csv``, pro rata of elapsed days), with the noise of the plan's arrival model
    (negative binomial; the fitted monthly dispersion times the months elapsed, as for a sum
    of monthly counts). Fires when the inflow is in the lower tail.
``coverage``
    Open pipeline value today against the next quarter's target, versus the coverage the plan
    derived (``pipeline_coverage`` of ``indicators.csv``). Fires when coverage is below the
    derived level **and** the pipeline is below the 2.5 % quantile of the plan's projected
    open pipeline at the same month start, so a small ordinary dip does not alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import nbinom, poisson

from targetsim.errors import DataError
from targetsim.model.outcomes import transition
from targetsim.model.params import FunnelParams

#: One-sided tail probability of every check (one side of a 95 % predictive band).
ALPHA = 0.025
#: Quantile of the won cycle past which an open deal is "older than the model expects".
AGING_QUANTILE = 0.9

WARNING_COLUMNS = [
    "check", "segment", "triggered", "observed", "expected", "threshold", "tail_probability",
    "evidence",
]


@dataclass(frozen=True)
class EarlyWarning:
    """The result of one check on one segment (kept also when it does not fire).

    Attributes
    ----------
    check : str
        ``conversion``, ``cycle_length``, ``inflow`` or ``coverage``.
    segment : str
    triggered : bool
    observed, expected : float
        What the export shows and the predictive median (or the plan's requirement).
    threshold : float
        The edge of the 95 % predictive band (or the requirement) the observation is
        compared with.
    tail_probability : float
        Predictive probability of a value at least this far in the warning direction.
    evidence : str
        One sentence a sales manager can read.
    """

    check: str
    segment: str
    triggered: bool
    observed: float
    expected: float
    threshold: float
    tail_probability: float
    evidence: str


def warnings_frame(warnings: list[EarlyWarning]) -> pd.DataFrame:
    """Warnings as a table with columns :data:`WARNING_COLUMNS`."""
    return pd.DataFrame([w.__dict__ for w in warnings], columns=WARNING_COLUMNS)


def cohort_probabilities(
    params: FunnelParams, segment: int, age_then: np.ndarray, age_now: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities, per posterior draw, that each deal is won / still open today.

    Parameters
    ----------
    params : FunnelParams
        The plan's posterior (``D`` draws).
    segment : int
        Index of the deals' segment in ``params.segments``.
    age_then : ndarray, shape (N,)
        Age in days at the plan's as-of date; 0 for a deal created since.
    age_now : ndarray, shape (N,)
        Age in days today (``>= age_then``).

    Returns
    -------
    p_won, p_open : ndarray, shape (D, N)
        ``P(won by age_now | open at age_then)`` and ``P(open at age_now | open at age_then)``
        under the outcome component of the plan (:mod:`targetsim.model.outcomes`).
    """
    a0 = np.asarray(age_then, dtype=float)
    a1 = np.asarray(age_now, dtype=float)
    if np.any(a1 < a0):
        raise DataError("a deal is younger today than at the plan's as-of date")
    seg = np.full(a0.shape, segment, dtype=int)
    return transition(params.outcome, seg, np.full(a0.shape, -1), a0, a1)


def predictive_count(probs: np.ndarray, *, n_rep: int = 4, random_seed: int = 0) -> np.ndarray:
    """Posterior predictive samples of a count of independent events.

    For each posterior draw ``d`` (row of ``probs``) and each of ``n_rep`` replicates, the
    count is a sum of Bernoulli(``probs[d, i]``) over the deals ``i``.

    Returns
    -------
    ndarray of int, shape (D * n_rep,)
    """
    p = np.asarray(probs, dtype=float)
    rng = np.random.default_rng(random_seed)
    if p.shape[1] == 0:
        return np.zeros(p.shape[0] * n_rep, dtype=np.int64)
    u = rng.random((n_rep, *p.shape))
    return (u < p[None]).sum(axis=-1).reshape(-1)


def lower_tail(samples: np.ndarray, observed: float) -> float:
    """``P(X <= observed)`` under the predictive samples."""
    return float(np.mean(np.asarray(samples) <= observed))


def upper_tail(samples: np.ndarray, observed: float) -> float:
    """``P(X >= observed)`` under the predictive samples."""
    return float(np.mean(np.asarray(samples) >= observed))


def conversion_check(
    segment: str, p_won: np.ndarray, observed_wins: int, *, random_seed: int = 0,
    alpha: float = ALPHA,
) -> EarlyWarning:
    """Wins of the cohort so far versus the plan's posterior predictive (lower tail)."""
    pred = predictive_count(p_won, random_seed=random_seed)
    tail = lower_tail(pred, observed_wins)
    lo = float(np.quantile(pred, alpha))
    med = float(np.median(pred))
    n = p_won.shape[1]
    fired = tail < alpha
    evidence = (
        f"{observed_wins} of the {n} deals open at the plan date or created since have been won; "
        f"the plan expected {med:.0f} (95 % band from {lo:.0f})"
        + (": conversion is below the plan" if fired else "")
    )
    return EarlyWarning("conversion", segment, fired, float(observed_wins), med, lo, tail, evidence)


def aging_expected_days(params: FunnelParams, segment: int, quantile: float = AGING_QUANTILE):
    """Days from creation within which the plan expects ``quantile`` of wins (posterior median)."""
    return float(np.nanmedian(params.outcome.won_quantile(quantile)[:, segment]))


def cycle_check(
    segment: str,
    p_open: np.ndarray,
    observed_open: int,
    expected_days: float,
    *,
    random_seed: int = 0,
    alpha: float = ALPHA,
) -> EarlyWarning:
    """Deals older than ``expected_days`` still open versus the predictive (upper tail).

    ``p_open`` holds only the cohort deals whose age today exceeds ``expected_days``.
    """
    pred = predictive_count(p_open, random_seed=random_seed)
    tail = upper_tail(pred, observed_open)
    hi = float(np.quantile(pred, 1 - alpha))
    med = float(np.median(pred))
    fired = tail < alpha
    evidence = (
        f"{observed_open} of {p_open.shape[1]} deals older than {expected_days:.0f} days (the "
        f"plan's 90th percentile of time to win) are still open; the plan expected {med:.0f} "
        f"(95 % band up to {hi:.0f})" + (": cycles are lengthening" if fired else "")
    )
    return EarlyWarning(
        "cycle_length", segment, fired, float(observed_open), med, hi, tail, evidence
    )


def inflow_check(
    segment: str,
    observed: int,
    needed: float,
    *,
    dispersion: float = np.inf,
    alpha: float = ALPHA,
    reference: str = "what the targets need",
) -> EarlyWarning:
    """New opportunities so far versus the number needed by now (lower tail).

    The count on track is NegativeBinomial with mean ``needed`` and dispersion
    ``dispersion`` (variance ``m + m**2 / dispersion``; ``inf`` = Poisson).
    """
    m = max(float(needed), 0.0)
    if m == 0.0:
        tail = 1.0
        lo = 0.0
    elif np.isfinite(dispersion):
        dist = nbinom(dispersion, dispersion / (dispersion + m))
        tail = float(dist.cdf(observed))
        lo = float(dist.ppf(alpha))
    else:
        tail = float(poisson.cdf(observed, m))
        lo = float(poisson.ppf(alpha, m))
    fired = tail < alpha
    evidence = (
        f"{observed} new opportunities since the start of the year against {m:.0f} expected by "
        f"now from {reference} (95 % band from {lo:.0f})"
        + (": inflow is below need" if fired else "")
    )
    return EarlyWarning("inflow", segment, fired, float(observed), m, lo, tail, evidence)


def coverage_check(
    segment: str,
    pipeline_value: float,
    next_target: float,
    required_coverage: float,
    projected_pipeline: np.ndarray | None,
    *,
    quarter: str,
    alpha: float = ALPHA,
) -> EarlyWarning:
    """Pipeline value today / next quarter's target versus the plan's derived coverage.

    Parameters
    ----------
    pipeline_value : float
        Open pipeline value today.
    next_target : float
        The next quarter's bookings target of the segment.
    required_coverage : float
        ``pipeline_coverage`` the plan derived for that quarter.
    projected_pipeline : ndarray or None
        The plan's simulated open pipeline value at the same month start (one per draw);
        when None the comparison with the requirement alone decides.
    """
    coverage = pipeline_value / next_target if next_target > 0 else np.inf
    below_need = bool(coverage < required_coverage)
    if projected_pipeline is not None and len(projected_pipeline):
        tail = lower_tail(projected_pipeline, pipeline_value)
        lo = float(np.quantile(projected_pipeline, alpha))
        fired = below_need and tail < alpha
        band = f"; the plan projected at least {lo:,.0f} with 97.5 % probability"
    else:
        tail, lo, fired, band = float("nan"), float("nan"), below_need, ""
    evidence = (
        f"open pipeline {pipeline_value:,.0f} covers {coverage:.2f}x the {quarter} target "
        f"{next_target:,.0f}; the plan derived {required_coverage:.2f}x{band}"
        + (": coverage is below plan" if fired else "")
    )
    return EarlyWarning(
        "coverage", segment, fired, float(coverage), float(required_coverage), lo, tail, evidence
    )
