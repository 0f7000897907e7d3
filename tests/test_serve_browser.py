"""``targetsim serve`` tested as a person would: headless Chromium on the demo's plan.

Builds the demo's plan with ``targetsim demo``, starts ``targetsim serve`` on it, moves the
lead-volume control and sees the company target change, opens and closes a second tab,
types a bad value, asks for the board's number and its levers, saves the scenario, writes
the plan directory, stops the server with Ctrl+C, and checks that ``targetsim plan
--scenario`` on the saved file gives the targets the page showed (same seed and draws).

Uses Debian's chromium (installed by .ci/run); no browser is downloaded. A screenshot goes
to build/serve.png (a CI artifact).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from targetsim.data import demo_data_path
from targetsim.simulate.scenario import parse_scenario

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BUILD = Path(__file__).resolve().parents[1] / "build"
CLI = [sys.executable, "-c", "from targetsim.cli import main; main()"]
IDLE = "document.getElementById('status').dataset.state === 'idle'"
SEED, DRAWS = 0, 400

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (CI installs Debian's package)",
                allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def demo_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The demo's plan directory (``targetsim demo``) and its exit code (0, or 3 flagged)."""
    out = tmp_path_factory.mktemp("demo") / "plan"
    r = subprocess.run([*CLI, "demo", "--out", str(out), "--seed", str(SEED), "--draws",
                        str(DRAWS), "--no-progress"], capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode in (0, 3), r.stderr
    assert (out / "fit.nc").is_file() and (out / "plan.json").is_file()
    return out, r.returncode


def start_server(plan: Path, save: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [*CLI, "serve", str(plan), "--port", "0", "--no-browser", "--save-dir", str(save)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if "http://" in line:
                return proc, line.split()[2]
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve did not start: {proc.stderr.read()}")


def values(page) -> dict:
    """The targets the page shows, exactly (from the cells' data attributes)."""
    band = page.locator("#company-band")
    segments = page.eval_on_selector_all(
        "#segments-table tbody tr",
        "rows => rows.map(r => [r.getAttribute('data-name'), "
        "Number(r.querySelector('td.t-target').getAttribute('data-value')), "
        "Number(r.querySelector('td.t-prob').getAttribute('data-value'))])",
    )
    return {
        "target": float(page.get_attribute("#company-target", "data-value")),
        "probability": float(page.get_attribute("#company-probability", "data-value")),
        "p10": float(band.get_attribute("data-p10")),
        "p50": float(band.get_attribute("data-p50")),
        "p90": float(band.get_attribute("data-p90")),
        "deals": float(page.get_attribute("#company-deals", "data-value")),
        "segments": {name: (t, p) for name, t, p in segments},
    }


def settle(page, timeout: float = 300_000) -> None:
    page.wait_for_timeout(350)  # past the controls' debounce
    page.wait_for_function(IDLE, timeout=timeout)


def csv_float(x: float) -> float:
    """A number as targets.csv writes it (10 significant digits)."""
    return float(f"{x:.10g}")


def test_serve_in_chromium_matches_plan_scenario(demo_plan, tmp_path) -> None:
    plan, demo_code = demo_plan
    save = tmp_path / "saved"
    proc, url = start_server(plan, save)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page_errors: list[str] = []
            console_errors: list[str] = []
            dialogs: list[str] = []
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("console", lambda m: console_errors.append(m.text)
                    if m.type == "error" else None)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url)
            page.wait_for_function(IDLE, timeout=300_000)
            base = values(page)
            assert base["target"] > 0 and 0.6 <= base["probability"] < 0.7

            # The plan's own baseline targets are what the page starts from.
            t = pd.read_csv(plan / "targets.csv", keep_default_na=False)
            row = t.loc[t["scenario"].eq("baseline") & t["level"].eq("total")
                        & t["period"].eq("FY") & t["metric"].eq("bookings")].iloc[0]
            assert base["target"] == row["target"]

            # Move the lead-volume control: the company target follows.
            page.fill("#m-lead_volume", "1.3")
            assert page.input_value("#m-lead_volume-num") == "1.30"
            settle(page)
            more = values(page)
            assert more["target"] > base["target"]
            assert page.text_content("#company-target") != ""

            # A second tab works on its own; closing it mid-calculation harms nothing.
            other = context.new_page()
            other.goto(url)
            other.wait_for_function(IDLE, timeout=300_000)
            other.fill("#m-win_rate", "0.8")
            other.wait_for_timeout(300)
            other.close()
            page.fill("#m-lead_volume-num", "1.25")
            settle(page)
            chosen = values(page)
            assert base["target"] < chosen["target"] < more["target"]

            # A bad value is a message beside its control, not a server error.
            page.fill("#m-win_rate-num", "abc")
            page.wait_for_selector("#error:not([hidden])")
            assert "market.win_rate" in page.text_content("#error")
            assert "invalid" in page.get_attribute("#m-win_rate-num", "class")
            page.fill("#m-win_rate-num", "1.00")
            settle(page)
            assert page.is_hidden("#error")
            assert values(page) == chosen

            # The board's number: its probability and the levers that would lift it.
            board = 1.15 * chosen["target"]
            page.fill("#company-target-input", f"{board:.0f}")
            settle(page, 900_000)
            p_board = float(page.get_attribute("#board-probability", "data-value"))
            assert 0 < p_board < 0.6
            levers = page.eval_on_selector_all("#levers li[data-lever]",
                                               "els => els.map(e => e.dataset.lever)")
            assert set(levers) == {"lead_volume", "win_rate"}
            assert values(page) == chosen  # the board's number does not move the targets

            # Save the assumptions on screen; write their plan directory.
            page.fill("#file-name", "e2e-whatif")
            page.click("#save-scenario")
            page.wait_for_function(
                "document.getElementById('action-result').textContent.includes('saved to')")
            saved = save / "e2e-whatif.yaml"
            assert page.get_attribute("#action-result", "data-path") == str(saved)
            page.click("#write-plan")
            page.wait_for_function(
                "document.getElementById('action-result').textContent"
                ".includes('Plan directory written')", timeout=900_000)

            assert page_errors == [] and dialogs == []
            # The only console errors are the browser's notes on the 4xx of the bad value.
            assert all("422" in e for e in console_errors), console_errors
            BUILD.mkdir(exist_ok=True)
            page.screenshot(path=str(BUILD / "serve.png"), full_page=True)
            browser.close()
    finally:
        # Ctrl+C: the server stops cleanly.
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read()

    # The saved file is a scenario file `plan --scenario` reads as it is.
    scenario = parse_scenario(saved.read_text(encoding="utf-8"), str(saved))
    assert scenario.name == "what-if" and scenario.market.lead_volume == 1.25

    # The written plan directory holds the targets on screen.
    written = pd.read_csv(save / "e2e-whatif" / "targets.csv", keep_default_na=False)
    w = written.loc[written["level"].eq("total") & written["period"].eq("FY")
                    & written["metric"].eq("bookings")].iloc[0]
    assert w["target"] == chosen["target"]
    assert (save / "e2e-whatif" / "report.html").is_file()
    assert (save / "e2e-whatif" / "targets.xlsx").is_file()

    # `targetsim plan --scenario` on the saved file: the same targets as the page.
    out = tmp_path / "plan2"
    r = subprocess.run(
        [*CLI, "plan", str(demo_data_path()), "--format", "maven", "--segment-col", "product",
         "--scenario", str(saved), "--seed", str(SEED), "--draws", str(DRAWS), "--out",
         str(out), "--no-progress"],
        capture_output=True, text=True, timeout=1800, env={**os.environ, "COLUMNS": "200"},
    )
    assert r.returncode == demo_code, r.stderr
    t = pd.read_csv(out / "targets.csv", keep_default_na=False)
    assert set(t["scenario"]) == {"what-if"}
    fy = t.loc[t["period"].eq("FY")]
    total = fy.loc[fy["level"].eq("total") & fy["metric"].eq("bookings")].iloc[0]
    assert total["target"] == chosen["target"]
    assert total["attainment_probability"] == csv_float(chosen["probability"])
    assert (total["p10"], total["p50"], total["p90"]) == (
        chosen["p10"], chosen["p50"], chosen["p90"])
    deals = fy.loc[fy["level"].eq("total") & fy["metric"].eq("deals_won")].iloc[0]
    assert deals["target"] == chosen["deals"]
    seg = fy.loc[fy["level"].eq("segment") & fy["metric"].eq("bookings")]
    assert {n: (tg, p) for n, tg, p in zip(seg["name"], seg["target"],
                                           seg["attainment_probability"], strict=True)} == {
        n: (tg, csv_float(p)) for n, (tg, p) in chosen["segments"].items()}
    meta = json.loads((out / "plan.json").read_text())
    assert meta["seed"] == SEED and meta["draws"] == DRAWS
