"""report.html: one self-contained page (inline CSS, SVG and a few lines of JavaScript).

The page is rendered by Jinja2 with autoescaping on, so every name that comes from the data
(segments, owners, scenarios) is shown as text. The probability control reads its numbers
from a JSON island in which ``<``, ``>`` and ``&`` are escaped, so no data value can close
the ``<script>`` element. Numbers are formatted here, in Python, in the report's language:
the JavaScript only swaps strings.
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
from targetsim.errors import TargetsimError
from targetsim.report import figures
from targetsim.report.charts import fan_chart_svg
from targetsim.report.i18n import fmt_compact, fmt_number, fmt_pct, fmt_period, labels
from targetsim.report.inputs import PlanInputs
from targetsim.report.quotas import quota_section

TEMPLATES = Path(__file__).parent / "templates"
#: Draws used by the posterior-predictive check (enough for a 90 % band, fast).
PPC_DRAWS = 400


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


def _fmt_value(x: float, metric: str, lang: str) -> str:
    return fmt_number(x, lang, 1 if metric == "deals_won" and x != round(x) else 0)


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


# --- pieces of the page -------------------------------------------------------------------


def _headline(plan: PlanInputs, lang: str) -> list[dict[str, str]]:
    t = plan.targets
    rows = []
    for sc in plan.scenarios:
        sel = t[(t.scenario == sc) & (t.level == "total") & (t.period == "FY")]
        book = sel[sel.metric == "bookings"]
        wins = sel[sel.metric == "deals_won"]
        if book.empty:
            continue
        r = book.iloc[0]
        rows.append(
            {
                "scenario": sc,
                "target": fmt_compact(r.target, lang),
                "target_full": fmt_number(r.target, lang),
                "probability": fmt_pct(r.attainment_probability, lang),
                "band": f"{fmt_compact(r.p10, lang)} – {fmt_compact(r.p90, lang)}",
                "wins": fmt_number(wins.iloc[0].target, lang) if not wins.empty else "–",
            }
        )
    return rows


def _fy_target(plan: PlanInputs, scenario: str, level: str, name: str | None) -> float | None:
    t = plan.targets
    sel = t[(t.scenario == scenario) & (t.level == level) & (t.period == "FY")
            & (t.metric == "bookings")]
    if name is not None:
        sel = sel[sel.name == name]
    return float(sel.iloc[0].target) if not sel.empty else None


def _charts(plan: PlanInputs, lang: str, lab: dict[str, str]) -> list[dict[str, Any]]:
    ds = plan.projection
    charts = []
    for sc in plan.scenarios:
        if sc not in [str(s) for s in ds["scenario"].values]:
            continue
        band = figures.cumulative_band(ds, scenario=sc, segment=None)
        title = f"{lab['total']} · {sc}"
        charts.append(
            {"title": title, "svg": Markup(fan_chart_svg(
                band, title=title, lang=lang, target=_fy_target(plan, sc, "total", None)))}
        )
    sc = plan.primary_scenario
    if sc in [str(s) for s in ds["scenario"].values]:
        for seg in [str(s) for s in ds["segment"].values]:
            band = figures.cumulative_band(ds, scenario=sc, segment=seg)
            title = f"{seg} · {sc}"
            charts.append(
                {"title": title, "svg": Markup(fan_chart_svg(
                    band, title=title, lang=lang,
                    target=_fy_target(plan, sc, "segment", seg)))}
            )
    return charts


def _targets_table(
    plan: PlanInputs, lang: str, lab: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    t = plan.targets.reset_index(drop=True)
    table = figures.probability_table(plan.projection, t)
    grid = list(figures.PROBABILITY_GRID)
    data_rows: list[dict[str, list[str]] | None] = []
    rows = []
    level_order = {"total": 0, "segment": 1, "owner": 2}
    for i, r in enumerate(t.itertuples(index=False)):
        entry = table[i]
        if entry is None:
            data_rows.append(None)
        else:
            data_rows.append(
                {
                    "t": [_fmt_value(v, r.metric, lang) for v in entry["t"]],
                    "p": [fmt_pct(v, lang) for v in entry["p"]],
                }
            )
        rows.append(
            {
                "idx": i,
                "order": (level_order.get(r.level, 3), r.name, r.metric),
                "scenario": r.scenario,
                "level": r.level,
                "level_label": lab["total"] if r.level == "total" else
                lab["segments"] if r.level == "segment" else lab["owners"],
                "name": r.name,
                "period": r.period,
                "period_label": fmt_period(r.period, lab),
                "metric": lab.get(r.metric, r.metric),
                "target": _fmt_value(r.target, r.metric, lang),
                "probability": fmt_pct(r.attainment_probability, lang),
                "band": f"{_fmt_value(r.p10, r.metric, lang)} – "
                f"{_fmt_value(r.p90, r.metric, lang)}",
            }
        )
    rows.sort(key=lambda d: (d["scenario"], d["period"] != "FY", d["period"], d["order"]))
    default = min(range(len(grid)), key=lambda k: abs(grid[k] - plan.probability))
    control = {
        "grid": grid,
        "grid_labels": [fmt_pct(p, lang) for p in grid],
        "default": default,
        "rows": data_rows,
        "periods": list(dict.fromkeys(["FY", *sorted(set(t.period) - {"FY"})])),
    }
    return rows, control


def _stress(plan: PlanInputs, lang: str, lab: dict[str, str]) -> dict[str, Any] | None:
    s = plan.optional.get("stress")
    if s is None:
        return None
    p_plan = plan.probability
    s = s.copy()
    s["status"] = [figures.stress_status(p, p_plan) for p in s.attainment_probability]
    scenarios = [sc for sc in plan.scenarios if sc in set(s.scenario)] + sorted(
        set(s.scenario) - set(plan.scenarios)
    )
    summary = []
    for sc in scenarios:
        counts = s[s.scenario == sc].status.value_counts()
        summary.append(
            lab["scenario_summary"].format(
                scenario=sc, holds=int(counts.get("holds", 0)),
                risk=int(counts.get("at_risk", 0)), breaks=int(counts.get("breaks", 0)),
            )
        )
    fy = s[(s.period == "FY") & (s.level != "owner")]
    rows = []
    for key, grp in fy.groupby(["level", "name", "metric"], sort=False):
        level, name, metric = key
        cells = {}
        for r in grp.itertuples(index=False):
            cells[r.scenario] = {
                "p": fmt_pct(r.attainment_probability, lang),
                "status": r.status,
                "label": lab[r.status],
            }
        rows.append(
            {
                "name": lab["total"] if level == "total" else name,
                "metric": lab.get(metric, metric),
                "target": _fmt_value(float(grp.iloc[0].target), metric, lang),
                "cells": [cells.get(sc) for sc in scenarios],
            }
        )
    return {
        "scenarios": scenarios,
        "summary": summary,
        "rows": rows,
        "help": lab["scenario_help"].format(p=fmt_pct(p_plan, lang)),
    }


def _history_frame(fit: Any) -> pd.DataFrame | None:
    """``FunnelFit.history``: ``level, segment, owner, n_deals, won, lost, open,
    win_rate_closed, median_won_cycle_days, median_won_size, bookings_last_365``."""
    hist = getattr(fit, "history", None)
    if not isinstance(hist, pd.DataFrame) or hist.empty:
        return None
    if not {"level", "segment", "owner", "won", "lost"} <= set(hist.columns):
        return None
    return hist


def _segment_rows(hist: pd.DataFrame | None) -> pd.DataFrame:
    if hist is None:
        return pd.DataFrame()
    return hist[hist["level"] == "segment"].set_index(hist.loc[hist["level"] == "segment",
                                                               "segment"].astype(str))


def _owner_rows(hist: pd.DataFrame | None, owner: str) -> pd.DataFrame:
    """An owner's history, one row per segment they sold in (most wins first)."""
    if hist is None:
        return pd.DataFrame()
    rows = hist[(hist["level"] == "owner") & (hist["owner"].astype(str) == owner)]
    return rows.sort_values(["won", "n_deals"], ascending=False)


