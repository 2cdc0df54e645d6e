"""The status page in a real browser: headless Chromium (Debian's package, driven by Playwright)
renders it at desktop and phone widths on both databases; the test checks what a reader needs
(labelled funnel, tiles with their period, trends, the period selector, tables that fit, the
admin section last) and keeps the screenshots in the test artefacts (test-artifacts/status/, or
$FUNNELSYNC_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sandbox.server import SandboxServer
from service.api import create_app
from service.charts import FUNNEL_COLOUR, TREND_COLOUR
from service.dashboard import Dashboard, PeriodOption, Point, Tile
from service.status import Section, _tile, render_status
from tests.conftest import FakeClock, strict
from tests.service.conftest import running_service

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("FUNNELSYNC_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "status"
WIDTHS = (1400, 390)


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def pixels_near(image: Image.Image, colour: str, tolerance: int = 8) -> int:
    target = rgb(colour)
    raw = image.convert("RGB").tobytes()
    return sum(
        1 for i in range(0, len(raw), 3) if all(abs(raw[i + k] - target[k]) <= tolerance for k in range(3))
    )


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if strict():
            pytest.fail("headless Chromium is required in CI (apt-get install chromium)")
        pytest.skip("Chromium is not installed")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page_url(make_settings, engine, sandbox, request) -> Iterator[str]:
    """A synced service on the sandbox's clock (portal time 2026-06-01 12:00 UTC: May is the
    latest complete month, June has just begun), serving its page on loopback."""
    settings = make_settings(engine.url.render_as_string(hide_password=False))
    marker = request.node.get_closest_marker("service_settings")
    with running_service(
        settings, engine, clock=FakeClock(sandbox), **(marker.kwargs if marker else {})
    ) as ctx:
        assert ctx.jobs.sync("default", trigger="admin").succeeded
        with SandboxServer(create_app(ctx)) as server:
            yield server.url


def check_layout(page: Any, width: int) -> None:
    """What matters at any width: the period, the labelled funnel, tiles with trends, nothing
    wider than the screen, the admin section after the sync runs."""
    assert page.locator("h2 .period").first.inner_text() == "2026-05"
    assert "Marketing Qualified Lead" in page.locator("#funnel").inner_text()
    bars = page.locator("#funnel .stage")
    assert bars.count() == 5
    widths = [bars.nth(i).bounding_box()["width"] for i in range(5)]
    assert all(w > 0 for w in widths) and widths[0] == max(widths)
    tiles = page.locator(".tile")
    assert tiles.count() >= 10
    for i in range(tiles.count()):
        box = tiles.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"tile {i} leaves the screen"
    periods = page.locator(".tile .p").all_inner_texts()
    assert sum("2026-05" in p for p in periods) >= 8 and sum(p.strip() == "now" for p in periods) == 2
    assert page.locator("svg.trend").count() >= 8 and page.locator("svg.trend").first.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    assert page.locator("#sources-default td").first.is_visible()
    forecast = page.locator("#forecast-default")
    assert (
        forecast.is_visible()
        and "2026-06" in forecast.inner_text()
        and "new customers" in forecast.inner_text()
    )
    assert "2026-06 (partial)" in page.locator("select[name=period]").inner_text()
    assert page.get_by_label("Admin token").is_visible()
    sync_y, admin_y = (page.locator(s).bounding_box()["y"] for s in ("#sync", "#admin"))
    assert sync_y < admin_y


@pytest.mark.slow
def test_the_status_page_reads_well_on_a_desktop_and_a_phone(browser, page_url, dialect):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(page_url + "/")
        check_layout(page, width)
        shot = ARTEFACTS / f"status-{dialect}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        image = Image.open(shot)
        assert image.size[0] == width
        # The funnel's first bar and the trend lines were painted, not just laid out.
        assert pixels_near(image, FUNNEL_COLOUR) > (2_000 if width > 1000 else 800)
        assert pixels_near(image, TREND_COLOUR) > 300
        page.close()


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_the_period_selector_switches_to_quarters_and_marks_a_partial_one(browser, page_url):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(page_url + "/")
    with page.expect_navigation():
        page.select_option("select[name=grain]", "quarter")
    assert "grain=quarter" in page.url
    assert page.locator("h2 .period").first.inner_text() == "2026-Q1"  # Q2 has not ended
    page.select_option("select[name=period]", "2026-Q2")
    with page.expect_navigation():
        page.click("#periods button")
    assert page.locator("h2 .period").first.inner_text() == "2026-Q2"
    assert page.locator("h2 .badge.partial").first.is_visible()
    page.screenshot(path=str(ARTEFACTS / "status-quarter-partial-1400.png"), full_page=True)
    page.close()


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
@pytest.mark.service_settings(status_refresh_seconds=1)
def test_the_page_refreshes_itself(browser, page_url):
    page = browser.new_page()
    page.goto(page_url + "/")
    page.evaluate("window.loadedBefore = true")
    # A reload replaces the window: the mark is gone within a few refresh periods.
    page.wait_for_function("window.loadedBefore === undefined", timeout=15_000)
    page.close()


def test_stale_families_are_marked_on_the_page():
    board = Dashboard(
        "default",
        "SEK",
        "month",
        ("month", "quarter", "year"),
        [PeriodOption("2026-05", True)],
        PeriodOption("2026-05", True),
        tiles=[
            Tile("Email open rate", "email_open_rate", "share", 0.25, stale_since="2026-05-20T08:00:00+00:00")
        ],
        stale={"email": "2026-05-20T08:00:00+00:00"},
    )
    html = render_status(
        sections=[Section("default", board, None)],
        runs=[],
        next_runs={},
        connections=["default"],
        admin_enabled=False,
        refresh_seconds=0,
        now=datetime(2026, 6, 1, tzinfo=UTC),
    )
    assert "Stale: these KPI families" in html and "email (since 2026-05-20 08:00)" in html
    assert '<span class="badge stale"' in html and "location.reload" not in html
    assert "Resync from this page needs" in html


@pytest.mark.parametrize(
    ("unit", "before", "now", "shown"),
    [
        ("share", 0.20, 0.25, "▲ +5.0 pp vs 2026-04"),
        ("count", 120.0, 90.0, "▼ -25 % vs 2026-04"),
        ("money:SEK", 0.0, 10.0, None),  # no per cent of nothing
        ("days", None, 30.0, None),
    ],
)
def test_tiles_show_the_change_from_the_period_before(unit, before, now, shown):
    points = (Point("2026-04", before, True), Point("2026-05", now, True))
    html = _tile(Tile("KPI", "kpi", unit, now, points), PeriodOption("2026-05", True))
    if shown is None:
        assert 'class="change"' not in html
    else:
        assert f'<div class="change">{shown}</div>' in html
