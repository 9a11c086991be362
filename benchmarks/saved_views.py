"""The Benchmarks page's saved benchmarks: save the start form's settings (with an optional
schedule), run one now, delete one, and make a run its template's baseline.

Plain POST forms answered with a redirect and a django message, as on the rest of the page;
bad input re-renders the page with the form as it was sent (benchmarks.views).
"""

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from arguslm import errors
from arguslm.forms import text
from arguslm.limits import rate_limited
from arguslm.pages import error_text, login_required_htmx, permission_required
from benchmarks import saved, services
from benchmarks.forms import RunSettingsForm, shown
from benchmarks.models import BenchmarkRun, BenchmarkTemplate
from benchmarks.saved_api import BenchmarkTemplateSerializer
from benchmarks.views import _render_benchmarks


class TemplateSaveForm(RunSettingsForm):
    """The start form's fields plus a template name and a cron: BenchmarkTemplateSerializer's
    rules, the spec's errors shown on the start form's fields."""

    serializer_class = BenchmarkTemplateSerializer
    error_fields = {"name": "template_name"}

    template_name = text()
    cron = text()

    def payload(self) -> dict:
        form = self.cleaned_data
        return {"name": form["template_name"], "cron": form["cron"], "spec": self.run_spec()}

    def add_field_error(self, key: str, detail) -> None:
        if key == "spec" and isinstance(detail, dict):
            for sub, problems in detail.items():
                if sub == "name":  # the runs' name, not the template's
                    self.add_error("name", error_text(problems))
                else:
                    super().add_field_error(sub, problems)
            return
        if key == "name" and not self.cleaned_data["template_name"]:
            detail = "Name the saved benchmark."
        super().add_field_error(key, detail)


@login_required_htmx
@permission_required("benchmarks.add_benchmarktemplate")
@require_POST
def template_save(request: HttpRequest) -> HttpResponse:
    form = TemplateSaveForm(request.POST)
    if not form.is_valid():
        values = form.values()
        start = shown(values)
        problems = form.messages()
        problems.setdefault("form", "fix the highlighted fields.")
        return _render_benchmarks(
            request,
            form=start,
            errors=problems,
            save={"template_name": values["template_name"], "cron": values["cron"], "open": True},
            lead="Not saved",
        )
    template = saved.save(user=request.user, **form.validated_data)
    when = f" Next run: {template.next_run_at:%Y-%m-%d %H:%M} UTC." if template.next_run_at else ""
    messages.success(request, f"Saved “{template.name}”.{when}")
    return redirect("benchmarks")


@login_required_htmx
@permission_required("benchmarks.add_benchmarkrun")
@require_POST
@rate_limited("benchmark_start")
def template_run(request: HttpRequest, template_id: uuid.UUID) -> HttpResponse:
    template = get_object_or_404(BenchmarkTemplate, pk=template_id)
    try:
        run = saved.start(template, triggered_by="user", user=request.user)
    except (saved.TemplateInvalid, services.TooManyBenchmarks) as exc:
        messages.error(request, exc.message)
        return redirect("benchmarks")
    messages.success(request, f"Started “{run.name}”.")
    return redirect("benchmark-detail", run_id=run.pk)


@login_required_htmx
@permission_required("benchmarks.delete_benchmarktemplate")
@require_POST
def template_delete(request: HttpRequest, template_id: uuid.UUID) -> HttpResponse:
    template = get_object_or_404(BenchmarkTemplate, pk=template_id)
    saved.delete(template=template)
    messages.success(request, f"Deleted the saved benchmark “{template.name}” (its runs stay).")
    return redirect("benchmarks")


@login_required_htmx
@permission_required("benchmarks.change_benchmarktemplate")
@require_POST
def run_as_baseline(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = get_object_or_404(BenchmarkRun.objects.select_related("template"), pk=run_id)
    if run.template is None:
        messages.error(request, "This run was not started from a saved benchmark.")
        return redirect("benchmark-detail", run_id=run.pk)
    try:
        saved.set_baseline(run.template, run)
    except errors.DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"New runs of “{run.template.name}” are now compared with this one."
        )
    return redirect("benchmark-detail", run_id=run.pk)
