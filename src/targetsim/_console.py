"""The ``targetsim`` console script.

Ctrl-C is an interruption from the first instant: while the CLI is still being imported
(a second on a busy machine) it prints ``interrupted`` and exits with code 130, like at any
later point (:func:`targetsim.cli.main`), instead of Python's traceback.
"""

from __future__ import annotations

import signal
import sys


def _interrupted_while_starting(signum: int, frame: object) -> None:  # noqa: ARG001
    sys.stderr.write("interrupted\n")
    sys.stderr.flush()
    raise SystemExit(130)


def main() -> None:
    """Entry point of the ``targetsim`` console script."""
    previous = signal.signal(signal.SIGINT, _interrupted_while_starting)
    try:
        from targetsim.cli import main as cli_main
    finally:
        signal.signal(signal.SIGINT, previous)
    cli_main()
