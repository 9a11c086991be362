"""The server-rendered Monitoring page: settings, "Run now" and its live pass, monitored models,
recent checks.

Every action is a plain POST form that htmx enhances (the Providers pages' convention): with
htmx the view answers with the partial to swap in, without it with a redirect and a django
message. The settings form is validated by the API's MonitoringConfigSerializer and, like the
API, reconciles the django-q2 schedules after a change. A queued or running pass is followed by
polling its partial every 2 s; the response that sees it finish fires ``monitoring-pass-finished``
(HX-Trigger) so the header, the models' statuses and the checks table re-render themselves.
"""

import uuid
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from arguslm import errors
from arguslm.limits import rate_limited
from arguslm.llm.prompts import PACKS
from arguslm.pages import (
    count_holds,
    hidden_fields,
    login_required_htmx,
    paginate,
    parse_bool,
    permission_required,
    redirect_back,
    uuid_or_none,
)
from arguslm.templatetags.arguslm_tags import ago, duration_ms
from monitoring import costs, maintenance, regions, services
from monitoring.api import uptime_queryset
from monitoring.forms import (
    INTERVAL_PRESETS,
    NUMBER_FIELDS,
    OPTIONAL_FIELDS,
    MaintenanceForm,
    MonitoringSettingsForm,
)
from monitoring.models import MaintenanceWindow, MonitoringConfig, MonitoringRun, UptimeCheck
from providers import selection
from providers.models import LLMModel, ProviderAccount
from providers.services import BulkAction, bulk_update
from providers.views import bulk_actions

CHECKS_PER_PAGE = 50
# Deeper pages of checks mean a long OFFSET scan; the export is for reading history.
MAX_CHECKS_PAGE = 1000
MODELS_PER_PAGE = 50
FILTER_MODELS = 500
RECENT_RUNS = 10
COST_MODELS = 10  # the most expensive models listed in the cost card
LIVE = (MonitoringRun.Status.QUEUED, MonitoringRun.Status.RUNNING)
# metrics.md: these are "down" but mean the configuration is wrong, not that the provider is.
CONFIG_PROBLEMS = {"auth": "check the API key", "not_found": "check the model id"}
FINISHED_EVENT = "monitoring-pass-finished"


# --- helpers ------------------------------------------------------------------------------------


def error_label(error_type: str | None) -> str:
    """How an error type reads on the page: configuration problems say what to check."""
    if not error_type:
        return ""
    hint = CONFIG_PROBLEMS.get(error_type)
    return f"{error_type}: configuration problem, {hint}" if hint else error_type


# --- header -------------------------------------------------------------------------------------


def _status_context(request: HttpRequest | None = None) -> dict:
    """Last pass time and whether it is stale (enabled, older than twice the interval).

    ``request`` is unused: every section builder takes one (see ``monitoring_page``)."""
    config = MonitoringConfig.get()
    now = timezone.now()
    last = config.last_run_at
    stale = bool(
        config.enabled and last and now - last > timedelta(minutes=2 * config.interval_minutes)
    )
    return {
        "config": config,
        "last_run_at": last,
        "last_run_ago": ago(last, now) if last else "",
        "stale": stale,
    }


# --- settings form ------------------------------------------------------------------------------


def _form_context(form: dict, errors: dict) -> dict:
    fields: dict[str, list[dict]] = {"schedule": [], "thresholds": [], "probes": []}
    for name, (group, label, help_text, low, high) in NUMBER_FIELDS.items():
        fields[group].append(
            {
                "name": name,
                "label": label,
                "help": help_text,
                "min": low,
                "max": high,
                "optional": name in OPTIONAL_FIELDS,
                "value": form[name],
                "error": errors.get(name, ""),
            }
        )
    return {
        "form": form,
        "errors": errors,
        "fields": fields,
        "presets": [str(p) for p in INTERVAL_PRESETS],
        "packs": [
            {"id": p.id, "label": f"{p.name} (≈{p.expected_tokens} tokens)"}
            for p in PACKS
            if not p.benchmark_only
        ],
    }


# --- passes -------------------------------------------------------------------------------------


