"""``targetsim simulate DIR``: project next year's pipeline from DIR/fit.nc into DIR/projection.nc.

A thin layer over :func:`targetsim.simulate.simulate`; prints the median FY bookings per
scenario (and the p10–p90 band).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from targetsim.cli._common import MAX_MONTHS
from targetsim.cli._common import console as make_console
from targetsim.errors import DataError


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to the CLI."""

    @app.command("simulate", epilog="Example: targetsim simulate plan/ --scenario growth "
                 "--scenario tension --draws 1000")
    def simulate_cmd(
        directory: Annotated[
            Path, typer.Argument(help="Directory with fit.nc (from `targetsim fit`).",
                                 show_default=False, metavar="DIR")
        ],
        scenario: Annotated[
            list[str] | None,
            typer.Option("--scenario", help="Scenario YAML file or bundled name (baseline, "
                         "growth, tension, hiring-freeze); repeatable. Default: baseline."),
        ] = None,
        engine: Annotated[
            str, typer.Option("--engine", help="auto (SimPy when a scenario has capacity, "
                              "else vectorised), des (SimPy) or fast (vectorised).")
        ] = "auto",
        draws: Annotated[
            int, typer.Option("--draws", min=1, help="Posterior draws simulated.")
        ] = 1000,
        seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
        start: Annotated[
            str | None, typer.Option("--start", help="First day of the horizon (YYYY-MM-01); "
                                     "default the month after the data's as-of date.")
        ] = None,
        months: Annotated[
            int | None, typer.Option("--months", min=1, max=MAX_MONTHS,
                                     help=f"Horizon in months, 1 to {MAX_MONTHS} (default 12).")
        ] = None,
        workers: Annotated[
            int | None, typer.Option("--workers", min=1, max=256, help="Run on a local dask "
                                     "cluster of N processes (same result whatever N).")
        ] = None,
        scheduler: Annotated[
            str | None, typer.Option("--scheduler", help="Address of an existing "
                                     "dask.distributed scheduler.")
        ] = None,
    ) -> None:
        """Simulate the pipeline per posterior draw and scenario; write DIR/projection.nc."""
        from targetsim.calibrate.amounts import mark_projection
        from targetsim.io import output_folder
        from targetsim.simulate import load_scenario, save_projection, simulate

        fit_path = directory / "fit.nc"
        if not fit_path.is_file():
            raise DataError(f"{fit_path}: not found (run `targetsim fit DATA --out {directory}`)")
        scenarios = [load_scenario(s) for s in scenario or ()]
        with output_folder(directory, "DIR"):
            from targetsim.model import FunnelFit

            fit = FunnelFit.load(fit_path)
            params = fit.params(draws, random_seed=seed)
            ds = simulate(
                params, fit.open_pipeline, scenarios, start=start, months=months, engine=engine,
                random_seed=seed, workers=workers, scheduler=scheduler,
                progress=make_console(stderr=True).is_terminal,
            )
            ds = mark_projection(ds, fit)  # segments without won amounts, for calibrate
            out = save_projection(ds, directory / "projection.nc")
        console = make_console()
        print_summary(ds, console)
        console.print(f"wrote {out}", highlight=False)


def print_summary(ds, console: Console) -> None:
    """Median (p10–p90) FY bookings and deals won per scenario."""
    fy = ds["bookings"].sum(("segment", "month"))
    won = ds["deals_won"].sum(("segment", "month"))
    table = Table(title=f"FY bookings {ds.attrs['horizon_start']} + {ds.attrs['months']} months"
                  f" ({ds.attrs['n_draws']} draws, {ds.attrs['engine']} engine)")
    for col in ("scenario", "median", "p10", "p90", "deals won (median)"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for name in ds["scenario"].values:
        q = fy.sel(scenario=name).quantile([0.5, 0.1, 0.9]).values
        table.add_row(str(name), *(f"{x:,.0f}" for x in q),
                      f"{float(won.sel(scenario=name).median()):,.0f}")
    console.print(table)
