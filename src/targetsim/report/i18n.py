"""Labels and number formatting of the report in English and French.

Every word the report shows comes from :data:`LABELS`, so both languages stay complete
(a test checks they have the same keys). Numbers follow the reader's convention: ``1,234,567``
and ``1.2 M`` in English; ``1 234 567`` (narrow no-break space) and ``1,2 M`` in French.
"""

from __future__ import annotations

import math

from targetsim.errors import ConfigError

#: Languages the report is written in.
LANGUAGES = ("en", "fr")

#: Narrow no-break space: the French thousands separator (and before ``%``).
NNBSP = "\u202f"

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Sales targets",
        "generated": "Plan generated from data as of {as_of}; seed {seed}; "
        "model version {version}.",
        "headline": "Headline",
        "company_target": "Company target (FY bookings)",
        "probability": "probability of attainment",
        "band": "band (p10–p90)",
        "scenario": "Scenario",
        "level": "Level",
        "name": "Name",
        "period": "Period",
        "metric": "Metric",
        "target": "Target",
        "proposed_target": "Proposed target",
        "attainment": "P(attain)",
        "p10": "p10",
        "p50": "median",
        "p90": "p90",
        "target_at": "Target at chosen probability",
        "prob_at": "P(attain) of that target",
        "choose_probability": "Attainment probability",
        "choose_scenario": "Scenario",
        "control_help": "Move the slider to see the target each segment and owner would "
        "reach with that probability (from the simulated outcomes).",
        "fan_charts": "Cumulative bookings through the year",
        "fan_help": "Shaded band: 10th–90th percentile of simulated cumulative bookings; "
        "line: median; dashed line: the proposed full-year target.",
        "total": "Total",
        "targets_table": "Targets by segment and owner",
        "segments": "Segments",
        "owners": "Owners",
        "scenario_comparison": "Scenario comparison",
        "scenario_help": "Each baseline target, with its probability under every scenario. "
        "It holds when that probability is at least the plan's {p}; it breaks when the "
        "target is more likely missed than met (below 50 %).",
        "holds": "holds",
        "at_risk": "at risk",
        "breaks": "breaks",
        "status": "Status",
        "scenario_summary": "Under {scenario}: {holds} targets hold, {risk} at risk, "
        "{breaks} break.",
        "quota_justification": "Quota justification per owner",
        "owner_story": "{owner} ({segment}) carries a full-year quota of {quota} "
        "({prob} probability; band {p10}–{p90}).",
        "owner_pipeline": "Open pipeline today: {n} deals worth {value} (median age {age} days).",
        "owner_no_pipeline": "No open deals today: the whole quota comes from new opportunities.",
        "owner_history": "History: {won} won and {lost} lost; win rate {wr} (90 % interval "
        "{lo}–{hi}) against {team} for the segment; median won deal {size}, median cycle "
        "{cycle} days.",
        "owner_produce": "How the quota is produced: about {wins} wins of a typical "
        "{size}, from the open pipeline and about {new} new opportunities expected "
        "over the year.",
        "owner_produce_pipeline": "How the quota is produced: about {wins} wins of a "
        "typical {size}, from the open pipeline and the new opportunities of the year.",
        "owner_capacity": "Capacity ({scenario}): {start} open-deal slots for the segment at "
        "the start of the year, {end} at the end.",
        "owner_no_capacity": "No capacity limit was set in the scenario: quotas assume the "
        "team can work every opportunity that arrives.",
        "kpis": "Funnel KPIs",
        "kpi_help": "Posterior mean and 90 % interval of what the model learned per segment.",
        "parameter": "Parameter",
        "stage": "Stage",
        "mean": "mean",
        "interval": "90 % interval",
        "indicators": "Leading indicators per quarter",
        "indicators_help": "What it takes to be on track: among simulated years that reach "
        "each quarter's target, the typical number of new opportunities, wins and the "
        "pipeline at the start of the quarter.",
        "segment": "Segment",
        "new_opportunities": "New opportunities",
        "wins_needed": "Wins needed",
        "pipeline_at_quarter_start": "Pipeline at quarter start",
        "pipeline_coverage": "Pipeline coverage",
        "weekly_new_opportunities": "New opps / week",
        "weekly_wins": "Wins / week",
        "evidence": "Model evidence",
        "diagnostics": "Sampler diagnostics",
        "converged_yes": "The sampler converged (R-hat {rhat}, min bulk ESS {ess}, "
        "{div} divergences).",
        "converged_no": "WARNING: the sampler did not converge (R-hat {rhat}, min bulk ESS "
        "{ess}, {div} divergences). Treat every number in this report with caution.",
        "problems": "Problems reported",
        "ppc": "Posterior-predictive check of last year",
        "ppc_help": "Last 12 months as observed, against what the fitted model predicts for "
        "a year like it (90 % predictive band). Outside the band means the model "
        "misses something about that segment.",
        "observed": "Observed",
        "predicted_band": "Predicted 90 % band",
        "verdict": "Verdict",
        "consistent": "consistent",
        "outside": "outside the band",
        "bookings_12m": "Bookings, last 12 months",
        "wins_12m": "Wins, last 12 months",
        "wide_intervals": "What the data could not tell",
        "wide_help": "Parameters whose 90 % interval is wide (for rates, wider than 20 points; "
        "otherwise wider than 80 % of the median): targets that depend on them are "
        "uncertain, and more history would narrow them.",
        "none_wide": "No parameter has a wide interval.",
        "tiers": "Floor, target and stretch",
        "tiers_help": "Full-year bookings reached with each probability: the floor is "
        "almost sure, the stretch needs luck or extra effort.",
        "allocation": "Allocation at equal probability",
        "topdown": "Top-down meets bottom-up",
        "objectives": "Objectives (SMART / OKR)",
        "missing_file": "{file} is not in the plan directory: this section is skipped.",
        "missing_fit": "The saved fit could not be read ({reason}): this section is skipped.",
        "print_note": "Report produced by targetsim; numbers are simulated outcomes, "
        "not guarantees.",
        "bookings": "bookings",
        "deals_won": "deals won",
        "FY": "full year",
        "yes": "yes",
        "no": "no",
    },
    "fr": {
        "title": "Objectifs commerciaux",
        "generated": "Plan établi sur les données au {as_of} ; graine {seed} ; version du "
        "modèle {version}.",
        "headline": "En bref",
        "company_target": "Objectif de l'entreprise (CA signé sur l'année)",
        "probability": "probabilité d'atteinte",
        "band": "fourchette (p10–p90)",
        "scenario": "Scénario",
        "level": "Niveau",
        "name": "Nom",
        "period": "Période",
        "metric": "Indicateur",
        "target": "Objectif",
        "proposed_target": "Objectif proposé",
        "attainment": "P(atteinte)",
        "p10": "p10",
        "p50": "médiane",
        "p90": "p90",
        "target_at": "Objectif à la probabilité choisie",
        "prob_at": "P(atteinte) de cet objectif",
        "choose_probability": "Probabilité d'atteinte",
        "choose_scenario": "Scénario",
        "control_help": "Déplacez le curseur pour voir l'objectif que chaque segment et "
        "chaque commercial atteindrait avec cette probabilité (d'après les simulations).",
        "fan_charts": "CA signé cumulé sur l'année",
        "fan_help": "Zone ombrée : 10e–90e centile du CA cumulé simulé ; trait : médiane ; "
        "pointillés : l'objectif annuel proposé.",
        "total": "Total",
        "targets_table": "Objectifs par segment et par commercial",
        "segments": "Segments",
        "owners": "Commerciaux",
        "scenario_comparison": "Comparaison des scénarios",
        "scenario_help": "Chaque objectif du scénario de référence, avec sa probabilité "
        "sous chaque scénario. Il tient quand cette probabilité atteint au moins celle du "
        "plan ({p}) ; il casse quand il a plus de chances d'être manqué qu'atteint "
        "(moins de 50 %).",
        "holds": "tient",
        "at_risk": "fragile",
        "breaks": "casse",
        "status": "Statut",
        "scenario_summary": "Scénario {scenario} : {holds} objectifs tiennent, {risk} sont "
        "fragiles, {breaks} cassent.",
        "quota_justification": "Justification des quotas par commercial",
        "owner_story": "{owner} ({segment}) porte un quota annuel de {quota} "
        "(probabilité {prob} ; fourchette {p10}–{p90}).",
        "owner_pipeline": "Pipeline ouvert aujourd'hui : {n} affaires pour {value} (âge "
        "médian {age} jours).",
        "owner_no_pipeline": "Aucune affaire ouverte aujourd'hui : tout le quota vient de "
        "nouvelles opportunités.",
        "owner_history": "Historique : {won} gagnées et {lost} perdues ; taux de "
        "transformation {wr} (intervalle à 90 % {lo}–{hi}) contre {team} pour le segment ; "
        "affaire gagnée médiane {size}, cycle médian {cycle} jours.",
        "owner_produce": "Comment le quota se construit : environ {wins} affaires gagnées "
        "d'une valeur typique de {size}, issues du pipeline ouvert et d'environ {new} "
        "nouvelles opportunités attendues dans l'année.",
        "owner_produce_pipeline": "Comment le quota se construit : environ {wins} affaires "
        "gagnées d'une valeur typique de {size}, issues du pipeline ouvert et des nouvelles "
        "opportunités de l'année.",
        "owner_capacity": "Capacité ({scenario}) : {start} places d'affaires ouvertes pour le "
        "segment en début d'année, {end} en fin d'année.",
        "owner_no_capacity": "Aucune limite de capacité dans le scénario : les quotas "
        "supposent que l'équipe traite toutes les opportunités qui arrivent.",
        "kpis": "KPI du tunnel de vente",
        "kpi_help": "Moyenne a posteriori et intervalle à 90 % de ce que le modèle a appris "
        "par segment.",
        "parameter": "Paramètre",
        "stage": "Étape",
        "mean": "moyenne",
        "interval": "intervalle à 90 %",
        "indicators": "Indicateurs avancés par trimestre",
        "indicators_help": "Ce qu'il faut pour être dans les temps : parmi les années "
        "simulées qui atteignent l'objectif du trimestre, le nombre typique de nouvelles "
        "opportunités, d'affaires gagnées et le pipeline en début de trimestre.",
        "segment": "Segment",
        "new_opportunities": "Nouvelles opportunités",
        "wins_needed": "Affaires à gagner",
        "pipeline_at_quarter_start": "Pipeline en début de trimestre",
        "pipeline_coverage": "Couverture du pipeline",
        "weekly_new_opportunities": "Nouv. opp. / semaine",
        "weekly_wins": "Gains / semaine",
        "evidence": "Solidité du modèle",
        "diagnostics": "Diagnostics de l'échantillonneur",
        "converged_yes": "L'échantillonneur a convergé (R-hat {rhat}, ESS min {ess}, "
        "{div} divergences).",
        "converged_no": "ATTENTION : l'échantillonneur n'a pas convergé (R-hat {rhat}, ESS "
        "min {ess}, {div} divergences). Prenez chaque chiffre de ce rapport avec prudence.",
        "problems": "Problèmes signalés",
        "ppc": "Contrôle prédictif a posteriori de l'année écoulée",
        "ppc_help": "Les 12 derniers mois observés, comparés à ce que le modèle prédit pour "
        "une année semblable (fourchette prédictive à 90 %). Hors fourchette : le modèle "
        "manque quelque chose sur ce segment.",
        "observed": "Observé",
        "predicted_band": "Fourchette prédite à 90 %",
        "verdict": "Verdict",
        "consistent": "cohérent",
        "outside": "hors fourchette",
        "bookings_12m": "CA signé, 12 derniers mois",
        "wins_12m": "Affaires gagnées, 12 derniers mois",
        "wide_intervals": "Ce que les données n'ont pas pu dire",
        "wide_help": "Paramètres dont l'intervalle à 90 % est large (pour un taux, plus de "
        "20 points ; sinon plus de 80 % de la médiane) : les objectifs qui en dépendent "
        "sont incertains, et plus d'historique les resserrerait.",
        "none_wide": "Aucun paramètre n'a d'intervalle large.",
        "tiers": "Plancher, objectif et dépassement",
        "tiers_help": "CA signé sur l'année atteint avec chaque probabilité : le plancher "
        "est quasi sûr, le dépassement demande de la chance ou un effort supplémentaire.",
        "allocation": "Répartition à probabilité égale",
        "topdown": "Objectif descendant et estimation ascendante",
        "objectives": "Objectifs (SMART / OKR)",
        "missing_file": "{file} est absent du dossier du plan : cette section est omise.",
        "missing_fit": "L'ajustement enregistré n'a pas pu être lu ({reason}) : cette "
        "section est omise.",
        "print_note": "Rapport produit par targetsim ; les chiffres sont des résultats "
        "simulés, pas des garanties.",
        "bookings": "CA signé",
        "deals_won": "affaires gagnées",
        "FY": "année entière",
        "yes": "oui",
        "no": "non",
    },
}


MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
           "nov.", "déc."),
}


def month_abbr(month: int, lang: str) -> str:
    """Short month name (1 = January) in ``lang``, independent of the system locale."""
    return MONTHS["fr" if lang == "fr" else "en"][month - 1]


def labels(lang: str) -> dict[str, str]:
    """The label table of a language.

    Raises
    ------
    ConfigError
        If ``lang`` is not one of :data:`LANGUAGES`.
    """
    if lang not in LABELS:
        raise ConfigError(
            f"--lang {lang!r} is not supported: choose one of {', '.join(LANGUAGES)}."
        )
    return LABELS[lang]


def _group(int_text: str, sep: str) -> str:
    head, digits = ("-", int_text[1:]) if int_text.startswith("-") else ("", int_text)
    parts = []
    while len(digits) > 3:
        parts.insert(0, digits[-3:])
        digits = digits[:-3]
    parts.insert(0, digits)
    return head + sep.join(parts)


def fmt_number(x: float | None, lang: str, decimals: int = 0) -> str:
    """A number with the thousands separator and decimal mark of ``lang``; ``–`` if missing."""
    if x is None or not math.isfinite(float(x)):
        return "–"
    text = f"{float(x):.{decimals}f}"
    int_part, _, frac = text.partition(".")
    if int_part in ("-0",) and not frac.strip("0"):
        int_part = "0"
    sep, dec = (NNBSP, ",") if lang == "fr" else (",", ".")
    out = _group(int_part, sep)
    return f"{out}{dec}{frac}" if frac else out


def fmt_compact(x: float | None, lang: str) -> str:
    """A short amount for headlines and chart axes: ``1.2 M``, ``850 k``."""
    if x is None or not math.isfinite(float(x)):
        return "–"
    v = float(x)
    a = abs(v)
    for scale, suffix in ((1e9, " G" if lang == "fr" else " B"), (1e6, " M"), (1e3, " k")):
        if a >= scale:
            q = v / scale
            return fmt_number(q, lang, 1 if abs(q) < 100 else 0) + suffix
    return fmt_number(v, lang, 0)


def fmt_pct(p: float | None, lang: str, decimals: int = 0) -> str:
    """A probability as a percentage: ``60 %`` in French, ``60%`` in English."""
    if p is None or not math.isfinite(float(p)):
        return "–"
    num = fmt_number(100.0 * float(p), lang, decimals)
    return f"{num}{NNBSP}%" if lang == "fr" else f"{num}%"


def fmt_period(period: str, lab: dict[str, str]) -> str:
    """``FY`` in words; quarters as written (``2027-Q1``)."""
    return lab["FY"] if period == "FY" else period
