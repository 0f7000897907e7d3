"""``targetsim calibrate DIR``: targets and their companions from DIR/projection.nc.

Reads ``projection.nc`` (and ``fit.nc`` for the top-down levers with ``--company-target``)
and writes targets.csv, indicators.csv, allocation.csv, stress.csv, objectives.md, and
tiers.csv / topdown.csv when asked; then prints the same summary as ``targetsim plan``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from targetsim.cli._common import console, styled
from targetsim.cli.plan import (
    CompanyTargetOpt,
    CurrencyOpt,
    LangOpt,
    OverAssignmentOpt,
    ProbabilityOpt,
    SeedOpt,
    TiersOpt,
    parse_amount,
    parse_tiers_opt,
    print_summary,
)


def register(app: typer.Typer) -> None:
    """Add the ``calibrate`` command to the CLI."""

    @app.command("calibrate", epilog="Example: targetsim calibrate plan/ --probability 0.7 "
                 "--company-target 9M --over-assignment 1.1")
    def calibrate_cmd(
        directory: Annotated[
            Path,
            typer.Argument(help="Directory with projection.nc (and fit.nc).", show_default=False,
                           metavar="DIR"),
        ],
        probability: ProbabilityOpt = 0.6,
        tiers: TiersOpt = None,
        company_target: CompanyTargetOpt = None,
        lang: LangOpt = "en",
        currency: CurrencyOpt = "USD",
        over_assignment: OverAssignmentOpt = 1.0,
        seed: SeedOpt = 0,
    ) -> None:
        """Targets with their probability of attainment, allocation, indicators, objectives."""
        from dataclasses import replace

        from targetsim.plan import run_calibrate

        result = run_calibrate(
            directory, probability=probability, tiers=parse_tiers_opt(tiers),
            company_target=parse_amount(company_target), lang=lang, currency=currency,
            over_assignment=over_assignment, seed=seed,
        )
        result = replace(result, metadata={"lang": lang, "currency": currency})
        out = console()
        for note in result.calibration.notes:
            out.print(styled("[yellow]note:[/] {}", note), highlight=False)
        print_summary(result, out)
