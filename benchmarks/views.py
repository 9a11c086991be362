"""Server-rendered Benchmarks pages: the start form and history, and one run's detail page.

Actions are plain POST forms answered with a redirect and a django message (the pages work
with JavaScript off). Bad input re-renders the form with status 200 and its messages (Django's
form convention, as on the Providers pages). While a run is live, benchmarks.js follows it over
the WebSocket (benchmarks.live) and falls back to polling ``benchmark-progress`` when the socket
cannot be opened (a WSGI server, a proxy without WebSocket support).
"""

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from arguslm.limits import rate_limited
from arguslm.llm.prompts import BY_ID, PACKS
from arguslm.pages import (
    count_holds,
    error_text,
    hidden_fields,
    login_required_htmx,
    paginate,
    permission_required,
)
from benchmarks import capacity, engine, live, saved, services
from benchmarks.forms import DEFAULTS, BenchmarkStartForm
from benchmarks.models import BenchmarkRun, BenchmarkTemplate
from benchmarks.serializers import BenchmarkCreateSerializer
from providers.models import LLMModel
from providers.selection import MAX_SEARCH

RUNS_PER_PAGE = 20
SETTINGS = (
    "prompt_pack",
    "max_tokens",
    "num_runs",
    "concurrency",
    "warmup_runs",
    "profile",
    "load",
    "slo",
)


def _pack_label(pack_id: str) -> str:
    pack = BY_ID.get(pack_id)
    return f"{pack.name} (≈{pack.expected_tokens} tokens)" if pack else pack_id


# --- benchmarks page ----------------------------------------------------------------------------


def _model_groups() -> list[dict]:
    """Models offered for benchmarks (enabled ones of enabled accounts), per provider account."""
    models = (
        LLMModel.objects.filter(enabled_for_benchmark=True, provider_account__enabled=True)
        .select_related("provider_account")
        .order_by("provider_account__display_name", "provider_account_id", "model_id")
    )
    groups: dict = {}
    for model in models:
        account = model.provider_account
        group = groups.setdefault(account.pk, {"account": account, "models": []})
        group["models"].append(model)
    return list(groups.values())


def _history_filters(params) -> dict:
    """The history's filters as kept in the URL: name search and status (junk is ignored)."""
    status = params.get("status", "")
    return {
        "q": params.get("q", "").replace("\x00", "").strip()[:MAX_SEARCH],
        "status": status if status in BenchmarkRun.Status.values else "",
    }


def _history(request: HttpRequest) -> dict:
    filters = _history_filters(request.GET)
    runs = services.matching_runs(services.runs_with_counts().order_by("-created_at"), **filters)
    paging = paginate(request, runs, RUNS_PER_PAGE, filters)
    page = paging["page_obj"]
    for run in page:
        run.pack_name = BY_ID[run.prompt_pack].name if run.prompt_pack in BY_ID else run.prompt_pack
    finished = services.matching_runs(
        BenchmarkRun.objects.filter(status__in=BenchmarkRun.TERMINAL), **filters
    ).count()
    return {
        **paging,
        "history_filters": filters,
        "statuses": BenchmarkRun.Status.choices,
        # The table re-renders itself every few seconds while one of its runs is live.
        "history_live": any(not run.is_finished for run in page),
        "history_url": paging["page_url"](page.number),
        "bulk": {
            "id": "runs",
            "url": reverse("benchmarks-delete-matching"),
            "count": finished,
            "fields": hidden_fields(filters),
            "actions": [
                {
                    "action": "delete",
                    "label": "Delete",
                    "question": f"Delete all {finished} matching finished "
                    f"run{'' if finished == 1 else 's'} and their results? This cannot be "
                    "undone.",
                    "confirm": "Yes, delete them",
                    "danger": True,
                }
            ],
        },
    }


def _render_benchmarks(
    request: HttpRequest, *, form=None, errors=None, save=None, lead="Not started"
) -> HttpResponse:
    """The page; ``save`` and ``lead`` show the "Save as template" part of the form as it was
    sent (benchmarks.saved_views) and what the error at the top says was refused."""
    context = {"page": "benchmarks", **_history(request)}
    if request.htmx and request.htmx.target == "benchmarks-history":
        return render(request, "benchmarks/history.html", context)
    form = form or {**DEFAULTS, "model_ids": []}
    context.update(
        groups=_model_groups(),
        packs=[{"id": p.id, "label": _pack_label(p.id)} for p in PACKS],
        slo_metrics=list(capacity.LABELS.items()),
        slo_percentiles=capacity.PERCENTILES,
        form=form,
        selected={str(m) for m in form["model_ids"]},
        errors=errors or {},
        error_lead=lead,
        save=save or {"template_name": "", "cron": ""},
        saved=saved.summaries(BenchmarkTemplate.objects.select_related("baseline_run")),
    )
    return render(request, "benchmarks/benchmarks.html", context)


