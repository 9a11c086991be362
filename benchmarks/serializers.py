"""Request and response shapes of the benchmarks API (SDK wire format, metrics.md fields)."""

from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from arguslm.llm.prompts import BY_ID
from benchmarks import capacity, load
from benchmarks.models import BenchmarkResult, BenchmarkRun
from benchmarks.stats import is_failed
from providers.models import LLMModel


class LoadSpecSerializer(serializers.Serializer):
    """A sweep's load (benchmarks.load holds the rules between the keys)."""

    levels = serializers.ListField(
        child=serializers.FloatField(),
        required=False,
        max_length=load.MAX_LEVELS,
        help_text="Increasing load levels: concurrent streams, or requests per second.",
    )
    max = serializers.FloatField(
        required=False, help_text="Instead of levels: start, 2×start, 4×start … up to max."
    )
    start = serializers.FloatField(required=False, min_value=load.MIN_RATE)
    step_seconds = serializers.FloatField(
        required=False, min_value=1, max_value=load.MAX_STEP_SECONDS
    )
    step_requests = serializers.IntegerField(
        required=False, min_value=1, max_value=load.MAX_STEP_REQUESTS
    )
    arrivals = serializers.ChoiceField(
        choices=load.ARRIVALS, required=False, help_text="Rate sweeps: even spacing or Poisson."
    )


class SloSpecSerializer(serializers.Serializer):
    """What a step must meet to count as sustainable (benchmarks.capacity)."""

    metric = serializers.ChoiceField(choices=list(capacity.METRICS))
    percentile = serializers.ChoiceField(choices=capacity.PERCENTILES, default=95)
    max_ms = serializers.FloatField(min_value=0.001)
    max_error_rate = serializers.FloatField(
        min_value=0, max_value=100, default=capacity.DEFAULT_MAX_ERROR_RATE, help_text="Percent."
    )


class BenchmarkCreateSerializer(serializers.Serializer):
    model_ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=50)
    prompt_pack = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    max_tokens = serializers.IntegerField(min_value=1, max_value=4096, default=200)
    num_runs = serializers.IntegerField(min_value=1, max_value=10, default=3)
    concurrency = serializers.IntegerField(
        min_value=1, max_value=10, default=1, help_text="Concurrent requests per model."
    )
    warmup_runs = serializers.IntegerField(
        min_value=0, max_value=5, default=1, help_text="Discarded requests per model, run first."
    )
    profile = serializers.ChoiceField(
        choices=BenchmarkRun.Profile.choices,
        default=BenchmarkRun.Profile.FIXED,
        help_text="fixed: num_runs requests per model at concurrency. Sweeps step through "
        "load levels, one model at a time.",
    )
    load = LoadSpecSerializer(required=False, allow_null=True)
    slo = SloSpecSerializer(
        required=False,
        allow_null=True,
        help_text="Sweeps: the largest step meeting it is the max sustainable load.",
    )

    def validate_prompt_pack(self, value: str) -> str:
        if value not in BY_ID:
            raise serializers.ValidationError(
                f"Unknown prompt pack '{value}'. Must be one of: {', '.join(sorted(BY_ID))}."
            )
        return value

    def validate_model_ids(self, value: list) -> list:
        seen, dupes = set(), []
        for item in value:
            if item in seen:
                dupes.append(str(item))
            seen.add(item)
        if dupes:
            raise serializers.ValidationError(f"Duplicate model ids: {', '.join(dupes)}.")
        found = {
            m.id: m
            for m in LLMModel.objects.select_related("provider_account").filter(pk__in=value)
        }
        problems = []
        for item in value:
            model = found.get(item)
            if model is None:
                problems.append(f"{item} does not exist")
            elif not model.enabled_for_benchmark:
                problems.append(f"{model.display_name} ({item}) is not enabled for benchmarks")
            elif not model.provider_account.enabled:
                problems.append(
                    f"{model.display_name} ({item}) belongs to a disabled provider account"
                )
        if problems:
            raise serializers.ValidationError("; ".join(problems) + ".")
        return [str(item) for item in value]

    def validate_name(self, value):
        value = (value or "").strip()
        return value or f"Benchmark {timezone.now():%Y-%m-%d %H:%M}"

    def validate(self, attrs):
        attrs.setdefault("name", f"Benchmark {timezone.now():%Y-%m-%d %H:%M}")
        profile = attrs.get("profile", BenchmarkRun.Profile.FIXED)
        try:
            parsed = load.parse(profile, attrs.get("load"), models=len(attrs["model_ids"]))
            slo = capacity.parse_slo(attrs.get("slo"))
        except (load.LoadError, capacity.SloError) as exc:
            raise serializers.ValidationError(_nested(exc.field, exc.message)) from None
        if slo is not None and parsed is None:
            raise serializers.ValidationError(
                {"slo": ["An SLO verdict needs a sweep profile (concurrency_sweep, rate_sweep)."]}
            )
        attrs["load"] = parsed.as_dict() if parsed else None
        attrs["slo"] = slo.as_dict() if slo else None
        return attrs


