"""Request and response shapes of ``POST /api/v1/models/bulk``: one action on every model a
filter matches, the API's side of the Models page's "Monitor all 214 matching".

Kept apart from providers.serializers (the SDK's wire format): this endpoint is ArgusLM's own.
The filter becomes the pages' ``ModelFilter`` (providers.selection), and the action goes
through ``services.bulk_update``, as the page's does.
"""

from rest_framework import serializers

from providers import tags
from providers.models import ProviderAccount
from providers.selection import MAX_SEARCH, ModelFilter
from providers.services import BulkAction


class ModelFilterSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_SEARCH,
        help_text="Models whose id, custom name or account name contains this (case-insensitive).",
    )
    provider_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="Models of this provider account."
    )
    monitored = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Monitoring switched on/off."
    )
    benchmark = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Offered for benchmarks or not.",
    )
    tag = serializers.ListField(
        child=serializers.CharField(max_length=tags.MAX_LENGTH),
        required=False,
        default=list,
        help_text="Models carrying every one of these tags, their own or their account's.",
    )

    def validate_provider_id(self, value):
        if value is not None and not ProviderAccount.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"Provider account {value} does not exist.")
        return value

    def validate_tag(self, value: list[str]) -> list[str]:
        try:
            return tags.clean_all(value)
        except tags.TagError as exc:
            raise serializers.ValidationError(str(exc)) from None


class ModelBulkActionSerializer(serializers.Serializer):
    filter = ModelFilterSerializer(
        help_text="Which models; {} is every model. The same filters as the Models page."
    )
    action = serializers.ChoiceField(choices=[a.value for a in BulkAction])
    tag = serializers.CharField(
        required=False,
        max_length=tags.MAX_LENGTH,
        help_text="The tag to add or remove (add_tag, remove_tag).",
    )

    def validate_tag(self, value: str) -> str:
        try:
            return tags.clean(value)
        except tags.TagError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict) -> dict:
        tagging = attrs["action"] in (BulkAction.ADD_TAG, BulkAction.REMOVE_TAG)
        if tagging and not attrs.get("tag"):
            raise serializers.ValidationError({"tag": [f"{attrs['action']} needs a tag."]})
        if not tagging and "tag" in attrs:
            raise serializers.ValidationError({"tag": [f"{attrs['action']} takes no tag."]})
        return attrs


def selection(data: dict) -> ModelFilter:
    """The pages' filter from a validated ``filter`` object."""
    return ModelFilter(
        q=data.get("q", "").strip(),
        account_id=data.get("provider_id"),
        monitored=data["monitored"],
        benchmark=data["benchmark"],
        tags=tuple(data["tag"]),
    )


class ModelBulkActionResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    matched = serializers.IntegerField(help_text="Models the filter matched.")
    changed = serializers.IntegerField(help_text="Models the action changed (others already were).")
    skipped = serializers.IntegerField(
        help_text="Models left as they were: add_tag on a model that has the most tags already."
    )
    message = serializers.CharField()
