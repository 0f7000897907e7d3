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

from targetsim.io import write_csv_atomic, write_text_atomic
from targetsim.track.backtest import BacktestResult
from targetsim.track.track import TrackResult

_PAGE = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
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
@media print{body{max-width:none;padding:0;font-size:9pt}table{font-size:7.5pt}
td.num,th.num{white-space:normal}}
</style></head><body>
<section id="track">
<h1>{{ title }}</h1>
<p class="note">{{ intro }} {% for n in notes %}{{ n }} {% endfor %}</p>
<h2 id="warnings">{{ L.warnings }}</h2>
{% if fired %}{% for w in fired %}<p class="warn"><strong>{{ w.title }}</strong>
{{ w.evidence }}</p>{% endfor %}
{% else %}<p class="ok">{{ no_warning }}</p>{% endif %}
<h2>{{ targets_title }}</h2>
<p class="note"><span class="light green"></span> {{ L.legend_green }} ·
<span class="light amber"></span> {{ L.legend_amber }} ·
<span class="light red"></span> {{ L.legend_red }}.</p>
<table id="track-table"><thead><tr><th></th><th>{{ L.target }}</th><th>{{ L.period }}</th>
<th class="num">{{ L.quota }}</th>
<th class="num">{{ L.booked }}</th><th class="num">{{ L.done }}</th>
<th class="num">{{ L.plan }}</th>
<th class="num">{{ L.now }}</th>
<th class="num">{{ L.range }}</th></tr></thead><tbody>
{% for r in main %}<tr>
<td><span class="light {{ r.light }}" title="{{ r.light_label }}"></span></td>
<td>{{ r.name }}</td><td>{{ r.period }}</td><td class="num">{{ r.target }}</td>
<td class="num">{{ r.booked }}</td><td class="num">{{ r.done }}</td>
<td class="num">{{ r.plan }}</td>
<td class="num"><strong>{{ r.now }}</strong></td><td class="num">{{ r.band }}</td></tr>
{% endfor %}</tbody></table>
{% if reps %}<details><summary>{{ reps_title }}</summary>
<table id="track-reps"><thead><tr><th></th><th>{{ L.rep }}</th><th>{{ L.period }}</th>
<th class="num">{{ L.quota }}</th>
<th class="num">{{ L.booked }}</th><th class="num">{{ L.plan }}</th><th class="num">{{ L.now }}</th>
</tr></thead><tbody>
{% for r in reps %}<tr>
<td><span class="light {{ r.light }}" title="{{ r.light_label }}"></span></td>
<td>{{ r.rep }}</td><td>{{ r.period }}</td><td class="num">{{ r.target }}</td>
<td class="num">{{ r.booked }}</td><td class="num">{{ r.plan }}</td>
<td class="num"><strong>{{ r.now }}</strong></td></tr>
{% endfor %}</tbody></table></details>{% endif %}
<p class="note">{{ L.files }}</p>
</section></body></html>
"""


def light(probability_now: float, plan_probability: float) -> str:
    """Traffic light of a target: green, amber or red."""
    if probability_now != probability_now:
        return "amber"
    ref = plan_probability if plan_probability == plan_probability else 0.6
    if probability_now >= ref - 0.05:
        return "green"
    return "amber" if probability_now >= 0.4 else "red"


def _evidence(r: object, lab: dict[str, str], lang: str) -> str:
    """A check's evidence in the reader's language, from its numbers (track_warnings.csv
    keeps the English sentence with every detail)."""
    from targetsim import formatting as F

    check = str(r.check)  # type: ignore[attr-defined]
    if check == "coverage":
        def fm(v: float) -> str:
            return F.number(v, lang, 1) + "×"
    else:
        def fm(v: float) -> str:
            return F.number(v, lang)
    template = lab.get(f"ev_{check}")
    if template is None:
        return str(r.evidence)  # type: ignore[attr-defined]
    return template.format(observed=fm(r.observed), expected=fm(r.expected),  # type: ignore[attr-defined]
                           threshold=fm(r.threshold))  # type: ignore[attr-defined]


def render_track_html(result: TrackResult, lang: str = "en", currency: str = "USD") -> str:
    """track.html: warnings first, in words; one row per target with a traffic light.

    Parameters
    ----------
    result : TrackResult
    lang : {"en", "fr"}
        Language of every word and number (:mod:`targetsim.formatting`).
    currency : str
        ISO 4217 code of the amounts (the plan's).
    """
    from targetsim import formatting as F
    from targetsim.report.i18n import TRACK_LABELS

    lab = TRACK_LABELS[F.check_lang(lang)]
    cur = F.check_currency(currency)
    t = result.table
    names = list(dict.fromkeys(t["scenario"].astype(str)))
    scenario = "baseline" if "baseline" in names else names[0]

    def val(v: float, metric: str) -> str:
        return F.money_compact(v, lang, cur) if metric == "bookings" else F.number(v, lang)

    def fmt_row(r: dict) -> dict:
        metric = str(r["metric"])
        pp = float(r["plan_probability"])
        label = lab["company"] if r["level"] == "total" else str(r["name"])
        colour = light(float(r["probability_now"]), pp)
        return {
            "name": f"{label} · {lab[metric] if metric in lab else metric}",
            "rep": str(r["name"]),
            "period": lab["FY"] if r["period"] == "FY" else F.quarter(str(r["period"]), lang),
            "target": val(r["target"], metric), "booked": val(r["booked_to_date"], metric),
            "done": F.percent(r["attainment_to_date"], lang), "plan": F.percent(pp, lang),
            "now": F.percent(r["probability_now"], lang),
            "band": F.span(val(r["p10"], metric), val(r["p90"], metric)),
            "light": colour, "light_label": lab[colour],
        }

    sel = t[t["scenario"].astype(str) == scenario]
    main = [fmt_row(r) for r in sel[sel["level"] != "owner"].to_dict("records")]
    reps = [fmt_row(r) for r in sel[(sel["level"] == "owner")
                                    & (sel["metric"] == "bookings")].to_dict("records")]
    w = result.warnings
    fired = []
    if len(w):
        for r in w[w["triggered"]].itertuples(index=False):
            fired.append({"title": lab["warning_title"].format(
                segment=r.segment, title=lab.get("check_" + str(r.check), str(r.check))),
                          "evidence": _evidence(r, lab, lang)})
    if result.note_keys:
        notes = [lab[k].format(**{n: F.long_date(v, lang) for n, v in kw.items()})
                 for k, kw in result.note_keys]
    else:  # a result built by hand: its notes as given
        notes = [f"{n}." for n in result.notes]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_PAGE).render(
        lang=lang, L=lab,
        title=lab["title"].format(as_of=F.long_date(result.as_of, lang)),
        intro=lab["intro"].format(plan_as_of=F.long_date(result.plan_as_of, lang)),
        notes=notes, fired=fired, no_warning=lab["no_warning"].format(n=len(w)),
        targets_title=lab["targets"].format(scenario=F.scenario_label(scenario, lang)),
        main=main, reps=reps,
        reps_title=lab["reps"].format(n=len(reps),
                                      red=sum(1 for r in reps if r["light"] == "red")),
    )


def write_track(result: TrackResult, out_dir: str | Path, *, html: bool, lang: str = "en",
                currency: str = "USD") -> list[Path]:
    """Write ``track.csv``, ``track_warnings.csv`` and, if ``html``, ``track.html`` (in
    ``lang``, amounts in ``currency``)."""
    out = Path(out_dir)
    files = []
    for name, frame in (("track.csv", result.table), ("track_warnings.csv", result.warnings)):
        files.append(write_csv_atomic(frame, out / name))
    if html:
        files.append(write_text_atomic(out / "track.html",
                                       render_track_html(result, lang, currency)))
    return files


def write_backtest(result: BacktestResult, out_dir: str | Path) -> list[Path]:
    """Write ``backtest.csv`` (one row per forecast), ``backtest_scorecard.csv`` and
    ``backtest_verdict.md`` (the verdict in words)."""

    out = Path(out_dir)
    files = []
    for name, frame in (("backtest.csv", result.table),
                        ("backtest_scorecard.csv", result.scorecard)):
        files.append(write_csv_atomic(frame, out / name))
    text = "# Backtest verdict\n\n" + "".join(f"- {line}\n" for line in result.verdict())
    files.append(write_text_atomic(out / "backtest_verdict.md", text))
    return files
