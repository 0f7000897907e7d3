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
from rich.console import Console
from rich.table import Table

from targetsim.cli._common import (
    MAX_MONTHS,
    AsOfOpt,
    DataArg,
    DateFormatOpt,
    DayfirstOpt,
    DecimalOpt,
    FormatOpt,
    MapOpt,
    SegmentColOpt,
    SheetOpt,
    SkipInvalidOpt,
    StagesOpt,
    console,
    parse_mapping,
    parse_stages,
    print_warnings,
    read_options,
    styled,
)
from targetsim.errors import ConfigError, ConvergenceError

OutOpt = Annotated[Path, typer.Option("--out", help="Output directory (created).")]
ScenarioOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--scenario",
        help="Scenario YAML file or bundled name (baseline, growth, tension, hiring-freeze); "
        "repeatable. Default: the baseline of no change.",
    ),
]
StartOpt = Annotated[
    str | None,
    typer.Option("--start", help="First day of the horizon (default: the month after as-of)."),
]
MonthsOpt = Annotated[
    int, typer.Option("--months", min=1, max=MAX_MONTHS,
                      help=f"Horizon length in months, 1 to {MAX_MONTHS}.")
]
ProbabilityOpt = Annotated[
    float, typer.Option("--probability", help="Attainment probability of the targets.")
]
DrawsOpt = Annotated[int, typer.Option("--draws", min=10, help="Posterior draws simulated.")]
SeedOpt = Annotated[
    int, typer.Option("--seed", min=0, help="Root random seed (same seed, same targets).")
]
EngineOpt = Annotated[
    str, typer.Option("--engine", help="Simulation engine: auto, des (SimPy) or fast (NumPy).")
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, max=256,
                 help="Simulate on a local dask cluster of N processes."),
]
TiersOpt = Annotated[
    str | None,
    typer.Option("--tiers", help="Floor,target,stretch probabilities, e.g. 0.9,0.6,0.3."),
]
CompanyTargetOpt = Annotated[
    str | None,
    typer.Option(
        "--company-target",
        help="The board's FY bookings number (e.g. 12500000, 12.5M, 800k): its probability "
        "per scenario and the smallest change that lifts it to --probability.",
    ),
]
LangOpt = Annotated[str, typer.Option("--lang", help="Language of objectives and report: en, fr.")]
CurrencyOpt = Annotated[
    str, typer.Option("--currency", help="Currency symbol of amounts (the data's currency).")
]
ProgressOpt = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
]


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


def print_summary(result, console: Console) -> None:  # noqa: ANN001 - PlanResult
    """Console summary: headline per scenario, targets per segment, allocation, top-down."""
    from targetsim.calibrate.objectives import format_money, format_percent, format_range

    cal = result.calibration
    lang = result.metadata.get("lang", "en")
    cur = result.metadata.get("currency", "$")
    t = cal.targets

    def money(v: float) -> str:
        return format_money(v, lang, cur)

    fy = t.loc[t["period"].eq("FY") & t["metric"].eq("bookings")]
    if fy.empty:  # no won amounts in the data: deals-won targets only
        _print_deals_won(t, cal.probability, lang, console)
    head = Table(title=f"Company FY bookings target at {format_percent(cal.probability, lang)}")
    for col in ("scenario", "target", "probability", "p10–p90 band", "deals won"):
        head.add_column(col, justify="right" if col != "scenario" else "left")
    for _, r in fy.loc[fy["level"].eq("total")].iterrows():
        deals = t.loc[t["level"].eq("total") & t["period"].eq("FY") & t["metric"].eq("deals_won")
                      & t["scenario"].eq(r["scenario"])]["target"]
        head.add_row(r["scenario"], money(r["target"]),
                     format_percent(r["attainment_probability"], lang),
                     format_range(r["p10"], r["p90"], lang, cur),
                     f"{deals.iloc[0]:.0f}" if len(deals) else "")
    if not fy.empty:
        console.print(head)
    seg = fy.loc[fy["level"].eq("segment")]
    table = Table(title="FY bookings targets per segment (probability)")
    table.add_column("segment")
    scenarios = list(dict.fromkeys(seg["scenario"]))
    for s in scenarios:
        table.add_column(s, justify="right")
    for name in dict.fromkeys(seg["name"]):
        cells = []
        for s in scenarios:
            r = seg.loc[seg["scenario"].eq(s) & seg["name"].eq(name)].iloc[0]
            prob = format_percent(r["attainment_probability"], lang)
            cells.append(f"{money(r['target'])} ({prob})")
        table.add_row(str(name), *cells)
    if not seg.empty:
        console.print(table)
    for a in cal.allocation_summary:
        if a.scenario != cal.reference:
            continue
        console.print(
            styled("[bold]{}s[/] {}", a.level,
                   f"({a.scenario}): split at equal probability "
                   f"{format_percent(a.common_probability)}, the company target "
                   f"{money(a.company_target)} is reached part by part with that probability; "
                   f"sum of individual targets at {format_percent(a.probability)} = "
                   f"{money(a.sum_of_quotas_at_p)} vs company number {money(a.company_at_p)}; "
                   f"P(company ≥ sum) = {format_percent(a.p_company_reaches_sum)}."),
            highlight=False,
        )
    if cal.topdown is not None:
        for s, grp in cal.topdown.groupby("scenario", sort=False):
            console.print(
                styled("[bold]company target[/] {}",
                       f"{money(float(grp['company_target'].iloc[0]))} under {s}: probability "
                       f"{format_percent(float(grp['attainment_probability'].iloc[0]))}; to "
                       f"reach {format_percent(cal.probability)}: "
                       + " | ".join(str(c) for c in grp["change"])),
                highlight=False,
            )
    tm = result.timings
    if tm:
        console.print("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in tm.items()),
                      highlight=False)
    console.print(f"wrote {len(result.files)} files to {result.out_dir}", highlight=False)


