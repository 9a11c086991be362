"""Dashboard and model pages: what needs attention, accounts and a page of models (htmx-polled),
chart JSON, and the first-run simulator button.

The data comes from ``dashboard.fleet`` and ``dashboard.queries`` (a constant number of queries
whatever the number of models); this module only shapes it for the templates: relative
times, formatted availability, the server-rendered sparklines and the status-history grid.
"""

import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from arguslm import errors as domain_errors
from arguslm.pages import login_required_htmx, paginate, permission_required
from arguslm.templatetags.arguslm_tags import ago, availability
from dashboard import across, fleet, queries
from dashboard.forms import DashboardFilterForm
from monitoring import drift
from providers.models import LLMModel, ProviderAccount
from providers.serializers import ModelUpdateSerializer
from providers.services import update_model

DEFAULT_RANGE = "24h"
SPARK_WIDTH, SPARK_HEIGHT = 120, 32
TIMELINE_DAYS = 7
# auth / not_found checks are "down", but the fix is on our side (metrics.md).
CONFIG_ERRORS = {
    "auth": "configuration problem: check the API key",
    "not_found": "configuration problem: check the model id",
}
TONES = {
    "completed": "ok",
    "recovered": "ok",
    "failed": "bad",
    "fired": "bad",
    "skipped": "warn",
    "partial": "warn",  # a pass completed without a region whose workers stopped
    "cancelled": "warn",
    "running": "info",
    "queued": "info",
    "pending": "info",
}
COMPARED = [
    # key, unit, decimals, whether lower is better
    ("ttft_p50", "ms", 0, True),
    ("latency_p50", "ms", 0, True),
    ("tps_p50", "tok/s", 1, False),
]


# --- formatting helpers -------------------------------------------------------------------------


def sparkline(points: list, *, since: datetime, until: datetime) -> dict | None:
    """SVG polylines of hourly latency p50 (``[(iso bucket, p50 | None), …]``) in a
    SPARK_WIDTH × SPARK_HEIGHT box; a missing hour breaks the line."""
    parsed = [(datetime.fromisoformat(t), v) for t, v in points]
    values = [v for _, v in parsed if v is not None]
    if not values:
        return None
    low, high = min(values), max(values)
    spread = (high - low) or 1.0
    window = (until - since).total_seconds() or 1.0
    segments: list[list[tuple[float, float]]] = []
    previous = None
    for bucket, value in parsed:
        if value is None:
            previous = None
            continue
        middle = (bucket + timedelta(minutes=30) - since).total_seconds()
        x = min(max(middle / window * SPARK_WIDTH, 0), SPARK_WIDTH)
        y = SPARK_HEIGHT - 3 - (value - low) / spread * (SPARK_HEIGHT - 6)
        if previous is None or bucket - previous > timedelta(hours=1):
            segments.append([])
        segments[-1].append((x, y))
        previous = bucket
    lines, areas = [], []
    for segment in segments:
        if len(segment) == 1:  # a lone hour: a short dash, so that it shows
            x, y = segment[0]
            segment = [(max(x - 1.5, 0), y), (min(x + 1.5, SPARK_WIDTH), y)]
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
        lines.append(coords)
        areas.append(
            f"{segment[0][0]:.1f},{SPARK_HEIGHT} {coords} {segment[-1][0]:.1f},{SPARK_HEIGHT}"
        )
    return {"lines": lines, "areas": areas, "low": low, "high": high, "last": values[-1]}


