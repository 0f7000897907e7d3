"""Objectives in words: SMART statements and OKRs, in English and French.

Every figure comes from the calibrated tables (targets, indicators, allocation, stress,
top-down); this module only words them.

Formatting
----------
* English: ``$1.23M``, ``$950k``, ``60%``, dates ``December 31, 2027``.
* French: ``1,23 M$``, ``950 k€``, ``60 %`` (decimal comma, narrow no-break space U+202F
  before units and ``%`` and as the thousands separator), dates ``31/12/2027``.
* Currency: ``--currency`` (default ``$`` in both languages). The currency is a property of
  the data, not of the language: switching the report to French must not turn dollars into
  euros, so the symbol is never inferred from ``--lang``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from targetsim.calibrate.allocation import AllocationSummary
from targetsim.calibrate.periods import FY
from targetsim.errors import ConfigError
from targetsim.safe_text import escape_markdown as md

NNBSP = "\u202f"
LANGS = ("en", "fr")
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)


def check_lang(lang: str) -> str:
    """Validate ``--lang``."""
    if lang not in LANGS:
        raise ConfigError(f"--lang: expected one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def format_number(value: float, lang: str = "en", decimals: int = 0) -> str:
    """A plain number with the language's separators (``12,345.6`` / ``12 345,6``)."""
    if not math.isfinite(value):
        return "n/a" if lang == "en" else "n.d."
    s = f"{abs(value):,.{decimals}f}"
    if lang == "fr":
        s = s.replace(",", NNBSP).replace(".", ",")
    return ("-" if value < 0 else "") + s


def _unit(v: float) -> str:
    return "M" if v >= 1e6 else ("k" if v >= 1e4 else "")


def _compact(v: float, unit: str, lang: str) -> str:
    """``v`` in ``unit`` (``M``, ``k`` or none) with 3 significant figures at most."""
    num = v / {"M": 1e6, "k": 1e3, "": 1.0}[unit]
    if unit:
        digits = 2 if num < 10 else (1 if num < 100 else 0)
        text = f"{num:.{digits}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        text = f"{num:,.0f}"
    if lang == "fr":
        text = text.replace(",", NNBSP).replace(".", ",")
    return text


def format_money(value: float, lang: str = "en", currency: str = "$") -> str:
    """Compact money: ``$1.23M`` / ``1,23 M$``; ``$950k`` / ``950 k$``; ``$420`` / ``420 $``."""
    if not math.isfinite(value):
        return "n/a" if lang == "en" else "n.d."
    unit = _unit(abs(value))
    text = ("-" if value < 0 else "") + _compact(abs(value), unit, lang)
    return f"{text}{NNBSP}{unit}{currency}" if lang == "fr" else f"{currency}{text}{unit}"


