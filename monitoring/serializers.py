"""Request and response shapes of the monitoring API (SDK wire format, metrics.md fields)."""

import math
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from arguslm import errors
from arguslm.api import Paging, after_update
from arguslm.llm.prompts import BY_ID
from monitoring import maintenance, regions, slos
from monitoring.models import (
    MaintenanceWindow,
    ModelBaseline,
    MonitoringConfig,
    MonitoringRun,
    Slo,
    UptimeCheck,
)
from providers.models import LLMModel, ProviderAccount
from providers.serializers import TagFilterField


class MonitoringConfigSerializer(serializers.ModelSerializer):
    class Meta:
        model = MonitoringConfig
        fields = [
            "id",
            "interval_minutes",
            "prompt_pack",
            "enabled",
            "last_run_at",
            "degraded_ttft_ms",
            "degraded_latency_ms",
            "max_tokens",
            "timeout_seconds",
            "concurrency_per_account",
            "retention_days",
            "monthly_budget_usd",
            "down_quorum",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "last_run_at", "created_at", "updated_at"]
        extra_kwargs = {
            "interval_minutes": {"min_value": 1, "max_value": 10080},
            "max_tokens": {"min_value": 1, "max_value": 4096},
            "timeout_seconds": {"min_value": 1, "max_value": 600},
            "concurrency_per_account": {"min_value": 1, "max_value": 256},
            "retention_days": {"min_value": 1, "max_value": 3650},
            "degraded_ttft_ms": {"min_value": 1, "max_value": 3_600_000},
            "degraded_latency_ms": {"min_value": 1, "max_value": 3_600_000},
            # A JSON number (USD), not DRF's default decimal string; null = no budget.
            "monthly_budget_usd": {"min_value": Decimal("0"), "coerce_to_string": False},
            "down_quorum": {
                "min_value": 1,
                "max_value": 64,
                "help_text": "With several probe regions: a model is down when at least this "
                "many of its regions saw it down (null: a majority).",
            },
        }

    def validate_prompt_pack(self, value: str) -> str:
        if value not in BY_ID:
            raise serializers.ValidationError(
                f"Unknown prompt pack '{value}'. Must be one of: {', '.join(sorted(BY_ID))}."
            )
        if BY_ID[value].benchmark_only:
            # Every monitored model gets the pack each interval: a 32k-token prompt a minute
            # per model is a load test, not a probe.
            raise serializers.ValidationError(
                f"Prompt pack '{value}' is for benchmarks only; monitoring needs a pack that "
                "is cheap to send every interval."
            )
        return value


class MonitoringRunResponseSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    status = serializers.CharField()
    message = serializers.CharField()


class MonitoringRunSerializer(serializers.ModelSerializer):
    duration_ms = serializers.FloatField(read_only=True, allow_null=True)
    regions = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The probe regions of the pass (those with a live worker when it started).",
    )

    class Meta:
        model = MonitoringRun
        fields = [
            "id",
            "status",
            "trigger",
            "prompt_pack",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "total",
            "up",
            "degraded",
            "down",
            "shards_total",
            "shards_done",
            "regions",
            "message",
        ]
        read_only_fields = fields


RUNS_PAGING = Paging(default_limit=20, max_limit=500)
MonitoringRunListSerializer = RUNS_PAGING.envelope(MonitoringRunSerializer)


class RunsQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=MonitoringRun.Status.choices, required=False)
    limit, offset = RUNS_PAGING.fields()


class UptimeCheckSerializer(serializers.ModelSerializer):
    model_id = serializers.UUIDField(source="model.id", read_only=True)
    model_name = serializers.CharField(source="model.display_name", read_only=True)
    provider_type = serializers.CharField(
        source="model.provider_account.provider_type", read_only=True
    )
    provider_name = serializers.CharField(
        source="model.provider_account.display_name", read_only=True
    )
    run_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = UptimeCheck
        fields = [
            "id",
            "model_id",
            "model_name",
            "provider_type",
            "provider_name",
            "run_id",
            "status",
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
            "new_connection",
            "connect_ms",
            "error_type",
            "error",
            "answer_excerpt",
            "served_model",
            "system_fingerprint",
            "answer_hash",
            "answer_chars",
            "refusal",
            "in_maintenance",
            "region",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"region": {"help_text": "The probe region the check ran from."}}


class UptimeHistorySerializer(serializers.Serializer):
    items = UptimeCheckSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


UPTIME_PAGING = Paging(default_limit=100, max_limit=10000)


