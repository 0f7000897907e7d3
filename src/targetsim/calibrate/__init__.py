"""Calibration: targets with their probability of attainment, from the projection cube.

Everything here is a pure function of the projection (``xarray.Dataset`` of
:func:`targetsim.simulate.simulate`), except the top-down levers, which re-simulate
(:mod:`targetsim.calibrate.levers`).

Files written by :func:`write_calibration` into a plan directory: ``targets.csv``,
``indicators.csv``, ``allocation.csv``, ``stress.csv``, ``objectives.md`` and, when asked,
``tiers.csv`` and ``topdown.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr

from targetsim.calibrate import amounts
from targetsim.calibrate.allocation import (
    ALLOCATION_COLUMNS,
    AllocationSummary,
    allocate,
    common_probability,
)
from targetsim.calibrate.indicators import leading_indicators
from targetsim.calibrate.objectives import check_lang, write_objectives
from targetsim.calibrate.periods import FY, horizon_end, period_months
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
from targetsim.errors import ConfigError
from targetsim.io import write_csv_atomic, write_text_atomic

__all__ = [
    "FY",
    "TARGET_COLUMNS",
    "AllocationSummary",
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
    "reference_scenario",
    "round_target",
    "stress_test",
    "target_at_probability",
    "write_calibration",
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
    notes : tuple of str
        What a reader must know (segments without amounts get deals-won targets only:
        :mod:`targetsim.calibrate.amounts`).
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
    notes: tuple[str, ...] = ()


def calibrate(
    projection: xr.Dataset,
    *,
    probability: float = 0.6,
    tiers: tuple[float, float, float] | None = None,
    company_target: float | None = None,
    topdown_rows: list[dict[str, object]] | None = None,
    lang: str = "en",
    currency: str = "$",
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
    if none_sized:
        allocation, summary = pd.DataFrame(columns=ALLOCATION_COLUMNS), []
    else:
        allocation, summary = allocate(projection, p, company_target)
        allocation = scoped(allocation)
        summary = [a for a in summary if not (unsized and a.level == "owner")]
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
             "change": "levers not re-simulated"}
            for s, v in company_p.items()
        ]
        topdown = topdown_frame(rows)
    objectives = write_objectives(
        targets, indicators, scenario=ref, probability=p,
        horizon_end=horizon_end(projection), allocation=summary, stress=stress,
        topdown=topdown, lang=lang, currency=currency,
    )
    return Calibration(
        targets=targets, indicators=indicators, allocation=allocation,
        allocation_summary=tuple(summary), stress=stress, objectives=objectives,
        probability=p, reference=ref, tiers=tiers_df, topdown=topdown,
        company_probability=company_p,
        notes=tuple(n for n in [amounts.note(unsized, segments)] if n),
    )


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
    if cal.tiers is not None:
        written.append(_write_csv(cal.tiers, out / "tiers.csv"))
    if cal.topdown is not None:
        written.append(_write_csv(cal.topdown, out / "topdown.csv"))
    return written
