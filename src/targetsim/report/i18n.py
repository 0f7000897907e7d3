"""Labels and number formatting of the report in English and French.

Every word the report shows comes from :data:`LABELS`, so both languages stay complete
(a test checks they have the same keys). Numbers, money and dates are written by Babel
(:mod:`targetsim.formatting`): ``1,234,567`` and ``$7.51M`` in English, ``1 234 567`` and
``7,51 M €`` in French.
"""

from __future__ import annotations

from targetsim import formatting as _f
from targetsim.errors import ConfigError

#: Languages the report is written in.
LANGUAGES = ("en", "fr")

#: Narrow no-break space: the French thousands separator (and before ``%``).
NNBSP = "\u202f"

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Sales targets {fy}",
        "generated": "Data as of {as_of} · amounts in {currency_name} · targetsim {version}, "
        "seed {seed}.",
        "headline": "Headline",
        "proposed": "proposed",
        "company_target": "Company bookings target",
        "probability": "Probability",
        "band": "Band (p10–p90)",
        "deals_won_target": "Deals won",
        "last_year": "Last 12 months",
        "run_rate": "Run-rate (last 6 months × 2)",
        "growth": "Growth",
        "assumptions": "Assumptions",
        "board": "The board's number",
        "board_text": "{target}: probability {probs}.",
        "board_levers": "To reach it with probability {p}: {levers}.",
        "flag_below": "The proposed company target is {growth} below the last 12 months' "
        "actual of {actual}. The fitted quantity that drives it: {driver} ({fitted} fitted, "
        "{observed} in the last 12 months).",
        "flag_above": "The proposed company target is {growth} above the last 12 months' "
        "actual of {actual} (more than 1.5×). The fitted quantity that drives it: {driver} "
        "({fitted} fitted, {observed} in the last 12 months).",
        "flag_counts": "{below} segment or rep quotas are below their last 12 months, {above} "
        "above 1.5× it (see the tables; targets.csv names the driver of each).",
        "how_to_read": "How to read this report",
        "how_to_read_text": "Each target is a number the team reaches with the probability "
        "shown: at 60 % it is reached in three simulated years out of five, so it is "
        "stretching yet achievable. The band is where the year lands four times out of five. "
        "Segment and rep quotas split the company number at equal probability and add up to "
        "it; quarters add up to the year.",
        "fan_charts": "Cumulative bookings through the year",
        "fan_help": "Shaded band: where simulated cumulative bookings land 8 times out of 10; "
        "solid line: the median; dashed line: the full-year target; grey line: the same "
        "months last year.",
        "total": "Company",
        "targets_section": "Targets and quotas",
        "company_table": "Company",
        "segment_table": "Segments",
        "rep_table": "Reps",
        "rep_rule": "Rep quotas add up to {sumq}, {k} of the company number {company}. Each "
        "rep reaches their quota with probability {q}; about {share} of reps are expected to. "
        "The company number is reached with probability {pc}; the sum of all quotas with "
        "probability {psum}.",
        "segment_rule": "Segment quotas add up to the company number {company}; each is "
        "reached with probability {q}.",
        "quarter_help": "Quarters are phased by the simulated seasonal profile and add up to "
        "the year; the percentage under each is that quarter's own probability.",
        "name": "Name",
        "segment": "Segment",
        "rep": "Rep",
        "team": "Manager · region",
        "metric": "Metric",
        "quota": "Quota",
        "year": "Full year",
        "bookings": "Bookings",
        "deals_won": "Deals won",
        "unassigned": "unassigned",
        "whatif": "Another probability",
        "whatif_help": "Move the slider to see the full-year target each part would reach "
        "with that probability (from the simulated outcomes).",
        "choose_probability": "Probability",
        "choose_scenario": "Scenario",
        "target_at": "Target",
        "prob_at": "Probability",
        "scenario_comparison": "Which targets hold under each scenario",
        "scenario_help": "Each {ref} target with its probability under every scenario. It "
        "holds when that probability is at least the plan's {p}; it breaks when the target is "
        "more likely missed than met (below 50 %).",
        "holds": "holds",
        "at_risk": "at risk",
        "breaks": "breaks",
        "scenario_summary": "{scenario}: {holds} targets hold, {risk} at risk, {breaks} break.",
        "target": "Target",
        "quota_justification": "Each rep's quota, explained",
        "shared_note": "What every rep shares: {capacity} Quotas come from each rep's own "
        "record (win rate, deal sizes, open pipeline and share of new opportunities), so "
        "a thin pipeline gets a smaller quota than a full one, at the same probability.",
        "owner_summary": "{owner}: quota {quota} ({prob})",
        "owner_summary_ly": " · last 12 months {actual} ({growth})",
        "owner_history": "Record: {won} won and {lost} lost, a win rate of {wr} (90 % "
        "interval {lo}–{hi}) against {team} for the same products; median won deal {size}.",
        "owner_cycle": "Median time to win: {cycle} days.",
        "owner_pipeline": "Open pipeline today: {n} deals worth {value}.",
        "owner_no_pipeline": "No open deals today: the whole quota comes from new "
        "opportunities.",
        "owner_produce": "The quota means about {wins} wins at {size} on average, from the "
        "open pipeline and about {new} new opportunities over the year.",
        "owner_produce_pipeline": "The quota means about {wins} wins at {size} on average, "
        "from the open pipeline and the year's new opportunities.",
        "owner_produce_new": "The quota means about {wins} wins at {size} on average, from "
        "about {new} new opportunities over the year.",
        "owner_capacity": "open-deal capacity ({scenario}) goes from {start} to {end} slots "
        "per segment over the year.",
        "owner_no_capacity": "no capacity limit was set, so quotas assume the team works "
        "every opportunity that arrives.",
        "kpis": "What the model learned from the CRM",
        "kpi_help": "Median of what the model learned per segment (90 % interval below).",
        "stage_kpis": "Stage conversions",
        "parameter": "Parameter",
        "stage": "Stage",
        "win_rate": "Win rate",
        "loss_rate": "Loss rate",
        "stall_rate": "Never closes",
        "cycle_days_median": "Days to win",
        "loss_cycle_days_median": "Days to loss",
        "deal_size_median": "Median deal",
        "arrivals_per_month": "New opps / month",
        "arrival_trend": "Monthly trend",
        "conversion": "Conversion",
        "stage_cycle_days_median": "Days in stage",
        "compare": "The fit beside last year",
        "compare_help": "What sets the level of the targets, as fitted and as the last 12 "
        "months show it (wins per new opportunity, the steady-state reading of the win "
        "rate). A target far from last year comes from the quantity that differs most.",
        "quantity": "Quantity",
        "fitted": "Fitted",
        "ratio": "Fitted ÷ last year",
        "indicators": "Leading indicators per quarter",
        "indicators_help": "What being on track looks like: among simulated years that reach "
        "each quarter's target, the typical new opportunities created and deals won in the "
        "quarter, and the open pipeline at its start as a multiple of its target (coverage; "
        "{scenario}). Weekly figures are in indicators.csv.",
        "period": "Quarter",
        "new_opportunities": "New opps",
        "wins_needed": "Wins",
        "pipeline_at_quarter_start": "Pipeline at start",
        "pipeline_coverage": "Coverage",
        "weekly_new_opportunities": "New opps / week",
        "weekly_wins": "Wins / week",
        "evidence": "How far to trust it",
        "left_out_start": "New opportunities of the history's first months ({months}) are "
        "well below those of a typical month: read as the CRM's first months, they are left "
        "out of the arrival rate.",
        "left_out_end": "New opportunities of the last months ({months}) are fewer than half "
        "those of a typical month: read as deals not yet recorded, they are left out of the "
        "arrival rate. If the drop is real, the targets are too high: check those months.",
        "converged_yes": "The model's sampler converged (R-hat {rhat}, effective sample size "
        "at least {ess}, {div} divergences).",
        "converged_no": "WARNING: the model's sampler did not converge (R-hat {rhat}, "
        "effective sample size {ess}, {div} divergences). Treat every number in this report "
        "with caution.",
        "problems": "Problems reported",
        "ppc": "Last year, as the model would have predicted it",
        "ppc_help": "The last 12 months as observed, against the model's 90 % predictive band "
        "for a year like it. Outside the band means the model misses something about that "
        "segment.",
        "observed": "Observed",
        "predicted_band": "Predicted 90 % band",
        "verdict": "Verdict",
        "consistent": "consistent",
        "outside": "outside the band",
        "bookings_12m": "bookings",
        "wins_12m": "deals won",
        "wide_intervals": "What the data could not tell",
        "wide_help": "Quantities whose 90 % interval is wide: targets that depend on them are "
        "uncertain, and more history would narrow them.",
        "none_wide": "No quantity has a wide interval.",
        "tiers": "Floor, target and stretch",
        "tiers_help": "Full-year bookings reached with each probability: the floor is almost "
        "sure, the stretch needs luck or extra effort.",
        "floor": "Floor",
        "stretch": "Stretch",
        "topdown": "Top-down meets bottom-up",
        "objectives": "Objectives (SMART and OKR)",
        "print_note": "Numbers are simulated outcomes, not guarantees.",
        "FY": "Full year",
        "driver_arrivals_per_month": "new opportunities a month",
        "driver_win_rate": "wins per new opportunity",
        "driver_deal_size_median": "median deal size",
        "driver_cycle_days_median": "days to win (median)",
    },
    "fr": {
        "title": "Objectifs commerciaux {fy}",
        "generated": "Données au {as_of} · montants en {currency_name} · targetsim {version}, "
        "graine {seed}.",
        "headline": "En bref",
        "proposed": "proposé",
        "company_target": "Objectif de chiffre d'affaires signé",
        "probability": "Probabilité",
        "band": "Fourchette (p10–p90)",
        "deals_won_target": "Affaires gagnées",
        "last_year": "12 derniers mois",
        "run_rate": "Rythme (6 derniers mois × 2)",
        "growth": "Croissance",
        "assumptions": "Hypothèses",
        "board": "L'objectif de la direction",
        "board_text": "{target} : probabilité {probs}.",
        "board_levers": "Pour l'atteindre avec une probabilité de {p} : {levers}.",
        "flag_below": "L'objectif proposé pour l'entreprise est {growth} sous le réalisé des "
        "12 derniers mois ({actual}). La grandeur ajustée qui l'explique : {driver} ({fitted} "
        "ajusté, {observed} sur les 12 derniers mois).",
        "flag_above": "L'objectif proposé pour l'entreprise est {growth} au-dessus du réalisé "
        "des 12 derniers mois ({actual}), plus de 1,5 fois. La grandeur ajustée qui "
        "l'explique : {driver} ({fitted} ajusté, {observed} sur les 12 derniers mois).",
        "flag_counts": "{below} quotas de segments ou de commerciaux sont sous leurs 12 "
        "derniers mois, {above} au-dessus de 1,5 fois (voir les tableaux ; targets.csv "
        "nomme la cause de chacun).",
        "how_to_read": "Comment lire ce rapport",
        "how_to_read_text": "Chaque objectif est un chiffre que l'équipe atteint avec la "
        "probabilité indiquée : à 60 %, il est atteint trois années simulées sur cinq, donc "
        "ambitieux mais atteignable. La fourchette est l'endroit où l'année tombe quatre fois "
        "sur cinq. Les quotas des segments et des commerciaux répartissent l'objectif de "
        "l'entreprise à probabilité égale et s'additionnent jusqu'à lui ; les trimestres "
        "s'additionnent jusqu'à l'année.",
        "fan_charts": "Chiffre d'affaires signé cumulé sur l'année",
        "fan_help": "Zone ombrée : où tombe le chiffre d'affaires cumulé simulé 8 fois sur "
        "10 ; trait plein : la médiane ; pointillés : l'objectif annuel ; trait gris : les "
        "mêmes mois l'an dernier.",
        "total": "Entreprise",
        "targets_section": "Objectifs et quotas",
        "company_table": "Entreprise",
        "segment_table": "Segments",
        "rep_table": "Commerciaux",
        "rep_rule": "Les quotas des commerciaux totalisent {sumq}, soit {k} de l'objectif de "
        "l'entreprise ({company}). Chaque commercial atteint son quota avec une probabilité "
        "de {q} ; environ {share} des commerciaux devraient l'atteindre. L'objectif de "
        "l'entreprise est atteint avec une probabilité de {pc} ; la somme des quotas avec une "
        "probabilité de {psum}.",
        "segment_rule": "Les quotas des segments s'additionnent jusqu'à l'objectif de "
        "l'entreprise ({company}) ; chacun est atteint avec une probabilité de {q}.",
        "quarter_help": "Les trimestres suivent la saisonnalité simulée et s'additionnent "
        "jusqu'à l'année ; le pourcentage sous chacun est la probabilité propre de ce "
        "trimestre.",
        "name": "Nom",
        "segment": "Segment",
        "rep": "Commercial",
        "team": "Manager · région",
        "metric": "Indicateur",
        "quota": "Quota",
        "year": "Année",
        "bookings": "CA signé",
        "deals_won": "Affaires gagnées",
        "unassigned": "non rattaché",
        "whatif": "Une autre probabilité",
        "whatif_help": "Déplacez le curseur pour voir l'objectif annuel que chaque partie "
        "atteindrait avec cette probabilité (d'après les simulations).",
        "choose_probability": "Probabilité",
        "choose_scenario": "Scénario",
        "target_at": "Objectif",
        "prob_at": "Probabilité",
        "scenario_comparison": "Quels objectifs tiennent dans chaque scénario",
        "scenario_help": "Chaque objectif du scénario {ref}, avec sa probabilité dans chaque "
        "scénario. Il tient quand cette probabilité atteint au moins celle du plan ({p}) ; "
        "il casse quand il a plus de chances d'être manqué qu'atteint (moins de 50 %).",
        "holds": "tient",
        "at_risk": "fragile",
        "breaks": "casse",
        "scenario_summary": "{scenario} : {holds} objectifs tiennent, {risk} sont fragiles, "
        "{breaks} cassent.",
        "target": "Objectif",
        "quota_justification": "Le quota de chaque commercial, expliqué",
        "shared_note": "Ce que tous les commerciaux partagent : {capacity} Les quotas "
        "viennent du bilan de chacun (taux de transformation, taille des affaires, pipeline "
        "ouvert et part des nouvelles opportunités) : un pipeline mince reçoit un quota plus "
        "petit qu'un pipeline plein, à probabilité égale.",
        "owner_summary": "{owner} : quota {quota} ({prob})",
        "owner_summary_ly": " · 12 derniers mois {actual} ({growth})",
        "owner_history": "Bilan : {won} affaires gagnées et {lost} perdues, un taux de "
        "transformation de {wr} (intervalle à 90 % {lo}–{hi}) contre {team} sur les mêmes "
        "produits ; affaire gagnée médiane {size}.",
        "owner_cycle": "Délai médian de signature : {cycle} jours.",
        "owner_pipeline": "Pipeline ouvert aujourd'hui : {n} affaires pour {value}.",
        "owner_no_pipeline": "Aucune affaire ouverte aujourd'hui : tout le quota viendra de "
        "nouvelles opportunités.",
        "owner_produce": "Le quota représente environ {wins} affaires gagnées de {size} en "
        "moyenne, issues du pipeline ouvert et d'environ {new} nouvelles opportunités dans "
        "l'année.",
        "owner_produce_pipeline": "Le quota représente environ {wins} affaires gagnées de "
        "{size} en moyenne, issues du pipeline ouvert et des nouvelles opportunités de "
        "l'année.",
        "owner_produce_new": "Le quota représente environ {wins} affaires gagnées de {size} "
        "en moyenne, issues d'environ {new} nouvelles opportunités dans l'année.",
        "owner_capacity": "la capacité d'affaires ouvertes ({scenario}) passe de {start} à "
        "{end} places par segment au fil de l'année.",
        "owner_no_capacity": "aucune limite de capacité n'a été fixée : les quotas supposent "
        "que l'équipe traite toutes les opportunités qui arrivent.",
        "kpis": "Ce que le modèle a appris du CRM",
        "kpi_help": "Médiane de ce que le modèle a appris par segment (intervalle à 90 % "
        "en dessous).",
        "stage_kpis": "Conversions par étape",
        "parameter": "Paramètre",
        "stage": "Étape",
        "win_rate": "Taux de transformation",
        "loss_rate": "Taux de perte",
        "stall_rate": "Jamais conclues",
        "cycle_days_median": "Jours pour gagner",
        "loss_cycle_days_median": "Jours pour perdre",
        "deal_size_median": "Affaire médiane",
        "arrivals_per_month": "Nouv. opp. / mois",
        "arrival_trend": "Tendance mensuelle",
        "conversion": "Conversion",
        "stage_cycle_days_median": "Jours dans l'étape",
        "compare": "L'ajustement à côté de l'an dernier",
        "compare_help": "Ce qui fixe le niveau des objectifs, tel qu'ajusté et tel que les 12 "
        "derniers mois le montrent (affaires gagnées par nouvelle opportunité : la lecture "
        "stationnaire du taux de transformation). Un objectif loin de l'an dernier vient de "
        "la grandeur qui s'en écarte le plus.",
        "quantity": "Grandeur",
        "fitted": "Ajusté",
        "ratio": "Ajusté ÷ an dernier",
        "indicators": "Indicateurs avancés par trimestre",
        "indicators_help": "À quoi ressemble être dans les temps : parmi les années simulées "
        "qui atteignent l'objectif du trimestre, les nouvelles opportunités créées et les "
        "affaires gagnées typiques du trimestre, et le pipeline ouvert à son début en "
        "multiple de son objectif (couverture ; {scenario}). Les chiffres par semaine sont "
        "dans indicators.csv.",
        "period": "Trimestre",
        "new_opportunities": "Nouv. opp.",
        "wins_needed": "Gains",
        "pipeline_at_quarter_start": "Pipeline au départ",
        "pipeline_coverage": "Couverture",
        "weekly_new_opportunities": "Nouv. opp. / sem.",
        "weekly_wins": "Gains / sem.",
        "evidence": "Quelle confiance lui accorder",
        "left_out_start": "Les nouvelles opportunités des premiers mois de l'historique "
        "({months}) sont bien en deçà d'un mois ordinaire : lues comme les premiers mois du "
        "CRM, elles sont écartées du rythme d'arrivée.",
        "left_out_end": "Les nouvelles opportunités des derniers mois ({months}) sont moins "
        "de la moitié d'un mois ordinaire : lues comme des affaires pas encore saisies, elles "
        "sont écartées du rythme d'arrivée. Si la baisse est réelle, les objectifs sont trop "
        "hauts : vérifiez ces mois.",
        "converged_yes": "L'échantillonneur du modèle a convergé (R-hat {rhat}, taille "
        "d'échantillon effective d'au moins {ess}, {div} divergences).",
        "converged_no": "ATTENTION : l'échantillonneur du modèle n'a pas convergé (R-hat "
        "{rhat}, taille d'échantillon effective {ess}, {div} divergences). Prenez chaque "
        "chiffre de ce rapport avec prudence.",
        "problems": "Problèmes signalés",
        "ppc": "L'an dernier, tel que le modèle l'aurait prédit",
        "ppc_help": "Les 12 derniers mois observés, face à la fourchette prédictive à 90 % du "
        "modèle pour une année semblable. Hors fourchette : le modèle manque quelque chose "
        "sur ce segment.",
        "observed": "Observé",
        "predicted_band": "Fourchette prédite à 90 %",
        "verdict": "Verdict",
        "consistent": "cohérent",
        "outside": "hors fourchette",
        "bookings_12m": "CA signé",
        "wins_12m": "affaires gagnées",
        "wide_intervals": "Ce que les données n'ont pas pu dire",
        "wide_help": "Grandeurs dont l'intervalle à 90 % est large : les objectifs qui en "
        "dépendent sont incertains, et plus d'historique les resserrerait.",
        "none_wide": "Aucune grandeur n'a d'intervalle large.",
        "tiers": "Plancher, objectif et dépassement",
        "tiers_help": "CA signé sur l'année atteint avec chaque probabilité : le plancher est "
        "quasi sûr, le dépassement demande de la chance ou un effort supplémentaire.",
        "floor": "Plancher",
        "stretch": "Dépassement",
        "topdown": "Objectif descendant et estimation ascendante",
        "objectives": "Objectifs (SMART et OKR)",
        "print_note": "Les chiffres sont des résultats simulés, pas des garanties.",
        "FY": "Année",
        "driver_arrivals_per_month": "les nouvelles opportunités par mois",
        "driver_win_rate": "les affaires gagnées par nouvelle opportunité",
        "driver_deal_size_median": "la taille médiane des affaires",
        "driver_cycle_days_median": "le délai médian de signature",
    },
}


