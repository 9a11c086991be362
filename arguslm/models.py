"""System state shared by every app: encryption canary, heartbeats, login attempts, audit log,
API tokens."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedCharField


class EncryptionCanary(models.Model):
    """A known value encrypted with the credential key, to detect a wrong key at start."""

    value = EncryptedCharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Encryption canary {self.pk}"


class Heartbeat(models.Model):
    """The last time a background process showed it was alive (``/ready`` reads it)."""

    name = models.CharField(max_length=100, primary_key=True)
    seen_at = models.DateTimeField()
    info = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class LoginAttempt(models.Model):
    """A failed (or in-flight) login, kept for the rate-limit window and then pruned."""

    username = models.CharField(max_length=150, blank=True)  # lower-cased as typed
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(db_index=True)  # the prune deletes rows older than the window

    class Meta:
        indexes = [
            # The login view counts recent failures per username and IP (narrowed by the
            # username) and per client IP.
            models.Index(fields=["username", "at"], name="login_attempt_user_idx"),
            models.Index(fields=["ip", "at"], name="login_attempt_ip_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.username or '?'} from {self.ip or '?'} at {self.at:%Y-%m-%d %H:%M:%S}"


class AuditEvent(models.Model):
    """Who changed which configuration object, logged in, or tested a provider connection, and
    how (append-only; never holds secrets)."""

    class Action(models.TextChoices):
        CREATED = "created"
        UPDATED = "updated"
        DELETED = "deleted"
        KEY_ROTATED = "key_rotated"
        LOGGED_IN = "logged_in"
        LOGIN_FAILED = "login_failed"
        CONNECTION_TESTED = "connection_tested"

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,  # the label keeps naming a deleted user
        related_name="+",
    )
    # "alice", "api-token:alice", "anonymous" or "system"
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=100)  # app_label.modelname
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=255, blank=True)
    # {field: {"old": …, "new": …}}; secrets only as {"changed": true} or key names.
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The admin list and `manage.py audit_log` show the newest events.
            models.Index(fields=["-at"], name="audit_at_idx"),
            # The history of one object.
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_label}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("Audit events are append-only: they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only: they cannot be deleted.")


class ApiToken(models.Model):
    """A user's API token, stored as a SHA-256 digest: the key itself is shown once, when
    issued (``arguslm.tokens.issue``), and cannot be read back. A token acts as its user,
    limited further by its scope, until it expires or is revoked (deleted)."""

    class Scope(models.TextChoices):
        FULL = "full", "Full access (as the user)"
        READ = "read", "Read only"
        METRICS = "metrics", "Prometheus metrics only"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The key's first characters, to tell tokens apart in lists (not enough to use one).
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.FULL)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.scope})"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class MeasuredSample(models.Model):
    """The per-sample fields of metrics.md, shared by uptime checks and benchmark results."""

    SAMPLE_FIELDS = (
        "ttft_ms",
        "ttfat_ms",
        "latency_ms",
        "tps",
        "tps_excluding_ttft",
        "tpot_ms",
        "itl_mean_ms",
        "itl_p95_ms",
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "token_source",
        "chunks",
        "queue_ms",
        "new_connection",
        "connect_ms",
        "error_type",
        "error",
    )

    ttft_ms = models.FloatField(null=True, blank=True)
    ttfat_ms = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    tps = models.FloatField(null=True, blank=True)
    tps_excluding_ttft = models.FloatField(null=True, blank=True)
    tpot_ms = models.FloatField(null=True, blank=True)
    itl_mean_ms = models.FloatField(null=True, blank=True)  # inter-token latency (metrics.md)
    itl_p95_ms = models.FloatField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    # "usage", "limit" or "estimate" (docs/metrics.md).
    token_source = models.CharField(max_length=10, null=True, blank=True)
    chunks = models.PositiveIntegerField(default=0)
    queue_ms = models.FloatField(default=0)
    # Whether the request opened a new connection, and its TCP + TLS time (docs/metrics.md).
    new_connection = models.BooleanField(null=True, blank=True)
    connect_ms = models.FloatField(null=True, blank=True)
    error_type = models.CharField(max_length=20, null=True, blank=True)
    error = models.TextField(null=True, blank=True)

    class Meta:
        abstract = True

    @classmethod
    def sample_values(cls, sample) -> dict:
        """The fields of a gateway ``Sample`` as model field values."""
        return {name: getattr(sample, name) for name in cls.SAMPLE_FIELDS}
