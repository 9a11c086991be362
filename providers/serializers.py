"""Request and response shapes of the providers and models API (SDK wire format)."""

import re

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from arguslm import errors, region_names
from arguslm.api import Paging, reject_null_characters
from arguslm.llm import answers, catalog
from providers import identity
from providers import tags as tag_rules
from providers.models import (
    MAX_REGION_URLS,
    LLMModel,
    ProviderAccount,
    clean_region_base_urls,
    reenter_message,
)

# Real model ids: `gpt-4.1`, `llama3:8b`, `anthropic.claude-3-haiku-20240307-v1:0`,
# `meta-llama/llama-3-8b-instruct`, `claude-3-5-haiku@20241022`. Only whitespace and
# control characters are refused (they are never part of a provider's id).
MODEL_ID_RE = re.compile(r"^[^\s\x00-\x1f\x7f]+$")


class TagsField(serializers.ListField):
    """Tags as written (``["env:prod", "critical"]``): each cleaned by providers.tags, so a
    bad one is a 422 naming this field with the reason."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            "Tags: names or key:value (env:prod, team:search, critical); lower-cased.",
        )
        super().__init__(child=serializers.CharField(trim_whitespace=False), **kwargs)

    def to_internal_value(self, data) -> list[str]:
        try:
            return tag_rules.clean_all(super().to_internal_value(data))
        except tag_rules.TagError as exc:
            raise serializers.ValidationError(str(exc)) from None


class TagFilterField(TagsField):
    """``?tag=`` (repeatable): objects carrying every tag given; a blank value is no filter."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            "Only those carrying this tag (repeat for every one of several tags).",
        )
        super().__init__(required=False, default=list, **kwargs)

    def to_internal_value(self, data) -> list[str]:
        if isinstance(data, list):
            data = [value for value in data if not (isinstance(value, str) and not value.strip())]
        return super().to_internal_value(data)


class RegionNamesField(serializers.ListField):
    """Probe regions (``["eu-west", "us-east"]``), each checked by arguslm.region_names, so a
    bad one is a 422 naming this field; ``[]``: the default (every region, or the account's)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", region_names.MAX_REGIONS)
        super().__init__(child=serializers.CharField(max_length=region_names.MAX_LENGTH), **kwargs)

    def to_internal_value(self, data) -> list[str]:
        try:
            return region_names.clean_names(data, self.field_name)
        except errors.Invalid as exc:
            raise serializers.ValidationError(exc.message) from None


class RegionBaseUrlsField(serializers.DictField):
    """``{region: base URL}``; the URLs are checked with the account's provider type
    (ProviderAccount's clean_region_base_urls, called by the serializers' ``validate``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            f"A regional endpoint per probe region (at most {MAX_REGION_URLS}), replacing the "
            "base URL for that region's probes; the account's secrets are sent there, so one "
            "on a new host needs them again in credentials ({}: none).",
        )
        super().__init__(child=serializers.CharField(), **kwargs)

    def to_internal_value(self, data) -> dict:
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                f"An object of at most {MAX_REGION_URLS} region: URL pairs."
            )
        return data  # checked whole in validate(), which knows the provider type


def _clean_region_base_urls(attrs: dict, provider_type: str) -> None:
    if "region_base_urls" in attrs:
        try:
            attrs["region_base_urls"] = clean_region_base_urls(
                attrs["region_base_urls"], provider_type=provider_type
            )
        except errors.Invalid as exc:
            raise serializers.ValidationError({"region_base_urls": [exc.message]}) from None


def tag_names(tags) -> list[str]:
    """Names of a tags relation, from its prefetch when there is one (``.all()`` reads it)."""
    return [tag.name for tag in tags.all()]


