"""Alert rules, incidents, alerts, the append-only event history and notification deliveries."""

import secrets
import uuid

from django.db import models
from django.db.models import Q
from encrypted_model_fields.fields import EncryptedCharField, EncryptedTextField

from alerts import apprise_urls
from arguslm.llm.catalog import origin
from providers.models import LLMModel


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(24)


# Defaults of a performance rule's ``threshold_config``, in one place: the API's serializer,
# the rule form, the evaluation and the rules list all read them here.
THRESHOLD_DEFAULTS = {
    "metric": "latency",
    "comparison": "absolute",
    "factor": 1.5,
    "window_minutes": 15,
    "baseline_hours": 24,
    "min_samples": 3,
}


# The same for a benchmark_regression rule (benchmarks.saved.regressions reads them).
REGRESSION_DEFAULTS = {"metric": "ttft", "threshold_percent": 10}


def threshold_setting(config: dict | None, name: str, defaults: dict = THRESHOLD_DEFAULTS):
    """One key of a ``threshold_config``, or its default."""
    value = (config or {}).get(name)
    return defaults.get(name) if value is None else value


class AlertRule(models.Model):
    """A condition evaluated after every monitoring pass (or benchmark run), and where to alert."""

    class RuleType(models.TextChoices):
        ANY_MODEL_DOWN = "any_model_down"
        SPECIFIC_MODEL_DOWN = "specific_model_down"
        MODEL_UNAVAILABLE_EVERYWHERE = "model_unavailable_everywhere"
        PERFORMANCE_DEGRADATION = "performance_degradation"
        SLO_BURN_RATE = "slo_burn_rate"  # monitoring.slos: multi-window burn-rate alerts
        MODEL_CHANGED = "model_changed"  # monitoring.drift: a model answers unlike its baseline
        # benchmarks.saved: a saved benchmark's run is significantly worse than its baseline
        BENCHMARK_REGRESSION = "benchmark_regression"

    class WebhookFormat(models.TextChoices):
        GENERIC = "generic", "Generic JSON (HMAC-signed)"
        SLACK = "slack", "Slack incoming webhook"
        DISCORD = "discord", "Discord webhook"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    rule_type = models.CharField(max_length=50, choices=RuleType.choices)
    enabled = models.BooleanField(default=True)
    target_model = models.ForeignKey(
        LLMModel, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    target_model_name = models.CharField(max_length=255, null=True, blank=True)
    # slo_burn_rate: the SLO to watch (None: every SLO).
    target_slo = models.ForeignKey(
        "monitoring.Slo",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
    )
    # benchmark_regression: the saved benchmark to watch (None: every one with a baseline).
    target_template = models.ForeignKey(
        "benchmarks.BenchmarkTemplate",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
    )
    threshold_config = models.JSONField(null=True, blank=True)
    # Flapping control: how many failing passes open an incident, healthy ones close it.
    consecutive_failures = models.PositiveIntegerField(default=1)
    consecutive_recoveries = models.PositiveIntegerField(default=1)
    notify_in_app = models.BooleanField(default=True)
    notify_email = models.BooleanField(default=False)
    email_to = models.CharField(
        max_length=1000, blank=True, default="", help_text="Comma-separated; empty = superusers."
    )
    notify_webhook = models.BooleanField(default=False)
    # Slack and Discord URLs are bearer credentials: encrypted at rest, never shown whole.
    webhook_url = EncryptedTextField(null=True, blank=True)
    webhook_format = models.CharField(
        max_length=20, choices=WebhookFormat.choices, default=WebhookFormat.GENERIC
    )
    # An open, unacknowledged incident notifies again every N minutes (None: never) and after
    # M minutes also goes to the escalation addresses (alerts.reminders).
    remind_every_minutes = models.PositiveIntegerField(null=True, blank=True)
    escalate_after_minutes = models.PositiveIntegerField(null=True, blank=True)
    escalate_email_to = models.CharField(max_length=1000, blank=True, default="")
    # Signs generic webhooks; encrypted at rest, shown once (when created or rotated).
    webhook_secret = EncryptedCharField(max_length=64, default=new_webhook_secret)
    notify_apprise = models.BooleanField(default=False)
    # Apprise URLs (one per line or comma-separated) carry their services' tokens: encrypted.
    apprise_urls = EncryptedTextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def apprise_services(self) -> str:
        """The Apprise URLs' schemes ("ntfy, pagerduty"): what may be shown of them."""
        return apprise_urls.services(self.apprise_urls)

    @property
    def webhook_host(self) -> str | None:
        """Where webhooks go (scheme, host and port): the part of the URL that may be shown."""
        return origin(self.webhook_url)


class Incident(models.Model):
    """One condition of one rule for one subject (a model, or "*" across models), open→resolved."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="incidents")
    model = models.ForeignKey(
        LLMModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    # A model id, "*" for cross-model rules, "account:<id>" when most of an account's models
    # are down, "network" when every account is (see alerts.evaluation), "slo:<id>", or
    # "bench:<template id>:<model id>" (alerts.regressions; 79 characters).
    subject = models.CharField(max_length=100)
    # The wider incident this one is held under (an account's, or the network's): it is not
    # notified on its own while that one is open.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="held"
    )
    summary = models.TextField()
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)  # the last reminder
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # One open incident per (rule, subject): an ongoing outage is one incident.
            models.UniqueConstraint(
                fields=["rule", "subject"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_incident_per_rule_subject",
            )
        ]
        indexes = [
            # The alerts page and the dashboard list open incidents.
            models.Index(fields=["resolved_at", "-opened_at"], name="incident_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.name}: {self.summary}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class RuleState(models.Model):
    """Consecutive failing/healthy evaluations of a rule for a subject (flap suppression)."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="states")
    subject = models.CharField(max_length=100)  # as Incident.subject
    fail_streak = models.PositiveIntegerField(default=0)
    ok_streak = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "subject"], name="one_state_per_subject")
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.subject}: fail {self.fail_streak}, ok {self.ok_streak}"


