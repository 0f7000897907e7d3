"""The scored quotas in the report and the quota sheet (``plan --quotas`` or ``score``).

A self-contained part of the report step: it reads ``quota_scores.csv`` and
``quota_rollup.csv`` from the plan directory (:mod:`targetsim.calibrate.score` writes them)
and gives

* :func:`quota_section`: the context of the ``quotas.html.j2`` block of report.html (one row
  per proposed quota with its probability under each scenario, its band position and
  verdict under the reference scenario, and the roll-up against the company number);
* :func:`add_quota_sheet`: the ``Quotas`` sheet of targets.xlsx.

Without those files both do nothing, so the report is unchanged for a plan without quotas.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from targetsim.io import read_csv_output

#: Words of the section, in the report's languages.
TEXT = {
    "en": {
        "title": "Proposed quotas",
        "help": "Quotas brought by the teams (or already in place), each with its probability of "
        "being reached under every scenario, where it sits in the simulated band (p10 to p90, "
        "its halves meet at the median) and a verdict under {scenario}: at least {floor} too "
        "easy, at least {target} achievable, at least {stretch} stretching, below that "
        "unlikely.",
        "name": "Name", "period": "Period", "metric": "Metric", "quota": "Quota",
        "band": "Position in the band", "verdict": "Verdict", "plan": "Plan target",
        "vs_plan": "vs plan",
    },
    "fr": {
        "title": "Objectifs proposés",
        "help": "Objectifs proposés par les équipes (ou déjà en place), chacun avec sa "
        "probabilité d'être atteint dans chaque scénario, sa place dans la fourchette simulée "
        "(de p10 à p90, ses deux moitiés se rejoignent à la médiane) et un verdict sous "
        "{scenario} : au moins {floor} trop bas, au moins {target} "
        "atteignable, au moins {stretch} ambitieux, en dessous trop haut.",
        "name": "Nom", "period": "Période", "metric": "Indicateur", "quota": "Objectif",
        "band": "Place dans la fourchette", "verdict": "Verdict", "plan": "Objectif du plan",
        "vs_plan": "écart au plan",
    },
}


def load_quota_scores(out_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """``(quota_scores.csv, quota_rollup.csv)`` of a plan directory, or None."""
    from targetsim.calibrate.score import ROLLUP_FILE, SCORES_FILE

    d = Path(out_dir)
    if not (d / SCORES_FILE).is_file():
        return None
    # read_csv_output: names exactly as they were before CSV formula neutralisation
    scores = read_csv_output(d / SCORES_FILE, dtype={"name": str, "scenario": str},
                             keep_default_na=False, na_values=[""])
    roll = (read_csv_output(d / ROLLUP_FILE, dtype={"scenario": str}, keep_default_na=False,
                            na_values=[""]) if (d / ROLLUP_FILE).is_file() else None)
    return scores, roll


def quota_section(
    out_dir: str | Path, lang: str = "en", currency: str = "$"
) -> dict[str, Any] | None:
    """Context of the report's quota block (None when the plan has no scored quotas)."""
    from targetsim.calibrate.objectives import format_money, format_percent
    from targetsim.calibrate.score import DEFAULT_TIERS, QuotaScores, summary_lines

    loaded = load_quota_scores(out_dir)
    if loaded is None:
        return None
    scores, roll = loaded
    words = TEXT.get(lang, TEXT["en"])
    scenarios = list(dict.fromkeys(scores["scenario"]))
    ref = "baseline" if "baseline" in scenarios else scenarios[0]
    # the thresholds the verdicts were given with (score --tiers may differ from the plan's)
    tiers = DEFAULT_TIERS
    if "tiers" in scores and scores["tiers"].notna().any():
        tiers = tuple(float(v) for v in str(scores["tiers"].dropna().iloc[0]).split(","))
    floor, target, stretch = tiers

    def value(v: float, metric: str) -> str:
        if not math.isfinite(v):
            return "–"
        return format_money(v, lang, currency) if metric == "bookings" else f"{v:,.0f}"

    key = ["level", "name", "period", "metric"]
    rows = []
    for _, g in scores.groupby(key, sort=False):
        first = g.iloc[0]
        at_ref = g.loc[g["scenario"].eq(ref)]
        main = at_ref.iloc[0] if len(at_ref) else first
        probs = {r.scenario: format_percent(r.attainment_probability, lang)
                 for r in g.itertuples(index=False)}
        vs = main["vs_plan_target"]
        rows.append({
            "name": str(first["name"]), "period": str(first["period"]),
            "metric": str(first["metric"]).replace("_", " "),
            "quota": value(float(first["target"]), first["metric"]),
            "probabilities": [probs.get(s, "–") for s in scenarios],
            "band": f"{main['band_position']} {value(main['p10'], main['metric'])}–"
                    f"{value(main['p90'], main['metric'])}",
            "verdict": str(main["verdict"]),
            "plan": value(float(main["plan_target"]), main["metric"]),
            "vs_plan": f"{vs:+.0%}" if isinstance(vs, float) and math.isfinite(vs) else "–",
        })
    summary = []
    if roll is not None and not roll.empty:
        summary = summary_lines(
            QuotaScores(scores=scores, rollup=roll, tiers=(floor, target, stretch),
                        reference=ref),
            currency, lang,
        )
    return {
        "words": words,
        "help": words["help"].format(
            scenario=ref, floor=format_percent(floor, lang), target=format_percent(target, lang),
            stretch=format_percent(stretch, lang)),
        "scenarios": scenarios,
        "rows": rows,
        "summary": summary,
    }


#: Columns of the Quotas sheet, with their number formats.
SHEET_FIELDS = (
    ("scenario", None), ("level", None), ("name", None), ("period", None), ("metric", None),
    ("target", "amount"), ("attainment_probability", "0%"), ("p10", "amount"),
    ("p50", "amount"), ("p90", "amount"), ("band_position", None), ("verdict", None),
    ("plan_target", "amount"), ("vs_plan_target", "+0%;-0%;0%"),
)


def add_quota_sheet(wb: Any, scores: pd.DataFrame | None) -> None:
    """Add a ``Quotas`` sheet to an openpyxl workbook (nothing when ``scores`` is None).

    Text from data is written as text, never as a formula
    (:func:`targetsim.safe_text.xlsx_text_cell`); numbers stay numbers.
    """
    if scores is None or scores.empty:
        return
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    from targetsim.calibrate.score import QUOTA_SHEET
    from targetsim.safe_text import xlsx_text_cell

    ws = wb.create_sheet(QUOTA_SHEET)
    for col, (field, _) in enumerate(SHEET_FIELDS, start=1):
        header = "quota" if field == "target" else field
        ws.cell(row=1, column=col, value=header).font = Font(bold=True)
    for i, rec in enumerate(scores.to_dict("records"), start=2):
        for col, (field, fmt) in enumerate(SHEET_FIELDS, start=1):
            v = rec.get(field)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            cell = ws.cell(row=i, column=col)
            xlsx_text_cell(cell, v.item() if hasattr(v, "item") else v)
            if fmt == "amount":
                cell.number_format = "#,##0.0" if rec.get("metric") == "deals_won" else "#,##0"
            elif fmt:
                cell.number_format = fmt
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    for col, (field, _) in enumerate(SHEET_FIELDS, start=1):
        width = max([len(field)] + [len(str(v)) for v in scores[field].head(200)]) + 2
        ws.column_dimensions[get_column_letter(col)].width = min(max(width, 9), 40)