class RegionFilterField(serializers.CharField):
    """``?region=``: checks probed from this region; a well-formed name no worker has used
    matches nothing, a malformed one is a 422."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Only checks probed from this region.")
        super().__init__(required=False, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data) -> str:
        try:
            (name,) = regions.clean_names([super().to_internal_value(data)], self.field_name)
        except errors.Invalid as exc:
            raise serializers.ValidationError(exc.message) from None
        return name


class UptimeQuerySerializer(serializers.Serializer):
    model_id = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=UptimeCheck.Status.choices, required=False)
    since = serializers.DateTimeField(required=False)
    enabled_only = serializers.BooleanField(required=False, default=False)
    tag = TagFilterField(help_text="Only checks of models carrying this tag (own or account's).")
    region = RegionFilterField()
    limit, offset = UPTIME_PAGING.fields()


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["json", "csv"], default="json")
    model_id = serializers.UUIDField(required=False)
    region = RegionFilterField()
    start_date = serializers.DateTimeField(required=False)
    end_date = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        start, end = attrs.get("start_date"), attrs.get("end_date")
        if start and end and start > end:
            raise serializers.ValidationError({"end_date": ["end_date is before start_date."]})
        return attrs


class RegionSerializer(serializers.Serializer):
    """A probe region, known by its workers' heartbeats (monitoring.regions.listing)."""

    name = serializers.CharField()
    home = serializers.BooleanField(
        help_text="The home region (its workers also run schedules, passes and alerts)."
    )
    live = serializers.BooleanField(
        help_text="A worker of the region beat recently; passes probe from live regions only."
    )
    last_seen_at = serializers.DateTimeField(
        allow_null=True, help_text="Its last heartbeat (null: no worker of it has run yet)."
    )
    last_worker = serializers.CharField(
        help_text='The worker cluster that beat last ("host:pid"; "" before any).'
    )


class PromptPackSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    prompt = serializers.CharField()
    expected_tokens = serializers.IntegerField()
    answer_check = serializers.ListField(
        child=serializers.DictField(),
        help_text="Rules a right answer meets (see the README's answer checks); empty: none.",
    )
    temperature = serializers.FloatField(
        allow_null=True, help_text="Sent where the model takes one; null: the model's default."
    )
    tools = serializers.ListField(
        child=serializers.DictField(), help_text="Functions the model may call (OpenAI format)."
    )
    benchmark_only = serializers.BooleanField(
        help_text="True: for benchmarks only, monitoring does not accept it."
    )
    context_tokens = serializers.IntegerField(
        help_text="Long-context packs: a generated document before the prompt brings the "
        "request to about this many input tokens; 0: the prompt alone."
    )
    conversations = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Multi-turn packs: each conversation's user turns, sent one after another "
        "with the model's answers in between; empty: a single prompt.",
    )


class CostModelSerializer(serializers.Serializer):
    model_id = serializers.UUIDField()
    model = serializers.CharField()
    provider = serializers.CharField()
    priced = serializers.BooleanField(help_text="False: no price known (self-hosted, unknown).")
    usd = serializers.FloatField(help_text="Estimated USD per month (0 when unpriced).")
    checks_per_month = serializers.FloatField()
    checks_24h = serializers.IntegerField(help_text="Checks the averages are taken from.")
    avg_input = serializers.FloatField(help_text="Input tokens per check, last 24 h.")
    avg_output = serializers.FloatField(help_text="Output tokens per check, last 24 h.")


class CostSerializer(serializers.Serializer):
    total_usd = serializers.FloatField(help_text="Estimated USD per month of monitoring.")
    unpriced = serializers.IntegerField(help_text="Monitored models without a known price.")
    interval_minutes = serializers.IntegerField()
    checks_per_month = serializers.FloatField(help_text="Per model: 30 days at the interval.")
    month_to_date_usd = serializers.FloatField(help_text="Spent on probes this month.")
    monthly_budget_usd = serializers.FloatField(allow_null=True)
    budget_reached = serializers.BooleanField(
        help_text="Scheduled passes are paused until the month ends or the budget rises."
    )
    models = CostModelSerializer(many=True)


