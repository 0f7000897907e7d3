"""Equal-probability allocation of a company target to segments and owners.

"Divide by headcount" gives a rep with a thin pipeline the same quota as one with a full
one. Here every part ``i`` (a segment, or an owner) gets the target ``Q_i(q)`` it reaches
with the **same** probability ``q``, where ``Q_i(q)`` is the ``1 - q`` quantile of its
simulated FY bookings (so it already reflects its pipeline, win record, capacity and ramp),
and ``q`` is solved so that the parts add up to the company target ``T``:

    sum_i Q_i(q) = T.

``Q_i`` is taken with linear interpolation here (continuous and non-increasing in ``q``),
so the sum is continuous and bisection finds ``q`` to 1e-9. Each part's reported
``attainment_probability`` is its empirical probability of reaching its rounded quota.

Team vs sum
-----------
When parts do not all miss or beat together (independent, roughly symmetric outcomes) the
company total is less dispersed than its parts suggest: the sum of individual quotas each
set at 60 % is *lower* than the company number at 60 %, the company reaches that sum with a
probability above 60 %, and splitting the company number needs a common ``q`` below 60 %.
Shared uncertainty (a posterior that is unsure about the whole market moves every part
together) and right-skewed outcomes can reverse the sign, which is why the effect is
measured on the simulations rather than assumed: :class:`AllocationSummary` puts numbers
on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import xarray as xr

from targetsim.calibrate.periods import FY
from targetsim.calibrate.targets import (
    attainment_probability,
    check_probability,
    outcome,
    round_target,
    target_at_probability,
)
from targetsim.errors import DataError

ALLOCATION_COLUMNS = [
    "scenario", "level", "name", "period", "metric", "company_target", "common_probability",
    "target", "attainment_probability", "share_of_company_target",
]


def part_quantile(samples: np.ndarray, q: float) -> float:
    """Continuous quota reached with probability ``q`` (linear ``1 - q`` quantile)."""
    return float(np.quantile(np.asarray(samples, dtype=float), 1.0 - q))


def common_probability(parts: np.ndarray, total_target: float, *, tol: float = 1e-9) -> float:
    """Solve ``sum_i Q_i(q) = total_target`` for the common probability ``q``.

    Parameters
    ----------
    parts : ndarray, shape (draw, n_parts)
        Simulated outcomes of each part.
    total_target : float
        The company target to split.
    tol : float
        Bisection tolerance on ``q``.

    Returns
    -------
    float
        ``q`` in [0, 1]. 0 when even the parts' maxima do not add up to the target (it
        cannot be split at any probability), 1 when their minima already exceed it.
    """
    x = np.asarray(parts, dtype=float)

    def total(q: float) -> float:
        return float(np.quantile(x, 1.0 - q, axis=0).sum())

    if total(0.0) < total_target:
        return 0.0
    if total(1.0) >= total_target:
        return 1.0
    lo, hi = 0.0, 1.0  # total(lo) >= T > total(hi)
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if total(mid) >= total_target:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class AllocationSummary:
    """Numbers behind "collective vs individual targets" for one scenario and level.

    Attributes
    ----------
    scenario, level : str
    company_target : float
        The total that was split.
    common_probability : float
        ``q``: every part reaches its quota with this probability.
    expected_share_reaching : float
        Expected fraction of parts (reps) reaching their quota (mean over draws).
    probability : float
        The plan's attainment probability ``p``.
    sum_of_quotas_at_p : float
        Sum of the individual targets each set at ``p``.
    company_at_p : float
        The company target at ``p``.
    p_company_reaches_sum : float
        ``P(company total >= sum_of_quotas_at_p)``.
    """

    scenario: str
    level: str
    company_target: float
    common_probability: float
    expected_share_reaching: float
    probability: float
    sum_of_quotas_at_p: float
    company_at_p: float
    p_company_reaches_sum: float

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


def allocate_parts(
    parts: np.ndarray,
    names: tuple[str, ...],
    company: np.ndarray,
    total_target: float,
    probability: float,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Allocate ``total_target`` over parts at a common probability.

    Parameters
    ----------
    parts : ndarray, shape (draw, n_parts)
    names : tuple of str
    company : ndarray, shape (draw,)
        Simulated company total (for the team-vs-sum figures).
    total_target : float
    probability : float
        The plan's ``p``.

    Returns
    -------
    (DataFrame, dict)
        Per part: ``name, target, attainment_probability, share_of_company_target``; and
        the summary figures of :class:`AllocationSummary` (without scenario/level).
    """
    q = common_probability(parts, total_target)
    rows = []
    reached = np.zeros(parts.shape[0])
    for i, name in enumerate(names):
        t = round_target(part_quantile(parts[:, i], q), "bookings")
        reached += parts[:, i] >= t
        share = t / total_target if total_target > 0 else float("nan")
        rows.append((name, t, attainment_probability(parts[:, i], t), share))
    sum_quotas = float(
        sum(round_target(target_at_probability(parts[:, i], probability), "bookings")
            for i in range(len(names)))
    )
    summary = {
        "company_target": float(total_target),
        "common_probability": q,
        "expected_share_reaching": float(np.mean(reached / max(len(names), 1))),
        "probability": probability,
        "sum_of_quotas_at_p": sum_quotas,
        "company_at_p": round_target(target_at_probability(company, probability), "bookings"),
        "p_company_reaches_sum": attainment_probability(company, sum_quotas),
    }
    frame = pd.DataFrame(
        rows, columns=["name", "target", "attainment_probability", "share_of_company_target"]
    )
    return frame, summary


def allocate(
    projection: xr.Dataset,
    probability: float = 0.6,
    company_target: float | None = None,
) -> tuple[pd.DataFrame, list[AllocationSummary]]:
    """allocation.csv: the company FY bookings target split at equal probability.

    Parameters
    ----------
    projection : xarray.Dataset
    probability : float
        ``p``; the company target of each scenario is its total FY bookings target at ``p``
        unless ``company_target`` is given.
    company_target : float, optional
        The board's number, split instead.

    Returns
    -------
    (DataFrame, list of AllocationSummary)
        Columns :data:`ALLOCATION_COLUMNS`; one summary per scenario and level.
    """
    p = check_probability(probability)
    total = outcome(projection, "total", "bookings", FY)
    if total is None:  # pragma: no cover - outcome() returns None only for owners
        raise DataError("projection has no total bookings")
    frames = []
    summaries = []
    for level in ("segment", "owner"):
        out = outcome(projection, level, "bookings", FY)
        if out is None:
            continue
        for scenario in out.scenarios:
            company = total.samples(scenario, "total")
            t = (
                float(company_target) if company_target is not None
                else round_target(target_at_probability(company, p), "bookings")
            )
            parts = out.values[:, out.scenarios.index(scenario), :]
            frame, summ = allocate_parts(parts, out.names, company, t, p)
            frame.insert(0, "scenario", scenario)
            frame.insert(1, "level", level)
            frame.insert(3, "period", FY)
            frame.insert(4, "metric", "bookings")
            frame.insert(5, "company_target", t)
            frame.insert(6, "common_probability", summ["common_probability"])
            frames.append(frame)
            summaries.append(AllocationSummary(scenario=scenario, level=level, **summ))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=ALLOCATION_COLUMNS)
    return df[ALLOCATION_COLUMNS], summaries
