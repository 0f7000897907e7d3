"""``targetsim plan DATA --out DIR`` and ``targetsim demo [--out DIR]``.

Both run ingest → fit → simulate → calibrate → report (:func:`targetsim.plan.run_plan`)
and end with a console summary: the company target per scenario with its probability and
band, then the targets per segment. A fit that did not converge still writes every output,
flags it in plan.json and on the console, and exits with code 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from targetsim.cli._common import (
    MAX_MONTHS,
    AmountsOpt,
    AsOfOpt,
    DataArg,
    DateFormatOpt,
    DayfirstOpt,
    DecimalOpt,
    FormatOpt,
    FxOpt,
    LostStagesOpt,
    MapOpt,
    SafeConsole,
    SegmentColOpt,
    SheetOpt,
    SkipInvalidOpt,
    StageHistoryOpt,
    StageOrderOpt,
    StagesOpt,
    WonStagesOpt,
    console,
    export_options,
    parse_mapping,
    parse_stages,
    print_warnings,
    read_options,
    styled,
)
from targetsim.errors import ConfigError, ConvergenceError

OutOpt = Annotated[Path, typer.Option("--out", metavar="DIR", help="Output directory (created).")]
ScenarioOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--scenario", metavar="FILE|NAME",
        help="Scenario YAML file or bundled name (baseline, growth, tension, hiring-freeze); "
        "repeatable. Default: the baseline of no change.",
    ),
]
StartOpt = Annotated[
    str | None,
    typer.Option("--start", metavar="DATE",
                 help="First day of the horizon (default: the month after as-of)."),
]
MonthsOpt = Annotated[
    int, typer.Option("--months", min=1, max=MAX_MONTHS, metavar="N",
                      help=f"Horizon length in months, 1 to {MAX_MONTHS}.")
]
ProbabilityOpt = Annotated[
    float, typer.Option("--probability", metavar="P",
                        help="Attainment probability of the targets (0.6: reached 3 years in 5).")
]
DrawsOpt = Annotated[
    int, typer.Option("--draws", min=10, metavar="N",
                      help="Posterior draws simulated (one simulated year each).")
]
McmcDrawsOpt = Annotated[
    int | None, typer.Option("--mcmc-draws", min=1, max=100_000, metavar="N",
                             help="MCMC draws per chain (default: enough for the convergence "
                             "gate, at least 1,000).")
]
TuneOpt = Annotated[int | None, typer.Option("--tune", min=1, max=100_000, metavar="N",
                                             help="MCMC tuning steps per chain (default 500).")]
ChainsOpt = Annotated[int, typer.Option("--chains", min=1, max=64, metavar="N",
                                        help="MCMC chains.")]
SamplerOpt = Annotated[
    str, typer.Option("--sampler", metavar="NAME",
                      help="nutpie (default), nutpie-lowrank (low-rank mass matrix: try it when "
                      "the fit does not converge) or pymc.")
]
PriorsOpt = Annotated[
    Path | None, typer.Option("--priors", metavar="FILE",
                              help="YAML file overriding the model's priors.")
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, metavar="N",
                                      help="Root random seed (same seed, same targets).")]
EngineOpt = Annotated[
    str, typer.Option("--engine", metavar="NAME",
                      help="Simulation engine: auto, des (SimPy) or fast (NumPy).")
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", min=1, max=256, metavar="N",
                             help="Simulate on a local dask cluster of N processes.")
]
TiersOpt = Annotated[
    str | None,
    typer.Option("--tiers", metavar="P,P,P",
                 help="Floor,target,stretch probabilities, e.g. 0.9,0.6,0.3."),
]
CompanyTargetOpt = Annotated[
    str | None,
    typer.Option(
        "--company-target", metavar="AMOUNT",
        help="The board's FY bookings number (e.g. 12500000, 12.5M, 800k): shown in the "
        "headline with its probability per scenario, split into the quotas, and the smallest "
        "change that lifts it to --probability.",
    ),
]
OverAssignmentOpt = Annotated[
    float, typer.Option("--over-assignment", metavar="K",
                        help="Sum of rep quotas ÷ company number: 1.0 (default) hands out "
                        "exactly the company number, 1.1 (common practice) 10 % more.")
]
TeamsOpt = Annotated[
    Path | None, typer.Option("--teams", metavar="FILE",
                              help="Teams file: owner, manager, region (Maven's "
                              "sales_teams.csv reads as it is) for the quota sheet's roll-ups.")
]
LangOpt = Annotated[str, typer.Option("--lang", metavar="LANG",
                                      help="Language of every output: en or fr.")]
CurrencyOpt = Annotated[
    str, typer.Option("--currency", metavar="CODE",
                      help="ISO code of the data's currency (USD, EUR, GBP...).")
]
ProgressOpt = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
]
QuotasOpt = Annotated[
    Path | None,
    typer.Option(
        "--quotas",
        help="Proposed or existing quotas (level, name, period, metric, target): each one's "
        "probability, band position and verdict in quota_scores.csv, the report and "
        "targets.xlsx; how they add up in quota_rollup.csv.",
    ),
]

PLAN_EXAMPLE = (
    "Example: targetsim plan crm.csv --out plan/ --scenario growth --scenario tension "
    "--teams teams.csv --over-assignment 1.1 --currency EUR --lang fr"
)
DEMO_EXAMPLE = "Example: targetsim demo --out build/demo --lang fr --currency EUR"


def parse_amount(text: str | None) -> float | None:
    """``"12.5M"`` → 12 500 000, ``"800k"`` → 800 000, ``"1,200,000"`` → 1 200 000."""
    if text is None:
        return None
    raw = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    factor = 1.0
    if raw[-1:].lower() in ("k", "m"):
        factor = 1e3 if raw[-1].lower() == "k" else 1e6
        raw = raw[:-1]
    try:
        value = float(raw) * factor
    except ValueError:
        raise ConfigError(
            f"--company-target: expected an amount like 12500000, 12.5M or 800k, got {text!r}"
        ) from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"--company-target: must be a positive amount, got {text!r}")
    return value


def parse_tiers_opt(text: str | None) -> tuple[float, float, float] | None:
    """``--tiers`` text → probabilities (None when absent)."""
    if text is None:
        return None
    from targetsim.calibrate import parse_tiers

    return parse_tiers(text)


def read_quotas_opt(path: Path | None):  # noqa: ANN201 - Quotas or None
    """``--quotas`` read and checked for form (names and periods wait for the data)."""
    if path is None:
        return None
    from targetsim.calibrate.score import read_quotas

    quotas = read_quotas(path)
    print_warnings(quotas.warnings)
    return quotas


#: Words of the console summary of plan / demo / calibrate, in each language. ``flags`` and
#: ``board`` carry our own styling: they are printed with :func:`styled`, which escapes the
#: values filled in; the others are plain text (the console escapes all of it).
SUMMARY_WORDS = {
    "en": {
        "head": "Company FY bookings target at {p}",
        "cols": ("scenario", "target", "probability", "p10–p90 band", "deals won",
                 "last 12 months", "growth"),
        "proposed": " (proposed)",
        "segments": "Segment quotas ({scenario}; they add up to the company number)",
        "seg_cols": ("segment", "quota", "probability", "last 12 months", "growth"),
        "reps": "Rep quotas: {sumq} in all, {k} of the company number {company} "
                "(--over-assignment); each rep reaches their quota with probability {q}; the "
                "company number is reached with probability {pc}, the sum of quotas with "
                "{psum}.",
        "flags": "[yellow]warning:[/] {below} FY bookings quota(s) below the last 12 months' "
                 "actual, {above} above 1.5× it:",
        "flag": "  {name}: {quota} vs {actual} in the last 12 months ({growth}); driver: {driver}",
        "company": "company",
        "reps_flagged": "  {n} rep quota(s) flagged; drivers: {drivers}.",
        "driver_help": "  The driver is the fitted quantity that departs most from last year "
                       "(targets.csv: context_flag, context_driver; last_year.csv beside "
                       "fit_summary.csv).",
        "no_driver": "no single fitted quantity",
        "board": "[bold]The board's number[/] {target} under {scenario}: probability {prob}; "
                 "to reach {p}: {levers}",
        "time": "time: {items}", "wrote": "wrote {n} files to {out}",
    },
    "fr": {
        "head": "Objectif annuel de CA signé de l'entreprise à {p}",
        "cols": ("scénario", "objectif", "probabilité", "fourchette p10–p90",
                 "affaires gagnées", "12 derniers mois", "croissance"),
        "proposed": " (proposé)",
        "segments": "Quotas des segments ({scenario} ; ils s'additionnent jusqu'à l'objectif "
                    "de l'entreprise)",
        "seg_cols": ("segment", "quota", "probabilité", "12 derniers mois", "croissance"),
        "reps": "Quotas des commerciaux : {sumq} au total, {k} de l'objectif de l'entreprise "
                "{company} (--over-assignment) ; chaque commercial atteint son quota avec une "
                "probabilité de {q} ; l'objectif de l'entreprise est atteint avec une "
                "probabilité de {pc}, la somme des quotas de {psum}.",
        "flags": "[yellow]attention :[/] {below} quota(s) annuel(s) de CA signé sous le réalisé "
                 "des 12 derniers mois, {above} au-dessus de 1,5 fois :",
        "flag": "  {name} : {quota} contre {actual} sur les 12 derniers mois ({growth}) ; "
                "cause : {driver}",
        "company": "entreprise",
        "reps_flagged": "  {n} quota(s) de commerciaux signalé(s) ; causes : {drivers}.",
        "driver_help": "  La cause est la grandeur ajustée qui s'écarte le plus de l'an dernier "
                       "(targets.csv : context_flag, context_driver ; last_year.csv à côté de "
                       "fit_summary.csv).",
        "no_driver": "aucune grandeur ajustée en particulier",
        "board": "[bold]L'objectif de la direction[/] {target} dans le scénario {scenario} : "
                 "probabilité {prob} ; pour atteindre {p} : {levers}",
        "time": "durée : {items}", "wrote": "{n} fichiers écrits dans {out}",
    },
}


def print_summary(result, console: SafeConsole) -> None:  # noqa: ANN001 - PlanResult
    """Console summary in the plan's language: the company number per scenario beside last
    year, segment quotas, reps' rule, flags against last year, the board's number."""
    from targetsim import formatting as fmt
    from targetsim.calibrate.objectives import quota_of

    cal = result.calibration
    lang = result.metadata.get("lang", "en")
    w = SUMMARY_WORDS[fmt.check_lang(lang)]
    cur = fmt.check_currency(result.metadata.get("currency", "USD"))
    t = cal.targets
    has_ly = "last_year_actual" in t

    def money(v: float) -> str:
        return fmt.money_compact(v, lang, cur)

    def scenario(name: str) -> str:
        return fmt.scenario_label(name, lang)

    fy = t.loc[t["period"].eq("FY") & t["metric"].eq("bookings")]
    if fy.empty:  # no won amounts in the data: deals-won targets only
        _print_deals_won(t, cal.probability, lang, console)
    head = Table(title=w["head"].format(p=fmt.percent(cal.probability, lang)))
    cols = list(w["cols"] if has_ly else w["cols"][:5])
    for i, col in enumerate(cols):
        head.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
    for _, r in fy.loc[fy["level"].eq("total")].iterrows():
        deals = t.loc[t["level"].eq("total") & t["period"].eq("FY") & t["metric"].eq("deals_won")
                      & t["scenario"].eq(r["scenario"])]["target"]
        mark = w["proposed"] if r["scenario"] == cal.reference else ""
        row = [scenario(r["scenario"]) + mark, money(r["target"]),
               fmt.percent(r["attainment_probability"], lang),
               fmt.money_range(r["p10"], r["p90"], lang, cur),
               fmt.number(deals.iloc[0], lang) if len(deals) else ""]
        if has_ly:
            row += [money(r["last_year_actual"]), fmt.growth(r["implied_growth"], lang)]
        head.add_row(*row)
    if not fy.empty:
        console.print(head)
    seg = fy.loc[fy["level"].eq("segment") & fy["scenario"].eq(cal.reference)]
    table = Table(title=w["segments"].format(scenario=scenario(cal.reference)))
    seg_cols = list(w["seg_cols"] if has_ly else w["seg_cols"][:3])
    for i, col in enumerate(seg_cols):
        table.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
    for _, r in seg.iterrows():
        q, qp = quota_of(r)
        row = [str(r["name"]), money(q), fmt.percent(qp, lang)]
        if has_ly:
            row += [money(r["last_year_actual"]), fmt.growth(r["implied_growth"], lang)]
        table.add_row(*row)
    if not seg.empty:
        console.print(table)
    for a in cal.allocation_summary:
        if a.scenario != cal.reference or a.level != "owner":
            continue
        console.print(w["reps"].format(
            sumq=money(a.sum_of_quotas), k=fmt.percent(a.over_assignment, lang),
            company=money(a.company_target), q=fmt.percent(a.common_probability, lang),
            pc=fmt.percent(a.p_company_number, lang), psum=fmt.percent(a.p_sum_of_quotas, lang)),
            highlight=False)
    if has_ly:
        _print_flags(t, cal.reference, lang, cur, console)
    if cal.topdown is not None:
        for s, grp in cal.topdown.groupby("scenario", sort=False):
            console.print(styled(
                w["board"], target=money(float(grp["company_target"].iloc[0])),
                scenario=scenario(s),
                prob=fmt.percent(float(grp["attainment_probability"].iloc[0]), lang),
                p=fmt.percent(cal.probability, lang),
                levers=" | ".join(str(c) for c in grp["change"])), highlight=False)
    tm = result.timings
    if tm:
        console.print(w["time"].format(items=", ".join(
            f"{k} {fmt.number(v, lang, 1)} s" for k, v in tm.items())), highlight=False)
    console.print(w["wrote"].format(n=len(result.files), out=result.out_dir),
                  highlight=False)


def _print_flags(t, reference: str, lang: str, cur: str,  # noqa: ANN001 - DataFrame
                 console: SafeConsole) -> None:
    """Quotas below last year or above 1.5x it, with the fitted quantity that drives them."""
    from targetsim import formatting as fmt
    from targetsim.calibrate.objectives import quota_of
    from targetsim.report.i18n import labels

    w = SUMMARY_WORDS[lang]
    lab = labels(lang)
    sel = t.loc[t["scenario"].eq(reference) & t["period"].eq("FY") & t["metric"].eq("bookings")
                & t["context_flag"].fillna("").ne("")]
    if sel.empty:
        return

    def driver(code: object) -> str:
        return lab.get(f"driver_{code}", w["no_driver"]) if code else w["no_driver"]

    below = sel.loc[sel["context_flag"].eq("below_last_year")]
    above = sel.loc[sel["context_flag"].eq("above_last_year")]
    console.print(styled(w["flags"], below=len(below), above=len(above)), highlight=False)
    for _, r in sel.loc[sel["level"].ne("owner")].iterrows():
        console.print(w["flag"].format(
            name=w["company"] if r["level"] == "total" else r["name"],
            quota=fmt.money_compact(quota_of(r)[0], lang, cur),
            actual=fmt.money_compact(r["last_year_actual"], lang, cur),
            growth=fmt.growth(r["implied_growth"], lang), driver=driver(r["context_driver"])),
            highlight=False)
    owners = sel.loc[sel["level"].eq("owner"), "context_driver"].fillna("")
    if len(owners):
        console.print(w["reps_flagged"].format(n=len(owners), drivers=", ".join(
            f"{driver(k)} ({v})" for k, v in owners.value_counts().items())), highlight=False)
    console.print(w["driver_help"], highlight=False)


def _print_deals_won(t, probability: float, lang: str,  # noqa: ANN001 - DataFrame
                     console: SafeConsole) -> None:
    """FY deals-won targets per scenario and segment (the summary when there are no amounts)."""
    from targetsim import formatting as fmt
    from targetsim.calibrate.objectives import quota_of

    won = t.loc[t["period"].eq("FY") & t["metric"].eq("deals_won")
                & t["level"].isin(["total", "segment"])]
    table = Table(title=f"FY deals-won targets at {fmt.percent(probability, lang)} "
                  "(no amounts in the data: no bookings target)")
    for col in ("scenario", "level", "name", "deals won", "probability", "p10–p90"):
        table.add_column(col, justify="left" if col in ("scenario", "level", "name") else "right")
    for _, r in won.iterrows():
        q, qp = quota_of(r)
        table.add_row(fmt.scenario_label(str(r["scenario"]), lang), str(r["level"]),
                      str(r["name"]), fmt.number(q, lang), fmt.percent(qp, lang),
                      f"{fmt.number(r['p10'], lang)}–{fmt.number(r['p90'], lang)}")
    console.print(table)


def _finish(result, console: SafeConsole) -> None:  # noqa: ANN001 - PlanResult
    for note in result.metadata.get("notes", []):
        console.print(styled("[yellow]note:[/] {}", note), highlight=False)
    print_summary(result, console)
    if result.metadata.get("quotas"):
        from targetsim.calibrate.score import ROLLUP_FILE, SCORES_FILE

        console.print(
            f"quotas of {result.metadata['quotas']} scored: "
            f"{result.out_dir / SCORES_FILE}, {result.out_dir / ROLLUP_FILE}", highlight=False,
        )
    if not result.converged:
        raise ConvergenceError(
            f"the model did not converge (see {result.out_dir / 'diagnostics.json'}); every "
            "output was written and is flagged in plan.json: treat the targets with caution, "
            "or rerun with --sampler nutpie-lowrank, another --seed or more --mcmc-draws"
        )


def register(app: typer.Typer) -> None:
    """Add the ``plan`` and ``demo`` commands to the CLI."""

    @app.command("plan", epilog=PLAN_EXAMPLE)
    def plan(
        data: DataArg,
        out: OutOpt = Path("targetsim-plan"),
        fmt: FormatOpt = None,
        map_: MapOpt = None,
        segment_col: SegmentColOpt = None,
        stages: StagesOpt = None,
        as_of: AsOfOpt = None,
        skip_invalid: SkipInvalidOpt = False,
        scenario: ScenarioOpt = None,
        start: StartOpt = None,
        months: MonthsOpt = 12,
        probability: ProbabilityOpt = 0.6,
        draws: DrawsOpt = 400,
        mcmc_draws: McmcDrawsOpt = None,
        tune: TuneOpt = None,
        chains: ChainsOpt = 2,
        sampler: SamplerOpt = "nutpie",
        priors: PriorsOpt = None,
        seed: SeedOpt = 0,
        engine: EngineOpt = "auto",
        workers: WorkersOpt = None,
        tiers: TiersOpt = None,
        company_target: CompanyTargetOpt = None,
        over_assignment: OverAssignmentOpt = 1.0,
        teams: TeamsOpt = None,
        lang: LangOpt = "en",
        currency: CurrencyOpt = "USD",
        progress: ProgressOpt = True,
        quotas: QuotasOpt = None,
        won_stages: WonStagesOpt = None,
        lost_stages: LostStagesOpt = None,
        stage_order: StageOrderOpt = None,
        stage_history: StageHistoryOpt = None,
        fx: FxOpt = None,
        amounts: AmountsOpt = "auto",
        date_format: DateFormatOpt = None,
        dayfirst: DayfirstOpt = None,
        decimal: DecimalOpt = ".",
        sheet: SheetOpt = None,
    ) -> None:
        """Ingest, fit, simulate, calibrate and report in one go: targets with their
        probability, beside last year's actuals."""
        from targetsim.cli.fit import load_priors
        from targetsim.data import load_opportunities
        from targetsim.data.funnel import build_funnel
        from targetsim.io import prepare_output_dir
        from targetsim.plan import run_plan

        tier_p = parse_tiers_opt(tiers)
        amount = parse_amount(company_target)
        config = load_priors(priors) if priors is not None else None
        quota_table = read_quotas_opt(quotas)  # before the data: a typo should not wait
        options = export_options(won_stages, lost_stages, stage_order, stage_history, fx,
                                 amounts)
        read = read_options(date_format, dayfirst, decimal, sheet)
        prepare_output_dir(out, create=False)  # an unusable --out stops before the data is read
        opps = load_opportunities(data, fmt=fmt, mapping=parse_mapping(map_),
                                  segment_col=segment_col, stages=parse_stages(stages),
                                  as_of=as_of, skip_invalid=skip_invalid, options=options,
                                  read=read)
        print_warnings(opps.warnings)
        result = run_plan(
            build_funnel(opps), out, scenarios=scenario or (), probability=probability,
            tiers=tier_p, company_target=amount, start=start, months=months, draws=draws,
            mcmc_draws=mcmc_draws, tune=tune, chains=chains, sampler=sampler, priors=config,
            seed=seed, engine=engine, workers=workers, lang=lang, currency=currency,
            over_assignment=over_assignment, teams=teams, progress=progress, quotas=quota_table,
        )
        _finish(result, console())

    @app.command("demo", epilog=DEMO_EXAMPLE)
    def demo(
        out: OutOpt = Path("targetsim-demo"),
        draws: DrawsOpt = 400,
        seed: SeedOpt = 0,
        tiers: TiersOpt = None,
        company_target: CompanyTargetOpt = None,
        over_assignment: OverAssignmentOpt = 1.0,
        lang: LangOpt = "en",
        currency: CurrencyOpt = "USD",
        progress: ProgressOpt = True,
        quotas: QuotasOpt = None,
    ) -> None:
        """Run `plan` on the bundled Maven CRM data (segments = products; baseline, growth and
        tension scenarios; teams from Maven's sales_teams.csv)."""
        from targetsim.data import demo_data_path, load_funnel
        from targetsim.plan import DEMO_SCENARIOS, run_plan

        quota_table = read_quotas_opt(quotas)
        funnel = load_funnel(demo_data_path(), fmt="maven", segment_col="product")
        print_warnings(funnel.warnings)
        result = run_plan(
            funnel, out, scenarios=DEMO_SCENARIOS, probability=0.6,
            tiers=parse_tiers_opt(tiers), company_target=parse_amount(company_target),
            draws=draws, seed=seed, lang=lang, currency=currency,
            over_assignment=over_assignment, teams=demo_data_path() / "sales_teams.csv",
            progress=progress, quotas=quota_table,
        )
        _finish(result, console())
