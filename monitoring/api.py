"""REST API: /api/v1/monitoring (config, runs, uptime history, exports, prompt packs),
/api/v1/maintenance-windows, /api/v1/slos and /api/v1/regions."""

from django.db.models import Sum
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from arguslm.api import UUIDLookupMixin, parse_uuid, validate_query
from arguslm.limits import ThrottledActionsMixin
from arguslm.llm.prompts import PACKS
from arguslm.schema import QUEUE_UNAVAILABLE
from monitoring import costs, drift, exports, maintenance, regions, services, slos
from monitoring.models import (
    CheckCount,
    MaintenanceWindow,
    MonitoringConfig,
    MonitoringRun,
    Slo,
    UptimeCheck,
)
from monitoring.serializers import (
    MAINTENANCE_PAGING,
    RUNS_PAGING,
    SLO_PAGING,
    UPTIME_PAGING,
    CostSerializer,
    DriftSerializer,
    ExportQuerySerializer,
    MaintenanceQuerySerializer,
    MaintenanceWindowListSerializer,
    MaintenanceWindowSerializer,
    MonitoringConfigSerializer,
    MonitoringRunListSerializer,
    MonitoringRunResponseSerializer,
    MonitoringRunSerializer,
    PromptPackSerializer,
    RegionSerializer,
    RunsQuerySerializer,
    SloListSerializer,
    SloQuerySerializer,
    SloSerializer,
    UptimeCheckSerializer,
    UptimeHistorySerializer,
    UptimeQuerySerializer,
)
from providers import tags
from providers.models import LLMModel


def uptime_queryset(query: dict):
    checks = UptimeCheck.objects.select_related("model__provider_account").order_by("-created_at")
    if query.get("model_id"):
        checks = checks.filter(model_id=query["model_id"])
    if query.get("status"):
        checks = checks.filter(status=query["status"])
    if query.get("since"):
        checks = checks.filter(created_at__gte=query["since"])
    if query.get("enabled_only"):
        checks = checks.filter(model__enabled_for_monitoring=True)
    if query.get("tag"):
        checks = checks.filter(model_id__in=_tagged(query["tag"]))
    if query.get("region"):
        checks = checks.filter(region=query["region"])
    return checks


def _tagged(names: list[str]):
    """The ids of the models carrying every tag of ``names`` (a subquery)."""
    return tags.filter_models(LLMModel.objects.all(), names).values("pk")


def uptime_total(query: dict, checks) -> int:
    """The exact number of matching checks: from the kept counts unless ``since`` or
    ``region`` narrows it (the counts are per model and status, of every region)."""
    if query.get("since") or query.get("region"):
        return checks.count()  # counted on the (created_at) or (region, created_at) index
    counts = CheckCount.objects.all()
    if query.get("model_id"):
        counts = counts.filter(model_id=query["model_id"])
    if query.get("status"):
        counts = counts.filter(status=query["status"])
    if query.get("enabled_only"):
        counts = counts.filter(model__enabled_for_monitoring=True)
    if query.get("tag"):
        counts = counts.filter(model_id__in=_tagged(query["tag"]))
    return counts.aggregate(total=Sum("count"))["total"] or 0


MODEL_ID_PARAMETER = OpenApiParameter(
    "model_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The model's id."
)


