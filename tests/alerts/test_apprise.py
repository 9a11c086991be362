"""The Apprise channel over real HTTP: Apprise's ``json://`` URL to a local receiver, retries,
the deadline, the network policy, and its URLs kept secret by the API and the pages."""

import time

import pytest
from django.utils import timezone

from alerts import notifications, transports
from alerts.models import AlertRule, DeliveryAttempt, Notification
from tests.alerts.test_notifications import Receiver
from tests.factories import make_alert, make_rule

Status = Notification.Status
TOKEN = "PLANTED-apprise-0123456789abcdef"
RULES = "/api/v1/alerts/rules"


@pytest.fixture(autouse=True)
def started(monkeypatch) -> list[str]:
    """Record django-q2 task submissions instead of reaching a broker."""
    calls: list[str] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **kw: calls.append(func))
    return calls


@pytest.fixture(autouse=True)
def _site_root(settings):
    settings.SITE_ROOT = "https://argus.example.com"


def json_url(receiver: Receiver, path: str = f"/notify/{TOKEN}") -> str:
    """Apprise's JSON URL for the receiver (``json://`` posts a JSON document over HTTP)."""
    return f"json://127.0.0.1:{receiver.server.server_address[1]}{path}"


def apprise_rule(urls: str, **kw) -> AlertRule:
    return make_rule(notify_apprise=True, apprise_urls=urls, **kw)


def only() -> Notification:
    return Notification.objects.get(channel=Notification.Channel.APPRISE)


# --- Delivery ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_alert_reaches_the_apprise_url_with_its_title_and_message(receiver):
    rule = apprise_rule(json_url(receiver), name="Prod down")
    alert = make_alert(rule, message="gpt-4o is down: HTTP 503")

    notifications.queue_for([alert])
    assert notifications.deliver_due() == 1

    [request] = receiver.requests
    assert request["path"] == f"/notify/{TOKEN}"
    document = receiver.json()
    assert document["title"] == "[ArgusLM] Alert: Prod down"
    assert "gpt-4o is down: HTTP 503" in document["message"]
    assert "https://argus.example.com/alerts" in document["message"]
    assert document["type"] == "failure"  # a fired alert; a recovery is "success"
    notification = only()
    assert notification.status == Status.SENT and notification.safe_target == "json"
    [attempt] = notification.log.all()
    assert attempt.ok and attempt.error == "" and attempt.number == 1


@pytest.mark.django_db
def test_a_failing_service_is_a_failed_attempt_retried_later(receiver):
    receiver.reply(500, b"upstream broken")
    notifications.queue_for([make_alert(apprise_rule(json_url(receiver)))])

    assert notifications.deliver_due() == 0
    notification = only()
    assert notification.status == Status.PENDING  # another try after the back-off
    assert notification.next_attempt_at > timezone.now()
    [attempt] = notification.log.all()
    assert not attempt.ok and attempt.error.startswith("json: ")
    assert TOKEN not in attempt.error and "/notify/" not in attempt.error

    later = timezone.now() + notifications.backoff(1)
    assert notifications.deliver_due(now=later) == 1
    assert only().status == Status.SENT and len(receiver.requests) == 2


@pytest.mark.django_db
def test_a_retry_goes_only_to_the_urls_that_failed(receiver):
    good, bad = json_url(receiver, "/good"), json_url(receiver, "/bad")
    receiver.reply(200)
    receiver.reply(500)
    notifications.queue_for([make_alert(apprise_rule(f"{good}\n{bad}"))])

    notifications.deliver_due()
    assert only().status == Status.PENDING and only().target == bad

    notifications.deliver_due(now=timezone.now() + notifications.backoff(1))
    assert [r["path"] for r in receiver.requests] == ["/good", "/bad", "/bad"]
    assert only().status == Status.SENT


@pytest.mark.django_db
def test_a_hung_service_ends_within_the_deadline(monkeypatch):
    from tests.hostile import Hostile

    hostile = Hostile()
    try:
        monkeypatch.setattr(transports, "HTTP_TIMEOUT", 2.0)
        url = hostile.url("trickle").replace("http://", "json://")
        notifications.queue_for([make_alert(apprise_rule(url))])
        started = time.monotonic()
        notifications.deliver_due()
        seconds = time.monotonic() - started
    finally:
        hostile.close()
    notification = only()
    assert notification.status == Status.PENDING
    assert notification.last_error == "timed out after 2 s"
    assert 2 <= seconds < 2.5


@pytest.mark.django_db
def test_a_metadata_address_in_an_apprise_url_is_refused_without_retries(receiver):
    # Saved before the policy (or past the API): the delivery checks again.
    urls = f"{json_url(receiver)}\njson://169.254.169.254/latest/meta-data/{TOKEN}"
    notifications.queue_for([make_alert(apprise_rule(urls))])

    notifications.deliver_due()
    notification = only()
    assert notification.status == Status.FAILED  # permanent: no retry
    assert notification.last_error.startswith("refused by the network policy: 169.254.169.254")
    assert TOKEN not in notification.last_error
    assert receiver.requests == []  # nothing was sent to any of the rule's URLs


@pytest.mark.django_db
def test_a_private_address_is_refused_unless_the_policy_allows_it(receiver, settings):
    settings.ARGUSLM_ALLOW_PRIVATE_NETWORKS = False
    notifications.queue_for([make_alert(apprise_rule(json_url(receiver)))])
    notifications.deliver_due()
    assert only().status == Status.FAILED
    assert "127.0.0.1 is a private or loopback address" in only().last_error
    assert receiver.requests == []


