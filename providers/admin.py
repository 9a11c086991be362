from django import forms
from django.contrib import admin, messages
from django.db.models import Count

from arguslm import errors, region_names
from arguslm.llm.types import GatewayError
from providers import services, tags
from providers.models import (
    LLMModel,
    ProviderAccount,
    Tag,
    clean_region_base_urls,
    reenter_message,
)


class TagForm(forms.ModelForm):
    """A tag typed in the admin follows the same rules as one set by the pages or the API."""

    class Meta:
        model = Tag
        fields = ["name"]

    def clean_name(self) -> str:
        try:
            return tags.clean(self.cleaned_data["name"])
        except tags.TagError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    """Tags with how many models and accounts carry them; deleting one removes it from all."""

    form = TagForm
    list_display = ("name", "model_count", "account_count")
    search_fields = ("name",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_models=Count("models", distinct=True), n_accounts=Count("accounts", distinct=True)
            )
        )

    @admin.display(description="Models", ordering="n_models")
    def model_count(self, obj: Tag) -> int:
        return obj.n_models

    @admin.display(description="Accounts", ordering="n_accounts")
    def account_count(self, obj: Tag) -> int:
        return obj.n_accounts


def _probe_regions(value) -> list[str]:
    try:
        return region_names.clean_names(value, "probe_regions")
    except errors.Invalid as exc:
        raise forms.ValidationError(exc.message) from None


class ProviderAccountForm(forms.ModelForm):
    """Probe regions and regional endpoints typed in the admin follow the API's rules. The
    admin takes no secrets, so an endpoint on a new host is refused here (the account's rule,
    ProviderAccount.region_urls_to_reenter): set it through the API with the secrets.

    No Meta: the admin builds it, with the admin's fields."""

    def clean_probe_regions(self) -> list[str]:
        return _probe_regions(self.cleaned_data["probe_regions"])

    def clean_region_base_urls(self) -> dict:
        account = self.instance  # not changed yet: its stored hosts
        provider_type = self.cleaned_data.get("provider_type") or account.provider_type
        try:
            urls = clean_region_base_urls(
                self.cleaned_data["region_base_urls"], provider_type=provider_type
            )
        except errors.Invalid as exc:
            raise forms.ValidationError(exc.message) from None
        missing = account.region_urls_to_reenter(urls)
        if missing:
            raise forms.ValidationError(
                reenter_message(account.provider_type, missing)
                + " The admin does not take secrets: set this endpoint with PATCH "
                "/api/v1/providers/{id}, sending them in credentials."
            )
        return urls


class LLMModelForm(forms.ModelForm):
    """A model's probe regions typed in the admin follow the API's rule (no Meta: the admin
    builds it, with every field as before)."""

    def clean_probe_regions(self) -> list[str]:
        return _probe_regions(self.cleaned_data["probe_regions"])


class LLMModelInline(admin.TabularInline):
    model = LLMModel
    fields = (
        "model_id",
        "custom_name",
        "source",
        "enabled_for_monitoring",
        "enabled_for_benchmark",
        "available",
    )
    readonly_fields = ("source", "available")
    extra = 0
    show_change_link = True


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    """Accounts with credentials masked: only which keys are set is shown."""

    form = ProviderAccountForm
    list_display = ("display_name", "provider_type", "enabled", "credential_summary", "created_at")
    search_fields = ("display_name", "provider_type")
    fields = (
        "provider_type",
        "display_name",
        "enabled",
        "tags",
        "probe_regions",
        "region_base_urls",
        "is_demo",
        "credential_summary",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("credential_summary", "created_at", "updated_at")
    filter_horizontal = ("tags",)
    list_filter = ("provider_type", "enabled", "tags")
    inlines = [LLMModelInline]

    def get_readonly_fields(self, request, obj=None):
        # The type decides the default host its credentials go to: fixed once stored (a new
        # type means a new account, with its credentials entered for it).
        return (*self.readonly_fields, "provider_type") if obj else self.readonly_fields

    actions = ["test_connection", "refresh_models"]

    @admin.display(description="Credentials")
    def credential_summary(self, obj: ProviderAccount) -> str:
        keys = obj.credential_keys
        return ", ".join(f"{k}: set" for k in keys) if keys else "none"

    @admin.action(description="Test connection")
    def test_connection(self, request, queryset):
        for account in queryset:
            result = services.test_connection(
                provider_type=account.provider_type,
                credentials=account.credentials,
                account=account,
            )
            level = messages.SUCCESS if result["success"] else messages.ERROR
            self.message_user(request, f"{account}: {result['message']}", level)

    @admin.action(description="Refresh models")
    def refresh_models(self, request, queryset):
        for account in queryset:
            try:
                result = services.refresh_models(account=account)
            except GatewayError as exc:
                self.message_user(
                    request, f"{account}: discovery failed: {exc.message}", messages.ERROR
                )
            else:
                self.message_user(request, f"{account}: {result.message}", messages.SUCCESS)


@admin.register(LLMModel)
class LLMModelAdmin(admin.ModelAdmin):
    form = LLMModelForm
    list_display = (
        "model_id",
        "custom_name",
        "provider_account",
        "source",
        "enabled_for_monitoring",
        "enabled_for_benchmark",
        "available",
    )
    list_filter = ("enabled_for_monitoring", "enabled_for_benchmark", "available", "source", "tags")
    search_fields = ("model_id", "custom_name")
    list_select_related = ("provider_account",)
    list_editable = ("enabled_for_monitoring", "enabled_for_benchmark")
    filter_horizontal = ("tags",)
    actions = ["monitor", "unmonitor", "enable_benchmark", "disable_benchmark"]

    def _bulk(self, request, queryset, action: str) -> None:
        """The selected models through the pages' and the API's one bulk service (audited
        once, with the number selected)."""
        count = queryset.count()
        result = services.bulk_update(
            models=queryset, action=action, filters={"admin_selection": count}
        )
        self.message_user(request, result.message, messages.SUCCESS)

    @admin.action(description="Monitor the selected models", permissions=["change"])
    def monitor(self, request, queryset):
        self._bulk(request, queryset, services.BulkAction.MONITOR)

    @admin.action(description="Stop monitoring the selected models", permissions=["change"])
    def unmonitor(self, request, queryset):
        self._bulk(request, queryset, services.BulkAction.UNMONITOR)

    @admin.action(description="Offer the selected models for benchmarks", permissions=["change"])
    def enable_benchmark(self, request, queryset):
        self._bulk(request, queryset, services.BulkAction.ENABLE_BENCHMARK)

    @admin.action(
        description="Withdraw the selected models from benchmarks", permissions=["change"]
    )
    def disable_benchmark(self, request, queryset):
        self._bulk(request, queryset, services.BulkAction.DISABLE_BENCHMARK)
