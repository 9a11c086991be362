"""The Models, Monitoring, Alerts and Benchmarks pages at the scale people monitor: 1,000
models over 10 accounts. Each test filters, goes to page 2, runs one bulk action through its
confirmation, toggles the theme, tabs through the filter form, and checks the keyboard and
screen-reader basics (tests/browser/a11y.py) in both themes, with no JavaScript error.

The data is written with bulk_create: each test takes seconds, not minutes.
"""

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alerts.models import Alert, AlertRule
from benchmarks.models import BenchmarkRun
from monitoring.models import ModelStatus, UptimeCheck
from providers import tags
from providers.models import LLMModel, ProviderAccount, Tag
from tests.browser import a11y
from tests.browser.conftest import SHOTS
from tests.browser.helpers import log_in, set_theme, shoot_both_themes
from tests.factories import MEASURED, make_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ACCOUNTS = 10
PER_ACCOUNT = 100
STATES = ["up", "up", "up", "degraded", "down"]


@pytest.fixture
def fleet():
    """1,000 models over 10 accounts: accounts 0–4 tagged env:prod, 5–9 env:staging; every
    7th model tagged team:search; every other one monitored; monitored ones have a latest
    status (up, degraded or down) and a few checks each for the first account."""
    accounts = []
    for a in range(ACCOUNTS):
        account = make_account(display_name=f"Account {a:02d}")
        tags.set_tags(account, ["env:prod" if a < 5 else "env:staging"])
        accounts.append(account)
    LLMModel.objects.bulk_create(
        LLMModel(
            provider_account=account,
            model_id=f"{'gpt' if i % 3 == 0 else 'llama'}-{a:02d}-{i:03d}",
            enabled_for_monitoring=i % 2 == 0,
            enabled_for_benchmark=True,
        )
        for a, account in enumerate(accounts)
        for i in range(PER_ACCOUNT)
    )
    models = list(LLMModel.objects.order_by("model_id"))
    search = Tag.objects.get_or_create(name="team:search")[0]
    LLMModel.tags.through.objects.bulk_create(
        LLMModel.tags.through(llmmodel_id=m.pk, tag_id=search.pk) for m in models[::7]
    )
    now = timezone.now()
    monitored = [m for m in models if m.enabled_for_monitoring]
    ModelStatus.objects.bulk_create(
        ModelStatus(model=m, status=STATES[i % len(STATES)], checked_at=now, ttft_ms=42.0)
        for i, m in enumerate(monitored)
    )
    first = [m for m in monitored if m.provider_account_id == accounts[0].pk]
    UptimeCheck.objects.bulk_create(
        UptimeCheck(
            model=m,
            status=STATES[(i + k) % len(STATES)],
            created_at=now - timedelta(minutes=k),
            **MEASURED,
        )
        for i, m in enumerate(first)
        for k in range(3)
    )
    return accounts


