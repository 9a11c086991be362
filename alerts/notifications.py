"""Alert notification delivery: queue one Notification per channel, deliver each at most once.

``queue_for`` turns alerts into Notification rows (the work queue) and nudges the worker;
``deliver_due`` (the django-q2 task, also run every minute by the schedule) claims due rows
one at a time with a conditional update, sends them through ``alerts.transports`` and logs a
DeliveryAttempt per try. Transient failures come back with exponential back-off; permanent ones
fail at once. A row left in "sending" by a worker that died is failed, never resent: the
receiver may already have it, and a duplicate page is worse than a visible failure.
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from alerts import transports
from alerts.models import Alert, AlertRule, DeliveryAttempt, Notification
from alerts.transports import Outcome

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
# Far beyond one send (10 s HTTP and Apprise deadlines, 10 s SMTP timeout), so a live worker
# is never mistaken for a dead one.
STUCK_AFTER = timedelta(minutes=10)
STUCK_ERROR = "outcome unknown: the worker stopped while sending; not resent to avoid a duplicate"

WEBHOOK_CHANNELS = {
    AlertRule.WebhookFormat.GENERIC: Notification.Channel.WEBHOOK,
    AlertRule.WebhookFormat.SLACK: Notification.Channel.SLACK,
    AlertRule.WebhookFormat.DISCORD: Notification.Channel.DISCORD,
}


def queue_for(alerts: list[Alert]) -> list[Notification]:
    """Queue the alerts' email/webhook/Apprise notifications; returns them (new or earlier).

    Idempotent: (alert, channel) is unique, so queuing an alert twice never sends it twice.
    """
    now = timezone.now()
    superuser_emails: list[str] | None = None  # looked up once, only if a rule needs it
    notifications: list[Notification] = []
    created_any = False
    for alert in alerts:
        rule = alert.rule
        if alert.kind == Alert.Kind.ESCALATED:
            # Escalation goes to its own addresses only (the usual channels had the first
            # alert and the reminders).
            to = rule.escalate_email_to.strip()
            targets = [(Notification.Channel.EMAIL, to)] if to else []
        else:
            if rule.notify_email and not rule.email_to.strip() and superuser_emails is None:
                superuser_emails = _superuser_emails()
            targets = _usual_targets(rule, superuser_emails or [])
        for channel, target in targets:
            notification, created = Notification.objects.get_or_create(
                alert=alert,
                channel=channel,
                defaults={"target": target, "next_attempt_at": now},
            )
            notifications.append(notification)
            created_any |= created
    if created_any:
        # After commit: a worker polling another connection must be able to see the rows.
        transaction.on_commit(_start_delivery)
    return notifications


def _usual_targets(rule: AlertRule, superuser_emails: list[str]) -> list[tuple[str, str]]:
    """(channel, target) of each channel the rule notifies (an empty email list: superusers)."""
    targets: list[tuple[str, str]] = []
    if rule.notify_email:
        to = rule.email_to.strip() or ",".join(superuser_emails)
        if to:
            targets.append((Notification.Channel.EMAIL, to))
        else:
            log.warning("rule %s emails superusers, but none has an address", rule.pk)
    if rule.notify_webhook and rule.webhook_url:
        channel = WEBHOOK_CHANNELS.get(rule.webhook_format, Notification.Channel.WEBHOOK)
        targets.append((channel, rule.webhook_url))
    if rule.notify_apprise and rule.apprise_urls:
        targets.append((Notification.Channel.APPRISE, rule.apprise_urls))
    return targets


def _superuser_emails() -> list[str]:
    users = get_user_model().objects.filter(is_superuser=True, is_active=True).exclude(email="")
    return list(users.order_by("pk").values_list("email", flat=True))


def _start_delivery() -> None:
    try:
        from django_q.tasks import async_task

        async_task("alerts.tasks.deliver_due")
    except Exception:
        # A broken broker must never break rule evaluation: the per-minute schedule delivers.
        log.warning("could not queue notification delivery; the schedule will", exc_info=True)


def send_test(*, rule: AlertRule) -> Alert:
    """Raise a test alert for ``rule`` and queue it to the rule's channels."""
    alert = Alert.objects.create(
        rule=rule,
        model=rule.target_model,
        kind=Alert.Kind.TEST,
        message=f"Test notification from ArgusLM rule '{rule.name}'",
    )
    queue_for([alert])
    return alert


