"""Public status pages and badges: what they show, read in a constant number of queries.

A page reads its chosen accounts, its chosen models, their models (with each latest status),
their daily rollups and their incidents: one query per kind of data, whatever the number of
models. Everything handed to the templates is plain values an owner chose to show (display
names, states, counts, times): never a model object, whose account holds credentials.

An incident's stored summary can quote a provider's error text, so the public page says what
kind of incident it was instead ("Down", "Degraded performance").
"""

from collections import defaultdict
from datetime import timedelta

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.safestring import mark_safe

from alerts.models import AlertRule, Incident
from arguslm.templatetags.arguslm_tags import availability as percent
from dashboard import queries
from dashboard.models import StatusPage
from monitoring import rollups, sketch
from monitoring.models import CheckRollup
from providers.models import LLMModel

DAYS = 90
EMPTY_DAY = (0, 0, 0, 0)
BAR_STEP = 6  # px between the starts of two day bars (4 px bar, 2 px gap)
BADGE_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
INCIDENT_KINDS = {AlertRule.RuleType.PERFORMANCE_DEGRADATION: "Degraded performance"}


def public_model_ids() -> Q:
    """Models shown on at least one public page (a filter on LLMModel)."""
    chosen = Q(status_pages__public=True)
    by_account = Q(provider_account__status_pages__public=True) & Q(
        pk__in=LLMModel.objects.monitored().values("pk")
    )
    return chosen | by_account


def is_public(model_id) -> bool:
    return LLMModel.objects.filter(public_model_ids(), pk=model_id).exists()


def _state(model: LLMModel) -> str:
    try:
        return model.status.status
    except LLMModel.status.RelatedObjectDoesNotExist:
        return "unknown"


def day_state(n: int, degraded: int, down: int) -> str:
    """A day's bar: any down check → down, else any degraded → degraded, else up."""
    if not n:
        return "none"
    return "down" if down else "degraded" if degraded else "up"


def page_data(page: StatusPage, *, now=None) -> dict:
    """The page's groups of models: name, state, 90 daily bars, availability, incidents."""
    now = now or timezone.now()
    today = rollups.bucket_start(now, CheckRollup.Resolution.DAY)
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    accounts = dict(page.accounts.values_list("id", "display_name"))
    chosen = set(page.llm_models.values_list("id", flat=True))
    monitored = LLMModel.objects.monitored().filter(provider_account_id__in=list(accounts))
    models = list(
        LLMModel.objects.filter(Q(pk__in=chosen) | Q(pk__in=monitored.values("pk"))).select_related(
            "status"
        )
    )
    models.sort(key=lambda m: (m.display_name.lower(), str(m.id)))
    ids = [m.id for m in models]
    starts = [
        f'<rect x="{i * BAR_STEP}" width="4" height="24" rx="1" class="bar-' for i in range(DAYS)
    ]
    labels = [f"{day:%Y-%m-%d}" for day in days]
    empty_bars = [
        f'{starts[i]}none"><title>{labels[i]}: no data</title></rect>' for i in range(DAYS)
    ]
    daily = defaultdict(dict)
    # A day has a row per region: one bar per day, their counts added.
    for row in (
        CheckRollup.objects.filter(
            resolution=CheckRollup.Resolution.DAY, bucket__gte=days[0], model_id__in=ids
        )
        .values("model_id", "bucket")
        .annotate(n=Sum("n"), up=Sum("up"), degraded=Sum("degraded"), down=Sum("down"))
        .order_by()
    ):
        counts = (row["n"], row["up"], row["degraded"], row["down"])
        daily[row["model_id"]][row["bucket"]] = counts
    incidents = defaultdict(list)
    for model_id, kind, opened, resolved in (
        Incident.objects.filter(model_id__in=ids)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=days[0]))
        .order_by("-opened_at")
        .values_list("model_id", "rule__rule_type", "opened_at", "resolved_at")
    ):
        incidents[model_id].append(
            {
                "summary": INCIDENT_KINDS.get(kind, "Down"),
                "opened_at": opened,
                "resolved_at": resolved,
            }
        )
    rows = {}
    for model in models:
        bars, ok_total, n_total = [], 0, 0
        counts = daily[model.id]
        for index, day in enumerate(days):
            n, up, degraded, down = counts.get(day, EMPTY_DAY)
            if not n:
                bars.append(empty_bars[index])
                continue
            ok_total, n_total = ok_total + up + degraded, n_total + n
            state = day_state(n, degraded, down)
            bars.append(
                f'{starts[index]}{state}"><title>{labels[index]}: '
                f"{percent((up + degraded) / n)} % of {n} checks, {state}</title></rect>"
            )
        ratio = ok_total / n_total if n_total else None
        rows[model.id] = {
            "name": model.display_name,
            "state": _state(model),
            # One string, not 90 template loops per model: the page's main cost. Only dates,
            # numbers and state names go in, so nothing needs escaping.
            "bars": mark_safe("".join(bars)),
            "availability": ratio,
            "availability_text": f"{percent(ratio)} % over 90 days" if ratio is not None else "",
            "incidents": incidents[model.id],
        }
    groups = []
    direct = [
        rows[m.id] for m in models if m.id in chosen and m.provider_account_id not in accounts
    ]
    if direct:
        groups.append({"name": None, "models": direct})
    for account_id, name in sorted(accounts.items(), key=lambda a: a[1].lower()):
        members = [rows[m.id] for m in models if m.provider_account_id == account_id]
        groups.append({"name": name, "models": members})
    listed = [row for group in groups for row in group["models"]]
    history = sorted(
        ({**incident, "model": row["name"]} for row in listed for incident in row["incidents"]),
        key=lambda i: i["opened_at"],
        reverse=True,
    )
    return {"groups": groups, "days": days, "incidents": history, "generated_at": now}


def badge_figures(model_id, window: str, *, now=None) -> dict:
    """Availability ((up + degraded) / checks) and TTFT p50 over the window, from the hourly
    rollups (the dashboard card's 24 h figure; percentiles from merged summaries)."""
    now = now or timezone.now()
    since = now - BADGE_WINDOWS[window]
    availability, n = queries.availability_totals([model_id], since).get(model_id, (None, 0))
    merged = sketch.empty()
    for summary in CheckRollup.objects.filter(
        resolution=CheckRollup.Resolution.HOUR, bucket__gte=since, model_id=model_id
    ).values_list("ttft", flat=True):
        sketch.merge(merged, summary)
    return {"availability": availability, "n": n, "ttft_p50": sketch.quantile(merged, 0.5)}