def target_errors(account_id, model_id) -> dict:
    """What a maintenance window or an SLO says of its target: one account or one model,
    and one that exists."""
    if bool(account_id) == bool(model_id):
        return {"account_id": ["Give either account_id or model_id (one of them)."]}
    if account_id and not ProviderAccount.objects.filter(pk=account_id).exists():
        return {"account_id": [f"Provider account {account_id} does not exist."]}
    if model_id and not LLMModel.objects.filter(pk=model_id).exists():
        return {"model_id": [f"Model {model_id} does not exist."]}
    return {}


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    """A maintenance window of one account or one model: once, every week, or on a cron
    schedule (UTC)."""

    account_id = serializers.UUIDField(required=False, allow_null=True)
    model_id = serializers.UUIDField(required=False, allow_null=True)
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        required=False,
        max_length=7,
        help_text="Weekly windows: 0 = Monday … 6 = Sunday.",
    )
    duration_minutes = serializers.IntegerField(
        min_value=1, max_value=10080, required=False, allow_null=True
    )
    active = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "name",
            "account_id",
            "model_id",
            "recurrence",
            "starts_at",
            "ends_at",
            "weekdays",
            "start_time",
            "duration_minutes",
            "cron",
            "active",
            "created_at",
        ]
        read_only_fields = ["id", "active", "created_at"]
        extra_kwargs = {
            "name": {"min_length": 1, "max_length": 200},
            "cron": {"help_text": "Cron windows: 5 fields, UTC, e.g. `30 1 * * 1-5`."},
        }

    def get_active(self, window) -> bool:
        return maintenance.active(window, timezone.now())

    def validate(self, attrs):
        merged = after_update(
            self,
            attrs,
            (
                "account_id",
                "model_id",
                "recurrence",
                "starts_at",
                "ends_at",
                "weekdays",
                "start_time",
                "duration_minutes",
                "cron",
            ),
        )
        errors = target_errors(merged["account_id"], merged["model_id"])
        if merged["recurrence"] == MaintenanceWindow.Recurrence.ONCE:
            if not merged["starts_at"]:
                errors["starts_at"] = ["A one-off window needs starts_at."]
            if not merged["ends_at"]:
                errors["ends_at"] = ["A one-off window needs ends_at."]
            elif merged["starts_at"] and merged["ends_at"] <= merged["starts_at"]:
                errors["ends_at"] = ["ends_at must be after starts_at."]
        elif merged["recurrence"] == MaintenanceWindow.Recurrence.WEEKLY:
            if not merged["weekdays"]:
                errors["weekdays"] = ["A weekly window needs at least one weekday (0-6)."]
            if merged["start_time"] is None:
                errors["start_time"] = ["A weekly window needs start_time (UTC)."]
            if not merged["duration_minutes"]:
                errors["duration_minutes"] = ["A weekly window needs duration_minutes."]
        else:
            if not merged["cron"]:
                errors["cron"] = ["A cron window needs cron (5 fields, UTC)."]
            elif problem := maintenance.cron_problem(merged["cron"]):
                errors["cron"] = [problem]
            if not merged["duration_minutes"]:
                errors["duration_minutes"] = ["A cron window needs duration_minutes."]
        if errors:
            raise serializers.ValidationError(errors)
        attrs["weekdays"] = sorted(set(merged["weekdays"] or []))
        probe = MaintenanceWindow(pk=getattr(self.instance, "pk", None), **merged)
        clash = maintenance.overlapping(probe, timezone.now())
        if clash is not None:
            field = {"once": "starts_at", "weekly": "start_time"}.get(merged["recurrence"], "cron")
            raise serializers.ValidationError(
                {field: [f"Overlaps the maintenance window “{clash.name}” of the same target."]}
            )
        return attrs


MAINTENANCE_PAGING = Paging(default_limit=50, max_limit=500)
MaintenanceWindowListSerializer = MAINTENANCE_PAGING.envelope(MaintenanceWindowSerializer)


class MaintenanceQuerySerializer(serializers.Serializer):
    limit, offset = MAINTENANCE_PAGING.fields()


SLO_PAGING = Paging(default_limit=50, max_limit=200)


class SloQuerySerializer(serializers.Serializer):
    limit, offset = SLO_PAGING.fields()


