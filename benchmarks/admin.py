from django.contrib import admin

from benchmarks.models import BenchmarkResult, BenchmarkRun, BenchmarkStep


class BenchmarkResultInline(admin.TabularInline):
    model = BenchmarkResult
    fields = (
        "seq",
        "model",
        "ttft_ms",
        "latency_ms",
        "tps_excluding_ttft",
        "output_tokens",
        "error_type",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False


class BenchmarkStepInline(admin.TabularInline):
    model = BenchmarkStep
    fields = ("model", "index", "level", "started_at", "duration_ms", "sent")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "profile", "prompt_pack", "created_at", "completed_at")
    list_filter = ("status", "profile", "prompt_pack")
    search_fields = ("name",)
    readonly_fields = ("heartbeat_at", "started_at", "completed_at", "created_at", "updated_at")
    inlines = [BenchmarkStepInline, BenchmarkResultInline]


@admin.register(BenchmarkStep)
class BenchmarkStepAdmin(admin.ModelAdmin):
    """Read-only: a step's window is what the engine measured."""

    list_display = ("run", "model", "index", "level", "started_at", "duration_ms", "sent")
    list_select_related = ("run", "model")
    raw_id_fields = ("run", "model")
    readonly_fields = [f.name for f in BenchmarkStep._meta.fields]


@admin.register(BenchmarkResult)
class BenchmarkResultAdmin(admin.ModelAdmin):
    list_display = (
        "run",
        "seq",
        "model",
        "ttft_ms",
        "latency_ms",
        "tps_excluding_ttft",
        "error_type",
    )
    list_filter = ("error_type",)
    list_select_related = ("run", "model")
    raw_id_fields = ("run", "model")
    readonly_fields = [f.name for f in BenchmarkResult._meta.fields]
