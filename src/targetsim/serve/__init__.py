"""targetsim.serve: the live what-if page of a target-setting session (``targetsim serve``).

A local web page over a plan directory: move an assumption (lead volume, win rate, deal
size, cycle length, per segment; headcount and hires; the attainment probability; the
board's number) and the year is re-simulated on the plan's posterior draws, and the
company and segment targets, their probability and band, the fan chart against last year,
the probability of the board's number, the levers that would lift it and the per-rep quotas
follow. The assumptions on screen can be saved as a scenario file that ``targetsim plan
--scenario`` reads as it is, or written out as a plan directory.

Built on Starlette (the ASGI toolkit) served by uvicorn; see the README for why. Pieces:
:mod:`.context` (the plan), :mod:`.assumptions` (controls → scenario), :mod:`.whatif`
(one what-if with the calibrate and report steps), :mod:`.jobs` (the worker thread:
one simulation at a time, the newest first), :mod:`.app` (HTTP routes).

Examples
--------
>>> from targetsim.serve import load_plan_context, create_app, background_server
>>> ctx = load_plan_context("build/demo")  # doctest: +SKIP
>>> with background_server(create_app(ctx, "build/demo/whatif")) as url:  # doctest: +SKIP
...     print(url)
http://127.0.0.1:40123/
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from targetsim.errors import ConfigError
from targetsim.serve.app import create_app
from targetsim.serve.assumptions import AssumptionError, Assumptions, parse_assumptions
from targetsim.serve.context import PlanContext, load_plan_context
from targetsim.serve.jobs import Runner

__all__ = [
    "AssumptionError",
    "Assumptions",
    "PlanContext",
    "Runner",
    "background_server",
    "bind",
    "create_app",
    "load_plan_context",
    "parse_assumptions",
    "run_server",
]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0 = any free port).

    Raises
    ------
    ConfigError
        The address cannot be bound (port in use, unknown host, no permission).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host!r}: not an address of this machine ({exc})") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        hint = "; give another --port, or --port 0 for any free one" if port else ""
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}"
                          ) from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://host:port/`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/"


def _server(app: Any) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def run_server(
    app: Any,
    sock: socket.socket,
    *,
    open_browser: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl+C); open the page once it is up."""
    server = _server(app)
    url = url_of(sock)

    def when_up() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.should_exit:
            return
        if on_ready is not None:
            on_ready(url)
        if open_browser:
            webbrowser.open(url)

    threading.Thread(target=when_up, name="targetsim-serve-ready", daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down on Ctrl+C, then re-raises it: stopping is the normal end here.
        pass
    finally:
        runner = getattr(app.state, "runner", None)
        if runner is not None:
            runner.close()


@contextlib.contextmanager
def background_server(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a thread for the duration of the block; yields the page's URL."""
    sock = bind(host, port)
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="targetsim-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the what-if server did not start")
        time.sleep(0.02)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        runner = getattr(app.state, "runner", None)
        if runner is not None:
            runner.close()


def default_save_dir(plan_dir: str | Path) -> Path:
    """Where the page saves scenarios and plan directories by default: ``PLAN_DIR/whatif``."""
    return Path(plan_dir) / "whatif"
