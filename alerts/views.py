"""Server-rendered Alerts page and the sidebar bell (htmx partials for the live parts).

Same conventions as the Providers pages: every action is a plain POST form that htmx enhances;
without htmx the view redirects back with a django message, so everything works with JavaScript
off. Bad input re-renders the form with status 200 and its messages. The rule form is validated
by the API's AlertRuleSerializer; its errors are mapped onto the form's fields.

Live parts: the bell re-renders itself every 30 s. Actions that change alerts (acknowledge,
send test, delete a rule) answer htmx with an ``alertsChanged`` event; the bell and the alert
history listen for it and re-render themselves, wherever the action came from.
"""

import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.timesince import timesince
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alerts import apprise_urls, notifications, services
from alerts.evaluation import ACCOUNT_PREFIX, NETWORK
from alerts.forms import NEW_RULE, AlertRuleForm
from alerts.models import (
    REGRESSION_DEFAULTS,
    Alert,
    AlertRule,
    Incident,
    Notification,
    threshold_setting,
)
from arguslm.limits import rate_limited
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
from arguslm.templatetags.arguslm_tags import ago
from benchmarks.models import BenchmarkTemplate
from monitoring.models import Slo
from providers import selection
from providers.models import LLMModel

ALERTS_PER_PAGE = 25
BELL_ITEMS = 10
RESOLVED_SHOWN = 10
OPEN_SHOWN = 100
DELIVERIES_SHOWN = 25
# htmx events sent with responses (HX-Trigger): the bell and the alert history, and the delivery
# log, re-render themselves when they hear theirs.
ALERTS_CHANGED = "alertsChanged"
DELIVERIES_CHANGED = "deliveriesChanged"
SINCE = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}

Type = AlertRule.RuleType
RULE_TYPES = [
    {
        "value": Type.ANY_MODEL_DOWN,
        "label": "Any model down",
        "help": "Fires when a monitored model's check is down: any error other than rate "
        "limiting (rate-limited or slow checks are “degraded”, see metrics.md statuses). "
        "One incident per model.",
    },
    {
        "value": Type.SPECIFIC_MODEL_DOWN,
        "label": "Specific model down",
        "help": "Fires when the chosen model's check is down (an error other than rate limiting).",
    },
    {
        "value": Type.MODEL_UNAVAILABLE_EVERYWHERE,
        "label": "Model unavailable everywhere",
        "help": "Fires when every monitored model whose id contains the pattern "
        "(case-insensitive, across all provider accounts) is down in the same pass, e.g. "
        "“gpt-4o” down at OpenAI and Azure alike. One incident for the whole group.",
    },
    {
        "value": Type.PERFORMANCE_DEGRADATION,
        "label": "Performance degradation",
        "help": "Fires when a model's median TTFT, latency or decode speed, or its error rate, "
        "over the last window crosses a limit: a fixed threshold, or a factor worse than the "
        "model's own median over the preceding hours. Windows with too few samples are "
        "skipped.",
    },
    {
        "value": Type.SLO_BURN_RATE,
        "label": "SLO burn rate",
        "help": "Fires when an SLO spends its error budget too fast: 14.4× the sustainable rate "
        "over both the last hour and 5 minutes (fast burn), or 6× over both 6 hours and 30 "
        "minutes (slow burn). One incident per SLO; see the SLOs page.",
    },
    {
        "value": Type.MODEL_CHANGED,
        "label": "Model changed",
        "help": "Fires when a model answers unlike its accepted baseline: a different returned "
        "model name or system fingerprint at once; new answers, another answer length or "
        "refusals over its last 10 answers. Accept the new behaviour on the model's page.",
    },
    {
        "value": Type.BENCHMARK_REGRESSION,
        "label": "Benchmark regression",
        "help": "Fires when a run of a saved benchmark is slower than its baseline run: a "
        "model's median changed significantly (the 95 % bootstrap interval leaves out 0) in "
        "the worse direction, by at least the threshold. Judged after each completed run; "
        "one incident per saved benchmark and model, resolved by a run back within it.",
    },
]
TYPE_LABELS = {t["value"]: t["label"] for t in RULE_TYPES}
TYPE_SHORT = {
    Type.ANY_MODEL_DOWN: "Any model down",
    Type.SPECIFIC_MODEL_DOWN: "Model down",
    Type.MODEL_UNAVAILABLE_EVERYWHERE: "Down everywhere",
    Type.PERFORMANCE_DEGRADATION: "Performance",
    Type.SLO_BURN_RATE: "SLO burn",
    Type.MODEL_CHANGED: "Model changed",
    Type.BENCHMARK_REGRESSION: "Benchmark regression",
}
METRICS = [
    ("ttft", "Time to first token (ms)"),
    ("latency", "Latency (ms)"),
    ("tps", "Decode speed (tok/s)"),
    ("error_rate", "Error rate (0–1)"),
]
METRIC_SHORT = {"ttft": "TTFT", "latency": "Latency", "tps": "Decode speed", "error_rate": "Errors"}
METRIC_UNITS = {"ttft": " ms", "latency": " ms", "tps": " tok/s", "error_rate": ""}
COMPARISONS = [("absolute", "Fixed threshold"), ("baseline", "Own baseline")]
REGRESSION_METRICS = [
    ("ttft", "Time to first token (higher is worse)"),
    ("latency", "Latency (higher is worse)"),
    ("itl", "Inter-token latency (higher is worse)"),
    ("tps", "Decode speed (lower is worse)"),
]
REGRESSION_SHORT = {"ttft": "TTFT", "latency": "Latency", "itl": "ITL", "tps": "Decode speed"}
CHANNEL_LABELS = {
    "email": "Email",
    "webhook": "Webhook",
    "slack": "Slack",
    "discord": "Discord",
    "apprise": "Apprise",
}

