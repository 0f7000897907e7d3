"""``targetsim report DIR``: write report.html and targets.xlsx from a plan directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from targetsim.cli._common import console
from targetsim.errors import ConfigError, DataError
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
        from targetsim.io import deferred_interrupt, output_folder
        from targetsim.report import write_report

        if lang not in LANGUAGES:
            raise ConfigError(f"--lang {lang!r} is not supported: choose one of "
                              f"{', '.join(LANGUAGES)}.")
        if not directory.is_dir():
            raise DataError(f"{directory}: not a directory; give the --out folder of `targetsim "
                            "plan` (or of fit, simulate and calibrate)")
        # Ctrl-C waits for both files (seconds), so report.html and targets.xlsx match.
        with output_folder(directory, "DIR"), deferred_interrupt():
            paths = write_report(directory, lang=lang, progress=progress)
        out = console()
        for p in paths:
            out.print(f"wrote {p}", highlight=False)
