"""The meeting report in headless Chromium: the headline's last-year figure, the print layout
(A4 and Letter, page count, no table wider than the page) and the French objectives.

Debian's chromium (installed by .ci/run); no browser is downloaded.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from targetsim import formatting as F
from targetsim.report import write_report
from test_meeting import MONTHLY, make_meeting_plan

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Printable width of A4 (210 mm) and Letter (8.5 in) less 12 mm margins, in CSS pixels.
PRINT_WIDTH = {"A4": (210 - 24) / 25.4 * 96, "Letter": (8.5 * 25.4 - 24) / 25.4 * 96}
MAX_PAGES = 8

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (CI installs Debian's package)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = make_meeting_plan(tmp_path_factory.mktemp("meeting"))
    out = {}
    for lang in ("en", "fr"):
        d = tmp_path_factory.mktemp(lang)
        shutil.copytree(base, d, dirs_exist_ok=True)
        out[lang] = write_report(d, lang=lang, progress=False)[0]
    return out


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def test_meeting_report_headline_print_and_french(reports: dict[str, Path]) -> None:
    known = 12 * sum(n * s for n, s in MONTHLY.values())
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for lang, html in reports.items():
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            assert errors == []
            # The proposed scenario's card shows last year's actual, in the report's money.
            card = page.locator("#headline .card.proposed")
            assert card.locator(".last-year-actual").inner_text() == \
                F.money_compact(known, lang, "EUR")
            # At 1,400 px no table is wider than its section.
            wide = page.evaluate("""() => [...document.querySelectorAll('table')]
                .filter(t => t.offsetParent && t.scrollWidth > t.parentElement.clientWidth + 1)
                .map(t => t.id)""")
            assert wide == []
            page.emulate_media(media="print")
            for fmt, width in PRINT_WIDTH.items():
                page.set_viewport_size({"width": int(width), "height": 1000})
                over = page.evaluate("""(w) => [...document.querySelectorAll('table')]
                    .filter(t => t.offsetParent && t.getBoundingClientRect().right > w + 1)
                    .map(t => t.id)""", int(width))
                assert over == [], (lang, fmt, over)
                pdf = page.pdf(format=fmt, print_background=True,
                               margin={"top": "12mm", "bottom": "12mm", "left": "12mm",
                                       "right": "12mm"})
                assert 1 <= _pages(pdf) <= MAX_PAGES, (lang, fmt, _pages(pdf))
            page.emulate_media(media="screen")
            objectives = page.inner_text("#objectives")
            if lang == "fr":
                assert "Atteindre" in objectives and "€" in objectives
                assert "Reach" not in objectives and "December" not in objectives
                assert "décembre" in objectives
            else:
                assert "Book" in objectives
            page.close()
        browser.close()
