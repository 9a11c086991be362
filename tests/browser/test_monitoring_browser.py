"""Configure monitoring and run a pass in a real browser (htmx, monitoring.js).

The first test runs django-q2 tasks inline (``Conf.SYNC``): "Run now" probes the simulator
inside the request, the pass is complete when the response arrives, and its HX-Trigger makes
the header, the model statuses and the checks table refresh themselves. The second runs the
tasks in threads a moment later, as a worker would, so the page has to poll the live pass.
"""

import re
import threading
from importlib import import_module

import pytest
from django_q.models import Schedule
from playwright.sync_api import expect

from monitoring.models import MonitoringConfig, MonitoringRun, UptimeCheck
from tests.browser.helpers import log_in, shoot_both_themes
from tests.factories import make_account, make_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FAST = "fast-small"  # the simulator's ttft 150 ms, 40 tokens
SLOW = "sim/ttft=1200/itl=2/n=3"  # slower than the 1000 ms TTFT threshold set below
BROKEN = "sim/status=401"


@pytest.fixture
def worker_threads(monkeypatch):
    """Run each queued task in a thread 0.5 s later (a worker's pick-up delay)."""
    timers: list[threading.Timer] = []

    def async_task(func, *args, **kwargs):
        module, name = func.rsplit(".", 1)
        timer = threading.Timer(0.5, getattr(import_module(module), name), args=args)
        timers.append(timer)
        timer.start()
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", async_task)
    yield timers
    for timer in list(timers):
        timer.join(timeout=60)


