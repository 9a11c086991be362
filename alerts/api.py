"""REST API: /api/v1/alerts (alerts, the bell's counts) and /api/v1/alerts/rules."""

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alerts import notifications, services
from alerts.models import Alert, AlertRule, Incident, Notification
from alerts.serializers import (
    PAGING,
    AlertListSerializer,
    AlertQuerySerializer,
    AlertRuleCreatedSerializer,
    AlertRuleSerializer,
    AlertSerializer,
    CountSerializer,
    IncidentQuerySerializer,
    IncidentSerializer,
    NotificationSerializer,
    PageQuerySerializer,
    RecentAlertsSerializer,
    RecentQuerySerializer,
    WebhookSecretSerializer,
)
from arguslm.api import UUIDLookupMixin, validate_query
from arguslm.limits import ThrottledActionsMixin


class AlertRuleViewSet(
    ThrottledActionsMixin,
    UUIDLookupMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Alert rules. The list is a bare JSON array (as the SDK expects)."""

    # Writes need these permissions (arguslm.roles): operators and admins.
    action_permissions = {
        "create": "alerts.add_alertrule",
        "partial_update": "alerts.change_alertrule",
        "destroy": "alerts.delete_alertrule",
        "rotate_secret": "alerts.change_alertrule",
        "test": "alerts.change_alertrule",
    }

    throttle_scopes = {"test": "rule_test"}
    serializer_class = AlertRuleSerializer
    not_found_message = "Alert rule not found"
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        return AlertRule.objects.order_by("-created_at")

    def get_serializer_class(self):
        # The signing secret is shown once: in the response that creates the rule.
        return AlertRuleCreatedSerializer if self.action == "create" else AlertRuleSerializer

    @extend_schema(responses=AlertRuleSerializer(many=True))
    def list(self, request):
        return Response(AlertRuleSerializer(self.get_queryset(), many=True).data)

    @extend_schema(request=None, responses={200: WebhookSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new signing secret for the rule's generic webhook, shown in this response only."""
        rule = services.rotate_webhook_secret(rule=self.get_object())
        return Response({"webhook_secret": rule.webhook_secret})

    @extend_schema(request=None, responses={202: AlertSerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Queue a test notification on every channel of the rule (delivered by the worker)."""
        alert = notifications.send_test(rule=self.get_object())
        return Response(AlertSerializer(alert).data, status=status.HTTP_202_ACCEPTED)


def _by(request) -> str:
    return services.acknowledged_by(request.user)


def _alerts():
    return Alert.objects.select_related("rule", "model").order_by("-created_at")


class AlertViewSet(UUIDLookupMixin, viewsets.GenericViewSet):
    """Raised alerts, their acknowledgement, incidents and the delivery log."""

    action_permissions = {
        "acknowledge": "alerts.change_alert",
        "acknowledge_all": "alerts.change_alert",
    }

    serializer_class = AlertSerializer
    not_found_message = "Alert not found"

    def get_queryset(self):
        return _alerts()

    @extend_schema(parameters=[AlertQuerySerializer], responses=AlertListSerializer)
    def list(self, request):
        query = validate_query(AlertQuerySerializer, request)
        alerts = self.get_queryset()
        scope = Q()
        if query.get("rule_id"):
            scope &= Q(rule_id=query["rule_id"])
        if query.get("since"):
            scope &= Q(created_at__gte=query["since"])
        alerts = alerts.filter(scope)
        unacknowledged = alerts.filter(acknowledged=False).count()
        if query.get("acknowledged") is not None:
            alerts = alerts.filter(acknowledged=query["acknowledged"])
        return PAGING.response(alerts, query, AlertSerializer, unacknowledged_count=unacknowledged)

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["patch", "post"])
    def acknowledge(self, request, pk=None):
        alert = self.get_object()
        if not alert.acknowledged:
            services.acknowledge(alerts=Alert.objects.filter(pk=alert.pk), by=_by(request))
            alert.refresh_from_db(fields=["acknowledged", "acknowledged_at"])
        return Response(AlertSerializer(alert).data)

    @extend_schema(request=None, responses=CountSerializer)
    @action(detail=False, methods=["post"], url_path="acknowledge-all")
    def acknowledge_all(self, request):
        count = services.acknowledge(alerts=Alert.objects.all(), by=_by(request))
        return Response({"count": count})

    @extend_schema(responses=CountSerializer)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        return Response({"count": Alert.objects.filter(acknowledged=False).count()})

    @extend_schema(parameters=[RecentQuerySerializer], responses=RecentAlertsSerializer)
    @action(detail=False, methods=["get"])
    def recent(self, request):
        query = validate_query(RecentQuerySerializer, request)
        items = self.get_queryset()[: query["limit"]]
        return Response(
            {
                "items": AlertSerializer(items, many=True).data,
                "total_unread": Alert.objects.filter(acknowledged=False).count(),
            }
        )

    @extend_schema(parameters=[IncidentQuerySerializer], responses=IncidentSerializer(many=True))
    @action(detail=False, methods=["get"])
    def incidents(self, request):
        query = validate_query(IncidentQuerySerializer, request)
        incidents = Incident.objects.select_related("rule").order_by("-opened_at")
        if query.get("open") is not None:
            incidents = incidents.filter(resolved_at__isnull=query["open"])
        return Response(IncidentSerializer(PAGING.items(incidents, query), many=True).data)

    @extend_schema(parameters=[PageQuerySerializer], responses=NotificationSerializer(many=True))
    @action(detail=False, methods=["get"])
    def deliveries(self, request):
        query = validate_query(PageQuerySerializer, request)
        rows = (
            Notification.objects.select_related("alert")
            .prefetch_related("log")
            .order_by("-created_at")
        )
        return Response(NotificationSerializer(PAGING.items(rows, query), many=True).data)
