"""The dashboard at fleet scale: what needs attention, one summary per provider account, and
one page of models found by search and filters.

A page view costs the same number of queries whatever the number of models, and reads rows
for one page of models at most, with one exception kept small: the account summaries cover
every model's hourly rollups of the last 24 h. The hours still being written are summed by
the database on every view; each settled hour's figures per account (counts and the merged
TTFT summary) are computed once and cached (monitoring.slos does the same with settled
days), so a view never parses a thousand summaries.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Lower
from django.urls import reverse

from alerts.evaluation import SLO_PREFIX
from alerts.models import AlertRule, Incident
from dashboard import queries
from monitoring import regions as probe_regions
from monitoring import sketch, slos
from monitoring.models import CheckRollup, RegionStatus, Slo
from providers import tags as tag_rules
from providers.models import LLMModel, ProviderAccount, Tag

STATES = ("up", "degraded", "down", "unknown")
# The state filter: "problem" is down or degraded, the models "Needs attention" lists.
STATE_FILTERS = {
    "problem": "Down or degraded",
    "down": "Down",
    "degraded": "Degraded",
    "up": "Up",
    "unknown": "No data",
}
PER_PAGE = 50
PROBLEMS_SHOWN = 20  # per kind of problem; the rest is counted and linked
ACCOUNTS_SHOWN = 25  # accounts with problems first; "show all" lists every one
TAGS_LISTED = 300
WINDOW = timedelta(hours=24)
# An hour is settled (its rollups no longer change) this long after it ended: a pass that
# crosses the hour still writes its last checks into the hour it started in.
SETTLE = timedelta(minutes=15)
HOUR_CACHE_SECONDS = 25 * 3600
# Incidents by rule type, as "Needs attention" names them.
INCIDENT_KINDS = {
    AlertRule.RuleType.ANY_MODEL_DOWN: "Down",
    AlertRule.RuleType.SPECIFIC_MODEL_DOWN: "Down",
    AlertRule.RuleType.MODEL_UNAVAILABLE_EVERYWHERE: "Down everywhere",
    AlertRule.RuleType.PERFORMANCE_DEGRADATION: "Slow",
    AlertRule.RuleType.SLO_BURN_RATE: "SLO burn",
    AlertRule.RuleType.MODEL_CHANGED: "Changed",
    AlertRule.RuleType.BENCHMARK_REGRESSION: "Regression",
}


# --- filters ------------------------------------------------------------------------------------


@dataclass
class Filters:
    """What the Models section shows: a search, an account, a state, tags (all optional)."""

    q: str = ""
    account: ProviderAccount | None = None
    state: str = ""
    tags: list[str] = field(default_factory=list)

    def as_query(self) -> dict:
        """The filters as URL parameters (paging links and the live refresh keep them)."""
        return {
            "q": self.q,
            "account": str(self.account.pk) if self.account else "",
            "state": self.state,
            "tag": self.tags,
        }

    @property
    def active(self) -> bool:
        return bool(self.q or self.account or self.state or self.tags)


def with_state(models: QuerySet) -> QuerySet:
    """Models with ``state``: their latest check's status (ModelStatus), "unknown" without one.

    A join on the one-row-per-model status table, so the state filters and pages in the
    database like any column."""
    return models.annotate(state=Coalesce("status__status", Value("unknown")))


def filtered_models(filters: Filters) -> QuerySet:
    """The monitored models matching ``filters``, grouped by account (its name, then the
    model's name): the Models section pages through this."""
    models = with_state(LLMModel.objects.monitored())
    if filters.q:
        models = models.filter(
            Q(model_id__icontains=filters.q)
            | Q(custom_name__icontains=filters.q)
            | Q(provider_account__display_name__icontains=filters.q)
        )
    if filters.account:
        models = models.filter(provider_account=filters.account)
    if filters.state == "problem":
        models = models.filter(state__in=("down", "degraded"))
    elif filters.state:
        models = models.filter(state=filters.state)
    if filters.tags:
        models = tag_rules.filter_models(models, filters.tags)
    return (
        models.select_related("provider_account", "status")
        # Decrypted as it loads (~1 ms an account), and never shown here.
        .defer("provider_account__credentials_encrypted")
        .prefetch_related("tags", "provider_account__tags")
        .order_by(
            Lower("provider_account__display_name"),
            "provider_account_id",
            Lower(Coalesce("custom_name", "model_id")),
            "id",
        )
    )


def page_rows(models: list[LLMModel], now: datetime, *, tags: bool = True) -> list[dict]:
    """One row per model of a page: its latest status, 24 h availability and hourly latency
    p50s (one query for the page, whatever its size), and its tags (``tags``: prefetched)."""
    hourly = queries.rollup_rows([m.id for m in models], CheckRollup.Resolution.HOUR, now - WINDOW)
    totals = defaultdict(lambda: [0, 0])
    p50s = defaultdict(dict)  # {model id: {bucket: latency p50}}, in bucket order
    shared = set()  # (model id, bucket) with a row from several regions
    for model_id, bucket, n, up, degraded, p50 in hourly.values_list(
        "model_id", "bucket", "n", "up", "degraded", "latency_p50"
    ).order_by("bucket"):
        totals[model_id][0] += up + degraded
        totals[model_id][1] += n
        if bucket in p50s[model_id]:
            shared.add((model_id, bucket))
        p50s[model_id][bucket] = p50
    if shared:
        _merge_p50s(hourly, shared, p50s)
    spark = {
        model_id: [(bucket.isoformat(), p50) for bucket, p50 in buckets.items()]
        for model_id, buckets in p50s.items()
    }
    rows = []
    for model in models:
        ok, n = totals[model.id]
        rows.append(
            {
                "model": model,
                "status": _status(model),
                "state": model.state,
                "availability": (ok / n) if n else None,
                "availability_n": n,
                "sparkline": spark.get(model.id, []),
                "tags": _tags(model) if tags else [],
            }
        )
    return rows


def _merge_p50s(hourly: QuerySet, shared: set, p50s: dict) -> None:
    """The latency p50 of the hours that several regions probed, from their merged summaries
    (a median of medians is not the median). One more query, only with several regions."""
    merged = {key: sketch.empty() for key in shared}
    models = {model_id for model_id, _ in shared}
    buckets = {bucket for _, bucket in shared}
    for model_id, bucket, summary in hourly.filter(
        model_id__in=models, bucket__in=buckets
    ).values_list("model_id", "bucket", "latency"):
        if (model_id, bucket) in merged:
            sketch.merge(merged[(model_id, bucket)], summary)
    for (model_id, bucket), summary in merged.items():
        p50s[model_id][bucket] = sketch.quantile(summary, 0.5)


def _tags(model: LLMModel) -> list[str]:
    """The model's own tags (prefetched by ``filtered_models``: no query); its account's
    show once, on the account's heading row."""
    return sorted(tag.name for tag in model.tags.all())


def _status(model: LLMModel):
    try:
        return model.status
    except LLMModel.status.RelatedObjectDoesNotExist:
        return None


# --- accounts -----------------------------------------------------------------------------------


def account_summaries(*, now: datetime, accounts: list[ProviderAccount]) -> list[dict]:
    """Per account: its monitored models by state and, over the last 24 h, availability and
    TTFT p50/p95 of all its checks (TTFT up to the last settled hour; merged summaries, never
    averages of percentiles)."""
    counts = {
        row["provider_account_id"]: row
        for row in LLMModel.objects.monitored()
        .values("provider_account_id")
        .annotate(
            total=Count("pk"),
            up=Count("pk", filter=Q(status__status="up")),
            degraded=Count("pk", filter=Q(status__status="degraded")),
            down=Count("pk", filter=Q(status__status="down")),
        )
        .order_by()
    }
    merged = _account_window(now)
    rows = []
    for account in accounts:
        row = counts.get(account.pk, {})
        total = row.get("total", 0)
        states = {state: row.get(state, 0) for state in ("up", "degraded", "down")}
        states["unknown"] = total - sum(states.values())
        n, ok, ttft = merged.get(str(account.pk), (0, 0, None))
        rows.append(
            {
                "account": account,
                "monitored": total,
                "states": states,
                "problems": states["down"] + states["degraded"],
                "availability": ok / n if n else None,
                "checks": n,
                "ttft_p50": sketch.quantile(ttft, 0.5),
                "ttft_p95": sketch.quantile(ttft, 0.95),
            }
        )
    return rows


def _hour_key(bucket: datetime) -> str:
    return f"dashboard-account-hour:{bucket:%Y%m%d%H}"


def _window_key(settled: list[datetime]) -> str:
    return f"dashboard-account-window:{settled[0]:%Y%m%d%H}-{settled[-1]:%Y%m%d%H}"


def _merge(into: dict, per_account: dict) -> dict:
    """Add {account id: (checks, ok, TTFT summary or None)} into ``into``."""
    for account_id, (n, ok, ttft) in per_account.items():
        entry = into.setdefault(account_id, [0, 0, sketch.empty()])
        entry[0] += n
        entry[1] += ok
        sketch.merge(entry[2], ttft)
    return into


def _account_window(now: datetime) -> dict:
    """{account id: (checks, up or degraded, TTFT summary)} over the hourly rollups of the
    last 24 h (buckets from ``now − 24 h`` on, as the model rows count them). Counts include
    the hours still being written; the TTFT summary covers the settled hours only, so that a
    view never parses a thousand summaries of the hour in progress.

    The settled hours' merged figures are one cache entry, rebuilt once an hour from one
    entry per hour (each hour read from the database once). One query a view: the hours in
    progress summed by the database, or, when the cache lacks settled hours, those and the
    hours in progress read together."""
    since = now - WINDOW
    first = since.replace(minute=0, second=0, microsecond=0)
    if first < since:
        first += timedelta(hours=1)
    buckets = []
    bucket = first
    while bucket <= now:
        buckets.append(bucket)
        bucket += timedelta(hours=1)
    settled = [b for b in buckets if b + timedelta(hours=1) + SETTLE <= now]
    live = [b for b in buckets if b not in settled]
    hourly = CheckRollup.objects.filter(resolution=CheckRollup.Resolution.HOUR)
    window = cache.get(_window_key(settled)) if settled else {}
    total: dict = {}
    if window is not None:
        _merge(total, window)
        for row in (
            hourly.filter(bucket__in=live)
            .values("model__provider_account_id")
            .annotate(n=Sum("n"), ok=Sum(F("up") + F("degraded")))
            .order_by()
        ):
            _merge(total, {str(row["model__provider_account_id"]): (row["n"], row["ok"], None)})
        return {key: tuple(value) for key, value in total.items()}

    cached = cache.get_many([_hour_key(b) for b in settled])
    hours = {b: cached[_hour_key(b)] for b in settled if _hour_key(b) in cached}
    missing = [b for b in settled if b not in hours]
    read: dict = {b: {} for b in missing + live}
    rows = hourly.filter(bucket__in=missing + live).values_list(
        "bucket", "model__provider_account_id", "n", "up", "degraded", "ttft"
    )
    for bucket, account_id, n, up, degraded, ttft in rows:
        entry = read[bucket].setdefault(str(account_id), [0, 0, sketch.empty()])
        entry[0] += n
        entry[1] += up + degraded
        if bucket not in live:
            sketch.merge(entry[2], ttft)
    cache.set_many({_hour_key(b): read[b] for b in missing}, timeout=HOUR_CACHE_SECONDS)
    hours.update({b: read[b] for b in missing})
    window = {}
    for per_account in hours.values():
        _merge(window, per_account)
    cache.set(_window_key(settled), window, timeout=HOUR_CACHE_SECONDS)
    _merge(total, window)
    for bucket in live:
        _merge(total, {key: (n, ok, None) for key, (n, ok, _) in read[bucket].items()})
    return {key: tuple(value) for key, value in total.items()}


def shown_accounts(rows: list[dict], *, show_all: bool) -> tuple[list[dict], int]:
    """The account rows to show: those with problems first, then by name; capped unless
    ``show_all``. Returns the rows and how many were left out."""
    ordered = sorted(rows, key=lambda r: (-r["problems"], r["monitored"] == 0))
    if show_all or len(ordered) <= ACCOUNTS_SHOWN:
        return ordered, 0
    return ordered[:ACCOUNTS_SHOWN], len(ordered) - ACCOUNTS_SHOWN


# --- regions ------------------------------------------------------------------------------------


def regions(*, now: datetime) -> list[dict]:
    """Every known probe region when there are several (none otherwise): live or stale, its
    last heartbeat (monitoring.regions.listing), and how many monitored models its latest
    checks saw, and saw down. Two queries: the regions, and one aggregate for the counts."""
    listed = probe_regions.listing(now=now)
    if len(listed) < 2:
        return []
    counts = {
        row["region"]: row
        for row in RegionStatus.objects.filter(model__in=LLMModel.objects.monitored().values("pk"))
        .values("region")
        .annotate(checked=Count("pk"), down=Count("pk", filter=Q(status="down")))
        .order_by()
    }
    for region in listed:
        row = counts.get(region["name"], {})
        region["checked"] = row.get("checked", 0)
        region["down"] = row.get("down", 0)
    return listed


def down_in(model_ids: list, regions: list[str]) -> dict:
    """{model id: names of the ``regions`` whose latest check saw it down}, for a page of
    models (one query)."""
    out = defaultdict(list)
    for model_id, region in (
        RegionStatus.objects.filter(model_id__in=model_ids, region__in=regions, status="down")
        .order_by("region")
        .values_list("model_id", "region")
    ):
        out[model_id].append(region)
    return out


# --- what needs attention -----------------------------------------------------------------------


def problem_models() -> list[LLMModel]:
    """The first PROBLEMS_SHOWN monitored models down or degraded in their latest check:
    down first, the most recently checked first."""
    return list(
        with_state(LLMModel.objects.monitored())
        .filter(state__in=("down", "degraded"))
        .select_related("provider_account", "status")
        .defer("provider_account__credentials_encrypted")
        # "down" sorts after "degraded": descending puts the down models first.
        .order_by("-state", "-status__checked_at", "id")[:PROBLEMS_SHOWN]
    )


def open_incidents() -> tuple[list[Incident], int]:
    """The newest open incidents (the widest: those held under an account's or the network's
    incident are counted on it, as on the Alerts page) and how many are open in all."""
    incidents = Incident.objects.filter(resolved_at__isnull=True, parent__isnull=True)
    shown = list(
        incidents.select_related("rule", "model", "model__provider_account")
        .defer("model__provider_account__credentials_encrypted")
        .annotate(held_count=Count("held"))
        .order_by("-opened_at")[:PROBLEMS_SHOWN]
    )
    for incident in shown:
        incident.kind_label = INCIDENT_KINDS.get(incident.rule.rule_type, "Incident")
        incident.url = _incident_url(incident)
    total = len(shown) if len(shown) < PROBLEMS_SHOWN else incidents.count()
    return shown, total


def _incident_url(incident: Incident) -> str:
    """Where to look at it: its model's page, its SLO, else the Alerts page's incidents."""
    if incident.model_id:
        return reverse("model-detail", args=[incident.model_id])
    if incident.subject.startswith(SLO_PREFIX):
        return f"{reverse('slos')}#slo-{incident.subject.removeprefix(SLO_PREFIX)}"
    return f"{reverse('alerts')}#incidents"


def slo_reports(*, now: datetime) -> list:
    """Every SLO's report (monitoring.slos), computed once per view for the SLO card and
    "Needs attention"."""
    return slos.reports(Slo.objects.order_by("name"), now=now)


def burning_slos(reports: list) -> list[dict]:
    """SLOs whose burn-rate alert fires now, or whose budget is spent."""
    out = []
    for report in reports:
        label, status = report.state
        if status in ("down", "degraded"):
            out.append(
                {
                    "slo": report.slo,
                    "label": label,
                    "status": status,
                    "left": slos.budget_shown(report.budget_remaining),
                }
            )
    return out


def slo_card(reports: list) -> dict:
    """The dashboard's SLO card: how many SLOs are within budget, how many burn, the lowest."""
    measured = [r for r in reports if r.budget_remaining is not None]
    lowest = min(measured, key=lambda r: r.budget_remaining) if measured else None
    return {
        "total": len(reports),
        "within": sum(1 for r in reports if r.state[1] == "up"),
        "burning": sum(1 for r in reports if r.firing),
        "lowest": lowest
        and {
            "name": lowest.slo.name,
            "left": slos.budget_shown(lowest.budget_remaining),
        },
    }


# --- the same model on other accounts -----------------------------------------------------------

ACROSS_SHOWN = 10


def across_groups(models: list[LLMModel], now: datetime) -> dict:
    """The page's model ids served by more than one account: each account's latest check and
    24 h availability (two queries, bounded by the page)."""
    ids = {m.model_id for m in models}
    if not ids:
        return {}
    others = list(
        with_state(LLMModel.objects.monitored())
        .filter(model_id__in=ids)
        .select_related("provider_account", "status")
        .defer("provider_account__credentials_encrypted")
        .order_by("model_id", Lower("provider_account__display_name"), "id")
    )
    groups = defaultdict(list)
    for model in others:
        groups[model.model_id].append(model)
    shared = {key: group for key, group in groups.items() if len(group) > 1}
    shared = dict(list(shared.items())[:ACROSS_SHOWN])
    rows = page_rows([m for group in shared.values() for m in group], now, tags=False)
    by_model = {row["model"].id: row for row in rows}
    return {key: [by_model[m.id] for m in group] for key, group in shared.items()}


def tag_names() -> list[str]:
    """The tags the filter offers (all of them, up to TAGS_LISTED; any other can still be
    given in the URL)."""
    return list(Tag.objects.order_by("name").values_list("name", flat=True)[:TAGS_LISTED])