def _print_deals_won(t, probability: float, lang: str, console: Console) -> None:  # noqa: ANN001
    """FY deals-won targets per scenario and segment (the summary when there are no amounts)."""
    from targetsim.calibrate.objectives import format_percent

    won = t.loc[t["period"].eq("FY") & t["metric"].eq("deals_won")
                & t["level"].isin(["total", "segment"])]
    table = Table(title=f"FY deals-won targets at {format_percent(probability, lang)} "
                  "(no amounts in the data: no bookings target)")
    for col in ("scenario", "level", "name", "deals won", "probability", "p10–p90"):
        table.add_column(col, justify="left" if col in ("scenario", "level", "name") else "right")
    for _, r in won.iterrows():
        table.add_row(str(r["scenario"]), str(r["level"]), str(r["name"]), f"{r['target']:,.0f}",
                      format_percent(r["attainment_probability"], lang),
                      f"{r['p10']:,.0f}–{r['p90']:,.0f}")
    console.print(table)


def _finish(result, console: Console) -> None:  # noqa: ANN001 - PlanResult
    for note in result.metadata.get("notes", []):
        console.print(styled("[yellow]note:[/] {}", note), highlight=False)
    print_summary(result, console)
    if not result.converged:
        raise ConvergenceError(
            f"the model did not converge (see {result.out_dir / 'diagnostics.json'}); every "
            "output was written and is flagged in plan.json: treat the targets with caution, "
            "or rerun with more --draws"
        )


def register(app: typer.Typer) -> None:
    """Add the ``plan`` and ``demo`` commands to the CLI."""

    @app.command("plan")
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
        seed: SeedOpt = 0,
        engine: EngineOpt = "auto",
        workers: WorkersOpt = None,
        tiers: TiersOpt = None,
        company_target: CompanyTargetOpt = None,
        lang: LangOpt = "en",
        currency: CurrencyOpt = "$",
        progress: ProgressOpt = True,
        date_format: DateFormatOpt = None,
        dayfirst: DayfirstOpt = None,
        decimal: DecimalOpt = ".",
        sheet: SheetOpt = None,
    ) -> None:
        """Ingest, fit, simulate, calibrate and report in one go: targets with probabilities."""
        from targetsim.data import load_opportunities
        from targetsim.data.funnel import build_funnel
        from targetsim.io import prepare_output_dir
        from targetsim.plan import run_plan

        tier_p = parse_tiers_opt(tiers)
        amount = parse_amount(company_target)
        read = read_options(date_format, dayfirst, decimal, sheet)
        prepare_output_dir(out, create=False)  # an unusable --out stops before the data is read
        opps = load_opportunities(data, fmt=fmt, mapping=parse_mapping(map_),
                                  segment_col=segment_col, stages=parse_stages(stages),
                                  as_of=as_of, skip_invalid=skip_invalid, options=read)
        print_warnings(opps.warnings)
        result = run_plan(
            build_funnel(opps), out, scenarios=scenario or (), probability=probability,
            tiers=tier_p, company_target=amount, start=start, months=months, draws=draws,
            seed=seed, engine=engine, workers=workers, lang=lang, currency=currency,
            progress=progress,
        )
        _finish(result, console())

    @app.command("demo")
    def demo(
        out: OutOpt = Path("targetsim-demo"),
        draws: DrawsOpt = 400,
        seed: SeedOpt = 0,
        tiers: TiersOpt = None,
        company_target: CompanyTargetOpt = None,
        lang: LangOpt = "en",
        progress: ProgressOpt = True,
    ) -> None:
        """Run `plan` on the bundled Maven CRM data (segments = products; baseline, growth and
        tension scenarios)."""
        from targetsim.data import demo_data_path, load_funnel
        from targetsim.plan import DEMO_SCENARIOS, run_plan

        funnel = load_funnel(demo_data_path(), fmt="maven", segment_col="product")
        print_warnings(funnel.warnings)
        result = run_plan(
            funnel, out, scenarios=DEMO_SCENARIOS, probability=0.6,
            tiers=parse_tiers_opt(tiers), company_target=parse_amount(company_target),
            draws=draws, seed=seed, lang=lang, progress=progress,
        )
        _finish(result, console())