class Alert(models.Model):
    """A notification-worthy change: an incident fired or recovered (or a test)."""

    class Kind(models.TextChoices):
        FIRED = "fired"
        RECOVERED = "recovered"
        TEST = "test"
        REMINDER = "reminder"  # still open and unacknowledged
        ESCALATED = "escalated"  # unacknowledged too long: sent to the escalation addresses

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    model = models.ForeignKey(
        LLMModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FIRED)
    message = models.TextField()
    acknowledged = models.BooleanField(default=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The bell: unread count and recent alerts; GET /alerts?acknowledged=.
            models.Index(fields=["acknowledged", "-created_at"], name="alert_ack_created_idx"),
            models.Index(fields=["-created_at"], name="alert_created_idx"),
            # GET /alerts?rule_id=.
            models.Index(fields=["rule", "-created_at"], name="alert_rule_created_idx"),
        ]

    def __str__(self) -> str:
        return self.message


class AlertEvent(models.Model):
    """Append-only history of incident state changes (never updated or deleted by the app)."""

    class Event(models.TextChoices):
        OPENED = "opened"
        RESOLVED = "resolved"
        ACKNOWLEDGED = "acknowledged"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=20, choices=Event.choices)
    detail = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.event}"


class Notification(models.Model):
    """One alert to one channel: the delivery work queue and its outcome (sent at most once)."""

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"
        SLACK = "slack"
        DISCORD = "discord"
        APPRISE = "apprise"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    # The email addresses, the webhook URL or the Apprise URLs (credentials): encrypted at rest.
    target = EncryptedTextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel"], name="one_notification_per_channel"
            )
        ]
        indexes = [
            # The delivery worker picks due notifications.
            models.Index(fields=["status", "next_attempt_at"], name="notification_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} → {self.safe_target} ({self.status})"

    @property
    def safe_target(self) -> str:
        """The target as it may be shown: email addresses whole, a URL as its host only,
        Apprise URLs as their schemes."""
        if self.channel == self.Channel.EMAIL:
            return self.target
        if self.channel == self.Channel.APPRISE:
            return apprise_urls.services(self.target)
        return origin(self.target) or ""


class DeliveryAttempt(models.Model):
    """Every attempt to deliver a notification, with its outcome (the delivery log)."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveIntegerField()
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.notification_id}: {'ok' if self.ok else 'failed'}"