def _decorate_run(run: MonitoringRun, now) -> MonitoringRun:
    run.live = run.status in LIVE
    run.done = run.up + run.degraded + run.down
    if run.started_at and run.finished_at:
        run.duration = duration_ms(run.duration_ms)
    elif run.started_at and run.live:
        run.duration = duration_ms((now - run.started_at).total_seconds() * 1000)
    else:
        run.duration = ""
    # Nothing picks a queued pass up: the worker is probably not running.
    run.waiting_long = (
        run.status == MonitoringRun.Status.QUEUED and now - run.created_at > timedelta(seconds=30)
    )
    # A completed pass says something only when a region's workers stopped during it.
    run.warning = run.status == MonitoringRun.Status.COMPLETED and bool(run.message)
    return run


def _runs_context(run_id: uuid.UUID | None = None) -> dict:
    """The pass being followed (``run_id``, else the newest) and the recent passes."""
    services.close_stale_runs()
    now = timezone.now()
    recent = [_decorate_run(r, now) for r in MonitoringRun.objects.all()[:RECENT_RUNS]]
    current = None
    if run_id is not None:
        current = next((r for r in recent if r.pk == run_id), None)
        if current is None:
            found = MonitoringRun.objects.filter(pk=run_id).first()
            current = _decorate_run(found, now) if found else None
    if current is None and recent:
        current = recent[0]
    poll_url = reverse("monitoring-live")
    if current is not None:
        poll_url += "?" + urlencode({"run": current.pk})
    return {
        "current": current,
        "recent": recent,
        "poll_url": poll_url,
        # With several regions known, each pass says where it probed from.
        "regional": len(regions.listing(now=now)) > 1,
    }


def _runs_response(request: HttpRequest, context: dict) -> HttpResponse:
    response = render(request, "monitoring/runs.html", context)
    current = context["current"]
    if request.htmx and current is not None and not current.live:
        # Only requests made while the pass was live (polls, Run now) get here with htmx.
        response["HX-Trigger"] = FINISHED_EVENT
    return response


# --- models and checks: one filter ---------------------------------------------------------------

# The latest check's state of a model, as the state filter offers it ("never": not probed yet).
STATES = [
    ("up", "Up"),
    ("degraded", "Degraded"),
    ("down", "Down"),
    ("never", "Never probed"),
]


def _accounts():
    return ProviderAccount.objects.annotate(
        model_total=Count("models"),
        model_monitored=Count("models", filter=Q(models__enabled_for_monitoring=True)),
    ).order_by("display_name", "created_at", "id")


def _decorate_model(model: LLMModel) -> LLMModel:
    # The reverse one-to-one raises RelatedObjectDoesNotExist (an AttributeError) when the
    # model has never been probed.
    model.latest = getattr(model, "status", None)
    model.latest_ago = ago(model.latest.checked_at) if model.latest else ""
    model.config_problem = CONFIG_PROBLEMS.get(model.latest.error_type) if model.latest else None
    return model


def _filters(params) -> tuple[selection.ModelFilter, str, dict]:
    """The page's model filter (search, account, tags), the state of the latest check, and
    what was left out of them. Both lists take them: the models, and the checks of those
    models (which the checks' own status filter narrows further)."""
    chosen, problems = selection.from_params(params)
    # Monitoring shows both switches' models; a "monitored" filter is the Models page's.
    chosen = selection.ModelFilter(q=chosen.q, account_id=chosen.account_id, tags=chosen.tags)
    problems = {k: v for k, v in problems.items() if k in ("q", "account", "tag")}
    state = params.get("state", "")
    if state and state not in dict(STATES):
        problems["state"] = "Use up, degraded, down or never."
        state = ""
    return chosen, state, problems


def _with_state(models, state: str):
    if state == "never":
        return models.filter(status__isnull=True)
    if state:
        return models.filter(status__status=state)
    return models


def _query(request: HttpRequest, chosen: selection.ModelFilter, state: str) -> dict:
    """Every filter of the page (both lists'), for links that keep them."""
    status = request.GET.get("status", "")
    model_id = uuid_or_none(request.GET.get("model"))
    return {
        **{k: v for k, v in chosen.params().items() if k in ("q", "account", "tag")},
        "state": state,
        "status": status if status in UptimeCheck.Status.values else "",
        "model": str(model_id or ""),
    }


