"""The alerts API: rules (CRUD, validation, test sends), alerts, the bell's counts, incidents
and the delivery log."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import (
    Alert,
    AlertEvent,
    AlertRule,
    DeliveryAttempt,
    Incident,
    Notification,
)
from tests.factories import make_alert, make_incident, make_model, make_rule

pytestmark = pytest.mark.django_db
RULES = "/api/v1/alerts/rules"
ALERTS = "/api/v1/alerts"
PERF = "performance_degradation"
# What the published SDK's AlertRuleResponse / AlertResponse need present and non-null.
RULE_REQUIRED = (
    "id",
    "name",
    "rule_type",
    "enabled",
    "notify_in_app",
    "notify_email",
    "notify_webhook",
    "created_at",
)
ALERT_REQUIRED = ("id", "rule_id", "message", "acknowledged", "created_at")


@pytest.fixture
def queued(monkeypatch):
    """Records the tasks queued with django-q2 instead of queueing them."""
    calls: list[tuple] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: calls.append(a))
    return calls


def post_rule(api, **body):
    return api.post(RULES, {"name": "Rule", "rule_type": "any_model_down", **body}, format="json")


def fields_named(response) -> list[str]:
    """The body fields a 422 names (the second element of each error's loc)."""
    assert response.status_code == 422, response.content
    return [error["loc"][1] for error in response.json()["detail"]]


# --- Authentication ----------------------------------------------------------------------------


def test_every_alerts_endpoint_needs_authentication(anon):
    rule = make_rule()
    alert = make_alert(rule)
    calls = [
        ("get", RULES),
        ("post", RULES),
        ("get", f"{RULES}/{rule.pk}"),
        ("patch", f"{RULES}/{rule.pk}"),
        ("delete", f"{RULES}/{rule.pk}"),
        ("post", f"{RULES}/{rule.pk}/test"),
        ("get", ALERTS),
        ("patch", f"{ALERTS}/{alert.pk}/acknowledge"),
        ("post", f"{ALERTS}/{alert.pk}/acknowledge"),
        ("post", f"{ALERTS}/acknowledge-all"),
        ("get", f"{ALERTS}/unread-count"),
        ("get", f"{ALERTS}/recent"),
        ("get", f"{ALERTS}/incidents"),
        ("get", f"{ALERTS}/deliveries"),
    ]
    for method, path in calls:
        response = getattr(anon, method)(path)
        assert response.status_code == 401, (method, path)
        assert "detail" in response.json()
    assert AlertRule.objects.filter(pk=rule.pk).exists()
    alert.refresh_from_db()
    assert alert.acknowledged is False and Alert.objects.count() == 1


# --- Rules: list and create --------------------------------------------------------------------


def test_the_rule_list_is_a_bare_array_newest_first(api):
    assert api.get(RULES).json() == []
    old, new = make_rule(name="Old"), make_rule(name="New")
    AlertRule.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1))
    data = api.get(RULES).json()
    assert isinstance(data, list)
    assert [r["id"] for r in data] == [str(new.pk), str(old.pk)]
    for field in RULE_REQUIRED:
        assert data[0][field] is not None


def test_a_rule_of_each_type_is_created_with_its_required_fields(api):
    model = make_model()
    bodies = [
        {"rule_type": "any_model_down"},
        {"rule_type": "specific_model_down", "target_model_id": str(model.pk)},
        {"rule_type": "model_unavailable_everywhere", "target_model_name": "gpt-4o"},
        {"rule_type": PERF, "threshold_config": {"metric": "latency", "threshold": 2000}},
    ]
    for body in bodies:
        response = post_rule(api, **body)
        assert response.status_code == 201, response.content
        data = response.json()
        for field in RULE_REQUIRED:
            assert data[field] is not None, field
        assert data["rule_type"] == body["rule_type"]
        assert data["enabled"] is True and data["notify_in_app"] is True
        assert data["notify_email"] is False and data["notify_webhook"] is False
        assert AlertRule.objects.filter(pk=data["id"]).exists()
    specific = AlertRule.objects.get(rule_type="specific_model_down")
    assert specific.target_model == model
    assert AlertRule.objects.get(rule_type="model_unavailable_everywhere").target_model_name == (
        "gpt-4o"
    )


