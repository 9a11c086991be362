from django import forms
from django.contrib import admin

from arguslm.pages import error_text
from benchmarks import saved
from benchmarks.models import BenchmarkResult, BenchmarkRun, BenchmarkStep, BenchmarkTemplate
from benchmarks.saved_api import BenchmarkTemplateSerializer


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


class BenchmarkTemplateAdminForm(forms.ModelForm):
    """The API's and the page's rules (BenchmarkTemplateSerializer, saved.baseline_problem)
    for the admin's form too: the scheduler starts what is saved here, unattended."""

    class Meta:
        model = BenchmarkTemplate
        fields = ["name", "spec", "cron", "enabled", "baseline_run"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        instance = None if self.instance._state.adding else self.instance
        data = {name: cleaned.get(name) for name in ("name", "spec", "cron", "enabled")}
        serializer = BenchmarkTemplateSerializer(instance, data=data)
        if not serializer.is_valid():
            for key, detail in serializer.errors.items():
                self.add_error(key if key in self.fields else None, error_text(detail))
            return cleaned
        cleaned.update(serializer.validated_data)
        baseline = cleaned.get("baseline_run")
        if baseline is not None and (problem := saved.baseline_problem(self.instance, baseline)):
            self.add_error("baseline_run", problem)
        return cleaned


@admin.register(BenchmarkTemplate)
class BenchmarkTemplateAdmin(admin.ModelAdmin):
    form = BenchmarkTemplateAdminForm
    list_display = ("name", "cron", "enabled", "next_run_at", "baseline_run")
    list_filter = ("enabled",)
    search_fields = ("name",)
    raw_id_fields = ("baseline_run",)
    readonly_fields = ("next_run_at", "created_by", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        # Through the service: the next run follows from the cron (and pausing clears it).
        saved.save(template=obj, user=request.user)
