"""``targetsim track PLAN_DIR DATA_NOW`` and ``targetsim backtest DATA --cutoffs ...``.

``track`` re-forecasts each target of a plan from what is booked and today's pipeline and
runs the early-warning checks; ``backtest`` fits at past cutoffs and scores the forecasts
against what happened, next to the two baselines sales teams use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from targetsim.cli._common import (
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
    opportunities_from_cli,
    read_options,
    styled,
)
from targetsim.errors import ConfigError
from targetsim.model.config import DEFAULT_DRAWS as DEFAULT_MCMC_DRAWS
from targetsim.model.config import DEFAULT_TUNE as DEFAULT_MCMC_TUNE

PlanDirArg = Annotated[
    Path, typer.Argument(help="Plan directory written by `targetsim plan`.", show_default=False,
                         metavar="PLAN_DIR")
]
DataNowArg = Annotated[
    Path,
    typer.Argument(help="Fresh CRM export (same layout and options as the plan's data).",
                   show_default=False, metavar="DATA_NOW"),
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Root random seed.")]


def _console() -> SafeConsole:
    """Stdout console; wide enough for the tables when output is not a terminal."""
    out = console()
    return out if out.is_terminal else console(width=140)


def _pct(x: float) -> str:
    return "" if x != x else f"{x:.0%}"


def _num(x: float, metric: str) -> str:
    return f"{x:,.0f}" if metric == "bookings" else f"{x:,.1f}"


def print_track(result, console: SafeConsole) -> None:  # noqa: ANN001 - TrackResult
    """Targets table and warnings on the console."""
    for n in result.notes:
        console.print(styled("[yellow]note:[/] {}", n), highlight=False)
    table = Table(title=f"Targets as of {result.as_of.date()} (plan as of "
                        f"{result.plan_as_of.date()})")
    for col in ("scenario", "level", "name", "period", "metric", "target", "booked",
                "to date", "gap", "P plan", "P now", "p10–p90"):
        table.add_column(col, justify="left" if col in ("scenario", "level", "name", "period",
                                                         "metric") else "right")
    shown = result.table.loc[result.table["level"] != "owner"]
    n_owner = len(result.table) - len(shown)
    for r in shown.itertuples(index=False):
        m = str(r.metric)
        low = r.plan_probability == r.plan_probability and r.probability_now < (
            r.plan_probability - 0.1)
        p_now = _pct(r.probability_now)
        table.add_row(
            str(r.scenario), str(r.level), str(r.name), str(r.period), m, _num(r.target, m),
            _num(r.booked_to_date, m), _pct(r.attainment_to_date), _num(r.gap, m),
            _pct(r.plan_probability), styled("[red]{}[/]", p_now) if low else p_now,
            f"{_num(r.p10, m)}–{_num(r.p90, m)}",
        )
    console.print(table)
    if n_owner:
        console.print(f"{n_owner} owner targets: see track.csv", highlight=False)
    w = result.warnings
    fired = w.loc[w["triggered"]] if len(w) else w
    if len(fired):
        console.print(styled("[bold red]{} early warning(s)[/] of {} checks:", len(fired), len(w)))
        for r in fired.itertuples(index=False):
            console.print(styled("  [red]{}[/] {}: {}", r.check, r.segment, r.evidence),
                          highlight=False)
    else:
        console.print(f"no early warning ({len(w)} checks, each at most 2.5 % false alarms)")


def print_scorecard(result, console: SafeConsole) -> None:  # noqa: ANN001 - BacktestResult
    """The backtest scorecard, model and baselines side by side."""
    card = result.scorecard
    table = Table(title=f"Backtest scorecard (target hit rate at p = {result.probability})")
    for col in ("metric", "level", "method", "n", "CRPS", "CRPS / actual", "MAPE",
                "p10–p90 coverage", "hit rate"):
        table.add_column(col, justify="left" if col in ("metric", "level", "method") else "right")
    for r in card.itertuples(index=False):
        table.add_row(
            str(r.metric), str(r.level), str(r.method), str(r.n),
            _num(r.crps, str(r.metric)), f"{r.relative_crps:.3f}", _pct(r.mape),
            _pct(r.coverage_p10_p90), _pct(r.hit_rate),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``track`` and ``backtest`` commands to the CLI."""

    @app.command("track", epilog="Example: targetsim track plan/ crm-2018-03.csv --out "
                 "plan/track-2018-03")
    def track(
        plan_dir: PlanDirArg,
        data_now: DataNowArg,
        out: Annotated[
            Path | None, typer.Option("--out", help="Output directory (default: PLAN_DIR).")
        ] = None,
        fmt: FormatOpt = None,
        map_: MapOpt = None,
        segment_col: SegmentColOpt = None,
        stages: StagesOpt = None,
        as_of: AsOfOpt = None,
        skip_invalid: SkipInvalidOpt = False,
        won_stages: WonStagesOpt = None,
        lost_stages: LostStagesOpt = None,
        stage_order: StageOrderOpt = None,
        stage_history: StageHistoryOpt = None,
        fx: FxOpt = None,
        amounts: AmountsOpt = "auto",
        draws: Annotated[
            int | None, typer.Option("--draws", metavar="N", help="Posterior draws simulated "
                                     "(default: the plan's, with its seed: an unchanged plan "
                                     "re-tracks to its own probabilities).")
        ] = None,
        seed: Annotated[int | None, typer.Option("--seed", min=0, metavar="N",
                                                 help="Root random seed (default: the "
                                                 "plan's).")] = None,
        lang: Annotated[str | None, typer.Option(
            "--lang", metavar="LANG", help="Language of track.html: en or fr (default: the "
            "plan's).")] = None,
        progress: Annotated[bool, typer.Option("--progress/--no-progress",
                                               help="Show progress bars.")] = True,
        date_format: DateFormatOpt = None,
        dayfirst: DayfirstOpt = None,
        decimal: DecimalOpt = ".",
        sheet: SheetOpt = None,
    ) -> None:
        """Re-forecast each target from bookings to date and today's pipeline; early warnings."""
        from targetsim.formatting import check_currency, check_lang
        from targetsim.io import output_folder, staged_outputs
        from targetsim.track.output import write_track
        from targetsim.track.track import plan_language, track_plan

        if draws is not None and draws < 10:
            raise ConfigError(f"--draws: need at least 10 posterior draws, got {draws}")
        if not plan_dir.is_dir():
            raise ConfigError(f"{plan_dir}: not a directory; give the --out of `targetsim plan`")
        options = export_options(won_stages, lost_stages, stage_order, stage_history, fx, amounts)
        read = read_options(date_format, dayfirst, decimal, sheet)
        plan_lang, currency = plan_language(plan_dir)
        lang = check_lang(lang) if lang is not None else plan_lang
        currency = check_currency(currency)
        with output_folder(out or plan_dir, "--out" if out else "PLAN_DIR") as folder:
            opps = opportunities_from_cli(data_now, fmt, map_, segment_col, stages, as_of,
                                          skip_invalid, options, read)
            result = track_plan(plan_dir, opps, n_draws=draws, random_seed=seed,
                                progress=progress)
            out_console = _console()
            print_track(result, out_console)
            with staged_outputs(folder) as stage:  # track.csv, its warnings and page, or none
                files = [folder / f.name for f in write_track(
                    result, stage, html=(plan_dir / "report.html").is_file(), lang=lang,
                    currency=currency)]
        out_console.print(f"wrote {', '.join(str(f) for f in files)}", highlight=False)

    @app.command("backtest", epilog="Example: targetsim backtest crm.csv --cutoffs "
                 "2017-06-30,2017-09-30 --out backtest/")
    def backtest(
        data: DataArg,
        cutoffs: Annotated[
            str | None,
            typer.Option("--cutoffs", help="Month-end cutoffs, comma separated, e.g. "
                         "2017-06-30,2017-09-30 (default: the last quarter-ends the data "
                         "allow, with 6 months of history before each)."),
        ] = None,
        horizon_months: Annotated[
            int, typer.Option("--horizon-months", help="Months forecast after each cutoff.")
        ] = 3,
        out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path(
            "targetsim-backtest"
        ),
        fmt: FormatOpt = None,
        map_: MapOpt = None,
        segment_col: SegmentColOpt = None,
        stages: StagesOpt = None,
        as_of: AsOfOpt = None,
        skip_invalid: SkipInvalidOpt = False,
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
        draws: Annotated[
            int, typer.Option("--mcmc-draws", metavar="N", help="MCMC draws per chain of "
                              "each fit.")
        ] = DEFAULT_MCMC_DRAWS,
        tune: Annotated[int, typer.Option("--tune", metavar="N",
                                          help="Tuning steps per chain.")] = DEFAULT_MCMC_TUNE,
        chains: Annotated[int, typer.Option("--chains", help="MCMC chains per fit.")] = 2,
        probability: Annotated[
            float, typer.Option("--probability", help="p of the target whose hit rate is scored.")
        ] = 0.6,
        growth: Annotated[
            float, typer.Option("--growth", help="Growth of the 'last period + growth' "
                                "baseline (0.1 = +10 %).")
        ] = 0.0,
        seed: SeedOpt = 0,
    ) -> None:
        """Fit at past cutoffs, forecast, score against what happened and two baselines."""
        from targetsim.track.backtest import backtest as run_backtest
        from targetsim.track.backtest import model_forecaster, parse_cutoffs
        from targetsim.track.output import write_backtest

        for name, v in (("--mcmc-draws", draws), ("--tune", tune), ("--chains", chains)):
            if v < 1:
                raise ConfigError(f"{name} must be at least 1, got {v}")
        from targetsim.io import output_folder, staged_outputs

        cuts = parse_cutoffs(cutoffs) if cutoffs is not None else None
        options = export_options(won_stages, lost_stages, stage_order, stage_history, fx, amounts)
        read = read_options(date_format, dayfirst, decimal, sheet)
        with output_folder(out):
            opps = opportunities_from_cli(data, fmt, map_, segment_col, stages, as_of,
                                          skip_invalid, options, read)
            result = run_backtest(
                opps, cuts, horizon_months=horizon_months,
                forecaster=model_forecaster(draws=draws, tune=tune, chains=chains),
                probability=probability, growth=growth, random_seed=seed,
            )
            out_console = _console()
            print_scorecard(result, out_console)
            for line in result.verdict():
                out_console.print(line, highlight=False, soft_wrap=True)
            with staged_outputs(out) as stage:  # the scorecard, the forecasts, the verdict
                files = [out / f.name for f in write_backtest(result, stage)]
        out_console.print(f"wrote {', '.join(str(f) for f in files)}", highlight=False)
