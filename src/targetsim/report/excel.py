"""targets.xlsx: the quota sheet for sales ops (one sheet per level, plus Indicators).

Values are written as numbers (never pre-formatted text) with Excel number formats, so the
sheet sorts, sums and filters; the header row is frozen and columns are sized to fit.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from targetsim.io import atomic_path
from targetsim.report.i18n import labels
from targetsim.report.quotas import add_quota_sheet

#: Sheet name per level of targets.csv.
LEVEL_SHEETS = {"total": "Total", "segment": "Segments", "owner": "Owners"}
TARGET_FIELDS = (
    "scenario", "name", "period", "metric", "target", "attainment_probability", "p10", "p50",
    "p90",
)
INDICATOR_FIELDS = (
    "new_opportunities", "wins_needed", "pipeline_at_quarter_start", "pipeline_coverage",
    "weekly_new_opportunities", "weekly_wins",
)
FMT_AMOUNT = "#,##0"
FMT_COUNT = "#,##0.0"
FMT_PROB = "0%"
FMT_COVERAGE = '0.00"x"'
HEADER_FILL = PatternFill("solid", fgColor="DDE3EA")


def _header_label(field: str, lab: dict[str, str]) -> str:
    special = {"attainment_probability": "attainment", "name": "name", "p50": "p50"}
    return lab.get(special.get(field, field), field)


def _number_format(field: str, metric: str | None) -> str | None:
    if field == "attainment_probability":
        return FMT_PROB
    if field == "pipeline_coverage":
        return FMT_COVERAGE
    if field in ("target", "p10", "p50", "p90"):
        return FMT_COUNT if metric == "deals_won" else FMT_AMOUNT
    if field in ("pipeline_at_quarter_start",):
        return FMT_AMOUNT
    if field in INDICATOR_FIELDS:
        return FMT_COUNT
    return None


def _write_sheet(ws, df: pd.DataFrame, fields: list[str], lab: dict[str, str]) -> None:
    headers = [_header_label(f, lab) for f in fields]
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for rec in df.to_dict("records"):
        values = []
        for f in fields:
            v = rec.get(f)
            if v is None or (isinstance(v, float) and pd.isna(v)):
                values.append(None)
            elif hasattr(v, "item"):
                values.append(v.item())  # numpy scalars → Python numbers openpyxl knows
            else:
                values.append(v)
        ws.append(values)
        row = ws.max_row
        for col, f in enumerate(fields, start=1):
            fmt = _number_format(f, rec.get("metric"))
            if fmt:
                ws.cell(row=row, column=col).number_format = fmt
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    for col, (f, h) in enumerate(zip(fields, headers, strict=True), start=1):
        longest = max([len(str(h))] + [len(str(v)) for v in df[f].head(500)] if f in df else [8])
        ws.column_dimensions[get_column_letter(col)].width = min(max(10, longest + 3), 45)


def write_targets_xlsx(
    path: str | Path,
    targets: pd.DataFrame,
    indicators: pd.DataFrame | None = None,
    *,
    lang: str = "en",
    quota_scores: pd.DataFrame | None = None,
) -> Path:
    """Write targets.xlsx atomically.

    Parameters
    ----------
    path : str or Path
        Output file.
    targets : pandas.DataFrame
        ``targets.csv`` rows.
    indicators : pandas.DataFrame, optional
        ``indicators.csv`` rows: an ``Indicators`` sheet, and the quarter's leading
        indicators beside each segment's quarterly bookings target.
    lang : str
        Language of the column headers (sheet names stay English, for formulas and scripts).
    quota_scores : pandas.DataFrame, optional
        ``quota_scores.csv``: a ``Quotas`` sheet (:func:`targetsim.report.quotas.add_quota_sheet`).

    Returns
    -------
    Path
    """
    lab = labels(lang)
    wb = Workbook()
    wb.remove(wb.active)
    for level, sheet in LEVEL_SHEETS.items():
        df = targets[targets["level"] == level].reset_index(drop=True)
        fields = list(TARGET_FIELDS)
        if level == "segment" and indicators is not None and not df.empty:
            ind = indicators[["scenario", "segment", "period", *INDICATOR_FIELDS]].rename(
                columns={"segment": "name"}
            )
            ind = ind.drop_duplicates(["scenario", "name", "period"]).assign(metric="bookings")
            df = df.merge(ind, on=["scenario", "name", "period", "metric"], how="left")
            fields += list(INDICATOR_FIELDS)
        _write_sheet(wb.create_sheet(sheet), df, fields, lab)
    if indicators is not None:
        fields = ["scenario", "segment", "period", "target", *INDICATOR_FIELDS]
        _write_sheet(wb.create_sheet("Indicators"), indicators, fields, lab)
    add_quota_sheet(wb, quota_scores)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return Path(path)