def _weighted(values: pd.Series, weights: pd.Series) -> float:
    ok = values.notna() & (weights > 0)
    if not ok.any():
        return float("nan")
    return float(np.average(values[ok].astype(float), weights=weights[ok].astype(float)))


def _capacity_line(plan: PlanInputs, segment: str, lang: str, lab: dict[str, str]) -> str:
    ds = plan.projection
    sc = plan.primary_scenario
    if "capacity" not in ds or segment not in [str(s) for s in ds["segment"].values]:
        return lab["owner_no_capacity"]
    cap = ds["capacity"].sel(scenario=sc, segment=segment)
    cap = cap.median("draw") if "draw" in cap.dims else cap
    values = np.asarray(cap.values, dtype=float).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        return lab["owner_no_capacity"]
    return lab["owner_capacity"].format(
        scenario=sc, start=fmt_number(values[0], lang), end=fmt_number(values[-1], lang)
    )


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


def _owner_history_line(
    hist: pd.DataFrame | None, owner: str, lang: str, lab: dict[str, str]
) -> tuple[str | None, list[str]]:
    mine = _owner_rows(hist, owner)
    if mine.empty:
        return None, []
    segs = [str(s) for s in mine["segment"]]
    won, lost = int(mine["won"].sum()), int(mine["lost"].sum())
    wr, lo, hi = figures.win_rate_interval(won, lost)
    team_rows = _segment_rows(hist).reindex(segs)
    t_won, t_lost = team_rows["won"].sum(), team_rows["lost"].sum()
    team = t_won / (t_won + t_lost) if t_won + t_lost > 0 else float("nan")
    # Medians cannot be pooled exactly across segments: weight each segment's by its wins.
    size = _weighted(mine["median_won_size"], mine["won"])
    cycle = _weighted(mine["median_won_cycle_days"], mine["won"])
    text = lab["owner_history"].format(
        won=fmt_number(won, lang), lost=fmt_number(lost, lang), wr=fmt_pct(wr, lang),
        lo=fmt_pct(lo, lang), hi=fmt_pct(hi, lang), team=fmt_pct(team, lang),
        size=fmt_number(size, lang), cycle=fmt_number(cycle, lang),
    )
    return text, segs


