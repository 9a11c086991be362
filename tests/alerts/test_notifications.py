"""Alert notification delivery over real HTTP (a local receiver) and Django's test mail outbox."""

import hashlib
import hmac
import json
import smtplib
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from alerts import notifications, transports
from alerts.models import Alert, AlertRule, DeliveryAttempt, Notification
from tests.factories import make_alert, make_incident, make_model, make_rule

Status = Notification.Status


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records POSTs and answers from a script (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": httpx.Headers(self.headers.items()),
                        "body": body,
                    }
                )
                status, headers, reply = (
                    receiver.script.pop(0) if receiver.script else (200, {}, b"ok")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for it, at every test's teardown.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def reply(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.script.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))

    def json(self, index: int = -1) -> dict:
        return json.loads(self.requests[index]["body"])


@pytest.fixture(autouse=True)
def started(monkeypatch) -> list[str]:
    """Record django-q2 task submissions instead of reaching a broker."""
    calls: list[str] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **kw: calls.append(func))
    return calls


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_ROOT = "https://argus.example.com"


class TemporarySMTPFailure(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPDataError(451, b"4.3.0 try again later")


class PermanentSMTPFailure(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({"ops@example.com": (550, b"5.1.1 no such user")})


def webhook_rule(url: str, **kw) -> AlertRule:
    return make_rule(notify_webhook=True, webhook_url=url, **kw)


def deliver_later(seconds: float) -> int:
    return notifications.deliver_due(now=timezone.now() + timedelta(seconds=seconds))


def only(channel: str | None = None) -> Notification:
    rows = Notification.objects.all()
    if channel:
        rows = rows.filter(channel=channel)
    return rows.get()


# --- Channels and bodies -----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_posts_the_generic_json_document_to_a_webhook(receiver):
    model = make_model(model_id="gpt-x", custom_name="GPT X")
    rule = webhook_rule(receiver.url())
    incident = make_incident(rule, model=model)
    alert = make_alert(rule, model=model, incident=incident)

    notifications.queue_for([alert])
    assert notifications.deliver_due() == 1

    request = receiver.requests[0]
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["x-arguslm-event"] == "alert.fired"
    assert request["headers"]["x-arguslm-delivery"] == str(only().id)
    assert receiver.json() == {
        "event": "alert.fired",
        "alert": {
            "id": str(alert.id),
            "kind": "fired",
            "message": "Model gpt-x is down: HTTP 500",
            "created_at": alert.created_at.isoformat(),
        },
        "rule": {"id": str(rule.id), "name": "Any model down", "rule_type": "any_model_down"},
        "model": {
            "id": str(model.id),
            "model_id": "gpt-x",
            "name": "GPT X",
            "provider": "Test account",
        },
        "incident": {
            "id": str(incident.id),
            "opened_at": incident.opened_at.isoformat(),
            "resolved_at": None,
        },
    }
    notification = only()
    assert notification.status == Status.SENT
    assert notification.sent_at is not None
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.number, attempt.ok, attempt.status_code) == (1, True, 200)


@pytest.mark.django_db
def test_a_cross_model_alert_sends_null_model_and_incident(receiver):
    rule = webhook_rule(receiver.url())
    notifications.queue_for([make_alert(rule, kind=Alert.Kind.RECOVERED)])
    notifications.deliver_due()

    document = receiver.json()
    assert document["event"] == "alert.recovered"
    assert document["model"] is None
    assert document["incident"] is None


@pytest.mark.django_db
def test_the_signature_verifies_with_the_rules_secret(receiver):
    rule = webhook_rule(receiver.url())
    notifications.queue_for([make_alert(rule)])
    notifications.deliver_due()

    headers, body = receiver.requests[0]["headers"], receiver.requests[0]["body"]
    timestamp = headers["x-arguslm-timestamp"]
    assert abs(int(timestamp) - timezone.now().timestamp()) < 60

    def signature(secret: str) -> str:
        signed = timestamp.encode() + b"." + body
        return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()

    assert hmac.compare_digest(headers["x-arguslm-signature"], signature(rule.webhook_secret))
    assert headers["x-arguslm-signature"] != signature("another secret")


@pytest.mark.django_db
def test_it_posts_slack_text_with_an_emoji_and_escaped_markup(receiver):
    rule = webhook_rule(receiver.url(), webhook_format=AlertRule.WebhookFormat.SLACK)
    notifications.queue_for([make_alert(rule, message="Latency <p95> & TTFT up")])
    notifications.deliver_due()

    assert only().channel == Notification.Channel.SLACK
    text = receiver.json()["text"]
    assert text.startswith("🚨 *Alert: Any model down*")
    assert "Latency &lt;p95&gt; &amp; TTFT up" in text
    assert "<https://argus.example.com/alerts|Open ArgusLM>" in text


@pytest.mark.django_db
def test_it_posts_discord_content_without_allowing_mentions(receiver):
    rule = webhook_rule(receiver.url(), webhook_format=AlertRule.WebhookFormat.DISCORD)
    notifications.queue_for([make_alert(rule, kind=Alert.Kind.RECOVERED, message="@everyone ok")])
    notifications.deliver_due()

    assert only().channel == Notification.Channel.DISCORD
    document = receiver.json()
    assert document["content"].startswith("✅ **Recovered: Any model down**")
    assert "@everyone ok" in document["content"]
    assert document["allowed_mentions"] == {"parse": []}


@pytest.mark.django_db
def test_it_emails_the_rules_addresses(mailoutbox):
    model = make_model(model_id="gpt-x")
    rule = make_rule(notify_email=True, email_to="ops@example.com, oncall@example.com")
    notifications.queue_for([make_alert(rule, model=model)])

    assert notifications.deliver_due() == 1

    [message] = mailoutbox
    assert message.to == ["ops@example.com", "oncall@example.com"]
    assert message.subject == "[ArgusLM] Alert: Any model down (gpt-x)"
    assert "Model gpt-x is down: HTTP 500" in message.body
    assert "gpt-x on Test account" in message.body
    assert "https://argus.example.com/alerts" in message.body
    assert only().status == Status.SENT


@pytest.mark.django_db
def test_an_empty_email_to_sends_to_active_superusers(mailoutbox):
    users = get_user_model().objects
    users.create_superuser("root", "root@example.com", None)
    users.create_superuser("gone", "gone@example.com", None, is_active=False)
    users.create_superuser("nomail", "", None)
    users.create_user("bob", "bob@example.com", None)
    notifications.queue_for([make_alert(make_rule(notify_email=True))])

    assert only().target == "root@example.com"
    notifications.deliver_due()
    assert mailoutbox[0].to == ["root@example.com"]


@pytest.mark.django_db
def test_no_email_is_queued_when_no_superuser_has_an_address():
    assert notifications.queue_for([make_alert(make_rule(notify_email=True))]) == []
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_in_app_only_rules_and_rules_without_a_url_queue_nothing(started):
    alerts = [make_alert(make_rule()), make_alert(make_rule(notify_webhook=True))]
    assert notifications.queue_for(alerts) == []
    assert started == []


# --- Retries, failures and at-most-once --------------------------------------------------------


@pytest.mark.django_db
def test_a_503_is_retried_after_back_off_and_then_sent(receiver):
    receiver.reply(503, b"busy")
    notifications.queue_for([make_alert(webhook_rule(receiver.url()))])

    assert notifications.deliver_due() == 0
    notification = only()
    assert notification.status == Status.PENDING
    assert notification.last_error == "HTTP 503: busy"
    assert 29 <= (notification.next_attempt_at - timezone.now()).total_seconds() <= 30

    assert notifications.deliver_due() == 0  # not due yet: nothing is sent
    assert len(receiver.requests) == 1

    assert deliver_later(31) == 1
    assert len(receiver.requests) == 2
    assert only().status == Status.SENT
    attempts = DeliveryAttempt.objects.order_by("number")
    assert [(a.number, a.ok, a.status_code) for a in attempts] == [(1, False, 503), (2, True, 200)]


@pytest.mark.django_db
def test_a_retry_after_header_delays_the_next_attempt(receiver):
    receiver.reply(429, Retry_After="600")
    notifications.queue_for([make_alert(webhook_rule(receiver.url()))])
    now = timezone.now()

    notifications.deliver_due(now=now)

    assert only().next_attempt_at == now + timedelta(seconds=600)


@pytest.mark.django_db
def test_a_400_fails_at_once(receiver):
    receiver.reply(400, b"invalid payload")
    notifications.queue_for([make_alert(webhook_rule(receiver.url()))])

    notifications.deliver_due()
    assert deliver_later(3600) == 0

    notification = only()
    assert notification.status == Status.FAILED
    assert notification.attempts == 1
    assert notification.last_error == "HTTP 400: invalid payload"
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_redirects_are_not_followed(receiver):
    receiver.reply(302, Location=receiver.url("/elsewhere"))
    notifications.queue_for([make_alert(webhook_rule(receiver.url()))])

    notifications.deliver_due()

    assert only().status == Status.FAILED
    assert only().last_error == "HTTP 302: redirect not followed"
    assert [r["path"] for r in receiver.requests] == ["/hook"]


@pytest.mark.django_db
def test_five_transient_failures_end_failed(receiver):
    for _ in range(5):
        receiver.reply(500)
    notifications.queue_for([make_alert(webhook_rule(receiver.url()))])

    for hour in range(5):
        notifications.deliver_due(now=timezone.now() + timedelta(hours=hour))

    notification = only()
    assert notification.status == Status.FAILED
    assert notification.attempts == 5
    assert notification.last_error == "HTTP 500 (gave up after 5 attempts)"
    assert DeliveryAttempt.objects.filter(ok=False).count() == 5
    assert deliver_later(86400) == 0
    assert len(receiver.requests) == 5


@pytest.mark.django_db
def test_queuing_twice_makes_one_notification_per_channel(receiver):
    rule = webhook_rule(receiver.url(), notify_email=True, email_to="ops@example.com")
    alert = make_alert(rule)

    first = notifications.queue_for([alert])
    second = notifications.queue_for([alert])

    assert len(first) == 2
    assert {n.pk for n in first} == {n.pk for n in second}
    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_delivering_twice_sends_once(receiver):
    notifications.queue_for([make_alert(webhook_rule(receiver.url()))])

    assert notifications.deliver_due() == 1
    assert notifications.deliver_due() == 0
    assert deliver_later(86400) == 0

    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_a_stuck_sending_notification_is_failed_not_resent(receiver):
    notifications.queue_for([make_alert(webhook_rule(receiver.url()))])
    now = timezone.now()
    Notification.objects.update(status=Status.SENDING, claimed_at=now, attempts=1)

    notifications.deliver_due(now=now + timedelta(minutes=5))  # may still be sending: left alone
    assert only().status == Status.SENDING

    notifications.deliver_due(now=now + timedelta(minutes=11))
    notification = only()
    assert notification.status == Status.FAILED
    assert notification.last_error == notifications.STUCK_ERROR
    assert DeliveryAttempt.objects.get().error == notifications.STUCK_ERROR
    assert receiver.requests == []


@pytest.mark.django_db
def test_errors_never_show_the_urls_path_token_or_query(receiver):
    token = "T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX"
    url = receiver.url(f"/services/{token}?key=s3cr3t-query-key")
    receiver.reply(404, f"no_service for {token} key=s3cr3t-query-key".encode())
    rule = webhook_rule(url, webhook_format=AlertRule.WebhookFormat.SLACK)
    notifications.queue_for([make_alert(rule)])

    notifications.deliver_due()

    error = only().last_error
    assert error.startswith("HTTP 404: no_service for [redacted]")
    assert "XXXXXXXX" not in error
    assert "s3cr3t" not in error


@pytest.mark.django_db
def test_a_refused_connection_is_transient_and_hides_the_url():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook?token=s3cr3t"
    notifications.queue_for([make_alert(webhook_rule(url))])

    notifications.deliver_due()

    notification = only()
    assert notification.status == Status.PENDING
    assert notification.last_error.startswith("ConnectError")
    assert "s3cr3t" not in notification.last_error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("backend", "status", "error"),
    [
        (TemporarySMTPFailure, Status.PENDING, "SMTP 451: 4.3.0 try again later"),
        (PermanentSMTPFailure, Status.FAILED, "recipients refused: ops@example.com (550 5.1.1"),
    ],
)
def test_smtp_errors_are_retried_only_when_temporary(settings, backend, status, error):
    settings.EMAIL_BACKEND = f"{__name__}.{backend.__name__}"
    notifications.queue_for([make_alert(make_rule(notify_email=True, email_to="ops@example.com"))])

    notifications.deliver_due()

    assert only().status == status
    assert only().last_error.startswith(error)


