"""REST API: /api/v1/benchmark-templates (saved benchmarks, their schedule and baseline).

The serializer holds the rules of a template for every path that writes one: the API, the
Benchmarks page's "Save as template" form and the admin.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from arguslm.api import Unprocessable, UUIDLookupMixin, reject_null_characters
from arguslm.limits import ThrottledActionsMixin
from arguslm.schema import QUEUE_UNAVAILABLE
from benchmarks import saved
from benchmarks.models import BenchmarkRun, BenchmarkTemplate
from benchmarks.serializers import (
    BenchmarkCreateSerializer,
    BenchmarkDifferenceSerializer,
    BenchmarkStartSerializer,
)
from monitoring.maintenance import cron_problem


class DifferenceSerializer(BenchmarkDifferenceSerializer):
    """The change of a metric's median from the baseline run (benchmarks.compare)."""

    worse = serializers.BooleanField(help_text="Significant, and in the worse direction.")


class ModelComparisonSerializer(serializers.Serializer):
    model_id = serializers.UUIDField()
    model_name = serializers.CharField()
    level = serializers.FloatField(
        allow_null=True, help_text="Sweeps: the load level of this row; null: all requests."
    )
    ttft = DifferenceSerializer(allow_null=True, help_text="TTFT p50; null: too few samples.")
    latency = DifferenceSerializer(allow_null=True)
    tps = DifferenceSerializer(allow_null=True, help_text="Decode speed p50 (lower is worse).")


class LastRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = BenchmarkRun
        fields = ["id", "name", "status", "created_at", "completed_at", "error"]
        read_only_fields = fields


@extend_schema_field(BenchmarkCreateSerializer)
class SpecField(serializers.JSONField):
    """A POST /benchmarks body, stored as JSON (documented as that body)."""