def _owners(
    plan: PlanInputs, fit: Any, params: Any, lang: str, lab: dict[str, str]
) -> list[dict[str, Any]]:
    t = plan.targets
    sc = plan.primary_scenario
    quotas = t[(t.scenario == sc) & (t.level == "owner") & (t.period == "FY")]
    hist = _history_frame(fit)
    pipe = getattr(fit, "open_pipeline", None)
    out = []
    for owner in list(dict.fromkeys(quotas.name)):
        book = quotas[(quotas.name == owner) & (quotas.metric == "bookings")]
        if book.empty:
            continue
        b = book.iloc[0]
        wins = quotas[(quotas.name == owner) & (quotas.metric == "deals_won")]
        history, segs = _owner_history_line(hist, owner, lang, lab)
        mine = (pipe[pipe["owner"] == owner] if isinstance(pipe, pd.DataFrame)
                and "owner" in pipe else None)
        if not segs and mine is not None and not mine.empty:
            segs = [str(s) for s in mine["segment"].value_counts().index]
        paras = [
            lab["owner_story"].format(
                owner=owner, segment=", ".join(segs) or "–",
                quota=fmt_number(b.target, lang), prob=fmt_pct(b.attainment_probability, lang),
                p10=fmt_compact(b.p10, lang), p90=fmt_compact(b.p90, lang),
            )
        ]
        if history:
            paras.append(history)
        if mine is not None:
            if mine.empty:
                paras.append(lab["owner_no_pipeline"])
            else:
                paras.append(lab["owner_pipeline"].format(
                    n=fmt_number(len(mine), lang),
                    value=fmt_number(float(mine["amount"].fillna(0).sum()), lang),
                    age=fmt_number(float(mine["age_days"].median()), lang),
                ))
        n_wins = float(wins.iloc[0].target) if not wins.empty else float("nan")
        size = b.target / n_wins if math.isfinite(n_wins) and n_wins > 0 else float("nan")
        new = _expected_new_opportunities(plan, params, owner)
        key = "owner_produce" if math.isfinite(new) else "owner_produce_pipeline"
        paras.append(lab[key].format(
            wins=fmt_number(n_wins, lang), size=fmt_number(size, lang),
            new=fmt_number(new, lang),
        ))
        if segs:
            paras.append(_capacity_line(plan, segs[0], lang, lab))
        out.append({"owner": owner, "paragraphs": paras})
    return out