@pytest.mark.django_db
def test_an_invalid_address_fails_at_once(mailoutbox):
    notifications.queue_for([make_alert(make_rule(notify_email=True, email_to="ops@, a@b.co"))])

    notifications.deliver_due()

    assert only().status == Status.FAILED
    assert only().last_error == "invalid address: ops@"
    assert mailoutbox == []


@pytest.mark.django_db
def test_a_transport_bug_fails_the_notification_instead_of_leaving_it_sending(
    receiver, monkeypatch
):
    def broken(self, notification):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(transports.Webhook, "notify", broken)
    notifications.queue_for([make_alert(webhook_rule(receiver.url()))])

    notifications.deliver_due()

    assert only().status == Status.FAILED
    assert only().last_error == "internal error: RuntimeError: template exploded"


def test_backoff_doubles_from_30_seconds_and_is_capped_at_an_hour():
    delays = [notifications.backoff(n).total_seconds() for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert notifications.backoff(1, retry_after=120).total_seconds() == 120
    assert notifications.backoff(3, retry_after=5).total_seconds() == 120  # a floor only
    assert notifications.backoff(1, retry_after=86400).total_seconds() == 3600


# --- Starting the worker and the send-test -----------------------------------------------------


@pytest.mark.django_db
def test_queuing_starts_the_worker_after_commit(
    receiver, started, django_capture_on_commit_callbacks
):
    alert = make_alert(webhook_rule(receiver.url()))
    with django_capture_on_commit_callbacks(execute=True):
        notifications.queue_for([alert])
        assert started == []  # not before the rows are visible to the worker
    assert started == ["alerts.tasks.deliver_due"]

    with django_capture_on_commit_callbacks(execute=True):
        notifications.queue_for([alert])  # nothing new
    assert started == ["alerts.tasks.deliver_due"]


@pytest.mark.django_db
def test_a_broken_broker_does_not_break_queuing(
    receiver, monkeypatch, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("django_q.tasks.async_task", down)
    with django_capture_on_commit_callbacks(execute=True):
        queued = notifications.queue_for([make_alert(webhook_rule(receiver.url()))])
    assert len(queued) == 1
    assert notifications.deliver_due() == 1  # the schedule's run still delivers it


@pytest.mark.django_db
def test_send_test_queues_and_delivers(receiver, mailoutbox):
    rule = webhook_rule(
        receiver.url(), name="Canary", notify_email=True, email_to="ops@example.com"
    )

    alert = notifications.send_test(rule=rule)

    assert alert.kind == Alert.Kind.TEST
    assert alert.message == "Test notification from ArgusLM rule 'Canary'"
    assert notifications.deliver_due() == 2
    assert receiver.json()["event"] == "alert.test"
    assert receiver.requests[0]["headers"]["x-arguslm-event"] == "alert.test"
    assert mailoutbox[0].subject == "[ArgusLM] Test: Canary"


# --- Hostile receivers (tests/hostile.py) ------------------------------------------------------


@pytest.fixture(scope="module")
def hostile():
    from tests.hostile import Hostile

    server = Hostile()
    yield server
    server.close()


def deliver_timed() -> tuple[Notification, float]:
    started = time.monotonic()
    notifications.deliver_due()
    return only(), time.monotonic() - started


@pytest.mark.django_db
def test_an_8_mib_error_answer_is_read_for_its_first_words_only(hostile):
    notifications.queue_for([make_alert(webhook_rule(hostile.url("error8m")))])
    notification, seconds = deliver_timed()
    assert notification.status == Status.PENDING  # a 5xx is worth another try
    assert notification.last_error.startswith("HTTP 500: xxxx")
    assert len(notification.last_error) <= 300
    assert seconds < 2


@pytest.mark.django_db
def test_a_success_with_an_endless_body_is_sent_without_reading_it(hostile):
    notifications.queue_for([make_alert(webhook_rule(hostile.url("endless")))])
    notification, seconds = deliver_timed()
    assert notification.status == Status.SENT
    assert seconds < 1


@pytest.mark.django_db
def test_a_trickling_receiver_is_cut_off_at_the_total_deadline(hostile, monkeypatch):
    # Each byte comes well within the per-read timeout; only the total deadline ends it.
    monkeypatch.setattr(transports, "HTTP_TIMEOUT", 2.0)
    notifications.queue_for([make_alert(webhook_rule(hostile.url("trickle")))])
    notification, seconds = deliver_timed()
    assert notification.status == Status.PENDING
    assert notification.last_error == "timed out after 2 s"
    assert 2 <= seconds < 2.5
