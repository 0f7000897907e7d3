"""The HTTP side of ``targetsim serve``: a Starlette application over a :class:`Runner`.

Routes (every answer of ``/api`` is JSON; an error is ``{"error": message, "field": path}``
with a 4xx status, never a server error):

* ``GET /`` the page; ``GET /static/...`` its script and style (nothing from a CDN);
* ``GET /api/plan`` the plan: segments, owners, horizon, the plan's scenarios as controls;
* ``POST /api/whatif`` assumptions → ``202 {"job": id}`` (supersedes older what-ifs);
* ``GET /api/jobs/{id}`` a job's state, progress and result;
* ``POST /api/scenario`` assumptions + ``file`` → saves ``SAVE_DIR/<file>.yaml``;
* ``POST /api/plan-dir`` assumptions + ``file`` → ``202 {"job": id}`` writing the plan
  directory ``SAVE_DIR/<file>/``.

POSTs must be ``application/json`` (so another web site cannot post a form to the page)
and the ``Host`` header must name the loopback address when bound to it (DNS rebinding).
Data strings reach the page only through Jinja2 autoescaping or the script's
``textContent``; the script never builds markup from data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from targetsim import __version__
from targetsim import formatting as F
from targetsim.errors import TargetsimError
from targetsim.io import write_text_atomic
from targetsim.serve.assumptions import (
    AssumptionError,
    controls_of,
    file_name,
    parse_assumptions,
)
from targetsim.serve.context import PlanContext
from targetsim.serve.jobs import Runner

HERE = Path(__file__).parent
#: Largest request body accepted (the assumptions of a plan with many segments fit easily).
MAX_BODY = 256 * 1024
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


def _error(message: str, status: int = 422, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


def _env() -> Environment:
    # autoescape for every template: segment, owner and scenario names are untrusted.
    return Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True,
                       trim_blocks=True, lstrip_blocks=True)


def default_controls(ctx: PlanContext) -> dict[str, Any]:
    """The controls the page starts with: the plan's reference scenario, a default capacity."""
    controls = controls_of(ctx.reference_scenario(), ctx)
    controls["name"] = "what-if"
    controls["probability"] = ctx.probability
    controls["company_target"] = ctx.company_target
    return controls