def _reverse_or_none(name: str, *args) -> str | None:
    """The URL, or None while the page's app is not wired in."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def range_key(request: HttpRequest) -> str:
    value = request.GET.get("range", "")
    return value if value in queries.RANGES else DEFAULT_RANGE


def range_choices() -> list[str]:
    return list(queries.RANGES)


# --- dashboard ----------------------------------------------------------------------------------


def _figure(value: float | None, decimals: int) -> str:
    """A figure as the page shows it ("1,234", "56.7"), "—" when not measured. Formatted here,
    not with a filter per cell: a page of rows is thousands of filter calls."""
    return "—" if value is None else f"{value:,.{decimals}f}"


def _decorate_row(row: dict, now: datetime) -> None:
    status = row["status"]
    row["ago"] = ago(status.checked_at if status else None, now)
    row["checked_title"] = f"{status.checked_at:%Y-%m-%d %H:%M:%S} UTC" if status else ""
    row["availability_text"] = availability(row["availability"])
    row["spark"] = sparkline(row["sparkline"], since=now - timedelta(hours=24), until=now)
    if row["spark"]:
        row["spark"]["range"] = f"{row['spark']['low']:.0f}–{row['spark']['high']:.0f}"
    row["hint"] = CONFIG_ERRORS.get(status.error_type) if status else None
    row["ttft_text"] = _figure(status.ttft_ms if status else None, 0)
    row["latency_text"] = _figure(status.latency_ms if status else None, 0)
    row["tps_text"] = _figure(status.tps_excluding_ttft if status else None, 1)


def _page_link(query: str, number: int) -> str:
    """A link to page ``number`` with the filters: relative ("?…"), so that it points at the
    dashboard also when the live refresh (another path) renders it."""
    joined = "&".join(part for part in (query, f"page={number}" if number > 1 else "") if part)
    return f"?{joined}" if joined else "?"


def _live_url(query: str, number: int, *, all_accounts: bool) -> str:
    """What the 30-second refresh asks for: the same filters, page and account list."""
    parts = (query, f"page={number}" if number > 1 else "", "accounts=all" if all_accounts else "")
    joined = "&".join(part for part in parts if part)
    return reverse("dashboard-live") + (f"?{joined}" if joined else "")


def _health_bar(health: dict, total: int) -> list[dict]:
    """Stacked SVG rects (x, width in %): SVG attributes, not inline styles (strict CSP)."""
    bar, x = [], 0.0
    for state in fleet.STATES:
        if health[state]:
            width = 100 * health[state] / max(total, 1)
            bar.append({"state": state, "x": round(x, 2), "width": round(width, 2)})
            x += width
    return bar


def live_context(request: HttpRequest, now: datetime) -> dict:
    """Everything the page and its 30-second refresh render for the filters and page in the
    URL: what needs attention, the status cards, the accounts, one page of models.

    A fixed number of queries: the accounts (hundreds at most) once, counts by state
    aggregated in the database, the models filtered and paged there, rollups for the page's
    models only (dashboard.fleet)."""
    accounts = list(
        ProviderAccount.objects.defer("credentials_encrypted").order_by(Lower("display_name"), "id")
    )
    summaries = fleet.account_summaries(now=now, accounts=accounts)
    health = {state: sum(s["states"][state] for s in summaries) for state in fleet.STATES}
    monitored = sum(s["monitored"] for s in summaries)
    reports = fleet.slo_reports(now=now)
    regions = _regions(now)
    live_regions = [region["name"] for region in regions if region["live"]]
    return {
        **_status_context(now, monitored),
        "now": now,
        "metrics": queries.METRICS,
        "has_providers": bool(accounts),
        "monitored": monitored,
        "health": health,
        "health_bar": _health_bar(health, monitored),
        "slo_card": fleet.slo_card(reports),
        "regions": regions,
        **_attention_context(now, health, reports),
        **_accounts_context(request, summaries),
        **_models_context(request, accounts, now, live_regions=live_regions),
    }


def _regions(now: datetime) -> list[dict]:
    """The probe regions (none with one region): live or stale, and models down there."""
    regions = fleet.regions(now=now)
    for region in regions:
        region["seen_ago"] = ago(region["last_seen_at"], now)
        seen = region["last_seen_at"]
        region["seen_title"] = f"{seen:%Y-%m-%d %H:%M:%S} UTC" if seen else ""
    return regions


def _status_context(now: datetime, monitored: int) -> dict:
    """The last pass, the schedule, alerts, and recent activity."""
    data = queries.status(now=now)
    alerts_url = _reverse_or_none("alerts")
    for item in data["activity"]:
        item["ago"] = ago(item["at"], now)
        item["tone"] = TONES.get(item["status"], "info")
        if item["kind"] == "benchmark":
            item["url"] = _reverse_or_none("benchmark-detail", item["id"])
        elif item["kind"] == "alert":
            item["url"] = alerts_url
    run = data["last_run"]
    data["last_run_at"] = (run.finished_at or run.created_at) if run else None
    data["last_run_ago"] = ago(data["last_run_at"], now)
    data["stale_for"] = ago(data["config"].last_run_at, now)
    data["stale"] = data["stale"] and bool(monitored)
    return data


def _attention_context(now: datetime, health: dict, reports: list) -> dict:
    """What needs attention: models down or degraded, SLOs burning, open incidents; the first
    PROBLEMS_SHOWN of each and how many more."""
    problems = fleet.problem_models()
    for model in problems:
        model.checked_ago = ago(model.status.checked_at, now)
        model.hint = CONFIG_ERRORS.get(model.status.error_type)
    incidents, incidents_total = fleet.open_incidents()
    for incident in incidents:
        incident.opened_ago = ago(incident.opened_at, now)
    burning = fleet.burning_slos(reports)
    problems_total = health["down"] + health["degraded"]
    return {
        "problems": problems,
        "problems_total": problems_total,
        "problems_more": problems_total - len(problems),
        "incidents": incidents,
        "incidents_total": incidents_total,
        "incidents_more": incidents_total - len(incidents),
        "burning_slos": burning[: fleet.PROBLEMS_SHOWN],
        "burning_total": len(burning),
        "burning_more": max(len(burning) - fleet.PROBLEMS_SHOWN, 0),
        "attention": bool(problems or incidents or burning),
    }


def _accounts_context(request: HttpRequest, summaries: list[dict]) -> dict:
    show_all = request.GET.get("accounts") == "all"
    shown, hidden = fleet.shown_accounts(summaries, show_all=show_all)
    for summary in shown:
        summary["availability_text"] = availability(summary["availability"])
        summary["cells"] = [{"state": s, "n": summary["states"][s]} for s in fleet.STATES]
    return {
        "accounts": shown,
        "accounts_hidden": hidden,
        "accounts_total": len(summaries),
        "show_all_accounts": show_all,
        "accounts_capped": len(summaries) > fleet.ACCOUNTS_SHOWN,
    }


def _models_context(
    request: HttpRequest, accounts: list, now: datetime, *, live_regions: list[str]
) -> dict:
    """One page of the models the URL's filters select, with its paging links. With several
    ``live_regions``, a model not agreed down says where it is down."""
    filters, notes = DashboardFilterForm(request.GET, accounts=accounts).filters()
    paging = paginate(request, fleet.filtered_models(filters), fleet.PER_PAGE, filters.as_query())
    page = paging["page_obj"]
    page_models = list(page.object_list)
    rows = fleet.page_rows(page_models, now)
    down_in = fleet.down_in([m.id for m in page_models], live_regions) if live_regions else {}
    for row in rows:
        _decorate_row(row, now)
        if row["state"] != "down":
            row["down_in"] = ", ".join(down_in.get(row["model"].id, []))
    query = paging["query"]
    return {
        "filters": filters,
        "filter_notes": notes,
        "filter_accounts": accounts,
        "filter_states": fleet.STATE_FILTERS,
        "filter_tags": fleet.tag_names(),
        "rows": rows,
        "page_obj": page,
        "page_count_total": page.paginator.count,
        "prev_url": _page_link(query, page.previous_page_number()) if page.has_previous() else "",
        "next_url": _page_link(query, page.next_page_number()) if page.has_next() else "",
        "live_url": _live_url(
            query, page.number, all_accounts=request.GET.get("accounts") == "all"
        ),
        "page_model_ids": [str(row["model"].id) for row in rows],
        "model_query": urlencode([("model", str(row["model"].id)) for row in rows]),
        "across_providers": _across(page_models, now),
    }


def _across(models: list, now: datetime) -> dict:
    groups = fleet.across_groups(models, now)
    for group in groups.values():
        for row in group:
            _decorate_row(row, now)
    return groups


def comparison_context(range_: str, now: datetime, *, model_ids: list | None = None) -> dict:
    """Performance by model over the range, each figure with a bar scaled to its column."""
    rows = queries.comparison(range_key=range_, model_ids=model_ids, now=now)
    cells = {}
    for key, _, _, lower_is_better in COMPARED:
        values = [r[key] for r in rows if r[key] is not None]
        top = max(values, default=None)
        best = (min if lower_is_better else max)(values, default=None)
        cells[key] = (top, best if len(values) > 1 else None)
    for row in rows:
        row["cells"] = []
        for key, unit, decimals, _ in COMPARED:
            value, (top, best) = row[key], cells[key]
            row["cells"].append(
                {
                    "value": value,
                    "unit": unit,
                    "decimals": decimals,
                    "width": round(100 * value / top, 1) if value is not None and top else 0,
                    "best": value is not None and value == best,
                }
            )
    rows.sort(key=lambda r: r["n"] == 0)  # models without data in the range go last
    source = queries.RANGES[range_][1]
    if source == "raw":
        hour = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
        window = f"since {hour:%H}:00 (this hour's rollup: percentiles need whole buckets)"
    else:
        window = f"last {range_} ({queries.ROLLUP_NAMES[source]} rollups)"
    return {
        "comparison": rows,
        "comparison_window": window,
        "range": range_,
        "metrics": queries.METRICS,
    }


@login_required_htmx
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Status, model cards (htmx-polled), trend charts (JSON), comparison, activity."""
    now = timezone.now()
    context = {
        "page": "dashboard",
        **live_context(request, now),
        "range": range_key(request),
        "ranges": range_choices(),
        "llmsim_url": settings.LLMSIM_URL,
    }
    return render(request, "dashboard/dashboard.html", context)