def deliver_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Fail stuck sends, then deliver up to ``limit`` due notifications; returns how many sent.

    ``now`` pins the clock (tests); by default each claim reads the real time, so a long
    batch never stamps a claim with a time that makes it look stuck to another worker.
    """

    def clock() -> datetime:
        return now if now is not None else timezone.now()

    fail_stuck(now=clock())
    due = (
        Notification.objects.filter(
            status=Notification.Status.PENDING, next_attempt_at__lte=clock()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for pk in list(due):
        claimed_at = clock()
        claimed = Notification.objects.filter(
            pk=pk, status=Notification.Status.PENDING, next_attempt_at__lte=claimed_at
        ).update(
            status=Notification.Status.SENDING,
            claimed_at=claimed_at,
            # Counted at the claim, so a worker that dies mid-send still used up an attempt.
            attempts=F("attempts") + 1,
        )
        if claimed != 1:  # another worker took it
            continue
        sent += _deliver(pk, clock)
    return sent


def fail_stuck(*, now: datetime) -> int:
    """Fail notifications left in "sending" by a worker that died; returns how many."""
    stuck = Notification.objects.filter(
        status=Notification.Status.SENDING, claimed_at__lt=now - STUCK_AFTER
    )
    failed = 0
    for notification in stuck:
        with transaction.atomic():
            # Conditional on the same claim: its worker may have finished in the meantime.
            if (
                Notification.objects.filter(
                    pk=notification.pk,
                    status=Notification.Status.SENDING,
                    claimed_at=notification.claimed_at,
                ).update(status=Notification.Status.FAILED, last_error=STUCK_ERROR)
                != 1
            ):
                continue
            DeliveryAttempt.objects.create(
                notification=notification, number=notification.attempts, ok=False, error=STUCK_ERROR
            )
        log.warning("notification %s: %s", notification.pk, STUCK_ERROR)
        failed += 1
    return failed


def _deliver(pk: object, clock: Callable[[], datetime]) -> int:
    """Send one claimed notification and record the outcome; 1 if it was sent, else 0."""
    notification = Notification.objects.select_related(
        "alert__rule", "alert__model__provider_account", "alert__incident"
    ).get(pk=pk)
    started = time.monotonic()
    try:
        outcome = transports.for_channel(notification.channel).notify(notification)
    except Exception as exc:
        # A bug (a template error, say) must not leave the row in "sending" to look stuck.
        log.exception("notification %s: the transport raised", pk)
        detail = transports.redact(str(exc), notification)
        outcome = Outcome(ok=False, error=f"internal error: {type(exc).__name__}: {detail}")
    duration_ms = (time.monotonic() - started) * 1000
    finished = clock()
    fields = _next_state(notification.attempts, outcome, finished)
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            notification=notification,
            number=notification.attempts,
            ok=outcome.ok,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=duration_ms,
        )
        Notification.objects.filter(pk=pk).update(**fields)
    log.info(
        "notification %s via %s to %s, attempt %d: %s%s",
        pk,
        notification.channel,
        transports.safe_target(notification),
        notification.attempts,
        fields["status"],
        f" ({outcome.error})" if outcome.error else "",
    )
    return 1 if outcome.ok else 0


def _next_state(attempts: int, outcome: Outcome, now: datetime) -> dict:
    if outcome.ok:
        return {"status": Notification.Status.SENT, "sent_at": now, "last_error": ""}
    if outcome.transient and attempts < MAX_ATTEMPTS:
        return {
            "status": Notification.Status.PENDING,
            "next_attempt_at": now + backoff(attempts, retry_after=outcome.retry_after),
            "last_error": outcome.error,
            # Only what failed is sent again: a service that has the alert must not get it twice.
            **({"target": outcome.retry_target} if outcome.retry_target else {}),
        }
    error = outcome.error
    if outcome.transient:
        error = f"{error} (gave up after {attempts} attempts)"
    return {"status": Notification.Status.FAILED, "last_error": error}


def backoff(attempts: int, *, retry_after: float | None = None) -> timedelta:
    """Wait before the next try: 30 s doubling per attempt, or longer if the receiver asks.

    Retry-After is a floor, not a replacement: "retry in 1 s" from a struggling server should
    not turn our back-off into a hammering. Capped at an hour either way.
    """
    delay = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return min(delay, MAX_RETRY)
