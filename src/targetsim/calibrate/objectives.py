"""Objectives in words: SMART statements and OKRs, in English and French.

Every figure comes from the calibrated tables (targets with their quotas, indicators,
allocation, stress, top-down); this module only words them. Numbers, money and dates are
written by :mod:`targetsim.formatting` (Babel), names from the data go through
:func:`targetsim.safe_text.escape_markdown`. The number stated for a segment, a rep or a
quarter is its quota (the ``quota`` column: quotas add up to the company number and quarters
to the year), with that quota's own probability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from targetsim import formatting as fmt
from targetsim.calibrate.allocation import AllocationSummary
from targetsim.calibrate.periods import FY
from targetsim.errors import ConfigError
from targetsim.safe_text import escape_markdown

NNBSP = "\u202f"
LANGS = ("en", "fr")


def check_lang(lang: str) -> str:
    """Validate ``--lang``."""
    if lang not in LANGS:
        raise ConfigError(f"--lang: expected one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def format_number(value: float, lang: str = "en", decimals: int = 0) -> str:
    """A plain number with the language's separators (``12,345.6`` / ``12 345,6``)."""
    return fmt.number(value, lang, decimals)


def format_money(value: float, lang: str = "en", currency: str = "USD") -> str:
    """Compact money: ``$1.23M`` / ``1,23 M $US`` (:func:`targetsim.formatting.money_compact`)."""
    return fmt.money_compact(value, lang, fmt.check_currency(currency))


def format_range(lo: float, hi: float, lang: str = "en", currency: str = "USD") -> str:
    """A band, both ends compact: ``$0.9M – $1.5M``."""
    return fmt.money_range(lo, hi, lang, fmt.check_currency(currency))


def format_percent(p: float, lang: str = "en") -> str:
    """``60%`` / ``60 %`` (whole percents; one decimal below 1 % and above 99 %)."""
    return fmt.percent(p, lang)


def format_date(ts: pd.Timestamp, lang: str = "en") -> str:
    """``December 31, 2027`` / ``31 décembre 2027``."""
    return fmt.long_date(ts, lang)