def _nested(field: str, message: str) -> dict:
    """ "load.levels" → {"load": {"levels": [message]}}: the 422 names the exact key."""
    head, _, rest = field.partition(".")
    return {head: _nested(rest, message) if rest else [message]}


class BenchmarkStartSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    message = serializers.CharField()


class BenchmarkRunSerializer(serializers.ModelSerializer):
    started_at = serializers.SerializerMethodField()
    result_count = serializers.SerializerMethodField()
    total_requests = serializers.IntegerField(read_only=True)

    class Meta:
        model = BenchmarkRun
        fields = [
            "id",
            "name",
            "status",
            "model_ids",
            "prompt_pack",
            "max_tokens",
            "num_runs",
            "concurrency",
            "warmup_runs",
            "profile",
            "load",
            "slo",
            "template",
            "triggered_by",
            "started_at",
            "completed_at",
            "result_count",
            "total_requests",
            "error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_started_at(self, obj: BenchmarkRun) -> datetime:
        # The SDK requires started_at; before the worker starts, it is the creation time.
        return serializers.DateTimeField().to_representation(obj.started_at or obj.created_at)

    def get_result_count(self, obj: BenchmarkRun) -> int:
        count = getattr(obj, "result_count", None)
        return count if count is not None else obj.results.count()


# many=False: the list action answers one envelope object, not an array of them.
@extend_schema_serializer(many=False)
class BenchmarkListSerializer(serializers.Serializer):
    runs = BenchmarkRunSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()


class BenchmarkListQuerySerializer(serializers.Serializer):
    # Bounded so that the OFFSET fits the database's 64-bit integer (a huge page was a 500).
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    per_page = serializers.IntegerField(min_value=1, max_value=100, default=20)
    status = serializers.ChoiceField(choices=BenchmarkRun.Status.choices, required=False)


class BenchmarkResultSerializer(serializers.ModelSerializer):
    """Numbers the SDK requires are never null: a failed request reports 0 and ``error``."""

    model_id = serializers.UUIDField(read_only=True)
    model_name = serializers.CharField(source="model.display_name", read_only=True)
    ttft_ms = serializers.SerializerMethodField()
    tps = serializers.SerializerMethodField()
    tps_excluding_ttft = serializers.SerializerMethodField()
    total_latency_ms = serializers.SerializerMethodField()
    input_tokens = serializers.SerializerMethodField()
    output_tokens = serializers.SerializerMethodField()

    class Meta:
        model = BenchmarkResult
        fields = [
            "id",
            "seq",
            "model_id",
            "model_name",
            "ttft_ms",
            "ttfat_ms",
            "tps",
            "tps_excluding_ttft",
            "tpot_ms",
            "itl_mean_ms",
            "itl_p95_ms",
            "total_latency_ms",
            "input_tokens",
            "output_tokens",
            "reasoning_tokens",
            "token_source",
            "step",
            "turn",
            "chunks",
            "queue_ms",
            "new_connection",
            "connect_ms",
            "estimated_cost",
            "error_type",
            "error",
            "created_at",
        ]
        read_only_fields = fields

    # A failed request reports 0 (metrics.md), even when timings observed before the failure
    # (e.g. the TTFT of a stream that broke) or a prompt-token estimate were stored.
    def get_ttft_ms(self, obj) -> float:
        return 0.0 if is_failed(obj) else obj.ttft_ms or 0.0

    def get_tps(self, obj) -> float:
        return 0.0 if is_failed(obj) else obj.tps or 0.0

    def get_tps_excluding_ttft(self, obj) -> float:
        return 0.0 if is_failed(obj) else obj.tps_excluding_ttft or 0.0

    def get_total_latency_ms(self, obj) -> float:
        return 0.0 if is_failed(obj) else obj.latency_ms or 0.0

    def get_input_tokens(self, obj) -> int:
        return 0 if is_failed(obj) else obj.input_tokens or 0

    def get_output_tokens(self, obj) -> int:
        return 0 if is_failed(obj) else obj.output_tokens or 0


class StatisticsSerializer(serializers.Serializer):
    ttft_p50 = serializers.FloatField()
    ttft_p95 = serializers.FloatField()
    ttft_p99 = serializers.FloatField()
    tps_p50 = serializers.FloatField()
    tps_p95 = serializers.FloatField()
    tps_p99 = serializers.FloatField()
    n = serializers.IntegerField()


class StepSerializer(serializers.Serializer):
    """One load level of a sweep (benchmarks.capacity.StepFigures)."""

    index = serializers.IntegerField()
    level = serializers.FloatField(help_text="Concurrent streams, or requests per second.")
    sent = serializers.IntegerField()
    ok = serializers.IntegerField()
    errors = serializers.IntegerField()
    error_rate = serializers.FloatField(allow_null=True, help_text="Percent.")
    duration_s = serializers.FloatField()
    requests_per_s = serializers.FloatField(allow_null=True)
    output_tokens_per_s = serializers.FloatField(allow_null=True)
    ttft_ms = serializers.DictField(help_text="p50, p95, p99.")
    itl_ms = serializers.DictField(help_text="p50, p95, p99 of each request's mean ITL.")
    latency_ms = serializers.DictField(help_text="p50, p95, p99.")
    late_p95_ms = serializers.FloatField(
        allow_null=True, help_text="Rate sweeps: p95 of how late requests left."
    )
    meets_slo = serializers.BooleanField(allow_null=True)


class CapacitySerializer(serializers.Serializer):
    model_id = serializers.UUIDField()
    model_name = serializers.CharField()
    max_sustainable = serializers.FloatField(
        allow_null=True, help_text="The largest level of the leading steps that met the SLO."
    )
    verdict = serializers.CharField()
    steps = StepSerializer(many=True)


class BenchmarkDetailSerializer(BenchmarkRunSerializer):
    results = BenchmarkResultSerializer(many=True, read_only=True)
    statistics = StatisticsSerializer(read_only=True)
    model_statistics = serializers.ListField(child=serializers.DictField(), read_only=True)
    capacity = CapacitySerializer(many=True, read_only=True, help_text="Sweeps only.")

    class Meta(BenchmarkRunSerializer.Meta):
        fields = [
            *BenchmarkRunSerializer.Meta.fields,
            "results",
            "statistics",
            "model_statistics",
            "capacity",
        ]
        read_only_fields = fields


class BenchmarkResultListSerializer(serializers.Serializer):
    results = BenchmarkResultSerializer(many=True)
    total = serializers.IntegerField()


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["json", "csv"], default="json")
    table = serializers.ChoiceField(
        choices=["results", "statistics"],
        default="results",
        help_text="CSV only: the per-request results or the per-model statistics.",
    )