def test_the_sdk_create_body_with_explicit_nulls_is_accepted(api):
    body = {
        "name": "From the SDK",
        "rule_type": "any_model_down",
        "target_model_id": None,
        "target_model_name": None,
        "enabled": False,
        "notify_in_app": False,
    }
    response = api.post(RULES, body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["target_model_id"] is None and data["target_model_name"] is None
    assert data["threshold_config"] is None and data["webhook_host"] is None
    assert "webhook_url" not in data  # write-only: a Slack or Discord URL is a credential
    assert data["enabled"] is False and data["notify_in_app"] is False


def test_a_performance_rule_stores_its_threshold_config_with_defaults(api):
    config = {"metric": "ttft", "comparison": "baseline", "factor": 2}
    data = post_rule(api, rule_type=PERF, threshold_config=config).json()
    stored = data["threshold_config"]
    assert stored["metric"] == "ttft" and stored["comparison"] == "baseline"
    assert stored["factor"] == 2.0 and stored["window_minutes"] == 15
    assert AlertRule.objects.get(pk=data["id"]).threshold_config == stored


def test_an_unknown_rule_type_is_422_naming_rule_type(api):
    response = post_rule(api, rule_type="model_is_sad")
    assert fields_named(response) == ["rule_type"]
    error = response.json()["detail"][0]
    assert set(error) >= {"type", "loc", "msg"} and error["loc"] == ["body", "rule_type"]
    assert not AlertRule.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rule_type": "specific_model_down"}, "target_model_id"),
        ({"rule_type": "specific_model_down", "target_model_id": None}, "target_model_id"),
        (
            {"rule_type": "specific_model_down", "target_model_id": str(uuid.uuid4())},
            "target_model_id",
        ),
        ({"rule_type": "specific_model_down", "target_model_id": "not-a-uuid"}, "target_model_id"),
        ({"rule_type": "model_unavailable_everywhere"}, "target_model_name"),
        (
            {"rule_type": "model_unavailable_everywhere", "target_model_name": " "},
            "target_model_name",
        ),
        ({"rule_type": PERF}, "threshold_config"),
        ({"rule_type": PERF, "threshold_config": None}, "threshold_config"),
        ({"rule_type": PERF, "threshold_config": "latency > 2s"}, "threshold_config"),
        ({"rule_type": PERF, "threshold_config": {"metric": "vibes"}}, "threshold_config"),
        ({"rule_type": PERF, "threshold_config": {"metric": "latency"}}, "threshold_config"),
        (
            {"rule_type": PERF, "threshold_config": {"metric": "error_rate", "threshold": 5}},
            "threshold_config",
        ),
        (
            {
                "rule_type": PERF,
                "threshold_config": {"metric": "tps", "comparison": "baseline", "factor": 1},
            },
            "threshold_config",
        ),
        (
            {
                "rule_type": PERF,
                "threshold_config": {"metric": "tps", "comparison": "baseline", "factor": 0.5},
            },
            "threshold_config",
        ),
        (
            {
                "rule_type": PERF,
                "threshold_config": {"metric": "ttft", "threshold": 500, "window_minutes": 0},
            },
            "threshold_config",
        ),
        (
            {
                "rule_type": PERF,
                "threshold_config": {"metric": "ttft", "threshold": 500, "comparison": "vibes"},
            },
            "threshold_config",
        ),
        (
            {
                "rule_type": PERF,
                "threshold_config": {
                    "metric": "ttft",
                    "threshold": 500,
                    "target_model_id": str(uuid.uuid4()),
                },
            },
            "threshold_config",
        ),
        ({"threshold_config": ["not", "an", "object"]}, "threshold_config"),
        ({"threshold_config": "latency > 2s"}, "threshold_config"),
        ({"notify_webhook": True}, "webhook_url"),
        ({"notify_webhook": True, "webhook_url": ""}, "webhook_url"),
        ({"notify_webhook": True, "webhook_url": "not a url"}, "webhook_url"),
        ({"webhook_url": "ftp://example.com/hook"}, "webhook_url"),
        ({"webhook_url": "https://example.com/" + "x" * 500}, "webhook_url"),
        ({"webhook_format": "teams"}, "webhook_format"),
        ({"email_to": "ops@example.com, not-an-address"}, "email_to"),
        ({"email_to": None}, "email_to"),
        # 999 characters as sent, 1,098 once normalised to "a, b": past the column.
        ({"email_to": ",".join(f"a{i:03d}@x.io" for i in range(100))}, "email_to"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": None}, "name"),
        ({"consecutive_failures": 0}, "consecutive_failures"),
        ({"consecutive_recoveries": 101}, "consecutive_recoveries"),
        ({"enabled": "maybe"}, "enabled"),
    ],
)
def test_an_invalid_rule_is_422_naming_the_field(api, body, field):
    assert field in fields_named(post_rule(api, **body))
    assert not AlertRule.objects.exists()


