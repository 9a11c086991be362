"""The dashboard at a thousand models in a real browser: filter, page, switch the theme, reach
everything by keyboard; no JavaScript error, readable text in both themes.

Screenshots (``dashboard-light.png``, ``dashboard-dark.png``: the README's; ``dashboard-fleet-
filtered-*.png``) go to $ARGUSLM_SCREENSHOT_DIR (default /tmp/arguslm-shots).
"""

import os
import re
from itertools import pairwise
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import log_in, set_theme, shoot_both_themes
from tests.dashboard.fleet_data import seed_fleet, state_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MODELS = 1000

# WCAG 2 contrast of the text that says a state, and of muted text, against the background
# behind it (the nearest ancestor with an opaque one).
CONTRAST = """(selectors) => {
  function rgb(value) {
    const m = value.match(/[\\d.]+/g).map(Number);
    return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 };
  }
  function luminance(c) {
    const f = v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  }
  function background(el) {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.a >= 0.99) return c;
    }
    return rgb(getComputedStyle(document.body).backgroundColor);
  }
  const out = [];
  for (const selector of selectors) {
    for (const el of Array.from(document.querySelectorAll(selector)).slice(0, 5)) {
      const fg = luminance(rgb(getComputedStyle(el).color));
      const bg = luminance(background(el));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      out.push([selector, el.textContent.trim().slice(0, 30), Math.round(ratio * 100) / 100]);
    }
  }
  return out;
}"""
TEXT = [
    ".dash-models .pill.status-up",
    ".dash-models .pill.status-degraded",
    ".dash-models .pill.status-down",
    ".attention-item .pill.status-down",
    ".accounts-table .count-link.status-down",
    ".accounts-table .count-link.status-degraded",
    ".dash-models .error-type",
    ".dash-models .muted",
    ".models-count",
    ".dash-models .model-name",
]


@pytest.fixture
def shots() -> Path:
    path = Path(os.environ.get("ARGUSLM_SCREENSHOT_DIR", "/tmp/arguslm-shots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_rows(page):
    return page.locator("[data-model-row]")


def assert_readable(page, theme: str) -> None:
    set_theme(page, theme)
    low = [row for row in page.evaluate(CONTRAST, TEXT) if row[2] < 4.5]
    assert low == [], f"text under 4.5:1 in the {theme} theme: {low}"


def test_a_thousand_models_filter_page_and_switch_theme(page, live_server, shot, shots):
    data = seed_fleet(MODELS, accounts=10, history=60)
    base = live_server.url
    log_in(page, base, username="dora")
    expect(page.locator("h1")).to_have_text("Dashboard")

    # Problems first: the first section after the heading, capped, linking to the rest.
    problems = sum(1 for i in range(MODELS) if state_of(i) in ("down", "degraded"))
    attention = page.get_by_test_id("attention")
    expect(attention.locator(".attention-group").first.locator(".attention-item")).to_have_count(20)
    expect(attention).to_contain_text(f"and {problems - 20} more down or degraded")
    expect(attention).to_contain_text("m answers unlike its baseline")
    assert page.evaluate(
        "document.querySelector('#attention').compareDocumentPosition("
        "document.querySelector('#models')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    expect(page.locator(".accounts-table tbody tr")).to_have_count(10)
    expect(model_rows(page)).to_have_count(50)
    expect(page.locator("[data-models-count]")).to_contain_text("1000 models monitored")
    expect(page.locator("[data-models-count]")).to_contain_text("page 1 of 20")
    # The charts draw the page's models only.
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('[data-trend-meta]'))"
        ".every(m => m.textContent.startsWith('source:'))"
    )
    series = page.evaluate(
        "window.Chart.getChart(document.querySelector('[data-trend=latency] canvas'))"
        ".data.datasets.filter(d => !d.band).length"
    )
    assert series == 50
    for theme in ("light", "dark"):
        set_theme(page, theme)
        page.wait_for_timeout(300)  # the charts redraw in the theme's colours
        # The README's: the top of the page (what needs attention, status, accounts, models).
        page.screenshot(
            path=str(shots / f"dashboard-{theme}.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": 1280, "height": 1750},
        )
    shoot_both_themes(page, shot, "dashboard-fleet")
    assert_readable(page, "light")
    assert_readable(page, "dark")

    # Headings in order (h1, then h2 sections, h3 inside them: none skipped).
    levels = page.evaluate(
        "Array.from(document.querySelectorAll('main h1, main h2, main h3, main h4'))"
        ".map(h => Number(h.tagName[1]))"
    )
    assert levels[0] == 1 and all(b <= a + 1 for a, b in pairwise(levels))

    # Keyboard: the search box is reachable and shows where the focus is.
    page.locator("#dash-q").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert page.evaluate("document.activeElement.id") == "dash-q" and outline != "none"
    for control in ("#dash-q", "#dash-account", "#dash-state", "#dash-tag"):
        label = page.evaluate(f"document.querySelector('{control}').labels[0].textContent")
        assert label.strip(), control

    # Search, then narrow by state (a menu submits the form) and tag, all kept in the URL.
    page.fill("#dash-q", "m-0")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*[?&]q=m-0.*"))
    page.select_option("#dash-state", "up")
    page.wait_for_url(re.compile(r".*state=up.*"))
    page.select_option("#dash-tag", "env:prod")
    page.wait_for_url(re.compile(r".*tag=env%3Aprod.*"))
    expected = sum(
        1
        for i, model in enumerate(data["models"])
        if model.model_id.startswith("m-0") and state_of(i) == "up" and i % 2 == 0
    )
    expect(page.locator("[data-models-count]")).to_contain_text(f"{expected} models match")
    assert "q=m-0" in page.url and "state=up" in page.url
    states = page.locator("[data-model-row] [data-status]").all_text_contents()
    assert set(states) == {"up"}

    # Page 2 keeps every filter; Previous goes back to page 1 with them.
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile(r".*page=2.*"))
    for part in ("q=m-0", "state=up", "tag=env%3Aprod"):
        assert part in page.url
    expect(page.locator("[data-models-count]")).to_contain_text("page 2 of")
    expect(page.locator("#dash-state")).to_have_value("up")
    shoot_both_themes(page, shot, "dashboard-fleet-filtered")
    page.get_by_role("link", name="← Previous").click()
    page.wait_for_url(re.compile(r".*tag=env%3Aprod#models$"))
    assert "page=" not in page.url

    # An account row filters the list to that account.
    page.goto(f"{base}/dashboard")
    account = data["accounts"][3]
    page.locator(".accounts-table").get_by_role("link", name=account.display_name).click()
    page.wait_for_url(re.compile(rf".*account={account.pk}.*"))
    expect(page.locator("#dash-account")).to_have_value(str(account.pk))
    expect(page.locator("[data-models-count]")).to_contain_text("100 models match")

    # The theme toggle in the sidebar.
    page.evaluate("localStorage.setItem('arguslm-theme', 'dark')")
    page.reload()
    page.get_by_role("button", name="Toggle theme").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.get_by_role("button", name="Toggle theme").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.errors == []


def test_the_page_works_without_javascript(browser, live_server):
    seed_fleet(120, accounts=3, history=0)
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    log_in(page, live_server.url, username="erin")
    page.select_option("#dash-state", "down")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*state=down.*"))
    states = page.locator("[data-model-row] [data-status]").all_text_contents()
    assert states and set(states) == {"down"}
    context.close()
