"""Command-line interface: a thin layer over the Python API.

Each command lives in its own module with a ``register(app)`` function; this module
assembles them and maps what can go wrong to exit codes, always with a message and never a
traceback on the user's data or options:

* 0 ok; 2 bad input or usage (a :class:`~targetsim.errors.TargetsimError` naming the file,
  row, column and value, or a malformed option); 3 the model did not converge (outputs
  written, flagged); 130 interrupted (Ctrl-C, at any point: "interrupted", no traceback,
  no output put in place after the interrupt); 1 an internal error (a bug: the traceback is
  kept for the report).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import signal
import sys
import threading
import warnings

import typer

from targetsim import io
from targetsim.cli import _help
from targetsim.cli._common import err_console, styled
from targetsim.errors import TargetsimError

_help.install()

#: Command modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "ingest", "fit", "simulate", "calibrate", "report", "plan", "score", "track", "serve",
)
#: Exit code of an interrupted run (128 + SIGINT, the shell's convention).
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="targetsim",
    help="Evidence-based sales targets: learn the funnel from the CRM, simulate next year, "
    "propose targets with their probability of attainment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


def _quiet_exit() -> None:
    """After "interrupted", libraries tidying up at exit (a dask cluster cut short while it
    started) print no traceback or log line: atexit runs this before their handlers."""
    sys.unraisablehook = lambda unraisable: None
    logging.disable(logging.CRITICAL)


def _interrupted() -> None:
    err_console().print("interrupted", highlight=False)
    atexit.register(_quiet_exit)
    sys.exit(EXIT_INTERRUPTED)


def _on_sigint(signum: int, frame: object) -> None:
    # The run is ending: no library chatter (warnings, log lines) around "interrupted".
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    io.handle_sigint(signum, frame)


@contextlib.contextmanager
def _sigint_marks_the_run():
    """Route Ctrl-C to :func:`targetsim.io.handle_sigint` for the duration of a command."""
    io.reset_interrupted()
    if threading.current_thread() is not threading.main_thread():
        try:
            yield
        finally:
            io.reset_interrupted()
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    disabled = logging.root.manager.disable
    try:
        with warnings.catch_warnings():  # what _on_sigint silences is silenced for this run
            yield
    finally:
        signal.signal(signal.SIGINT, previous)
        logging.disable(disabled)
        io.reset_interrupted()  # the mark belongs to this run (main can run again in-process)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``targetsim`` console script."""
    with _sigint_marks_the_run():
        try:
            app(args=argv, standalone_mode=True)
        except SystemExit as exc:
            # typer turns a KeyboardInterrupt into exit 130; a library that swallowed the
            # interrupt (nutpie returns its partial trace) leaves the mark instead.
            if io.was_interrupted() or exc.code == EXIT_INTERRUPTED:
                _interrupted()
            raise
        except KeyboardInterrupt:
            _interrupted()
        except TargetsimError as exc:
            if io.was_interrupted():
                _interrupted()
            err_console().print(styled("[bold red]error:[/] {}", exc), highlight=False,
                                soft_wrap=True)
            sys.exit(exc.exit_code)
        except Exception as exc:  # an internal error: say so, keep the traceback for a report
            if io.was_interrupted():  # the interrupt broke something on its way out
                _interrupted()
            err = err_console()
            err.print_exception(show_locals=False)
            err.print(styled("[bold red]internal error:[/] {}: {}", type(exc).__name__, exc),
                      highlight=False, soft_wrap=True)
            sys.exit(1)