class MonitoringViewSet(ThrottledActionsMixin, viewsets.ViewSet):
    """Monitoring configuration, passes and their uptime checks."""

    # Writes need these permissions (arguslm.roles): a pass is an operator's, settings an admin's.
    action_permissions = {
        "run": "monitoring.add_monitoringrun",
        "config": "monitoring.change_monitoringconfig",
        "baseline": "monitoring.change_modelbaseline",  # accept a model's current answers
    }

    throttle_scopes = {"run": "monitoring_run"}  # a pass probes every monitored model

    @extend_schema(methods=["GET"], responses=MonitoringConfigSerializer)
    @extend_schema(
        methods=["PATCH"], request=MonitoringConfigSerializer, responses=MonitoringConfigSerializer
    )
    @action(detail=False, methods=["get", "patch"])
    def config(self, request):
        config = MonitoringConfig.get()
        if request.method == "PATCH":
            serializer = MonitoringConfigSerializer(config, data=request.data, partial=True)
            serializer.is_valid(raise_exception=True)
            serializer.save()  # reconciles the schedules (MonitoringConfig.save)
            config.refresh_from_db()
        return Response(MonitoringConfigSerializer(config).data)

    @extend_schema(
        request=None, responses={200: MonitoringRunResponseSerializer, 503: QUEUE_UNAVAILABLE}
    )
    @action(detail=False, methods=["post"])
    def run(self, request):
        run = services.request_pass(trigger=MonitoringRun.Trigger.MANUAL)
        return Response(
            {
                "run_id": str(run.id),
                "status": "queued",
                "message": "Monitoring run queued for execution",
            }
        )

    @extend_schema(
        operation_id="monitoring_runs_list",
        parameters=[RunsQuerySerializer],
        responses=MonitoringRunListSerializer,
    )
    @action(detail=False, methods=["get"])
    def runs(self, request):
        query = validate_query(RunsQuerySerializer, request)
        runs = MonitoringRun.objects.order_by("-created_at")
        if query.get("status"):
            runs = runs.filter(status=query["status"])
        return RUNS_PAGING.response(runs, query, MonitoringRunSerializer)

    @extend_schema(
        # The route takes any segment (a malformed id is a 422, not a 404 of the router).
        parameters=[
            OpenApiParameter(
                "run_id",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description="A UUID string identifying this monitoring run.",
            )
        ],
        responses=MonitoringRunSerializer,
    )
    @action(detail=False, methods=["get"], url_path=r"runs/(?P<run_id>[^/]+)")
    def run_detail(self, request, run_id=None):
        run = MonitoringRun.objects.filter(pk=parse_uuid(run_id, field="run_id")).first()
        if run is None:
            raise Http404(f"Monitoring run {run_id} not found")
        return Response(MonitoringRunSerializer(run).data)

    @extend_schema(
        methods=["GET"],
        parameters=[MODEL_ID_PARAMETER],
        responses=DriftSerializer,
        description="The model's accepted answer baseline and how its latest answers differ.",
    )
    @extend_schema(
        methods=["POST"],
        parameters=[MODEL_ID_PARAMETER],
        request=None,
        responses=DriftSerializer,
        description="Accept the model's current behaviour: its latest answers become the "
        "baseline (409 until it has enough answered checks).",
    )
    @action(detail=False, methods=["get", "post"], url_path=r"models/(?P<model_id>[^/]+)/baseline")
    def baseline(self, request, model_id=None):
        model = LLMModel.objects.filter(pk=parse_uuid(model_id, field="model_id")).first()
        if model is None:
            raise Http404(f"Model {model_id} not found")
        if request.method == "POST":
            drift.reaccept(model, by=request.user.get_username() if request.user else "")
        return Response(DriftSerializer(drift.status(model)).data)

    @extend_schema(parameters=[UptimeQuerySerializer], responses=UptimeHistorySerializer)
    @action(detail=False, methods=["get"])
    def uptime(self, request):
        query = validate_query(UptimeQuerySerializer, request)
        checks = uptime_queryset(query)
        return UPTIME_PAGING.response(
            checks, query, UptimeCheckSerializer, total=uptime_total(query, checks)
        )

    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    @action(detail=False, methods=["get"], url_path="uptime/export")
    def uptime_export(self, request):
        query = validate_query(ExportQuerySerializer, request)
        checks = uptime_queryset(query)
        if query.get("start_date"):
            checks = checks.filter(created_at__gte=query["start_date"])
        if query.get("end_date"):
            checks = checks.filter(created_at__lte=query["end_date"])
        return exports.uptime_response(request, checks, query["format"])

    @extend_schema(responses=CostSerializer)
    @action(detail=False, methods=["get"])
    def cost(self, request):
        """Estimated monthly probe cost at litellm's list prices, this month's spend, budget."""
        return Response(CostSerializer(costs.summary()).data)

    @extend_schema(responses=PromptPackSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="prompt-packs")
    def prompt_packs(self, request):
        return Response([pack.as_dict() for pack in PACKS], status=status.HTTP_200_OK)