def test_a_missing_name_or_rule_type_is_422(api):
    assert fields_named(api.post(RULES, {"name": "No type"}, format="json")) == ["rule_type"]
    missing_name = api.post(RULES, {"rule_type": "any_model_down"}, format="json")
    assert fields_named(missing_name) == ["name"]


def test_a_malformed_json_body_is_422(api):
    response = api.generic("POST", RULES, "{nope", content_type="application/json")
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_a_255_character_name_is_accepted_and_names_are_trimmed(api):
    assert post_rule(api, name="x" * 255).status_code == 201
    assert post_rule(api, name="  Padded  ").json()["name"] == "Padded"


def test_delivery_settings_are_settable_on_create(api):
    body = {
        "threshold_config": {"note": "ignored by this rule type, kept as given"},
        "notify_email": True,
        "email_to": " ops@example.com ,oncall@example.com ",
        "notify_webhook": True,
        "webhook_url": "https://hooks.slack.com/services/T/B/x",
        "webhook_format": "slack",
        "consecutive_failures": 3,
        "consecutive_recoveries": 2,
    }
    response = post_rule(api, **body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["threshold_config"] == body["threshold_config"]
    assert data["notify_email"] is True and data["notify_webhook"] is True
    assert data["email_to"] == "ops@example.com, oncall@example.com"
    assert data["webhook_host"] == "https://hooks.slack.com" and data["webhook_format"] == "slack"
    assert "webhook_url" not in data and "services/T/B/x" not in response.content.decode()
    assert data["consecutive_failures"] == 3 and data["consecutive_recoveries"] == 2
    rule = AlertRule.objects.get(pk=data["id"])
    assert rule.notify_webhook and rule.webhook_format == "slack" and rule.consecutive_failures == 3
    assert rule.webhook_url == body["webhook_url"]


def test_delivery_settings_are_settable_on_patch(api):
    rule = make_rule()
    body = {
        "notify_email": True,
        "email_to": "ops@example.com",
        "notify_webhook": True,
        "webhook_url": "https://example.com/hook",
        "webhook_format": "discord",
        "consecutive_failures": 5,
        "threshold_config": {"metric": "latency", "threshold": 900},
    }
    response = api.patch(f"{RULES}/{rule.pk}", body, format="json")
    assert response.status_code == 200, response.content
    rule.refresh_from_db()
    assert rule.notify_email and rule.email_to == "ops@example.com"
    assert rule.notify_webhook and rule.webhook_url == "https://example.com/hook"
    assert rule.webhook_format == "discord" and rule.consecutive_failures == 5
    assert rule.threshold_config == {"metric": "latency", "threshold": 900}
    assert response.json()["webhook_format"] == "discord"


def test_the_webhook_secret_is_generated_shown_once_and_rotated_on_request(api):
    first = post_rule(api, webhook_secret="chosen-by-client").json()
    second = post_rule(api).json()
    secret = first["webhook_secret"]
    assert secret != "chosen-by-client" and len(secret) >= 24 and secret != second["webhook_secret"]
    rule_url = f"{RULES}/{first['id']}"
    for response in (
        api.get(rule_url),
        api.get(RULES),
        api.patch(rule_url, {"webhook_secret": "mine"}, format="json"),
    ):
        assert response.status_code == 200
        assert secret not in response.content.decode()
    assert AlertRule.objects.get(pk=first["id"]).webhook_secret == secret

    rotated = api.post(f"{rule_url}/rotate-secret")
    assert rotated.status_code == 200
    new = rotated.json()["webhook_secret"]
    assert len(new) >= 24 and new != secret
    assert AlertRule.objects.get(pk=first["id"]).webhook_secret == new


def test_webhook_urls_and_secrets_are_encrypted_at_rest(api):
    from django.db import connection

    data = post_rule(
        api, notify_webhook=True, webhook_url="https://hooks.slack.com/services/T/B/SECRETPART"
    ).json()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT webhook_url, webhook_secret FROM alerts_alertrule WHERE name = %s",
            [data["name"]],
        )
        raw = " ".join(cursor.fetchone())
    assert "SECRETPART" not in raw and data["webhook_secret"] not in raw


