"""Calibration: targets with their probability of attainment, from the projection cube.

Everything here is a pure function of the projection (``xarray.Dataset`` of
:func:`targetsim.simulate.simulate`), except the top-down levers, which re-simulate
(:mod:`targetsim.calibrate.levers`).

Files written by :func:`write_calibration` into a plan directory: ``targets.csv``,
``indicators.csv``, ``allocation.csv``, ``stress.csv``, ``objectives.md`` and, when asked,
``tiers.csv`` and ``topdown.csv``. Quotas proposed by the teams are scored against the
projection by :mod:`targetsim.calibrate.score` (``quota_scores.csv``, ``quota_rollup.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr

from targetsim.calibrate import amounts
from targetsim.calibrate.allocation import (
    DEFAULT_OVER_ASSIGNMENT,
    AllocationSummary,
    allocate,
    allocation_frame,
    common_probability,
    quota_plan,
)
from targetsim.calibrate.context import LastYear, add_context
from targetsim.calibrate.indicators import leading_indicators
from targetsim.calibrate.objectives import check_lang, write_objectives
from targetsim.calibrate.periods import FY, horizon_end, month_index, period_months
from targetsim.calibrate.score import (
    QuotaScores,
    read_quotas,
    score_plan,
    score_quotas,
    write_scores,
)
from targetsim.calibrate.targets import (
    TARGET_COLUMNS,
    attainment_probability,
    check_probability,
    compute_targets,
    compute_tiers,
    parse_tiers,
    reference_scenario,
    round_target,
    stress_test,
    target_at_probability,
)
from targetsim.calibrate.topdown import company_probabilities, topdown_frame
from targetsim.calibrate.topdown import phrase as topdown_phrase
from targetsim.errors import ConfigError
from targetsim.io import write_csv_atomic, write_text_atomic

__all__ = [
    "FY",
    "TARGET_COLUMNS",
    "LastYear",
    "AllocationSummary",
    "QuotaScores",
    "Calibration",
    "allocate",
    "attainment_probability",
    "calibrate",
    "common_probability",
    "company_probabilities",
    "compute_targets",
    "compute_tiers",
    "leading_indicators",
    "parse_tiers",
    "period_months",
    "quota_plan",
    "read_quotas",
    "reference_scenario",
    "round_target",
    "score_plan",
    "score_quotas",
    "stress_test",
    "target_at_probability",
    "write_calibration",
    "write_scores",
]


@dataclass(frozen=True)
class Calibration:
    """Everything calibrated from one projection.

    Attributes
    ----------
    targets, indicators, allocation, stress : DataFrame
        The tables of targets.csv, indicators.csv, allocation.csv, stress.csv.
    allocation_summary : tuple of AllocationSummary
    objectives : str
        objectives.md text.
    probability : float
    reference : str
        Scenario the objectives are stated on.
    tiers, topdown : DataFrame or None
        tiers.csv / topdown.csv when asked.
    company_probability : dict
        ``P(total FY bookings >= company target)`` per scenario (with ``company_target``).
    over_assignment : float
        Sum of rep quotas ÷ company number.
    notes : tuple of str
        What a reader must know (segments without amounts get deals-won targets only:
        :mod:`targetsim.calibrate.amounts`).

    ``targets`` holds the contract columns, then ``quota, quota_probability`` (the one set
    of numbers the documents show: :func:`~targetsim.calibrate.allocation.quota_plan`),
    then the last-year columns when :func:`~targetsim.calibrate.context.add_context` ran.
    """

    targets: pd.DataFrame
    indicators: pd.DataFrame
    allocation: pd.DataFrame
    allocation_summary: tuple[AllocationSummary, ...]
    stress: pd.DataFrame
    objectives: str
    probability: float
    reference: str
    tiers: pd.DataFrame | None = None
    topdown: pd.DataFrame | None = None
    company_probability: dict[str, float] = field(default_factory=dict)
    over_assignment: float = DEFAULT_OVER_ASSIGNMENT
    last_year: LastYear | None = None
    notes: tuple[str, ...] = ()


def calibrate(
    projection: xr.Dataset,
    *,
    probability: float = 0.6,
    tiers: tuple[float, float, float] | None = None,
    company_target: float | None = None,
    topdown_rows: list[dict[str, object]] | None = None,
    lang: str = "en",
    currency: str = "USD",
    over_assignment: float = DEFAULT_OVER_ASSIGNMENT,
    last_year: LastYear | None = None,
) -> Calibration:
    """Targets, tiers, allocation, indicators, stress test and objectives of a projection.

    Parameters
    ----------
    projection : xarray.Dataset
    probability : float
        Attainment probability of the targets (default 0.6).
    tiers : tuple of float, optional
        Floor / target / stretch probabilities (see :func:`parse_tiers`).
    company_target : float, optional
        The board's FY bookings number: its probability per scenario, and the total split
        by the allocation.
    topdown_rows : list of dict, optional
        Lever rows from :func:`targetsim.calibrate.levers.solve_levers`; without them
        topdown.csv only has the probability of each scenario (lever ``none``).
    lang : {"en", "fr"}
    currency : str
        ISO 4217 code of the data's amounts.
    over_assignment : float
        Sum of rep quotas ÷ company number (see :func:`quota_plan`).
    last_year : LastYear, optional
        The data's last 12 months: appends the context columns to targets.csv and writes
        actuals.csv and last_year.csv.

    Returns
    -------
    Calibration
    """
    p = check_probability(probability)
    check_lang(lang)
    # Segments without won amounts: no bookings target (amounts.py holds the rule).
    projection, unsized = amounts.scope_projection(projection)
    segments = [str(s) for s in projection["segment"].values]
    none_sized = bool(unsized) and set(unsized) >= set(segments)
    if none_sized and company_target is not None:
        raise ConfigError(
            "--company-target is a bookings number, but no won deal of the data has a positive "
            "amount: only deals-won targets can be set"
        )

    def scoped(df: pd.DataFrame | None, name_col: str = "name") -> pd.DataFrame | None:
        return amounts.drop_unsized(df, unsized, segments, name_col=name_col)

    targets = scoped(compute_targets(projection, p))
    indicators = scoped(leading_indicators(projection, p), "segment")
    quotas, summary = quota_plan(projection, p, company_target, over_assignment)
    quotas = scoped(quotas)
    # the bookings split of levels left without bookings quotas says nothing
    kept = set(zip(quotas.loc[quotas["metric"].eq("bookings"), "scenario"],
                   quotas.loc[quotas["metric"].eq("bookings"), "level"], strict=True))
    summary = [a for a in summary if (a.scenario, a.level) in kept]
    allocation = allocation_frame(quotas, summary)
    targets = with_quotas(targets, quotas)
    if last_year is not None:
        targets = add_context(targets, last_year.actuals, last_year.last_year,
                              last_year.fit_summary, last_year.as_of)
    stress = stress_test(projection, targets)
    ref = reference_scenario(projection["scenario"].values)
    tiers_df = scoped(compute_tiers(projection, tiers)) if tiers is not None else None
    company_p: dict[str, float] = {}
    topdown = None
    if company_target is not None:
        company_p = company_probabilities(projection, float(company_target))
        rows = topdown_rows if topdown_rows else [
            {"scenario": s, "company_target": float(company_target),
             "attainment_probability": v, "target_probability": p, "lever": "none",
             "value": float("nan"), "achieved_probability": v,
             "change": topdown_phrase("not_simulated", lang)}
            for s, v in company_p.items()
        ]
        topdown = topdown_frame(rows)
    objectives = write_objectives(
        targets, indicators, scenario=ref, probability=p,
        horizon_end=horizon_end(projection), allocation=summary, stress=stress,
        topdown=topdown, lang=lang, currency=currency,
        horizon_start=month_index(projection)[0], months=int(projection.sizes["month"]),
        scenarios=saved_scenarios(projection),
    )
    return Calibration(
        targets=targets, indicators=indicators, allocation=allocation,
        allocation_summary=tuple(summary), stress=stress, objectives=objectives,
        probability=p, reference=ref, tiers=tiers_df, topdown=topdown,
        company_probability=company_p, over_assignment=float(over_assignment),
        last_year=last_year,
        notes=tuple(n for n in [amounts.note(unsized, segments)] if n),
    )


def saved_scenarios(projection: xr.Dataset) -> dict[str, dict]:
    """Scenario name → definition, as the simulate step saved it in the projection."""
    import json

    raw = projection.attrs.get("scenarios_json")
    if not raw:
        return {}
    try:
        loaded = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return {str(d.get("name")): d for d in loaded if isinstance(d, dict)}


def with_quotas(targets: pd.DataFrame, quotas: pd.DataFrame) -> pd.DataFrame:
    """targets.csv rows with ``quota, quota_probability`` appended after their columns."""
    keys = ["scenario", "level", "name", "period", "metric"]
    base = targets.drop(columns=[c for c in ("quota", "quota_probability") if c in targets])
    return base.merge(quotas, on=keys, how="left", sort=False)


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    # Fixed float format: same numbers → same bytes on every platform; text cells that a
    # spreadsheet would run as formulas are neutralised (targetsim.io.write_csv_atomic).
    return write_csv_atomic(df, path, float_format="%.10g")


def write_calibration(cal: Calibration, out_dir: str | Path) -> list[Path]:
    """Write the calibration files into ``out_dir`` (each atomically); return their paths."""
    out = Path(out_dir)
    written = [
        _write_csv(cal.targets, out / "targets.csv"),
        _write_csv(cal.indicators, out / "indicators.csv"),
        _write_csv(cal.allocation, out / "allocation.csv"),
        _write_csv(cal.stress, out / "stress.csv"),
        write_text_atomic(out / "objectives.md", cal.objectives),
    ]
    if cal.last_year is not None:
        written.append(_write_csv(cal.last_year.actuals, out / "actuals.csv"))
        written.append(_write_csv(cal.last_year.last_year, out / "last_year.csv"))
    if cal.tiers is not None:
        written.append(_write_csv(cal.tiers, out / "tiers.csv"))
    if cal.topdown is not None:
        written.append(_write_csv(cal.topdown, out / "topdown.csv"))
    return written