@login_required_htmx
@require_GET
def benchmarks_page(request: HttpRequest) -> HttpResponse:
    engine.close_stale_runs()
    response = _render_benchmarks(request)
    # The same URL answers with the page or, for htmx, the history table alone.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


@login_required_htmx
@permission_required("benchmarks.add_benchmarkrun")
@require_POST
@rate_limited("benchmark_start")
def benchmark_start(request: HttpRequest) -> HttpResponse:
    """Validate the form with the API's serializer, start the run, go to its page."""
    form = BenchmarkStartForm(request.POST)
    if not form.is_valid():
        return _render_benchmarks(request, form=form.values(), errors=form.messages())
    try:
        run = services.start(data=form.validated_data, user=request.user)
    except services.TooManyBenchmarks as exc:
        return _render_benchmarks(request, form=form.values(), errors={"form": exc.message})
    messages.success(request, f"Started “{run.name}”.")
    return redirect("benchmark-detail", run_id=run.pk)


# --- run detail page ----------------------------------------------------------------------------


def _chart_data(results, per_model: list[dict]) -> dict:
    """Every successful sample's TTFT and decode speed per model, for the strip charts."""
    samples: dict = {}
    for r in results:
        if r.error_type is None:
            entry = samples.setdefault(str(r.model_id), {"ttft": [], "tps": []})
            if r.ttft_ms is not None:
                entry["ttft"].append({"v": r.ttft_ms, "seq": r.seq})
            if r.tps_excluding_ttft is not None:
                entry["tps"].append({"v": r.tps_excluding_ttft, "seq": r.seq})
    return {
        "models": [
            {
                "name": row["model_name"],
                "ttft": samples.get(row["model_id"], {}).get("ttft", []),
                "tps": samples.get(row["model_id"], {}).get("tps", []),
                "ttft_p50": row["ttft_ms"]["p50"],
                "tps_p50": row["tps_excluding_ttft"]["p50"],
            }
            for row in per_model
        ]
    }


def _sweep_context(run: BenchmarkRun, capacities: list) -> dict | None:
    """A sweep's settings, its verdicts and steps per model, and its charts' data."""
    if run.profile == BenchmarkRun.Profile.FIXED:
        return None
    slo = capacity.parse_slo(run.slo)
    metric, pct = (slo.metric, slo.percentile) if slo else ("ttft", 95)
    rate = run.profile == BenchmarkRun.Profile.RATE_SWEEP
    return {
        "rate": rate,
        "unit": "req/s" if rate else "streams",
        "levels": ", ".join(f"{v:g}" for v in run.load["levels"]),
        "step": (
            f"{run.load['step_seconds']:g} s"
            if run.load.get("step_seconds")
            else f"{run.load['step_requests']} requests"
        ),
        "arrivals": run.load.get("arrivals"),
        "slo": slo,
        "capacities": capacities,
        "chart": {
            "unit": "requests/s" if rate else "concurrent streams",
            "metric": f"{capacity.LABELS[metric]} p{pct}",
            "slo_ms": slo.max_ms if slo else None,
            "models": [
                {
                    "name": c.model_name,
                    "levels": [s.level for s in c.steps],
                    "value": [s.value(metric, pct) for s in c.steps],
                    "p50": [s.value(metric, 50) for s in c.steps],
                    "rps": [s.requests_per_s for s in c.steps],
                    "sustainable": c.sustainable,
                }
                for c in capacities
            ],
        },
    }


def _run_models(run: BenchmarkRun) -> list[str]:
    names = {
        str(m.pk): m.display_name
        for m in LLMModel.objects.filter(pk__in=run.model_ids).only("model_id", "custom_name")
    }
    return [names.get(str(i), f"deleted model {i}") for i in run.model_ids]


