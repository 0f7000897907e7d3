"""Take docs/report.png: the top of a plan's report.html in headless Chromium.

    .venv/bin/targetsim demo --out build/demo
    .venv/bin/python docs/screenshot.py build/demo/report.html docs/report.png

Debian's chromium (``/usr/bin/chromium``) through Playwright; no browser is downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(html: str, png: str, width: int = 1400, height: int = 1440) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(Path(html).resolve().as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=png, clip={"x": 0, "y": 0, "width": width, "height": height})
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