# --- helpers ------------------------------------------------------------------------------------


def _changed(*events: str) -> HttpResponse:
    """htmx: nothing to swap; the listed events make the live parts re-render themselves."""
    return HttpResponse(status=204, headers={"HX-Trigger": ", ".join(events)})


def _duration(start: datetime, end: datetime) -> str:
    text = timesince(start, end)
    return "under a minute" if text.startswith("0") else text


# --- the bell -----------------------------------------------------------------------------------


def bell_data() -> dict:
    """The bell's badge and list in two queries: the unread count and the newest alerts."""
    unread = Alert.objects.filter(acknowledged=False).count()
    items = list(Alert.objects.select_related("model", "rule").order_by("-created_at")[:BELL_ITEMS])
    now = timezone.now()
    for alert in items:
        alert.ago = ago(alert.created_at, now, short=True)
    return {"unread": unread, "badge": "99+" if unread > 99 else str(unread), "items": items}


def bell_context(request: HttpRequest) -> dict:
    """Template context processor (optional): the bell is rendered with the page instead of
    being fetched right after it. Lazy: pages that do not show the bell run no query."""
    return {"alerts_bell": SimpleLazyObject(bell_data)}


@login_required_htmx
@require_GET
def bell(request: HttpRequest) -> HttpResponse:
    """The bell's badge and dropdown (polled by htmx every 30 s)."""
    return render(request, "alerts/bell_menu.html", {"bell": bell_data()})


# --- acknowledging ------------------------------------------------------------------------------


@login_required_htmx
@permission_required("alerts.change_alert")
@require_POST
def alert_acknowledge(request: HttpRequest, alert_id: uuid.UUID) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=alert_id)
    services.acknowledge(
        alerts=Alert.objects.filter(pk=alert.pk), by=services.acknowledged_by(request.user)
    )
    if request.htmx:
        return _changed(ALERTS_CHANGED)
    messages.success(request, "Alert acknowledged.")
    return redirect_back(request, "alerts")