@pytest.mark.django_db
def test_send_test_covers_the_apprise_channel(receiver):
    rule = apprise_rule(json_url(receiver), name="Canary")
    notifications.send_test(rule=rule)
    assert notifications.deliver_due() == 1
    assert receiver.json()["title"] == "[ArgusLM] Test: Canary"
    assert receiver.json()["type"] == "info"
    assert DeliveryAttempt.objects.get().ok


# --- API ---------------------------------------------------------------------------------------


def fields_named(response) -> list[str]:
    assert response.status_code == 422, response.content
    return [error["loc"][1] for error in response.json()["detail"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "urls",
    [
        "bogus://nothing",
        "msteams://too/few",
        "not a url at all",
        "json://169.254.169.254/x",
        "json://example.com/" + "x" * 2100,
        ",".join(["json://example.com/x"] * 11),
    ],
)
def test_urls_apprise_does_not_understand_are_422_naming_apprise_urls(api, urls):
    body = {
        "name": "R",
        "rule_type": "any_model_down",
        "notify_apprise": True,
        "apprise_urls": urls,
    }
    assert set(fields_named(api.post(RULES, body, format="json"))) == {"apprise_urls"}


@pytest.mark.django_db
def test_notify_apprise_needs_urls(api):
    body = {"name": "R", "rule_type": "any_model_down", "notify_apprise": True}
    assert fields_named(api.post(RULES, body, format="json")) == ["apprise_urls"]


@pytest.mark.django_db
def test_the_api_takes_apprise_urls_write_only_and_answers_their_services(api):
    urls = f"ntfy://ntfy.example.com/{TOKEN}, pagerduty://{TOKEN}@apikey123\njson://example.com/x"
    body = {
        "name": "R",
        "rule_type": "any_model_down",
        "notify_apprise": True,
        "apprise_urls": urls,
    }
    created = api.post(RULES, body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["apprise_services"] == "ntfy, pagerduty, json"
    assert "apprise_urls" not in created.json()
    rule = AlertRule.objects.get()
    assert rule.apprise_urls.splitlines() == [
        f"ntfy://ntfy.example.com/{TOKEN}",
        f"pagerduty://{TOKEN}@apikey123",
        "json://example.com/x",
    ]
    for response in (
        created,
        api.get(RULES),
        api.get(f"{RULES}/{rule.pk}"),
        api.patch(f"{RULES}/{rule.pk}", {"name": "R2"}, format="json"),
    ):
        assert TOKEN not in response.content.decode()
    # Stored encrypted: the column holds ciphertext only.
    raw = AlertRule.objects.filter(pk=rule.pk).values_list("apprise_urls", flat=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT apprise_urls FROM alerts_alertrule")
        assert TOKEN not in cursor.fetchone()[0]
    assert raw  # the decrypted value round-trips


# --- Pages -------------------------------------------------------------------------------------


def rule_form(**overrides) -> dict:
    from tests.alerts.test_pages import rule_form as base

    return base(**overrides)


@pytest.mark.django_db
def test_the_rule_form_saves_apprise_urls_and_the_list_shows_only_services(logged_in):
    urls = f"ntfy://ntfy.example.com/{TOKEN}\npover://{TOKEN}@token4567890"
    response = logged_in.post(
        "/alerts/rules/new", rule_form(name="Paged", notify_apprise="on", apprise_urls=urls)
    )
    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert rule.notify_apprise and rule.apprise_urls == urls
    page = logged_in.get("/alerts").content.decode()
    assert "ntfy, pover" in page and TOKEN not in page
    edit = logged_in.get(f"/alerts/rules/{rule.pk}").content.decode()
    assert "set: ntfy, pover (empty keeps them)" in edit and TOKEN not in edit


@pytest.mark.django_db
def test_an_invalid_apprise_url_is_shown_under_the_field(logged_in):
    response = logged_in.post(
        "/alerts/rules/new", rule_form(notify_apprise="on", apprise_urls="bogus://nothing")
    )
    page = response.content.decode()
    assert "Not saved: fix the highlighted fields." in page
    assert "URL 1 (bogus://…) is not a URL Apprise understands" in page
    assert 'name="apprise_urls" rows="3"' in page and AlertRule.objects.count() == 0


@pytest.mark.django_db
def test_empty_apprise_urls_keep_the_stored_ones_and_turning_apprise_off_forgets_them(
    logged_in,
):
    rule = apprise_rule("ntfy://ntfy.example.com/alerts", name="A")
    form = rule_form(name="A", notify_apprise="on", apprise_urls="")
    assert logged_in.post(f"/alerts/rules/{rule.pk}", form).status_code == 302
    rule.refresh_from_db()
    assert rule.apprise_urls == "ntfy://ntfy.example.com/alerts"

    form = rule_form(name="A", apprise_urls="")
    assert logged_in.post(f"/alerts/rules/{rule.pk}", form).status_code == 302
    rule.refresh_from_db()
    assert not rule.notify_apprise and rule.apprise_urls is None


@pytest.mark.django_db
def test_the_delivery_log_shows_apprise_targets_as_services(logged_in):
    rule = apprise_rule(f"ntfy://ntfy.example.com/{TOKEN}")
    notifications.queue_for([make_alert(rule)])
    page = logged_in.get("/alerts").content.decode()
    assert '<span class="target" data-testid="delivery-target">ntfy</span>' in page
    assert TOKEN not in page
