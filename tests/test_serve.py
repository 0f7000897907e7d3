"""``targetsim serve``: assumptions, the worker, the HTTP API, the plan directory it writes.

No MCMC here: the page works on known funnel parameters (:meth:`FunnelParams.constant`) whose
segment and owner names are hostile (HTML, spreadsheet formulas). The browser test on the
demo's real plan is tests/test_serve_browser.py.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import targetsim
from targetsim.calibrate import compute_targets
from targetsim.serve import (
    AssumptionError,
    Runner,
    background_server,
    create_app,
    parse_assumptions,
)
from targetsim.serve.context import PlanContext
from targetsim.serve.jobs import Superseded
from targetsim.simulate import Scenario, load_scenario, simulate
from targetsim.simulate.scenario import parse_scenario

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","x")'
SEGMENTS = (SCRIPT, FORMULA)
OWNERS = ("Ann <b>bold</b>", "@SUM(A1:A9)", "Bob")
DRAWS = 60


def make_context(plan_dir: Path | None = None, draws: int = DRAWS) -> PlanContext:
    p = targetsim.FunnelParams.constant(
        SEGMENTS, p_win=[0.35, 0.25], p_lost=[0.5, 0.6], arrivals_per_month=[30.0, 12.0],
        size_median=[8_000.0, 40_000.0], won_median_days=[40.0, 90.0], n_draws=draws,
        as_of="2026-12-31",
    )
    # Draws differ (as a posterior's do), so targets have a real band.
    rng = np.random.default_rng(1)
    arr = p.arrivals
    shift = rng.normal(0, 0.1, arr.log_rate.shape[:2])[:, :, None]
    p = replace(p, arrivals=replace(arr, log_rate=arr.log_rate + shift)).with_owners(
        OWNERS, np.zeros((draws, len(OWNERS))), np.array([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8]]))
    pipeline = pd.DataFrame({
        "opportunity_id": [f"o{i}" for i in range(40)],
        "segment": [SEGMENTS[i % 2] for i in range(40)],
        "owner": [OWNERS[i % 3] for i in range(40)],
        "age_days": np.arange(40, dtype=float) * 3.0,
        "amount": np.where(np.arange(40) % 4 == 0, np.nan, 10_000.0),
        "stage": "created",
    })
    tension = parse_scenario("name: tension\nmarket: {lead_volume: 0.8, win_rate: 0.9}\n")
    return PlanContext(
        params=p, open_pipeline=pipeline, seed=11, start="2027-01-01", months=12,
        probability=0.6, scenarios=(Scenario.baseline(), tension),
        last_year={"total": 3.0e6, "segment": {SCRIPT: 1.2e6, FORMULA: 1.8e6},
                   "owner": {OWNERS[0]: 5e5, OWNERS[1]: 1e6, OWNERS[2]: 1.5e6}},
        plan_dir=plan_dir, sellers={SCRIPT: 2, FORMULA: 3},
    )


@pytest.fixture(scope="module")
def ctx() -> PlanContext:
    return make_context()


def body(**kw) -> dict:
    b = {"name": "what-if", "probability": 0.6, "company_target": "",
         "market": {"lead_volume": 1.0, "win_rate": 1.0, "deal_size": 1.0,
                    "cycle_length": 1.0}}
    b.update(kw)
    return b


def capacity(**kw) -> dict:
    c = {"reps": {SCRIPT: "3", FORMULA: 2}, "max_open_deals_per_rep": "8",
         "ramp_months": 2, "attrition_per_year": "0.1", "patience_days": "",
         "hires": [{"month": "2027-03", "segment": FORMULA, "count": "2"}]}
    c.update(kw)
    return c


# ------------------------------------------------------------------ assumptions
def test_assumptions_make_the_scenario_the_saved_file_gives(ctx, tmp_path) -> None:
    b = body(name="Q3 push", market={"lead_volume": "1,2", "win_rate": 0.9, "deal_size": "",
                                     "cycle_length": "1.1"},
             segments={FORMULA: {"win_rate": "0.8", "lead_volume": ""}},
             capacity=capacity(), company_target="4.5M", probability="0.7")
    a = parse_assumptions(b, ctx)
    sc = a.scenario
    assert sc.name == "Q3 push"
    assert sc.market.lead_volume == 1.2 and sc.market.deal_size == 1.0
    assert sc.multiplier("win_rate", FORMULA) == 0.8 and sc.multiplier("win_rate", SCRIPT) == 0.9
    assert sc.capacity.reps == {SCRIPT: 3, FORMULA: 2}
    assert sc.capacity.patience_days is None  # empty box = a lead never goes cold
    assert sc.capacity.hires[0].month == "2027-03" and sc.capacity.hires[0].count == 2
    assert sc.horizon.start == ctx.start and sc.horizon.months == 12
    assert a.probability == 0.7 and a.company_target == 4.5e6
    # The file "Save scenario" writes is what `plan --scenario` reads, unchanged.
    path = tmp_path / "q3.yaml"
    path.write_text(a.yaml_text, encoding="utf-8")
    assert load_scenario(path).model_dump() == sc.model_dump()
    assert parse_scenario(a.yaml_text).model_dump() == sc.model_dump()


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"market": {"lead_volume": "abc"}}, "market.lead_volume", "must be a number, got 'abc'"),
    ({"market": {"win_rate": -0.1}}, "market.win_rate", "must be >= 0"),
    ({"market": {"deal_size": 1e9}}, "market.deal_size", "<= 10"),
    ({"market": {"cycle_length": 0}}, "market.cycle_length", "must be > 0"),
    ({"market": {"lead_volume": None}}, None, None),  # blank = unchanged (1.0): fine
    ({"market": {"charm": 2}}, "market.charm", "unknown multiplier"),
    ({"segments": {"Nope": {"win_rate": 1}}}, "segments", "unknown segment 'Nope'"),
    ({"segments": {SCRIPT: {"win_rate": "1..2"}}}, f"segments.{SCRIPT}.win_rate",
     "must be a number"),
    ({"probability": 1.5}, "probability", "<= 1"),
    ({"probability": 0}, "probability", "> 0"),
    ({"probability": 1}, "probability", "below 1"),
    ({"company_target": "12 apples"}, "company_target", "expected an amount"),
    ({"company_target": "-5"}, "company_target", "positive"),
    ({"name": "  "}, "name", "give the scenario a name"),
    ({"capacity": capacity(reps={SCRIPT: "3.5", FORMULA: 2})}, f"capacity.reps.{SCRIPT}",
     "whole number"),
    ({"capacity": capacity(reps={SCRIPT: 3})}, f"capacity.reps.{FORMULA}", "headcount"),
    ({"capacity": capacity(max_open_deals_per_rep="0")},
     "capacity.max_open_deals_per_rep", "> 0"),
    ({"capacity": capacity(hires=[{"month": "2028-05", "segment": SCRIPT, "count": 1}])},
     "capacity.hires.0.month", "2027-01 .. 2027-12"),
    ({"capacity": capacity(hires=[{"month": "2027-05", "segment": "x", "count": 1}])},
     "capacity.hires.0.segment", "unknown segment"),
    ({"capacity": capacity(hires=[{"month": "2027-05", "segment": SCRIPT, "count": 0}])},
     "capacity.hires.0.count", ">= 1"),
])
def test_bad_values_name_their_control(ctx, change, field, words) -> None:
    if field is None:
        parse_assumptions(body(**change), ctx)
        return
    with pytest.raises(AssumptionError) as exc:
        parse_assumptions(body(**change), ctx)
    assert exc.value.field == field
    assert words in str(exc.value)


# ------------------------------------------------------------------ worker
def test_runner_result_is_the_calibrate_steps(ctx) -> None:
    runner = Runner(ctx)
    try:
        a = parse_assumptions(body(market={"lead_volume": 1.3}, company_target="2.5M"), ctx)
        job = runner.submit_whatif(a)
        snap = runner.wait(job.id, 120)
    finally:
        runner.close()
    assert snap["state"] == "done", snap["message"]
    r = snap["result"]
    ds = simulate(ctx.params, ctx.open_pipeline, [a.scenario], start=ctx.start,
                  random_seed=ctx.seed, progress=False)
    t = compute_targets(ds, 0.6)
    fy = t.loc[t["period"].eq("FY") & t["metric"].eq("bookings")]
    total = fy.loc[fy["level"].eq("total")].iloc[0]
    assert r["company"]["bookings"]["target"] == total["target"]
    assert r["company"]["bookings"]["probability"] == total["attainment_probability"]
    assert (r["company"]["bookings"]["p10"], r["company"]["bookings"]["p90"]) == (
        total["p10"], total["p90"])
    assert r["company"]["bookings"]["last_year"] == 3.0e6
    assert r["company"]["bookings"]["growth"] == pytest.approx(total["target"] / 3.0e6 - 1)
    seg = {s["name"]: s["target"] for s in r["segments"]}
    assert seg == dict(zip(fy.loc[fy["level"].eq("segment"), "name"],
                           fy.loc[fy["level"].eq("segment"), "target"], strict=True))
    fy_total = ds["bookings"].sum(("segment", "month")).values[:, 0]
    assert r["board"]["probability"] == pytest.approx(np.mean(fy_total >= 2.5e6))
    # Per-rep quotas split the board's number and add up to it (rounded down).
    q = r["quotas"]
    assert q["company_target"] == 2.5e6 and {o["name"] for o in q["rows"]} == set(OWNERS)
    assert sum(o["quota"] for o in q["rows"]) <= 2.5e6
    assert sum(o["quota"] for o in q["rows"]) > 0.95 * 2.5e6
    # Fan: cumulative bands end at the FY quantiles.
    assert len(r["fan"]["months"]) == 12
    assert r["fan"]["total"]["p50"][-1] == pytest.approx(np.quantile(fy_total, 0.5))
    # The levers are those of `plan --company-target`.
    levers = r["levers"]
    if r["board"]["reached"]:
        assert levers is None
    else:
        assert {lv["lever"] for lv in levers} == {"lead_volume", "win_rate"}


def test_a_newer_whatif_supersedes_the_running_one(ctx) -> None:
    runner = Runner(ctx)
    try:
        slow = parse_assumptions(body(capacity=capacity()), ctx)  # SimPy engine
        first = runner.submit_whatif(slow)
        deadline = time.monotonic() + 60
        while runner.get(first.id)["done"] < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        second = runner.submit_whatif(parse_assumptions(body(market={"win_rate": 0.9}), ctx))
        a = runner.wait(first.id, 60)
        b = runner.wait(second.id, 60)
    finally:
        runner.close()
    assert a["state"] == "superseded" and a["done"] < DRAWS
    assert b["state"] == "done" and b["result"]["scenario"] == "what-if"
    assert b["result"]["engine"] == "fast"


def test_a_failure_is_a_message_and_the_worker_goes_on(ctx, monkeypatch) -> None:
    from targetsim.serve import jobs

    calls = []

    def broken(ctx_, a, on_progress=None):
        calls.append(a)
        if len(calls) == 1:
            raise ValueError("boom")
        raise targetsim.ScenarioError("the page: capacity: made-up rule")

    monkeypatch.setattr(jobs, "simulate_assumptions", broken)
    runner = Runner(ctx)
    try:
        j1 = runner.submit_whatif(parse_assumptions(body(market={"lead_volume": 0.5}), ctx))
        s1 = runner.wait(j1.id, 30)
        j2 = runner.submit_whatif(parse_assumptions(body(market={"lead_volume": 0.6}), ctx))
        s2 = runner.wait(j2.id, 30)
    finally:
        runner.close()
    assert s1["state"] == "error" and "internal error: ValueError: boom" in s1["message"]
    assert s2["state"] == "error" and s2["message"] == "the page: capacity: made-up rule"


def test_superseded_is_raised_by_the_progress_callback(ctx) -> None:
    runner = Runner(ctx)
    try:
        job = runner.submit_whatif(parse_assumptions(body(), ctx))
        runner.wait(job.id, 60)
        from targetsim.serve.jobs import Job

        j = Job("whatif", parse_assumptions(body(), ctx))
        cb = runner._progress(j, "simulating")
        cb(1, 10)
        assert (j.done, j.total) == (1, 10)
        j.cancel.set()
        with pytest.raises(Superseded):
            cb(2, 10)
    finally:
        runner.close()


# ------------------------------------------------------------------ HTTP
def http(url: str, data=None, *, ctype="application/json", method=None, headers=None):
    raw = None if data is None else (data if isinstance(data, bytes) else
                                     json.dumps(data).encode())
    req = urllib.request.Request(url, data=raw, method=method or ("POST" if raw else "GET"))
    if raw is not None and ctype:
        req.add_header("Content-Type", ctype)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            payload = res.read()
            status = res.status
            kind = res.headers.get("content-type", "")
    except urllib.error.HTTPError as err:
        payload, status, kind = err.read(), err.code, err.headers.get("content-type", "")
    return status, (json.loads(payload) if "json" in kind else payload.decode())


def wait_job(base: str, job: str, timeout: float = 120) -> dict:
    end = time.monotonic() + timeout
    while True:
        status, snap = http(f"{base}api/jobs/{job}")
        assert status == 200, snap
        if snap["state"] in ("done", "error", "superseded") or time.monotonic() > end:
            return snap
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    plan = tmp_path_factory.mktemp("plan")
    pd.DataFrame(
        [(s, par, "", m, m * 0.8, m, m * 1.2) for s in SEGMENTS
         for par, m in (("win_rate", 0.3), ("cycle_days_median", 60.0),
                        ("deal_size_median", 10_000.0), ("arrivals_per_month", 20.0))],
        columns=["segment", "parameter", "stage", "mean", "q05", "q50", "q95"],
    ).to_csv(plan / "fit_summary.csv", index=False)
    (plan / "diagnostics.json").write_text(json.dumps(
        {"rhat_max": 1.003, "ess_bulk_min": 900.0, "divergences": 0, "converged": True}))
    (plan / "plan.json").write_text(json.dumps({"seed": 11, "draws": DRAWS}))
    save = tmp_path_factory.mktemp("saved")
    app = create_app(make_context(plan), save)
    with background_server(app) as url:
        yield url, save


def test_page_escapes_every_name(server) -> None:
    url, _ = server
    status, page = http(url)
    assert status == 200
    assert SCRIPT not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 1  # our own script, nothing else
    status, info = http(url + "api/plan")
    assert status == 200 and info["segments"] == list(SEGMENTS)
    assert set(info["scenarios"]) == {"baseline", "tension"}
    assert info["default_capacity"]["reps"] == {SCRIPT: 2, FORMULA: 3}


def test_bad_requests_get_a_message_never_a_server_error(server) -> None:
    url, _ = server
    api = url + "api/whatif"
    cases = [
        (http(api, b"{not json"), 400, "not valid JSON"),
        (http(api, b"[1, 2]"), 400, "JSON object"),
        (http(api, body(), ctype="text/plain"), 415, "Content-Type: application/json"),
        (http(api, body(market={"lead_volume": "lots"})), 422, "market.lead_volume"),
        (http(api, body(probability="sixty")), 422, "probability"),
        (http(api, b"x" * (300 * 1024)), 413, "too large"),
        (http(url + "api/jobs/nope"), 404, "unknown job"),
        (http(url + "no/such/page"), 404, "no such page"),
        (http(url + "api/whatif"), 405, "not allowed"),
        (http(url + "api/scenario", body(file="../../etc/passwd")), 422, "file:"),
        (http(url + "api/plan-dir", body(file="")), 422, "file:"),
    ]
    for (status, payload), expected, words in cases:
        assert status == expected, (payload, expected)
        assert words in payload["error"], payload
    status, payload = http(api, body(market={"win_rate": -2}))
    assert payload["field"] == "market.win_rate"
    # DNS rebinding: a page served under another host name is refused.
    status, _ = http(url + "api/plan", headers={"Host": "evil.example"})
    assert status == 400
    assert http(url + "api/plan")[0] == 200


def test_two_concurrent_whatifs(server) -> None:
    url, _ = server
    results: dict[float, tuple[int, dict]] = {}

    def ask(lead: float) -> None:
        results[lead] = http(url + "api/whatif", body(market={"lead_volume": lead}))

    threads = [threading.Thread(target=ask, args=(x,)) for x in (0.7, 1.4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(status == 202 for status, _ in results.values())
    snaps = {x: wait_job(url, p["job"]) for x, (_, p) in results.items()}
    states = sorted(s["state"] for s in snaps.values())
    # One simulation at a time: the later one always completes; the earlier one completes
    # too if it finished first, else it is superseded. Never an error.
    assert states in (["done", "done"], ["done", "superseded"])
    done = {x: s["result"]["company"]["bookings"]["target"] for x, s in snaps.items()
            if s["state"] == "done"}
    if len(done) == 2:
        assert done[1.4] > done[0.7]
    # The server answers while a what-if runs.
    status, p = http(url + "api/whatif", body(market={"lead_volume": 1.1}))
    assert http(url + "api/plan")[0] == 200
    assert wait_job(url, p["job"])["state"] == "done"


def test_a_client_that_hangs_up_does_not_hurt_the_server(server) -> None:
    url, _ = server
    host, port = url.split("//")[1].rstrip("/").split(":")
    for partial in (b"POST /api/whatif HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n"
                    b"Content-Type: application/json\r\n\r\n{\"market\":", b"GET /api/pl"):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(partial)
    assert http(url + "api/plan")[0] == 200


def test_save_round_trips_through_parse_scenario(server) -> None:
    url, save = server
    b = body(name=SCRIPT, market={"lead_volume": "1.25", "win_rate": 1, "deal_size": 0.9,
                                  "cycle_length": 1},
             segments={FORMULA: {"deal_size": 1.3}}, capacity=capacity(),
             file="board-case.yaml")
    status, saved = http(url + "api/scenario", b)
    assert status == 200, saved
    path = Path(saved["path"])
    assert path == save / "board-case.yaml" and path.read_text() == saved["yaml"]
    page = parse_assumptions(b, make_context())
    assert parse_scenario(path.read_text(), str(path)).model_dump() == page.scenario.model_dump()
    assert load_scenario(path).name == SCRIPT  # a hostile name is data, kept as it is


def test_write_plan_dir_for_the_assumptions_on_screen(server) -> None:
    url, save = server
    b = body(name="board", market={"lead_volume": 1.2}, company_target="2M", file="board")
    status, p = http(url + "api/whatif", b)
    shown = wait_job(url, p["job"])["result"]
    status, p = http(url + "api/plan-dir", b)
    assert status == 202, p
    snap = wait_job(url, p["job"])
    assert snap["state"] == "done", snap["message"]
    out = Path(snap["result"]["out_dir"])
    assert out == save / "board"
    for f in ("targets.csv", "report.html", "targets.xlsx", "projection.nc", "scenario.yaml",
              "plan.json", "topdown.csv", "allocation.csv"):
        assert (out / f).is_file(), f
    t = pd.read_csv(out / "targets.csv", keep_default_na=False)
    fy = t.loc[t["period"].eq("FY") & t["metric"].eq("bookings")]
    total = fy.loc[fy["level"].eq("total")].iloc[0]
    assert total["scenario"] == "board"
    assert total["target"] == shown["company"]["bookings"]["target"]
    # targets.csv holds 10 significant digits.
    assert total["attainment_probability"] == float(
        f"{shown['company']['bookings']['probability']:.10g}")
    seg = dict(zip(fy.loc[fy["level"].eq("segment"), "name"],
                   fy.loc[fy["level"].eq("segment"), "target"], strict=True))
    # targets.csv neutralises a formula-like name with a leading apostrophe, or keeps it.
    shown_seg = {s["name"]: s["target"] for s in shown["segments"]}
    assert sorted(seg.values()) == sorted(shown_seg.values())
    assert load_scenario(out / "scenario.yaml").model_dump() == parse_assumptions(
        b, make_context()).scenario.model_dump()
    html = (out / "report.html").read_text()
    assert SCRIPT not in html
    meta = json.loads((out / "plan.json").read_text())
    assert meta["scenarios"] == ["board"] and meta["company_target"] == 2e6


# ------------------------------------------------------------------ CLI
def cli_code(argv: list[str]) -> int:
    from targetsim.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
        raise SystemExit(0)
    return int(exc.value.code or 0)


def test_cli_serve_bad_input_exits_2(tmp_path, capsys) -> None:
    assert cli_code(["serve", str(tmp_path / "missing"), "--no-browser"]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert cli_code(["serve", str(tmp_path), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "fit.nc" in err and "targetsim plan" in err
    assert cli_code(["serve", str(tmp_path), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_help_lists_serve_and_loads_no_heavy_package() -> None:
    """`targetsim --help` must start fast: it imports neither the sampler nor the simulator
    nor the web server (the start-up time itself is measured by benchmarks/bench_whatif.py)."""
    probe = (
        "import sys\n"
        "from targetsim.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "heavy = ('pymc', 'pytensor', 'jax', 'nutpie', 'xarray', 'simpy', 'scipy', "
        "'starlette', 'uvicorn', 'matplotlib', 'dask')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert " serve " in r.stdout
    assert "LOADED []" in r.stdout, r.stdout.splitlines()[-1]


def test_json_safe_drops_what_json_cannot_hold() -> None:
    from targetsim.serve.whatif import json_safe

    assert json_safe({"a": [1.0, float("nan")], "b": (float("inf"), "x"), "c": None}) == {
        "a": [1.0, None], "b": [None, "x"], "c": None}


def test_a_busy_port_is_a_clear_error() -> None:
    from targetsim.serve import bind

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(targetsim.ConfigError, match=f"127.0.0.1:{port}.*--port 0"):
            bind("127.0.0.1", port).close()
    with pytest.raises(targetsim.ConfigError, match="--host"):
        bind("no-such-host.invalid", 0)


@pytest.mark.parametrize(("code", "lang", "shown"), [("USD", "en", "$"), ("EUR", "fr", "€"),
                                                     ("$", "en", "$")])
def test_page_writes_the_plans_currency_as_its_symbol(tmp_path, code, lang, shown) -> None:
    """plan.json keeps the ISO code (the report's Babel needs it); the page's amounts are
    symbol + number, so "USD14.9M" would be what a user reads without the symbol."""
    ctx = replace(make_context(), currency=code, lang=lang)
    with background_server(create_app(ctx, tmp_path)) as url:
        status, info = http(url + "api/plan")
        page = http(url)[1]
    assert status == 200 and info["currency"] == shown
    assert f'data-currency="{shown}"' in page
