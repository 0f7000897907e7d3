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

from targetsim.calibrate.periods import FY, period_months
from targetsim.calibrate.phasing import phase_quarters, rounding_step, split_exact
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
    "target", "attainment_probability", "share_of_company_target", "over_assignment",
]
#: Columns of the quota plan (appended to targets.csv as ``quota, quota_probability``).
QUOTA_COLUMNS = ["scenario", "level", "name", "period", "metric", "quota", "quota_probability"]
#: Default ratio of the sum of rep quotas to the company number (1.0: they add up exactly).
DEFAULT_OVER_ASSIGNMENT = 1.0


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
    over_assignment : float
        Sum of the quotas of this level ÷ the company number (1.0 for segments).
    sum_of_quotas : float
        Sum of the quotas handed out at this level (``over_assignment × company_target``).
    p_company_number : float
        ``P(company total >= company_target)``: the company number's own probability.
    p_sum_of_quotas : float
        ``P(company total >= sum_of_quotas)``: every part at quota on aggregate.
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
    over_assignment: float = 1.0
    sum_of_quotas: float = float("nan")
    p_company_number: float = float("nan")
    p_sum_of_quotas: float = float("nan")

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


def company_number(projection: xr.Dataset, scenario: str, metric: str, probability: float,
                   company_target: float | None = None) -> float:
    """The company number split into quotas: the board's (bookings, when given) or the
    total FY target at ``probability``."""
    if metric == "bookings" and company_target is not None:
        return float(company_target)
    total = outcome(projection, "total", metric, FY)
    if total is None:  # pragma: no cover - the total level always exists
        raise DataError("projection has no total outcome")
    return round_target(target_at_probability(total.samples(scenario, "total"), probability),
                        metric)


def split_at_equal_probability(parts: np.ndarray, total: float, metric: str
                               ) -> tuple[np.ndarray, float]:
    """Quotas reached by every part with the same probability ``q``, adding up to ``total``.

    Returns the rounded quotas (:func:`~targetsim.calibrate.phasing.split_exact` at the
    parts' common step) and ``q``.
    """
    q = common_probability(parts, total)
    raw = np.array([part_quantile(parts[:, i], q) for i in range(parts.shape[1])])
    return split_exact(raw, total, rounding_step(raw, metric)), q


