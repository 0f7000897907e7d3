"""Files of ``targetsim track`` and ``targetsim backtest``: CSV tables and a self-contained HTML.

Every file is written atomically. ``track.html`` is a standalone page (no scripts, no
external resources, every value escaped by jinja2's autoescape) written next to
``report.html`` when the plan has one, so the report's owner can link or embed it.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd

from targetsim.io import write_csv_atomic, write_text_atomic
from targetsim.track.backtest import BacktestResult
from targetsim.track.track import TrackResult

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Tracking {{ as_of }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td.l,th.l{text-align:left}
tr.fired td{background:#fde8e8}
.low{color:#b00020;font-weight:bold}
</style></head><body>
<section id="track">
<h2>Tracking as of {{ as_of }} (plan as of {{ plan_as_of }})</h2>
{% for n in notes %}<p class="note">{{ n }}</p>{% endfor %}
<h3>Targets: probability given what is booked and today's pipeline</h3>
<table><tr>{% for c in target_cols %}<th class="{{ 'l' if loop.index <= 5 }}">{{ c }}</th>
{% endfor %}</tr>
{% for r in targets %}<tr>{% for c in target_cols %}
<td class="{{ 'l' if loop.index <= 5 }}{{ ' low' if c == 'probability_now' and r['low'] }}">
{{ r[c] }}</td>{% endfor %}</tr>
{% endfor %}</table>
<h3>Early warnings ({{ n_fired }} of {{ warnings|length }} checks fired; each check fires
with probability at most 2.5 % on data that follow the plan)</h3>
<table><tr><th class="l">check</th><th class="l">segment</th><th>fired</th>
<th class="l">evidence</th></tr>
{% for w in warnings %}<tr class="{{ 'fired' if w.triggered }}"><td class="l">{{ w.check }}</td>
<td class="l">{{ w.segment }}</td><td>{{ 'yes' if w.triggered else 'no' }}</td>
<td class="l">{{ w.evidence }}</td></tr>
{% endfor %}</table>
</section></body></html>
"""


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "" if pd.isna(v) else f"{v:,.0f}"
    return str(v)


def render_track_html(result: TrackResult) -> str:
    """The tracking section as a standalone, escaped HTML page."""
    cols = ["scenario", "level", "name", "period", "metric", "target", "booked_to_date",
            "attainment_to_date", "gap", "plan_probability", "probability_now", "p10", "p50",
            "p90"]
    rows = []
    for r in result.table.to_dict("records"):
        row = {c: _fmt(r[c]) for c in cols}
        if r["metric"] == "deals_won":
            for c in ("target", "booked_to_date", "gap", "p10", "p50", "p90"):
                row[c] = f"{float(r[c]):,.0f}"
        row["attainment_to_date"] = (
            "" if pd.isna(r["attainment_to_date"]) else f"{r['attainment_to_date']:.0%}"
        )
        for c in ("plan_probability", "probability_now"):
            row[c] = "" if pd.isna(r[c]) else f"{r[c]:.0%}"
        pp = r["plan_probability"]
        row["low"] = bool(pd.notna(pp) and r["probability_now"] < pp - 0.1)
        rows.append(row)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    warns = list(result.warnings.itertuples(index=False))
    return env.from_string(_PAGE).render(
        as_of=result.as_of.date(), plan_as_of=result.plan_as_of.date(), notes=result.notes,
        target_cols=cols, targets=rows, warnings=warns,
        n_fired=int(result.warnings["triggered"].sum()) if len(result.warnings) else 0,
    )


def write_track(result: TrackResult, out_dir: str | Path, *, html: bool) -> list[Path]:
    """Write ``track.csv``, ``track_warnings.csv`` and, if ``html``, ``track.html``."""
    out = Path(out_dir)
    files = []
    for name, frame in (("track.csv", result.table), ("track_warnings.csv", result.warnings)):
        files.append(write_csv_atomic(frame, out / name))
    if html:
        files.append(write_text_atomic(out / "track.html", render_track_html(result)))
    return files


def write_backtest(result: BacktestResult, out_dir: str | Path) -> list[Path]:
    """Write ``backtest.csv`` (one row per forecast) and ``backtest_scorecard.csv``."""
    out = Path(out_dir)
    files = []
    for name, frame in (("backtest.csv", result.table),
                        ("backtest_scorecard.csv", result.scorecard)):
        files.append(write_csv_atomic(frame, out / name))
    return files
