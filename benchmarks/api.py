"""REST API: /api/v1/benchmarks (the live stream is benchmarks.live, over WebSocket)."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from arguslm.api import Conflict, Unprocessable, UUIDLookupMixin, validate_query
from arguslm.limits import ThrottledActionsMixin
from arguslm.schema import QUEUE_UNAVAILABLE
from benchmarks import compare, engine, exports, services
from benchmarks.models import BenchmarkRun
from benchmarks.serializers import (
    BenchmarkCompareQuerySerializer,
    BenchmarkComparisonSerializer,
    BenchmarkCreateSerializer,
    BenchmarkDetailSerializer,
    BenchmarkListQuerySerializer,
    BenchmarkListSerializer,
    BenchmarkResultListSerializer,
    BenchmarkResultSerializer,
    BenchmarkRunSerializer,
    BenchmarkStartSerializer,
    ExportQuerySerializer,
)


class BenchmarkViewSet(ThrottledActionsMixin, UUIDLookupMixin, viewsets.GenericViewSet):
    """Benchmark runs: start, follow, inspect, export, cancel, delete."""

    # Writes need these permissions (arguslm.roles): operators and admins.
    action_permissions = {
        "create": "benchmarks.add_benchmarkrun",
        "cancel": "benchmarks.change_benchmarkrun",
        "destroy": "benchmarks.delete_benchmarkrun",
    }

    serializer_class = BenchmarkRunSerializer
    throttle_scopes = {"create": "benchmark_start"}
    not_found_message = "Benchmark run {id} not found"

    def get_queryset(self):
        return services.runs_with_counts().order_by("-created_at")

    @extend_schema(
        request=BenchmarkCreateSerializer,
        responses={
            202: BenchmarkStartSerializer,
            429: OpenApiResponse(
                description="Rate limited (see Retry-After), or too many active benchmarks"
            ),
            503: QUEUE_UNAVAILABLE,
        },
    )
    def create(self, request):
        serializer = BenchmarkCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.start(data=serializer.validated_data, user=request.user)
        return Response(
            {"id": str(run.id), "status": run.status, "message": "Benchmark run started"},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(parameters=[BenchmarkListQuerySerializer], responses=BenchmarkListSerializer)
    def list(self, request):
        query = validate_query(BenchmarkListQuerySerializer, request)
        engine.close_stale_runs()
        runs = self.get_queryset()
        if query.get("status"):
            runs = runs.filter(status=query["status"])
        page, per_page = query["page"], query["per_page"]
        start = (page - 1) * per_page
        return Response(
            {
                "runs": BenchmarkRunSerializer(runs[start : start + per_page], many=True).data,
                "total": runs.count(),
                "page": page,
                "per_page": per_page,
            }
        )

    @extend_schema(responses=BenchmarkDetailSerializer)
    def retrieve(self, request, pk=None):
        engine.close_stale_runs()
        run = self.get_object()
        results = services.results_of(run)
        pooled, per_model = services.statistics_of(results)
        data = BenchmarkRunSerializer(run).data
        data["results"] = BenchmarkResultSerializer(results, many=True).data
        data["statistics"] = pooled
        data["model_statistics"] = per_model
        data["capacity"] = [c.as_dict() for c in services.capacity_of(run, results)]
        return Response(data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="Still running")})
    def destroy(self, request, pk=None):
        run = self.get_object()
        if not run.is_finished:
            raise Conflict(
                "Cancel the benchmark before deleting it (it is still " + run.status + ")"
            )
        run.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=BenchmarkResultListSerializer)
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        results = services.results_of(self.get_object())
        return Response(
            {"results": BenchmarkResultSerializer(results, many=True).data, "total": len(results)}
        )

    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        query = validate_query(ExportQuerySerializer, request)
        run = self.get_object()
        results = services.results_of(run)
        pooled, per_model = services.statistics_of(results)
        return exports.export(
            run,
            results,
            pooled,
            per_model,
            query["format"],
            query["table"],
            capacity=services.capacity_of(run, results),
        )

    @extend_schema(
        request=None,
        responses={
            200: BenchmarkRunSerializer,
            409: OpenApiResponse(description="Finished"),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = self.get_object()
        if run.is_finished:
            raise Conflict(f"The benchmark has already finished ({run.status})")
        run = services.cancel(run=run)
        return Response(BenchmarkRunSerializer(self.get_queryset().get(pk=run.pk)).data)

    @extend_schema(
        parameters=[BenchmarkCompareQuerySerializer],
        responses={
            200: BenchmarkComparisonSerializer,
            404: OpenApiResponse(description="The run or the baseline run is unknown"),
        },
        description="This run against a baseline run: per model (matched by id; per load "
        "level of two sweeps) and metric, the change of a percentile with its 95 % bootstrap "
        'interval and whether it is a significant regression (docs/metrics.md, "Comparing '
        'runs"). With model and baseline_model: one model against another.',
    )
    @action(detail=True, methods=["get"])
    def compare(self, request, pk=None):
        run = self.get_object()
        query = validate_query(BenchmarkCompareQuerySerializer, request)
        baseline = BenchmarkRun.objects.filter(pk=query["baseline"]).first()
        if baseline is None:
            raise Http404(f"Baseline run {query['baseline']} not found")
        q = query["percentile"]
        if "model" not in query:
            return Response(compare.compare_runs(baseline, run, q=q).as_dict())
        try:
            comparison = compare.compare_pair(
                baseline, query["baseline_model"], run, query["model"], q=q
            )
        except compare.ModelNotInRun as exc:
            raise Unprocessable({exc.argument: [exc.message]}, "query") from None
        return Response(comparison.as_dict())