# --- GET /benchmarks/{id}/compare (benchmarks.compare) --------------------------------------


class BenchmarkCompareQuerySerializer(serializers.Serializer):
    baseline = serializers.UUIDField(help_text="The run to compare this run with (run A).")
    model = serializers.UUIDField(
        required=False,
        help_text="With baseline_model: compare this model of this run with baseline_model "
        "of the baseline (model A vs model B, in one run or two).",
    )
    baseline_model = serializers.UUIDField(required=False, help_text="A model of the baseline.")
    percentile = serializers.ChoiceField(
        choices=[50, 95, 99], default=50, help_text="The percentile compared."
    )

    def validate(self, attrs):
        if ("model" in attrs) != ("baseline_model" in attrs):
            missing = "baseline_model" if "model" in attrs else "model"
            raise serializers.ValidationError(
                {missing: ["Give model and baseline_model together, or neither."]}
            )
        return attrs


class BenchmarkCompareRunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    profile = serializers.ChoiceField(choices=BenchmarkRun.Profile.choices)


class BenchmarkCompareModelSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class BenchmarkDifferenceSerializer(serializers.Serializer):
    baseline = serializers.FloatField(help_text="The percentile of the baseline's requests.")
    value = serializers.FloatField(help_text="The percentile of this run's requests.")
    change_percent = serializers.FloatField(help_text="value / baseline − 1, in percent.")
    ci_low_percent = serializers.FloatField(help_text="The change's interval, low end.")
    ci_high_percent = serializers.FloatField(help_text="The change's interval, high end.")
    significant = serializers.BooleanField(help_text="The interval leaves out 0.")
    n_baseline = serializers.IntegerField()
    n = serializers.IntegerField()
    text = serializers.CharField(help_text='The change and its interval, e.g. "+18 % [+12, +25]".')


