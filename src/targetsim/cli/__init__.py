"""Command-line interface: a thin layer over the Python API.

Each command lives in its own module with a ``register(app)`` function; this module
assembles them and maps project errors to exit codes (2 bad input, 3 not converged,
1 internal error) with a message instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from targetsim.cli import _help
from targetsim.errors import TargetsimError

_help.install()

#: Command modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "ingest", "fit", "simulate", "calibrate", "report", "plan", "score", "track", "serve",
)

app = typer.Typer(
    name="targetsim",
    help="Evidence-based sales targets: learn the funnel from the CRM, simulate next year, "
    "propose targets with their probability of attainment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


@app.callback(epilog="Example: targetsim demo --out build/demo")
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True,
                                 callback=_help.version_callback, help="Print the version."),
) -> None:
    """Keep ``targetsim <command>`` a group even while only one command is registered."""

for _name in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"targetsim.cli.{_name}")
    except ModuleNotFoundError as exc:  # a step not built yet
        if exc.name != f"targetsim.cli.{_name}":
            raise
        continue
    _mod.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``targetsim`` console script."""
    try:
        app(args=argv, standalone_mode=True)
    except TargetsimError as exc:
        # escape: messages quote the user's cells, which may look like rich markup
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # an internal error: say so, keep the traceback for a bug report
        err_console.print_exception(show_locals=False)
        err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}")
        sys.exit(1)
