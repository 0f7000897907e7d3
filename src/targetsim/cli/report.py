"""``targetsim report DIR``: write report.html and targets.xlsx from a plan directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from targetsim.errors import ConfigError
from targetsim.report.i18n import LANGUAGES


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the CLI."""

    @app.command("report", epilog="Example: targetsim report plan/ --lang fr")
    def report(
        directory: Annotated[
            Path,
            typer.Argument(
                help="Plan directory written by `targetsim plan` (or fit, simulate, calibrate).",
                show_default=False, metavar="DIR",
            ),
        ],
        lang: Annotated[
            str, typer.Option("--lang", help="Language of the report: en or fr.")
        ] = "en",
        progress: Annotated[
            bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
        ] = True,
    ) -> None:
        """Write report.html (self-contained, opens offline) and targets.xlsx into DIR."""
        from targetsim.report import write_report

        if lang not in LANGUAGES:
            raise ConfigError(f"--lang {lang!r} is not supported: choose one of "
                              f"{', '.join(LANGUAGES)}.")
        paths = write_report(directory, lang=lang, progress=progress)
        console = Console()
        for p in paths:
            console.print(f"wrote {p}", highlight=False)