@login_required_htmx
@permission_required("alerts.change_alert")
@require_POST
def alerts_acknowledge_all(request: HttpRequest) -> HttpResponse:
    """Acknowledge every unacknowledged alert the history's filters match (none posted: all
    of them), if there are still as many as the confirmation named."""
    filters, problems = _history_filters(request.POST)
    query = urlencode(hidden_fields(filters))
    back = reverse("alerts") + (f"?{query}" if query else "") + "#history"
    if problems:
        messages.error(request, "Nothing acknowledged: " + " ".join(problems.values()))
        return redirect(back)
    if filters["acknowledged"] == "yes":
        alerts = Alert.objects.none()
    else:
        alerts = _matching(filters, acknowledged=False)
    if not count_holds(request, alerts.count(), "unacknowledged alerts"):
        if request.htmx:  # the whole page, to show why nothing changed
            return HttpResponse(status=204, headers={"HX-Redirect": back})
        return redirect(back)
    count = services.acknowledge(alerts=alerts, by=services.acknowledged_by(request.user))
    if request.htmx:
        return _changed(ALERTS_CHANGED)
    messages.success(request, f"Acknowledged {count} alert{'' if count == 1 else 's'}.")
    return redirect(back)


# --- the rule form ------------------------------------------------------------------------------


def _model_choices() -> list[LLMModel]:
    return list(
        LLMModel.objects.select_related("provider_account").order_by(
            "provider_account__display_name", "provider_account_id", "model_id"
        )
    )


def _form_context(form: dict, errors: dict | None) -> dict:
    return {
        "form": form,
        "errors": errors or {},
        "models": _model_choices(),
        "slos": Slo.objects.order_by("name"),
        "templates": BenchmarkTemplate.objects.order_by("name"),
        "regression_metrics": REGRESSION_METRICS,
        "rule_types": RULE_TYPES,
        "metrics": METRICS,
        "comparisons": COMPARISONS,
        "webhook_formats": AlertRule.WebhookFormat.choices,
        "apprise_max_chars": apprise_urls.MAX_CHARS,
    }


# --- rule descriptions (the rules table) --------------------------------------------------------


def _target_text(rule: AlertRule) -> str:
    if rule.rule_type == Type.ANY_MODEL_DOWN:
        return "All monitored models"
    if rule.rule_type == Type.SPECIFIC_MODEL_DOWN:
        return rule.target_model.display_name if rule.target_model else "(no model)"
    if rule.rule_type == Type.MODEL_UNAVAILABLE_EVERYWHERE:
        return f"Every model matching “{rule.target_model_name}”"
    if rule.rule_type == Type.PERFORMANCE_DEGRADATION:
        config = rule.threshold_config or {}
        metric = threshold_setting(config, "metric")
        label, unit = METRIC_SHORT.get(metric, metric), METRIC_UNITS.get(metric, "")
        worse = "<" if metric == "tps" else ">"
        if threshold_setting(config, "comparison") == "baseline":
            hours = threshold_setting(config, "baseline_hours")
            factor = threshold_setting(config, "factor")
            limit = f"{factor:g}× worse than its {hours} h median"
        else:
            limit = f"{worse} {config.get('threshold', 0):g}{unit}"
        scope = rule.target_model.display_name if rule.target_model else "any model"
        window = threshold_setting(config, "window_minutes")
        return f"{label} {limit} over {window} min ({scope})"
    if rule.rule_type == Type.SLO_BURN_RATE:
        return f"SLO “{rule.target_slo.name}”" if rule.target_slo else "Every SLO"
    if rule.rule_type == Type.MODEL_CHANGED:
        return rule.target_model.display_name if rule.target_model else "All monitored models"
    if rule.rule_type == Type.BENCHMARK_REGRESSION:
        config = rule.threshold_config or {}
        metric = threshold_setting(config, "metric", REGRESSION_DEFAULTS)
        percent = float(threshold_setting(config, "threshold_percent", REGRESSION_DEFAULTS))
        scope = (
            f"saved benchmark “{rule.target_template.name}”"
            if rule.target_template
            else "every saved benchmark"
        )
        sign = "−" if metric == "tps" else "+"
        label = REGRESSION_SHORT.get(metric, metric)
        return f"{label} p50 {sign}{percent:g} % or worse vs baseline ({scope})"
    return "—"