#: Words of track.html (targetsim track), in both languages.
TRACK_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Tracking as of {as_of}",
        "intro": "Plan made on data as of {plan_as_of}. Each target's probability now combines "
        "what is already booked with a simulation of the rest of the period from today's "
        "pipeline.",
        "month_end": "Tracking as of {as_of}, the last complete month before the export's date "
        "{export} (the simulation counts whole months).",
        "no_indicators": "indicators.csv is not in the plan: no pipeline coverage check.",
        "warnings": "Early warnings",
        "no_warning": "No early warning: {n} checks, each firing at most 2.5 % of the time on a "
        "year that follows the plan.",
        "targets": "Targets ({scenario})",
        "legend_green": "on track (probability at least the plan's minus 5 points)",
        "legend_amber": "at risk (40 % or more)", "legend_red": "likely missed (under 40 %)",
        "green": "on track", "amber": "at risk", "red": "likely missed",
        "target": "Target", "period": "Period", "quota": "Quota", "booked": "Booked",
        "done": "Done", "plan": "Plan", "now": "Now", "range": "Likely range",
        "rep": "Rep",
        "reps": "Reps ({n} quotas; {red} likely missed)",
        "files": "Every scenario, metric and period is in track.csv; every check in "
        "track_warnings.csv.",
        "company": "Company", "bookings": "bookings", "deals_won": "deals won",
        "FY": "Full year",
        "warning_title": "{segment}: {title}",
        "check_conversion": "Fewer wins than the plan expects.",
        "check_cycle_length": "Deals are taking longer to close.",
        "check_inflow": "Fewer new opportunities than the targets need.",
        "check_coverage": "The pipeline is thin for next quarter.",
        "ev_conversion": "{observed} deals won among those open at the plan date or created "
        "since; the plan expected {expected} (95 % band from {threshold}).",
        "ev_cycle_length": "{observed} deals older than the plan's 90th percentile of time to "
        "win are still open; the plan expected {expected} (95 % band up to {threshold}).",
        "ev_inflow": "{observed} new opportunities since the start of the year against "
        "{expected} expected by now (95 % band from {threshold}).",
        "ev_coverage": "The open pipeline covers {observed} next quarter's target; the plan "
        "derived {expected}.",
    },
    "fr": {
        "title": "Suivi au {as_of}",
        "intro": "Plan établi sur les données au {plan_as_of}. La probabilité de chaque "
        "objectif combine ce qui est déjà signé et une simulation du reste de la période à "
        "partir du pipeline d'aujourd'hui.",
        "month_end": "Suivi au {as_of}, dernier mois complet avant la date de l'export "
        "({export}) : la simulation compte des mois entiers.",
        "no_indicators": "indicators.csv n'est pas dans le plan : pas de contrôle de la "
        "couverture du pipeline.",
        "warnings": "Signaux faibles",
        "no_warning": "Aucun signal faible : {n} contrôles, chacun ne se déclenchant qu'au plus "
        "2,5 % du temps sur une année conforme au plan.",
        "targets": "Objectifs ({scenario})",
        "legend_green": "dans les temps (probabilité d'au moins celle du plan moins 5 points)",
        "legend_amber": "fragile (40 % ou plus)",
        "legend_red": "probablement manqué (moins de 40 %)",
        "green": "dans les temps", "amber": "fragile", "red": "probablement manqué",
        "target": "Objectif", "period": "Période", "quota": "Quota", "booked": "Signé",
        "done": "Réalisé", "plan": "Plan", "now": "Aujourd'hui", "range": "Fourchette probable",
        "rep": "Commercial",
        "reps": "Commerciaux ({n} quotas ; {red} probablement manqués)",
        "files": "Chaque scénario, indicateur et période est dans track.csv ; chaque contrôle "
        "dans track_warnings.csv.",
        "company": "Entreprise", "bookings": "CA signé", "deals_won": "affaires gagnées",
        "FY": "Année",
        "warning_title": "{segment} : {title}",
        "check_conversion": "Moins d'affaires gagnées que le plan ne l'attend.",
        "check_cycle_length": "Les affaires mettent plus de temps à se conclure.",
        "check_inflow": "Moins de nouvelles opportunités que les objectifs n'en demandent.",
        "check_coverage": "Le pipeline est mince pour le trimestre suivant.",
        "ev_conversion": "{observed} affaires gagnées parmi celles ouvertes à la date du plan "
        "ou créées depuis ; le plan en attendait {expected} (bande à 95 % à partir de "
        "{threshold}).",
        "ev_cycle_length": "{observed} affaires plus anciennes que le 90e centile du délai de "
        "signature du plan sont encore ouvertes ; le plan en attendait {expected} (bande à "
        "95 % jusqu'à {threshold}).",
        "ev_inflow": "{observed} nouvelles opportunités depuis le début de l'année contre "
        "{expected} attendues à ce jour (bande à 95 % à partir de {threshold}).",
        "ev_coverage": "Le pipeline ouvert couvre {observed} l'objectif du trimestre suivant ; "
        "le plan en demandait {expected}.",
    },
}


def month_abbr(month: int, lang: str) -> str:
    """Short month name (1 = January) in ``lang`` (Babel), independent of the system locale."""
    return _f.month_abbr(month, lang)


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


def fmt_number(x: float | None, lang: str, decimals: int = 0) -> str:
    """A number in ``lang`` (:func:`targetsim.formatting.number`)."""
    return _f.number(x, lang, decimals)


def fmt_compact(x: float | None, lang: str) -> str:
    """A short number for chart axes: ``7.5M`` / ``7,5 M`` (Babel)."""
    return _f.compact(x, lang)


def fmt_pct(p: float | None, lang: str, decimals: int = 0) -> str:
    """A probability as a percentage: ``60%`` / ``60 %``."""
    return _f.percent(p, lang, decimals)