@login_required_htmx
@require_GET
def dashboard_live(request: HttpRequest) -> HttpResponse:
    """What needs attention, the status cards and the accounts (swapped in), plus the page of
    models, activity and "across providers" (out of band), for the URL's filters and page."""
    return render(request, "dashboard/refresh.html", live_context(request, timezone.now()))


@login_required_htmx
@require_GET
def dashboard_comparison(request: HttpRequest) -> HttpResponse:
    """``?range=…[&model=<uuid>…]``: every monitored model, or those given (the page's)."""
    try:
        model_ids = [uuid.UUID(value) for value in request.GET.getlist("model")] or None
    except ValueError:
        return HttpResponse("Each model must be a model's UUID.", status=400)
    return render(
        request,
        "dashboard/comparison.html",
        comparison_context(range_key(request), timezone.now(), model_ids=model_ids),
    )


def _bad_request(detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=400)


@login_required_htmx
@require_GET
def dashboard_chart(request: HttpRequest) -> JsonResponse:
    """``?metric=latency|ttft|tps|availability&range=5m…90d[&model=<uuid>…]`` → one chart's
    series per model (dashboard.queries.chart)."""
    metric = request.GET.get("metric", "")
    range_ = request.GET.get("range", "")
    if metric not in queries.METRICS:
        choices = ", ".join(queries.METRICS)
        return _bad_request(f"Unknown metric {metric!r}: use one of {choices}.")
    if range_ not in queries.RANGES:
        choices = ", ".join(queries.RANGES)
        return _bad_request(f"Unknown range {range_!r}: use one of {choices}.")
    try:
        model_ids = [uuid.UUID(value) for value in request.GET.getlist("model")]
    except ValueError:
        return _bad_request("Each model must be a model's UUID.")
    return JsonResponse(queries.chart(metric=metric, range_key=range_, model_ids=model_ids))


