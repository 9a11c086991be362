"""REST API: /api/v1/status-pages (public status pages, managed by admins) and
/api/v1/identities (models across providers)."""

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from arguslm.api import UUIDLookupMixin, validate_query
from dashboard import across, services
from dashboard.models import StatusPage
from dashboard.serializers import (
    PAGING,
    IdentitySerializer,
    StatusPageListSerializer,
    StatusPageQuerySerializer,
    StatusPageSerializer,
)


class StatusPageViewSet(UUIDLookupMixin, viewsets.GenericViewSet):
    """Status pages, looked up by id like every other resource (the slug may change)."""

    # Writes need these permissions (arguslm.roles): admins only (they publish data).
    action_permissions = {
        "create": "dashboard.add_statuspage",
        "partial_update": "dashboard.change_statuspage",
        "destroy": "dashboard.delete_statuspage",
    }

    serializer_class = StatusPageSerializer
    not_found_message = "Status page {id} not found"
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        return StatusPage.objects.prefetch_related("llm_models", "accounts").order_by("slug")

    @extend_schema(parameters=[StatusPageQuerySerializer], responses=StatusPageListSerializer)
    def list(self, request):
        query = validate_query(StatusPageQuerySerializer, request)
        return PAGING.response(self.get_queryset(), query, StatusPageSerializer)

    @extend_schema(request=StatusPageSerializer, responses={201: StatusPageSerializer})
    def create(self, request):
        serializer = StatusPageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        page = services.create_status_page(**serializer.validated_data)
        return Response(StatusPageSerializer(page).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=StatusPageSerializer)
    def retrieve(self, request, pk=None):
        return Response(StatusPageSerializer(self.get_object()).data)

    @extend_schema(request=StatusPageSerializer, responses=StatusPageSerializer)
    def partial_update(self, request, pk=None):
        page = self.get_object()
        serializer = StatusPageSerializer(page, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.update_status_page(page=page, **serializer.validated_data)
        return Response(StatusPageSerializer(self.get_object()).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.delete_status_page(page=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class IdentityViewSet(viewsets.ViewSet):
    """Models across providers: identities served by two or more monitored models, ranked."""

    lookup_value_regex = r"[a-z0-9][a-z0-9.\-]{0,99}"

    @extend_schema(responses=IdentitySerializer(many=True))
    def list(self, request):
        return Response(IdentitySerializer(across.identities(), many=True).data)

    @extend_schema(responses=IdentitySerializer)
    def retrieve(self, request, pk=None):
        return Response(IdentitySerializer(_identity(pk)).data)

    @extend_schema(
        responses={
            (200, "application/yaml"): OpenApiResponse(
                OpenApiTypes.STR, description="A LiteLLM router config, fallbacks ranked."
            )
        }
    )
    @action(detail=True, methods=["get"], url_path="litellm-config")
    def litellm_config(self, request, pk=None):
        body = across.litellm_config(_identity(pk))
        response = HttpResponse(body, content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{pk}-litellm.yaml"'
        return response


def _identity(name: str) -> dict:
    group = across.identity(name)
    if group is None:
        raise Http404(f"No identity {name} is served by two or more monitored models")
    return group
