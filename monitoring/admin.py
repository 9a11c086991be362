from django import forms
from django.contrib import admin

from arguslm.pages import error_text
from monitoring.models import (
    CheckCount,
    CheckRollup,
    MaintenanceWindow,
    ModelBaseline,
    ModelStatus,
    MonitoringConfig,
    MonitoringRun,
    MonitoringShard,
    Region,
    RegionStatus,
    Slo,
    UptimeCheck,
)
from monitoring.serializers import MaintenanceWindowSerializer


@admin.register(MonitoringConfig)
class MonitoringConfigAdmin(admin.ModelAdmin):
    list_display = ("interval_minutes", "prompt_pack", "enabled", "last_run_at")
    readonly_fields = ("last_run_at", "created_at", "updated_at")


@admin.register(MonitoringRun)
class MonitoringRunAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "trigger", "created_at", "total", "up", "degraded", "down")
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in MonitoringRun._meta.fields]


class ShardInline(admin.TabularInline):
    model = MonitoringShard
    fields = ("region", "status", "worker", "attempts", "stored", "enqueued_at", "lease_until")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


MonitoringRunAdmin.inlines = [ShardInline]


@admin.register(MonitoringShard)
class MonitoringShardAdmin(admin.ModelAdmin):
    """Read only: leases are the workers' business (monitoring.regions)."""

    list_display = ("id", "run", "region", "status", "worker", "attempts", "stored")
    list_filter = ("status", "region")
    readonly_fields = [f.name for f in MonitoringShard._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    """Regions appear by their workers' heartbeats; deleting one that has no workers left
    tidies the list (a worker that starts again brings it back)."""

    list_display = ("name", "last_seen_at", "last_worker")
    readonly_fields = ("name", "last_seen_at", "last_worker", "created_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(RegionStatus)
class RegionStatusAdmin(admin.ModelAdmin):
    list_display = ("model", "region", "status", "checked_at", "ttft_ms", "error_type")
    list_filter = ("region", "status")
    list_select_related = ("model",)
    readonly_fields = [f.name for f in RegionStatus._meta.fields]


@admin.register(UptimeCheck)
class UptimeCheckAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "model",
        "region",
        "status",
        "ttft_ms",
        "latency_ms",
        "tps_excluding_ttft",
        "error_type",
    )
    list_filter = ("status", "region", "error_type")
    list_select_related = ("model__provider_account",)
    raw_id_fields = ("model", "run")
    show_full_result_count = False  # the table grows by millions of rows
    readonly_fields = [f.name for f in UptimeCheck._meta.fields]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # only the retention prune deletes checks (it keeps the counts exact)


@admin.register(ModelStatus)
class ModelStatusAdmin(admin.ModelAdmin):
    list_display = ("model", "status", "checked_at", "ttft_ms", "latency_ms", "error_type")
    list_filter = ("status",)
    list_select_related = ("model",)
    readonly_fields = [f.name for f in ModelStatus._meta.fields]


@admin.register(CheckRollup)
class CheckRollupAdmin(admin.ModelAdmin):
    list_display = ("model", "resolution", "bucket", "n", "up", "degraded", "down", "latency_p50")
    list_filter = ("resolution",)
    list_select_related = ("model",)
    raw_id_fields = ("model",)
    show_full_result_count = False
    readonly_fields = [f.name for f in CheckRollup._meta.fields]


@admin.register(CheckCount)
class CheckCountAdmin(admin.ModelAdmin):
    list_display = ("model", "status", "count")
    list_filter = ("status",)
    list_select_related = ("model",)
    readonly_fields = ("model", "status", "count")


class MaintenanceWindowAdminForm(forms.ModelForm):
    """The API's and the page's rules (MaintenanceWindowSerializer) for the admin's form too:
    a window saved here is read on every pass, so it must be one the pass can evaluate."""

    class Meta:
        model = MaintenanceWindow
        fields = [
            "name",
            "account",
            "model",
            "recurrence",
            "starts_at",
            "ends_at",
            "weekdays",
            "start_time",
            "duration_minutes",
            "cron",
        ]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = {name: cleaned.get(name) for name in MaintenanceWindowSerializer.Meta.fields}
        data["account_id"] = getattr(cleaned.get("account"), "pk", None)
        data["model_id"] = getattr(cleaned.get("model"), "pk", None)
        data = {name: value for name, value in data.items() if value is not None}
        instance = self.instance if self.instance.pk else None
        serializer = MaintenanceWindowSerializer(instance, data=data)
        if not serializer.is_valid():
            fields = {"account_id": "account", "model_id": "model"}
            for key, detail in serializer.errors.items():
                field = fields.get(key, key)
                self.add_error(field if field in self.fields else None, error_text(detail))
        return cleaned


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    form = MaintenanceWindowAdminForm
    list_display = ("name", "account", "model", "recurrence", "starts_at", "ends_at", "cron")
    list_filter = ("recurrence",)
    raw_id_fields = ("account", "model")


@admin.register(Slo)
class SloAdmin(admin.ModelAdmin):
    """Its form runs ``Slo.clean`` (the API's and the page's rules)."""

    list_display = ("name", "account", "model", "availability_target", "latency_target")
    raw_id_fields = ("account", "model")


@admin.register(ModelBaseline)
class ModelBaselineAdmin(admin.ModelAdmin):
    """Read-only: a baseline is drawn from checks (monitoring.drift); deleting one has the
    next pass draw it afresh."""

    list_display = ("model", "prompt_pack", "checks", "accepted_at", "accepted_by")
    list_select_related = ("model",)
    readonly_fields = [f.name for f in ModelBaseline._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
