"""``targetsim serve PLAN_DIR``: the live what-if page of a plan, in the browser.

A thin layer over :mod:`targetsim.serve`: reads the plan directory, binds the address
(127.0.0.1 by default: the page is for this machine), prints the URL, opens it in the
browser and serves until Ctrl+C, its normal end (exit code 0; a plan directory being
written then is not put in place). Everything it prints goes through the CLI's console
(:mod:`targetsim.cli._common`): names and paths print as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from targetsim.cli._common import console, err_console, styled


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the CLI."""

    @app.command("serve")
    def serve_cmd(
        plan_dir: Annotated[
            Path, typer.Argument(help="Plan directory written by `targetsim plan` or "
                                 "`targetsim demo` (needs fit.nc).", show_default=False,
                                 metavar="PLAN_DIR")
        ],
        host: Annotated[
            str, typer.Option("--host", help="Address to listen on; anything but 127.0.0.1 "
                              "or localhost lets other machines open the page.")
        ] = "127.0.0.1",
        port: Annotated[
            int, typer.Option("--port", help="Port to listen on (0: any free port).")
        ] = 8765,
        browser: Annotated[
            bool, typer.Option("--browser/--no-browser", help="Open the page in the browser.")
        ] = True,
        save_dir: Annotated[
            Path | None, typer.Option("--save-dir", help="Where saved scenarios and plan "
                                      "directories go (default PLAN_DIR/whatif).")
        ] = None,
        draws: Annotated[
            int | None, typer.Option("--draws", help="Posterior draws per what-if "
                                     "(default: the plan's, so the page shows its targets).")
        ] = None,
        seed: Annotated[
            int | None, typer.Option("--seed", min=0, help="Random seed (default: the plan's).")
        ] = None,
    ) -> None:
        """Live what-if page: move the assumptions, see targets and probabilities follow."""
        from targetsim.errors import ConfigError
        from targetsim.serve import (
            bind,
            create_app,
            default_save_dir,
            load_plan_context,
            run_server,
        )

        if not 0 <= port <= 65535:
            raise ConfigError(f"--port: must be between 0 and 65535, got {port}")
        err, out = err_console(), console()
        err.print(f"reading {plan_dir} …", highlight=False)
        ctx = load_plan_context(plan_dir, draws=draws, seed=seed)
        sock = bind(host, port)
        target = save_dir if save_dir is not None else default_save_dir(plan_dir)
        app_ = create_app(ctx, target, host=host)
        if host not in ("127.0.0.1", "localhost", "::1"):
            err.print(styled("[yellow]warning:[/] listening on {}: other machines can open "
                             "this page and write into {}", host, target), highlight=False)

        def ready(url: str) -> None:
            # One plain line on stdout with the address, for people and for scripts.
            out.print(f"targetsim serve: {url}  (Ctrl+C to stop)", highlight=False,
                      soft_wrap=True)

        run_server(app_, sock, open_browser=browser, on_ready=ready)
        # Ctrl+C is how a server stops: its normal end (exit code 0) once the worker has
        # stopped. A plan directory it was writing was not put in place (the interrupt mark
        # refuses it); a worker still busy keeps the mark, and the run ends "interrupted".
        from targetsim.io import reset_interrupted

        if app_.state.runner.close():
            reset_interrupted()
            err.print("stopped", highlight=False)
