"""report.html in headless Chromium: renders, no console errors, control works, no XSS.

Uses Debian's chromium (installed by .ci/run); no browser is downloaded. Saves a screenshot
to build/report.png as a CI artifact.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from targetsim.report import write_report
from test_report_fixture import MALICIOUS, make_plan_dir

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BUILD = Path(__file__).resolve().parents[1] / "build"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (CI installs Debian's package)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = make_plan_dir(tmp_path_factory.mktemp("plan"))
    return write_report(d, lang="en", progress=False)[0]


def _targets(page) -> list[str]:
    return page.eval_on_selector_all(
        "#targets-table tr[data-idx]:not([hidden]) td.t-at", "els => els.map(e => e.textContent)"
    )


def test_report_renders_in_chromium(report_html: Path) -> None:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console_errors: list[str] = []
        page_errors: list[str] = []
        dialogs: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report_html.as_uri())
        page.wait_for_load_state("load")

        # Self-contained: the only request is the file itself.
        assert requests == [report_html.as_uri()]
        assert console_errors == [] and page_errors == []

        # Charts: one fan per scenario total + one per segment, each with a drawn band.
        svgs = page.query_selector_all("svg.fan")
        assert len(svgs) == 2 + 2
        for svg in svgs:
            box = svg.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50
            points = svg.query_selector("polygon.band").get_attribute("points")
            assert len(points.split()) >= 2 * 12
            assert svg.query_selector("line.target") is not None

        # The probability control: the shown targets fall as the required probability rises.
        slider = page.locator("#prob")
        assert page.text_content("#prob-label") == "60%"
        at60 = _targets(page)
        assert at60 and all(t != "–" for t in at60)
        slider.fill("12")  # 90 %
        assert page.text_content("#prob-label") == "90%"
        at90 = _targets(page)
        slider.fill("0")  # 30 %
        at30 = _targets(page)
        assert at90 != at60 != at30

        def num(s: str) -> float:  # "$1.42M", "$600K", "$4,321"
            scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(s[-1], 1.0)
            return float(s.lstrip("$").rstrip("KMB").replace(",", "")) * scale

        assert all(num(a) <= num(b) <= num(c) for a, b, c in zip(at90, at60, at30, strict=True))
        assert any(num(a) < num(c) for a, c in zip(at90, at30, strict=True))

        # Switching scenario shows the other scenario's rows.
        page.select_option("#scenario-select", "tension")
        shown = page.eval_on_selector_all(
            "#targets-table tr[data-idx]:not([hidden])",
            "els => els.map(e => e.getAttribute('data-scenario'))",
        )
        assert shown and set(shown) == {"tension"}
        page.select_option("#scenario-select", "baseline")
        slider.fill("6")

        # The malicious segment name is shown as text and never runs.
        assert dialogs == []
        names = page.eval_on_selector_all("td.name", "els => els.map(e => e.textContent)")
        assert MALICIOUS in names
        assert page.evaluate("document.scripts.length") == 2  # the JSON island and ours

        BUILD.mkdir(exist_ok=True)
        page.screenshot(path=str(BUILD / "report.png"), full_page=True)
        page.emulate_media(media="print")
        assert page.is_hidden(".controls")
        browser.close()
    assert (BUILD / "report.png").stat().st_size > 10_000