def _kpis(plan: PlanInputs, lang: str) -> list[dict[str, str]]:
    fs = plan.fit_summary
    wide = set(figures.wide_parameters(fs).index)
    rows = []
    for i, r in fs.iterrows():
        is_rate = r.parameter in figures.RATE_PARAMETERS

        def f(v: float, is_rate: bool = is_rate) -> str:
            if is_rate:
                return fmt_pct(v, lang, 1)
            return fmt_number(v, lang, 1 if abs(v) < 100 else 0)

        rows.append({
            "segment": r.segment, "parameter": r.parameter, "stage": r.stage,
            "mean": f(r["mean"]), "interval": f"{f(r.q05)} – {f(r.q95)}", "wide": i in wide,
        })
    return rows


def _indicators(plan: PlanInputs, lang: str) -> list[dict[str, Any]] | None:
    ind = plan.optional.get("indicators")
    if ind is None:
        return None
    rows = []
    for r in ind.itertuples(index=False):
        rows.append({
            "scenario": r.scenario, "segment": r.segment, "period": r.period,
            "target": fmt_number(r.target, lang),
            "new_opportunities": fmt_number(r.new_opportunities, lang),
            "wins_needed": fmt_number(r.wins_needed, lang),
            "pipeline_at_quarter_start": fmt_number(r.pipeline_at_quarter_start, lang),
            "pipeline_coverage": fmt_number(r.pipeline_coverage, lang, 2) + "×",
            "weekly_new_opportunities": fmt_number(r.weekly_new_opportunities, lang, 1),
            "weekly_wins": fmt_number(r.weekly_wins, lang, 1),
        })
    return rows


def _ppc(plan: PlanInputs, fit: Any, params: Any, lang: str) -> list[dict[str, Any]] | None:
    if params is None:
        return None
    pred = figures.predictive_last_year(params, random_seed=int(plan.plan.get("seed", 0)))
    seg_rows = _segment_rows(_history_frame(fit))
    rows = []
    for seg, sims in pred.items():
        checks = []
        for key, col, var in (("bookings_12m", "bookings_last_365", "bookings"),
                              ("wins_12m", "won_last_365", "wins")):
            if seg in seg_rows.index and col in seg_rows.columns:
                checks.append((key, sims[var], float(seg_rows.loc[seg, col])))
        for key, sims_x, observed in checks:
            if not math.isfinite(observed):
                continue
            lo, hi = np.quantile(sims_x, [0.05, 0.95])
            rows.append({
                "segment": seg, "what": key, "observed": fmt_number(observed, lang),
                "band": f"{fmt_number(lo, lang)} – {fmt_number(hi, lang)}",
                "ok": bool(lo <= observed <= hi),
            })
    return rows


def _generic_table(df: pd.DataFrame | None, lang: str) -> dict[str, Any] | None:
    if df is None:
        return None
    cols = list(df.columns)
    rows = []
    for r in df.itertuples(index=False):
        cells = []
        for c, v in zip(cols, r, strict=True):
            if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
                v = float(v)
                if not math.isfinite(v):
                    cells.append("–")
                elif "probab" in c or "share" in c:
                    cells.append(fmt_pct(v, lang))
                else:
                    cells.append(fmt_number(v, lang, 0 if abs(v) >= 100 or v == round(v) else 2))
            else:
                cells.append("" if v is None or (isinstance(v, float) and math.isnan(v))
                             else str(v))
        rows.append(cells)
    return {"columns": cols, "rows": rows}


def _tiers(plan: PlanInputs, lang: str, lab: dict[str, str]) -> dict[str, Any] | None:
    """tiers.csv pivoted: one row per scenario and name (FY bookings), one column per tier."""
    df = plan.optional.get("tiers")
    if df is None or not {"tier", "probability", "target"} <= set(df.columns):
        return None
    df = df[(df["period"] == "FY") & (df["metric"] == "bookings")]
    order = (df[["tier", "probability"]].drop_duplicates("tier")
             .sort_values("probability", ascending=False))
    columns = [(str(tr), fmt_pct(float(pr), lang)) for tr, pr in order.itertuples(index=False)]
    rows = []
    for (sc, level, name), grp in df.groupby(["scenario", "level", "name"], sort=False):
        by_tier = dict(zip(grp["tier"], grp["target"], strict=True))
        rows.append({
            "scenario": sc,
            "level": lab["total"] if level == "total" else
            lab["segments"] if level == "segment" else lab["owners"],
            "name": lab["total"] if level == "total" else name,
            "cells": [fmt_number(by_tier.get(tr), lang) for tr, _ in columns],
        })
    return {"columns": columns, "rows": rows}