def _channels(rule: AlertRule) -> list[tuple[str, str]]:
    """(channel, where) pairs; a webhook's "where" is only its host (its path is a secret),
    Apprise's only its services."""
    channels = []
    if rule.notify_in_app:
        channels.append(("In-app", ""))
    if rule.notify_email:
        channels.append(("Email", rule.email_to or "superusers"))
    if rule.notify_webhook and rule.webhook_url:
        kind = {"slack": "Slack", "discord": "Discord"}.get(rule.webhook_format, "Webhook")
        channels.append((kind, rule.webhook_host))
    if rule.notify_apprise and rule.apprise_urls:
        channels.append(("Apprise", rule.apprise_services))
    return channels


def _decorate_rule(rule: AlertRule) -> AlertRule:
    rule.type_label = TYPE_LABELS.get(rule.rule_type, rule.rule_type)
    rule.type_short = TYPE_SHORT.get(rule.rule_type, rule.rule_type)
    rule.type_help = next((t["help"] for t in RULE_TYPES if t["value"] == rule.rule_type), "")
    rule.target_text = _target_text(rule)
    rule.channel_list = _channels(rule)
    return rule


def _rules() -> list[AlertRule]:
    rules = AlertRule.objects.select_related(
        "target_model", "target_slo", "target_template"
    ).order_by("-created_at")
    return [_decorate_rule(rule) for rule in rules]


# --- the page's sections ------------------------------------------------------------------------


def _incidents() -> dict:
    now = timezone.now()
    # The widest incidents only: those held under an account's or the network's are counted
    # on it ("holds N") rather than listed one by one.
    incidents = (
        Incident.objects.filter(parent__isnull=True)
        .select_related("rule", "model")
        .annotate(held_count=Count("held"))
    )
    open_ = list(incidents.filter(resolved_at__isnull=True).order_by("-opened_at")[:OPEN_SHOWN])
    resolved = list(
        incidents.filter(resolved_at__isnull=False).order_by("-resolved_at")[:RESOLVED_SHOWN]
    )
    for incident in open_ + resolved:
        incident.duration = _duration(incident.opened_at, incident.resolved_at or now)
        incident.opened_ago = ago(incident.opened_at, now, short=True)
        if incident.model is not None:
            incident.subject_label = incident.model.display_name
        elif incident.subject == "*" and incident.rule.target_model_name:
            incident.subject_label = f"All “{incident.rule.target_model_name}” deployments"
        elif incident.subject == NETWORK:
            incident.subject_label = "Every provider (the probing host's network)"
        elif incident.subject.startswith(ACCOUNT_PREFIX):
            incident.subject_label = f"Account “{incident.summary.split(': ')[0]}”"
        else:
            incident.subject_label = incident.subject
    return {"open_incidents": open_, "resolved_incidents": resolved}


def _history_filters(params) -> tuple[dict, dict]:
    """The alert history's filters as the page keeps them in its URL (junk values are left
    out, a bad tag is named in ``problems``)."""
    rule_id = uuid_or_none(params.get("rule"))
    acknowledged = params.get("acknowledged", "")
    since = params.get("since", "")
    problems: dict = {}
    tags = selection.read_tags(params.getlist("tag"), problems)
    return {
        "q": params.get("q", "").replace("\x00", "").strip()[: selection.MAX_SEARCH],
        "rule": str(rule_id) if rule_id else "",
        "acknowledged": acknowledged if acknowledged in ("yes", "no") else "",
        "since": since if since in SINCE else "",
        "tag": list(tags),
    }, problems


def _matching(filters: dict, *, acknowledged: bool | None = None):
    """The alerts the history's filters select (``acknowledged`` overrides theirs)."""
    if acknowledged is None and filters["acknowledged"]:
        acknowledged = filters["acknowledged"] == "yes"
    return services.matching(
        Alert.objects.select_related("rule", "model").order_by("-created_at"),
        rule_id=filters["rule"] or None,
        acknowledged=acknowledged,
        since=timezone.now() - SINCE[filters["since"]] if filters["since"] else None,
        q=filters["q"],
        tags=filters["tag"],
    )


