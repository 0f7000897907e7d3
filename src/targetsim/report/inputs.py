"""Read a plan directory: the files the other steps wrote, checked against their contracts.

Contract files (``targets.csv``, ``projection.nc``, ``fit_summary.csv``,
``diagnostics.json``) must be present and well-formed: without them there is no report, and
a :class:`~targetsim.errors.DataError` says which file and which columns are wrong. The
other files (``indicators.csv``, ``stress.csv``, ``allocation.csv``, ``tiers.csv``,
``topdown.csv``, ``actuals.csv``, ``last_year.csv``, ``teams.csv``, ``objectives.md``,
``plan.json``, ``fit.nc``) are optional: the report leaves out what they would show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from targetsim.errors import DataError
from targetsim.io import read_csv_output

TARGET_COLUMNS = (
    "scenario", "level", "name", "period", "metric", "target",
    "attainment_probability", "p10", "p50", "p90",
)
INDICATOR_COLUMNS = (
    "scenario", "segment", "period", "target", "new_opportunities", "wins_needed",
    "pipeline_at_quarter_start", "pipeline_coverage", "weekly_new_opportunities", "weekly_wins",
)
STRESS_COLUMNS = (
    "level", "name", "period", "metric", "target", "scenario", "attainment_probability",
)
FIT_SUMMARY_COLUMNS = ("segment", "parameter", "stage", "mean", "q05", "q50", "q95")
DIAGNOSTIC_KEYS = ("rhat_max", "ess_bulk_min", "divergences", "converged")
#: Variables of projection.nc the report needs.
PROJECTION_VARS = ("bookings",)


@dataclass(frozen=True)
class PlanInputs:
    """Everything a report is made from, read from one plan directory.

    Attributes
    ----------
    out_dir : Path
        The plan directory.
    targets : pandas.DataFrame
        ``targets.csv`` (names and scenarios as strings).
    projection : xarray.Dataset
        ``projection.nc``, loaded in memory.
    fit_summary : pandas.DataFrame
        ``fit_summary.csv`` (``stage`` empty string when not a stage parameter).
    diagnostics : dict
        ``diagnostics.json``.
    plan : dict
        ``plan.json``, or ``{}`` when absent.
    optional : dict of str to pandas.DataFrame or str or None
        ``indicators``, ``stress``, ``allocation``, ``tiers``, ``topdown`` (DataFrames) and
        ``objectives`` (markdown text); None when the file is absent.
    """

    out_dir: Path
    targets: pd.DataFrame
    projection: xr.Dataset
    fit_summary: pd.DataFrame
    diagnostics: dict[str, Any]
    plan: dict[str, Any] = field(default_factory=dict)
    optional: dict[str, Any] = field(default_factory=dict)

    @property
    def scenarios(self) -> list[str]:
        """Scenario names in plan order (plan.json, else the order of targets.csv)."""
        order = [str(s) for s in self.plan.get("scenarios", []) if isinstance(s, str)]
        seen = list(dict.fromkeys(self.targets["scenario"]))
        return [s for s in order if s in seen] + [s for s in seen if s not in order]

    @property
    def primary_scenario(self) -> str:
        """``baseline`` when present, else the first scenario."""
        return "baseline" if "baseline" in self.scenarios else self.scenarios[0]

    @property
    def currency(self) -> str:
        """ISO code of the amounts (plan.json; ``USD`` when unknown)."""
        from targetsim.errors import ConfigError
        from targetsim.formatting import check_currency

        try:
            return check_currency(str(self.plan.get("currency") or "USD"))
        except ConfigError:
            return "USD"

    @property
    def probability(self) -> float:
        """The plan's attainment probability (plan.json, else the median of targets.csv)."""
        if "probability" in self.plan:
            return float(self.plan["probability"])
        return float(self.targets["attainment_probability"].median())


def _read_csv(path: Path, columns: tuple[str, ...], *, str_cols: tuple[str, ...]) -> pd.DataFrame:
    try:
        # read_csv_output: names as they were before CSV formula neutralisation
        df = read_csv_output(path, dtype={c: str for c in str_cols}, keep_default_na=False,
                             na_values=[""])
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({exc}).") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}."
        )
    for c in str_cols:
        if c in df:
            df[c] = df[c].fillna("").astype(str).map(_unneutralise)
    return df


