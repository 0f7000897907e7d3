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
from targetsim.safe_text import xlsx_text_cell

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
    # Every cell goes through xlsx_text_cell: text from data (a segment named
    # '=HYPERLINK(...)') is stored as text, never as a formula (targetsim.safe_text).
    headers = [_header_label(f, lab) for f in fields]
    for col, h in enumerate(headers, start=1):
        cell = ws.cell(row=1, column=col)
        xlsx_text_cell(cell, h)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row, rec in enumerate(df.to_dict("records"), start=2):
        for col, f in enumerate(fields, start=1):
            v = rec.get(f)
            if v is None or (isinstance(v, float) and pd.isna(v)):
                v = None
            elif hasattr(v, "item"):
                v = v.item()  # numpy scalars → Python numbers openpyxl knows
            cell = ws.cell(row=row, column=col)
            xlsx_text_cell(cell, v)
            fmt = _number_format(f, rec.get("metric"))
            if fmt:
                cell.number_format = fmt
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
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return Path(path)
