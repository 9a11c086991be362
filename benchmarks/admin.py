from django.contrib import admin

from benchmarks.models import BenchmarkResult, BenchmarkRun


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


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "prompt_pack", "num_runs", "created_at", "completed_at")
    list_filter = ("status", "prompt_pack")
    search_fields = ("name",)
    readonly_fields = ("heartbeat_at", "started_at", "completed_at", "created_at", "updated_at")
    inlines = [BenchmarkResultInline]


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