def _unneutralise(text: str) -> str:
    """teams.csv was written with formula-neutralised text (a leading apostrophe): read back
    the name itself; every writer escapes again for its destination."""
    from targetsim.safe_text import FORMULA_PREFIXES

    if text.startswith("'") and text[1:2] and text[1:].startswith(FORMULA_PREFIXES):
        return text[1:]
    return text


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataError(
            f"{path} not found: run `targetsim plan` (or fit, simulate and calibrate) "
            f"into {path.parent} first."
        )
    return path


def load_projection_file(path: Path) -> xr.Dataset:
    """Load ``projection.nc`` in memory (the simulate step's loader when it exists)."""
    try:
        from targetsim.simulate import load_projection  # type: ignore[attr-defined]
    except ImportError:
        load_projection = None
    try:
        if load_projection is not None:
            ds = load_projection(path)
        else:
            with xr.open_dataset(path, engine="h5netcdf") as opened:
                ds = opened.load()
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as a projection ({exc}).") from exc
    missing = [v for v in PROJECTION_VARS if v not in ds]
    dims_missing = [d for d in ("draw", "scenario", "segment", "month") if d not in ds.dims]
    if missing or dims_missing:
        raise DataError(
            f"{path}: not a targetsim projection (missing variables {missing} "
            f"or dimensions {dims_missing})."
        )
    return ds


def load_plan(out_dir: str | Path) -> PlanInputs:
    """Read and check the files of a plan directory.

    Parameters
    ----------
    out_dir : str or Path
        Directory written by ``targetsim plan`` (or fit, simulate and calibrate).

    Returns
    -------
    PlanInputs

    Raises
    ------
    DataError
        If the directory or a contract file is missing or malformed.
    """
    d = Path(out_dir)
    if not d.is_dir():
        raise DataError(f"{d} is not a directory: give the --out directory of `targetsim plan`.")
    targets = _read_csv(
        _require(d / "targets.csv"), TARGET_COLUMNS,
        str_cols=("scenario", "level", "name", "period", "metric"),
    )
    if targets.empty:
        raise DataError(f"{d / 'targets.csv'} has no rows.")
    bad_levels = sorted(set(targets["level"]) - {"total", "segment", "owner"})
    if bad_levels:
        raise DataError(
            f"{d / 'targets.csv'}: column level has unknown value(s) {bad_levels}; "
            "expected total, segment or owner."
        )
    for c in ("target", "attainment_probability", "p10", "p50", "p90"):
        if not pd.api.types.is_numeric_dtype(targets[c]):
            raise DataError(f"{d / 'targets.csv'}: column {c} must be numeric.")
    fit_summary = _read_csv(
        _require(d / "fit_summary.csv"), FIT_SUMMARY_COLUMNS,
        str_cols=("segment", "parameter", "stage"),
    )
    diag_path = _require(d / "diagnostics.json")
    try:
        diagnostics = json.loads(diag_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{diag_path}: not valid JSON ({exc}).") from exc
    missing_keys = [k for k in DIAGNOSTIC_KEYS if k not in diagnostics]
    if missing_keys:
        raise DataError(f"{diag_path}: missing key(s) {', '.join(missing_keys)}.")
    projection = load_projection_file(_require(d / "projection.nc"))

    plan: dict[str, Any] = {}
    if (d / "plan.json").is_file():
        try:
            plan = json.loads((d / "plan.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{d / 'plan.json'}: not valid JSON ({exc}).") from exc
    optional: dict[str, Any] = {}
    specs = {
        "indicators": (INDICATOR_COLUMNS, ("scenario", "segment", "period")),
        "stress": (STRESS_COLUMNS, ("level", "name", "period", "metric", "scenario")),
        "allocation": ((), ("level", "name", "period", "metric", "scenario")),
        "tiers": ((), ("level", "name", "period", "metric", "scenario", "tier")),
        "topdown": ((), ("scenario", "lever")),
        "actuals": (("segment", "owner", "month", "bookings", "deals_won"),
                    ("segment", "owner", "month")),
        "last_year": (("level", "name", "bookings_12m", "deals_won_12m"), ("level", "name")),
        "teams": (("owner", "manager", "region"), ("owner", "manager", "region")),
    }
    for key, (cols, str_cols) in specs.items():
        p = d / f"{key}.csv"
        optional[key] = _read_csv(p, cols, str_cols=str_cols) if p.is_file() else None
    obj = d / "objectives.md"
    optional["objectives"] = obj.read_text(encoding="utf-8") if obj.is_file() else None
    return PlanInputs(
        out_dir=d,
        targets=targets,
        projection=projection,
        fit_summary=fit_summary,
        diagnostics=diagnostics,
        plan=plan,
        optional=optional,
    )