class BenchmarkTemplateSerializer(serializers.ModelSerializer):
    spec = SpecField(
        validators=[reject_null_characters],
        help_text="The POST /api/v1/benchmarks body it starts (checked again at each start). "
        "Without a name, its runs take the template's.",
    )
    cron = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="5-field cron expression in UTC (e.g. 0 3 * * * for 03:00 daily); "
        "empty: started by hand only.",
    )
    baseline_run_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = BenchmarkTemplate
        fields = [
            "id",
            "name",
            "spec",
            "cron",
            "enabled",
            "next_run_at",
            "baseline_run_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "next_run_at", "baseline_run_id", "created_at", "updated_at"]
        # Uniqueness is checked in validate_name, with a message that says what to do.
        extra_kwargs = {"name": {"min_length": 1, "max_length": 255, "validators": []}}

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        taken = BenchmarkTemplate.objects.filter(name=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(
                f"A saved benchmark named “{value}” already exists: choose another name."
            )
        return value

    def validate_spec(self, value):
        spec, problems = saved.checked_spec(value)
        if problems:
            raise serializers.ValidationError(problems)
        return spec

    def validate_cron(self, value: str) -> str:
        value = " ".join(value.split())
        if value and (problem := cron_problem(value)):
            raise serializers.ValidationError(problem)
        return value


class BenchmarkTemplateDetailSerializer(BenchmarkTemplateSerializer):
    """A saved benchmark with its last run and how that run compares with the baseline."""

    last_run = LastRunSerializer(read_only=True, allow_null=True)
    comparison = ModelComparisonSerializer(
        many=True,
        read_only=True,
        allow_null=True,
        help_text="Per model, the last run against the baseline; null without a baseline or "
        "a completed last run (or when the last run is the baseline).",
    )

    class Meta(BenchmarkTemplateSerializer.Meta):
        fields = [*BenchmarkTemplateSerializer.Meta.fields, "last_run", "comparison"]
        read_only_fields = [*BenchmarkTemplateSerializer.Meta.read_only_fields, "last_run"]


def shown(templates) -> list[BenchmarkTemplate]:
    """The templates with ``last_run`` and ``comparison`` set (benchmarks.saved.summaries)."""
    out = []
    for summary in saved.summaries(templates):
        summary.template.last_run = summary.last_run
        summary.template.comparison = summary.comparison
        out.append(summary.template)
    return out


class BaselineRequestSerializer(serializers.Serializer):
    run_id = serializers.UUIDField(help_text="A completed run of this saved benchmark.")


class BenchmarkTemplateViewSet(ThrottledActionsMixin, UUIDLookupMixin, viewsets.GenericViewSet):
    """Saved benchmarks: settings to start again, by hand or on a cron schedule, and the
    baseline run that each new run is compared with (benchmark_regression alert rules)."""

    # Writes need these permissions (arguslm.roles): operators and admins.
    action_permissions = {
        "create": "benchmarks.add_benchmarktemplate",
        "partial_update": "benchmarks.change_benchmarktemplate",
        "destroy": "benchmarks.delete_benchmarktemplate",
        "baseline": "benchmarks.change_benchmarktemplate",
        "run": "benchmarks.add_benchmarkrun",
    }

    serializer_class = BenchmarkTemplateDetailSerializer
    throttle_scopes = {"run": "benchmark_start"}
    not_found_message = "Saved benchmark {id} not found"
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        return BenchmarkTemplate.objects.select_related("baseline_run").order_by("name")

    def _detail(self, template: BenchmarkTemplate) -> dict:
        template = self.get_queryset().get(pk=template.pk)
        return BenchmarkTemplateDetailSerializer(shown([template])[0]).data

    @extend_schema(responses=BenchmarkTemplateDetailSerializer(many=True))
    def list(self, request):
        return Response(
            BenchmarkTemplateDetailSerializer(shown(self.get_queryset()), many=True).data
        )

    @extend_schema(
        request=BenchmarkTemplateSerializer, responses={201: BenchmarkTemplateDetailSerializer}
    )
    def create(self, request):
        serializer = BenchmarkTemplateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = saved.save(user=request.user, **serializer.validated_data)
        return Response(self._detail(template), status=status.HTTP_201_CREATED)

    @extend_schema(responses=BenchmarkTemplateDetailSerializer)
    def retrieve(self, request, pk=None):
        return Response(self._detail(self.get_object()))

    @extend_schema(request=BenchmarkTemplateSerializer, responses=BenchmarkTemplateDetailSerializer)
    def partial_update(self, request, pk=None):
        template = self.get_object()
        serializer = BenchmarkTemplateSerializer(template, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        template = saved.save(template=template, **serializer.validated_data)
        return Response(self._detail(template))

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        saved.delete(template=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={
            202: BenchmarkStartSerializer,
            422: OpenApiResponse(
                description="Its settings are no longer valid (e.g. a model "
                "was deleted or switched off for benchmarks)"
            ),
            429: OpenApiResponse(
                description="Rate limited (see Retry-After), or too many active benchmarks"
            ),
            503: QUEUE_UNAVAILABLE,
        },
    )
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Start a run of the saved benchmark now (as POST /benchmarks does)."""
        run = saved.start(self.get_object(), triggered_by="user", user=request.user)
        return Response(
            {"id": str(run.id), "status": run.status, "message": "Benchmark run started"},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        request=BaselineRequestSerializer,
        responses={
            200: BenchmarkTemplateDetailSerializer,
            409: OpenApiResponse(description="The run has not completed"),
        },
    )
    @action(detail=True, methods=["post"])
    def baseline(self, request, pk=None):
        """Make one of the template's completed runs the one new runs are compared with."""
        template = self.get_object()
        body = BaselineRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = BenchmarkRun.objects.filter(pk=body.validated_data["run_id"]).first()
        if run is None:
            raise Unprocessable(
                {"run_id": [f"Benchmark run {body.validated_data['run_id']} not found."]}
            )
        saved.set_baseline(template, run)
        return Response(self._detail(template))