def _objectives(text: str | None) -> list[dict[str, str]] | None:
    """Markdown reduced to headings, bullets and paragraphs (shown as text, escaped later)."""
    if text is None:
        return None
    blocks = []
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            blocks.append({"kind": "h", "text": s.lstrip("#").strip()})
        elif s[:2] in ("- ", "* "):
            blocks.append({"kind": "li", "text": s[2:].replace("**", "")})
        else:
            blocks.append({"kind": "p", "text": s.replace("**", "")})
    return blocks


def build_context(
    plan: PlanInputs, *, lang: str, fit: Any | None = None, fit_note: str | None = None
) -> dict[str, Any]:
    """Everything the template shows, already formatted in ``lang``."""
    lab = labels(lang)
    rows, control = _targets_table(plan, lang, lab)
    params = None
    if fit is not None:
        params = fit.params(n_draws=PPC_DRAWS, random_seed=int(plan.plan.get("seed", 0)))
    diag = plan.diagnostics
    rhat = diag.get("rhat_max")
    diag_text = (lab["converged_yes"] if diag.get("converged") else lab["converged_no"]).format(
        rhat=fmt_number(rhat, lang, 3) if isinstance(rhat, int | float) else "–",
        ess=fmt_number(diag.get("ess_bulk_min"), lang)
        if isinstance(diag.get("ess_bulk_min"), int | float) else "–",
        div=diag.get("divergences", "–"),
    )
    wide = figures.wide_parameters(plan.fit_summary)
    missing = {
        k: lab["missing_file"].format(file=f"{k}.{'md' if k == 'objectives' else 'csv'}")
        for k, v in plan.optional.items() if v is None
    }
    as_of = plan.plan.get("as_of") or plan.projection.attrs.get("as_of", "–")
    return {
        "lang": lang,
        "L": lab,
        "generated": lab["generated"].format(
            as_of=as_of, seed=plan.plan.get("seed", plan.projection.attrs.get("seed", "–")),
            version=plan.plan.get("version", __version__),
        ),
        "headline": _headline(plan, lang),
        "charts": _charts(plan, lang, lab),
        "rows": rows,
        "control": json_for_html(control),
        "control_labels": control["grid_labels"],
        "control_default": control["default"],
        "periods": [(p, fmt_period(p, lab)) for p in control["periods"]],
        "scenarios": plan.scenarios,
        "primary": plan.primary_scenario,
        "stress": _stress(plan, lang, lab),
        "owners": _owners(plan, fit, params, lang, lab),
        "fit_note": None if fit is not None else lab["missing_fit"].format(
            reason=fit_note or "fit.nc not found"),
        "kpis": _kpis(plan, lang),
        "indicators": _indicators(plan, lang),
        "diag_text": diag_text,
        "converged": bool(diag.get("converged")),
        "problems": [str(p) for p in diag.get("problems", []) or []],
        "ppc": _ppc(plan, fit, params, lang),
        "wide": [
            {"segment": r.segment, "parameter": r.parameter, "stage": r.stage,
             "interval": f"{fmt_number(r.q05, lang, 2)} – {fmt_number(r.q95, lang, 2)}"}
            for r in wide.itertuples(index=False)
        ],
        "tiers": _tiers(plan, lang, lab),
        "allocation": _generic_table(plan.optional.get("allocation"), lang),
        "topdown": _generic_table(plan.optional.get("topdown"), lang),
        "quotas": quota_section(plan.out_dir, lang, str(plan.plan.get("currency", "$"))),
        "objectives": _objectives(plan.optional.get("objectives")),
        "missing": missing,
    }


def render_html(context: dict[str, Any]) -> str:
    """Render report.html from a :func:`build_context` dictionary."""
    return _env().get_template("report.html.j2").render(**context)
