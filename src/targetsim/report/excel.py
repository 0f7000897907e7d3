"""targets.xlsx: the quota sheet a sales leader hands out, and the long tables for analysts.

Sheets, in order: **Quotas** (one row per rep: segment, manager, region, last 12 months'
bookings, the FY quota and its four quarters with each quarter's probability, growth,
probability and band, whole deal counts; a total row that adds up), **Assumptions** (what
the numbers rest on, in words), roll-ups by **manager** and **region** (their quota is the
sum of their reps', and its probability is that of the team's simulated total), the
**segments** and the **company**, then the long tables (every row of targets.csv, the
leading indicators). Headers and sheet names follow ``lang``.

Values are numbers with Excel number formats (currency, whole deals, percentages), so the
sheet sorts, sums and filters. Every text cell from data goes through
:func:`targetsim.safe_text.xlsx_text_cell`: a name that looks like a formula stays text.
Print setup: landscape, fit to one page wide, header row repeated, frozen panes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from babel.numbers import get_currency_name, get_currency_symbol
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from targetsim import formatting as F
from targetsim.calibrate.objectives import quota_of
from targetsim.io import atomic_path
from targetsim.report.inputs import PlanInputs
from targetsim.report.quotas import add_quota_sheet, load_quota_scores
from targetsim.safe_text import xlsx_text_cell

HEADER_FILL = PatternFill("solid", fgColor="DDE3EA")
TOTAL_FILL = PatternFill("solid", fgColor="F4F6F8")
FMT_COUNT = "#,##0"
FMT_PROB = "0%"
FMT_GROWTH = "+0%;-0%;0%"
FMT_RATIO = '0.00"×"'

XLSX_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "quotas": "Quotas", "assumptions": "Assumptions", "managers": "Managers",
        "regions": "Regions", "segments": "Segments", "company": "Company",
        "all": "All targets", "indicators": "Indicators",
        "rep": "Rep", "segment": "Segment", "manager": "Manager", "region": "Region",
        "reps": "Reps", "ly": "Last 12 months", "ly_deals": "Deals won, last 12 months",
        "fy": "FY quota", "growth": "Growth", "prob": "Probability", "p10": "Band low (p10)",
        "p90": "Band high (p90)", "deals": "Deals won quota", "total": "Total",
        "metric": "Metric", "bookings": "Bookings", "deals_won": "Deals won",
        "unassigned": "unassigned", "item": "Item", "value": "Value",
        "scenario": "Scenario", "level": "Level", "name": "Name", "period": "Period",
        "target_at_p": "Target at p", "p_target": "P(target)", "p50": "Median",
        "quota": "Quota", "p_quota": "P(quota)", "run_rate": "Run-rate (6 months × 2)",
        "flag": "Against last year", "driver": "Fitted quantity behind it",
        "q_prob": "P({q})",
        "a_fy": "Fiscal year", "a_asof": "Data as of", "a_currency": "Currency",
        "a_scenario": "Proposed scenario", "a_assumptions": "Its assumptions",
        "a_p": "Probability of the company number", "a_company": "Company number",
        "a_over": "Rep quotas ÷ company number (--over-assignment)",
        "a_sum": "Sum of rep quotas", "a_q": "Probability each rep reaches their quota",
        "a_pc": "Probability the company number is reached",
        "a_psum": "Probability the sum of rep quotas is reached",
        "a_phasing": "Quarters", "a_phasing_v": "phased by the simulated seasonal profile; "
        "they add up to the year, each with its own probability",
        "a_split": "Segments and reps", "a_split_v": "split the company number at equal "
        "probability (each part's quota is reached with the same probability)",
        "a_model": "Model", "a_model_v": "converged: {conv} (R-hat {rhat}, {div} divergences)",
        "a_draws": "Simulated years (posterior draws)", "a_seed": "Seed",
        "a_teams": "Teams file", "a_version": "Produced by", "yes": "yes", "no": "NO",
        "below_last_year": "below", "above_last_year": "above 1.5×",
    },
    "fr": {
        "quotas": "Quotas", "assumptions": "Hypothèses", "managers": "Managers",
        "regions": "Régions", "segments": "Segments", "company": "Entreprise",
        "all": "Tous les objectifs", "indicators": "Indicateurs",
        "rep": "Commercial", "segment": "Segment", "manager": "Manager", "region": "Région",
        "reps": "Commerciaux", "ly": "12 derniers mois",
        "ly_deals": "Affaires gagnées, 12 derniers mois", "fy": "Quota annuel",
        "growth": "Croissance", "prob": "Probabilité", "p10": "Fourchette basse (p10)",
        "p90": "Fourchette haute (p90)", "deals": "Quota d'affaires gagnées", "total": "Total",
        "metric": "Indicateur", "bookings": "CA signé", "deals_won": "Affaires gagnées",
        "unassigned": "non rattaché", "item": "Élément", "value": "Valeur",
        "scenario": "Scénario", "level": "Niveau", "name": "Nom", "period": "Période",
        "target_at_p": "Objectif à p", "p_target": "P(objectif)", "p50": "Médiane",
        "quota": "Quota", "p_quota": "P(quota)", "run_rate": "Rythme (6 mois × 2)",
        "flag": "Par rapport à l'an dernier", "driver": "Grandeur ajustée en cause",
        "q_prob": "P({q})",
        "a_fy": "Exercice", "a_asof": "Données au", "a_currency": "Devise",
        "a_scenario": "Scénario proposé", "a_assumptions": "Ses hypothèses",
        "a_p": "Probabilité de l'objectif de l'entreprise",
        "a_company": "Objectif de l'entreprise",
        "a_over": "Quotas des commerciaux ÷ objectif de l'entreprise (--over-assignment)",
        "a_sum": "Somme des quotas des commerciaux",
        "a_q": "Probabilité pour chaque commercial d'atteindre son quota",
        "a_pc": "Probabilité d'atteindre l'objectif de l'entreprise",
        "a_psum": "Probabilité d'atteindre la somme des quotas",
        "a_phasing": "Trimestres", "a_phasing_v": "répartis selon la saisonnalité simulée ; "
        "ils s'additionnent jusqu'à l'année, chacun avec sa propre probabilité",
        "a_split": "Segments et commerciaux", "a_split_v": "répartissent l'objectif de "
        "l'entreprise à probabilité égale (chaque quota est atteint avec la même probabilité)",
        "a_model": "Modèle", "a_model_v": "convergé : {conv} (R-hat {rhat}, {div} "
        "divergences)",
        "a_draws": "Années simulées (tirages a posteriori)", "a_seed": "Graine",
        "a_teams": "Fichier des équipes", "a_version": "Produit par", "yes": "oui",
        "no": "NON", "below_last_year": "en dessous", "above_last_year": "au-dessus de 1,5×",
    },
}


def money_format(currency: str, lang: str) -> str:
    """Excel number format of whole amounts in ``currency`` (symbol placed as ``lang`` does)."""
    sym = get_currency_symbol(currency, locale=F.LOCALES[lang]).replace('"', "")
    return f'"{sym}"#,##0' if lang == "en" else f'#,##0\\ "{sym}"'


def _header(ws: Worksheet, headers: list[str]) -> None:
    for col, h in enumerate(headers, start=1):
        cell = ws.cell(row=1, column=col)
        xlsx_text_cell(cell, h)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _put(ws: Worksheet, row: int, col: int, value: Any, fmt: str | None = None) -> None:
    cell = ws.cell(row=row, column=col)
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        value = None
    elif isinstance(value, np.generic):
        value = value.item()
    xlsx_text_cell(cell, value)
    if fmt and not isinstance(value, str):
        cell.number_format = fmt


def _finish(ws: Worksheet, widths: list[int], *, print_setup: bool = True) -> None:
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = ws.dimensions
    for col, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = w
    ws.row_dimensions[1].height = 30
    if print_setup:
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_title_rows = "1:1"


def _sel(t: pd.DataFrame, scenario: str, level: str, metric: str) -> pd.DataFrame:
    return t[(t.scenario == scenario) & (t.level == level) & (t.metric == metric)]


def _plan_rows(plan: PlanInputs, level: str) -> list[dict[str, Any]]:
    """Per name of a level: FY and quarter quotas and probabilities, band, last year."""
    t = plan.targets
    sc = plan.primary_scenario
    book = _sel(t, sc, level, "bookings")
    deals = _sel(t, sc, level, "deals_won")
    quarters = [p for p in dict.fromkeys(t["period"]) if p != "FY"]
    out = []
    for name in dict.fromkeys(book["name"]):
        mine = book[book.name == name].set_index("period")
        if "FY" not in mine.index:
            continue
        fy = mine.loc["FY"]
        d = deals[(deals.name == name) & (deals.period == "FY")]
        v, p = quota_of(fy)
        out.append({
            "name": str(name), "fy": v, "prob": p, "p10": fy["p10"], "p90": fy["p90"],
            "ly": fy.get("last_year_actual", float("nan")),
            "growth": fy.get("implied_growth", float("nan")),
            "deals": quota_of(d.iloc[0])[0] if not d.empty else float("nan"),
            "ly_deals": d.iloc[0].get("last_year_actual", float("nan")) if not d.empty
            else float("nan"),
            "quarters": [quota_of(mine.loc[q]) if q in mine.index else (float("nan"),) * 2
                         for q in quarters],
        })
    return out


def _main_segment(plan: PlanInputs) -> dict[str, str]:
    """Each rep's segments by last 12 months' bookings (the main one first)."""
    act = plan.optional.get("actuals")
    if act is None:
        return {}
    months = sorted(set(act["month"]))[-12:]
    y = act[act["month"].isin(months) & act["owner"].ne("")]
    out = {}
    for owner, grp in y.groupby("owner"):
        by = grp.groupby("segment")["bookings"].sum().sort_values(ascending=False)
        by = by[by > 0]
        out[str(owner)] = ", ".join(map(str, by.index[:2])) + (" …" if len(by) > 2 else "")
    return out


def _quotas_sheet(ws: Worksheet, plan: PlanInputs, lab: dict[str, str], money: str,
                  lang: str) -> None:
    quarters = [F.quarter(p, lang) for p in dict.fromkeys(plan.targets["period"]) if p != "FY"]
    headers = [lab["rep"], lab["segment"], lab["manager"], lab["region"], lab["ly"],
               lab["fy"]]
    for q in quarters:
        headers += [q, lab["q_prob"].format(q=q)]
    headers += [lab["growth"], lab["prob"], lab["p10"], lab["p90"], lab["deals"],
                lab["ly_deals"]]
    _header(ws, headers)
    teams = plan.optional.get("teams")
    team = ({str(o): (str(m), str(g)) for o, m, g in
             teams[["owner", "manager", "region"]].itertuples(index=False)}
            if teams is not None else {})
    segs = _main_segment(plan)
    rows = _plan_rows(plan, "owner")
    rows.sort(key=lambda r: (team.get(r["name"], ("~", "~")), r["name"]))
    n = len(quarters)
    for i, r in enumerate(rows, start=2):
        manager, region = team.get(r["name"], (lab["unassigned"], lab["unassigned"])) \
            if team else ("", "")
        values: list[tuple[Any, str | None]] = [
            (r["name"], None), (segs.get(r["name"], ""), None), (manager, None),
            (region, None), (r["ly"], money), (r["fy"], money)]
        for qv, qp in r["quarters"]:
            values += [(qv, money), (qp, FMT_PROB)]
        values += [(r["growth"], FMT_GROWTH), (r["prob"], FMT_PROB), (r["p10"], money),
                   (r["p90"], money), (r["deals"], FMT_COUNT), (r["ly_deals"], FMT_COUNT)]
        for col, (v, fm) in enumerate(values, start=1):
            _put(ws, i, col, v, fm)
    if rows:
        last = len(rows) + 1
        total = last + 1
        _put(ws, total, 1, lab["total"])
        sum_cols = [5, 6] + [7 + 2 * k for k in range(n)] + [7 + 2 * n + 4, 7 + 2 * n + 5]
        for col in sum_cols:
            letter = get_column_letter(col)
            cell = ws.cell(row=total, column=col, value=f"=SUM({letter}2:{letter}{last})")
            cell.number_format = FMT_COUNT if col >= 7 + 2 * n + 4 else money
        growth_col = get_column_letter(7 + 2 * n)
        ws.cell(row=total, column=7 + 2 * n,
                value=f"=IF(E{total}>0,F{total}/E{total}-1,\"\")").number_format = FMT_GROWTH
        _ = growth_col
        for col in range(1, len(headers) + 1):
            ws.cell(row=total, column=col).font = Font(bold=True)
            ws.cell(row=total, column=col).fill = TOTAL_FILL
    _finish(ws, [22, 20, 18, 10, 14, 14] + [12, 8] * n + [9, 11, 14, 14, 11, 11])


def _team_probability(plan: PlanInputs, owners: list[str], quota: float) -> float:
    """P(the team's simulated FY bookings >= the sum of its quotas) in the proposed scenario."""
    ds = plan.projection
    if "owner_bookings" not in ds or "owner" not in ds.dims:
        return float("nan")
    names = [str(o) for o in ds["owner"].values]
    idx = [names.index(o) for o in owners if o in names]
    if not idx:
        return float("nan")
    da = ds["owner_bookings"].sel(scenario=plan.primary_scenario).isel(owner=idx)
    extra = [d for d in da.dims if d != "draw"]
    total = np.asarray(da.sum(extra).values, dtype=float)
    return float(np.mean(total >= quota - 1e-9))


def _rollup_sheet(ws: Worksheet, plan: PlanInputs, lab: dict[str, str], money: str,
                  lang: str, key: str) -> None:
    teams = plan.optional.get("teams")
    quarters = [F.quarter(p, lang) for p in dict.fromkeys(plan.targets["period"]) if p != "FY"]
    headers = [lab[key], lab["reps"], lab["ly"], lab["fy"], *quarters, lab["growth"],
               lab["prob"]]
    _header(ws, headers)
    rows = {r["name"]: r for r in _plan_rows(plan, "owner")}
    groups: dict[str, list[str]] = {}
    for o, g in teams[["owner", key]].itertuples(index=False):
        if str(o) in rows:
            groups.setdefault(str(g) or lab["unassigned"], []).append(str(o))
    missing = [o for o in rows if o not in set(teams["owner"].astype(str))]
    if missing:
        groups.setdefault(lab["unassigned"], []).extend(missing)
    for i, (g, owners) in enumerate(sorted(groups.items()), start=2):
        fy = sum(rows[o]["fy"] for o in owners)
        ly = sum(float(rows[o]["ly"]) for o in owners if math.isfinite(float(rows[o]["ly"])))
        qs = [sum(rows[o]["quarters"][k][0] for o in owners) for k in range(len(quarters))]
        values = [(g, None), (len(owners), FMT_COUNT), (ly, money), (fy, money),
                  *[(q, money) for q in qs],
                  (fy / ly - 1 if ly > 0 else float("nan"), FMT_GROWTH),
                  (_team_probability(plan, owners, fy), FMT_PROB)]
        for col, (v, fm) in enumerate(values, start=1):
            _put(ws, i, col, v, fm)
    _finish(ws, [24, 8, 14, 14] + [12] * len(quarters) + [9, 11])


def _level_sheet(ws: Worksheet, plan: PlanInputs, lab: dict[str, str], money: str,
                 lang: str, level: str) -> None:
    quarters = [F.quarter(p, lang) for p in dict.fromkeys(plan.targets["period"]) if p != "FY"]
    headers = [lab["segment"] if level == "segment" else lab["metric"], lab["ly"], lab["fy"]]
    for q in quarters:
        headers += [q, lab["q_prob"].format(q=q)]
    headers += [lab["growth"], lab["prob"], lab["p10"], lab["p90"]]
    _header(ws, headers)
    metrics = ("bookings",) if level == "segment" else ("bookings", "deals_won")
    i = 2
    for metric in metrics:
        fmt_v = money if metric == "bookings" else FMT_COUNT
        for r in (_plan_rows(plan, level) if metric == "bookings" else
                  _deal_rows(plan, level)):
            name = r["name"] if level == "segment" else lab[metric]
            values: list[tuple[Any, str | None]] = [(name, None), (r["ly"], fmt_v),
                                                     (r["fy"], fmt_v)]
            for qv, qp in r["quarters"]:
                values += [(qv, fmt_v), (qp, FMT_PROB)]
            values += [(r["growth"], FMT_GROWTH), (r["prob"], FMT_PROB), (r["p10"], fmt_v),
                       (r["p90"], fmt_v)]
            for col, (v, fm) in enumerate(values, start=1):
                _put(ws, i, col, v, fm)
            i += 1
    _finish(ws, [22, 14, 14] + [12, 8] * len(quarters) + [9, 11, 14, 14])


def _deal_rows(plan: PlanInputs, level: str) -> list[dict[str, Any]]:
    t = plan.targets
    sel = t[(t.scenario == plan.primary_scenario) & (t.level == level)
            & (t.metric == "deals_won")]
    quarters = [p for p in dict.fromkeys(t["period"]) if p != "FY"]
    out = []
    for name in dict.fromkeys(sel["name"]):
        mine = sel[sel.name == name].set_index("period")
        fy = mine.loc["FY"]
        v, p = quota_of(fy)
        out.append({"name": str(name), "fy": v, "prob": p, "p10": fy["p10"], "p90": fy["p90"],
                    "ly": fy.get("last_year_actual", float("nan")),
                    "growth": fy.get("implied_growth", float("nan")),
                    "quarters": [quota_of(mine.loc[q]) if q in mine.index else (float("nan"),) * 2
                                 for q in quarters]})
    return out


def _assumptions_sheet(ws: Worksheet, plan: PlanInputs, lab: dict[str, str], money: str,
                       lang: str) -> None:
    _header(ws, [lab["item"], lab["value"]])
    meta = plan.plan
    months = pd.DatetimeIndex(plan.projection["month"].values)
    saved = {}
    import json

    raw = plan.projection.attrs.get("scenarios_json")
    if raw:
        try:
            saved = {d.get("name"): d for d in json.loads(raw)}
        except (ValueError, TypeError, AttributeError):
            saved = {}
    sc = plan.primary_scenario
    total = _sel(plan.targets, sc, "total", "bookings")
    total = total[total.period == "FY"]
    rows: list[tuple[str, Any, str | None]] = [
        (lab["a_fy"], F.fiscal_year(months[0], len(months), lang), None),
        (lab["a_asof"], F.long_date(meta["as_of"], lang) if meta.get("as_of") else "–", None),
        (lab["a_currency"], get_currency_name(plan.currency, count=2, locale=F.LOCALES[lang]),
         None),
        (lab["a_scenario"], F.scenario_label(sc, lang), None),
        (lab["a_assumptions"], F.scenario_assumptions(saved.get(sc, {}), lang), None),
        (lab["a_p"], plan.probability, FMT_PROB),
    ]
    if not total.empty:
        rows.append((lab["a_company"], quota_of(total.iloc[0])[0], money))
    for a in meta.get("allocation", []) or []:
        if a.get("scenario") == sc and a.get("level") == "owner" and "sum_of_quotas" in a:
            rows += [(lab["a_over"], a.get("over_assignment", 1.0), FMT_PROB),
                     (lab["a_sum"], a["sum_of_quotas"], money),
                     (lab["a_q"], a["common_probability"], FMT_PROB),
                     (lab["a_pc"], a["p_company_number"], FMT_PROB),
                     (lab["a_psum"], a["p_sum_of_quotas"], FMT_PROB)]
    diag = plan.diagnostics
    rhat = diag.get("rhat_max")
    rows += [
        (lab["a_split"], lab["a_split_v"], None),
        (lab["a_phasing"], lab["a_phasing_v"], None),
        (lab["a_model"], lab["a_model_v"].format(
            conv=lab["yes"] if diag.get("converged") else lab["no"],
            rhat=F.number(rhat, lang, 3) if isinstance(rhat, int | float) else "–",
            div=diag.get("divergences", "–")), None),
        (lab["a_draws"], int(plan.projection.sizes.get("draw", 0)), FMT_COUNT),
        (lab["a_seed"], meta.get("seed", "–"), None),
    ]
    if meta.get("teams"):
        rows.append((lab["a_teams"], str(meta["teams"]), None))
    rows.append((lab["a_version"], f"targetsim {meta.get('targetsim_version', '')}".strip(),
                 None))
    for i, (k, v, fm) in enumerate(rows, start=2):
        _put(ws, i, 1, k)
        _put(ws, i, 2, v, fm)
        ws.cell(row=i, column=2).alignment = Alignment(wrap_text=True, horizontal="left")
    _finish(ws, [48, 80])


def _long_sheet(ws: Worksheet, df: pd.DataFrame, lab: dict[str, str], money: str,
                lang: str) -> None:
    """Every row of targets.csv (all scenarios, levels, periods), in the reader's words."""
    from targetsim.report.i18n import labels

    rl = labels(lang)
    cols = [("scenario", "scenario"), ("level", "level"), ("name", "name"),
            ("period", "period"), ("metric", "metric"), ("target", "target_at_p"),
            ("attainment_probability", "p_target"), ("p10", "p10"), ("p50", "p50"),
            ("p90", "p90"), ("quota", "quota"), ("quota_probability", "p_quota"),
            ("last_year_actual", "ly"), ("run_rate", "run_rate"),
            ("implied_growth", "growth"), ("context_flag", "flag"),
            ("context_driver", "driver")]
    cols = [(c, k) for c, k in cols if c in df.columns]
    _header(ws, [lab[k] for _, k in cols])
    levels = {"total": lab["total"], "segment": lab["segment"], "owner": lab["rep"]}
    for i, rec in enumerate(df.to_dict("records"), start=2):
        metric = rec["metric"]
        amount = money if metric == "bookings" else FMT_COUNT
        for col, (c, _) in enumerate(cols, start=1):
            v = rec.get(c)
            fm = None
            if c in ("target", "p10", "p50", "p90", "quota", "last_year_actual", "run_rate"):
                fm = amount
            elif c in ("attainment_probability", "quota_probability"):
                fm = FMT_PROB
            elif c == "implied_growth":
                fm = FMT_GROWTH
            if c == "scenario":
                v = F.scenario_label(str(v), lang)
            elif c == "level":
                v = levels.get(str(v), v)
            elif c == "metric":
                v = lab.get(str(v), v)
            elif c == "period":
                v = F.quarter(str(v), lang) if v != "FY" else rl["FY"]
            elif c == "context_flag":
                v = lab.get(str(v), "") if isinstance(v, str) and v else ""
            elif c == "context_driver":
                v = rl.get(f"driver_{v}", str(v)) if isinstance(v, str) and v else ""
            elif c == "name" and rec["level"] == "total":
                v = lab["total"]
            _put(ws, i, col, v, fm)
    _finish(ws, [12, 10, 22, 9, 14] + [13] * (len(cols) - 5), print_setup=False)


def _indicator_sheet(ws: Worksheet, ind: pd.DataFrame, lab: dict[str, str], money: str,
                     lang: str) -> None:
    from targetsim.report.i18n import labels

    rl = labels(lang)
    fields = ["scenario", "segment", "period", "target", "new_opportunities", "wins_needed",
              "pipeline_at_quarter_start", "pipeline_coverage", "weekly_new_opportunities",
              "weekly_wins"]
    heads = [lab["scenario"], lab["segment"], lab["period"], rl["target"]] + \
        [rl[f] for f in fields[4:]]
    _header(ws, heads)
    fmts = {"target": money, "pipeline_at_quarter_start": money, "new_opportunities": FMT_COUNT,
            "wins_needed": FMT_COUNT, "pipeline_coverage": FMT_RATIO,
            "weekly_new_opportunities": "0.0", "weekly_wins": "0.0"}
    for i, rec in enumerate(ind.to_dict("records"), start=2):
        for col, fld in enumerate(fields, start=1):
            v = rec.get(fld)
            if fld == "scenario":
                v = F.scenario_label(str(v), lang)
            elif fld == "period":
                v = F.quarter(str(v), lang)
            _put(ws, i, col, v, fmts.get(fld))
    _finish(ws, [12, 20, 10, 14, 12, 10, 16, 10, 14, 12], print_setup=False)


def write_quota_workbook(path: str | Path, plan: PlanInputs, *, lang: str = "en") -> Path:
    """Write targets.xlsx (the quota sheet first) atomically.

    Parameters
    ----------
    path : str or Path
    plan : PlanInputs
        The plan directory's files (:func:`targetsim.report.inputs.load_plan`).
    lang : {"en", "fr"}
        Language of sheet names and headers, and where the currency symbol goes.
    """
    lab = XLSX_LABELS[F.check_lang(lang)]
    money = money_format(plan.currency, lang)
    wb = Workbook()
    wb.remove(wb.active)
    t = plan.targets
    if (t.level == "owner").any():
        _quotas_sheet(wb.create_sheet(lab["quotas"]), plan, lab, money, lang)
    _assumptions_sheet(wb.create_sheet(lab["assumptions"]), plan, lab, money, lang)
    teams = plan.optional.get("teams")
    if teams is not None and (t.level == "owner").any():
        if teams["manager"].astype(str).str.len().gt(0).any():
            _rollup_sheet(wb.create_sheet(lab["managers"]), plan, lab, money, lang, "manager")
        if teams["region"].astype(str).str.len().gt(0).any():
            _rollup_sheet(wb.create_sheet(lab["regions"]), plan, lab, money, lang, "region")
    _level_sheet(wb.create_sheet(lab["segments"]), plan, lab, money, lang, "segment")
    _level_sheet(wb.create_sheet(lab["company"]), plan, lab, money, lang, "total")
    _long_sheet(wb.create_sheet(lab["all"]), t, lab, money, lang)
    ind = plan.optional.get("indicators")
    if ind is not None:
        _indicator_sheet(wb.create_sheet(lab["indicators"]), ind, lab, money, lang)
    # Quotas people proposed (``plan --quotas``), scored against the simulation.
    scored = load_quota_scores(plan.out_dir)
    add_quota_sheet(wb, scored[0] if scored else None)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return Path(path)
