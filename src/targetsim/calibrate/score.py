"""Score quotas people propose (or already have) against a plan: the participative half.

The article this product grew from recommends combining a top-down number with targets
worked out *with* the teams. Reps and managers bring their own numbers; many companies have
quotas already. :func:`score_quotas` gives each such number its probability of attainment
under every scenario of a plan, where it sits in the simulated band, and a verdict in
words; :func:`rollup` says how the proposals add up against the company number.

Input (:func:`read_quotas`), in one of two layouts:

* **long**: CSV, Parquet or Excel with ``level, name, period, metric, target``; a ``quota``
  column, when there is one, is the number scored (a ``target`` beside it, the plan's, is
  then left aside); an optional ``scenario`` column scores a row under that scenario only,
  otherwise every quota is scored under every scenario of the plan. Every sheet of a
  workbook with those columns is read, its level taken from a ``level`` column or from the
  sheet's name (``Total``, ``Segments``, ``Owners``), headers in English or French.
* **the quota sheet** as targets.xlsx has it (:mod:`targetsim.report.excel`), handed back
  edited or not: one row per rep (the ``Quotas`` sheet: ``Rep``/``Commercial``, ``FY
  quota``/``Quota annuel``, a column per quarter ``Q1 2018``/``T1 2018``, ``Deals won
  quota``), or per segment (the ``Segments`` sheet of a plan without reps), headers in
  English or French; each number of those columns is a quota (FY or that quarter; bookings,
  or deals won for the deals column); the total row, the probabilities, bands and last
  year's figures are left aside. The same columns saved as CSV read the same way.

Which sheets of a workbook: ``--sheet NAME`` names one; otherwise the ``Scored quotas``
sheet (the proposals a plan made with ``--quotas`` scored) when there is one, else the
``Quotas`` sheet (else ``Segments``), else every sheet in the long layout. A workbook with
both ``Scored quotas`` and ``Quotas`` is read from the first, with a warning naming the
other (``--sheet`` reads it instead). Quarters of a row that no longer add up to its FY
quota (an FY quota edited by hand) are pointed out: each number is scored as it stands.

Verdicts, from the tiers ``floor > target > stretch`` (``--tiers``; the plan's own tiers,
else 0.9, 0.6, 0.3): a quota reached with probability at least ``floor`` is **too easy**;
at least ``target``, **achievable**; at least ``stretch``, **stretching**; below, **unlikely**.

Everything here reads the plan directory only (``projection.nc``, ``targets.csv``,
``plan.json``): no data, no fit, no sampler. The probability of a number is
:func:`targetsim.calibrate.targets.attainment_probability`, the same function as for the
plan's own targets.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from targetsim.calibrate.periods import FY, period_months
from targetsim.calibrate.targets import (
    LEVELS,
    METRICS,
    TOTAL,
    attainment_probability,
    outcome,
    parse_tiers,
)
from targetsim.errors import ConfigError, DataError, ModelMismatchError
from targetsim.safe_text import restore_formula

#: Columns a quota file needs (``scenario`` is optional).
QUOTA_COLUMNS = ("level", "name", "period", "metric", "target")
#: Columns of quota_scores.csv.
SCORE_COLUMNS = [
    "scenario", "level", "name", "period", "metric", "target", "attainment_probability",
    "p10", "p50", "p90", "band_position", "verdict", "plan_target", "vs_plan_target",
    "last_year_actual", "implied_growth", "tiers",
]
#: Columns of quota_rollup.csv.
ROLLUP_COLUMNS = [
    "scenario", "level", "period", "metric", "quotas", "names_in_plan", "sum_of_quotas",
    "expected_quotas_met", "p_all_met", "p_sum_reached", "company_number",
    "company_number_source", "gap_to_company_number", "p_company_number",
]
#: Tiers when neither ``--tiers`` nor the plan gives them: floor, target, stretch.
DEFAULT_TIERS = (0.9, 0.6, 0.3)
#: Verdict words, from the easiest to the hardest (the article's words in French).
VERDICTS = {
    "en": ("too easy", "achievable", "stretching", "unlikely"),
    "fr": ("trop bas", "atteignable", "ambitieux", "trop haut"),
}
#: Where a number sits in the simulated band: under p10, p10–p50, p50–p90, over p90.
BAND_WORDS = {
    "en": ("below the band", "lower half of the band", "upper half of the band",
           "above the band"),
    "fr": ("sous la fourchette", "moitié basse de la fourchette",
           "moitié haute de la fourchette", "au-dessus de la fourchette"),
}
#: Sheet names of the quota sheet and the level they hold.
SHEET_LEVELS = {"total": "total", "company": "total", "segments": "segment",
                "segment": "segment", "owners": "owner", "owner": "owner", "reps": "owner"}
_LEVEL_WORDS = {"total": "total", "company": "total", "entreprise": "total",
                "segment": "segment", "segments": "segment", "owner": "owner",
                "owners": "owner", "rep": "owner", "reps": "owner"}
_METRIC_WORDS = {"bookings": "bookings", "deals won": "deals_won", "deals_won": "deals_won",
                 "wins": "deals_won"}
#: Headers of the number to score when a sheet also has the plan's ``target``.
_QUOTA_HEADERS = ("quota", "proposed target", "proposal", "proposed quota")
SCORES_FILE = "quota_scores.csv"
#: Sheet of targets.xlsx with the scored quotas (:mod:`targetsim.report.quotas`).
QUOTA_SHEET = "Scored quotas"
ROLLUP_FILE = "quota_rollup.csv"
SHOW = 5


@dataclass(frozen=True)
class Quotas:
    """Quotas read from a file.

    Attributes
    ----------
    table : pandas.DataFrame
        ``level, name, period, metric, target, scenario`` (scenario None: every scenario),
        ``where`` (row, and sheet for Excel, for messages).
    source : str
    warnings : tuple of str
    """

    table: pd.DataFrame
    source: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuotaScores:
    """Scores of quotas against one projection.

    Attributes
    ----------
    scores : pandas.DataFrame
        :data:`SCORE_COLUMNS`, one row per quota and scenario.
    rollup : pandas.DataFrame
        :data:`ROLLUP_COLUMNS`, per scenario, level, period and metric with quotas.
    tiers : tuple of float
        Floor, target, stretch probabilities of the verdicts.
    reference : str
        The scenario summaries speak of (``baseline`` when present).
    """

    scores: pd.DataFrame
    rollup: pd.DataFrame
    tiers: tuple[float, float, float]
    reference: str


# ---------------------------------------------------------------- reading


def _norm(text: object) -> str:
    return re.sub(r"[\s_]+", " ", str(text)).strip().lower()


def _header_names() -> dict[str, str]:
    """Normalised header → field, in English and French (the quota sheet's labels).

    ``quota`` (and the proposal headers) is the number to score when a sheet has it beside
    the plan's ``target``.
    """
    names = {f: f for f in (*QUOTA_COLUMNS, "scenario")}
    names.update({h: "quota" for h in _QUOTA_HEADERS})
    try:  # the quota sheet's translated headers; report is optional at run time
        from targetsim.report.i18n import LANGUAGES, labels
    except ImportError:  # pragma: no cover - report always ships with the package
        return {_norm(k): v for k, v in names.items()}
    for lang in LANGUAGES:
        lab = labels(lang)
        for field in ("level", "name", "period", "metric", "target", "scenario"):
            if field in lab:
                names.setdefault(lab[field], field)
        for field in ("quota", "proposed_target"):
            if field in lab:
                names.setdefault(lab[field], "quota")
    return {_norm(k): v for k, v in names.items()}


def parse_target(value: object) -> float | None:
    """A target cell as a number: ``1250000``, ``1,250,000``, ``$1.25M``, ``800k``,
    ``1 250 000`` (French spacing); None when empty; NaN when unreadable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    text = re.sub(r"[\s\u202f\u00a0]", "", text)
    text = re.sub(r"^[A-Z]{3}|[A-Z]{3}$|^[$€£]|[$€£]$", "", text)
    factor = 1.0
    if text[-1:].lower() in ("k", "m"):
        factor = 1e3 if text[-1].lower() == "k" else 1e6
        text = text[:-1]
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")
    try:
        return float(text) * factor
    except ValueError:
        return math.nan


def _sheet_names(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: file not found.")
    try:
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
    except Exception as exc:  # zipfile/openpyxl raise many types for a corrupt file
        raise DataError(f"{path}: cannot be read as Excel: {' '.join(str(exc).split())}"
                        ) from None
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


def _frames(path: Path, sheet: str | None = None
            ) -> tuple[list[tuple[str | None, pd.DataFrame]], list[str]]:
    """(sheet name or None, raw table) of a quota file, and warnings (which sheets).

    Tables come from :func:`targetsim.data.readers.read_table`: cells as written, the
    index holds the rows as a spreadsheet numbers them.
    """
    from targetsim.data.readers import EXCEL_SUFFIXES, read_table

    if path.suffix.lower() not in EXCEL_SUFFIXES:
        if sheet is not None:
            raise DataError(f"{path}: --sheet applies to Excel files only.")
        return [(None, read_table(path))], []
    names = _sheet_names(path)
    if sheet is not None:
        if sheet not in names:
            raise DataError(f"{path}: no sheet named {sheet!r}; the sheets are "
                            + ", ".join(repr(n) for n in names) + ".")
        return [(sheet, read_table(path, sheet=sheet))], []
    frames: list[tuple[str | None, pd.DataFrame]] = []
    for name in names:
        try:
            frames.append((name, read_table(path, sheet=name)))
        except DataError:  # an empty or unreadable sheet holds no quota
            continue
    kinds = {name: _layout(raw, name) for name, raw in frames}
    wide = [n for n, k in kinds.items() if k == "owner"] or [
        n for n, k in kinds.items() if k == "segment"]
    if QUOTA_SHEET in kinds and kinds[QUOTA_SHEET] == "long":
        # the proposals a plan made with --quotas scored: what is being negotiated
        notes = [f"{path}: read the {QUOTA_SHEET!r} sheet (the proposals scored with the "
                 f"plan); the {wide[0]!r} sheet is left aside: give --sheet {wide[0]!r} to "
                 "score its quotas instead."] if wide else []
        return [(n, r) for n, r in frames if n == QUOTA_SHEET], notes
    if wide:
        return [(n, r) for n, r in frames if n == wide[0]], []
    return frames, []


# ---------------------------------------------------------------- the quota sheet (wide)


def _wide_headers() -> dict[str, dict[str, str]]:
    """Normalised header → role in the quota sheet, per language of targets.xlsx."""
    from targetsim.report.excel import XLSX_LABELS

    roles: dict[str, dict[str, str]] = {"owner": {}, "segment": {}, "fy": {}, "deals": {},
                                        "total": {}}
    for lab in XLSX_LABELS.values():
        roles["owner"][_norm(lab["rep"])] = "owner"
        roles["segment"][_norm(lab["segment"])] = "segment"
        roles["fy"][_norm(lab["fy"])] = "fy"
        roles["deals"][_norm(lab["deals"])] = "deals"
        roles["total"][_norm(lab["total"])] = "total"
    roles["owner"].update({"owner": "owner", "rep": "owner"})
    roles["fy"].update({"fy": "fy", "fy quota": "fy"})
    return roles


def _layout(raw: pd.DataFrame, sheet: str | None) -> str | None:
    """``long``, ``owner`` / ``segment`` (the quota sheet, one row per rep / segment) or None."""
    headers = _header_names()
    fields = {headers.get(_norm(c)) for c in raw.columns}
    level_ok = "level" in fields or (sheet is not None and _norm(sheet) in SHEET_LEVELS)
    if {"name", "period", "metric"} <= fields and fields & {"target", "quota"} and level_ok:
        return "long"
    roles = _wide_headers()
    cols = [_norm(c) for c in raw.columns]
    numbers = any(c in roles["fy"] or c in roles["deals"] or _period(c) not in (None, FY)
                  for c in cols)
    if not numbers:
        return None
    if any(c in roles["owner"] for c in cols):
        return "owner"
    if cols and cols[0] in roles["segment"]:
        return "segment"
    return None


def _wide_table(raw: pd.DataFrame, sheet: str | None, level: str) -> tuple[pd.DataFrame,
                                                                            list[str]]:
    """The quota sheet's rows as long quota rows, and a warning per edited row set."""
    roles = _wide_headers()
    name_col = next(c for c in raw.columns if _norm(c) in roles[level])
    numbers: list[tuple[object, str, str]] = []  # (column, period, metric)
    for c in raw.columns:
        key = _norm(c)
        if key in roles["fy"]:
            numbers.append((c, FY, "bookings"))
        elif key in roles["deals"]:
            numbers.append((c, FY, "deals_won"))
        elif (period := _period(c)) not in (None, FY):
            numbers.append((c, period, "bookings"))
    names = raw[name_col]
    total = names.map(lambda v: v is not None and _norm(v) in roles["total"]).to_numpy()
    blank = names.map(lambda v: v is None or not str(v).strip()).to_numpy()
    keep = ~total & ~blank
    rows = raw.index.to_numpy()
    here = "" if sheet is None else f"sheet {sheet!r} "
    parts = []
    for col, period, metric in numbers:
        parts.append(pd.DataFrame({
            "level": level, "name": names[keep].to_numpy(dtype=object),
            "period": period, "metric": metric,
            "target": raw.loc[keep, col].to_numpy(dtype=object),
            "scenario": None,
            "where": [f"{here}row {r} column {str(col)!r}" for r in rows[keep]],
        }))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["level", "name", "period", "metric", "target", "scenario", "where"])
    return table, _unphased(raw.loc[keep], name_col, numbers, here, rows[keep])


def _unphased(raw: pd.DataFrame, name_col: object, numbers: list[tuple[object, str, str]],
              here: str, rows: np.ndarray) -> list[str]:
    """Rows whose quarters no longer add up to their FY quota (an FY quota edited by hand)."""
    fy = [c for c, p, m in numbers if p == FY and m == "bookings"]
    quarters = [c for c, p, m in numbers if p != FY]
    if not fy or not quarters:
        return []
    year = raw[fy[0]].map(parse_target).astype(float).to_numpy()
    parts = np.column_stack([raw[c].map(parse_target).astype(float).to_numpy()
                             for c in quarters])
    total = parts.sum(axis=1)
    ok = np.isfinite(year) & np.isfinite(parts).all(axis=1)
    off = ok & (np.abs(total - year) > 0.5 + 1e-6 * np.abs(year))
    if not off.any():
        return []
    shown = "; ".join(
        f"row {r} {str(n)!r}: FY {y:,.0f}, quarters {t:,.0f}"
        for r, n, y, t in zip(rows[off][:SHOW], raw[name_col].to_numpy()[off][:SHOW],
                              year[off][:SHOW], total[off][:SHOW], strict=True))
    more = f"; ... and {int(off.sum()) - SHOW} more" if off.sum() > SHOW else ""
    place = here.strip() or "the file"
    return [f"{place}: the quarters of {int(off.sum())} row(s) do not add up to their "
            f"{str(fy[0])!r} ({shown}{more}): each number is scored as it stands; spread an "
            "edited FY quota over the quarters to score the quarters it implies."]


def read_quotas(path: str | Path, sheet: str | None = None) -> Quotas:
    """Read proposed or existing quotas (see the module docstring for the layouts).

    Parameters
    ----------
    path : str or Path
        CSV, Parquet or Excel file.
    sheet : str, optional
        Excel only: the sheet to read (default: see the module docstring).

    Raises
    ------
    DataError
        No usable column or sheet; a bad level, metric, period or number (file, sheet,
        row and value named); the same quota twice.
    """
    p = Path(path)
    source = str(p)
    headers = _header_names()
    parts: list[pd.DataFrame] = []
    skipped_sheets: list[str] = []
    frames, notes = _frames(p, sheet)
    for sheet, raw in frames:
        layout = _layout(raw, sheet)
        if layout in ("owner", "segment"):
            wide, unphased = _wide_table(raw, sheet, layout)
            notes += [f"{source}: {u}" for u in unphased]
            parts.append(wide)
            continue
        cols: dict[str, str] = {}
        for c in raw.columns:
            field = headers.get(_norm(c))
            if field and field not in cols:
                cols[field] = c
        target_col = cols.get("quota", cols.get("target"))
        level_from_sheet = SHEET_LEVELS.get(_norm(sheet)) if sheet is not None else None
        needed = ["name", "period", "metric"]
        if target_col is None or any(f not in cols for f in needed) or (
            "level" not in cols and level_from_sheet is None
        ):
            if sheet is not None and len(frames) > 1:
                skipped_sheets.append(sheet)
                continue
            missing = [f for f in QUOTA_COLUMNS if f not in cols and not (
                f == "target" and target_col is not None)]
            raise DataError(
                f"{source}{'' if sheet is None else f', sheet {sheet!r}'}: a quota file needs "
                f"the columns {', '.join(QUOTA_COLUMNS)} (one row per quota), or the quota "
                f"sheet's (Rep, FY quota, a column per quarter); missing "
                f"{', '.join(missing)}. The file has: "
                f"{', '.join(repr(c) for c in list(raw.columns)[:20])}."
            )
        rows = raw.index.to_numpy() if raw.index.name == "row" else np.arange(len(raw)) + 2
        where = [f"row {r}" if sheet is None else f"sheet {sheet!r} row {r}" for r in rows]
        level = raw[cols["level"]] if "level" in cols else pd.Series(level_from_sheet,
                                                                     index=raw.index)
        parts.append(pd.DataFrame({
            "level": level.to_numpy(dtype=object),
            "name": raw[cols["name"]].to_numpy(dtype=object),
            "period": raw[cols["period"]].to_numpy(dtype=object),
            "metric": raw[cols["metric"]].to_numpy(dtype=object),
            "target": raw[target_col].to_numpy(dtype=object),
            "scenario": (raw[cols["scenario"]].to_numpy(dtype=object) if "scenario" in cols
                         else np.full(len(raw), None, dtype=object)),
            "where": where,
        }))
    if not parts:
        raise DataError(
            f"{source}: no sheet with quota columns (level or a Total/Segments/Owners sheet, "
            f"name, period, metric, target or quota); sheets: {', '.join(skipped_sheets)}."
        )
    table = pd.concat(parts, ignore_index=True)
    return _clean(table, source, notes)


def _clean(table: pd.DataFrame, source: str, notes: Sequence[str] = ()) -> Quotas:
    problems: list[str] = []
    warnings: list[str] = list(notes)

    def report(mask: np.ndarray, column: str, what: str, values: pd.Series) -> None:
        pos = np.flatnonzero(mask)
        if len(pos):
            shown = ", ".join(f"{table['where'].iloc[i]} ({values.iloc[i]!r})" for i in pos[:SHOW])
            more = f", ... and {len(pos) - SHOW} more" if len(pos) > SHOW else ""
            problems.append(f"column {column!r}: {what} in {len(pos)} rows: {shown}{more}")

    target = table["target"].map(parse_target)
    empty = target.isna().to_numpy() & table["target"].map(
        lambda v: v is None or (isinstance(v, float) and math.isnan(v)) or not str(v).strip()
    ).to_numpy()
    table = table.loc[~empty].reset_index(drop=True)
    target = target[~empty].reset_index(drop=True).astype(float)
    if empty.any():
        warnings.append(f"{source}: {int(empty.sum())} rows without a target are not scored.")
    if table.empty:
        raise DataError(f"{source}: no quota with a target to score.")

    level = table["level"].map(lambda v: _LEVEL_WORDS.get(_norm(v)) if v is not None else None)
    report(level.isna().to_numpy(), "level",
           f"unknown level (expected {', '.join(LEVELS)})", table["level"])
    metric = table["metric"].map(lambda v: _METRIC_WORDS.get(_norm(v)) if v is not None
                                 else None)
    report(metric.isna().to_numpy(), "metric",
           f"unknown metric (expected {', '.join(METRICS)})", table["metric"])
    period = table["period"].map(_period)
    report(period.isna().to_numpy(), "period", "not a period (FY or YYYY-Qn)", table["period"])
    report((~np.isfinite(target.to_numpy()) | (target < 0).to_numpy()), "target",
           "not a number ≥ 0", table["target"])
    name = table["name"].map(lambda v: None if v is None or (
        isinstance(v, float) and math.isnan(v)) else (str(int(v)) if isinstance(v, float)
                                                       and v.is_integer() else str(v).strip()))
    # targets.xlsx and the CSV outputs put an apostrophe before a name that looks like a
    # formula (targetsim.safe_text): read back, the name is the plan's again
    name = name.map(restore_formula)
    name = name.where(level.ne("total"), TOTAL)
    report((name.isna() | name.eq("")).to_numpy(), "name", "empty name", table["name"])
    scenario = table["scenario"].map(lambda v: None if v is None or (
        isinstance(v, float) and math.isnan(v)) or not str(v).strip() else str(v).strip())
    if problems:
        raise DataError(f"{source}: quotas cannot be read:\n  - " + "\n  - ".join(problems))
    clean = pd.DataFrame({
        "level": level, "name": name, "period": period, "metric": metric,
        "target": target, "scenario": scenario, "where": table["where"],
    })
    key = clean[["scenario", "level", "name", "period", "metric"]].astype(str)
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = ", ".join(clean["where"][dup].head(SHOW * 2))
        raise DataError(
            f"{source}: the same quota (level, name, period, metric"
            f"{', scenario' if clean['scenario'].notna().any() else ''}) appears twice: {rows}."
        )
    return Quotas(table=clean, source=source, warnings=tuple(warnings))


def _period(v: object) -> str | None:
    if v is None:
        return None
    text = str(v).strip().upper()
    if text in (FY, "FULL YEAR", "ANNÉE", "ANNEE"):  # the long sheet's words for the year
        return FY
    # Q1 2018, 2018-Q1; the French quota sheet writes T1 2018 (trimestre)
    m = re.fullmatch(r"(\d{4})\s*[-_ ]?\s*[QT]([1-4])", text) or re.fullmatch(
        r"[QT]([1-4])\s*[-_ ]?\s*(\d{4})", text)
    if not m:
        return None
    year, q = (m[1], m[2]) if len(m[1]) == 4 else (m[2], m[1])
    return f"{year}-Q{q}"


def check_quotas(
    quotas: Quotas,
    *,
    names: dict[str, Sequence[str]],
    periods: Sequence[str],
    scenarios: Sequence[str] | None = None,
) -> Quotas:
    """Check quotas against what a plan has: names per level, periods, scenarios.

    A name differing from the plan's only in case is matched to it.

    Raises
    ------
    DataError
        A name, period or scenario the plan does not have (file and rows named, with what
        the plan has).
    """
    t = quotas.table.copy()
    problems: list[str] = []
    for level in ("segment", "owner"):
        sel = t["level"].eq(level)
        if not sel.any():
            continue
        known = [str(n) for n in names.get(level, ())]
        if not known:
            problems.append(f"{level} quotas ({int(sel.sum())} rows), but the plan has no "
                            f"{level}s" + (" (the data had no owner column)"
                                           if level == "owner" else ""))
            continue
        lower: dict[str, list[str]] = {}
        for n in known:
            lower.setdefault(n.lower(), []).append(n)
        fixed = t.loc[sel, "name"].map(
            lambda n, lower=lower, known=set(known): n if n in known else (
                lower[n.lower()][0] if len(lower.get(n.lower(), [])) == 1 else None))
        bad = sel & fixed.reindex(t.index).isna()
        t.loc[sel, "name"] = fixed.where(fixed.notna(), t.loc[sel, "name"])
        if bad.any():
            shown = ", ".join(f"{w} ({n!r})" for w, n in
                              zip(t.loc[bad, "where"][:SHOW], t.loc[bad, "name"][:SHOW],
                                  strict=True))
            problems.append(
                f"{int(bad.sum())} {level} names are not in the plan: {shown}; the plan's "
                f"{level}s: {', '.join(repr(n) for n in known[:12])}"
                + (f" and {len(known) - 12} more" if len(known) > 12 else "")
            )
    bad_p = ~t["period"].isin(list(periods))
    if bad_p.any():
        shown = ", ".join(f"{w} ({p!r})" for w, p in
                          zip(t.loc[bad_p, "where"][:SHOW], t.loc[bad_p, "period"][:SHOW],
                              strict=True))
        problems.append(f"periods outside the plan's horizon: {shown}; the plan has "
                        f"{', '.join(periods)}")
    if scenarios is not None:
        bad_s = t["scenario"].notna() & ~t["scenario"].isin(list(scenarios))
        if bad_s.any():
            shown = ", ".join(f"{w} ({s!r})" for w, s in
                              zip(t.loc[bad_s, "where"][:SHOW], t.loc[bad_s, "scenario"][:SHOW],
                                  strict=True))
            problems.append(f"scenarios not in the plan: {shown}; the plan has "
                            f"{', '.join(scenarios)}")
    if problems:
        raise DataError(f"{quotas.source}: quotas do not match the plan:\n  - "
                        + "\n  - ".join(problems))
    return Quotas(table=t, source=quotas.source, warnings=quotas.warnings)


# ---------------------------------------------------------------- scoring


def verdict(probability: float, tiers: tuple[float, float, float], lang: str = "en") -> str:
    """The verdict word of a probability (see the module docstring)."""
    words = VERDICTS[lang]
    floor, target, stretch = tiers
    if probability >= floor:
        return words[0]
    if probability >= target:
        return words[1]
    if probability >= stretch:
        return words[2]
    return words[3]


def band_position(value: float, p10: float, p50: float, p90: float, lang: str = "en") -> str:
    """Where a number sits in the band of simulated outcomes, in words."""
    words = BAND_WORDS[lang]
    if value < p10:
        return words[0]
    if value < p50:
        return words[1]
    if value <= p90:
        return words[2]
    return words[3]


def _plan_number(targets: pd.DataFrame | None) -> str:
    """The plan's number handed out: its ``quota`` column when it has one, else ``target``."""
    return "quota" if targets is not None and "quota" in targets else "target"


def _plan_column(targets: pd.DataFrame | None, column: str) -> dict[tuple, float]:
    if targets is None or column not in targets:
        return {}
    key = ["scenario", "level", "name", "period", "metric"]
    return {tuple(map(str, k)): float(v) for k, v in
            zip(targets[key].itertuples(index=False), targets[column], strict=True)
            if pd.notna(v)}


def score_quotas(
    projection: xr.Dataset,
    quotas: Quotas,
    *,
    tiers: tuple[float, float, float] = DEFAULT_TIERS,
    targets: pd.DataFrame | None = None,
    company_target: float | None = None,
    lang: str = "en",
) -> QuotaScores:
    """Probability, band position and verdict of each quota, and how they add up.

    Parameters
    ----------
    projection : xarray.Dataset
        The plan's projection cube.
    quotas : Quotas
        From :func:`read_quotas` (checked with :func:`check_quotas`).
    tiers : (floor, target, stretch)
        Thresholds of the verdicts.
    targets : pandas.DataFrame, optional
        The plan's targets.csv: its number (``quota`` when the plan has a quota plan, else
        ``target``) and ``last_year_actual`` (when present) beside each quota, and the
        company number when the quotas have none.
    company_target : float, optional
        The board's FY bookings number (``--company-target``), the company number of the
        roll-up when the quota file has no total.
    lang : {"en", "fr"}
        Language of the verdicts and band words.

    Returns
    -------
    QuotaScores
    """
    if lang not in VERDICTS:
        raise ConfigError(f"--lang {lang!r}: choose one of {', '.join(VERDICTS)}.")
    tiers = parse_tiers(tiers)
    scenarios = [str(s) for s in projection["scenario"].values]
    reference = "baseline" if "baseline" in scenarios else scenarios[0]
    plan_target = _plan_column(targets, _plan_number(targets))
    last_year = _plan_column(targets, "last_year_actual")
    t = quotas.table
    rows = []
    samples: dict[tuple, np.ndarray] = {}
    cache: dict[tuple, object] = {}
    for q in t.itertuples(index=False):
        key = (q.level, q.metric, q.period)
        if key not in cache:
            cache[key] = outcome(projection, q.level, q.metric, q.period)
        out = cache[key]
        if out is None:
            raise DataError(f"{quotas.source}: {q.where}: the plan has no {q.level} outcomes.")
        for sc in [q.scenario] if q.scenario is not None else scenarios:
            x = out.samples(sc, q.name)
            samples[(sc, q.level, q.name, q.period, q.metric)] = x
            p = attainment_probability(x, q.target)
            p10, p50, p90 = np.quantile(x, [0.1, 0.5, 0.9])
            k = (sc, q.level, q.name, q.period, q.metric)
            pt = plan_target.get(k, np.nan)
            ly = last_year.get(k, np.nan)
            rows.append((
                sc, q.level, q.name, q.period, q.metric, q.target, p,
                _round(p10, q.metric), _round(p50, q.metric), _round(p90, q.metric),
                band_position(q.target, p10, p50, p90, lang), verdict(p, tiers, lang),
                pt, q.target / pt - 1 if pt and np.isfinite(pt) else np.nan,
                ly, q.target / ly - 1 if ly and np.isfinite(ly) else np.nan,
                ",".join(f"{v:g}" for v in tiers),
            ))
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    roll = rollup(projection, scores, samples, targets=targets, company_target=company_target)
    return QuotaScores(scores=scores, rollup=roll, tiers=tiers, reference=reference)


def _round(value: float, metric: str) -> float:
    # the band as targets.csv rounds it: whole currency units, a tenth of a deal
    return round(float(value), 1) if metric == "deals_won" else float(round(float(value)))


def rollup(
    projection: xr.Dataset,
    scores: pd.DataFrame,
    samples: dict[tuple, np.ndarray],
    *,
    targets: pd.DataFrame | None = None,
    company_target: float | None = None,
) -> pd.DataFrame:
    """Top-down meets participative: the proposals of a level against the company number.

    Per scenario, level (segment, owner), period and metric with quotas: their number and
    sum, how many the plan has at that level, the expected number met (sum of
    probabilities), the probability that all are met in the same year, that the proposed
    names together reach the sum of their quotas, and the company number with its source
    (a total quota of the file, else ``--company-target`` for FY bookings, else the plan's
    total target), the gap of the sum to it, and the probability of the company number.
    """
    plan_total = _plan_column(targets, _plan_number(targets))
    rows = []
    for (sc, level, period, metric), g in scores.groupby(
        ["scenario", "level", "period", "metric"], sort=False
    ):
        if level == "total":
            continue
        x = np.stack([samples[(sc, level, n, period, metric)] for n in g["name"]], axis=1)
        q = g["target"].to_numpy(dtype=float)
        total = outcome(projection, "total", metric, period).samples(sc, TOTAL)
        own = scores.loc[scores["scenario"].eq(sc) & scores["level"].eq("total")
                         & scores["period"].eq(period) & scores["metric"].eq(metric)]
        if len(own):
            number, src = float(own["target"].iloc[0]), "quota file (total)"
        elif company_target is not None and period == FY and metric == "bookings":
            number, src = float(company_target), "--company-target"
        elif (sc, "total", TOTAL, period, metric) in plan_total:
            number, src = plan_total[(sc, "total", TOTAL, period, metric)], "plan target"
        else:
            number, src = np.nan, ""
        dim = "owner" if level == "owner" else "segment"
        rows.append((
            sc, level, period, metric, len(g), int(projection.sizes.get(dim, 0)),
            float(q.sum()), float(g["attainment_probability"].sum()),
            float(np.mean(np.all(x >= q, axis=1))),
            attainment_probability(x.sum(axis=1), float(q.sum())),
            number, src, float(q.sum()) - number if np.isfinite(number) else np.nan,
            attainment_probability(total, number) if np.isfinite(number) else np.nan,
        ))
    return pd.DataFrame(rows, columns=ROLLUP_COLUMNS)


# ---------------------------------------------------------------- the plan directory


def load_projection_for_scoring(path: str | Path) -> xr.Dataset:
    """``projection.nc`` read with xarray alone.

    :func:`targetsim.simulate.load_projection` is the loader of record, but importing the
    simulate package loads the sampler (PyMC) today; scoring must stay a quick read.

    Raises
    ------
    DataError
        Missing or unreadable file.
    ModelMismatchError
        Not a targetsim projection.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no projection here; run `targetsim plan` (or simulate) first.")
    try:
        ds = xr.load_dataset(p, engine="h5netcdf")
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: not a readable netCDF projection ({exc})") from None
    missing = [v for v in ("bookings", "deals_won") if v not in ds]
    missing += [c for c in ("scenario", "month", "segment") if c not in ds.coords]
    if missing:
        raise ModelMismatchError(f"{p}: not a targetsim projection (missing "
                                 f"{', '.join(missing)})")
    return ds


def plan_names(projection: xr.Dataset) -> dict[str, list[str]]:
    """Names per level of a projection (owners empty when it has none)."""
    owners = [str(o) for o in projection["owner"].values] if (
        "owner" in projection.coords and "owner_bookings" in projection) else []
    return {"total": [TOTAL], "segment": [str(s) for s in projection["segment"].values],
            "owner": owners}


def score_plan(
    plan_dir: str | Path,
    quotas_path: str | Path,
    *,
    tiers: tuple[float, float, float] | None = None,
    company_target: float | None = None,
    lang: str | None = None,
    sheet: str | None = None,
) -> tuple[QuotaScores, Quotas, dict]:
    """Read a plan directory and a quota file, check and score the quotas.

    ``tiers``, ``company_target`` and ``lang`` default to the plan's own (plan.json);
    ``sheet`` is the workbook's sheet to read (:func:`read_quotas`).

    Returns
    -------
    (scores, quotas as read, plan.json's content or {})
    """
    d = Path(plan_dir)
    if not d.is_dir():
        raise DataError(f"{d}: not a directory; give the --out of `targetsim plan`.")
    projection = load_projection_for_scoring(d / "projection.nc")
    meta: dict = {}
    if (d / "plan.json").is_file():
        try:
            meta = json.loads((d / "plan.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{d / 'plan.json'}: not readable JSON ({exc})") from None
    targets = None
    if (d / "targets.csv").is_file():
        from targetsim.io import read_csv_output

        targets = read_csv_output(d / "targets.csv", dtype={"name": str, "scenario": str},
                                  keep_default_na=False, na_values=[""])
    if tiers is None:
        tiers = tuple(meta["tiers"]) if meta.get("tiers") else DEFAULT_TIERS
    if company_target is None and meta.get("company_target"):
        company_target = float(meta["company_target"])
    lang = lang or str(meta.get("lang") or "en")
    quotas = read_quotas(quotas_path, sheet=sheet)
    quotas = check_quotas(quotas, names=plan_names(projection),
                          periods=list(period_months(projection)),
                          scenarios=[str(s) for s in projection["scenario"].values])
    result = score_quotas(projection, quotas, tiers=tiers, targets=targets,
                          company_target=company_target, lang=lang)
    return result, quotas, meta


def write_scores(result: QuotaScores, out_dir: str | Path) -> list[Path]:
    """Write quota_scores.csv and quota_rollup.csv (atomically, text from data neutralised)."""
    from targetsim.io import write_csv_atomic

    out = Path(out_dir)
    return [write_csv_atomic(df, out / name, float_format="%.10g")
            for df, name in ((result.scores, SCORES_FILE), (result.rollup, ROLLUP_FILE))]


#: The roll-up in words, per language (see :func:`summary_lines`).
ROLLUP_TEXT = {
    "en": {
        "head": "{level}s, {period} {metric} ({scenario}): {n} quotas of {of} add up to {sum}",
        "vs": ", {rel} {side} the company number {number} ({source}, reached with probability "
              "{p})",
        "above": "above", "below": "below",
        "tail": "; expected {met} of {n} met, all of them with probability {all}; together "
                "they reach their sum with probability {together}.",
        "levels": {"segment": "segment", "owner": "owner"},
        "metrics": {"bookings": "bookings", "deals_won": "deals won"},
        "sources": {},
    },
    "fr": {
        "head": "{level}, {period} {metric} ({scenario}) : {n} objectifs sur {of} totalisent "
                "{sum}",
        "vs": ", {rel} {side} du chiffre de l'entreprise {number} ({source}, atteint avec une "
              "probabilité de {p})",
        "above": "au-dessus", "below": "en dessous",
        "tail": " ; {met} sur {n} atteints en moyenne, tous à la fois avec une probabilité de "
                "{all} ; ensemble ils atteignent leur somme avec une probabilité de "
                "{together}.",
        "levels": {"segment": "segments", "owner": "commerciaux"},
        "metrics": {"bookings": "prises de commandes", "deals_won": "affaires gagnées"},
        "sources": {"quota file (total)": "ligne total du fichier",
                    "plan target": "objectif du plan"},
    },
}


def summary_lines(result: QuotaScores, currency: str = "$", lang: str = "en") -> list[str]:
    """Plain sentences on the roll-up of the reference scenario (console and report)."""
    from targetsim.calibrate.objectives import format_money, format_percent

    words = ROLLUP_TEXT.get(lang, ROLLUP_TEXT["en"])
    lines = []
    roll = result.rollup.loc[result.rollup["scenario"].eq(result.reference)]
    for r in roll.itertuples(index=False):
        def value(v: float, metric: str = r.metric) -> str:
            if metric == "bookings":
                return format_money(v, lang, currency)
            return f"{v:,.0f}".replace(",", "\u202f" if lang == "fr" else ",")

        text = words["head"].format(
            level=words["levels"].get(r.level, r.level), period=r.period,
            metric=words["metrics"].get(r.metric, r.metric), scenario=r.scenario, n=r.quotas,
            of=r.names_in_plan, sum=value(r.sum_of_quotas))
        if np.isfinite(r.company_number) and r.company_number:
            rel = r.sum_of_quotas / r.company_number - 1
            text += words["vs"].format(
                rel=format_percent(abs(rel), lang), side=words["above" if rel >= 0 else "below"],
                number=value(r.company_number),
                source=words["sources"].get(r.company_number_source, r.company_number_source),
                p=format_percent(r.p_company_number, lang))
        met = f"{r.expected_quotas_met:.1f}"
        text += words["tail"].format(
            met=met.replace(".", ",") if lang == "fr" else met, n=r.quotas,
            all=format_percent(r.p_all_met, lang), together=format_percent(r.p_sum_reached, lang))
        lines.append(text)
    return lines