def default_capacity(ctx: PlanContext) -> dict[str, Any]:
    """Capacity the page proposes when it is switched on: a capacity scenario of the plan,
    else the reps seen selling each segment and 25 open deals each (DESIGN.md's example)."""
    for sc in ctx.scenarios:
        if sc.capacity is not None:
            return controls_of(sc, ctx)["capacity"]
    even = max(1, len(ctx.owners) // max(len(ctx.segments), 1))
    reps = {seg: int(ctx.sellers.get(seg, 0)) or even for seg in ctx.segments}
    return {"reps": reps, "max_open_deals_per_rep": 25.0, "ramp_months": 3.0,
            "attrition_per_year": 0.0, "patience_days": 30.0, "hires": []}


def plan_info(ctx: PlanContext) -> dict[str, Any]:
    """``GET /api/plan``."""
    return {
        "version": __version__,
        "plan_dir": str(ctx.plan_dir) if ctx.plan_dir else None,
        "as_of": ctx.as_of,
        "start": ctx.start,
        "months": ctx.horizon_months,
        "draws": ctx.draws,
        "seed": ctx.seed,
        "segments": list(ctx.segments),
        "owners": list(ctx.owners),
        # The page writes amounts as symbol + number: the plan keeps the ISO code.
        "currency": F.currency_symbol(ctx.currency, ctx.lang),
        "lang": ctx.lang,
        "converged": ctx.converged,
        "controls": default_controls(ctx),
        "default_capacity": default_capacity(ctx),
        "scenarios": {sc.name: controls_of(sc, ctx) for sc in ctx.scenarios},
        "last_year": {"total": ctx.last_year_of("total", "total"),
                      "segments": {s: ctx.last_year_of("segment", s) for s in ctx.segments}},
    }


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    """The request's JSON object, or the error response to send instead."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return _error("send the assumptions as JSON (Content-Type: application/json)", 415)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        return _error(f"request too large (over {MAX_BODY // 1024} KiB)", 413)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _error(f"request too large (over {MAX_BODY // 1024} KiB)", 413)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return _error(f"the request is not valid JSON ({exc})", 400)
    if not isinstance(body, dict):
        return _error("expected a JSON object of assumptions", 400)
    return body


def create_app(ctx: PlanContext, save_dir: str | Path, *, runner: Runner | None = None,
               host: str = "127.0.0.1") -> Starlette:
    """The page's web application.

    Parameters
    ----------
    ctx : PlanContext
        The plan the page works on.
    save_dir : path
        Where "Save scenario" and "Write plan directory" write (created on first use).
    runner : Runner, optional
        The simulation worker (one is started otherwise; ``app.state.runner``).
    host : str
        The address the server is bound to; on a loopback address only requests naming a
        loopback host are served.
    """
    runner = runner or Runner(ctx)
    save = Path(save_dir)
    env = _env()
    info = plan_info(ctx)

    async def page(request: Request) -> Response:
        html = env.get_template("page.html.j2").render(
            info=info, controls=info["controls"], save_dir=str(save),
            plan_name=ctx.plan_dir.name if ctx.plan_dir else "plan",
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def api_plan(request: Request) -> Response:
        return JSONResponse(info)

    async def api_whatif(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            a = parse_assumptions(body, ctx)
        except AssumptionError as exc:
            return _error(str(exc), 422, exc.field)
        job = runner.submit_whatif(a)
        return JSONResponse({"job": job.id, "state": job.state}, status_code=202)

    async def api_job(request: Request) -> Response:
        snap = runner.get(request.path_params["job_id"])
        if snap is None:
            return _error("unknown job (finished long ago, or the server restarted)", 404)
        return JSONResponse(snap)

    async def api_scenario(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            name = file_name(body.get("file", ""))
            a = parse_assumptions(body, ctx)
        except AssumptionError as exc:
            return _error(str(exc), 422, exc.field)
        try:
            path = write_text_atomic(save / f"{name}.yaml", a.yaml_text)
        except OSError as exc:
            return _error(f"could not write {save / name}.yaml: {exc.strerror or exc}", 409)
        return JSONResponse({"path": str(path), "yaml": a.yaml_text,
                             "scenario": a.scenario.name})

    async def api_plan_dir(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            name = file_name(body.get("file", ""))
            a = parse_assumptions(body, ctx)
        except AssumptionError as exc:
            return _error(str(exc), 422, exc.field)
        if ctx.plan_dir is None:
            return _error("this page has no plan directory to copy the fit from", 409)
        out = save / name
        job = runner.submit_write(a, out)
        return JSONResponse({"job": job.id, "state": job.state, "out_dir": str(out)},
                            status_code=202)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(f"no such page: {request.url.path}", 404)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return _error(f"{request.method} is not allowed on {request.url.path}", 405)

    async def server_error(request: Request, exc: Exception) -> Response:
        # A bug must still reach the page as a message (its traceback is on the terminal).
        message = str(exc) if isinstance(exc, TargetsimError) else (
            f"internal error: {type(exc).__name__}: {exc}")
        return _error(message, 500)

    loopback = host in ("127.0.0.1", "localhost", "::1")
    middleware = [Middleware(TrustedHostMiddleware,
                             allowed_hosts=LOOPBACK_HOSTS if loopback else ["*"])]
    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/plan", api_plan),
            Route("/api/whatif", api_whatif, methods=["POST"]),
            Route("/api/jobs/{job_id}", api_job),
            Route("/api/scenario", api_scenario, methods=["POST"]),
            Route("/api/plan-dir", api_plan_dir, methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        middleware=middleware,
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
    )
    app.state.runner = runner
    app.state.ctx = ctx
    app.state.save_dir = save
    return app