class MaintenanceWindowViewSet(UUIDLookupMixin, viewsets.GenericViewSet):
    """Maintenance windows: checks made during one stay out of availability and alerting."""

    # Writes need these permissions (arguslm.roles): operators and admins.
    action_permissions = {
        "create": "monitoring.add_maintenancewindow",
        "partial_update": "monitoring.change_maintenancewindow",
        "destroy": "monitoring.delete_maintenancewindow",
    }

    serializer_class = MaintenanceWindowSerializer
    not_found_message = "Maintenance window {id} not found"
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        return MaintenanceWindow.objects.order_by("-created_at")

    @extend_schema(
        parameters=[MaintenanceQuerySerializer], responses=MaintenanceWindowListSerializer
    )
    def list(self, request):
        query = validate_query(MaintenanceQuerySerializer, request)
        return MAINTENANCE_PAGING.response(self.get_queryset(), query, MaintenanceWindowSerializer)

    @extend_schema(
        request=MaintenanceWindowSerializer, responses={201: MaintenanceWindowSerializer}
    )
    def create(self, request):
        serializer = MaintenanceWindowSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        window = maintenance.save(**serializer.validated_data)
        return Response(MaintenanceWindowSerializer(window).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=MaintenanceWindowSerializer)
    def retrieve(self, request, pk=None):
        return Response(MaintenanceWindowSerializer(self.get_object()).data)

    @extend_schema(request=MaintenanceWindowSerializer, responses=MaintenanceWindowSerializer)
    def partial_update(self, request, pk=None):
        window = self.get_object()
        serializer = MaintenanceWindowSerializer(window, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        window = maintenance.save(window=window, **serializer.validated_data)
        return Response(MaintenanceWindowSerializer(window).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        maintenance.delete(window=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class SloViewSet(UUIDLookupMixin, viewsets.GenericViewSet):
    """SLOs: objectives on availability and latency, their error budgets and burn rates."""

    # Writes need these permissions (arguslm.roles): operators and admins.
    action_permissions = {
        "create": "monitoring.add_slo",
        "partial_update": "monitoring.change_slo",
        "destroy": "monitoring.delete_slo",
    }

    serializer_class = SloSerializer
    not_found_message = "SLO {id} not found"
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        return Slo.objects.order_by("name", "id")

    @extend_schema(parameters=[SloQuerySerializer], responses=SloListSerializer)
    def list(self, request):
        query = validate_query(SloQuerySerializer, request)
        return SLO_PAGING.response(self.get_queryset(), query, SloSerializer)

    @extend_schema(request=SloSerializer, responses={201: SloSerializer})
    def create(self, request):
        serializer = SloSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slo = slos.save(**serializer.validated_data)
        return Response(SloSerializer(slo).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=SloSerializer)
    def retrieve(self, request, pk=None):
        return Response(SloSerializer(self.get_object()).data)

    @extend_schema(request=SloSerializer, responses=SloSerializer)
    def partial_update(self, request, pk=None):
        slo = self.get_object()
        serializer = SloSerializer(slo, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        slo = slos.save(slo=slo, **serializer.validated_data)
        return Response(SloSerializer(slo).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        slos.delete(slo=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegionViewSet(viewsets.ViewSet):
    """Probe regions: where probes run from, and which have a live worker."""

    @extend_schema(responses=RegionSerializer(many=True))
    def list(self, request):
        return Response(RegionSerializer(regions.listing(), many=True).data)