@login_required_htmx
@permission_required("providers.add_provideraccount")
@require_POST
def dashboard_demo(request: HttpRequest) -> HttpResponse:
    """First run: add the built-in simulator as a provider, and probe it right away."""
    from monitoring import services
    from providers.services import ensure_demo_provider

    existed = ProviderAccount.objects.filter(is_demo=True).exists()
    account = ensure_demo_provider(base_url=settings.LLMSIM_URL)
    if existed:
        messages.info(request, f"The “{account.display_name}” account already exists.")
        return redirect("dashboard")
    monitored = account.models.filter(enabled_for_monitoring=True).count()
    note = (
        f"Added “{account.display_name}” with {monitored} monitored models at "
        f"{settings.LLMSIM_URL}. `make run` starts the simulator there; "
    )
    try:
        services.request_pass()
        note += "a first monitoring pass is queued, results appear here within a minute."
    except Exception:  # no task queue right now: the schedule will run the pass
        note += "the next scheduled monitoring pass fills this page."
    messages.success(request, note)
    return redirect("dashboard")


# --- model page ---------------------------------------------------------------------------------


def timeline_rows(timeline: list, now: datetime) -> list[dict]:
    """The last TIMELINE_DAYS days as rows of 24 hourly cells (local time), oldest first."""
    by_hour = {}
    for bucket, n, up, degraded, down in timeline:
        local = timezone.localtime(bucket).replace(minute=0, second=0, microsecond=0)
        by_hour[local] = (n, up, degraded, down)
    current = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=24 * TIMELINE_DAYS - 1)
    rows = []
    for offset in range(TIMELINE_DAYS - 1, -1, -1):
        day = (current - timedelta(days=offset)).replace(hour=0)
        cells = []
        for hour in range(24):
            moment = day.replace(hour=hour)
            label = f"{moment:%a %d %b} {moment:%H}:00"
            if moment < first or moment > current:
                cells.append({"state": "outside", "title": ""})
                continue
            n, up, degraded, down = by_hour.get(moment, (0, 0, 0, 0))
            if not n:
                state, title = "none", f"{label} — no checks"
            else:
                state = "down" if down else "degraded" if degraded else "up"
                title = f"{label} — {n} check{'s' if n != 1 else ''}, {down} down"
                if degraded:
                    title += f", {degraded} degraded"
            cells.append({"state": state, "title": title})
        rows.append({"label": f"{day:%a %d}", "cells": cells})
    return rows