def format_range(lo: float, hi: float, lang: str = "en", currency: str = "$") -> str:
    """A band in the unit of its upper end: ``$0.9–1.5M`` / ``0,9–1,5 M€``.

    The lower end is written in the same unit when it is at least a tenth of it
    (``0,9–1,5 M€``), else each end gets its own (``95 k€–1,5 M€``).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0:
        return f"{format_money(lo, lang, currency)}–{format_money(hi, lang, currency)}"
    unit = _unit(hi)
    scale = {"M": 1e6, "k": 1e3, "": 1.0}[unit]
    if lo < 0.1 * scale and unit:
        return f"{format_money(lo, lang, currency)}–{format_money(hi, lang, currency)}"
    a, b = _compact(lo, unit, lang), _compact(hi, unit, lang)
    return f"{a}–{b}{NNBSP}{unit}{currency}" if lang == "fr" else f"{currency}{a}–{b}{unit}"


def format_percent(p: float, lang: str = "en") -> str:
    """``60%`` / ``60 %`` (whole percents; one decimal below 1 % and above 99 %)."""
    if not math.isfinite(p):
        return "n/a" if lang == "en" else "n.d."
    x = 100 * p
    text = f"{x:.1f}" if (0 < x < 1 or 99 < x < 100) else f"{x:.0f}"
    if lang == "fr":
        return text.replace(".", ",") + NNBSP + "%"
    return text + "%"


def format_date(ts: pd.Timestamp, lang: str = "en") -> str:
    """``December 31, 2027`` / ``31/12/2027``."""
    ts = pd.Timestamp(ts)
    if lang == "fr":
        return ts.strftime("%d/%m/%Y")
    return f"{_MONTHS_EN[ts.month - 1]} {ts.day}, {ts.year}"


_T = {
    "en": {
        "title": "# Objectives ({scenario} scenario, probability {p})",
        "intro": (
            "Targets are set so that each is reached with probability {p} under the "
            "**{scenario}** scenario (SMART: specific, measurable, achievable with its "
            "stated probability, relevant, time-bound). The range is the p10–p90 band of the "
            "simulated outcome. Ambition is aligned with capacity: every figure comes from "
            "the simulated pipeline, win rates, cycles and headcount, not from last year "
            "plus a percentage."
        ),
        "smart_h": "## SMART targets (full year)",
        "smart_total": (
            "Reach {target} of signed bookings company-wide (at least {deals} deals won) by "
            "{date} (probability {prob}, range {band})."
        ),
        "smart_seg": (
            "Reach {target} of signed bookings in segment {name} (at least {deals} deals "
            "won) by {date} (probability {prob}, range {band})."
        ),
        "smart_owner": (
            "{name}: reach {target} of signed bookings by {date} (probability {prob}, "
            "range {band})."
        ),
        "owners_h": "### Individual targets (owners, each at probability {p})",
        "okr_h": "## OKRs per segment",
        "okr_obj": "### Objective: make {name} deliver {target} of signed bookings by {date}",
        "kr_book": (
            "KR1 (KPI): signed bookings ≥ {target}, with quarterly milestones {milestones}."
        ),
        "kr_wins": "KR2: win at least {wins} deals ({weekly} per week).",
        "kr_new": (
            "KR3: create at least {new} new opportunities over the year ({weekly} per week)."
        ),
        "kr_cov": (
            "KR4: start each quarter with a pipeline coverage (open pipeline ÷ quarter "
            "target) of at least {detail}; derived from the model's own cycles and win "
            "rates, not a rule of thumb."
        ),
        "coll_h": "## Collective vs individual targets",
        "coll": (
            "Split at equal probability across {what}, the company target of {company} "
            "gives every part the same probability {q} of reaching its share; the expected "
            "share of {who} reaching their target is {share}. Team vs sum: the {n} "
            "individual targets each set at {p} add up to {sumq}, while the company number "
            "at {p} is {companyp}; the company total reaches the sum of individual targets "
            "with probability {psum}."
        ),
        "what_segment": "segments", "what_owner": "owners (reps)",
        "who_segment": "segments", "who_owner": "reps",
        "scen_h": "## Growth vs tension scenarios",
        "scen": (
            "Scenario **{scenario}**: company target {target} (probability {prob}, range "
            "{band})."
        ),
        "stress_h": "### Which {ref} targets still hold under other scenarios?",
        "stress": "Under **{scenario}**, the {ref} company target of {target} is reached with "
                  "probability {prob}; segment targets: {detail}.",
        "td_h": "## Top-down meets bottom-up: the company target of {target}",
        "td": "Scenario **{scenario}**: probability {prob} of reaching it. To lift it to {p}: "
              "{levers}.",
        "or": " or ",
    },
    "fr": {
        "title": "# Objectifs (scénario {scenario}, probabilité {p})",
        "intro": (
            "Chaque objectif est atteint avec une probabilité de {p} dans le scénario "
            "**{scenario}** (SMART : spécifique, mesurable, atteignable avec sa probabilité "
            "affichée, pertinent, temporellement défini). La fourchette est la bande p10–p90 "
            "du résultat simulé. L'ambition est alignée avec la capacité : chaque chiffre "
            "vient du pipeline simulé, des taux de transformation, des cycles et des "
            "effectifs, pas de l'an dernier plus un pourcentage."
        ),
        "smart_h": "## Objectifs SMART (année complète)",
        "smart_total": (
            "Atteindre {target} de chiffre d'affaires signé pour l'entreprise (au moins "
            "{deals} affaires gagnées) d'ici le {date} (probabilité {prob}, fourchette "
            "{band})."
        ),
        "smart_seg": (
            "Atteindre {target} de chiffre d'affaires signé sur le segment {name} (au moins "
            "{deals} affaires gagnées) d'ici le {date} (probabilité {prob}, fourchette "
            "{band})."
        ),
        "smart_owner": (
            "{name} : atteindre {target} de chiffre d'affaires signé d'ici le {date} "
            "(probabilité {prob}, fourchette {band})."
        ),
        "owners_h": "### Objectifs individuels (commerciaux, chacun à une probabilité de {p})",
        "okr_h": "## OKR par segment",
        "okr_obj": "### Objectif : porter le segment {name} à {target} de chiffre d'affaires "
                   "signé d'ici le {date}",
        "kr_book": (
            "KR1 (KPI) : chiffre d'affaires signé ≥ {target}, avec les jalons trimestriels "
            "{milestones}."
        ),
        "kr_wins": "KR2 : gagner au moins {wins} affaires ({weekly} par semaine).",
        "kr_new": (
            "KR3 : créer au moins {new} nouvelles opportunités sur l'année ({weekly} par "
            "semaine)."
        ),
        "kr_cov": (
            "KR4 : commencer chaque trimestre avec une couverture du pipeline (pipeline "
            "ouvert ÷ objectif du trimestre) d'au moins {detail} ; tirée des cycles et taux "
            "de transformation du modèle, pas d'une règle empirique."
        ),
        "coll_h": "## Objectifs collectifs et individuels",
        "coll": (
            "Réparti à probabilité égale entre les {what}, l'objectif de l'entreprise de "
            "{company} donne à chacun la même probabilité {q} d'atteindre sa part ; la part "
            "attendue des {who} qui atteignent leur objectif est de {share}. Équipe et "
            "somme : les {n} objectifs individuels fixés chacun à {p} totalisent {sumq}, "
            "alors que l'objectif de l'entreprise à {p} est de {companyp} ; le total de "
            "l'entreprise atteint la somme des objectifs individuels avec une probabilité "
            "de {psum}."
        ),
        "what_segment": "segments", "what_owner": "commerciaux",
        "who_segment": "segments", "who_owner": "commerciaux",
        "scen_h": "## Scénarios de croissance et de tension",
        "scen": (
            "Scénario **{scenario}** : objectif de l'entreprise {target} (probabilité {prob}, "
            "fourchette {band})."
        ),
        "stress_h": "### Quels objectifs du scénario {ref} tiennent dans les autres scénarios ?",
        "stress": "Dans le scénario **{scenario}**, l'objectif {ref} de l'entreprise de "
                  "{target} est atteint avec une probabilité de {prob} ; objectifs des "
                  "segments : {detail}.",
        "td_h": "## Descendant et ascendant : l'objectif de l'entreprise de {target}",
        "td": "Scénario **{scenario}** : probabilité de l'atteindre {prob}. Pour la porter à "
              "{p} : {levers}.",
        "or": " ou ",
    },
}


def _row(targets: pd.DataFrame, scenario: str, level: str, name: str, period: str,
         metric: str) -> pd.Series | None:
    sel = targets.loc[
        targets["scenario"].eq(scenario) & targets["level"].eq(level)
        & targets["name"].eq(name) & targets["period"].eq(period)
        & targets["metric"].eq(metric)
    ]
    return None if sel.empty else sel.iloc[0]


def write_objectives(
    targets: pd.DataFrame,
    indicators: pd.DataFrame,
    *,
    scenario: str,
    probability: float,
    horizon_end: pd.Timestamp,
    allocation: Sequence[AllocationSummary] = (),
    stress: pd.DataFrame | None = None,
    topdown: pd.DataFrame | None = None,
    lang: str = "en",
    currency: str = "$",
) -> str:
    """objectives.md: SMART statements, OKRs, collective vs individual, scenarios.

    Parameters
    ----------
    targets, indicators : DataFrame
        targets.csv and indicators.csv.
    scenario : str
        Scenario the objectives are stated on (the reference scenario).
    probability : float
    horizon_end : Timestamp
        Deadline of FY targets.
    allocation, stress, topdown : optional
        Allocation summaries, stress.csv and topdown.csv.
    lang : {"en", "fr"}
    currency : str

    Returns
    -------
    str
        Markdown text.
    """
    t = _T[check_lang(lang)]
    # Names (segments, owners, scenarios) and the currency come from the user: escaped with
    # targetsim.safe_text.escape_markdown (md) wherever they land in the Markdown.
    currency = md(currency)

    def money(v: float) -> str:
        return format_money(v, lang, currency)

    def pct(v: float) -> str:
        return format_percent(v, lang)

    def band(r: pd.Series) -> str:
        return format_range(r["p10"], r["p90"], lang, currency)

    date = format_date(horizon_end, lang)
    p = pct(probability)
    out = [t["title"].format(scenario=md(scenario), p=p), "", t["intro"].format(p=p,
           scenario=md(scenario)), "", t["smart_h"], ""]
    fy = targets.loc[
        targets["scenario"].eq(scenario) & targets["period"].eq(FY)
        & targets["metric"].eq("bookings")
    ]
    for _, r in fy.loc[fy["level"].isin(["total", "segment"])].iterrows():
        deals = _row(targets, scenario, r["level"], r["name"], FY, "deals_won")
        key = "smart_total" if r["level"] == "total" else "smart_seg"
        out.append("- " + t[key].format(
            target=money(r["target"]), name=md(r["name"]), date=date,
            deals=format_number(deals["target"] if deals is not None else float("nan"), lang),
            prob=pct(r["attainment_probability"]), band=band(r)))
    owners = fy.loc[fy["level"].eq("owner")]
    if not owners.empty:
        out += ["", t["owners_h"].format(p=p), ""]
        for _, r in owners.iterrows():
            out.append("- " + t["smart_owner"].format(
                name=md(r["name"]), target=money(r["target"]), date=date,
                prob=pct(r["attainment_probability"]), band=band(r)))

    out += ["", t["okr_h"], ""]
    ind = indicators.loc[indicators["scenario"].eq(scenario)]
    for _, r in fy.loc[fy["level"].eq("segment")].iterrows():
        seg = ind.loc[ind["segment"].eq(r["name"])]
        deals = _row(targets, scenario, "segment", r["name"], FY, "deals_won")
        wins = deals["target"] if deals is not None else float("nan")
        new = float(seg["new_opportunities"].sum())
        milestones = ", ".join(f"{q} {money(v)}" for q, v in zip(seg["period"], seg["target"],
                                                                   strict=True))
        cov = seg["pipeline_coverage"].dropna()
        detail = ", ".join(
            f"{q} {format_number(c, lang, 2)}x" for q, c in zip(seg["period"],
                                                               seg["pipeline_coverage"],
                                                               strict=True)
            if math.isfinite(c)
        )
        out.append(t["okr_obj"].format(name=md(r["name"]), target=money(r["target"]), date=date))
        out.append("")
        out.append("- " + t["kr_book"].format(target=money(r["target"]), milestones=milestones))
        out.append("- " + t["kr_wins"].format(
            wins=format_number(wins, lang), weekly=format_number(wins / 52, lang, 1)))
        out.append("- " + t["kr_new"].format(
            new=format_number(new, lang), weekly=format_number(new / 52, lang, 1)))
        if not cov.empty:
            out.append("- " + t["kr_cov"].format(detail=detail))
        out.append("")

    summ = [a for a in allocation if a.scenario == scenario]
    if summ:
        out += [t["coll_h"], ""]
        for a in summ:
            n = int((targets["scenario"].eq(scenario) & targets["level"].eq(a.level)
                     & targets["period"].eq(FY) & targets["metric"].eq("bookings")).sum())
            out.append("- " + t["coll"].format(
                what=t[f"what_{a.level}"], who=t[f"who_{a.level}"],
                company=money(a.company_target), q=pct(a.common_probability),
                share=pct(a.expected_share_reaching), n=n, p=p,
                sumq=money(a.sum_of_quotas_at_p), companyp=money(a.company_at_p),
                psum=pct(a.p_company_reaches_sum)))
        out.append("")

    totals = targets.loc[targets["level"].eq("total") & targets["period"].eq(FY)
                         & targets["metric"].eq("bookings")]
    if len(totals) > 1:
        out += [t["scen_h"], ""]
        for _, r in totals.iterrows():
            out.append("- " + t["scen"].format(
                scenario=md(r["scenario"]), target=money(r["target"]),
                prob=pct(r["attainment_probability"]), band=band(r)))
        if stress is not None and not stress.empty:
            out += ["", t["stress_h"].format(ref=md(scenario)), ""]
            fy_s = stress.loc[stress["period"].eq(FY) & stress["metric"].eq("bookings")]
            for s_name, grp in fy_s.groupby("scenario", sort=False):
                tot = grp.loc[grp["level"].eq("total")].iloc[0]
                segs = grp.loc[grp["level"].eq("segment")]
                detail = ", ".join(
                    f"{md(n)} {pct(v)}" for n, v in zip(segs["name"],
                                                        segs["attainment_probability"],
                                                        strict=True))
                out.append("- " + t["stress"].format(
                    scenario=md(s_name), ref=md(scenario), target=money(tot["target"]),
                    prob=pct(tot["attainment_probability"]), detail=detail))
        out.append("")

    if topdown is not None and not topdown.empty:
        out += [t["td_h"].format(target=money(float(topdown["company_target"].iloc[0]))), ""]
        for s_name, grp in topdown.groupby("scenario", sort=False):
            levers = t["or"].join(md(c) for c in grp["change"])
            out.append("- " + t["td"].format(
                scenario=md(s_name), prob=pct(float(grp["attainment_probability"].iloc[0])),
                p=pct(float(grp["target_probability"].iloc[0])), levers=levers))
        out.append("")
    return "\n".join(out).rstrip() + "\n"
