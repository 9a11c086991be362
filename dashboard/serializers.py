"""The status pages' API shapes (also the management page's rules, via SerializerForm)."""

from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from arguslm.api import Paging
from dashboard.models import SLUG_MESSAGE, SLUG_PATTERN, StatusPage
from providers.models import LLMModel, ProviderAccount

PAGING = Paging(default_limit=50, max_limit=500)


class StatusPageSerializer(serializers.ModelSerializer):
    slug = serializers.RegexField(
        SLUG_PATTERN,
        max_length=64,
        error_messages={"invalid": SLUG_MESSAGE},
        validators=[
            UniqueValidator(
                queryset=StatusPage.objects.all(),
                message="A status page with this slug already exists.",
            )
        ],
    )
    model_ids = serializers.PrimaryKeyRelatedField(
        source="llm_models",
        many=True,
        required=False,
        queryset=LLMModel.objects.all(),
        pk_field=serializers.UUIDField(),
        help_text="Models shown by their display name.",
    )
    account_ids = serializers.PrimaryKeyRelatedField(
        source="accounts",
        many=True,
        required=False,
        queryset=ProviderAccount.objects.all(),
        pk_field=serializers.UUIDField(),
        help_text="Accounts whose monitored models are shown, under the account's name.",
    )
    url = serializers.SerializerMethodField(help_text="The public page (404 unless public).")

    class Meta:
        model = StatusPage
        fields = [
            "id",
            "slug",
            "title",
            "description",
            "public",
            "model_ids",
            "account_ids",
            "url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_url(self, page: StatusPage) -> str:
        return f"/status/{page.slug}"


StatusPageListSerializer = PAGING.envelope(StatusPageSerializer)


class StatusPageQuerySerializer(serializers.Serializer):
    limit, offset = PAGING.fields()


class IdentityMemberSerializer(serializers.Serializer):
    """One provider's model of an identity, with what was measured of it over 7 days."""

    model_id = serializers.UUIDField(source="model.pk")
    model_name = serializers.CharField(source="model.model_id")
    account_id = serializers.UUIDField(source="model.provider_account_id")
    account_name = serializers.CharField(source="model.provider_account.display_name")
    provider_type = serializers.CharField(source="model.provider_account.provider_type")
    checks = serializers.IntegerField()
    availability = serializers.FloatField(allow_null=True, help_text="0–1")
    ttft_p50 = serializers.FloatField(allow_null=True, help_text="ms")
    ttft_p95 = serializers.FloatField(allow_null=True, help_text="ms")
    tps_p50 = serializers.FloatField(allow_null=True, help_text="tokens/s after the first")
    tps_p95 = serializers.FloatField(allow_null=True)
    answer_pass_rate = serializers.FloatField(
        allow_null=True, help_text="Answered checks that passed the answer check (0–1)."
    )
    agreement = serializers.FloatField(
        allow_null=True,
        help_text="Share of its last 10 answers equal to the identity's usual answer (0–1).",
    )


class IdentitySerializer(serializers.Serializer):
    identity = serializers.CharField()
    members = IdentityMemberSerializer(many=True, help_text="Ranked: the best first.")
