"""The dashboard in a real browser, filled by a real monitoring pass against the simulator.

Screenshots of the dashboard with a month of history (light, dark, phone) and of a model page
are saved to $ARGUSLM_SCREENSHOT_DIR (default /tmp/arguslm-shots) for a human to look at.
"""

import math
import os
import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitoring import rollups
from monitoring.models import UptimeCheck
from tests.browser.helpers import log_in, run_pass, set_theme
from tests.factories import make_account, make_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RANGES = ["5m", "1h", "24h", "7d", "30d", "90d"]
SOURCES = {
    "5m": "raw checks",
    "1h": "raw checks",
    "24h": "hourly rollups",
    "7d": "hourly rollups",
    "30d": "daily rollups",
    "90d": "daily rollups",
}


@pytest.fixture
def shots() -> Path:
    path = Path(os.environ.get("ARGUSLM_SCREENSHOT_DIR", "/tmp/arguslm-shots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def wait_for_charts(page, range_key: str) -> None:
    """Every chart answered for this range (its caption names the data source)."""
    page.wait_for_function(
        """([range, source]) => {
            const section = document.querySelector('[data-trends]');
            if (!section || section.dataset.range !== range || section.hasAttribute('aria-busy')) {
                return false;
            }
            const metas = Array.from(section.querySelectorAll('[data-trend-meta]'));
            const prefix = 'source: ' + source;
            return metas.length === 4 && metas.every(m => m.textContent.startsWith(prefix));
        }""",
        arg=[range_key, SOURCES[range_key]],
    )


def chart_points(page) -> dict:
    """Drawn points per chart (Chart.js instances), gaps and the availability step tail left out."""
    return page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('[data-trend]')).map(f => {
            const chart = window.Chart.getChart(f.querySelector('canvas'));
            const points = chart ? chart.data.datasets.filter(d => !d.band).reduce(
                (n, d) => n + d.data.filter(p => p.y !== null && !p.tail).length, 0) : -1;
            return [f.dataset.trend, points];
        }))"""
    )


def test_a_real_monitoring_pass_fills_the_dashboard_and_the_model_page(
    page, live_server, llmsim, sync_tasks
):
    account = make_account(display_name="Simulator", credentials={"base_url": f"{llmsim}/v1"})
    fast = make_model(account, model_id="fast-small")
    make_model(account, model_id="sim/status=500")
    run = run_pass()
    assert (run.up, run.down) == (1, 1)
    base = live_server.url
    log_in(page, base, username="dora")

    expect(page.locator("[data-model-row]")).to_have_count(2)
    expect(page.locator('[data-model-row="fast-small"] [data-status]')).to_have_text("up")
    expect(page.locator('[data-model-row="sim/status=500"] [data-status]')).to_have_text("down")
    expect(page.locator('[data-model-row="sim/status=500"]')).to_contain_text("server_error")
    expect(page.get_by_test_id("attention")).to_contain_text("sim/status=500")
    expect(page.locator(".stat-grid")).to_contain_text("1 / 2 up")
    expect(page.locator("#dashboard-activity")).to_contain_text("Monitoring pass completed")

    # The default range, then every range: each chart re-renders from its JSON.
    wait_for_charts(page, "24h")
    for range_key in RANGES:
        page.click(f'[data-range-option="{range_key}"]')
        wait_for_charts(page, range_key)
        points = chart_points(page)
        # One check each: fast-small has latency/TTFT/tok/s; both have availability.
        assert points == {"latency": 1, "ttft": 1, "tps": 1, "availability": 2}, range_key
        expect(page.locator(f'[data-range-option="{range_key}"]')).to_have_attribute(
            "aria-pressed", "true"
        )
        assert page.url.endswith(f"?range={range_key}")
        expect(page.locator("#dashboard-comparison")).to_contain_text("fast-small")

    # The Refresh button re-renders the models and the charts in place.
    page.evaluate("document.querySelector('[data-model-row]').dataset.stale = 'yes'")
    page.click("[data-refresh]")
    expect(page.locator("[data-model-row][data-stale]")).to_have_count(0)
    expect(page.locator("[data-refresh]")).to_be_enabled()
    wait_for_charts(page, "90d")

    # Click-through to the model page: its figures, history and its own charts.
    page.click('[data-model-row="fast-small"] a.model-name')
    page.wait_for_url(re.compile(rf"{re.escape(base)}/monitoring/models/{fast.id}$"))
    expect(page.locator("h1")).to_contain_text("fast-small")
    expect(page.locator("h1 [data-status]")).to_have_text("up")
    expect(page.locator(".tl-cell.st-up")).to_have_count(1)
    wait_for_charts(page, "24h")
    assert chart_points(page) == {"latency": 1, "ttft": 1, "tps": 1, "availability": 1}
    page.click('[data-range-option="5m"]')
    wait_for_charts(page, "5m")
    assert page.errors == []


def seed_history(models: dict, now) -> None:
    """30 days of checks (every 15 minutes for the last week, every 2 hours before), with a
    daily rhythm and a few bad ones."""
    rng = random.Random(7)
    moments = [now - timedelta(hours=2 * h + 168) for h in range(23 * 12, 0, -1)]
    moments += [now - timedelta(minutes=15 * q + 3) for q in range(7 * 96, 0, -1)]
    checks = []
    for model, base_ms, outage_after in models.values():
        for at in moments:
            daily = 1 + 0.18 * math.sin(2 * math.pi * (at.hour + at.minute / 60) / 24)
            latency = base_ms * daily * rng.uniform(0.9, 1.15)
            failing = outage_after is not None and at > now - outage_after
            blip = rng.random() < 0.004
            if failing or blip:
                checks.append(
                    UptimeCheck(
                        model=model,
                        status="down",
                        error_type="server_error",
                        error="HTTP 500 from the provider",
                        created_at=at,
                    )
                )
                continue
            slow = rng.random() < 0.03
            checks.append(
                UptimeCheck(
                    model=model,
                    status="degraded" if slow else "up",
                    latency_ms=latency * (2.5 if slow else 1),
                    ttft_ms=latency * 0.3,
                    tps_excluding_ttft=40_000 / latency,
                    output_tokens=40,
                    created_at=at,
                )
            )
    UptimeCheck.objects.bulk_create(checks, batch_size=1000)
    rollups.record(checks)


def test_dashboard_screenshots_with_a_month_of_history(
    page, browser, live_server, llmsim, sync_tasks, shots
):
    sim = make_account(display_name="Simulator", credentials={"base_url": f"{llmsim}/v1"})
    mirror = make_account(display_name="Simulator mirror", credentials={"base_url": f"{llmsim}/v1"})
    fast = make_model(sim, model_id="fast-small")
    broken = make_model(sim, model_id="sim/status=500", custom_name="flaky-gateway")
    medium = make_model(sim, model_id="sim/ttft=250/itl=10/n=30", custom_name="steady-medium")
    fast_mirror = make_model(mirror, model_id="fast-small")
    seed_history(
        {
            "fast": (fast, 480, None),
            "broken": (broken, 900, timedelta(hours=5)),
            "medium": (medium, 620, None),
            "mirror": (fast_mirror, 560, None),
        },
        timezone.now(),
    )
    run_pass()
    base = live_server.url
    log_in(page, base, username="dora")
    expect(page.locator("[data-model-row]")).to_have_count(4)
    wait_for_charts(page, "24h")
    expect(page.locator("#dashboard-across")).to_contain_text("fast-small")

    # (The README's dashboard screenshots are test_dashboard_fleet_browser's, at 1,000 models.)
    for theme in ("light", "dark"):
        set_theme(page, theme)
        wait_for_charts(page, "24h")  # the theme change redraws the charts
        page.screenshot(path=str(shots / f"dashboard-month-{theme}.png"), full_page=True)

    page.click('[data-range-option="7d"]')
    wait_for_charts(page, "7d")
    page.click('[data-model-row="sim/status=500"] a.model-name')
    page.wait_for_url(re.compile(r".*/monitoring/models/.*"))
    wait_for_charts(page, "24h")
    expect(page.locator(".tl-cell.st-down").first).to_be_visible()
    page.screenshot(path=str(shots / "model-detail-dark.png"), full_page=True)
    assert page.errors == []

    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    small = phone.new_page()
    small_errors = []
    small.on("pageerror", lambda exc: small_errors.append(str(exc)))
    small.on("console", lambda m: small_errors.append(m.text) if m.type == "error" else None)
    small.goto(f"{base}/login")
    small.fill("input[name=username]", "dora")
    small.fill("input[name=password]", "pw-dora-12345")
    small.click("button[type=submit]")
    small.wait_for_url(f"{base}/dashboard")
    set_theme(small, "light")
    wait_for_charts(small, "24h")
    small.screenshot(path=str(shots / "dashboard-phone.png"), full_page=True)
    phone.close()
    assert small_errors == []


def test_first_run_offers_the_local_simulator(page, live_server, shots):
    base = live_server.url
    log_in(page, base, username="dora")
    expect(page.locator(".start-card")).to_contain_text("Add a provider")
    page.screenshot(path=str(shots / "dashboard-first-run.png"), full_page=True)

    page.get_by_role("button", name="Use the local simulator").click()
    page.wait_for_url(f"{base}/dashboard")
    expect(page.locator(".messages")).to_contain_text("Added “Local simulator”")
    expect(page.locator("[data-model-row]")).to_have_count(5)
    expect(page.locator('[data-model-row="fast-small"] [data-status]')).to_have_text("no data")
    wait_for_charts(page, "24h")
    assert page.errors == []