class ProviderSerializer(serializers.ModelSerializer):
    base_url = serializers.CharField(read_only=True, allow_null=True)
    region = serializers.CharField(read_only=True, allow_null=True)
    credential_keys = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Which credentials are set."
    )
    model_count = serializers.SerializerMethodField()
    provider_label = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField(
        help_text="The account's tags (its models carry them)."
    )
    probe_regions = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Regions whose workers probe its models ([]: every region).",
    )
    region_base_urls = serializers.DictField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Its endpoint per probe region, where it has one ({region: base URL}).",
    )

    class Meta:
        model = ProviderAccount
        fields = [
            "id",
            "provider_type",
            "provider_label",
            "display_name",
            "enabled",
            "base_url",
            "region",
            "credential_keys",
            "model_count",
            "tags",
            "probe_regions",
            "region_base_urls",
            "is_demo",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_tags(self, obj: ProviderAccount) -> list[str]:
        return tag_names(obj.tags)

    def get_model_count(self, obj: ProviderAccount) -> int:
        count = getattr(obj, "model_count", None)
        return count if count is not None else obj.models.count()

    def get_provider_label(self, obj: ProviderAccount) -> str:
        spec = catalog.get_spec(obj.provider_type)
        return spec.label if spec else obj.provider_type


# many=False: the list action answers one envelope object, not an array of them.
@extend_schema_serializer(many=False)
class ProviderListSerializer(serializers.Serializer):
    providers = ProviderSerializer(many=True)
    total = serializers.IntegerField()


def _check_credentials(provider_type: str, credentials: dict) -> None:
    problems = catalog.validate_credentials(provider_type, credentials)
    if problems:
        errors: dict = {}
        for key, message in problems.items():
            if key == "provider_type":
                errors["provider_type"] = [message]
            else:
                errors.setdefault("credentials", {})[key] = [message]
        raise serializers.ValidationError(errors)


class ProviderQuerySerializer(serializers.Serializer):
    tag = TagFilterField()


class ProviderCreateSerializer(serializers.Serializer):
    provider_type = serializers.CharField(max_length=50)
    display_name = serializers.CharField(max_length=255)
    credentials = serializers.DictField(required=False, default=dict)
    enabled = serializers.BooleanField(required=False, default=True)
    tags = TagsField(required=False)
    probe_regions = RegionNamesField(
        required=False, help_text="Regions whose workers probe its models ([]: every region)."
    )
    region_base_urls = RegionBaseUrlsField(required=False)
    discover_models = serializers.BooleanField(
        required=False,
        default=False,
        write_only=True,
        help_text="Discover the account's models right after creating it, as the Providers "
        "page does (off by default, like the original API: clients call refresh-models).",
    )

    def validate_display_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()

    def validate_provider_type(self, value: str) -> str:
        if catalog.get_spec(value) is None:
            raise serializers.ValidationError(
                f"Unknown provider type '{value}'. See GET /api/v1/providers/catalog."
            )
        return value

    def validate(self, attrs: dict) -> dict:
        credentials = {k: v for k, v in attrs["credentials"].items() if v not in (None, "")}
        _check_credentials(attrs["provider_type"], credentials)
        attrs["credentials"] = credentials
        _clean_region_base_urls(attrs, attrs["provider_type"])
        return attrs


class ProviderUpdateSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=255, required=False)
    credentials = serializers.DictField(
        required=False,
        help_text="Merged into the stored credentials; a key set to null is removed.",
    )
    enabled = serializers.BooleanField(required=False)
    tags = TagsField(required=False, help_text="Replaces the account's tags ([]: none).")
    probe_regions = RegionNamesField(
        required=False,
        help_text="Replaces the regions whose workers probe its models ([]: every region).",
    )
    region_base_urls = RegionBaseUrlsField(required=False)

    def validate_display_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()

    def validate(self, attrs: dict) -> dict:
        account: ProviderAccount = self.context["account"]
        _clean_region_base_urls(attrs, account.provider_type)
        if "region_base_urls" in attrs:
            # The account's rule (ProviderAccount.region_urls_to_reenter), located here on the
            # secrets to send again.
            missing = account.region_urls_to_reenter(
                attrs["region_base_urls"], attrs.get("credentials")
            )
            if missing:
                message = reenter_message(account.provider_type, missing)
                raise serializers.ValidationError(
                    {"credentials": {name: [message] for name in missing}}
                )
        if "credentials" in attrs:
            merged = account.credentials
            for key, value in attrs["credentials"].items():
                if value in (None, ""):
                    merged.pop(key, None)
                else:
                    merged[key] = value
            _check_credentials(account.provider_type, merged)
            missing = account.secrets_to_reenter(attrs["credentials"])
            if missing:
                message = reenter_message(account.provider_type, missing)
                raise serializers.ValidationError(
                    {"credentials": {name: [message] for name in missing}}
                )
        return attrs


class ProviderTestSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    details = serializers.DictField(allow_null=True)


class ProviderRefreshSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    models_discovered = serializers.IntegerField()
    added = serializers.IntegerField()
    updated = serializers.IntegerField()
    unavailable = serializers.IntegerField()
    message = serializers.CharField()


class CatalogSerializer(serializers.Serializer):
    providers = serializers.DictField(child=serializers.DictField())
    total = serializers.IntegerField()
    tested_count = serializers.IntegerField()