@login_required_htmx
@require_GET
def benchmark_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    engine.close_stale_runs()
    run = get_object_or_404(BenchmarkRun, pk=run_id)
    results = services.results_of(run)
    pooled, per_model = services.statistics_of(results)
    duration = None
    if run.started_at and run.completed_at:
        duration = (run.completed_at - run.started_at).total_seconds()
    capacities = services.capacity_of(run, results)
    context = {
        "page": "benchmarks",
        "run": run,
        "sweep": _sweep_context(run, capacities),
        "results": results,
        "last_seq": results[-1].seq if results else 0,
        "pooled": pooled,
        "per_model": per_model,
        "chart_data": _chart_data(results, per_model),
        "pack_label": _pack_label(run.prompt_pack),
        "run_models": _run_models(run),
        "duration": duration,
        "percent": round(100 * len(results) / run.total_requests) if run.total_requests else 0,
    }
    return render(request, "benchmarks/detail.html", context)


@login_required_htmx
@require_GET
def benchmark_progress(request: HttpRequest, run_id: uuid.UUID) -> JsonResponse:
    """Polling fallback of the WebSocket: progress and the results after ``?after=<seq>``."""
    engine.close_stale_runs()
    run = get_object_or_404(BenchmarkRun, pk=run_id)
    after = request.GET.get("after", "")
    after = int(after) if after.isdigit() else 0
    new = run.results.filter(seq__gt=after).select_related("model").order_by("seq")
    return JsonResponse(
        {
            "status": run.status,
            "finished": run.is_finished,
            "completed": run.results.count(),
            "total": run.total_requests,
            "error": run.error,
            "results": [live.result_message(r, r.model.display_name)["data"] for r in new],
        }
    )


@login_required_htmx
@permission_required("benchmarks.change_benchmarkrun")
@require_POST
def benchmark_cancel(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = get_object_or_404(BenchmarkRun, pk=run_id)
    if run.is_finished:
        messages.error(request, f"The benchmark has already finished ({run.status}).")
    else:
        run = services.cancel(run=run)
        if run.status == BenchmarkRun.Status.CANCELLED:
            messages.success(request, "Benchmark cancelled.")
        else:
            messages.success(request, "Cancel requested: the run stops within a few seconds.")
    return redirect("benchmark-detail", run_id=run.pk)


@login_required_htmx
@permission_required("benchmarks.add_benchmarkrun")
@require_POST
@rate_limited("benchmark_start")
def benchmark_rerun(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """A new run with the same models and settings (validated again: models may have changed)."""
    run = get_object_or_404(BenchmarkRun, pk=run_id)
    data = {key: getattr(run, key) for key in SETTINGS}
    serializer = BenchmarkCreateSerializer(
        data={**data, "model_ids": run.model_ids, "name": run.name}
    )
    if not serializer.is_valid():
        problems = error_text(serializer.errors)
        messages.error(request, f"Cannot re-run: {problems}")
        return redirect("benchmark-detail", run_id=run.pk)
    try:
        new = services.start(data=serializer.validated_data, user=request.user)
    except services.TooManyBenchmarks as exc:
        messages.error(request, f"Cannot re-run: {exc.message}")
        return redirect("benchmark-detail", run_id=run.pk)
    messages.success(request, f"Started a re-run of “{run.name}”.")
    return redirect("benchmark-detail", run_id=new.pk)


@login_required_htmx
@permission_required("benchmarks.delete_benchmarkrun")
@require_POST
def benchmarks_delete_matching(request: HttpRequest) -> HttpResponse:
    """Delete every finished run the history's filters match, if as many as confirmed."""
    filters = _history_filters(request.POST)
    query = urlencode(hidden_fields(filters))
    back = reverse("benchmarks") + (f"?{query}" if query else "") + "#history"
    runs = services.matching_runs(
        BenchmarkRun.objects.filter(status__in=BenchmarkRun.TERMINAL), **filters
    )
    if count_holds(request, runs.count(), "finished runs"):
        deleted, kept = services.delete_runs(runs=runs)
        text = f"Deleted {deleted} run{'' if deleted == 1 else 's'} and their results."
        if kept:
            text += f" Kept {kept}: the baseline of a saved benchmark."
        messages.success(request, text)
    return redirect(back)


@login_required_htmx
@permission_required("benchmarks.delete_benchmarkrun")
@require_POST
def benchmark_delete(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = get_object_or_404(BenchmarkRun, pk=run_id)
    if not run.is_finished:
        messages.error(request, f"Cancel the benchmark before deleting it (it is {run.status}).")
        return redirect("benchmark-detail", run_id=run.pk)
    name = run.name
    run.delete()
    messages.success(request, f"Deleted “{name}” and its results.")
    return redirect("benchmarks")
