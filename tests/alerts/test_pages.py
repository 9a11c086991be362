"""The Alerts page and the sidebar bell: every view anonymous and logged in, each form's success
and bad input, acknowledging, sending a test and deleting a rule."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import (
    Alert,
    AlertEvent,
    AlertRule,
    DeliveryAttempt,
    Notification,
)
from providers import tags
from tests.factories import make_account, make_alert, make_incident, make_model, make_rule

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
SLACK_URL = "https://hooks.slack.com/services/T000/B000/very-secret-token-123"


def rule_form(**overrides) -> dict:
    """The New rule form as a browser posts it (unchecked boxes are absent)."""
    form = {
        "name": "Anything down",
        "rule_type": "any_model_down",
        "target_model_id": "",
        "target_model_name": "",
        "metric": "latency",
        "comparison": "absolute",
        "threshold": "",
        "factor": "1.5",
        "window_minutes": "15",
        "baseline_hours": "24",
        "min_samples": "3",
        "perf_target_model_id": "",
        "consecutive_failures": "1",
        "consecutive_recoveries": "1",
        "notify_in_app": "on",
        "email_to": "",
        "webhook_url": "",
        "webhook_format": "generic",
        "enabled": "on",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


@pytest.fixture
def model():
    return make_model(make_account(display_name="Sim"), model_id="m-1")


# --- anonymous ----------------------------------------------------------------------------------

GETS = ["/alerts", "/alerts/bell", "/alerts/rules/{r}"]
POSTS = [
    "/alerts/rules/new",
    "/alerts/rules/{r}",
    "/alerts/rules/{r}/toggle",
    "/alerts/rules/{r}/test",
    "/alerts/rules/{r}/delete",
    "/alerts/{a}/acknowledge",
    "/alerts/acknowledge-all",
]


def test_every_view_sends_anonymous_visitors_to_the_login_page(client):
    rule = make_rule()
    alert = make_alert(rule)
    for url in GETS + POSTS:
        url = url.format(r=rule.pk, a=alert.pk)
        response = client.post(url) if url in POSTS else client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login?next="), url
    assert AlertRule.objects.get().enabled
    assert not Alert.objects.get().acknowledged


def test_an_htmx_request_after_the_session_expired_sends_the_page_to_login(client):
    # Otherwise the login page would be swapped into the bell by its next poll.
    response = client.get("/alerts/bell", HTTP_HX_CURRENT_URL="http://testserver/alerts", **HTMX)
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login?next=%2Falerts"


# --- the bell -----------------------------------------------------------------------------------


def test_the_bell_is_in_the_sidebar_of_every_page_and_loads_its_contents(logged_in):
    html = logged_in.get("/dashboard").content.decode()
    assert 'id="bell-menu"' in html
    assert 'hx-get="/alerts/bell"' in html
    assert "every 30s" in html
    assert "js/alerts.js" in html
    assert '<a href="/alerts"' in html  # the sidebar lists the Alerts page


def test_the_bell_shows_the_unread_count_and_the_newest_ten_alerts(logged_in, model):
    rule = make_rule()
    for n in range(12):
        make_alert(rule, message=f"alert {n}", model=model, ago=timedelta(minutes=60 - n))
    make_alert(rule, message="old and read", acknowledged=True, ago=timedelta(days=3))
    make_alert(rule, message="fresh", kind=Alert.Kind.RECOVERED, ago=timedelta(minutes=5))
    html = logged_in.get("/alerts/bell").content.decode()
    assert 'data-testid="bell-badge" aria-hidden="true">13</span>' in html
    assert 'aria-label="Alerts: 13 unacknowledged"' in html
    assert html.count('data-testid="bell-item"') == 10
    assert "fresh" in html and "alert 11" in html and "old and read" not in html
    assert "5m ago" in html
    assert "kind-recovered" in html and "Recovered" in html
    assert "m-1" in html  # the model's name
    assert html.count('data-testid="bell-ack"') == 10
    assert "Acknowledge all" in html
    assert 'href="/alerts"' in html


def test_the_bell_dims_acknowledged_alerts_and_offers_no_button_for_them(logged_in):
    make_alert(make_rule(), message="seen it", acknowledged=True)
    html = logged_in.get("/alerts/bell").content.decode()
    assert 'class="bell-item is-acked"' in html
    assert "bell-ack" not in html
    assert "bell-badge" not in html  # hidden at 0
    assert 'aria-label="Alerts: none unacknowledged"' in html
    assert "Acknowledge all" not in html


def test_the_bell_says_no_alerts_when_there_are_none(logged_in):
    html = logged_in.get("/alerts/bell").content.decode()
    assert "No alerts" in html
    assert "bell-badge" not in html


def test_the_badge_caps_at_99_plus(logged_in):
    rule = make_rule()
    Alert.objects.bulk_create(Alert(rule=rule, message=f"a{n}") for n in range(100))
    html = logged_in.get("/alerts/bell").content.decode()
    assert ">99+</span>" in html
    assert 'aria-label="Alerts: 100 unacknowledged"' in html


def test_the_bell_costs_two_queries_besides_the_session(
    logged_in, model, django_assert_num_queries
):
    rule = make_rule()
    for n in range(5):
        make_alert(rule, model=model, message=f"a{n}")
    logged_in.get("/alerts/bell")  # warm up the session
    # session + user, the user's permissions (its own and its groups': the bell shows
    # "acknowledge" to those who may), then the count and the list
    with django_assert_num_queries(6):
        logged_in.get("/alerts/bell")


def test_with_the_context_processor_the_bell_renders_with_the_page(logged_in, settings):
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {
                **settings.TEMPLATES[0]["OPTIONS"],
                "context_processors": [
                    *settings.TEMPLATES[0]["OPTIONS"]["context_processors"],
                    "alerts.views.bell_context",
                ],
            },
        }
    ]
    make_alert(make_rule(), message="inline")
    html = logged_in.get("/dashboard").content.decode()
    assert ">1</span>" in html and "inline" in html
    assert 'hx-trigger="every 30s' in html  # no extra request on load


# --- acknowledging ------------------------------------------------------------------------------


def test_acknowledging_from_the_bell_tells_the_live_parts_to_re_render(logged_in, model):
    rule = make_rule()
    incident = make_incident(rule, model=model)
    alert = make_alert(rule, incident=incident)
    other = make_alert(rule, message="other")
    response = logged_in.post(f"/alerts/{alert.pk}/acknowledge", **HTMX)
    assert response.status_code == 204
    assert response["HX-Trigger"] == "alertsChanged"
    alert.refresh_from_db()
    assert alert.acknowledged and alert.acknowledged_at is not None
    assert not Alert.objects.get(pk=other.pk).acknowledged
    event = AlertEvent.objects.get()
    assert (event.incident, event.event, event.detail) == (incident, "acknowledged", "by alice")
    # Twice is harmless, and is not logged twice.
    assert logged_in.post(f"/alerts/{alert.pk}/acknowledge", **HTMX).status_code == 204
    assert AlertEvent.objects.count() == 1
    html = logged_in.get("/alerts/bell").content.decode()
    assert ">1</span>" in html


def test_acknowledging_without_javascript_goes_back_with_a_message(logged_in):
    alert = make_alert(make_rule())
    response = logged_in.post(
        f"/alerts/{alert.pk}/acknowledge", HTTP_REFERER="http://testserver/alerts?since=1h"
    )
    assert response.status_code == 302
    assert response["Location"] == "http://testserver/alerts?since=1h"
    assert Alert.objects.get().acknowledged
    page = logged_in.get("/alerts").content.decode()
    assert "Alert acknowledged." in page


def test_acknowledging_an_unknown_alert_is_a_404(logged_in):
    url = "/alerts/00000000-0000-0000-0000-000000000000/acknowledge"
    assert logged_in.post(url).status_code == 404


def test_acknowledge_all(logged_in):
    rule = make_rule()
    for n in range(3):
        make_alert(rule, message=f"a{n}")
    make_alert(rule, message="done", acknowledged=True)
    response = logged_in.post("/alerts/acknowledge-all", **HTMX)
    assert response.status_code == 204
    assert response["HX-Trigger"] == "alertsChanged"
    assert not Alert.objects.filter(acknowledged=False).exists()
    make_alert(rule, message="new one")
    response = logged_in.post("/alerts/acknowledge-all", follow=True)
    assert "Acknowledged 1 alert." in response.content.decode()


def test_acknowledge_all_matching_acknowledges_only_the_filtered_alerts(logged_in):
    rule = make_rule()
    prod = make_model(make_account(display_name="Prod"), model_id="gpt-prod")
    tags.set_tags(prod.provider_account, ["env:prod"])
    lab = make_model(make_account(display_name="Lab"), model_id="gpt-lab")
    for n in range(3):
        make_alert(rule, model=prod, message=f"prod down {n}")
    make_alert(rule, model=lab, message="lab down")
    body = logged_in.get("/alerts?tag=env:prod").content.decode()
    assert "3 unacknowledged alerts match the filters" in body
    assert "Acknowledge all 3 matching unacknowledged alerts?" in body
    response = logged_in.post(
        "/alerts/acknowledge-all", {"tag": "env:prod", "count": "3"}, follow=True
    )
    assert "Acknowledged 3 alerts." in response.content.decode()
    assert response.redirect_chain[-1][0] == "/alerts?tag=env%3Aprod#history"
    assert list(Alert.objects.filter(acknowledged=False).values_list("message", flat=True)) == [
        "lab down"
    ]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"q": "lab", "count": "5"}, "1 unacknowledged alerts match now, not 5 as confirmed"),
        ({"tag": "Bad!"}, "Nothing acknowledged"),
    ],
)
def test_acknowledge_all_matching_with_a_stale_count_or_bad_filter_changes_nothing(
    logged_in, fields, says
):
    make_alert(make_rule(), model=make_model(make_account(), model_id="lab"), message="x")
    response = logged_in.post("/alerts/acknowledge-all", fields, follow=True)
    assert says in response.content.decode()
    assert not Alert.objects.filter(acknowledged=True).exists()


def test_the_history_searches_messages_and_models_and_filters_by_tag(logged_in):
    rule = make_rule()
    tagged = make_model(make_account(), model_id="claude-x", custom_name="Claude")
    tags.set_tags(tagged, ["team:search"])
    make_alert(rule, model=tagged, message="first down")
    make_alert(rule, message="gpt timeout")

    def shown(query: str) -> set[str]:
        text = logged_in.get(
            f"/alerts?{query}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="alert-history"
        ).content.decode()
        return {m for m in ("first down", "gpt timeout") if m in text}

    assert shown("q=TIMEOUT") == {"gpt timeout"}
    assert shown("q=claude") == {"first down"}  # the model's name
    assert shown("tag=team:search") == {"first down"}
    assert shown("tag=team:other") == set()
    assert shown("q=%00&tag=Bad!&rule=x&since=1y") == {"first down", "gpt timeout"}


def test_the_history_keeps_its_filters_in_page_links(logged_in):
    rule = make_rule()
    Alert.objects.bulk_create(Alert(rule=rule, message=f"down {n}") for n in range(30))
    html = logged_in.get(f"/alerts?q=down&rule={rule.pk}&acknowledged=no").content.decode()
    assert f'href="/alerts?q=down&amp;rule={rule.pk}&amp;acknowledged=no&amp;page=2#history"' in (
        html
    )
    assert f'<input type="hidden" name="rule" value="{rule.pk}">' in html


def test_acknowledging_needs_a_post(logged_in):
    alert = make_alert(make_rule())
    assert logged_in.get(f"/alerts/{alert.pk}/acknowledge").status_code == 405
    assert logged_in.get("/alerts/acknowledge-all").status_code == 405


# --- the page -----------------------------------------------------------------------------------


def test_the_empty_page_explains_each_section(logged_in):
    response = logged_in.get("/alerts")
    assert response.status_code == 200
    html = response.content.decode()
    assert "No rules yet" in html
    assert "No open incidents" in html
    assert "No alerts yet." in html
    assert "Nothing sent yet." in html
    # Each rule type is explained.
    assert "errors other than rate" in html or "error other than rate" in html
    assert "metrics.md statuses" in html
    assert "across all provider accounts" in html
    assert "median" in html


def test_the_page_lists_rules_with_their_target_channels_and_settings(logged_in, model):
    make_rule(
        name="Watch m-1",
        rule_type="specific_model_down",
        target_model=model,
        consecutive_failures=3,
        consecutive_recoveries=2,
        notify_email=True,
        email_to="ops@example.com",
        notify_webhook=True,
        webhook_url=SLACK_URL,
        webhook_format="slack",
    )
    make_rule(
        name="Slow",
        rule_type="performance_degradation",
        enabled=False,
        threshold_config={"metric": "ttft", "comparison": "absolute", "threshold": 800},
    )
    make_rule(name="GPT", rule_type="model_unavailable_everywhere", target_model_name="gpt-4o")
    html = logged_in.get("/alerts").content.decode()
    assert "Watch m-1" in html and "Model down" in html
    assert "3 failing<br>2 healthy" in html
    assert (
        '<span class="chip">Email</span> <span class="muted small">ops@example.com</span>' in html
    )
    assert (
        '<span class="chip">Slack</span> <span class="muted small">https://hooks.slack.com</span>'
        in html
    )
    assert "very-secret-token" not in html
    assert "TTFT &gt; 800 ms over 15 min (any model)" in html
    assert 'class="rule-row is-disabled"' in html
    assert "Every model matching “gpt-4o”" in html


def test_the_page_lists_open_and_recently_resolved_incidents(logged_in, model):
    rule = make_rule(name="Down rule")
    now = timezone.now()
    make_incident(
        rule,
        model=model,
        summary="Model m-1 is down: timeout",
        opened_at=now - timedelta(minutes=90),
    )
    make_incident(
        make_rule(name="GPT", rule_type="model_unavailable_everywhere", target_model_name="gpt"),
        subject="*",
        summary="all gone",
        opened_at=now - timedelta(hours=5),
        resolved_at=now - timedelta(hours=3),
    )
    html = logged_in.get("/alerts").content.decode()
    assert "Model m-1 is down: timeout" in html
    assert "1\xa0hour, 30\xa0minutes" in html  # open for 90 min
    assert "Recently resolved" in html
    assert "All “gpt” deployments" in html
    assert "2\xa0hours" in html


def test_the_alert_history_filters_by_rule_acknowledgement_and_age(logged_in):
    a, b = make_rule(name="Rule A"), make_rule(name="Rule B")
    make_alert(a, message="a-new")
    make_alert(a, message="a-old-acked", acknowledged=True, ago=timedelta(hours=5))
    make_alert(b, message="b-week", ago=timedelta(days=3))
    make_alert(b, message="b-ancient", ago=timedelta(days=30))

    def shown(query: str) -> set[str]:
        html = logged_in.get(
            f"/alerts?{query}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="alert-history"
        )
        text = html.content.decode()
        return {m for m in ("a-new", "a-old-acked", "b-week", "b-ancient") if m in text}

    assert shown("") == {"a-new", "a-old-acked", "b-week", "b-ancient"}
    assert shown(f"rule={a.pk}") == {"a-new", "a-old-acked"}
    assert shown("acknowledged=yes") == {"a-old-acked"}
    assert shown("acknowledged=no") == {"a-new", "b-week", "b-ancient"}
    assert shown("since=1h") == {"a-new"}
    assert shown("since=24h") == {"a-new", "a-old-acked"}
    assert shown("since=7d") == {"a-new", "a-old-acked", "b-week"}
    # Junk values are ignored rather than failing.
    assert shown("rule=nope&acknowledged=maybe&since=1y") == shown("")
    assert (
        "No alert matches these filters"
        in logged_in.get(f"/alerts?rule={b.pk}&since=1h").content.decode()
    )


def test_the_alert_history_is_paged_by_25(logged_in):
    rule = make_rule()
    Alert.objects.bulk_create(Alert(rule=rule, message=f"alert-{n}") for n in range(30))
    html = logged_in.get("/alerts").content.decode()
    assert html.count('data-testid="alert-row"') == 25
    assert "1–25 of 30" in html
    assert 'href="/alerts?page=2#history"' in html
    partial = logged_in.get(
        "/alerts?page=2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="alert-history"
    ).content.decode()
    assert partial.startswith('<div id="alert-history"')
    assert partial.count('data-testid="alert-row"') == 5
    assert "26–30 of 30" in partial
    assert 'hx-get="/alerts?page=2"' in partial  # it refreshes the page it shows
    assert "<html" not in partial


def test_the_delivery_log_shows_webhook_targets_as_scheme_and_host_only(logged_in):
    rule = make_rule(notify_webhook=True, webhook_url=SLACK_URL, webhook_format="slack")
    alert = make_alert(rule, kind=Alert.Kind.TEST, message="Test notification")
    now = timezone.now()
    slack = Notification.objects.create(
        alert=alert,
        channel="slack",
        target=SLACK_URL + "?x=query-secret",
        status="failed",
        attempts=2,
        next_attempt_at=now,
        last_error="HTTP 404: no_service",
    )
    DeliveryAttempt.objects.create(
        notification=slack, number=1, ok=False, status_code=503, error="HTTP 503", duration_ms=41.7
    )
    DeliveryAttempt.objects.create(
        notification=slack, number=2, ok=False, status_code=404, error="HTTP 404: no_service"
    )
    Notification.objects.create(
        alert=alert, channel="email", target="ops@example.com", next_attempt_at=now
    )
    html = logged_in.get("/alerts").content.decode()
    assert ">https://hooks.slack.com</span>" in html
    assert "very-secret-token" not in html and "query-secret" not in html
    assert "ops@example.com" in html
    assert "HTTP 404: no_service" in html and "HTTP 503" in html
    assert "42 ms" in html
    assert "No attempt yet: the worker sends it within a minute." in html
    partial = logged_in.get("/alerts", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="delivery-log")
    assert partial.content.decode().startswith('<div id="delivery-log"')


def test_the_page_varies_on_the_htmx_headers(logged_in):
    response = logged_in.get("/alerts")
    assert "HX-Target" in response["Vary"]


# --- creating rules -----------------------------------------------------------------------------


def test_creating_an_any_model_down_rule(logged_in):
    response = logged_in.post("/alerts/rules/new", rule_form())
    rule = AlertRule.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/alerts#rule-{rule.pk}"
    assert (rule.name, rule.rule_type, rule.enabled, rule.notify_in_app) == (
        "Anything down",
        "any_model_down",
        True,
        True,
    )
    assert rule.target_model is None and rule.threshold_config is None
    assert "Created rule “Anything down”." in logged_in.get("/alerts").content.decode()


def test_creating_a_specific_model_down_rule(logged_in, model):
    logged_in.post(
        "/alerts/rules/new",
        rule_form(
            rule_type="specific_model_down",
            target_model_id=str(model.pk),
            target_model_name="ignored for this type",
            consecutive_failures="3",
            consecutive_recoveries="2",
            notify_in_app=None,
            enabled=None,
        ),
    )
    rule = AlertRule.objects.get()
    assert rule.target_model == model
    assert rule.target_model_name is None
    assert (rule.consecutive_failures, rule.consecutive_recoveries) == (3, 2)
    assert not rule.notify_in_app and not rule.enabled


def test_creating_a_model_unavailable_everywhere_rule(logged_in):
    logged_in.post(
        "/alerts/rules/new",
        rule_form(rule_type="model_unavailable_everywhere", target_model_name=" gpt-4o "),
    )
    rule = AlertRule.objects.get()
    assert rule.target_model_name == "gpt-4o"


def test_creating_a_performance_rule_with_a_baseline_and_a_model(logged_in, model):
    logged_in.post(
        "/alerts/rules/new",
        rule_form(
            rule_type="performance_degradation",
            metric="tps",
            comparison="baseline",
            factor="2",
            baseline_hours="12",
            window_minutes="30",
            min_samples="5",
            perf_target_model_id=str(model.pk),
        ),
    )
    rule = AlertRule.objects.get()
    assert rule.target_model == model  # the evaluator scopes the rule by its target model
    config = rule.threshold_config
    assert config["metric"] == "tps" and config["comparison"] == "baseline"
    assert (config["factor"], config["baseline_hours"]) == (2.0, 12)
    assert (config["window_minutes"], config["min_samples"]) == (30, 5)


def test_creating_an_absolute_performance_rule(logged_in):
    logged_in.post(
        "/alerts/rules/new",
        rule_form(
            rule_type="performance_degradation",
            metric="error_rate",
            threshold="0.2",
            factor="0.5",  # invalid, but it belongs to the baseline comparison: ignored
        ),
    )
    config = AlertRule.objects.get().threshold_config
    assert config["metric"] == "error_rate" and config["threshold"] == 0.2


def test_creating_a_rule_that_notifies_by_email_and_webhook(logged_in):
    logged_in.post(
        "/alerts/rules/new",
        rule_form(
            notify_email="on",
            email_to="ops@example.com,  oncall@example.com",
            notify_webhook="on",
            webhook_url="https://discord.com/api/webhooks/1/abc",
            webhook_format="discord",
        ),
    )
    rule = AlertRule.objects.get()
    assert rule.notify_email and rule.email_to == "ops@example.com, oncall@example.com"
    assert rule.notify_webhook and rule.webhook_format == "discord"
    assert rule.webhook_url == "https://discord.com/api/webhooks/1/abc"
    assert len(rule.webhook_secret) >= 24


BAD_INPUTS = [
    ({"name": "  "}, "name", "This field may not be blank."),
    ({"rule_type": "bogus"}, "rule_type", "is not a valid choice"),
    ({"rule_type": "specific_model_down"}, "target_model_id", "Choose the model to watch."),
    (
        {"rule_type": "specific_model_down", "target_model_id": "not-a-uuid"},
        "target_model_id",
        "Must be a valid UUID.",
    ),
    (
        {
            "rule_type": "specific_model_down",
            "target_model_id": "00000000-0000-0000-0000-000000000000",
        },
        "target_model_id",
        "does not exist",
    ),
    (
        {"rule_type": "model_unavailable_everywhere"},
        "target_model_name",
        "Enter a model name pattern",
    ),
    (
        {"rule_type": "performance_degradation"},
        "threshold",
        "Required for an absolute comparison.",
    ),
    (
        {"rule_type": "performance_degradation", "metric": "error_rate", "threshold": "5"},
        "threshold",
        "An error rate is a fraction from 0 to 1.",
    ),
    (
        {"rule_type": "performance_degradation", "threshold": "-1"},
        "threshold",
        "greater than or equal to 0",
    ),
    (
        {"rule_type": "performance_degradation", "comparison": "baseline", "factor": "1"},
        "factor",
        "greater than or equal to 1.01",
    ),
    (
        {"rule_type": "performance_degradation", "threshold": "100", "window_minutes": "0"},
        "window_minutes",
        "greater than or equal to 1",
    ),
    (
        {"rule_type": "performance_degradation", "threshold": "100", "min_samples": "x"},
        "min_samples",
        "A valid integer is required.",
    ),
    (
        {"rule_type": "performance_degradation", "metric": "speed", "threshold": "1"},
        "metric",
        "is not a valid choice",
    ),
    (
        {
            "rule_type": "performance_degradation",
            "threshold": "100",
            "perf_target_model_id": "00000000-0000-0000-0000-000000000000",
        },
        "perf_target_model_id",
        "does not exist",
    ),
    ({"consecutive_failures": "0"}, "consecutive_failures", "greater than or equal to 1"),
    ({"consecutive_recoveries": "101"}, "consecutive_recoveries", "less than or equal to 100"),
    ({"notify_email": "on", "email_to": "ops@, x"}, "email_to", "is not an email address"),
    ({"notify_webhook": "on"}, "webhook_url", "Enter the webhook URL"),
    ({"notify_webhook": "on", "webhook_url": "not a url"}, "webhook_url", "Enter a valid URL."),
    (
        {"notify_webhook": "on", "webhook_url": "https://x.example", "webhook_format": "teams"},
        "webhook_format",
        "is not a valid choice",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_INPUTS)
def test_bad_input_is_explained_next_to_its_field_and_nothing_is_saved(
    logged_in, overrides, field, message
):
    response = logged_in.post("/alerts/rules/new", rule_form(**overrides))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Not saved: fix the highlighted fields." in html
    assert not AlertRule.objects.exists()
    # The message sits right after the field's input (or select), which is flagged.
    start = html.index(f'name="{field}"')
    error = html.index('class="error field-error"', start)
    assert message in html[error : html.index("</p>", error)]
    assert "aria-invalid" in html[start : html.index(">", start)]
    # What was typed is kept.
    if overrides.get("name", "").strip():
        assert f'value="{overrides["name"]}"' in html


def test_a_rejected_rule_keeps_its_type_specific_fields_visible(logged_in):
    html = logged_in.post(
        "/alerts/rules/new", rule_form(rule_type="performance_degradation", name="Perf")
    ).content.decode()
    start = html.index('data-show-if="rule_type=performance_degradation"')
    assert "hidden" not in html[start : html.index(">", start)]
    start = html.index('data-show-if="rule_type=specific_model_down"')
    assert "hidden" in html[start : html.index(">", start)]


def test_creating_needs_a_post(logged_in):
    assert logged_in.get("/alerts/rules/new").status_code == 405


# --- editing rules ------------------------------------------------------------------------------


def test_the_edit_page_shows_the_rule_and_its_webhook_secret(logged_in, model):
    rule = make_rule(
        name="Slow m-1",
        rule_type="performance_degradation",
        target_model=model,
        threshold_config={"metric": "ttft", "comparison": "baseline", "factor": 2.5},
        notify_webhook=True,
        webhook_url="https://example.com/hook",
    )
    html = logged_in.get(f"/alerts/rules/{rule.pk}").content.decode()
    assert "Edit rule “Slow m-1”" in html
    assert rule.webhook_secret not in html and "A secret is set" in html
    signature = (
        'X-ArgusLM-Signature: sha256=HMAC(secret, "&lt;X-ArgusLM-Timestamp&gt;.&lt;body&gt;")'
    )
    assert signature in html
    assert 'value="2.5"' in html
    assert f'<option value="{model.pk}" selected>' in html
    # The stored URL is never echoed (a Slack or Discord URL is a credential): its host is.
    assert "example.com/hook" not in html and "set: https://example.com/… (empty keeps it)" in html


def test_rotating_the_secret_shows_the_new_one_once(logged_in):
    rule = make_rule(name="Signed", notify_webhook=True, webhook_url="https://example.com/hook")
    old = rule.webhook_secret
    response = logged_in.post(f"/alerts/rules/{rule.pk}/rotate-secret")
    rule.refresh_from_db()
    assert response.status_code == 200 and rule.webhook_secret != old
    assert rule.webhook_secret in response.content.decode()
    assert rule.webhook_secret not in logged_in.get(f"/alerts/rules/{rule.pk}").content.decode()


def test_an_empty_webhook_url_keeps_the_stored_one_and_turning_webhooks_off_forgets_it(
    logged_in,
):
    rule = make_rule(name="Hook", notify_webhook=True, webhook_url="https://example.com/hook")
    form = rule_form(name="Hook", rule_type="any_model_down", notify_webhook="on", webhook_url="")
    assert logged_in.post(f"/alerts/rules/{rule.pk}", form).status_code == 302
    rule.refresh_from_db()
    assert rule.webhook_url == "https://example.com/hook"
    form.pop("notify_webhook")
    assert logged_in.post(f"/alerts/rules/{rule.pk}", form).status_code == 302
    rule.refresh_from_db()
    assert not rule.notify_webhook and rule.webhook_url is None


def test_editing_a_rule(logged_in, model):
    rule = make_rule(name="Old", rule_type="specific_model_down", target_model=model)
    secret = rule.webhook_secret
    response = logged_in.post(
        f"/alerts/rules/{rule.pk}",
        rule_form(name="New name", rule_type="any_model_down", target_model_id=str(model.pk)),
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "New name" and rule.rule_type == "any_model_down"
    assert rule.target_model is None  # the old type's model is not left behind
    assert rule.webhook_secret == secret
    assert "Saved rule “New name”." in logged_in.get("/alerts").content.decode()


def test_a_bad_edit_is_explained_and_changes_nothing(logged_in):
    rule = make_rule(name="Keep me")
    response = logged_in.post(
        f"/alerts/rules/{rule.pk}", rule_form(name="Changed", consecutive_failures="0")
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Edit rule “Keep me”" in html
    assert 'value="Changed"' in html
    assert "greater than or equal to 1" in html
    rule.refresh_from_db()
    assert rule.name == "Keep me" and rule.consecutive_failures == 1


def test_editing_an_unknown_rule_is_a_404(logged_in):
    url = "/alerts/rules/00000000-0000-0000-0000-000000000000"
    assert logged_in.get(url).status_code == 404
    assert logged_in.post(url, rule_form()).status_code == 404


# --- per-rule actions ---------------------------------------------------------------------------


def test_switching_a_rule_off_and_on_with_htmx_re_renders_its_row(logged_in):
    rule = make_rule()
    response = logged_in.post(f"/alerts/rules/{rule.pk}/toggle", {"enabled": "0"}, **HTMX)
    html = response.content.decode()
    assert html.startswith(f'<tr id="rule-{rule.pk}" class="rule-row is-disabled"')
    assert "Rule disabled: it is not evaluated." in html
    assert not AlertRule.objects.get().enabled
    logged_in.post(f"/alerts/rules/{rule.pk}/toggle", {"enabled": "1"}, **HTMX)
    assert AlertRule.objects.get().enabled


def test_switching_a_rule_without_javascript_goes_back_with_a_message(logged_in):
    rule = make_rule()
    response = logged_in.post(f"/alerts/rules/{rule.pk}/toggle", {"enabled": "0"}, follow=True)
    assert response.redirect_chain == [("/alerts", 302)]
    assert "Rule disabled" in response.content.decode()


def test_sending_a_test_raises_a_test_alert_and_queues_its_deliveries(
    logged_in, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("alerts.notifications._start_delivery", lambda: None)
    rule = make_rule(
        name="Hooked",
        notify_webhook=True,
        webhook_url=SLACK_URL,
        webhook_format="slack",
        notify_email=True,
        email_to="ops@example.com",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(f"/alerts/rules/{rule.pk}/test", **HTMX)
    html = response.content.decode()
    assert html.startswith(f'<tr id="rule-{rule.pk}"')
    assert "Test alert raised, queued to Email, Slack." in html
    assert response["HX-Trigger"] == "alertsChanged, deliveriesChanged"
    alert = Alert.objects.get()
    assert alert.kind == "test" and alert.rule == rule
    assert set(alert.notifications.values_list("channel", flat=True)) == {"email", "slack"}
    bell = logged_in.get("/alerts/bell").content.decode()
    assert "Test notification from ArgusLM rule" in bell and "kind-test" in bell


def test_sending_a_test_without_javascript_goes_back_with_a_message(logged_in):
    rule = make_rule()
    response = logged_in.post(
        f"/alerts/rules/{rule.pk}/test",
        HTTP_REFERER=f"http://testserver/alerts/rules/{rule.pk}",
        follow=True,
    )
    assert response.redirect_chain == [(f"http://testserver/alerts/rules/{rule.pk}", 302)]
    assert "Test alert raised, shown in the bell only." in response.content.decode()
    assert Alert.objects.get().kind == "test"


def test_deleting_a_rule_with_htmx_removes_its_row_and_history(logged_in):
    rule = make_rule(name="Doomed")
    make_alert(rule)
    response = logged_in.post(f"/alerts/rules/{rule.pk}/delete", **HTMX)
    html = response.content.decode()
    assert 'data-testid="rule-deleted"' in html
    assert "Deleted rule “Doomed” and its alert history." in html
    assert response["HX-Trigger"] == "alertsChanged, deliveriesChanged"
    assert not AlertRule.objects.exists() and not Alert.objects.exists()


def test_deleting_a_rule_without_javascript_returns_to_the_page(logged_in):
    rule = make_rule(name="Doomed")
    response = logged_in.post(f"/alerts/rules/{rule.pk}/delete", follow=True)
    assert response.redirect_chain == [("/alerts", 302)]
    assert "Deleted rule “Doomed”" in response.content.decode()
    assert not AlertRule.objects.exists()


def test_rule_actions_on_an_unknown_rule_are_404s(logged_in):
    for action in ("toggle", "test", "delete"):
        url = f"/alerts/rules/00000000-0000-0000-0000-000000000000/{action}"
        assert logged_in.post(url).status_code == 404


def test_a_stale_count_sent_by_htmx_reloads_the_page_to_say_why(logged_in):
    make_alert(make_rule(), message="x")
    response = logged_in.post(
        "/alerts/acknowledge-all", {"q": "x", "count": "4"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/alerts?q=x#history"
    assert not Alert.objects.filter(acknowledged=True).exists()
