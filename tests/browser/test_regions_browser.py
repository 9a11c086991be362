"""Probe regions in a real browser: the dashboard's Regions panel with a stale region marked,
a model up by agreement but down in one region, and the model page's By region table; readable
in both themes, headings in order, header cells with scope, no JavaScript error.

``regions.png`` (the README's) goes to $ARGUSLM_SCREENSHOT_DIR (default /tmp/arguslm-shots).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import a11y
from tests.browser.helpers import log_in, set_theme, shoot_both_themes
from tests.dashboard.regions_data import seed_regions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Header cells without scope in the given tables.
UNSCOPED_JS = """
(selector) => [...document.querySelectorAll(selector + ' th:not([scope])')]
  .map(th => th.textContent.trim().slice(0, 40))
"""


@pytest.fixture
def shots() -> Path:
    path = Path(os.environ.get("ARGUSLM_SCREENSHOT_DIR", "/tmp/arguslm-shots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def assert_basics(page, section: str) -> None:
    """Headings never skip a level, the section's tables have scoped header cells and its
    text is readable, in both themes."""
    assert page.evaluate(a11y.HEADINGS_JS) == []
    assert page.evaluate(UNSCOPED_JS, section) == []
    for theme in ("dark", "light"):
        set_theme(page, theme)
        assert page.evaluate(a11y.CONTRAST_JS, section) == [], theme


def test_the_dashboard_and_the_model_page_show_the_regions(page, live_server, shot, shots):
    models = seed_regions()["models"]
    base = live_server.url
    log_in(page, base, username="rita")

    panel = page.get_by_test_id("regions")
    expect(panel.get_by_role("heading", name="Regions")).to_be_visible()
    expect(panel.locator("tbody tr")).to_have_count(3)
    stale = panel.locator('tr[data-region="ap"]')
    expect(stale.locator(".pill")).to_have_text("stale")
    expect(stale).to_contain_text("last heartbeat 3 min ago")
    expect(panel.locator('tr[data-region="eu"] .pill')).to_have_text("live")
    expect(panel.locator('tr[data-region="eu"] td').last).to_have_text("2")
    # The stale mark is in the warning colour, not the live one.
    colours = page.evaluate(
        """() => ['ap', 'eu'].map(r => getComputedStyle(document.querySelector(
             `#regions tr[data-region="${r}"] .pill`)).color)"""
    )
    assert colours[0] != colours[1]

    flaky = page.locator('[data-model-row="flaky"]')
    expect(flaky.locator("[data-status]")).to_have_text("up")
    expect(flaky.locator("[data-down-in]")).to_have_text("down in eu")
    expect(page.locator('[data-model-row="broken"] [data-down-in]')).to_have_count(0)
    assert_basics(page, "#regions")
    set_theme(page, "light")
    top = page.locator("#models").bounding_box()
    page.screenshot(
        path=str(shots / "regions.png"),
        full_page=True,
        clip={"x": 0, "y": 0, "width": 1280, "height": top["y"] + top["height"] + 16},
    )
    shoot_both_themes(page, shot, "regions-dashboard")

    flaky.get_by_role("link", name="flaky").click()
    page.wait_for_url(f"{base}/monitoring/models/{models['flaky'].id}")
    table = page.get_by_test_id("by-region")
    expect(table.get_by_role("heading", name="By region")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(3)
    eu = table.locator('tr[data-region="eu"]')
    expect(eu.locator(".pill")).to_have_text("down")
    expect(eu).to_contain_text("server_error")
    expect(eu).to_contain_text("83.3 %")
    expect(table.locator('tr[data-region="ap"] th')).to_contain_text("stale")
    assert_basics(page, "#by-region")
    shoot_both_themes(page, shot, "regions-model")

    # The passes say where they probed from, and the one that lost "ap" says so.
    page.goto(f"{base}/monitoring")
    expect(page.get_by_test_id("run-regions")).to_have_text("default, eu")
    passes = page.get_by_test_id("passes")
    expect(passes.locator("[data-run-regions]")).to_have_text(
        ["from default, eu", "from ap, default, eu"]
    )
    expect(passes.locator(".pass-message")).to_have_text(
        "Not probed from ap: the region's workers stopped."
    )
    assert_basics(page, "#monitoring-runs")
    shoot_both_themes(page, shot, "regions-passes")
    assert page.errors == []