def _models_context(request: HttpRequest) -> dict:
    """A page of models matching the filters, grouped under their accounts."""
    chosen, state, problems = _filters(request.GET)
    models = _with_state(
        chosen.apply(LLMModel.objects.select_related("provider_account", "status")), state
    ).order_by("provider_account__display_name", "provider_account_id", "model_id")
    filters = _query(request, chosen, state)
    paging = paginate(request, models, MODELS_PER_PAGE, filters)
    shown = [_decorate_model(m) for m in paging["page_obj"]]
    accounts = {a.pk: a for a in _accounts().filter(pk__in={m.provider_account_id for m in shown})}
    groups: list[ProviderAccount] = []
    for model in shown:
        account = accounts[model.provider_account_id]
        if not groups or groups[-1] is not account:
            account.shown = []
            groups.append(account)
        account.shown.append(model)
    count = paging["page_obj"].paginator.count
    list_filters = {k: filters[k] for k in ("q", "account", "tag", "state")}
    return {
        **paging,
        "selection": chosen,
        "state": state,
        "states": STATES,
        "filters": filters,
        "problems": problems,
        "groups": groups,
        "models_url": paging["page_url"](paging["page_obj"].number),
        "monitored_total": services.monitored_models().count(),
        "bulk": bulk_actions(
            reverse("monitoring-bulk"),
            count,
            list_filters,
            [BulkAction.MONITOR, BulkAction.UNMONITOR],
        ),
    }


# --- recent checks ------------------------------------------------------------------------------


def _checks_context(request: HttpRequest) -> dict:
    """A page of checks of the filtered models, newest first. Pages are counted by fetching
    one row more rather than COUNT(*): the checks table holds millions of rows and a count
    would dominate the page."""
    chosen, state, _ = _filters(request.GET)
    filters = _query(request, chosen, state)
    status, model_id = filters["status"], uuid_or_none(filters["model"])
    page = request.GET.get("checks_page", "")
    page = min(max(1, int(page)), MAX_CHECKS_PAGE) if page.isdigit() else 1
    offset = (page - 1) * CHECKS_PER_PAGE
    checks = uptime_queryset({"status": status, "model_id": model_id})
    filtered = chosen.active or bool(state)
    if filtered:
        matching = _with_state(chosen.apply(LLMModel.objects.all()), state)
        checks = checks.filter(model_id__in=matching.values("pk"))
    checks = list(checks[offset : offset + CHECKS_PER_PAGE + 1])
    has_next = len(checks) > CHECKS_PER_PAGE
    checks = checks[:CHECKS_PER_PAGE]
    for check in checks:
        check.error_label = error_label(check.error_type)
        check.config_problem = check.error_type in CONFIG_PROBLEMS
    page_url = reverse("monitoring")

    def url(status: str = status, **extra) -> str:
        query = urlencode(hidden_fields({**filters, "status": status, **extra}))
        return page_url + ("?" + query if query else "")

    export = reverse("monitoring-uptime-export")
    # The export filters by model and date, not by status: it always holds every status.
    export_filter = {"model_id": model_id} if model_id else {}
    choices = LLMModel.objects.filter(Q(enabled_for_monitoring=True) | Q(pk=model_id))
    if filtered:
        choices = _with_state(chosen.apply(choices), state) | LLMModel.objects.filter(pk=model_id)
    return {
        "checks": checks,
        "status": status,
        "model_id": model_id,
        "check_filters": hidden_fields({k: v for k, v in filters.items() if k != "model"}),
        "models_filtered": filtered,
        "status_links": [
            {"value": s, "label": label, "url": url(status=s)}
            for s, label in (("", "All"), *((s, s.capitalize()) for s in UptimeCheck.Status.values))
        ],
        # Monitored models (and the chosen one): the select re-renders after every pass.
        "filter_models": choices.select_related("provider_account").order_by(
            "provider_account__display_name", "model_id"
        )[:FILTER_MODELS],
        "page_number": page,
        "first_index": offset + 1,
        "last_index": offset + len(checks),
        "checks_prev_url": url(checks_page=page - 1 if page > 2 else "") if page > 1 else "",
        "checks_next_url": url(checks_page=page + 1) if has_next else "",
        "checks_url": url(checks_page=page) if page > 1 else url(),
        "export_json": f"{export}?{urlencode({'format': 'json', **export_filter})}",
        "export_csv": f"{export}?{urlencode({'format': 'csv', **export_filter})}",
    }


def _lists_context(request: HttpRequest) -> dict:
    """The models list and the checks table: what the filter form re-renders."""
    return {**_models_context(request), **_checks_context(request)}


# --- probe cost ---------------------------------------------------------------------------------


