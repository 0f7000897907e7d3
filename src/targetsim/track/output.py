"""Files of ``targetsim track`` and ``targetsim backtest``: CSV tables and a self-contained HTML.

Every file is written atomically. ``track.html`` is the page a manager reads: the early
warnings first, in words, then one row per target of the proposed scenario with a traffic
light (reps folded away), numbers written by :mod:`targetsim.formatting`. It is standalone
(no scripts, no external resources, every value escaped by jinja2's autoescape) and written
next to ``report.html`` when the plan has one.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from targetsim.io import atomic_path, write_text_atomic
from targetsim.track.backtest import BacktestResult
from targetsim.track.track import TrackResult

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tracking {{ as_of }}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1.5rem;
color:#1d2733}
h2{border-bottom:2px solid #e3e8ee;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9em}
td,th{border-bottom:1px solid #e3e8ee;padding:.25rem .55rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#f4f6f8}
.warn{border-left:4px solid #b3261e;background:#fdf0ef;padding:.4rem .8rem;margin:.4rem 0}
.ok{border-left:4px solid #1e7d3a;background:#eef7f0;padding:.4rem .8rem}
.note{color:#5b6774}
.light{display:inline-block;width:.9em;height:.9em;border-radius:50%;vertical-align:middle}
.green{background:#1e7d3a}.amber{background:#e0a100}.red{background:#b3261e}
details summary{cursor:pointer;margin:.6rem 0}
@media print{body{max-width:none;padding:0;font-size:9pt}table{font-size:7.5pt}}
</style></head><body>
<section id="track">
<h1>Tracking as of {{ as_of }}</h1>
<p class="note">Plan made on data as of {{ plan_as_of }}. Each target's probability now
combines what is already booked with a simulation of the rest of the period from today's
pipeline. {% for n in notes %}{{ n }}. {% endfor %}</p>
<h2 id="warnings">Early warnings</h2>
{% if fired %}{% for w in fired %}<p class="warn"><strong>{{ w.title }}</strong>
{{ w.evidence }}</p>{% endfor %}
{% else %}<p class="ok">No early warning: {{ n_checks }} checks, each firing at most 2.5 % of
the time on a year that follows the plan.</p>{% endif %}
<h2>Targets ({{ scenario }})</h2>
<p class="note"><span class="light green"></span> on track (probability at least the plan's
minus 5 points) · <span class="light amber"></span> at risk (40 % or more) ·
<span class="light red"></span> likely missed (under 40 %).</p>
<table id="track-table"><thead><tr><th></th><th>Target</th><th>Period</th>
<th class="num">Target</th>
<th class="num">Booked</th><th class="num">Done</th><th class="num">Plan</th>
<th class="num">Now</th>
<th class="num">Likely range</th></tr></thead><tbody>
{% for r in main %}<tr><td><span class="light {{ r.light }}" title="{{ r.light }}"></span></td>
<td>{{ r.name }}</td><td>{{ r.period }}</td><td class="num">{{ r.target }}</td>
<td class="num">{{ r.booked }}</td><td class="num">{{ r.done }}</td>
<td class="num">{{ r.plan }}</td>
<td class="num"><strong>{{ r.now }}</strong></td><td class="num">{{ r.band }}</td></tr>
{% endfor %}</tbody></table>
{% if reps %}<details><summary>Reps ({{ reps|length }} targets; {{ n_red }} likely missed)</summary>
<table id="track-reps"><thead><tr><th></th><th>Rep</th><th>Period</th><th class="num">Target</th>
<th class="num">Booked</th><th class="num">Plan</th><th class="num">Now</th></tr></thead><tbody>
{% for r in reps %}<tr><td><span class="light {{ r.light }}" title="{{ r.light }}"></span></td>
<td>{{ r.name }}</td><td>{{ r.period }}</td><td class="num">{{ r.target }}</td>
<td class="num">{{ r.booked }}</td><td class="num">{{ r.plan }}</td>
<td class="num"><strong>{{ r.now }}</strong></td></tr>
{% endfor %}</tbody></table></details>{% endif %}
<p class="note">Every scenario, metric and period is in track.csv; every check in
track_warnings.csv.</p>
</section></body></html>
"""

