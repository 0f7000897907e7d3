"""``targetsim fit DATA --out DIR``: fit the funnel model and write its files."""

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
    SegmentColOpt,
    SheetOpt,
    SkipInvalidOpt,
    StageHistoryOpt,
    StageOrderOpt,
    StagesOpt,
    WonStagesOpt,
    console,
    err_console,
    export_options,
    funnel_from_cli,
    read_options,
    styled,
)
from targetsim.errors import ConfigError, ConvergenceError
from targetsim.model.config import DEFAULT_DRAWS, DEFAULT_TUNE

OutOpt = Annotated[
    Path, typer.Option("--out", help="Directory for fit.nc, fit_summary.csv, diagnostics.json.")
]
DrawsOpt = Annotated[int, typer.Option("--mcmc-draws", min=1, max=100_000, metavar="N",
                                        help="MCMC draws per chain.")]
TuneOpt = Annotated[int, typer.Option("--tune", min=1, max=100_000, metavar="N",
                                      help="Tuning steps per chain.")]
ChainsOpt = Annotated[int, typer.Option("--chains", min=1, max=64, metavar="N",
                                        help="Number of chains.")]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, metavar="N",
                                      help="Random seed (same data and seed: same fit).")]
SamplerOpt = Annotated[
    str,
    typer.Option(
        "--sampler", metavar="NAME",
        help="nutpie (default), nutpie-lowrank (low-rank mass matrix, for correlated "
        "posteriors) or pymc.",
    ),
]
PriorsOpt = Annotated[
    Path | None,
    typer.Option("--priors", metavar="FILE",
                 help="YAML file overriding ModelConfig priors (see targetsim.model)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]


def load_priors(path: Path | None):
    """Read a priors YAML file into a :class:`ModelConfig` (ConfigError when invalid)."""
    from targetsim.model import ModelConfig

    if path is None:
        return ModelConfig()
    import yaml

    from targetsim.simulate.scenario import read_yaml_text

    text = read_yaml_text(path, f"--priors {path}", ConfigError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--priors {path}: invalid YAML ({' '.join(str(exc).split())})") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"--priors {path}: expected a mapping of prior names")
    return ModelConfig.from_dict(data)


def print_fit_report(fit, paths: dict[str, Path]) -> None:
    """Summary table on stdout, diagnostics loudly on stderr when the gate fails."""
    s = fit.summary()
    main = s.loc[
        s["parameter"].isin(
            ["win_rate", "cycle_days_median", "deal_size_median", "arrivals_per_month"]
        )
        & s["stage"].eq("")
    ]
    table = Table(title=f"Funnel fit (as of {fit.as_of.date()}), posterior median [90 % interval]")
    table.add_column("segment")  # names print as written: the console escapes them
    for p in ("win_rate", "cycle_days_median", "deal_size_median", "arrivals_per_month"):
        table.add_column(p, justify="right")
    for seg in fit.segments:
        cells = []
        for p in ("win_rate", "cycle_days_median", "deal_size_median", "arrivals_per_month"):
            r = main.loc[(main["segment"] == seg) & (main["parameter"] == p)].iloc[0]
            fmt = "{:.1%}" if p == "win_rate" else "{:,.0f}" if r["q50"] > 100 else "{:.1f}"
            cells.append(
                f"{fmt.format(r['q50'])} [{fmt.format(r['q05'])}, {fmt.format(r['q95'])}]"
            )
        table.add_row(seg, *cells)
    out, err = console(), err_console()
    out.print(table)
    d = fit.diagnostics
    timing = fit.timings
    if timing:
        out.print(
            f"compile {timing['compile_seconds']:.1f} s, "
            f"sampling {timing['sampling_seconds']:.1f} s ({fit.sampler})"
        )
    out.print(
        f"diagnostics: R-hat max {d.rhat_max:.3f}, ESS bulk min {d.ess_bulk_min:.0f}, "
        f"ESS tail min {d.ess_tail_min:.0f}, divergences {d.divergences}"
    )
    for note in fit.notes:
        out.print(styled("[yellow]note:[/] {}", note), highlight=False)
    for name, p in paths.items():
        out.print(f"wrote {name}: {p}")
    if not d.converged:
        err.print(styled("[bold red]THE MODEL DID NOT CONVERGE[/] (outputs written, flagged):"))
        for prob in d.problems:
            err.print(styled("  [red]-[/] {}", prob), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("fit", epilog="Example: targetsim fit crm.csv --out plan/ --sampler "
                 "nutpie-lowrank --mcmc-draws 1500")
    def fit_cmd(
        data: DataArg,
        out: OutOpt,
        draws: DrawsOpt = DEFAULT_DRAWS,
        tune: TuneOpt = DEFAULT_TUNE,
        chains: ChainsOpt = 2,
        seed: SeedOpt = 0,
        sampler: SamplerOpt = "nutpie",
        priors: PriorsOpt = None,
        quiet: QuietOpt = False,
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
    ) -> None:
        """Fit the Bayesian funnel model; writes fit.nc, fit_summary.csv, diagnostics.json.

        Exit code 3 when the convergence gate fails (the files are still written).
        """
        from targetsim.io import output_folder, staged_outputs

        options = export_options(won_stages, lost_stages, stage_order, stage_history, fx, amounts)
        read = read_options(date_format, dayfirst, decimal, sheet)
        with output_folder(out):  # checked and locked before minutes of sampling
            from targetsim.model import fit_funnel, write_fit_outputs

            config = load_priors(priors)
            funnel = funnel_from_cli(data, fmt, map_, segment_col, stages, as_of,
                                     skip_invalid, options, read)
            fit = fit_funnel(
                funnel,
                config,
                draws=draws,
                tune=tune,
                chains=chains,
                sampler=sampler,
                random_seed=seed,
                progress=not quiet,
            )
            with staged_outputs(out) as stage:  # the three files, or none
                paths = {k: out / p.name for k, p in write_fit_outputs(fit, stage).items()}
        print_fit_report(fit, paths)
        if not fit.diagnostics.converged:
            raise ConvergenceError(
                f"the fit did not pass the convergence gate; see {paths['diagnostics']}"
            )