def _history(request: HttpRequest) -> dict:
    filters, problems = _history_filters(request.GET)
    paging = paginate(request, _matching(filters), ALERTS_PER_PAGE, filters)
    now = timezone.now()
    for alert in paging["page_obj"]:
        alert.ago = ago(alert.created_at, now, short=True)
    # Acknowledging applies to the unacknowledged ones among the matching alerts.
    if filters["acknowledged"] == "yes":
        unread = 0  # the history shows acknowledged alerts only
    else:
        unread = _matching(filters, acknowledged=False).count()
    return {
        **paging,
        "filters": filters,
        "problems": problems,
        "history_url": paging["page_url"](paging["page_obj"].number),
        "unread": unread,
        "bulk": {
            "id": "alerts",
            # Acknowledging answers htmx with alertsChanged: the history and the bell re-render.
            "htmx": True,
            "url": reverse("alerts-acknowledge-all"),
            "count": unread,
            "fields": hidden_fields(filters),
            "actions": [
                {
                    "action": "acknowledge",
                    "label": "Acknowledge",
                    "question": f"Acknowledge all {unread} matching unacknowledged "
                    f"alert{'' if unread == 1 else 's'}?",
                    "confirm": "Yes, acknowledge",
                }
            ],
        },
    }


def _deliveries() -> dict:
    rows = list(
        Notification.objects.select_related("alert__rule")
        .prefetch_related("log")
        .order_by("-created_at")[:DELIVERIES_SHOWN]
    )
    now = timezone.now()
    for row in rows:
        row.channel_label = CHANNEL_LABELS.get(row.channel, row.channel)
        # Webhook URLs are secrets (Slack and Discord keep their token in the path).
        row.attempt_log = sorted(row.log.all(), key=lambda attempt: attempt.number)
        row.ago = ago(row.created_at, now, short=True)
    return {"deliveries": rows}


def _render_page(request: HttpRequest, *, form=None, errors=None) -> HttpResponse:
    rules = _rules()
    context = {
        "page": "alerts",
        "rules": rules,
        "rule_options": [(str(rule.pk), rule.name) for rule in rules],
        "since_options": [
            ("", "Any time"),
            ("1h", "Last hour"),
            ("24h", "Last 24 h"),
            ("7d", "Last 7 days"),
        ],
        **_incidents(),
        **_history(request),
        "tag_options": selection.tag_options(),
        **_deliveries(),
        **_form_context(form or dict(NEW_RULE), errors),
    }
    return render(request, "alerts/alerts.html", context)


@login_required_htmx
@require_GET
def alerts_page(request: HttpRequest) -> HttpResponse:
    target = request.htmx.target if request.htmx else None
    if target == "alert-history":
        response = render(request, "alerts/history.html", _history(request))
    elif target == "delivery-log":
        response = render(request, "alerts/deliveries.html", _deliveries())
    else:
        response = _render_page(request)
    # The same URL answers with the page or, for htmx, one section (see the models page).
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


# --- rule actions -------------------------------------------------------------------------------


def _rule(rule_id: uuid.UUID) -> AlertRule:
    return get_object_or_404(
        AlertRule.objects.select_related("target_model", "target_slo", "target_template"),
        pk=rule_id,
    )


def _row_or_back(request: HttpRequest, rule: AlertRule, level: str, text: str) -> HttpResponse:
    """htmx: the re-rendered table row with a notice; plain POST: a message, and back."""
    if request.htmx:
        notice = {"level": level, "text": text}
        return render(
            request, "alerts/rule_row.html", {"rule": _decorate_rule(rule), "notice": notice}
        )
    getattr(messages, level)(request, text)
    return redirect_back(request, "alerts")