def test_read_only_fields_are_ignored_on_create(api):
    given = str(uuid.uuid4())
    data = post_rule(api, id=given, created_at="2001-01-01T00:00:00Z", unknown="x").json()
    assert data["id"] != given and not data["created_at"].startswith("2001")


# --- Rules: one rule ---------------------------------------------------------------------------


def test_a_rule_is_read_by_id(api):
    rule = make_rule(name="Mine")
    data = api.get(f"{RULES}/{rule.pk}").json()
    assert data["id"] == str(rule.pk) and data["name"] == "Mine"


def test_a_partial_patch_keeps_the_other_fields(api):
    model = make_model()
    rule = make_rule(
        rule_type="specific_model_down",
        target_model=model,
        notify_email=True,
        email_to="ops@example.com",
        consecutive_failures=4,
    )
    response = api.patch(f"{RULES}/{rule.pk}", {"name": "Renamed"}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["name"] == "Renamed" and data["rule_type"] == "specific_model_down"
    assert data["target_model_id"] == str(model.pk) and data["email_to"] == "ops@example.com"
    assert data["notify_email"] is True and data["consecutive_failures"] == 4
    response = api.patch(f"{RULES}/{rule.pk}", {"enabled": False}, format="json")
    assert response.json()["name"] == "Renamed" and response.json()["enabled"] is False
    rule.refresh_from_db()
    assert (rule.name, rule.enabled, rule.target_model_id) == ("Renamed", False, model.pk)


def test_an_empty_patch_changes_nothing(api):
    rule = make_rule(name="Same")
    response = api.patch(f"{RULES}/{rule.pk}", {}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Same"


@pytest.mark.parametrize(
    ("start", "patch", "field"),
    [
        ({}, {"rule_type": "specific_model_down"}, "target_model_id"),
        ({}, {"rule_type": "model_unavailable_everywhere"}, "target_model_name"),
        ({}, {"rule_type": PERF}, "threshold_config"),
        ("specific", {"target_model_id": None}, "target_model_id"),
        (
            {"rule_type": "model_unavailable_everywhere", "target_model_name": "gpt"},
            {"target_model_name": ""},
            "target_model_name",
        ),
        (
            {"rule_type": PERF, "threshold_config": {"metric": "latency", "threshold": 1}},
            {"threshold_config": {"metric": "error_rate", "threshold": 2}},
            "threshold_config",
        ),
        (
            {"rule_type": PERF, "threshold_config": {"metric": "latency", "threshold": 1}},
            {"threshold_config": None},
            "threshold_config",
        ),
        ({}, {"notify_webhook": True}, "webhook_url"),
        (
            {"notify_webhook": True, "webhook_url": "https://example.com/h"},
            {"webhook_url": None},
            "webhook_url",
        ),
        ({}, {"name": ""}, "name"),
        ({}, {"rule_type": "nope"}, "rule_type"),
    ],
)
def test_a_patch_revalidates_the_merged_rule(api, start, patch, field):
    if start == "specific":
        start = {"rule_type": "specific_model_down", "target_model": make_model()}
    rule = make_rule(**start)
    before = AlertRule.objects.filter(pk=rule.pk).values().get()
    response = api.patch(f"{RULES}/{rule.pk}", patch, format="json")
    assert field in fields_named(response)
    assert AlertRule.objects.filter(pk=rule.pk).values().get() == before


def test_a_patch_can_switch_the_type_with_its_required_field(api):
    model = make_model()
    rule = make_rule()
    body = {"rule_type": "specific_model_down", "target_model_id": str(model.pk)}
    response = api.patch(f"{RULES}/{rule.pk}", body, format="json")
    assert response.status_code == 200, response.content
    rule.refresh_from_db()
    assert rule.rule_type == "specific_model_down" and rule.target_model == model


def test_a_patch_of_a_performance_rule_keeps_its_valid_threshold_config(api):
    config = {"metric": "latency", "threshold": 1000}
    rule_id = post_rule(api, rule_type=PERF, threshold_config=config).json()["id"]
    stored = AlertRule.objects.get(pk=rule_id).threshold_config
    response = api.patch(f"{RULES}/{rule_id}", {"name": "Slow"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["threshold_config"] == stored


def test_deleting_a_rule_deletes_its_alerts_and_incidents(api):
    rule, other = make_rule(), make_rule(name="Other")
    incident = make_incident(rule)
    make_alert(rule, incident=incident)
    make_alert(rule)
    kept = make_alert(other)
    response = api.delete(f"{RULES}/{rule.pk}")
    assert response.status_code == 204 and not response.content
    assert not AlertRule.objects.filter(pk=rule.pk).exists()
    assert list(Alert.objects.all()) == [kept]
    assert not Incident.objects.filter(pk=incident.pk).exists()
    assert api.delete(f"{RULES}/{rule.pk}").status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("patch", ""), ("delete", ""), ("post", "/test")],
)
def test_an_unknown_rule_is_404_and_a_malformed_id_422(api, method, suffix):
    make_rule()
    response = getattr(api, method)(f"{RULES}/{uuid.uuid4()}{suffix}", {}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Alert rule not found"}
    response = getattr(api, method)(f"{RULES}/not-a-uuid{suffix}", {}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "path"
    assert AlertRule.objects.count() == 1


def test_put_is_not_allowed_on_a_rule(api):
    rule = make_rule()
    response = api.put(f"{RULES}/{rule.pk}", {"name": "x"}, format="json")
    assert response.status_code == 405


# --- Rules: test send --------------------------------------------------------------------------


def test_a_test_send_raises_a_test_alert_and_queues_its_channels(
    api, queued, django_capture_on_commit_callbacks
):
    model = make_model()
    rule = make_rule(
        name="Pager",
        rule_type="specific_model_down",
        target_model=model,
        notify_email=True,
        email_to="ops@example.com",
        notify_webhook=True,
        webhook_url="https://example.com/hook",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{RULES}/{rule.pk}/test")
    assert response.status_code == 202, response.content
    data = response.json()
    assert data["kind"] == "test" and data["rule_id"] == str(rule.pk)
    assert data["model_id"] == str(model.pk) and "Pager" in data["message"]
    assert data["acknowledged"] is False
    for field in ALERT_REQUIRED:
        assert data[field] is not None
    alert = Alert.objects.get(pk=data["id"])
    assert alert.kind == Alert.Kind.TEST
    channels = dict(Notification.objects.filter(alert=alert).values_list("channel", "target"))
    assert channels == {"email": "ops@example.com", "webhook": "https://example.com/hook"}
    assert queued == [("alerts.tasks.deliver_due",)]


def test_a_test_send_uses_the_webhook_format_as_the_channel(
    api, queued, django_capture_on_commit_callbacks
):
    rule = make_rule(
        notify_webhook=True, webhook_url="https://discord.test/x", webhook_format="discord"
    )
    with django_capture_on_commit_callbacks(execute=True):
        alert_id = api.post(f"{RULES}/{rule.pk}/test").json()["id"]
    assert list(
        Notification.objects.filter(alert_id=alert_id).values_list("channel", flat=True)
    ) == ["discord"]
    assert len(queued) == 1


def test_a_test_send_on_a_rule_without_channels_queues_nothing(
    api, queued, django_capture_on_commit_callbacks
):
    rule = make_rule()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{RULES}/{rule.pk}/test")
    assert response.status_code == 202 and response.json()["kind"] == "test"
    assert response.json()["model_id"] is None
    assert not Notification.objects.exists() and queued == []


# --- Alerts: list ------------------------------------------------------------------------------


def test_the_alert_list_is_newest_first_with_counts(api):
    rule = make_rule(name="Any down")
    old = make_alert(rule, ago=timedelta(hours=2), acknowledged=True)
    new = make_alert(rule, ago=timedelta(minutes=1))
    data = api.get(ALERTS).json()
    assert [a["id"] for a in data["items"]] == [str(new.pk), str(old.pk)]
    assert data["total"] == 2 and data["unacknowledged_count"] == 1
    assert data["limit"] == 50 and data["offset"] == 0
    item = data["items"][0]
    for field in ALERT_REQUIRED:
        assert item[field] is not None
    assert item["rule_id"] == str(rule.pk) and item["rule_name"] == "Any down"
    assert item["kind"] == "fired" and item["model_id"] is None and item["model_name"] is None


def test_an_alert_names_its_model(api):
    model = make_model(custom_name="Sim three")
    make_alert(model=model)
    item = api.get(ALERTS).json()["items"][0]
    assert item["model_id"] == str(model.pk) and item["model_name"] == "Sim three"


def test_the_alert_list_filters_by_rule_acknowledged_and_since(api):
    rule, other = make_rule(), make_rule(name="Other")
    a_old = make_alert(rule, ago=timedelta(days=2))
    a_ack = make_alert(rule, ago=timedelta(hours=1), acknowledged=True)
    a_new = make_alert(rule, ago=timedelta(minutes=1))
    b_new = make_alert(other, ago=timedelta(minutes=2))

    def ids(**params):
        data = api.get(ALERTS, params).json()
        return [a["id"] for a in data["items"]], data["total"]

    assert ids(rule_id=str(rule.pk)) == ([str(a_new.pk), str(a_ack.pk), str(a_old.pk)], 3)
    assert ids(rule_id=str(uuid.uuid4())) == ([], 0)
    assert ids(acknowledged="true") == ([str(a_ack.pk)], 1)
    assert ids(acknowledged="false") == ([str(a_new.pk), str(b_new.pk), str(a_old.pk)], 3)
    since = (timezone.now() - timedelta(hours=3)).isoformat()
    assert ids(since=since) == ([str(a_new.pk), str(b_new.pk), str(a_ack.pk)], 3)
    # The frontend's Date.toISOString(): milliseconds and a Z.
    z_since = (timezone.now() - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert ids(since=z_since) == ([str(a_new.pk), str(b_new.pk)], 2)
    assert ids(rule_id=str(rule.pk), acknowledged="false", since=since) == ([str(a_new.pk)], 1)


def test_unacknowledged_count_ignores_the_acknowledged_filter(api):
    rule = make_rule()
    make_alert(rule, acknowledged=True)
    make_alert(rule)
    make_alert(rule)
    data = api.get(ALERTS, {"acknowledged": "true"}).json()
    assert data["total"] == 1 and data["unacknowledged_count"] == 2
    # Scoped by rule_id and since, like the items (the bell uses /unread-count for the total).
    other = make_rule(name="Other")
    make_alert(other)
    scoped = api.get(ALERTS, {"rule_id": str(other.pk)}).json()
    assert scoped["unacknowledged_count"] == 1
    assert api.get(ALERTS).json()["unacknowledged_count"] == 3


def test_the_alert_list_pages_with_limit_and_offset(api):
    rule = make_rule()
    alerts = [make_alert(rule, ago=timedelta(minutes=i)) for i in range(5)]
    data = api.get(ALERTS, {"limit": 2, "offset": 1}).json()
    assert [a["id"] for a in data["items"]] == [str(alerts[1].pk), str(alerts[2].pk)]
    assert (data["total"], data["limit"], data["offset"]) == (5, 2, 1)
    assert api.get(ALERTS, {"offset": 10}).json()["items"] == []
    assert len(api.get(ALERTS, {"limit": 500}).json()["items"]) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"rule_id": "nope"}, "rule_id"),
        ({"acknowledged": "maybe"}, "acknowledged"),
        ({"since": "yesterday"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_bad_alert_list_queries_are_422_naming_the_parameter(api, params, field):
    response = api.get(ALERTS, params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


# --- Alerts: acknowledge -----------------------------------------------------------------------


def test_acknowledging_needs_no_body_and_no_content_type(api):
    alert = make_alert()
    response = api.patch(f"{ALERTS}/{alert.pk}/acknowledge")
    assert "CONTENT_TYPE" not in response.wsgi_request.META
    assert not response.wsgi_request.META.get("CONTENT_LENGTH")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["id"] == str(alert.pk) and data["acknowledged"] is True
    assert data["acknowledged_at"] is not None
    for field in ALERT_REQUIRED:
        assert data[field] is not None
    alert.refresh_from_db()
    assert alert.acknowledged and alert.acknowledged_at is not None


def test_acknowledging_accepts_the_uis_empty_json_body_and_post(api):
    first, second = make_alert(), make_alert()
    assert api.patch(f"{ALERTS}/{first.pk}/acknowledge", {}, format="json").status_code == 200
    response = api.generic("PATCH", f"{ALERTS}/{second.pk}/acknowledge", "", "application/json")
    assert response.status_code == 200
    third = make_alert()
    assert api.post(f"{ALERTS}/{third.pk}/acknowledge").json()["acknowledged"] is True
    assert not Alert.objects.filter(acknowledged=False).exists()


def test_acknowledging_is_idempotent_and_records_one_event_on_the_incident(api, user):
    rule = make_rule()
    incident = make_incident(rule)
    alert = make_alert(rule, incident=incident)
    first = api.patch(f"{ALERTS}/{alert.pk}/acknowledge").json()
    second = api.patch(f"{ALERTS}/{alert.pk}/acknowledge")
    assert second.status_code == 200 and second.json()["acknowledged"] is True
    assert second.json()["acknowledged_at"] == first["acknowledged_at"]
    events = AlertEvent.objects.filter(incident=incident)
    assert list(events.values_list("event", flat=True)) == ["acknowledged"]
    assert user.username in events.get().detail


def test_acknowledging_an_alert_without_an_incident_records_no_event(api):
    alert = make_alert()
    assert api.patch(f"{ALERTS}/{alert.pk}/acknowledge").status_code == 200
    assert not AlertEvent.objects.exists()


def test_acknowledging_an_unknown_alert_is_404_and_a_malformed_id_422(api):
    response = api.patch(f"{ALERTS}/{uuid.uuid4()}/acknowledge")
    assert response.status_code == 404 and response.json() == {"detail": "Alert not found"}
    response = api.patch(f"{ALERTS}/not-a-uuid/acknowledge")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][0] == "path"


def test_acknowledge_all_acknowledges_every_unread_alert(api):
    rule = make_rule()
    incident = make_incident(rule)
    make_alert(rule, incident=incident)
    make_alert(rule)
    done = make_alert(rule, acknowledged=True)
    response = api.post(f"{ALERTS}/acknowledge-all")
    assert response.status_code == 200 and response.json() == {"count": 2}
    assert not Alert.objects.filter(acknowledged=False).exists()
    assert not Alert.objects.filter(acknowledged_at__isnull=True).exclude(pk=done.pk).exists()
    # The incident's history shows the acknowledgement, as with a single acknowledge.
    assert list(AlertEvent.objects.values_list("incident_id", "event")) == [
        (incident.pk, "acknowledged")
    ]
    assert api.post(f"{ALERTS}/acknowledge-all").json() == {"count": 0}
    assert AlertEvent.objects.count() == 1
    assert api.get(f"{ALERTS}/acknowledge-all").status_code == 405


# --- Alerts: the bell --------------------------------------------------------------------------


def test_the_unread_count_counts_unacknowledged_alerts(api):
    assert api.get(f"{ALERTS}/unread-count").json() == {"count": 0}
    rule = make_rule()
    make_alert(rule)
    make_alert(rule)
    acked = make_alert(rule)
    api.patch(f"{ALERTS}/{acked.pk}/acknowledge")
    assert api.get(f"{ALERTS}/unread-count").json() == {"count": 2}


def test_recent_alerts_default_to_ten_newest_with_the_unread_total(api):
    rule = make_rule()
    alerts = [make_alert(rule, ago=timedelta(minutes=i)) for i in range(12)]
    Alert.objects.filter(pk=alerts[0].pk).update(acknowledged=True)
    data = api.get(f"{ALERTS}/recent").json()
    assert [a["id"] for a in data["items"]] == [str(a.pk) for a in alerts[:10]]
    assert data["items"][0]["acknowledged"] is True  # regardless of state
    assert data["total_unread"] == 11
    assert len(api.get(f"{ALERTS}/recent", {"limit": 3}).json()["items"]) == 3


def test_recent_alerts_allow_up_to_fifty(api):
    rule = make_rule()
    Alert.objects.bulk_create([Alert(rule=rule, message=f"m{i}") for i in range(55)])
    assert len(api.get(f"{ALERTS}/recent", {"limit": 50}).json()["items"]) == 50
    for bad in (51, 0, "many"):
        response = api.get(f"{ALERTS}/recent", {"limit": bad})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]


# --- Incidents and deliveries ------------------------------------------------------------------


def test_incidents_are_newest_first_and_filter_by_open(api):
    rule = make_rule(name="Watch")
    closed = make_incident(
        rule, ago=timedelta(hours=1), resolved_at=timezone.now() - timedelta(minutes=30)
    )
    opened = make_incident(rule, ago=timedelta(minutes=1))
    data = api.get(f"{ALERTS}/incidents").json()
    assert [i["id"] for i in data] == [str(opened.pk), str(closed.pk)]
    assert data[0]["is_open"] is True and data[0]["rule_name"] == "Watch"
    assert data[1]["is_open"] is False and data[1]["resolved_at"] is not None
    assert [i["id"] for i in api.get(f"{ALERTS}/incidents", {"open": "true"}).json()] == [
        str(opened.pk)
    ]
    assert [i["id"] for i in api.get(f"{ALERTS}/incidents", {"open": "false"}).json()] == [
        str(closed.pk)
    ]
    assert len(api.get(f"{ALERTS}/incidents", {"limit": 1, "offset": 1}).json()) == 1
    response = api.get(f"{ALERTS}/incidents", {"open": "perhaps"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "open"]


def test_deliveries_list_notifications_with_their_attempt_log(api):
    alert = make_alert(message="Model x is down")
    now = timezone.now()
    failed = Notification.objects.create(
        alert=alert,
        channel="webhook",
        target="https://example.com/hook",
        status="failed",
        attempts=2,
        next_attempt_at=now,
        last_error="HTTP 404",
    )
    DeliveryAttempt.objects.create(notification=failed, number=1, ok=False, error="HTTP 503")
    DeliveryAttempt.objects.create(
        notification=failed, number=2, ok=False, status_code=404, error="HTTP 404"
    )
    sent = Notification.objects.create(
        alert=alert,
        channel="email",
        target="ops@example.com",
        status="sent",
        attempts=1,
        next_attempt_at=now,
        sent_at=now,
    )
    Notification.objects.filter(pk=failed.pk).update(created_at=now - timedelta(minutes=1))
    DeliveryAttempt.objects.create(notification=sent, number=1, ok=True, duration_ms=12.5)
    data = api.get(f"{ALERTS}/deliveries").json()
    assert [d["id"] for d in data] == [str(sent.pk), str(failed.pk)]
    row = data[1]
    assert row["alert_id"] == str(alert.pk) and row["message"] == "Model x is down"
    assert (row["channel"], row["status"], row["attempts"]) == ("webhook", "failed", 2)
    assert row["last_error"] == "HTTP 404"
    assert sorted(a["number"] for a in row["log"]) == [1, 2]
    assert {a["status_code"] for a in row["log"]} == {None, 404}
    assert data[0]["log"][0]["ok"] is True and data[0]["log"][0]["duration_ms"] == 12.5
    assert len(api.get(f"{ALERTS}/deliveries", {"limit": 1}).json()) == 1
    assert api.get(f"{ALERTS}/deliveries", {"limit": 0}).status_code == 422


def test_lists_cost_a_fixed_number_of_queries(api, django_assert_max_num_queries):
    model = make_model()
    for n in range(6):
        rule = make_rule(name=f"Rule {n}")
        alert = make_alert(rule, model=model, incident=make_incident(rule))
        notification = Notification.objects.create(
            alert=alert,
            channel="webhook",
            target="https://example.com/h",
            next_attempt_at=alert.created_at,
        )
        DeliveryAttempt.objects.create(notification=notification, number=1, ok=True)
    api.get(RULES)  # the token's first use is recorded (at most once a minute): not a list's cost
    # Token lookup, then the list's own queries: none per row.
    for path, most in [
        (RULES, 2),
        (ALERTS, 4),
        (f"{ALERTS}/recent", 3),
        (f"{ALERTS}/incidents", 2),
        (f"{ALERTS}/deliveries", 3),
    ]:
        with django_assert_max_num_queries(most):
            assert api.get(path).status_code == 200