def viewport_shot(page, name: str) -> None:
    """What is on screen (an open confirmation in context), not the whole page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def walk_filter_form(page, form: str) -> None:
    """Tab reaches every control of the filter form, in order, each with its focus shown."""
    expected, reached = a11y.tab_order(page, form)
    assert reached == expected


def check_basics(page, shot, name: str, root: str = "main") -> None:
    """The a11y basics in both themes (the toggle in the sidebar), with screenshots."""
    for theme in ("dark", "light"):
        set_theme(page, theme)
        assert a11y.problems(page, root) == {}, theme
    shoot_both_themes(page, shot, name)


def toggle_theme(page) -> None:
    before = page.evaluate("document.documentElement.dataset.theme")
    page.get_by_role("button", name="Toggle theme").click()
    after = page.evaluate("document.documentElement.dataset.theme")
    assert {before, after} == {"dark", "light"}


# --- Models -------------------------------------------------------------------------------------


def test_the_models_page_at_a_thousand_models(page, live_server, fleet, shot):
    base = live_server.url
    log_in(page, base)
    started = time.monotonic()
    page.goto(f"{base}/models")
    count = page.get_by_test_id("match-count")
    expect(count).to_contain_text("1000 models")

    # Filter: an account, monitoring off, a tag (htmx swaps the table and pushes the URL).
    page.get_by_label("Provider account", exact=True).select_option(label="Account 03")
    expect(count).to_contain_text("100 models match")
    page.get_by_label("Monitoring", exact=True).select_option("no")
    expect(count).to_contain_text("50 models match")
    tag = page.get_by_role("combobox", name="Tags")
    tag.fill("team:search")
    tag.press("Enter")
    expect(count).to_contain_text("models match")
    account = ProviderAccount.objects.get(display_name="Account 03")
    expected = LLMModel.objects.filter(
        provider_account=account, enabled_for_monitoring=False, tags__name="team:search"
    ).count()
    expect(count).to_have_text(re.compile(rf"^{expected} models? match"))
    assert f"account={account.pk}" in page.url and "tag=team%3Asearch" in page.url

    # Back to a wider filter with more than one page; page 2 keeps the filters.
    tag.fill("")
    tag.press("Enter")
    expect(count).to_contain_text("50 models match")
    page.get_by_role("link", name="Next ›").click()
    expect(page.get_by_test_id("page-range")).to_contain_text("26–50 of 50")
    assert "page=2" in page.url and "monitored=no" in page.url

    # Bulk action through its confirmation: monitor all 50 matching.
    page.get_by_test_id("bulk-monitor").click()
    confirm = page.get_by_test_id("bulk-confirm-monitor")
    expect(page.get_by_text("Monitor all 50 matching models?")).to_be_visible()
    viewport_shot(page, "scale-models-confirm")
    confirm.click()
    expect(page.locator(".messages")).to_contain_text(
        "Started monitoring 50 of 50 matching models."
    )
    assert account.models.filter(enabled_for_monitoring=False).count() == 0
    # Back with the same filters: nothing matches "monitoring off" any more.
    expect(count).to_contain_text("0 models match")
    assert "monitored=no" in page.url

    page.goto(f"{base}/models?tag=env:prod&monitored=yes")
    expect(count).to_contain_text("models match")
    toggle_theme(page)
    walk_filter_form(page, "form[role=search]")
    check_basics(page, shot, "scale-models")
    assert time.monotonic() - started < 60
    assert page.errors == []


# --- Monitoring ---------------------------------------------------------------------------------


def test_the_monitoring_page_at_a_thousand_models(page, live_server, fleet, shot):
    base = live_server.url
    log_in(page, base)
    page.goto(f"{base}/monitoring")
    count = page.get_by_test_id("match-count")
    expect(count).to_contain_text("1000 models in all")
    expect(page.get_by_test_id("monitor-model")).to_have_count(50)

    # Filter by the latest check's state and a tag: the models list and the checks follow.
    page.get_by_label("Latest check", exact=True).select_option("down")
    expect(count).to_contain_text("100 match the filters")
    tag = page.get_by_role("combobox", name="Tags")
    tag.fill("env:prod")
    tag.press("Enter")
    expect(count).to_contain_text("50 match the filters")
    assert "state=down" in page.url and "tag=env%3Aprod" in page.url
    expect(page.get_by_test_id("checks-follow-filter")).to_be_visible()
    for row in page.get_by_test_id("check-row").all():
        expect(row).to_contain_text("Account 00")  # the only account with checks

    # Down models of any account: two pages; page 2 keeps the filters.
    tag.fill("")
    tag.press("Enter")
    expect(count).to_contain_text("100 match the filters")
    page.get_by_role("link", name="Next ›").click()
    expect(page.locator("#monitoring-models [data-testid=page-range]")).to_contain_text(
        "51–100 of 100"
    )
    assert "page=2" in page.url and "state=down" in page.url

    # Stop monitoring all 100 down models through the confirmation.
    page.get_by_test_id("bulk-unmonitor").click()
    expect(page.get_by_text("Stop monitoring all 100 matching models?")).to_be_visible()
    viewport_shot(page, "scale-monitoring-confirm")
    page.get_by_test_id("bulk-confirm-unmonitor").click()
    expect(page.locator(".messages")).to_contain_text(
        "Stopped monitoring 100 of 100 matching models."
    )
    assert not LLMModel.objects.filter(status__status="down", enabled_for_monitoring=True).exists()
    assert "state=down" in page.url

    toggle_theme(page)
    walk_filter_form(page, "form[aria-label='Filter models and checks']")
    check_basics(page, shot, "scale-monitoring")
    assert page.errors == []


# --- Alerts -------------------------------------------------------------------------------------


def test_the_alerts_page_at_a_thousand_models(page, live_server, fleet, shot):
    rule = AlertRule.objects.create(name="Any model down", rule_type="any_model_down")
    down = list(LLMModel.objects.filter(status__status="down").order_by("model_id")[:60])
    Alert.objects.bulk_create(
        Alert(rule=rule, model=m, message=f"Model {m.model_id} is down: HTTP 500") for m in down
    )
    base = live_server.url
    log_in(page, base, role="operator")
    page.goto(f"{base}/alerts#history")
    unread = page.get_by_test_id("unread-count")
    expect(unread).to_contain_text("60 unacknowledged alerts")

    # Filter by a tag of the models' accounts, then search.
    tag = page.get_by_role("combobox", name="Tags")
    tag.fill("env:prod")
    tag.press("Enter")
    prod = sum(1 for m in down if m.provider_account.display_name < "Account 05")
    expect(unread).to_contain_text(f"{prod} unacknowledged alerts match the filters")
    assert "tag=env%3Aprod" in page.url
    page.get_by_label("Search", exact=True).fill("gpt")
    expect(page.get_by_test_id("alert-row").first).to_contain_text("gpt")
    page.get_by_label("Search", exact=True).fill("")
    expect(unread).to_contain_text(f"{prod} unacknowledged alerts match")

    # Page 2 of the prod alerts keeps the tag.
    page.get_by_role("link", name="Older ›").click()
    expect(page.get_by_test_id("page-range")).to_contain_text(f"26–{min(prod, 50)} of {prod}")
    assert "page=2" in page.url and "tag=env%3Aprod" in page.url

    # Acknowledge all matching through the confirmation.
    page.get_by_test_id("bulk-acknowledge").click()
    expect(
        page.get_by_text(f"Acknowledge all {prod} matching unacknowledged alerts?")
    ).to_be_visible()
    viewport_shot(page, "scale-alerts-confirm")
    page.evaluate("window.__sameDocument = true")
    page.get_by_test_id("bulk-confirm-acknowledge").click()
    # htmx: the history and the bell re-render themselves, no reload.
    expect(unread).to_contain_text("No unacknowledged alerts match the filters")
    expect(page.get_by_test_id("bell-badge")).to_have_text(str(60 - prod))
    assert page.evaluate("window.__sameDocument") is True
    assert Alert.objects.filter(acknowledged=False).count() == 60 - prod
    assert "tag=env%3Aprod" in page.url

    toggle_theme(page)
    walk_filter_form(page, "form[aria-label='Filter the alert history']")
    check_basics(page, shot, "scale-alerts")
    assert page.errors == []


# --- Benchmarks ---------------------------------------------------------------------------------


def test_the_benchmarks_page_at_a_thousand_models(page, live_server, fleet, shot):
    models = [str(pk) for pk in LLMModel.objects.values_list("pk", flat=True)[:2]]
    now = timezone.now()
    BenchmarkRun.objects.bulk_create(
        BenchmarkRun(
            name=f"{'Nightly' if i % 2 else 'Ad hoc'} {i:02d}",
            status=BenchmarkRun.Status.FAILED if i % 5 == 0 else BenchmarkRun.Status.COMPLETED,
            model_ids=models,
            prompt_pack="health_check",
            completed_at=now,
        )
        for i in range(60)
    )
    base = live_server.url
    log_in(page, base, role="operator")
    response = page.goto(f"{base}/benchmarks")
    # The start form offers all 1,000 models and the page stays light.
    assert len(response.body()) < 400_000
    expect(page.locator("input[name=model_ids]")).to_have_count(1000)

    # The picker's search stays quick at 1,000 models.
    search = page.locator("[data-model-search]")
    started = time.monotonic()
    search.fill("gpt-03-0")
    expect(page.locator("[data-picker-item]:visible")).to_have_count(34)
    assert time.monotonic() - started < 2
    page.get_by_role("button", name="Select all of Account 03").click()
    expect(page.locator("[data-selected-count]")).to_have_text("34 selected")
    search.fill("")
    expect(page.locator("[data-picker-item]:visible")).to_have_count(1000)

    # History: filter by name and status, page 2 keeps them.
    count = page.get_by_test_id("match-count")
    expect(count).to_contain_text("60 runs")
    page.get_by_label("Search", exact=True).fill("nightly")
    expect(count).to_contain_text("30 runs match the filters")
    page.get_by_label("Status", exact=True).select_option("completed")
    expect(count).to_contain_text("24 runs match the filters")
    assert "q=nightly" in page.url and "status=completed" in page.url
    page.get_by_role("link", name="Older ›").click()
    expect(page.locator("#benchmarks-history [data-testid=page-range]")).to_contain_text(
        "21–24 of 24"
    )
    assert "page=2" in page.url and "status=completed" in page.url

    # Delete all 24 matching runs through the confirmation.
    page.get_by_test_id("bulk-delete").click()
    expect(page.get_by_text("Delete all 24 matching finished runs")).to_be_visible()
    viewport_shot(page, "scale-benchmarks-confirm")
    page.get_by_test_id("bulk-confirm-delete").click()
    expect(page.locator(".messages")).to_contain_text("Deleted 24 runs and their results.")
    assert BenchmarkRun.objects.count() == 36
    assert "q=nightly" in page.url and "status=completed" in page.url

    toggle_theme(page)
    walk_filter_form(page, "form[aria-label='Filter the benchmark history']")
    check_basics(page, shot, "scale-benchmarks")
    assert page.errors == []
