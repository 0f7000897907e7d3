"""report.html: one self-contained page (inline CSS, SVG and a few lines of JavaScript).

The page is what a sales leader takes into the target-setting meeting: a headline read in
ten seconds (the company number per scenario with currency and fiscal year, last year's
actual and the growth it implies, the proposed scenario marked, the board's number when
given), then one table per level (company, segments, reps: the quota plan of
:func:`targetsim.calibrate.allocation.quota_plan`, where parts add up to the whole and
quarters to the year), fan charts with last year's line, per-rep notes that fold, the
scenario stress test, the evidence, and the objectives in the report's language.

Rendered by Jinja2 with autoescaping on, so every name from the data is text. The
probability control reads its numbers from a JSON island in which ``<``, ``>`` and ``&`` are
escaped. Numbers are formatted here, in Python, by :mod:`targetsim.formatting` (Babel).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from targetsim import __version__
from targetsim import formatting as F
from targetsim.calibrate import saved_scenarios
from targetsim.errors import TargetsimError
from targetsim.report import figures
from targetsim.report.charts import fan_chart_svg
from targetsim.report.i18n import labels, month_abbr
from targetsim.report.inputs import PlanInputs
from targetsim.report.quotas import quota_section

TEMPLATES = Path(__file__).parent / "templates"
#: Draws used by the posterior-predictive check (enough for a 90 % band, fast).
PPC_DRAWS = 400
#: Fitted quantities shown per segment, in this order.
KPI_PARAMETERS = ("win_rate", "cycle_days_median", "deal_size_median", "arrivals_per_month",
                  "stall_rate", "loss_rate")


def json_for_html(obj: Any) -> Markup:
    """JSON safe to place inside a ``<script>`` element (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


def _env() -> Environment:
    # autoescape=True for every template whatever its extension: data names are untrusted.
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def load_fit(path: Path) -> tuple[Any | None, str | None]:
    """The saved fit, or None with the reason it could not be read."""
    if not path.is_file():
        return None, f"{path.name} not found"
    try:
        from targetsim.model import FunnelFit  # type: ignore[attr-defined]
    except ImportError:
        return None, "this installation has no targetsim.model.FunnelFit"
    try:
        return FunnelFit.load(path), None
    except (TargetsimError, OSError, ValueError, KeyError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


class _Fmt:
    """The report's formatters bound to its language and currency."""

    def __init__(self, lang: str, currency: str) -> None:
        self.lang, self.cur = lang, currency

    def money(self, v: float | None) -> str:
        return F.money_compact(v, self.lang, self.cur)

    def full(self, v: float | None) -> str:
        return F.money(v, self.lang, self.cur)

    def band(self, lo: float | None, hi: float | None) -> str:
        return F.money_range(lo, hi, self.lang, self.cur)

    def pct(self, p: float | None) -> str:
        return F.percent(p, self.lang)

    def growth(self, g: float | None) -> str:
        return F.growth(g, self.lang)

    def num(self, v: float | None, decimals: int = 0) -> str:
        return F.number(v, self.lang, decimals)

    def value(self, v: float | None, metric: str) -> str:
        return self.money(v) if metric == "bookings" else self.num(v)

    def value_band(self, lo: float | None, hi: float | None, metric: str) -> str:
        if metric == "bookings":
            return self.band(lo, hi)
        return F.span(self.num(lo), self.num(hi))

    def quarter(self, period: str) -> str:
        return F.quarter(period, self.lang)

    def scenario(self, name: str) -> str:
        return F.scenario_label(name, self.lang)


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return x


def _quota(r: Any) -> tuple[float, float]:
    """The number handed out (quota) and its probability; the target when no quota column."""
    q = _num(getattr(r, "quota", float("nan")))
    if math.isfinite(q):
        return q, _num(getattr(r, "quota_probability", float("nan")))
    return _num(r.target), _num(r.attainment_probability)


def _rows(plan: PlanInputs, scenario: str, level: str, metric: str,
          period: str | None = None) -> pd.DataFrame:
    t = plan.targets
    sel = t[(t.scenario == scenario) & (t.level == level) & (t.metric == metric)]
    return sel[sel.period == period] if period is not None else sel


def _quarters(plan: PlanInputs) -> list[str]:
    return [p for p in dict.fromkeys(plan.targets["period"]) if p != "FY"]


# --- headline ---------------------------------------------------------------------------------


def _headline(plan: PlanInputs, f: _Fmt) -> list[dict[str, Any]]:
    saved = saved_scenarios(plan.projection)
    out = []
    for sc in plan.scenarios:
        book = _rows(plan, sc, "total", "bookings", "FY")
        if book.empty:
            continue
        r = book.iloc[0]
        wins = _rows(plan, sc, "total", "deals_won", "FY")
        actual = _num(r.get("last_year_actual"))
        out.append({
            "scenario": f.scenario(sc),
            "proposed": sc == plan.primary_scenario,
            "target": f.money(r.target),
            "target_full": f.full(r.target),
            "probability": f.pct(r.attainment_probability),
            "band": f.band(r.p10, r.p90),
            "wins": f.num(wins.iloc[0].target) if not wins.empty else "–",
            "last_year": f.money(actual) if math.isfinite(actual) else None,
            "growth": f.growth(r.get("implied_growth")) if math.isfinite(actual) else None,
            "run_rate": f.money(r.get("run_rate")) if math.isfinite(actual) else None,
            "assumptions": F.scenario_assumptions(saved.get(sc, {}), f.lang),
        })
    return out


DRIVER_FORMAT = {"arrivals_per_month": 0, "win_rate": "pct", "deal_size_median": "money",
                 "cycle_days_median": 0}


def _driver_value(f: _Fmt, quantity: str, v: float) -> str:
    kind = DRIVER_FORMAT.get(quantity, 0)
    if kind == "pct":
        return f.pct(v)
    if kind == "money":
        return f.money(v)
    return f.num(v, int(kind))


def _compare(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> list[dict[str, Any]]:
    """The four drivers, fitted vs last 12 months, for the company and each segment."""
    ly = plan.optional.get("last_year")
    if ly is None:
        return []
    from targetsim.calibrate.context import compare_with_fit

    names = ["total"] + [str(s) for s in ly.loc[ly["level"] == "segment", "name"]]
    out = []
    for name in names:
        cmp_ = compare_with_fit(plan.fit_summary, ly, name)
        if cmp_.empty:
            continue
        out.append({
            "name": lab["total"] if name == "total" else name,
            "cells": [{"quantity": lab.get(q, q), "fitted": _driver_value(f, q, fv),
                       "last_year": _driver_value(f, q, hv), "ratio": f.num(ratio, 2)}
                      for q, fv, hv, ratio in cmp_.itertuples(index=False)],
        })
    return out


def _flags(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> list[str]:
    t = plan.targets
    if "context_flag" not in t:
        return []
    sc = plan.primary_scenario
    fy = t[(t.scenario == sc) & (t.period == "FY") & (t.metric == "bookings")]
    flags = fy["context_flag"].fillna("")
    out = []
    tot = fy[fy.level == "total"]
    if not tot.empty and flags[tot.index[0]]:
        r = tot.iloc[0]
        driver = str(r.get("context_driver") or "")
        ly = plan.optional.get("last_year")
        fitted = observed = "–"
        if driver and ly is not None:
            from targetsim.calibrate.context import compare_with_fit

            c = compare_with_fit(plan.fit_summary, ly, "total").set_index("quantity")
            if driver in c.index:
                fitted = _driver_value(f, driver, c.loc[driver, "fitted"])
                observed = _driver_value(f, driver, c.loc[driver, "last_year"])
        key = "flag_below" if r["context_flag"] == "below_last_year" else "flag_above"
        g = _num(r.get("implied_growth"))
        out.append(lab[key].format(
            growth=f.pct(abs(g)), actual=f.money(r.get("last_year_actual")),
            driver=lab.get(f"driver_{driver}", driver) if driver else "–", fitted=fitted,
            observed=observed))
    parts = fy[fy.level != "total"]
    below = int((flags[parts.index] == "below_last_year").sum())
    above = int((flags[parts.index] == "above_last_year").sum())
    if below or above:
        out.append(lab["flag_counts"].format(below=below, above=above))
    return out


def _board(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> dict[str, str] | None:
    td = plan.optional.get("topdown")
    target = plan.plan.get("company_target")
    if td is None or td.empty or target is None:
        return None
    probs = []
    levers = []
    for sc, grp in td.groupby("scenario", sort=False):
        probs.append(f"{f.scenario(sc)} {f.pct(float(grp['attainment_probability'].iloc[0]))}")
        if sc == plan.primary_scenario:
            levers = [str(c) for c in grp["change"]]
    text = lab["board_text"].format(target=f.money(float(target)), probs=", ".join(probs))
    if levers:
        text += " " + lab["board_levers"].format(p=f.pct(plan.probability),
                                                 levers=" | ".join(levers))
    return {"target": f.money(float(target)), "text": text}


# --- fan charts ---------------------------------------------------------------------------


def _last_year_line(plan: PlanInputs, segment: str | None) -> list[float] | None:
    """Cumulative bookings of the 12 months before the horizon, month by month."""
    act = plan.optional.get("actuals")
    if act is None:
        return None
    months = pd.DatetimeIndex(plan.projection["month"].values)
    prev = [(m - pd.DateOffset(years=1)).strftime("%Y-%m") for m in months]
    sel = act if segment is None else act[act["segment"] == segment]
    by_month = sel.groupby("month")["bookings"].sum()
    if not set(prev) <= set(act["month"]):
        return None
    return list(np.cumsum([float(by_month.get(m, 0.0)) for m in prev]))


def _charts(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> list[dict[str, Any]]:
    ds = plan.projection
    sims = [str(s) for s in ds["scenario"].values]
    charts = []

    def target_of(sc: str, level: str, name: str | None) -> float | None:
        sel = _rows(plan, sc, level, "bookings", "FY")
        if name is not None:
            sel = sel[sel.name == name]
        return _quota(sel.iloc[0])[0] if not sel.empty else None

    for sc in plan.scenarios:
        if sc not in sims:
            continue
        band = figures.cumulative_band(ds, scenario=sc, segment=None)
        title = f"{lab['total']} · {f.scenario(sc)}"
        charts.append({"svg": Markup(fan_chart_svg(
            band, title=title, lang=f.lang, target=target_of(sc, "total", None),
            last_year=_last_year_line(plan, None)))})
    sc = plan.primary_scenario
    if sc in sims:
        for seg in [str(s) for s in ds["segment"].values]:
            band = figures.cumulative_band(ds, scenario=sc, segment=seg)
            charts.append({"svg": Markup(fan_chart_svg(
                band, title=f"{seg} · {f.scenario(sc)}", lang=f.lang,
                target=target_of(sc, "segment", seg), last_year=_last_year_line(plan, seg)))})
    return charts


# --- one table per level --------------------------------------------------------------------


def _quarter_cells(plan: PlanInputs, sc: str, level: str, name: str, metric: str,
                   f: _Fmt) -> list[dict[str, str]]:
    rows = _rows(plan, sc, level, metric)
    rows = rows[rows.name == name]
    cells = []
    for q in _quarters(plan):
        r = rows[rows.period == q]
        if r.empty:
            cells.append({"value": "–", "prob": ""})
            continue
        v, p = _quota(r.iloc[0])
        cells.append({"value": f.value(v, metric), "prob": f.pct(p)})
    return cells


def _level_row(plan: PlanInputs, r: Any, f: _Fmt, metric: str) -> dict[str, Any]:
    v, p = _quota(r)
    actual = _num(getattr(r, "last_year_actual", float("nan")))
    return {
        "name": str(r.name),
        "quota": f.value(v, metric),
        "quota_full": f.full(v) if metric == "bookings" else f.num(v),
        "probability": f.pct(p),
        "band": f.value_band(r.p10, r.p90, metric),
        "last_year": f.value(actual, metric) if math.isfinite(actual) else "–",
        "growth": f.growth(getattr(r, "implied_growth", float("nan")))
        if math.isfinite(actual) else "–",
        "flag": str(getattr(r, "context_flag", "") or ""),
        "quarters": _quarter_cells(plan, r.scenario, r.level, str(r.name), metric, f),
    }


def _company_table(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> list[dict[str, Any]]:
    out = []
    for metric in ("bookings", "deals_won"):
        sel = _rows(plan, plan.primary_scenario, "total", metric, "FY")
        if sel.empty:
            continue
        row = _level_row(plan, next(sel.itertuples(index=False)), f, metric)
        row["name"] = lab[metric]
        out.append(row)
    return out


def _segment_table(plan: PlanInputs, f: _Fmt) -> list[dict[str, Any]]:
    sel = _rows(plan, plan.primary_scenario, "segment", "bookings", "FY")
    return [_level_row(plan, r, f, "bookings") for r in sel.itertuples(index=False)]


def _teams(plan: PlanInputs) -> dict[str, tuple[str, str]]:
    teams = plan.optional.get("teams")
    if teams is None:
        return {}
    return {str(o): (str(m), str(g)) for o, m, g in
            teams[["owner", "manager", "region"]].fillna("").itertuples(index=False)}


def _rep_table(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> list[dict[str, Any]]:
    sel = _rows(plan, plan.primary_scenario, "owner", "bookings", "FY")
    teams = _teams(plan)
    out = []
    for r in sel.itertuples(index=False):
        row = _level_row(plan, r, f, "bookings")
        manager, region = teams.get(str(r.name), ("", ""))
        row["team"] = " · ".join(x for x in (manager, region) if x) or (
            lab["unassigned"] if teams else "")
        out.append(row)
    out.sort(key=lambda d: (d["team"], d["name"]))
    return out


def _allocation_rules(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> dict[str, str]:
    rules = {}
    for a in plan.plan.get("allocation", []) or []:
        if a.get("scenario") != plan.primary_scenario:
            continue
        if a.get("level") == "owner" and "sum_of_quotas" in a:
            rules["owner"] = lab["rep_rule"].format(
                sumq=f.money(a["sum_of_quotas"]), k=f.pct(a.get("over_assignment", 1.0)),
                company=f.money(a["company_target"]), q=f.pct(a["common_probability"]),
                share=f.pct(a["expected_share_reaching"]), pc=f.pct(a["p_company_number"]),
                psum=f.pct(a["p_sum_of_quotas"]))
        elif a.get("level") == "segment" and "sum_of_quotas" in a:
            rules["segment"] = lab["segment_rule"].format(
                company=f.money(a["company_target"]), q=f.pct(a["common_probability"]))
    return rules


def _whatif(plan: PlanInputs, f: _Fmt, lab: dict[str, str]
            ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """FY bookings targets of the company and segments at every probability of the grid."""
    t = plan.targets
    sel = t[(t.period == "FY") & (t.metric == "bookings") & (t.level != "owner")]
    sel = sel.reset_index(drop=True)
    table = figures.probability_table(plan.projection, sel)
    grid = list(figures.PROBABILITY_GRID)
    data_rows: list[dict[str, list[str]] | None] = []
    rows = []
    for i, r in enumerate(sel.itertuples(index=False)):
        entry = table[i]
        data_rows.append(None if entry is None else {
            "t": [f.money(v) for v in entry["t"]], "p": [f.pct(v) for v in entry["p"]]})
        rows.append({"idx": i, "scenario": r.scenario,
                     "name": lab["total"] if r.level == "total" else str(r.name)})
    default = min(range(len(grid)), key=lambda k: abs(grid[k] - plan.probability))
    control = {"grid": grid, "grid_labels": [f.pct(p) for p in grid], "default": default,
               "rows": data_rows}
    return rows, control


# --- scenarios, reps, evidence ----------------------------------------------------------------


def _stress(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> dict[str, Any] | None:
    s = plan.optional.get("stress")
    if s is None or s.empty:
        return None
    p_plan = plan.probability
    s = s.copy()
    s["status"] = [figures.stress_status(p, p_plan) for p in s.attainment_probability]
    scenarios = [sc for sc in plan.scenarios if sc in set(s.scenario)] + sorted(
        set(s.scenario) - set(plan.scenarios))
    summary = []
    for sc in scenarios:
        counts = s[s.scenario == sc].status.value_counts()
        summary.append(lab["scenario_summary"].format(
            scenario=f.scenario(sc), holds=int(counts.get("holds", 0)),
            risk=int(counts.get("at_risk", 0)), breaks=int(counts.get("breaks", 0))))
    fy = s[(s.period == "FY") & (s.level != "owner") & (s.metric == "bookings")]
    rows = []
    for (level, name), grp in fy.groupby(["level", "name"], sort=False):
        cells = {r.scenario: {"p": f.pct(r.attainment_probability), "status": r.status,
                              "label": lab[r.status]} for r in grp.itertuples(index=False)}
        rows.append({"name": lab["total"] if level == "total" else name,
                     "target": f.money(float(grp.iloc[0].target)),
                     "cells": [cells.get(sc) for sc in scenarios]})
    return {
        "scenarios": [f.scenario(sc) for sc in scenarios], "summary": summary, "rows": rows,
        "help": lab["scenario_help"].format(p=f.pct(p_plan),
                                            ref=f.scenario(plan.primary_scenario)),
    }


def _history_frame(fit: Any) -> pd.DataFrame | None:
    """``FunnelFit.history``: ``level, segment, owner, n_deals, won, lost, ...``."""
    hist = getattr(fit, "history", None)
    if not isinstance(hist, pd.DataFrame) or hist.empty:
        return None
    if not {"level", "segment", "owner", "won", "lost"} <= set(hist.columns):
        return None
    return hist


def _segment_rows(hist: pd.DataFrame | None) -> pd.DataFrame:
    if hist is None:
        return pd.DataFrame()
    seg = hist[hist["level"] == "segment"]
    return seg.set_index(seg["segment"].astype(str))


def _weighted(values: pd.Series, weights: pd.Series) -> float:
    ok = values.notna() & (weights > 0)
    if not ok.any():
        return float("nan")
    return float(np.average(values[ok].astype(float), weights=weights[ok].astype(float)))


def _capacity_text(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> str:
    ds = plan.projection
    sc = plan.primary_scenario
    if "capacity" not in ds:
        return lab["owner_no_capacity"]
    cap = ds["capacity"].sel(scenario=sc)
    cap = cap.median("draw") if "draw" in cap.dims else cap
    if "segment" in cap.dims:
        cap = cap.median("segment")
    values = np.asarray(cap.values, dtype=float).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        return lab["owner_no_capacity"]
    return lab["owner_capacity"].format(scenario=f.scenario(sc), start=f.num(values[0]),
                                        end=f.num(values[-1]))


def _expected_new_opportunities(plan: PlanInputs, params: Any, owner: str) -> float:
    """Median new opportunities of the year the owner receives (their share of each segment)."""
    ds = plan.projection
    if params is None or owner not in tuple(getattr(params, "owners", ())):
        return float("nan")
    if "new_opportunities" not in ds:
        return float("nan")
    o = list(params.owners).index(owner)
    sim_segments = [str(s) for s in ds["segment"].values]
    total = np.zeros(ds.sizes["draw"])
    for s, seg in enumerate(params.segments):
        if seg in sim_segments and params.owner_share.shape[1] > o:
            new = ds["new_opportunities"].sel(scenario=plan.primary_scenario, segment=seg)
            total = total + params.owner_share[s, o] * np.asarray(new.sum("month").values)
    return float(np.median(total))


def _owner_history(hist: pd.DataFrame | None, owner: str, lab: dict[str, str],
                   f: _Fmt) -> tuple[list[str], list[str]]:
    if hist is None:
        return [], []
    mine = hist[(hist["level"] == "owner") & (hist["owner"].astype(str) == owner)]
    mine = mine.sort_values(["won", "n_deals"], ascending=False)
    if mine.empty:
        return [], []
    segs = [str(s) for s in mine["segment"]]
    won, lost = int(mine["won"].sum()), int(mine["lost"].sum())
    wr, lo, hi = figures.win_rate_interval(won, lost)
    team_rows = _segment_rows(hist).reindex(segs)
    t_won, t_lost = team_rows["won"].sum(), team_rows["lost"].sum()
    team = t_won / (t_won + t_lost) if t_won + t_lost > 0 else float("nan")
    size = _weighted(mine["median_won_size"], mine["won"])
    paras = [lab["owner_history"].format(
        won=f.num(won), lost=f.num(lost), wr=f.pct(wr), lo=f.pct(lo), hi=f.pct(hi),
        team=f.pct(team), size=f.money(size))]
    # Undated deals (dated at the as-of date) have no cycle: a median of 0 days says nothing.
    cycle = _weighted(mine["median_won_cycle_days"], mine["won"])
    if math.isfinite(cycle) and cycle >= 1:
        paras.append(lab["owner_cycle"].format(cycle=f.num(cycle)))
    return paras, segs


def _owners(plan: PlanInputs, fit: Any, params: Any, lab: dict[str, str],
            f: _Fmt) -> list[dict[str, Any]]:
    sc = plan.primary_scenario
    quotas = _rows(plan, sc, "owner", "bookings", "FY")
    wins = _rows(plan, sc, "owner", "deals_won", "FY")
    hist = _history_frame(fit)
    pipe = getattr(fit, "open_pipeline", None)
    out = []
    for r in quotas.itertuples(index=False):
        owner = str(r.name)
        v, p = _quota(r)
        actual = _num(getattr(r, "last_year_actual", float("nan")))
        paras, segs = _owner_history(hist, owner, lab, f)
        mine = (pipe[pipe["owner"] == owner] if isinstance(pipe, pd.DataFrame)
                and "owner" in pipe else None)
        if not segs and mine is not None and not mine.empty:
            segs = [str(s) for s in mine["segment"].value_counts().index]
        if mine is not None:
            if mine.empty:
                paras.append(lab["owner_no_pipeline"])
            else:
                paras.append(lab["owner_pipeline"].format(
                    n=f.num(len(mine)), value=f.money(float(mine["amount"].fillna(0).sum()))))
        w = wins[wins.name == owner]
        n_wins = _quota(w.iloc[0])[0] if not w.empty else float("nan")
        size = v / n_wins if math.isfinite(n_wins) and n_wins > 0 else float("nan")
        new = _expected_new_opportunities(plan, params, owner)
        key = "owner_produce" if math.isfinite(new) else "owner_produce_pipeline"
        if mine is not None and mine.empty and math.isfinite(new):
            key = "owner_produce_new"
        paras.append(lab[key].format(wins=f.num(n_wins), size=f.money(size), new=f.num(new)))
        out.append({
            "owner": owner,
            "summary": lab["owner_summary"].format(owner=owner, quota=f.money(v), prob=f.pct(p))
            + (lab["owner_summary_ly"].format(
                actual=f.money(actual),
                growth=f.growth(getattr(r, "implied_growth", float("nan"))))
               if math.isfinite(actual) else ""),
            "segments": ", ".join(segs),
            "paragraphs": paras,
        })
    return out


def _parameter_format(parameter: str, f: _Fmt) -> Any:
    """How a fitted quantity is written: rates as percentages, sizes as money, days whole."""
    if parameter in figures.RATE_PARAMETERS:
        return f.pct
    if parameter.endswith("_median") and "size" in parameter:
        return f.money
    if "days" in parameter:
        return f.num

    def fm(v: float) -> str:
        return f.num(v, 1 if abs(v) < 100 else 0)

    return fm


def _wide(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> list[dict[str, str]]:
    """Quantities the data could not pin down, in words and in their own units."""
    out = []
    for r in figures.wide_parameters(plan.fit_summary).itertuples(index=False):
        fm = _parameter_format(str(r.parameter), f)
        out.append({"segment": str(r.segment),
                    "parameter": lab.get(str(r.parameter), str(r.parameter)),
                    "stage": "" if str(r.stage) in ("", "nan") else str(r.stage),
                    "interval": F.span(fm(r.q05), fm(r.q95))})
    return out


def _kpis(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> dict[str, Any]:
    """One row per segment, one column per fitted quantity (median, 90 % interval)."""
    fs = plan.fit_summary
    fs = fs[fs["stage"].fillna("").astype(str) == ""]
    params = [p for p in KPI_PARAMETERS if p in set(fs["parameter"])]
    wide = set(figures.wide_parameters(plan.fit_summary).index)

    def cell(r: Any, idx: Any) -> dict[str, Any]:
        fm = _parameter_format(r.parameter, f)
        return {"mid": fm(r.q50), "interval": F.span(fm(r.q05), fm(r.q95)),
                "wide": idx in wide}

    rows = []
    for seg, grp in fs.groupby("segment", sort=False):
        by = {r.parameter: cell(r, i) for i, r in zip(grp.index, grp.itertuples(index=False),
                                                     strict=True)}
        rows.append({"segment": seg, "cells": [by.get(p) for p in params]})
    return {"columns": [lab.get(p, p) for p in params], "rows": rows}


def _indicators(plan: PlanInputs, f: _Fmt) -> dict[str, Any] | None:
    """One row per segment, per quarter the new opportunities, wins and pipeline coverage a
    year on track shows (indicators.csv; the weekly figures stay in the file)."""
    ind = plan.optional.get("indicators")
    if ind is None:
        return None
    ind = ind[ind.scenario == plan.primary_scenario]
    quarters = list(dict.fromkeys(str(q) for q in ind["period"]))
    rows = []
    for seg, grp in ind.groupby("segment", sort=False):
        by_q = {str(r.period): r for r in grp.itertuples(index=False)}
        cells = []
        for q in quarters:
            r = by_q.get(q)
            cells.append(None if r is None else {
                "new": f.num(r.new_opportunities), "wins": f.num(r.wins_needed),
                "coverage": f.num(r.pipeline_coverage, 1) + "×",
                "pipeline": f.money(r.pipeline_at_quarter_start)})
        rows.append({"segment": str(seg), "cells": cells})
    return {"quarters": [f.quarter(q) for q in quarters], "rows": rows}


def _ppc(plan: PlanInputs, fit: Any, params: Any, f: _Fmt) -> list[dict[str, Any]] | None:
    if params is None:
        return None
    pred = figures.predictive_last_year(params, random_seed=int(plan.plan.get("seed", 0)))
    seg_rows = _segment_rows(_history_frame(fit))
    ly = plan.optional.get("last_year")
    ly_seg = ly[ly.level == "segment"].set_index("name") if ly is not None else None
    rows = []
    for seg, sims in pred.items():
        checks = []
        if seg in seg_rows.index and "bookings_last_365" in seg_rows.columns:
            checks.append(("bookings_12m", sims["bookings"],
                           float(seg_rows.loc[seg, "bookings_last_365"]), True))
        elif ly_seg is not None and seg in ly_seg.index:
            checks.append(("bookings_12m", sims["bookings"],
                           float(ly_seg.loc[seg, "bookings_12m"]), True))
        if ly_seg is not None and seg in ly_seg.index:
            checks.append(("wins_12m", sims["wins"], float(ly_seg.loc[seg, "deals_won_12m"]),
                           False))
        for key, sims_x, observed, is_money in checks:
            if not math.isfinite(observed):
                continue
            lo, hi = np.quantile(sims_x, [0.05, 0.95])
            show = f.money if is_money else f.num
            rows.append({"segment": seg, "what": key, "observed": show(observed),
                         "band": F.span(show(lo), show(hi)), "ok": bool(lo <= observed <= hi)})
    return rows


def _tiers(plan: PlanInputs, lab: dict[str, str], f: _Fmt) -> dict[str, Any] | None:
    """tiers.csv pivoted: company and segments (FY bookings, proposed scenario) per tier."""
    df = plan.optional.get("tiers")
    if df is None or not {"tier", "probability", "target"} <= set(df.columns):
        return None
    df = df[(df["period"] == "FY") & (df["metric"] == "bookings") & (df["level"] != "owner")
            & (df["scenario"] == plan.primary_scenario)]
    order = (df[["tier", "probability"]].drop_duplicates("tier")
             .sort_values("probability", ascending=False))
    names = {"floor": lab["floor"], "target": lab["target"], "stretch": lab["stretch"]}
    columns = [(names.get(str(tr), str(tr)), f.pct(float(pr)))
               for tr, pr in order.itertuples(index=False)]
    rows = []
    for (level, name), grp in df.groupby(["level", "name"], sort=False):
        by_tier = dict(zip(grp["tier"], grp["target"], strict=True))
        rows.append({"name": lab["total"] if level == "total" else name,
                     "cells": [f.money(by_tier.get(tr)) for tr in order["tier"]]})
    return {"columns": columns, "rows": rows}


def _objectives(plan: PlanInputs, lang: str) -> list[dict[str, Any]] | None:
    """objectives.md, regenerated in the report's language, as headings and paragraphs.

    The reps' list is left out of the page (the reps table carries the same numbers)."""
    text = objectives_text(plan, lang)
    if text is None:
        return None
    blocks = []
    skipping = False
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            head = s.lstrip("#").strip()
            skipping = s.startswith("### ") and head.startswith(("Individual", "Quotas indiv"))
            if not skipping:
                blocks.append({"kind": "h", "text": _unmd(head)})
        elif skipping:
            continue
        elif s[:2] in ("- ", "* "):
            if not blocks or blocks[-1]["kind"] != "ul":
                blocks.append({"kind": "ul", "lines": []})
            blocks[-1]["lines"].append(_unmd(s[2:]))
        else:
            blocks.append({"kind": "p", "text": _unmd(s)})
    return blocks


def _unmd(s: str) -> str:
    """Markdown emphasis and escapes removed: the page shows the text (escaped by Jinja)."""
    import re

    return re.sub(r"\\(.)", r"\1", s.replace("**", ""))


def objectives_text(plan: PlanInputs, lang: str) -> str | None:
    """objectives.md in ``lang`` from the plan's tables (None without indicators)."""
    ind = plan.optional.get("indicators")
    if ind is None:
        return plan.optional.get("objectives")
    from targetsim.calibrate.allocation import AllocationSummary
    from targetsim.calibrate.objectives import write_objectives
    from targetsim.calibrate.periods import horizon_end, month_index

    fields = set(AllocationSummary.__dataclass_fields__)
    alloc = [AllocationSummary(**{k: v for k, v in a.items() if k in fields})
             for a in plan.plan.get("allocation", []) or [] if isinstance(a, dict)]
    return write_objectives(
        plan.targets, ind, scenario=plan.primary_scenario, probability=plan.probability,
        horizon_end=horizon_end(plan.projection), allocation=alloc,
        stress=plan.optional.get("stress"), topdown=plan.optional.get("topdown"), lang=lang,
        currency=plan.currency, horizon_start=month_index(plan.projection)[0],
        months=int(plan.projection.sizes["month"]), scenarios=saved_scenarios(plan.projection))


def _left_out(fit: Any | None, lab: dict[str, str], f: _Fmt, lang: str) -> list[str]:
    """The months the arrival rate leaves out as export artefacts, in words."""
    if fit is None or "arrivals" not in getattr(fit, "states", {}):
        return []
    from targetsim.model.components.local_trend import left_out

    def listed(sel: list[tuple[pd.Period, float]]) -> str:
        return ", ".join(f"{month_abbr(m.month, lang)} {m.year}: {f.num(c)}" for m, c in sel)

    start, end = left_out(fit.states["arrivals"], fit.as_of)
    return ([lab["left_out_start"].format(months=listed(start))] if start else []) + (
        [lab["left_out_end"].format(months=listed(end))] if end else [])


def build_context(
    plan: PlanInputs, *, lang: str, fit: Any | None = None
) -> dict[str, Any]:
    """Everything the template shows, already formatted in ``lang``."""
    lab = labels(lang)
    f = _Fmt(lang, plan.currency)
    params = None
    if fit is not None:
        params = fit.params(n_draws=PPC_DRAWS, random_seed=int(plan.plan.get("seed", 0)))
    diag = plan.diagnostics
    rhat = diag.get("rhat_max")
    diag_text = (lab["converged_yes"] if diag.get("converged") else lab["converged_no"]).format(
        rhat=f.num(rhat, 3) if isinstance(rhat, int | float) else "–",
        ess=f.num(diag.get("ess_bulk_min")) if isinstance(diag.get("ess_bulk_min"),
                                                           int | float) else "–",
        div=diag.get("divergences", "–"),
    )
    months = pd.DatetimeIndex(plan.projection["month"].values)
    fy = F.fiscal_year(months[0], len(months), lang)
    as_of = plan.plan.get("as_of") or plan.projection.attrs.get("as_of")
    whatif_rows, control = _whatif(plan, f, lab)
    from babel.numbers import get_currency_name

    return {
        "lang": lang,
        "L": lab,
        "title": lab["title"].format(fy=fy),
        "generated": lab["generated"].format(
            as_of=F.long_date(as_of, lang) if as_of else "–",
            currency_name=get_currency_name(plan.currency, count=2, locale=F.LOCALES[lang]),
            seed=plan.plan.get("seed", plan.projection.attrs.get("seed", "–")),
            version=plan.plan.get("targetsim_version", __version__)),
        "headline": _headline(plan, f),
        "flags": _flags(plan, lab, f),
        "board": _board(plan, lab, f),
        "charts": _charts(plan, lab, f),
        "quarters": [f.quarter(q) for q in _quarters(plan)],
        "company": _company_table(plan, lab, f),
        "segments": _segment_table(plan, f),
        "reps": _rep_table(plan, lab, f),
        "has_teams": plan.optional.get("teams") is not None,
        "has_last_year": "last_year_actual" in plan.targets,
        "rules": _allocation_rules(plan, lab, f),
        "whatif": whatif_rows,
        "control": json_for_html(control),
        "control_labels": control["grid_labels"],
        "control_default": control["default"],
        "scenarios": plan.scenarios,
        "scenario_labels": {sc: f.scenario(sc) for sc in plan.scenarios},
        "primary": plan.primary_scenario,
        "stress": _stress(plan, lab, f),
        "owners": _owners(plan, fit, params, lab, f),
        "shared_note": lab["shared_note"].format(
            capacity=_capacity_text(plan, lab, f)[:1].upper() + _capacity_text(plan, lab, f)[1:]),
        "kpis": _kpis(plan, lab, f),
        "compare": _compare(plan, lab, f),
        "indicators": _indicators(plan, f),
        "indicators_help": lab["indicators_help"].format(
            scenario=f.scenario(plan.primary_scenario)),
        "diag_text": diag_text,
        "converged": bool(diag.get("converged")),
        "problems": [str(p) for p in diag.get("problems", []) or []],
        "left_out": _left_out(fit, lab, f, lang),
        "ppc": _ppc(plan, fit, params, f),
        "wide": _wide(plan, lab, f),
        "tiers": _tiers(plan, lab, f),
        "quotas": quota_section(plan.out_dir, lang, str(plan.plan.get("currency", "$"))),
        "objectives": _objectives(plan, lang),
    }


def render_html(context: dict[str, Any]) -> str:
    """Render report.html from a :func:`build_context` dictionary."""
    return _env().get_template("report.html.j2").render(**context)
