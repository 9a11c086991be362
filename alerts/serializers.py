"""Request and response shapes of the alerts API (SDK wire format)."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from rest_framework import serializers

from alerts import apprise_urls
from alerts.models import (
    REGRESSION_DEFAULTS,
    THRESHOLD_DEFAULTS,
    Alert,
    AlertRule,
    DeliveryAttempt,
    Incident,
    Notification,
)
from arguslm.api import Paging, after_update, reject_null_characters
from arguslm.llm import egress
from benchmarks.models import BenchmarkTemplate
from benchmarks.saved import METRICS as REGRESSION_METRICS
from monitoring.models import Slo
from providers.models import LLMModel

METRICS = ("ttft", "latency", "tps", "error_rate")
COMPARISONS = ("absolute", "baseline")


class ThresholdConfigSerializer(serializers.Serializer):
    """``threshold_config`` of a performance_degradation rule."""

    metric = serializers.ChoiceField(choices=METRICS)
    comparison = serializers.ChoiceField(
        choices=COMPARISONS, default=THRESHOLD_DEFAULTS["comparison"]
    )
    threshold = serializers.FloatField(
        required=False,
        min_value=0,
        help_text="absolute: ms for ttft/latency, tok/s for tps, a 0–1 fraction for error_rate",
    )
    factor = serializers.FloatField(
        required=False,
        min_value=1.01,
        max_value=100,
        default=THRESHOLD_DEFAULTS["factor"],
        help_text="baseline: how many times worse than the model's own median counts as degraded",
    )
    window_minutes = serializers.IntegerField(
        min_value=1, max_value=1440, default=THRESHOLD_DEFAULTS["window_minutes"]
    )
    baseline_hours = serializers.IntegerField(
        min_value=1, max_value=720, default=THRESHOLD_DEFAULTS["baseline_hours"]
    )
    min_samples = serializers.IntegerField(
        min_value=1, max_value=1000, default=THRESHOLD_DEFAULTS["min_samples"]
    )
    target_model_id = serializers.UUIDField(required=False)

    def validate(self, attrs):
        if attrs["comparison"] == "absolute" and "threshold" not in attrs:
            raise serializers.ValidationError(
                {"threshold": ["Required for an absolute comparison."]}
            )
        if attrs["metric"] == "error_rate" and attrs.get("threshold", 0) > 1:
            raise serializers.ValidationError(
                {"threshold": ["An error rate is a fraction from 0 to 1."]}
            )
        if "target_model_id" in attrs:
            attrs["target_model_id"] = str(attrs["target_model_id"])
        return attrs


class RegressionConfigSerializer(serializers.Serializer):
    """``threshold_config`` of a benchmark_regression rule."""

    metric = serializers.ChoiceField(
        choices=list(REGRESSION_METRICS),
        default=REGRESSION_DEFAULTS["metric"],
        help_text="The median compared with the baseline run: ttft, latency, itl (ms; higher "
        "is worse) or tps (decode speed; lower is worse).",
    )
    threshold_percent = serializers.FloatField(
        min_value=0,
        max_value=1000,
        default=REGRESSION_DEFAULTS["threshold_percent"],
        help_text="A significant change in the worse direction fires at this size or more.",
    )


def _addresses(value: str, field: str) -> str:
    """Comma-separated email addresses, each checked, joined as ", " within the column."""
    addresses = [a.strip() for a in (value or "").split(",") if a.strip()]
    for address in addresses:
        try:
            validate_email(address)
        except DjangoValidationError:
            raise serializers.ValidationError(f"'{address}' is not an email address.") from None
    joined = ", ".join(addresses)
    # Joining with ", " can lengthen the input past the column (a DataError on PostgreSQL).
    max_length = AlertRule._meta.get_field(field).max_length
    if len(joined) > max_length:
        raise serializers.ValidationError(
            f"Ensure this field has no more than {max_length} characters."
        )
    return joined


class AlertRuleSerializer(serializers.ModelSerializer):
    target_model_id = serializers.PrimaryKeyRelatedField(
        source="target_model",
        queryset=LLMModel.objects.all(),
        required=False,
        allow_null=True,
        pk_field=serializers.UUIDField(),
    )
    target_slo_id = serializers.PrimaryKeyRelatedField(
        source="target_slo",
        queryset=Slo.objects.all(),
        required=False,
        allow_null=True,
        pk_field=serializers.UUIDField(),
        help_text="slo_burn_rate: the SLO to watch (null: every SLO).",
    )
    target_template_id = serializers.PrimaryKeyRelatedField(
        source="target_template",
        queryset=BenchmarkTemplate.objects.all(),
        required=False,
        allow_null=True,
        pk_field=serializers.UUIDField(),
        help_text="benchmark_regression: the saved benchmark to watch (null: every one).",
    )
    threshold_config = serializers.JSONField(
        required=False, allow_null=True, validators=[reject_null_characters]
    )
    rule_type = serializers.ChoiceField(choices=AlertRule.RuleType.choices)
    consecutive_failures = serializers.IntegerField(min_value=1, max_value=100, required=False)
    consecutive_recoveries = serializers.IntegerField(min_value=1, max_value=100, required=False)
    remind_every_minutes = serializers.IntegerField(
        min_value=5,
        max_value=1440,
        required=False,
        allow_null=True,
        help_text="Notify again every N minutes while an incident is open and unacknowledged.",
    )
    escalate_after_minutes = serializers.IntegerField(
        min_value=1,
        max_value=10080,
        required=False,
        allow_null=True,
        help_text="After N minutes unacknowledged, also notify escalate_email_to.",
    )
    # A Slack or Discord URL is a bearer credential: accepted, never sent back (its host is).
    webhook_url = serializers.URLField(
        max_length=500, required=False, allow_null=True, allow_blank=True, write_only=True
    )
    webhook_host = serializers.CharField(
        read_only=True, allow_null=True, help_text="Scheme, host and port of the webhook URL."
    )
    # Apprise URLs carry their services' tokens: accepted, never sent back (their schemes are).
    apprise_urls = serializers.CharField(
        max_length=apprise_urls.MAX_CHARS,
        required=False,
        allow_null=True,
        allow_blank=True,
        write_only=True,
        help_text=(
            f"Up to {apprise_urls.MAX_URLS} Apprise URLs (https://github.com/caronc/apprise/wiki), "
            "one per line or comma-separated, e.g. ntfy://ntfy.example.com/alerts."
        ),
    )
    apprise_services = serializers.CharField(
        read_only=True,
        help_text='The Apprise URLs\' services (their schemes), e.g. "ntfy, pagerduty".',
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "rule_type",
            "enabled",
            "target_model_id",
            "target_model_name",
            "target_slo_id",
            "target_template_id",
            "threshold_config",
            "consecutive_failures",
            "consecutive_recoveries",
            "notify_in_app",
            "notify_email",
            "email_to",
            "remind_every_minutes",
            "escalate_after_minutes",
            "escalate_email_to",
            "notify_webhook",
            "webhook_url",
            "webhook_host",
            "webhook_format",
            "notify_apprise",
            "apprise_urls",
            "apprise_services",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"min_length": 1, "max_length": 255}}

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()

    def validate_email_to(self, value: str) -> str:
        return _addresses(value, "email_to")

    def validate_escalate_email_to(self, value: str) -> str:
        return _addresses(value, "escalate_email_to")

    def validate_threshold_config(self, value):
        # The SDK parses threshold_config as an object: anything else breaks its rule list.
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        return value

    def validate_webhook_url(self, value: str | None) -> str | None:
        # Only HTTP(S) can be delivered: the URL validator would also accept ftp:// URLs.
        if value and urlsplit(value).scheme.lower() not in ("http", "https"):
            raise serializers.ValidationError("Enter an http:// or https:// URL.")
        if value and (reason := egress.url_refusal(value, private=egress.private_allowed(None))):
            raise serializers.ValidationError(
                f"This URL cannot be reached under the network policy: {reason}"
            )
        return value

    def validate_apprise_urls(self, value: str | None) -> str | None:
        # Capped (max_length above) before Apprise parses anything; stored one per line.
        if problems := apprise_urls.problems(value or ""):
            raise serializers.ValidationError(problems)
        return "\n".join(apprise_urls.split(value)) or None

    def validate(self, attrs):
        merged = after_update(
            self,
            attrs,
            (
                "rule_type",
                "target_model",
                "target_model_name",
                "threshold_config",
                "notify_webhook",
                "webhook_url",
                "escalate_after_minutes",
                "escalate_email_to",
                "notify_apprise",
                "apprise_urls",
            ),
        )
        kind = merged["rule_type"]
        errors: dict = {}
        if kind == AlertRule.RuleType.SPECIFIC_MODEL_DOWN and merged["target_model"] is None:
            errors["target_model_id"] = ["specific_model_down rule requires target_model_id."]
        if (
            kind == AlertRule.RuleType.MODEL_UNAVAILABLE_EVERYWHERE
            and not (merged["target_model_name"] or "").strip()
        ):
            errors["target_model_name"] = [
                "model_unavailable_everywhere rule requires target_model_name."
            ]
        if kind == AlertRule.RuleType.PERFORMANCE_DEGRADATION:
            config = ThresholdConfigSerializer(data=merged["threshold_config"] or {})
            if not config.is_valid():
                errors["threshold_config"] = config.errors
            else:
                attrs["threshold_config"] = config.validated_data
                target = config.validated_data.get("target_model_id")
                if target and not LLMModel.objects.filter(pk=target).exists():
                    errors["threshold_config"] = {
                        "target_model_id": [f"Model {target} does not exist."]
                    }
        if kind == AlertRule.RuleType.BENCHMARK_REGRESSION:
            config = RegressionConfigSerializer(data=merged["threshold_config"] or {})
            if not config.is_valid():
                errors["threshold_config"] = config.errors
            else:
                attrs["threshold_config"] = config.validated_data
        if merged["escalate_after_minutes"] and not (merged["escalate_email_to"] or "").strip():
            errors["escalate_email_to"] = [
                "Escalation needs at least one address (escalate_email_to)."
            ]
        if merged["notify_webhook"] and not merged["webhook_url"]:
            errors["webhook_url"] = ["A webhook URL is required when notify_webhook is true."]
        if merged["notify_apprise"] and not merged["apprise_urls"]:
            errors["apprise_urls"] = ["Apprise URLs are required when notify_apprise is true."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class AlertRuleCreatedSerializer(AlertRuleSerializer):
    """The answer to creating a rule: the one response that carries its signing secret."""

    webhook_secret = serializers.CharField(
        read_only=True,
        help_text="Signs the generic webhook's requests. Shown here only (and by rotate-secret).",
    )

    class Meta(AlertRuleSerializer.Meta):
        fields = [*AlertRuleSerializer.Meta.fields, "webhook_secret"]


class AlertSerializer(serializers.ModelSerializer):
    rule_id = serializers.UUIDField(read_only=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    model_id = serializers.UUIDField(read_only=True, allow_null=True)
    model_name = serializers.SerializerMethodField()
    incident_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule_id",
            "rule_name",
            "model_id",
            "model_name",
            "incident_id",
            "kind",
            "message",
            "acknowledged",
            "acknowledged_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_model_name(self, obj: Alert) -> str | None:
        return obj.model.display_name if obj.model_id else None


# Alerts, incidents and deliveries page alike (only the alerts list has the envelope).
PAGING = Paging(default_limit=50, max_limit=500)
AlertListSerializer = PAGING.envelope(
    AlertSerializer, unacknowledged_count=serializers.IntegerField()
)


class AlertQuerySerializer(serializers.Serializer):
    rule_id = serializers.UUIDField(required=False)
    acknowledged = serializers.BooleanField(required=False, allow_null=True, default=None)
    since = serializers.DateTimeField(required=False)
    limit, offset = PAGING.fields()


class RecentQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(default=10, min_value=1, max_value=50)


class RecentAlertsSerializer(serializers.Serializer):
    items = AlertSerializer(many=True)
    total_unread = serializers.IntegerField()


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class IncidentSerializer(serializers.ModelSerializer):
    rule_id = serializers.UUIDField(read_only=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    model_id = serializers.UUIDField(read_only=True, allow_null=True)
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "rule_id",
            "rule_name",
            "model_id",
            "subject",
            "summary",
            "opened_at",
            "resolved_at",
            "is_open",
        ]
        read_only_fields = fields


class IncidentQuerySerializer(serializers.Serializer):
    open = serializers.BooleanField(required=False, allow_null=True, default=None)
    limit, offset = PAGING.fields()


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "ok", "status_code", "error", "duration_ms", "created_at"]
        read_only_fields = fields


class WebhookSecretSerializer(serializers.Serializer):
    webhook_secret = serializers.CharField()


class NotificationSerializer(serializers.ModelSerializer):
    alert_id = serializers.UUIDField(read_only=True)
    target = serializers.CharField(
        source="safe_target",
        read_only=True,
        help_text="Email addresses, a webhook's host, or the Apprise URLs' services.",
    )
    message = serializers.CharField(source="alert.message", read_only=True)
    log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Notification
        fields = [
            "id",
            "alert_id",
            "message",
            "channel",
            "target",
            "status",
            "attempts",
            "next_attempt_at",
            "sent_at",
            "last_error",
            "created_at",
            "log",
        ]
        read_only_fields = fields


class PageQuerySerializer(serializers.Serializer):
    limit, offset = PAGING.fields()
