"""The meeting report in headless Chromium: the headline's last-year figure, the print layout
(A4 and Letter, page count, no table wider than the page) and the French objectives.

The print budget is checked on a plan the size of the demo's (7 segments, 30 reps, 3
scenarios, tiers, last year, teams), calibrated by the package. Debian's chromium (installed
by .ci/run); no browser is downloaded.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from targetsim import formatting as F
from targetsim.report import write_report
from test_meeting import MONTHLY, make_demo_like_plan, make_meeting_plan

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Printable width of A4 (210 mm) and Letter (8.5 in) less 12 mm margins, in CSS pixels.
PRINT_WIDTH = {"A4": (210 - 24) / 25.4 * 96, "Letter": (8.5 * 25.4 - 24) / 25.4 * 96}
MAX_PAGES = 8
MARGIN = {"top": "12mm", "bottom": "12mm", "left": "12mm", "right": "12mm"}

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (CI installs Debian's package)",
                allow_module_level=True)


def _reports(base: Path, tmp: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for lang in ("en", "fr"):
        d = tmp.mktemp(lang)
        shutil.copytree(base, d, dirs_exist_ok=True)
        out[lang] = write_report(d, lang=lang, progress=False)[0]
    return out


@pytest.fixture(scope="module")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _reports(make_meeting_plan(tmp_path_factory.mktemp("meeting")), tmp_path_factory)


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _reports(make_demo_like_plan(tmp_path_factory.mktemp("demo")), tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def _open(browser, html: Path):  # noqa: ANN001, ANN202 - playwright objects
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    assert errors == []
    # At 1,400 px no table is wider than its section.
    wide = page.evaluate("""() => [...document.querySelectorAll('table')]
        .filter(t => t.offsetParent && t.scrollWidth > t.parentElement.clientWidth + 1)
        .map(t => t.id)""")
    assert wide == []
    return page


def print_pages(page) -> dict[str, int]:  # noqa: ANN001 - a playwright page
    """Pages of the print to A4 and Letter; fails if a table overflows the printable width."""
    page.emulate_media(media="print")
    out = {}
    for fmt, width in PRINT_WIDTH.items():
        page.set_viewport_size({"width": int(width), "height": 1000})
        over = page.evaluate("""(w) => [...document.querySelectorAll('table')]
            .filter(t => t.offsetParent && t.getBoundingClientRect().right > w + 1)
            .map(t => t.id)""", int(width))
        assert over == [], (fmt, over)
        out[fmt] = _pages(page.pdf(format=fmt, print_background=True, margin=MARGIN))
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1400, "height": 900})
    return out


def test_headline_shows_last_year_and_objectives_are_french(meeting, browser) -> None:
    known = 12 * sum(n * s for n, s in MONTHLY.values())
    for lang, html in meeting.items():
        page = _open(browser, html)
        # The proposed scenario's card shows last year's actual, in the report's money.
        card = page.locator("#headline .card.proposed")
        assert card.locator(".last-year-actual").inner_text() == \
            F.money_compact(known, lang, "EUR")
        objectives = page.inner_text("#objectives")
        if lang == "fr":
            assert "Atteindre" in objectives and "€" in objectives
            assert "Reach" not in objectives and "December" not in objectives
            assert "décembre" in objectives
        else:
            assert "Book" in objectives
        assert 1 <= max(print_pages(page).values()) <= MAX_PAGES
        page.close()


def test_a_demo_sized_report_prints_in_eight_pages(demo_like, browser) -> None:
    t = pd.read_csv(demo_like["en"].parent / "targets.csv", keep_default_na=False)
    fy = t[(t.period == "FY") & (t.metric == "bookings")]
    assert fy.scenario.nunique() == 3 and fy[fy.level == "segment"].name.nunique() == 7
    assert fy[fy.level == "owner"].name.nunique() == 30
    for lang, html in demo_like.items():
        page = _open(browser, html)
        assert page.locator("svg.fan").count() == 3 + 7
        assert page.locator("details.owner").count() == 30
        assert page.locator("#rep-table tbody tr").count() == 30
        pages = print_pages(page)
        assert all(1 <= n <= MAX_PAGES for n in pages.values()), (lang, pages)
        page.close()


@pytest.mark.slow
def test_the_demo_report_prints_in_eight_pages(tmp_path: Path, browser) -> None:
    """The bundled demo itself (small MCMC settings), French and English, with tiers."""
    from targetsim.data import demo_data_path, load_funnel
    from targetsim.plan import DEMO_SCENARIOS, run_plan

    funnel = load_funnel(demo_data_path(), fmt="maven", segment_col="product")
    fr = tmp_path / "fr"
    run_plan(funnel, fr, scenarios=DEMO_SCENARIOS, tiers=(0.9, 0.6, 0.3), draws=200,
             mcmc_draws=150, tune=150, chains=2, seed=0, lang="fr",
             teams=demo_data_path() / "sales_teams.csv", progress=False)
    en = tmp_path / "en"
    shutil.copytree(fr, en)
    write_report(en, lang="en", progress=False)
    for lang, d in (("fr", fr), ("en", en)):
        page = _open(browser, d / "report.html")
        assert page.locator("#rep-table tbody tr").count() == 30
        pages = print_pages(page)
        assert all(1 <= n <= MAX_PAGES for n in pages.values()), (lang, pages)
        page.close()