@login_required_htmx
@permission_required("alerts.add_alertrule")
@require_POST
def rule_create(request: HttpRequest) -> HttpResponse:
    form = AlertRuleForm(request.POST)
    if not form.is_valid():
        return _render_page(request, form=form.values(), errors=form.messages())
    rule = form.serializer.save()
    messages.success(request, f"Created rule “{rule.name}”.")
    return redirect(f"{reverse('alerts')}#rule-{rule.pk}")


@login_required_htmx
@permission_required("alerts.change_alertrule")
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: uuid.UUID) -> HttpResponse:
    """The rule's edit form, with its webhook signing secret."""
    rule = _rule(rule_id)
    errors: dict = {}
    if request.method == "POST":
        bound = AlertRuleForm(request.POST, instance=rule)
        if bound.is_valid():
            bound.serializer.save()
            messages.success(request, f"Saved rule “{rule.name}”.")
            return redirect(f"{reverse('alerts')}#rule-{rule.pk}")
        form, errors = bound.values(), bound.messages()
        rule.refresh_from_db()  # the heading shows the stored rule, not the rejected edit
    else:
        form = AlertRuleForm.values_for(rule)
    return _rule_page(request, rule, form, errors)


def _rule_page(request, rule: AlertRule, form: dict, errors: dict, new_secret=None):
    context = {
        "page": "alerts",
        "rule": _decorate_rule(rule),
        "webhook_host": rule.webhook_host,
        "apprise_services": rule.apprise_services,
        "new_secret": new_secret,
        **_form_context(form, errors),
    }
    return render(request, "alerts/rule.html", context)


@login_required_htmx
@permission_required("alerts.change_alertrule")
@require_POST
def rule_rotate_secret(request: HttpRequest, rule_id: uuid.UUID) -> HttpResponse:
    """A new signing secret, shown on this one response (it is never shown again)."""
    rule = services.rotate_webhook_secret(rule=_rule(rule_id))
    form = AlertRuleForm.values_for(rule)
    return _rule_page(request, rule, form, {}, new_secret=rule.webhook_secret)


@login_required_htmx
@permission_required("alerts.change_alertrule")
@require_POST
def rule_toggle(request: HttpRequest, rule_id: uuid.UUID) -> HttpResponse:
    """Enable or disable a rule (the posted state, so a double click is harmless)."""
    rule = _rule(rule_id)
    rule.enabled = parse_bool(request.POST.get("enabled"))
    rule.save(update_fields=["enabled", "updated_at"])
    state = "enabled" if rule.enabled else "disabled: it is not evaluated"
    return _row_or_back(request, rule, "success", f"Rule {state}.")


@login_required_htmx
@permission_required("alerts.change_alertrule")
@require_POST
@rate_limited("rule_test")
def rule_test(request: HttpRequest, rule_id: uuid.UUID) -> HttpResponse:
    """Raise a test alert and queue it to the rule's email, webhook and Apprise channels."""
    rule = _rule(rule_id)
    alert = notifications.send_test(rule=rule)
    queued = set(alert.notifications.values_list("channel", flat=True))
    channels = [label for channel, label in CHANNEL_LABELS.items() if channel in queued]
    where = f"queued to {', '.join(channels)}" if channels else "shown in the bell only"
    response = _row_or_back(request, rule, "success", f"Test alert raised, {where}.")
    if request.htmx:
        response["HX-Trigger"] = f"{ALERTS_CHANGED}, {DELIVERIES_CHANGED}"
    return response


@login_required_htmx
@permission_required("alerts.delete_alertrule")
@require_POST
def rule_delete(request: HttpRequest, rule_id: uuid.UUID) -> HttpResponse:
    rule = _rule(rule_id)
    name = rule.name
    rule.delete()  # its incidents, alerts and their deliveries go with it
    text = f"Deleted rule “{name}” and its alert history."
    if request.htmx:
        response = render(request, "alerts/rule_deleted.html", {"text": text})
        response["HX-Trigger"] = f"{ALERTS_CHANGED}, {DELIVERIES_CHANGED}"
        return response
    messages.success(request, text)
    return redirect("alerts")