class BenchmarkMetricChangeSerializer(serializers.Serializer):
    label = serializers.CharField()
    unit = serializers.CharField()
    higher_is_worse = serializers.BooleanField()
    difference = BenchmarkDifferenceSerializer(
        allow_null=True, help_text="Null with fewer successful requests than min_samples."
    )
    worse = serializers.BooleanField(help_text="Significant, and on the metric's bad side.")
    better = serializers.BooleanField(help_text="Significant, and on the metric's good side.")
    verdict = serializers.ChoiceField(choices=["worse", "better", "unchanged", "unknown"])


class BenchmarkCompareMetricsSerializer(serializers.Serializer):
    ttft_ms = BenchmarkMetricChangeSerializer()
    latency_ms = BenchmarkMetricChangeSerializer()
    itl_mean_ms = BenchmarkMetricChangeSerializer()
    tps_excluding_ttft = BenchmarkMetricChangeSerializer()


class BenchmarkCompareRowSerializer(serializers.Serializer):
    baseline_model = BenchmarkCompareModelSerializer()
    model = BenchmarkCompareModelSerializer()
    level = serializers.FloatField(
        allow_null=True, help_text="The load level of a sweep; null: all of a model's requests."
    )
    n_baseline = serializers.IntegerField(help_text="Successful requests of the baseline.")
    n = serializers.IntegerField()
    errors_baseline = serializers.IntegerField(help_text="Failed requests of the baseline.")
    errors = serializers.IntegerField()
    error_rate_baseline_percent = serializers.FloatField(allow_null=True)
    error_rate_percent = serializers.FloatField(allow_null=True)
    metrics = BenchmarkCompareMetricsSerializer()
    worse = serializers.BooleanField(help_text="Any metric worse.")


class BenchmarkUnmatchedModelSerializer(BenchmarkCompareModelSerializer):
    side = serializers.ChoiceField(choices=["baseline", "run"], help_text="The run it is in.")


class BenchmarkComparisonSerializer(serializers.Serializer):
    baseline = BenchmarkCompareRunSerializer()
    run = BenchmarkCompareRunSerializer()
    percentile = serializers.IntegerField()
    confidence = serializers.FloatField(help_text="The interval's confidence (0.95).")
    resamples = serializers.IntegerField(help_text="Bootstrap resamples per interval.")
    min_samples = serializers.IntegerField(
        help_text="Fewer successful requests on a side: no interval."
    )
    sweep = serializers.CharField(
        allow_null=True, help_text="The sweeps' profile when rows are per load level."
    )
    rows = BenchmarkCompareRowSerializer(many=True)
    unmatched = BenchmarkUnmatchedModelSerializer(many=True, help_text="Models of one run only.")
    notes = serializers.ListField(
        child=serializers.CharField(), help_text="How the runs' settings differ."
    )
    worse = serializers.BooleanField(help_text="Any metric of any row worse.")
