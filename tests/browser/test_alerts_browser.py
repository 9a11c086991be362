"""Create a rule on the Alerts page in a real browser, then follow its alert in the sidebar bell
(htmx polling and alerts.js: the dropdown, acknowledging without a page reload)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alerts.models import Alert, AlertRule, DeliveryAttempt, Incident, Notification
from tests.browser.helpers import log_in, shoot_both_themes
from tests.factories import make_account, make_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_history(rule: AlertRule, model) -> None:
    """Incidents, alerts and deliveries, so that every section of the page has rows."""
    now = timezone.now()
    perf = AlertRule.objects.create(
        name="Slow first token",
        rule_type="performance_degradation",
        threshold_config={"metric": "ttft", "comparison": "absolute", "threshold": 800},
        consecutive_failures=3,
        notify_webhook=True,
        webhook_url="https://hooks.slack.com/services/T1/B2/secret-token-abcdefghijkl",
        webhook_format="slack",
    )
    Incident.objects.create(
        rule=rule,
        model=model,
        subject=str(model.pk),
        summary="Model fast-small is down: connection refused",
        opened_at=now - timedelta(minutes=42),
    )
    Incident.objects.create(
        rule=perf,
        model=model,
        subject=str(model.pk),
        summary="fast-small: TTFT 1250 ms over 5 checks is past 800 ms",
        opened_at=now - timedelta(hours=6),
        resolved_at=now - timedelta(hours=5, minutes=20),
    )
    fired = Alert.objects.create(
        rule=perf, model=model, message="fast-small: TTFT 1250 ms over 5 checks is past 800 ms"
    )
    Alert.objects.create(
        rule=perf,
        model=model,
        kind=Alert.Kind.RECOVERED,
        message="Recovered after 40 min: fast-small: TTFT back to 420 ms (limit 800 ms)",
    )
    slack = Notification.objects.create(
        alert=fired,
        channel="slack",
        target=perf.webhook_url,
        status="failed",
        attempts=2,
        next_attempt_at=now,
        last_error="HTTP 404: no_service (permanent)",
    )
    DeliveryAttempt.objects.create(
        notification=slack, number=1, ok=False, status_code=503, error="HTTP 503", duration_ms=212
    )
    DeliveryAttempt.objects.create(
        notification=slack, number=2, ok=False, status_code=404, error="HTTP 404: no_service"
    )
    email = Notification.objects.create(
        alert=fired,
        channel="email",
        target="ops@example.com",
        status="sent",
        attempts=1,
        next_attempt_at=now,
        sent_at=now,
    )
    DeliveryAttempt.objects.create(notification=email, number=1, ok=True, duration_ms=35)


def test_creating_a_rule_and_acknowledging_its_alert_from_the_bell(page, live_server, shot):
    base = live_server.url
    model = make_model(make_account(display_name="Simulator"), model_id="fast-small")
    log_in(page, base, username="dave")

    page.goto(f"{base}/alerts")
    expect(page.get_by_text("No rules yet")).to_be_visible()
    form = page.locator("#new-rule form")

    # The form shows the fields of the chosen rule type, comparison and channels (alerts.js).
    perf = form.locator('fieldset[data-show-if="rule_type=performance_degradation"]')
    expect(perf).to_be_hidden()
    form.locator("select[name=rule_type]").select_option("performance_degradation")
    expect(perf).to_be_visible()
    expect(form.locator("input[name=threshold]")).to_be_visible()
    expect(form.locator("input[name=factor]")).to_be_hidden()
    form.locator("select[name=comparison]").select_option("baseline")
    expect(form.locator("input[name=threshold]")).to_be_hidden()
    expect(form.locator("input[name=factor]")).to_be_visible()
    expect(form.locator("input[name=webhook_url]")).to_be_hidden()
    form.locator("input[name=notify_webhook]").check()
    expect(form.locator("input[name=webhook_url]")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "alerts-form-performance")
    form.locator("input[name=notify_webhook]").uncheck()
    form.locator("select[name=rule_type]").select_option("any_model_down")
    expect(perf).to_be_hidden()
    expect(form.locator(".type-help:visible")).to_contain_text("other than rate limiting")

    # Bad input is explained next to its field, and nothing is stored.
    form.get_by_role("button", name="Create rule").click()
    expect(page.locator("#new-rule .field-error")).to_contain_text("may not be blank")
    expect(page.locator("#new-rule [data-testid=form-error]")).to_be_visible()
    assert not AlertRule.objects.exists()
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "alerts-bad-input")

    page.locator("#new-rule input[name=name]").fill("Anything down")
    page.locator("#new-rule").get_by_role("button", name="Create rule").click()
    expect(page.locator(".messages")).to_contain_text("Created rule “Anything down”.")
    rule = AlertRule.objects.get()
    assert (rule.rule_type, rule.enabled, rule.notify_in_app) == ("any_model_down", True, True)
    row = page.locator(f"#rule-{rule.pk}")
    expect(row).to_contain_text("All monitored models")

    Alert.objects.create(
        rule=rule, model=model, message="Model fast-small is down: connection refused"
    )

    page.goto(f"{base}/dashboard")
    badge = page.get_by_test_id("bell-badge")
    expect(badge).to_have_text("1")
    button = page.get_by_test_id("bell-button")
    expect(button).to_have_attribute("aria-label", "Alerts: 1 unacknowledged")
    # Marks this document: a full reload would lose it.
    page.evaluate("window.__sameDocument = true")

    panel = page.locator(".bell-panel")
    expect(panel).to_be_hidden()
    button.click()
    expect(panel).to_be_visible()
    item = page.get_by_test_id("bell-item")
    expect(item).to_contain_text("Model fast-small is down: connection refused")
    expect(item).to_contain_text("fast-small")
    expect(item).to_contain_text("just now")
    shoot_both_themes(page, shot, "alerts-bell-open")

    # Escape and a click outside close it.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    button.click()
    expect(panel).to_be_visible()
    page.locator("main h1").click()
    expect(panel).to_be_hidden()

    button.click()
    page.get_by_test_id("bell-ack").click()
    expect(badge).to_have_count(0)
    expect(item).to_have_class(re.compile(r"\bis-acked\b"))
    expect(panel).to_be_visible()  # re-rendered in place, still open
    expect(button).to_have_attribute("aria-label", "Alerts: none unacknowledged")
    assert page.evaluate("window.__sameDocument") is True
    assert Alert.objects.get().acknowledged
    assert page.errors == []


def test_the_alerts_page_with_history_in_both_themes(page, live_server, shot):
    base = live_server.url
    model = make_model(make_account(display_name="Simulator"), model_id="fast-small")
    rule = AlertRule.objects.create(name="Anything down", rule_type="any_model_down")
    add_history(rule, model)
    Alert.objects.create(rule=rule, model=model, message="Model fast-small is down: timeout")
    log_in(page, base, username="dave")

    page.goto(f"{base}/alerts")
    expect(page.get_by_test_id("bell-badge")).to_have_text("3")
    expect(page.get_by_test_id("rule-row")).to_have_count(2)
    expect(page.get_by_test_id("alert-row")).to_have_count(3)
    # Delivery targets show only the host: the Slack URL's path is its secret.
    slack = page.get_by_test_id("delivery").filter(has_text="Slack")
    expect(slack.get_by_test_id("delivery-target")).to_have_text("https://hooks.slack.com")
    assert "secret-token" not in page.content()
    # A delivery expands to its attempts.
    slack.locator("summary").click()
    expect(slack.locator(".attempts-table tbody tr")).to_have_count(2)
    shoot_both_themes(page, shot, "alerts-page")

    # Acknowledging in the history updates the table and the bell, without a reload.
    page.evaluate("window.__sameDocument = true")
    page.get_by_test_id("bulk-acknowledge").click()
    expect(page.get_by_text("Acknowledge all 3 matching unacknowledged alerts?")).to_be_visible()
    page.get_by_test_id("bulk-confirm-acknowledge").click()
    expect(page.get_by_test_id("unread-count")).to_have_text("No unacknowledged alerts")
    expect(page.get_by_test_id("bell-badge")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True

    # The filters re-render the history in place.
    page.locator("select[name=rule]").select_option(label="Anything down")
    expect(page.get_by_test_id("alert-row")).to_have_count(1)
    assert f"rule={rule.pk}" in page.url

    # The edit page explains the signing; rotating shows the new secret once.
    page.locator(f"#rule-{rule.pk}").get_by_role("link", name="Edit").click()
    expect(page.get_by_test_id("webhook-secret")).to_have_count(0)
    page.get_by_test_id("rotate-secret").click()
    rule.refresh_from_db()
    expect(page.get_by_test_id("webhook-secret")).to_have_text(rule.webhook_secret)
    expect(page.locator(".signing")).to_contain_text("X-ArgusLM-Signature: sha256=HMAC(secret")
    shoot_both_themes(page, shot, "alerts-rule-edit")
    assert page.errors == []