# Each alert window's burn rate (null: no checks in it, or an endless burn); the window names
# ("5m", "1h") are not Python names, so the class is built from them.
BurnRatesSerializer = type(
    "BurnRatesSerializer",
    (serializers.Serializer,),
    {name: serializers.FloatField(allow_null=True) for name in slos.WINDOWS},
)


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: an endless figure (a 100 % target's burn) is sent as null."""
    return value if value is None or math.isfinite(value) else None


class SloObjectiveSerializer(serializers.Serializer):
    objective = serializers.CharField(source="kind", help_text="availability, ttft or latency")
    target = serializers.FloatField(help_text="Percent of checks that must be good.")
    threshold_ms = serializers.IntegerField(allow_null=True)
    sli = serializers.FloatField(
        allow_null=True, help_text="Percent of the period's checks that were good."
    )
    checks = serializers.IntegerField(source="period.total")
    bad = serializers.IntegerField(source="period.bad")
    allowed_bad = serializers.FloatField(help_text="Bad checks the budget allows in the period.")
    budget_remaining = serializers.SerializerMethodField(
        help_text="1 − bad / allowed_bad: 1 untouched, 0 spent, below 0 overspent."
    )
    burn_rates = serializers.SerializerMethodField()
    alerts = serializers.SerializerMethodField(help_text="The burn-rate alerts firing now.")

    def get_budget_remaining(self, objective) -> float | None:
        return _finite(objective.budget_remaining)

    def get_burn_rates(self, objective) -> BurnRatesSerializer:
        return {name: _finite(objective.burn_rate(name)) for name in slos.WINDOWS}

    def get_alerts(self, objective) -> list[str]:
        return [alert.name for alert in objective.firing]


class SloStatusSerializer(serializers.Serializer):
    computed_at = serializers.DateTimeField()
    budget_remaining = serializers.SerializerMethodField(
        help_text="The lowest of the objectives' remaining budgets."
    )
    firing = serializers.SerializerMethodField(help_text="Whether a burn-rate alert fires.")
    objectives = SloObjectiveSerializer(many=True)

    def get_budget_remaining(self, report) -> float | None:
        return _finite(report.budget_remaining)

    def get_firing(self, report) -> bool:
        return bool(report.firing)


class SloSerializer(serializers.ModelSerializer):
    """An SLO of one account or one model, and (read) its budget and burn rates now."""

    account_id = serializers.UUIDField(required=False, allow_null=True)
    model_id = serializers.UUIDField(required=False, allow_null=True)
    availability_target = serializers.FloatField(
        required=False, allow_null=True, help_text="Percent of checks up or degraded, (0, 100]."
    )
    latency_metric = serializers.ChoiceField(
        choices=Slo.LatencyMetric.choices, required=False, allow_blank=True, allow_null=True
    )
    latency_target = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="Percent of successful checks at or under latency_threshold_ms, (0, 100].",
    )
    latency_threshold_ms = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=600_000
    )
    period_days = serializers.IntegerField(min_value=1, max_value=365, default=30)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Slo
        fields = [
            "id",
            "name",
            "account_id",
            "model_id",
            "availability_target",
            "latency_metric",
            "latency_target",
            "latency_threshold_ms",
            "period_days",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status", "created_at", "updated_at"]
        extra_kwargs = {
            "name": {"min_length": 1, "max_length": 200},
        }

    def get_status(self, slo) -> SloStatusSerializer:
        return SloStatusSerializer(slos.report(slo)).data

    def validate(self, attrs):
        merged = after_update(self, attrs, SLO_FIELDS)
        if errors := target_errors(merged["account_id"], merged["model_id"]):
            raise serializers.ValidationError(errors)
        attrs["latency_metric"] = merged["latency_metric"] = merged["latency_metric"] or ""
        try:
            Slo(pk=getattr(self.instance, "pk", None), **merged).clean()
        except DjangoValidationError as error:
            fields = {"account": "account_id", "model": "model_id"}
            raise serializers.ValidationError(
                {fields.get(k, k): v for k, v in error.message_dict.items()}
            ) from None
        return attrs


SLO_FIELDS = (
    "name",
    "account_id",
    "model_id",
    "availability_target",
    "latency_metric",
    "latency_target",
    "latency_threshold_ms",
    "period_days",
)


SloListSerializer = SLO_PAGING.envelope(SloSerializer)


class ChangeSerializer(serializers.Serializer):
    what = serializers.CharField(help_text="returned model, system fingerprint, answers, …")
    before = serializers.CharField()
    after = serializers.CharField()


class ModelBaselineSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelBaseline
        fields = [
            "prompt_pack",
            "served_models",
            "system_fingerprints",
            "answer_hashes",
            "length_mean",
            "length_std",
            "refusal_share",
            "checks",
            "accepted_at",
            "accepted_by",
        ]
        read_only_fields = fields


class DriftSerializer(serializers.Serializer):
    """A model's accepted baseline (null until it has enough answered checks) and how its
    latest answers differ from it (monitoring.drift)."""

    model_id = serializers.UUIDField()
    prompt_pack = serializers.CharField(help_text="The monitoring pack the answers are of.")
    baseline = ModelBaselineSerializer(allow_null=True)
    changes = ChangeSerializer(many=True)
    checks_needed = serializers.IntegerField(
        help_text="Answered checks of the pack a baseline is drawn from."
    )