def _cost_context(request: HttpRequest | None = None) -> dict:
    """The probe-cost card (``request`` unused, as in ``_status_context``)."""
    cost = costs.summary()
    budget = cost["monthly_budget_usd"]
    top = [{**m, "usd_label": costs.format_usd(m["usd"])} for m in cost["models"][:COST_MODELS]]
    return {
        "cost": {
            **cost,
            "top": top,
            "more": len(cost["models"]) - len(top),
            "total_label": costs.format_usd(cost["total_usd"]),
            "spent_label": costs.format_usd(cost["month_to_date_usd"]),
            "budget_label": costs.format_usd(budget) if budget is not None else "",
        }
    }


# --- views --------------------------------------------------------------------------------------


def _render_page(
    request: HttpRequest,
    *,
    form: dict | None = None,
    errors: dict | None = None,
    maintenance_form: dict | None = None,
    maintenance_errors: dict | None = None,
) -> HttpResponse:
    config = MonitoringConfig.get()
    context = {
        "page": "monitoring",
        **_status_context(),
        **_form_context(form or MonitoringSettingsForm.values_for(config), errors or {}),
        **_runs_context(uuid_or_none(request.GET.get("run"))),
        **_lists_context(request),
        "tag_options": selection.tag_options(),
        "accounts": ProviderAccount.objects.order_by("display_name", "created_at", "id"),
        **_cost_context(),
        **_maintenance_context(maintenance_form, maintenance_errors),
    }
    return render(request, "monitoring/monitoring.html", context)


@login_required_htmx
@require_GET
def monitoring_page(request: HttpRequest) -> HttpResponse:
    sections = {
        "monitoring-status": ("monitoring/status.html", _status_context),
        "monitoring-lists": ("monitoring/lists.html", _lists_context),
        "monitoring-models": ("monitoring/models.html", _models_context),
        "monitoring-checks": ("monitoring/checks.html", _checks_context),
        "monitoring-cost": ("monitoring/cost.html", _cost_context),
    }
    target = request.htmx.target if request.htmx else None
    if target in sections:
        template, build = sections[target]
        response = render(request, template, build(request))
    else:
        response = _render_page(request)
    # The same URL answers with the page or, for htmx, one section of it.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


@login_required_htmx
@permission_required("monitoring.change_monitoringconfig")
@require_POST
def monitoring_save(request: HttpRequest) -> HttpResponse:
    """Validate with the API's serializer, save, and make the schedules follow the change."""
    form = MonitoringSettingsForm(request.POST, instance=MonitoringConfig.get(), partial=True)
    if not form.is_valid():
        return _render_page(request, form=form.values(), errors=form.messages())
    config = form.serializer.save()  # reconciles the schedules (MonitoringConfig.save)
    if config.enabled:
        messages.success(request, f"Saved. A pass runs every {config.interval_minutes} min.")
    else:
        messages.success(request, "Saved. Monitoring is off: no scheduled passes.")
    return redirect(reverse("monitoring") + "#config")


@login_required_htmx
@permission_required("monitoring.add_monitoringrun")
@require_POST
@rate_limited("monitoring_run")
def monitoring_run_now(request: HttpRequest) -> HttpResponse:
    """Queue a manual pass; htmx then follows it in the passes card."""
    try:
        run = services.request_pass(trigger=MonitoringRun.Trigger.MANUAL)
    except errors.Unavailable as exc:
        text = f"Could not start a pass: {exc.message}"
        if request.htmx:
            context = {**_runs_context(), "notice": {"level": "error", "text": text}}
            return render(request, "monitoring/runs.html", context)
        messages.error(request, text)
        return redirect(reverse("monitoring") + "#monitoring-runs")
    if request.htmx:
        context = _runs_context(run.pk)
        if context["current"].live:
            context["notice"] = {"level": "success", "text": "Pass queued."}
        return _runs_response(request, context)
    messages.success(request, "Pass queued: its progress shows below.")
    return redirect(reverse("monitoring") + "?" + urlencode({"run": run.pk}) + "#monitoring-runs")


@login_required_htmx
@require_GET
def monitoring_live(request: HttpRequest) -> HttpResponse:
    """The passes card, polled while the pass it follows is queued or running."""
    return _runs_response(request, _runs_context(uuid_or_none(request.GET.get("run"))))