_T = {
    "en": {
        "title": "# Objectives {fy} ({scenario} scenario, probability {p})",
        "intro": (
            "Each objective is reached with the probability shown under the **{scenario}** "
            "scenario (SMART: specific, measurable, achievable with its stated probability, "
            "relevant, time-bound). {company}; segment and rep quotas split it at equal "
            "probability and add up to it{over}; quarterly milestones add up to the year. "
            "The range is the p10–p90 band of the simulated outcome. "
            "Ambition is aligned with capacity: every figure comes from the simulated "
            "pipeline, win rates, cycles and headcount, and is shown beside last year's "
            "actual."
        ),
        "over": " (rep quotas add up to {k} of it)",
        "company_p": "The company number is the target reached with probability {p}",
        "company_board": "The company number is the board's {target} (probability {pc})",
        "deals": " (at least {deals} deals won)",
        "smart_h": "## SMART targets ({fy})",
        "smart_total": (
            "Book {target} company-wide{deals} by {date}: "
            "probability {prob}, range {band}.{ly}"
        ),
        "smart_seg": (
            "Book {target} in {name}{deals} by {date}: probability "
            "{prob}, range {band}.{ly}"
        ),
        "smart_owner": "{name}: book {target} by {date} (probability {prob}).{ly}",
        "ly": " Last 12 months: {actual} ({growth}).",
        "owners_h": "### Individual quotas (reps)",
        "okr_h": "## OKRs per segment",
        "okr_note": "The pipeline coverage of KR4 is derived from this funnel's own cycles and "
                    "win rates, not from a rule of thumb.",
        "okr_obj": "### Objective: {name} books {target} by {date}",
        "kr_book": "KR1: bookings of at least {target}{milestones}.",
        "milestones": ", quarter by quarter {milestones}",
        "kr_wins": "KR2: win at least {wins} deals ({weekly} a week).",
        "kr_new": "KR3: create at least {new} new opportunities over the year ({weekly} a week).",
        "kr_cov": (
            "KR4: start each quarter with open pipeline worth at least this multiple of its "
            "quota: {detail}."
        ),
        "coll_h": "## Collective and individual targets",
        "coll_segment": (
            "The {n} segment quotas add up to the company number of {company}; each is "
            "reached with probability {q}, the company number with probability {pc}."
        ),
        "coll_owner": (
            "The {n} rep quotas add up to {sumq} ({k} of the company number {company}); "
            "each rep reaches their quota with probability {q} and {share} of reps are "
            "expected to. The company number is reached with probability {pc}; all quotas "
            "together (every rep at quota on aggregate) with probability {psum}."
        ),
        "scen_h": "## Growth and tension scenarios",
        "scen": "{scenario} ({assumptions}): company target {target} (probability {prob}, "
                "range {band}).",
        "stress_h": "### Which {ref} targets still hold under the other scenarios?",
        "stress": "{scenario}: the company target of {target} is reached with probability "
                  "{prob}; segments: {detail}.",
        "td_h": "## Top-down meets bottom-up: the board's number of {target}",
        "td": "{scenario}: probability {prob} of reaching it. To lift it to {p}: {levers}.",
        "or": " or ",
        "x": "×",
    },
    "fr": {
        "title": "# Objectifs {fy} (scénario {scenario}, probabilité {p})",
        "intro": (
            "Chaque objectif est atteint avec la probabilité indiquée dans le scénario "
            "**{scenario}** (SMART : spécifique, mesurable, atteignable avec sa probabilité "
            "affichée, pertinent, temporellement défini). {company} ; les quotas des "
            "segments et des commerciaux le répartissent à probabilité égale et "
            "s'additionnent jusqu'à lui{over} ; les jalons trimestriels s'additionnent "
            "jusqu'à l'année. La fourchette est la bande "
            "p10–p90 du résultat simulé. L'ambition est alignée sur la capacité : chaque "
            "chiffre vient du pipeline simulé, des taux de transformation, des cycles et "
            "des effectifs, et figure à côté du réalisé de l'an dernier."
        ),
        "over": " (les quotas des commerciaux en font {k})",
        "company_p": "L'objectif de l'entreprise est celui atteint avec une probabilité de {p}",
        "company_board": "L'objectif de l'entreprise est celui de la direction, {target} "
                         "(probabilité {pc})",
        "deals": " (au moins {deals} affaires gagnées)",
        "smart_h": "## Objectifs SMART ({fy})",
        "smart_total": (
            "Atteindre {target} de chiffre d'affaires signé pour l'entreprise{deals} d'ici "
            "le {date} : probabilité {prob}, fourchette {band}.{ly}"
        ),
        "smart_seg": (
            "Atteindre {target} de chiffre d'affaires signé sur {name}{deals} d'ici le "
            "{date} : probabilité {prob}, fourchette {band}.{ly}"
        ),
        "smart_owner": "{name} : atteindre {target} de chiffre d'affaires signé d'ici le "
                       "{date} (probabilité {prob}).{ly}",
        "ly": " 12 derniers mois : {actual} ({growth}).",
        "owners_h": "### Quotas individuels (commerciaux)",
        "okr_h": "## OKR par segment",
        "okr_note": "La couverture du pipeline du KR4 est tirée des cycles et des taux de "
                    "transformation de ce tunnel, pas d'une règle empirique.",
        "okr_obj": "### Objectif : {name} atteint {target} de chiffre d'affaires signé d'ici le "
                   "{date}",
        "kr_book": "KR1 : au moins {target} de chiffre d'affaires signé{milestones}.",
        "milestones": ", trimestre par trimestre {milestones}",
        "kr_wins": "KR2 : gagner au moins {wins} affaires ({weekly} par semaine).",
        "kr_new": "KR3 : créer au moins {new} nouvelles opportunités dans l'année ({weekly} "
                  "par semaine).",
        "kr_cov": (
            "KR4 : commencer chaque trimestre avec un pipeline ouvert d'au moins ce multiple "
            "de son quota : {detail}."
        ),
        "coll_h": "## Objectifs collectifs et individuels",
        "coll_segment": (
            "Les {n} quotas des segments s'additionnent jusqu'à l'objectif de l'entreprise de "
            "{company} ; chacun est atteint avec une probabilité de {q}, l'objectif de "
            "l'entreprise avec une probabilité de {pc}."
        ),
        "coll_owner": (
            "Les {n} quotas des commerciaux totalisent {sumq} ({k} de l'objectif de "
            "l'entreprise de {company}) ; chaque commercial atteint son quota avec une "
            "probabilité de {q}, et {share} des commerciaux devraient l'atteindre. "
            "L'objectif de l'entreprise est atteint avec une probabilité de {pc} ; la somme "
            "des quotas avec une probabilité de {psum}."
        ),
        "scen_h": "## Scénarios de croissance et de tension",
        "scen": "{scenario} ({assumptions}) : objectif de l'entreprise {target} (probabilité "
                "{prob}, fourchette {band}).",
        "stress_h": "### Quels objectifs du scénario {ref} tiennent dans les autres scénarios ?",
        "stress": "{scenario} : l'objectif de l'entreprise de {target} est atteint avec une "
                  "probabilité de {prob} ; segments : {detail}.",
        "td_h": "## Descendant et ascendant : l'objectif de la direction de {target}",
        "td": "{scenario} : probabilité de l'atteindre {prob}. Pour la porter à {p} : {levers}.",
        "or": " ou ",
        "x": "×",
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


def quota_of(r: pd.Series) -> tuple[float, float]:
    """The number handed out for a targets.csv row and its probability (quota when known)."""
    try:
        q = float(r.get("quota", float("nan")))
    except (TypeError, ValueError):
        q = float("nan")
    if math.isfinite(q):
        return q, float(r.get("quota_probability", float("nan")))
    return float(r["target"]), float(r["attainment_probability"])


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
    currency: str = "USD",
    horizon_start: pd.Timestamp | None = None,
    months: int = 12,
    scenarios: dict[str, dict] | None = None,
) -> str:
    """objectives.md: SMART statements, OKRs, collective vs individual, scenarios.

    Parameters
    ----------
    targets, indicators : DataFrame
        targets.csv (with ``quota`` and the last-year columns when present) and
        indicators.csv.
    scenario : str
        Scenario the objectives are stated on (the reference scenario).
    probability : float
    horizon_end : Timestamp
        Deadline of FY targets.
    allocation, stress, topdown : optional
        Allocation summaries, stress.csv and topdown.csv.
    lang : {"en", "fr"}
    currency : str
        ISO 4217 code (or ``$``, ``€``...).
    horizon_start, months
        The horizon, to name the fiscal year (default: the 12 months ending at
        ``horizon_end``).
    scenarios : dict, optional
        Scenario name → its saved definition, for the assumptions in words.

    Returns
    -------
    str
        Markdown text.
    """
    t = _T[check_lang(lang)]
    cur = fmt.check_currency(currency)
    md = escape_markdown

    def money(v: float) -> str:
        return fmt.money_compact(v, lang, cur)

    def pct(v: float) -> str:
        return fmt.percent(v, lang)

    def band(r: pd.Series) -> str:
        return fmt.money_range(r["p10"], r["p90"], lang, cur)

    def last_year(r: pd.Series) -> str:
        try:
            actual = float(r.get("last_year_actual", float("nan")))
        except (TypeError, ValueError):
            return ""
        if not math.isfinite(actual):
            return ""
        return t["ly"].format(actual=money(actual), growth=fmt.growth(
            r.get("implied_growth", float("nan")), lang))

    end = pd.Timestamp(horizon_end)
    start = (pd.Timestamp(horizon_start) if horizon_start is not None
             else (end - pd.DateOffset(months=months - 1)).to_period("M").to_timestamp())
    fy_name = fmt.fiscal_year(start, months, lang)
    date = fmt.long_date(end, lang)
    p = pct(probability)
    label = md(fmt.scenario_label(scenario, lang))
    owner_summ = [a for a in allocation if a.scenario == scenario and a.level == "owner"]
    k = owner_summ[0].over_assignment if owner_summ else 1.0
    over = t["over"].format(k=pct(k)) if abs(k - 1.0) > 1e-9 else ""
    company = t["company_p"].format(p=p)
    if topdown is not None and not topdown.empty:
        board = topdown.loc[topdown["scenario"].eq(scenario)]
        board = board if not board.empty else topdown
        company = t["company_board"].format(
            target=money(float(board["company_target"].iloc[0])),
            pc=pct(float(board["attainment_probability"].iloc[0])))
    out = [t["title"].format(fy=fy_name, scenario=label, p=p), "",
           t["intro"].format(company=company, scenario=label, over=over), "",
           t["smart_h"].format(fy=fy_name), ""]
    fy = targets.loc[
        targets["scenario"].eq(scenario) & targets["period"].eq(FY)
        & targets["metric"].eq("bookings")
    ]
    for _, r in fy.loc[fy["level"].isin(["total", "segment"])].iterrows():
        deals = _row(targets, scenario, r["level"], r["name"], FY, "deals_won")
        value, prob = quota_of(r)
        n_deals = quota_of(deals)[0] if deals is not None else float("nan")
        key = "smart_total" if r["level"] == "total" else "smart_seg"
        out.append("- " + t[key].format(
            target=money(value), name=md(r["name"]), date=date,
            deals=t["deals"].format(deals=fmt.number(n_deals, lang))
            if math.isfinite(n_deals) else "", prob=pct(prob), band=band(r), ly=last_year(r)))
    owners = fy.loc[fy["level"].eq("owner")]
    if not owners.empty:
        out += ["", t["owners_h"], ""]
        for _, r in owners.iterrows():
            value, prob = quota_of(r)
            out.append("- " + t["smart_owner"].format(
                name=md(r["name"]), target=money(value), date=date, prob=pct(prob),
                ly=last_year(r)))

    out += ["", t["okr_h"], ""]
    if "pipeline_coverage" in indicators and indicators["pipeline_coverage"].notna().any():
        out += [t["okr_note"], ""]
    ind = indicators.loc[indicators["scenario"].eq(scenario)]
    quarters = targets.loc[targets["scenario"].eq(scenario) & targets["level"].eq("segment")
                           & targets["metric"].eq("bookings") & targets["period"].ne(FY)]
    for _, r in fy.loc[fy["level"].eq("segment")].iterrows():
        seg = ind.loc[ind["segment"].eq(r["name"])]
        deals = _row(targets, scenario, "segment", r["name"], FY, "deals_won")
        wins = quota_of(deals)[0] if deals is not None else float("nan")
        new = float(seg["new_opportunities"].sum())
        mine = quarters.loc[quarters["name"].eq(r["name"])]
        milestones = ", ".join(
            f"{fmt.quarter(q['period'], lang)} {money(quota_of(q)[0])}"
            for _, q in mine.iterrows())
        detail = ", ".join(
            f"{fmt.quarter(q, lang)} {fmt.number(c, lang, 1)}{t['x']}"
            for q, c in zip(seg["period"], seg["pipeline_coverage"], strict=True)
            if math.isfinite(c))
        value = quota_of(r)[0]
        out.append(t["okr_obj"].format(name=md(r["name"]), target=money(value), date=date))
        out.append("")
        out.append("- " + t["kr_book"].format(
            target=money(value),
            milestones=t["milestones"].format(milestones=milestones) if milestones else ""))
        out.append("- " + t["kr_wins"].format(
            wins=fmt.number(wins, lang), weekly=fmt.number(wins / 52, lang, 1)))
        out.append("- " + t["kr_new"].format(
            new=fmt.number(new, lang), weekly=fmt.number(new / 52, lang, 1)))
        if detail:
            out.append("- " + t["kr_cov"].format(detail=detail))
        out.append("")

    summ = [a for a in allocation if a.scenario == scenario]
    if summ:
        out += [t["coll_h"], ""]
        for a in summ:
            n = int((targets["scenario"].eq(scenario) & targets["level"].eq(a.level)
                     & targets["period"].eq(FY) & targets["metric"].eq("bookings")).sum())
            out.append("- " + t[f"coll_{a.level}"].format(
                n=n, company=money(a.company_target), q=pct(a.common_probability),
                pc=pct(a.p_company_number), sumq=money(a.sum_of_quotas),
                k=pct(a.over_assignment), share=pct(a.expected_share_reaching),
                psum=pct(a.p_sum_of_quotas)))
        out.append("")

    totals = targets.loc[targets["level"].eq("total") & targets["period"].eq(FY)
                         & targets["metric"].eq("bookings")]
    if len(totals) > 1:
        out += [t["scen_h"], ""]
        for _, r in totals.iterrows():
            assumptions = fmt.scenario_assumptions((scenarios or {}).get(r["scenario"], {}), lang)
            out.append("- " + t["scen"].format(
                scenario=md(fmt.scenario_label(r["scenario"], lang)),
                assumptions=md(assumptions), target=money(r["target"]),
                prob=pct(r["attainment_probability"]), band=band(r)))
        if stress is not None and not stress.empty:
            out += ["", t["stress_h"].format(ref=label), ""]
            fy_s = stress.loc[stress["period"].eq(FY) & stress["metric"].eq("bookings")]
            for s_name, grp in fy_s.groupby("scenario", sort=False):
                tot = grp.loc[grp["level"].eq("total")].iloc[0]
                segs = grp.loc[grp["level"].eq("segment")]
                detail = ", ".join(
                    f"{md(n)} {pct(v)}" for n, v in zip(segs["name"],
                                                        segs["attainment_probability"],
                                                        strict=True))
                out.append("- " + t["stress"].format(
                    scenario=md(fmt.scenario_label(s_name, lang)), target=money(tot["target"]),
                    prob=pct(tot["attainment_probability"]), detail=detail))
        out.append("")

    if topdown is not None and not topdown.empty:
        out += [t["td_h"].format(target=money(float(topdown["company_target"].iloc[0]))), ""]
        for s_name, grp in topdown.groupby("scenario", sort=False):
            levers = t["or"].join(md(c) for c in grp["change"])
            out.append("- " + t["td"].format(
                scenario=md(fmt.scenario_label(s_name, lang)),
                prob=pct(float(grp["attainment_probability"].iloc[0])),
                p=pct(float(grp["target_probability"].iloc[0])), levers=levers))
        out.append("")
    return "\n".join(out).rstrip() + "\n"