class ModelSerializer(serializers.ModelSerializer):
    provider_account_id = serializers.UUIDField(read_only=True)
    provider_name = serializers.SerializerMethodField()
    provider_type = serializers.SerializerMethodField()
    identity = serializers.CharField(
        source="identity_name",
        read_only=True,
        help_text="Which model this is across providers (Models across providers).",
    )
    identity_source = serializers.SerializerMethodField(help_text="set, or suggested (from the id)")
    tags = serializers.SerializerMethodField(help_text="The model's own tags.")
    account_tags = serializers.SerializerMethodField(
        help_text="Its account's tags, which the model carries too (filters match both)."
    )
    probe_regions = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Regions whose workers probe it ([]: its account's).",
    )

    class Meta:
        model = LLMModel
        fields = [
            "id",
            "provider_account_id",
            "provider_name",
            "provider_type",
            "model_id",
            "custom_name",
            "display_name",
            "source",
            "enabled_for_monitoring",
            "enabled_for_benchmark",
            "available",
            "model_metadata",
            "answer_check",
            "identity",
            "identity_source",
            "tags",
            "account_tags",
            "probe_regions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_tags(self, obj: LLMModel) -> list[str]:
        return tag_names(obj.tags)

    def get_account_tags(self, obj: LLMModel) -> list[str]:
        return tag_names(obj.provider_account.tags)

    def get_provider_name(self, obj: LLMModel) -> str:
        account = obj.provider_account
        return account.display_name or account.provider_type

    def get_provider_type(self, obj: LLMModel) -> str:
        return obj.provider_account.provider_type

    def get_identity_source(self, obj: LLMModel) -> str:
        return "set" if obj.identity else "suggested"


MODELS_PAGING = Paging(default_limit=50, max_limit=500, has_more=True)
ModelListSerializer = MODELS_PAGING.envelope(ModelSerializer)


class ModelQuerySerializer(serializers.Serializer):
    provider_id = serializers.UUIDField(required=False)
    provider_account_id = serializers.UUIDField(
        required=False, help_text="Alias of provider_id (what the arguslm SDK sends)."
    )
    enabled_for_monitoring = serializers.BooleanField(required=False, allow_null=True, default=None)
    enabled_for_benchmark = serializers.BooleanField(required=False, allow_null=True, default=None)
    search = serializers.CharField(required=False, allow_blank=True, max_length=255)
    tag = TagFilterField()
    limit, offset = MODELS_PAGING.fields()


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


class ModelCreateSerializer(serializers.Serializer):
    provider_account_id = serializers.UUIDField()
    model_id = serializers.CharField(max_length=255)
    custom_name = serializers.CharField(
        max_length=255, required=False, allow_null=True, allow_blank=True, default=None
    )
    metadata = serializers.DictField(
        required=False, default=dict, validators=[reject_null_characters]
    )
    enabled_for_monitoring = serializers.BooleanField(required=False, default=False)
    enabled_for_benchmark = serializers.BooleanField(required=False, default=True)
    tags = TagsField(required=False, help_text="The model's own tags.")
    probe_regions = RegionNamesField(
        required=False, help_text="Regions whose workers probe it ([]: its account's)."
    )

    def validate_model_id(self, value: str) -> str:
        value = value.strip()
        if not MODEL_ID_RE.match(value):
            raise serializers.ValidationError(
                "A model id may not be empty or contain whitespace or control characters."
            )
        return value

    def validate_custom_name(self, value):
        return _blank_to_none(value)

    def validate_provider_account_id(self, value):
        if not ProviderAccount.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"Provider account {value} does not exist.")
        return value


class ModelUpdateSerializer(serializers.Serializer):
    custom_name = serializers.CharField(
        max_length=255, required=False, allow_null=True, allow_blank=True
    )
    enabled_for_monitoring = serializers.BooleanField(required=False, allow_null=True)
    enabled_for_benchmark = serializers.BooleanField(required=False, allow_null=True)
    answer_check = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="Answer-check rules replacing the prompt pack's (null: the pack's; []: none).",
    )
    identity = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=100,
        help_text='Which model this is across providers, e.g. llama-3.1-8b ("" or null: '
        "suggested from the model id).",
    )
    tags = TagsField(
        required=False, help_text="Replaces the model's own tags ([]: none; the account's stay)."
    )
    probe_regions = RegionNamesField(
        required=False, help_text="Replaces the regions whose workers probe it ([]: its account's)."
    )

    def validate_custom_name(self, value):
        return _blank_to_none(value)

    def validate_identity(self, value: str | None) -> str:
        value = (value or "").strip().lower()
        if value and not identity.IDENTITY_PATTERN.fullmatch(value):
            raise serializers.ValidationError(
                "Use lower-case letters, digits, dots and hyphens, e.g. llama-3.1-8b."
            )
        return value

    def validate_answer_check(self, value):
        if value is not None and (found := answers.problems(value)):
            raise serializers.ValidationError(found)
        return value


class ModelBulkUpdateSerializer(serializers.Serializer):
    provider_account_id = serializers.UUIDField()
    enabled_for_monitoring = serializers.BooleanField(required=False)
    enabled_for_benchmark = serializers.BooleanField(required=False)

    def validate(self, attrs):
        if "enabled_for_monitoring" not in attrs and "enabled_for_benchmark" not in attrs:
            raise serializers.ValidationError(
                "Give enabled_for_monitoring and/or enabled_for_benchmark."
            )
        return attrs


class ModelBulkResultSerializer(serializers.Serializer):
    updated = serializers.IntegerField()