@login_required_htmx
@permission_required("providers.change_llmmodel")
@require_POST
def monitoring_toggle(request: HttpRequest, model_id: uuid.UUID) -> HttpResponse:
    """Monitoring on or off for one model (the posted state, so a double click is harmless)."""
    model = get_object_or_404(LLMModel.objects.select_related("provider_account"), pk=model_id)
    model.enabled_for_monitoring = parse_bool(request.POST.get("enabled"))
    model.save(update_fields=["enabled_for_monitoring", "updated_at"])
    if request.htmx:
        model = _decorate_model(
            LLMModel.objects.select_related("provider_account", "status").get(pk=model.pk)
        )
        account = _accounts().get(pk=model.provider_account_id)
        return render(
            request, "monitoring/model.html", {"m": model, "account": account, "oob": True}
        )
    state = "on" if model.enabled_for_monitoring else "off"
    messages.success(request, f"Monitoring {state} for {model.display_name}.")
    return redirect_back(request, "monitoring")


@login_required_htmx
@permission_required("providers.change_llmmodel")
@require_POST
def monitoring_bulk(request: HttpRequest) -> HttpResponse:
    """Monitor (or stop monitoring) every model the page's filters match, state included:
    the form carries them, and the count its confirmation named."""
    chosen, state, problems = _filters(request.POST)
    query = urlencode(hidden_fields({**chosen.params(), "state": state}))
    back = reverse("monitoring") + (f"?{query}" if query else "") + "#models"
    if problems:
        messages.error(request, "Nothing changed: " + " ".join(problems.values()))
        return redirect(back)
    models = _with_state(chosen.apply(LLMModel.objects.all()), state)
    action = request.POST.get("action", "")
    if action not in (BulkAction.MONITOR, BulkAction.UNMONITOR):
        messages.error(request, "Nothing changed: choose to monitor or to stop monitoring.")
        return redirect(back)
    if count_holds(request, models.count()):
        described = chosen.describe() | ({"state": state} if state else {})
        result = bulk_update(models=models, action=action, filters=described)
        messages.success(request, result.message)
    return redirect(back)


# --- maintenance windows ------------------------------------------------------------------------

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _maintenance_context(form: dict | None, errors: dict | None) -> dict:
    now = timezone.now()
    windows = list(MaintenanceWindow.objects.select_related("account", "model"))
    for window in windows:
        window.active_now = maintenance.active(window, now)
        window.target_label = (
            window.model.display_name if window.model else window.account.display_name
        )
        if window.recurrence == MaintenanceWindow.Recurrence.WEEKLY:
            days = ", ".join(WEEKDAYS[d] for d in window.weekdays)
            window.when = f"{days} {window.start_time:%H:%M} UTC for {window.duration_minutes} min"
        elif window.recurrence == MaintenanceWindow.Recurrence.CRON:
            window.when = f"Cron {window.cron} UTC for {window.duration_minutes} min"
        else:
            window.when = f"{window.starts_at:%Y-%m-%d %H:%M} → {window.ends_at:%Y-%m-%d %H:%M} UTC"
    return {
        "maintenance_windows": windows,
        "maintenance_form": form or {"recurrence": "once", "weekdays": []},
        "maintenance_errors": errors or {},
        "maintenance_targets": target_choices(),
        "weekday_names": list(enumerate(WEEKDAYS)),
    }


def target_choices() -> dict[str, list[tuple[str, str]]]:
    """The target picker's options (maintenance windows, SLOs): every account, and the
    monitored models."""
    models = (
        LLMModel.objects.monitored()
        .select_related("provider_account")
        .order_by("provider_account__display_name", "model_id")[:FILTER_MODELS]
    )
    return {
        "Accounts": [
            (f"account:{a.pk}", a.display_name)
            for a in ProviderAccount.objects.order_by("display_name")
        ],
        "Monitored models": [
            (f"model:{m.pk}", f"{m.provider_account.display_name} · {m.display_name}")
            for m in models
        ],
    }


@login_required_htmx
@permission_required("monitoring.add_maintenancewindow")
@require_POST
def maintenance_add(request: HttpRequest) -> HttpResponse:
    form = MaintenanceForm(request.POST)
    if not form.is_valid():
        values = form.values()
        return _render_page(request, maintenance_form=values, maintenance_errors=form.messages())
    window = maintenance.save(**form.validated_data)
    messages.success(request, f"Maintenance window “{window.name}” added.")
    return redirect(reverse("monitoring") + "#maintenance")


@login_required_htmx
@permission_required("monitoring.delete_maintenancewindow")
@require_POST
def maintenance_delete(request: HttpRequest, window_id: uuid.UUID) -> HttpResponse:
    window = get_object_or_404(MaintenanceWindow, pk=window_id)
    maintenance.delete(window=window)
    messages.success(request, f"Maintenance window “{window.name}” removed.")
    return redirect(reverse("monitoring") + "#maintenance")