#: Names of the checks in words.
CHECK_TITLES = {
    "conversion": "Fewer wins than the plan expects.",
    "cycle_length": "Deals are taking longer to close.",
    "inflow": "Fewer new opportunities than the targets need.",
    "coverage": "The pipeline is thin for next quarter.",
}


def light(probability_now: float, plan_probability: float) -> str:
    """Traffic light of a target: green, amber or red."""
    if probability_now != probability_now:
        return "amber"
    ref = plan_probability if plan_probability == plan_probability else 0.6
    if probability_now >= ref - 0.05:
        return "green"
    return "amber" if probability_now >= 0.4 else "red"


def render_track_html(result: TrackResult) -> str:
    """track.html: warnings first, in words; one row per target with a traffic light."""
    from targetsim import formatting as F

    t = result.table
    names = list(dict.fromkeys(t["scenario"].astype(str)))
    scenario = "baseline" if "baseline" in names else names[0]

    def fmt_row(r: dict) -> dict:
        metric = str(r["metric"])
        val = (F.money_compact if metric == "bookings" else
               (lambda v, lang: F.number(v, lang)))
        pp = float(r["plan_probability"])
        label = "Company" if r["level"] == "total" else str(r["name"])
        what = "bookings" if metric == "bookings" else "deals won"
        return {
            "name": f"{label} · {what}",
            "period": "Full year" if r["period"] == "FY" else F.quarter(str(r["period"]), "en"),
            "target": val(r["target"], "en"), "booked": val(r["booked_to_date"], "en"),
            "done": F.percent(r["attainment_to_date"], "en"), "plan": F.percent(pp, "en"),
            "now": F.percent(r["probability_now"], "en"),
            "band": f"{val(r['p10'], 'en')} – {val(r['p90'], 'en')}",
            "light": light(float(r["probability_now"]), pp),
        }

    sel = t[t["scenario"].astype(str) == scenario]
    main = [fmt_row(r) for r in sel[sel["level"] != "owner"].to_dict("records")]
    reps = [fmt_row(r) for r in sel[(sel["level"] == "owner")
                                    & (sel["metric"] == "bookings")].to_dict("records")]
    w = result.warnings
    fired = []
    if len(w):
        for r in w[w["triggered"]].itertuples(index=False):
            fired.append({"title": f"{r.segment}: {CHECK_TITLES.get(r.check, r.check)}",
                          "evidence": r.evidence})
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_PAGE).render(
        as_of=F.long_date(result.as_of, "en"), plan_as_of=F.long_date(result.plan_as_of, "en"),
        notes=result.notes, fired=fired, n_checks=len(w), scenario=F.scenario_label(
            scenario, "en"), main=main, reps=reps,
        n_red=sum(1 for r in reps if r["light"] == "red"),
    )


def write_track(result: TrackResult, out_dir: str | Path, *, html: bool) -> list[Path]:
    """Write ``track.csv``, ``track_warnings.csv`` and, if ``html``, ``track.html``."""
    out = Path(out_dir)
    files = []
    for name, frame in (("track.csv", result.table), ("track_warnings.csv", result.warnings)):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
        files.append(out / name)
    if html:
        files.append(write_text_atomic(out / "track.html", render_track_html(result)))
    return files


def write_backtest(result: BacktestResult, out_dir: str | Path) -> list[Path]:
    """Write ``backtest.csv`` (one row per forecast) and ``backtest_scorecard.csv``."""
    out = Path(out_dir)
    files = []
    for name, frame in (("backtest.csv", result.table),
                        ("backtest_scorecard.csv", result.scorecard)):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
        files.append(out / name)
    return files