@login_required_htmx
@require_GET
def model_detail_page(request: HttpRequest, model_id: uuid.UUID) -> HttpResponse:
    model = get_object_or_404(
        LLMModel.objects.select_related("provider_account", "status"), pk=model_id
    )
    now = timezone.now()
    data = queries.model_detail(model=model, now=now)
    status = data["status"]
    day_ratio, day_n = data["availability_24h"]
    week_ratio, week_n = data["availability_7d"]
    errors = data["errors_by_type"]
    for row in errors:
        row["hint"] = CONFIG_ERRORS.get(row["error_type"])
    for row in data["by_region"]:
        row["checked_ago"] = ago(row["status"].checked_at, now)
        row["availability_text"] = availability(row["availability"])
        row["hint"] = CONFIG_ERRORS.get(row["status"].error_type)
    return render(
        request,
        "dashboard/model_detail.html",
        {
            "page": "dashboard",
            **data,
            "state": status.status if status else "unknown",
            "checked_ago": ago(status.checked_at if status else None, now),
            "hint": CONFIG_ERRORS.get(status.error_type) if status else None,
            "availability_24h_text": availability(day_ratio),
            "availability_24h_n": day_n,
            "availability_7d_text": availability(week_ratio),
            "availability_7d_n": week_n,
            "errors_total": sum(row["n"] for row in errors),
            "drift": drift.status(model),
            "timeline_rows": timeline_rows(data["timeline"], now),
            "range": range_key(request),
            "ranges": range_choices(),
            "metrics": queries.METRICS,
        },
    )


@login_required_htmx
@permission_required("monitoring.change_modelbaseline")
@require_POST
def model_baseline_accept(request: HttpRequest, model_id: uuid.UUID) -> HttpResponse:
    """Accept the model's current answers as its baseline (after a "model changed" alert)."""
    model = get_object_or_404(LLMModel, pk=model_id)
    try:
        drift.reaccept(model, by=request.user.get_username())
    except domain_errors.Conflict as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{model.display_name}: its current answers are the baseline.")
    return redirect(reverse("model-detail", args=[model.pk]) + "#answers")


@login_required_htmx
@require_GET
def across_page(request: HttpRequest) -> HttpResponse:
    """Models across providers: each identity's providers, ranked by measured figures."""
    return render(
        request,
        "dashboard/across_providers.html",
        {"page": "across", "groups": across.identities(), "days": across.WINDOW.days},
    )


@login_required_htmx
@require_GET
def across_litellm_config(request: HttpRequest, identity: str) -> HttpResponse:
    group = across.identity(identity)
    if group is None:
        return HttpResponse(status=404)
    response = HttpResponse(
        across.litellm_config(group), content_type="application/yaml; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{identity}-litellm.yaml"'
    return response


@login_required_htmx
@permission_required("providers.change_llmmodel")
@require_POST
def model_identity(request: HttpRequest, model_id: uuid.UUID) -> HttpResponse:
    """Set which model this is across providers ("" goes back to the suggestion)."""
    model = get_object_or_404(LLMModel, pk=model_id)
    form = ModelUpdateSerializer(data={"identity": request.POST.get("identity", "")})
    if form.is_valid():
        update_model(model=model, identity=form.validated_data["identity"])
        messages.success(request, f"{model.display_name} is “{model.identity_name}”.")
    else:
        messages.error(request, " ".join(str(e) for e in form.errors["identity"]))
    return redirect(reverse("model-detail", args=[model.pk]) + "#identity")
