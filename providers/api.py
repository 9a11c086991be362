"""REST API: /api/v1/providers and /api/v1/models."""

from django.db.models import Count, Q
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from arguslm.api import BadGateway, Unprocessable, UUIDLookupMixin, validate_query
from arguslm.limits import ThrottledActionsMixin
from arguslm.llm import catalog
from arguslm.llm.types import GatewayError
from providers import services, tags
from providers.bulk import (
    ModelBulkActionResultSerializer,
    ModelBulkActionSerializer,
    selection,
)
from providers.models import LLMModel, ProviderAccount
from providers.serializers import (
    MODELS_PAGING,
    CatalogSerializer,
    ModelBulkResultSerializer,
    ModelBulkUpdateSerializer,
    ModelCreateSerializer,
    ModelListSerializer,
    ModelQuerySerializer,
    ModelSerializer,
    ModelUpdateSerializer,
    ProviderCreateSerializer,
    ProviderListSerializer,
    ProviderQuerySerializer,
    ProviderRefreshSerializer,
    ProviderSerializer,
    ProviderTestSerializer,
    ProviderUpdateSerializer,
)


def _valid(serializer_class, request, **context):
    serializer = serializer_class(data=request.data, context=context)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ProviderViewSet(ThrottledActionsMixin, UUIDLookupMixin, viewsets.GenericViewSet):
    """Provider accounts. Credentials are write-only: responses say which keys are set."""

    # Writes need these permissions (arguslm.roles): admins only (they hold the credentials).
    action_permissions = {
        "create": "providers.add_provideraccount",
        "test_connection": "providers.add_provideraccount",
        "partial_update": "providers.change_provideraccount",
        "test": "providers.change_provideraccount",
        "refresh_models": "providers.change_provideraccount",
        "destroy": "providers.delete_provideraccount",
    }

    serializer_class = ProviderSerializer
    # These call the provider (a paid request, or a model listing) on every request.
    throttle_scopes = {
        "test_connection": "connection_test",
        "test": "connection_test",
        "refresh_models": "model_refresh",
    }
    not_found_message = "Provider account {id} not found"

    def get_queryset(self):
        return (
            ProviderAccount.objects.annotate(model_count=Count("models"))
            .prefetch_related("tags")
            .order_by("created_at", "id")
        )

    @extend_schema(parameters=[ProviderQuerySerializer], responses=ProviderListSerializer)
    def list(self, request):
        query = validate_query(ProviderQuerySerializer, request)
        accounts = list(tags.filter_accounts(self.get_queryset(), query["tag"]))
        return Response(
            {"providers": ProviderSerializer(accounts, many=True).data, "total": len(accounts)}
        )

    @extend_schema(request=ProviderCreateSerializer, responses={201: ProviderSerializer})
    def create(self, request):
        data = _valid(ProviderCreateSerializer, request)
        created = services.create_account(**data)
        return Response(
            ProviderSerializer(self.get_object_for(created.account)).data,
            status=status.HTTP_201_CREATED,
        )

    def get_object_for(self, account):
        return self.get_queryset().get(pk=account.pk)

    @extend_schema(responses=ProviderSerializer)
    def retrieve(self, request, pk=None):
        return Response(ProviderSerializer(self.get_object()).data)

    @extend_schema(request=ProviderUpdateSerializer, responses=ProviderSerializer)
    def partial_update(self, request, pk=None):
        account = self.get_object()
        data = _valid(ProviderUpdateSerializer, request, account=account)
        services.update_account(account=account, **data)
        return Response(ProviderSerializer(self.get_object_for(account)).data)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(description="Has benchmark history"),
        }
    )
    def destroy(self, request, pk=None):
        services.delete_account(account=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=CatalogSerializer)
    @action(detail=False, methods=["get"])
    def catalog(self, request):
        specs = catalog.all_specs()
        return Response(
            {
                "providers": {key: spec.to_dict() for key, spec in specs.items()},
                "total": len(specs),
                "tested_count": catalog.TESTED_COUNT,
            }
        )

    @extend_schema(request=ProviderCreateSerializer, responses=ProviderTestSerializer)
    @action(detail=False, methods=["post"], url_path="test-connection")
    def test_connection(self, request):
        data = _valid(ProviderCreateSerializer, request)
        result = services.test_connection(
            provider_type=data["provider_type"], credentials=data["credentials"]
        )
        return Response(result)

    @extend_schema(request=None, responses=ProviderTestSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        account = self.get_object()
        result = services.test_connection(
            provider_type=account.provider_type,
            credentials=account.credentials,
            account=account,
        )
        return Response(result)

    @extend_schema(
        request=None,
        responses={
            200: ProviderRefreshSerializer,
            # As the original ArgusLM answers (its SDK raises BadRequestError on it).
            400: OpenApiResponse(description="Model discovery not supported for this type"),
            502: OpenApiResponse(description="Discovery failed"),
        },
    )
    @action(detail=True, methods=["post"], url_path="refresh-models")
    def refresh_models(self, request, pk=None):
        account = self.get_object()
        try:
            result = services.refresh_models(account=account)
        except GatewayError as exc:
            if exc.error_type == "bad_request" and exc.status is None:
                # Not supported for this type (or missing prerequisites): the request was wrong.
                return Response({"detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
            raise BadGateway(f"Model discovery failed ({exc.error_type}): {exc.message}") from None
        return Response(
            {
                "success": True,
                "models_discovered": result.discovered,
                "added": result.added,
                "updated": result.updated,
                "unavailable": result.unavailable,
                "message": result.message,
            }
        )


class ModelViewSet(UUIDLookupMixin, viewsets.GenericViewSet):
    """Models of provider accounts, with their monitoring and benchmark switches."""

    action_permissions = {
        "create": "providers.add_llmmodel",
        "partial_update": "providers.change_llmmodel",
        "bulk_update": "providers.change_llmmodel",
        "bulk": "providers.change_llmmodel",
        "destroy": "providers.delete_llmmodel",
    }

    serializer_class = ModelSerializer
    not_found_message = "Model not found"

    def get_queryset(self):
        # A page of 500 models reads its tags and its accounts' tags in two queries.
        return (
            LLMModel.objects.select_related("provider_account")
            .prefetch_related("tags", "provider_account__tags")
            .order_by("created_at", "id")
        )

    @extend_schema(parameters=[ModelQuerySerializer], responses=ModelListSerializer)
    def list(self, request):
        query = validate_query(ModelQuerySerializer, request)
        models = self.get_queryset()
        account_id = query.get("provider_id") or query.get("provider_account_id")
        if account_id:
            models = models.filter(provider_account_id=account_id)
        for flag in ("enabled_for_monitoring", "enabled_for_benchmark"):
            if query.get(flag) is not None:
                models = models.filter(**{flag: query[flag]})
        if query.get("search"):
            term = query["search"]
            models = models.filter(Q(model_id__icontains=term) | Q(custom_name__icontains=term))
        models = tags.filter_models(models, query["tag"])
        return MODELS_PAGING.response(models, query, ModelSerializer)

    @extend_schema(
        request=ModelCreateSerializer,
        responses={201: ModelSerializer, 409: OpenApiResponse(description="Duplicate model id")},
    )
    def create(self, request):
        data = _valid(ModelCreateSerializer, request)
        model = services.add_model(account_id=data.pop("provider_account_id"), **data)
        return Response(
            ModelSerializer(self.get_queryset().get(pk=model.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses=ModelSerializer)
    def retrieve(self, request, pk=None):
        return Response(ModelSerializer(self.get_object()).data)

    @extend_schema(request=ModelUpdateSerializer, responses=ModelSerializer)
    def partial_update(self, request, pk=None):
        model = self.get_object()
        # custom_name present, even null, clears the name; a null switch leaves it as it is.
        services.update_model(model=model, **_valid(ModelUpdateSerializer, request))
        return Response(ModelSerializer(model).data)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(description="Has benchmark history"),
        }
    )
    def destroy(self, request, pk=None):
        services.delete_model(model=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ModelBulkUpdateSerializer, responses=ModelBulkResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-update")
    def bulk_update(self, request):
        data = _valid(ModelBulkUpdateSerializer, request)
        account_id = data.pop("provider_account_id")
        account = ProviderAccount.objects.filter(pk=account_id).first()
        if account is None:
            raise Unprocessable(
                {"provider_account_id": [f"Provider account {account_id} does not exist."]}
            )
        return Response({"updated": services.set_flags_for_account(account=account, **data)})

    @extend_schema(
        request=ModelBulkActionSerializer,
        responses={
            200: ModelBulkActionResultSerializer,
            422: OpenApiResponse(description="A bad filter field, action or tag, named in loc"),
        },
        examples=[
            OpenApiExample(
                "Monitor every production model of one account",
                request_only=True,
                value={
                    "filter": {
                        "provider_id": "3f2b6c1e-7a44-4c39-9f0e-2d2f5a0c1b11",
                        "tag": ["env:prod"],
                        "monitored": False,
                    },
                    "action": "monitor",
                },
            ),
            OpenApiExample(
                "Tag every model whose id contains gpt-4o",
                request_only=True,
                value={"filter": {"q": "gpt-4o"}, "action": "add_tag", "tag": "team:search"},
            ),
        ],
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """One action on every model the filter matches (the Models page's "Monitor all N
        matching"): monitor, unmonitor, enable_benchmark, disable_benchmark, add_tag or
        remove_tag. The filter takes the Models page's filters; ``{}`` matches every model.
        The answer says how many models matched and how many changed; the audit log records
        the action once, with its filter and counts."""
        data = _valid(ModelBulkActionSerializer, request)
        chosen = selection(data["filter"])
        result = services.bulk_update(
            models=chosen.apply(LLMModel.objects.all()),
            action=data["action"],
            tag=data.get("tag"),
            filters=chosen.describe(),
        )
        return Response(
            {
                "action": result.action,
                "matched": result.matched,
                "changed": result.changed,
                "skipped": result.skipped,
                "message": result.message,
            }
        )
