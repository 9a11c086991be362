"""The SLOs page in a real browser: add an SLO through the form, read its budget and burn."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from monitoring.models import Slo
from tests.browser.helpers import log_in, shoot_both_themes
from tests.factories import make_account, make_model, store_checks, uptime_check

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_adds_an_slo_and_sees_its_budget_burn(live_server, page, shot):
    account = make_account(display_name="OpenAI prod")
    chat = make_model(account, model_id="gpt-4o")
    mini = make_model(account, model_id="gpt-4o-mini")
    # 30 days of 10-minute checks, now and then slow; the last hour every minute, with gpt-4o
    # failing for the last 6 minutes.
    checks = [
        uptime_check(model, ago=timedelta(minutes=m), ttft_ms=1800.0 if m % 2000 == 0 else 420.0)
        for model in (chat, mini)
        for m in range(60, 30 * 24 * 60, 10)
    ]
    checks += [uptime_check(chat, ago=timedelta(minutes=m)) for m in range(7, 60)]
    checks += [uptime_check(chat, status="down", ago=timedelta(minutes=m)) for m in range(1, 7)]
    store_checks(checks)
    Slo.objects.create(name="OpenAI prod availability", account=account, availability_target=99.9)

    log_in(page, live_server.url, role="operator")
    page.goto(f"{live_server.url}/slos")
    page.fill("input[name=name]", "Chat API")
    page.select_option("select[name=target]", f"model:{chat.pk}")
    page.fill("input[name=availability_target]", "99.5")
    page.select_option("select[name=latency_metric]", "ttft")
    page.fill("input[name=latency_threshold_ms]", "1500")
    page.fill("input[name=latency_target]", "95")
    page.get_by_role("button", name="Add SLO").click()

    expect(page.get_by_text("SLO “Chat API” added.")).to_be_visible()
    expect(page.get_by_test_id("slo")).to_have_count(2)
    chat_card = page.get_by_test_id("slo").filter(has_text="Chat API")
    expect(chat_card.get_by_test_id("slo-state")).to_have_text("Fast burn")
    expect(chat_card).to_contain_text("TTFT ≤ 1,500 ms for 95 % of checks")
    shoot_both_themes(page, shot, "slos")
    assert page.errors == []