def test_configuring_monitoring_and_running_a_pass(page, live_server, llmsim, shot, sync_tasks):
    account = make_account(display_name="Simulator", credentials={"base_url": f"{llmsim}/v1"})
    make_model(account, model_id=FAST)
    make_model(account, model_id=SLOW, custom_name="Slow starter")
    make_model(account, model_id=BROKEN, enabled_for_monitoring=False)
    idle = make_account(display_name="Paused account", enabled=False)
    make_model(idle, model_id="llama3:8b")
    base = live_server.url
    log_in(page, base, username="dana")

    page.goto(f"{base}/monitoring")
    expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
    expect(page.get_by_test_id("run-live")).to_contain_text("No pass has run yet")
    expect(page.get_by_test_id("monitored-total")).to_have_text("2")
    expect(page.get_by_test_id("account-disabled-note")).to_contain_text("not probed")

    # monitoring.js shows the custom interval only when "Custom…" is chosen.
    custom = page.locator("input[name=interval_custom]")
    expect(custom).to_be_hidden()
    page.select_option("select[name=interval_choice]", "custom")
    expect(custom).to_be_visible()

    # Bad input: explained next to each field, nothing stored.
    custom.fill("0")
    page.fill("input[name=degraded_ttft_ms]", "-5")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("Not saved")
    expect(page.get_by_test_id("error-interval_minutes")).to_contain_text("greater than or equal")
    expect(page.get_by_test_id("error-degraded_ttft_ms")).to_contain_text("greater than or equal")
    expect(custom).to_be_visible()  # the re-rendered form keeps "Custom…" and the value
    assert MonitoringConfig.get().interval_minutes == 5
    shoot_both_themes(page, shot, "monitoring-settings-error")

    page.select_option("select[name=interval_choice]", "10")
    expect(custom).to_be_hidden()
    page.fill("input[name=degraded_ttft_ms]", "1000")
    page.fill("input[name=degraded_latency_ms]", "5000")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".messages")).to_contain_text("Saved. A pass runs every 10 min.")
    config = MonitoringConfig.get()
    assert (config.interval_minutes, config.degraded_ttft_ms, config.degraded_latency_ms) == (
        10,
        1000,
        5000,
    )
    assert Schedule.objects.get(name="arguslm.monitoring-pass").minutes == 10

    # Switch the broken model on: the card and the account's count re-render.
    broken = page.locator(f'[data-testid=monitor-model][data-model-id="{BROKEN}"]')
    broken.get_by_test_id("monitor-toggle").click()
    expect(broken.get_by_test_id("monitor-toggle")).to_have_attribute("aria-checked", "true")
    expect(page.locator(f"#monitor-count-{account.pk}")).to_have_text("3 of 3 monitored")

    page.get_by_role("button", name="Run now").click()
    runs = page.locator("#monitoring-runs")
    expect(runs.get_by_test_id("run-status")).to_have_text("completed", timeout=30_000)
    expect(runs.get_by_test_id("count-up")).to_have_text("1")
    expect(runs.get_by_test_id("count-degraded")).to_have_text("1")
    expect(runs.get_by_test_id("count-down")).to_have_text("1")
    expect(runs.get_by_test_id("count-total")).to_have_text("3")

    # The finished pass refreshed the checks table, the model cards and the header.
    checks = page.get_by_test_id("check-row")
    expect(checks).to_have_count(3)
    expect(page.locator(f'[data-testid=check-row][data-model-id="{FAST}"]')).to_have_attribute(
        "data-status", "up"
    )
    expect(page.locator(f'[data-testid=check-row][data-model-id="{SLOW}"]')).to_have_attribute(
        "data-status", "degraded"
    )
    broken_row = page.locator(f'[data-testid=check-row][data-model-id="{BROKEN}"]')
    expect(broken_row).to_have_attribute("data-status", "down")
    expect(broken_row.get_by_test_id("error-type")).to_have_text(
        "auth: configuration problem, check the API key"
    )
    expect(broken.get_by_test_id("model-status")).to_have_text("down")
    expect(broken).to_contain_text("Configuration: check the API key")
    expect(page.get_by_test_id("last-pass")).to_contain_text("UTC")
    run = MonitoringRun.objects.get()
    assert (run.status, run.trigger, run.up, run.degraded, run.down) == (
        "completed",
        "manual",
        1,
        1,
        1,
    )
    assert UptimeCheck.objects.count() == 3
    shoot_both_themes(page, shot, "monitoring")

    # The status filter re-renders the table in place and keeps the URL shareable.
    page.get_by_test_id("filter-down").click()
    expect(checks).to_have_count(1)
    expect(checks.first).to_have_attribute("data-model-id", BROKEN)
    assert "status=down" in page.url
    page.get_by_test_id("filter-all").click()
    expect(checks).to_have_count(3)

    # The server-side model search.
    page.fill("[data-testid=model-search]", "slow")
    expect(page.get_by_test_id("monitor-model")).to_have_count(1)
    expect(page.get_by_test_id("monitor-model")).to_contain_text("Slow starter")

    # A phone-sized window: everything stacks, nothing overflows the page sideways.
    page.fill("[data-testid=model-search]", "")
    expect(page.get_by_test_id("monitor-model")).to_have_count(4)
    page.set_viewport_size({"width": 420, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "monitoring-narrow-dark")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The exports answer for the logged-in browser session.
    href = page.get_by_test_id("export-csv").get_attribute("href")
    response = page.request.get(f"{base}{href}")
    assert response.status == 200
    assert response.text().count("\n") == 4  # header + 3 checks
    assert page.errors == []


def test_the_page_follows_a_queued_pass_until_it_finishes(
    page, live_server, llmsim, shot, worker_threads
):
    account = make_account(display_name="Simulator", credentials={"base_url": f"{llmsim}/v1"})
    make_model(account, model_id=FAST)
    make_model(account, model_id=BROKEN)
    base = live_server.url
    log_in(page, base, username="dana")
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/monitoring/live" in r.url else None)

    page.goto(f"{base}/monitoring")
    page.get_by_role("button", name="Run now").click()
    runs = page.locator("#monitoring-runs")
    expect(runs.get_by_test_id("run-status")).to_have_text("queued")
    expect(runs.get_by_test_id("run-notice")).to_have_text("Pass queued.")
    shoot_both_themes(page, shot, "monitoring-queued")

    expect(runs.get_by_test_id("run-status")).to_have_text("completed", timeout=20_000)
    assert polls, "the live partial was never polled"
    expect(runs.get_by_test_id("count-up")).to_have_text("1")
    expect(runs.get_by_test_id("count-down")).to_have_text("1")
    expect(page.get_by_test_id("check-row")).to_have_count(2)
    expect(page.get_by_test_id("last-pass")).to_contain_text("UTC")
    fast = page.locator(f'[data-testid=monitor-model][data-model-id="{FAST}"]')
    expect(fast.get_by_test_id("model-status")).to_have_text("up")

    # The finished card carries no polling trigger, so htmx stops polling.
    expect(runs).not_to_have_attribute("hx-trigger", re.compile("every"))
    assert page.errors == []