def quota_plan(
    projection: xr.Dataset,
    probability: float = 0.6,
    company_target: float | None = None,
    over_assignment: float = DEFAULT_OVER_ASSIGNMENT,
) -> tuple[pd.DataFrame, list[AllocationSummary]]:
    """One set of numbers: company, segment and rep quotas for the year and its quarters.

    The rule, per scenario and metric:

    * the company number is the total FY target at ``probability`` (for bookings, the
      board's ``company_target`` when given);
    * segments split the company number at equal probability (they add up to it);
    * reps split ``over_assignment ×`` the company number at equal probability (1.1 is
      the common practice of handing out 10 % more than the company must book, so that
      reps who miss are covered by those who beat);
    * every FY quota is phased over the quarters by the simulated seasonal profile
      (:func:`~targetsim.calibrate.phasing.phase_quarters`): quarters add up to the year.

    Every row carries ``quota_probability``: ``P(outcome >= quota)`` of that row.

    Returns
    -------
    (DataFrame, list of AllocationSummary)
        Columns :data:`QUOTA_COLUMNS`; one bookings summary per scenario and level.
    """
    p = check_probability(probability)
    k = float(over_assignment)
    if not np.isfinite(k) or not 0.5 <= k <= 3.0:
        from targetsim.errors import ConfigError

        raise ConfigError(
            f"--over-assignment: expected a ratio between 0.5 and 3 (e.g. 1.1 hands out "
            f"10 % more than the company number), got {over_assignment!r}"
        )
    quarters = [q for q in period_months(projection) if q != FY]
    rows: list[tuple[object, ...]] = []
    summaries: list[AllocationSummary] = []
    for metric in ("bookings", "deals_won"):
        total = outcome(projection, "total", metric, FY)
        q_out = {lvl: [outcome(projection, lvl, metric, q) for q in quarters]
                 for lvl in ("total", "segment", "owner")}
        for scenario in total.scenarios if total is not None else ():
            company = total.samples(scenario, "total")
            t = company_number(projection, scenario, metric, p, company_target)
            sc_i = total.scenarios.index(scenario)

            def emit(level: str, names: tuple[str, ...], fy: np.ndarray, fy_quota: np.ndarray,
                     sc_i: int = sc_i, scenario: str = scenario, metric: str = metric,
                     q_out: dict = q_out) -> None:
                outs = q_out[level]
                for i, name in enumerate(names):
                    rows.append((scenario, level, name, FY, metric, float(fy_quota[i]),
                                 attainment_probability(fy[:, i], fy_quota[i])))
                    if not outs or any(o is None for o in outs):
                        continue
                    qs = np.stack([o.values[:, sc_i, o.names.index(name)] for o in outs],
                                  axis=1)
                    for j, qq in enumerate(phase_quarters(fy_quota[i], qs, metric)):
                        rows.append((scenario, level, name, quarters[j], metric, float(qq),
                                     attainment_probability(qs[:, j], qq)))

            emit("total", ("total",), company[:, None], np.array([t]))
            for level, factor in (("segment", 1.0), ("owner", k)):
                out = outcome(projection, level, metric, FY)
                if out is None:
                    continue
                parts = out.values[:, sc_i, :]
                goal = split_exact([factor * t], factor * t,
                                   rounding_step(parts.mean(axis=0), metric))[0]
                quotas, q = split_at_equal_probability(parts, goal, metric)
                emit(level, out.names, parts, quotas)
                if metric != "bookings":
                    continue
                reached = (parts >= quotas[None, :]).mean(axis=1)
                at_p = float(sum(round_target(target_at_probability(parts[:, i], p), metric)
                                 for i in range(parts.shape[1])))
                summaries.append(AllocationSummary(
                    scenario=scenario, level=level, company_target=t, common_probability=q,
                    expected_share_reaching=float(reached.mean()), probability=p,
                    sum_of_quotas_at_p=at_p,
                    company_at_p=round_target(target_at_probability(company, p), metric),
                    p_company_reaches_sum=attainment_probability(company, at_p),
                    over_assignment=factor, sum_of_quotas=float(quotas.sum()),
                    p_company_number=attainment_probability(company, t),
                    p_sum_of_quotas=attainment_probability(company, float(quotas.sum())),
                ))
    return pd.DataFrame(rows, columns=QUOTA_COLUMNS), summaries


def allocation_frame(quotas: pd.DataFrame, summaries: list[AllocationSummary]) -> pd.DataFrame:
    """allocation.csv: the FY bookings quotas of segments and reps (the same numbers as the
    ``quota`` column of targets.csv), with the company number and the rule."""
    by_key = {(a.scenario, a.level): a for a in summaries}
    sel = quotas.loc[quotas["period"].eq(FY) & quotas["metric"].eq("bookings")
                     & quotas["level"].isin(["segment", "owner"])]
    rows = []
    for r in sel.itertuples(index=False):
        a = by_key[(r.scenario, r.level)]
        rows.append((r.scenario, r.level, r.name, FY, "bookings", a.company_target,
                     a.common_probability, r.quota, r.quota_probability,
                     r.quota / a.company_target if a.company_target > 0 else float("nan"),
                     a.over_assignment))
    return pd.DataFrame(rows, columns=ALLOCATION_COLUMNS)


def allocate(
    projection: xr.Dataset,
    probability: float = 0.6,
    company_target: float | None = None,
    over_assignment: float = DEFAULT_OVER_ASSIGNMENT,
) -> tuple[pd.DataFrame, list[AllocationSummary]]:
    """allocation.csv and its summaries (see :func:`quota_plan` for the rule)."""
    quotas, summaries = quota_plan(projection, probability, company_target, over_assignment)
    return allocation_frame(quotas, summaries), summaries
