"""Prometheus ``/metrics``: model health and speed, and worker health, read at scrape time.

Web and worker are separate processes, so nothing is counted in memory: a custom collector
reads the database (and the django-q2 broker) on each scrape, in a constant number of queries
whatever the number of models (plus three per SLO). Model series carry ``provider``
(provider type), ``account`` (account display name) and ``model`` (model id), for the
monitored models (monitoring on, account enabled). A figure that does not exist is left out,
never reported as 0: no status before a model's first check, no TTFT/latency/tok/s when the
latest check failed.

Windows (hourly rollups are the finest rows kept, so a window cannot be cut finer):

- ``window="1h"`` quantiles merge the hourly rollups overlapping the last hour, i.e. the
  current hour so far and the previous hour: 60–120 minutes of successful checks.
- ``window="24h"`` availability sums the hourly rollups of the last 24 h, like the dashboard.
- ``arguslm_model_checks_total`` sums every daily rollup; rollups are never pruned, so it only
  grows and ``increase()``/``rate()`` work on it.
- ``arguslm_slo_*`` are monitoring.slos' figures (the SLO page's and the API's): the SLO's own
  period for the SLI and budget, the 5m/30m/1h/6h windows for burn rates.

Probe regions (monitoring.regions): the model series above are the regions' agreement
(ModelStatus); ``arguslm_model_region_*`` add each region's own latest check (RegionStatus),
with a ``region`` label, for the regions the model is probed from now; ``arguslm_region_*``
say which regions have a live worker.

Tags (providers.tags) are not labels of every series: a model's tags change, and a label
that changes starts a new series. ``arguslm_model_tags`` is an info series instead, one per
monitored model, valued 1, with the model labels, its ``model_id`` and one ``tag_<key>``
label per tag; PromQL joins it where wanted:
``arguslm_model_up * on(provider, account, model) group_left(tag_env) arguslm_model_tags``.

Access needs an API token (Bearer, Token, or HTTP Basic carrying a token) unless
``ARGUSLM_METRICS_PUBLIC=true``. See deploy/README-metrics.md.
"""

import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from arguslm.auth import token_from_authorization, user_for_token
from arguslm.models import Heartbeat
from arguslm.views import WORKER_HEARTBEAT
from benchmarks.models import BenchmarkRun
from monitoring import regions, sketch, slos
from monitoring.models import CheckRollup, MonitoringConfig, MonitoringRun, RegionStatus, Slo
from providers import tags
from providers.models import LLMModel, ProviderAccount

log = logging.getLogger(__name__)

# The classic text format every Prometheus reads. prometheus-client ≥ 0.22 advertises 1.0.0,
# which differs only for UTF-8 metric names; ours are plain, so the bytes are the same.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

MODEL_LABELS = ["provider", "account", "model"]
STATUSES = ("up", "degraded", "down")
UP_VALUE = {"up": 1.0, "degraded": 0.5, "down": 0.0}
QUANTILES = (0.5, 0.95, 0.99)
# Hourly buckets start on the hour: one starting after now − 2 h overlaps the last hour.
QUANTILE_WINDOW = ("1h", timedelta(hours=2))
AVAILABILITY_WINDOW = ("24h", timedelta(hours=24))
# (metric name, sketch key in CheckRollup, scale from stored unit, help)
WINDOW_METRICS = [
    ("arguslm_model_ttft_window_seconds", "ttft", 1e-3, "Time to first token"),
    ("arguslm_model_latency_window_seconds", "latency", 1e-3, "End-to-end latency"),
    (
        "arguslm_model_output_tokens_per_second_window",
        "tps",
        1.0,
        "Output tokens per second after the first token",
    ),
]


def _monitored(prefix: str = "") -> dict:
    """Filter for the monitored models (monitoring on, account enabled), through ``prefix``."""
    return {f"{prefix}enabled_for_monitoring": True, f"{prefix}provider_account__enabled": True}


class ArgusLMCollector:
    """Every ArgusLM metric family, read from the database when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        models = _monitored_models()
        yield from _latest_check_families(models)
        yield from _region_check_families(models)
        yield _tags_family(models)
        yield from _window_families(models, now)
        yield from _slo_families(now)
        yield from _worker_families(now)
        yield from _region_families(now)


def _monitored_models() -> list[dict]:
    """One row per monitored model: its labels and its latest status (one query)."""
    rows = list(
        LLMModel.objects.filter(**_monitored())
        .order_by("provider_account__provider_type", "provider_account__display_name", "model_id")
        .values(
            "id",
            "model_id",
            "provider_account_id",
            "provider_account__provider_type",
            "provider_account__display_name",
            "status__status",
            "status__checked_at",
            "status__ttft_ms",
            "status__latency_ms",
            "status__tps_excluding_ttft",
            "status__error_type",
            "probe_regions",
            "provider_account__probe_regions",
        )
    )
    # Account names are not unique; two accounts of one provider type with the same name would
    # yield identical series, which Prometheus rejects. Such names get a short id suffix.
    accounts = defaultdict(set)
    for row in rows:
        key = (row["provider_account__provider_type"], row["provider_account__display_name"])
        accounts[key].add(row["provider_account_id"])
    for row in rows:
        provider = row["provider_account__provider_type"]
        account = row["provider_account__display_name"]
        if len(accounts[(provider, account)]) > 1:
            account = f"{account} ({str(row['provider_account_id'])[:8]})"
        row["labels"] = [provider, account, row["model_id"]]
    return rows


def _latest_check_families(models: list[dict]) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "arguslm_model_up",
        "Status of the latest check: 1 up, 0.5 degraded, 0 down (absent before the first).",
        labels=MODEL_LABELS,
    )
    checked = GaugeMetricFamily(
        "arguslm_model_last_check_timestamp_seconds",
        "Unix time of the latest check.",
        labels=MODEL_LABELS,
    )
    ttft = GaugeMetricFamily(
        "arguslm_model_ttft_seconds",
        "Time to first token of the latest check (absent when it failed).",
        labels=MODEL_LABELS,
    )
    latency = GaugeMetricFamily(
        "arguslm_model_latency_seconds",
        "End-to-end latency of the latest check (absent when it failed).",
        labels=MODEL_LABELS,
    )
    tps = GaugeMetricFamily(
        "arguslm_model_output_tokens_per_second",
        "Output tokens per second after the first token, latest check (absent when it failed).",
        labels=MODEL_LABELS,
    )
    for row in models:
        if row["status__status"] is None:
            continue
        labels = row["labels"]
        up.add_metric(labels, UP_VALUE[row["status__status"]])
        checked.add_metric(labels, row["status__checked_at"].timestamp())
        if row["status__error_type"] is not None:
            continue  # a failed or rate-limited check measured nothing worth charting
        for family, value, scale in (
            (ttft, row["status__ttft_ms"], 1e-3),
            (latency, row["status__latency_ms"], 1e-3),
            (tps, row["status__tps_excluding_ttft"], 1.0),
        ):
            if value is not None:
                family.add_metric(labels, value * scale)
    yield from (up, checked, ttft, latency, tps)


def _region_check_families(models: list[dict]) -> Iterator[Metric]:
    """Each region's latest check of each monitored model (one query), for the regions that
    probe it now (its own, else its account's; none set: every region): a region taken off a
    model keeps its last row, which would otherwise be reported forever."""
    labels = [*MODEL_LABELS, "region"]
    up = GaugeMetricFamily(
        "arguslm_model_region_up",
        "Status of the region's latest check: 1 up, 0.5 degraded, 0 down.",
        labels=labels,
    )
    checked = GaugeMetricFamily(
        "arguslm_model_region_last_check_timestamp_seconds",
        "Unix time of the region's latest check.",
        labels=labels,
    )
    ttft = GaugeMetricFamily(
        "arguslm_model_region_ttft_seconds",
        "Time to first token of the region's latest check (absent when it failed).",
        labels=labels,
    )
    latency = GaugeMetricFamily(
        "arguslm_model_region_latency_seconds",
        "End-to-end latency of the region's latest check (absent when it failed).",
        labels=labels,
    )
    by_id = {row["id"]: row for row in models}
    rows = RegionStatus.objects.filter(**_monitored("model__")).order_by("model_id", "region")
    fields = ("model_id", "region", "status", "checked_at", "ttft_ms", "latency_ms", "error_type")
    for model_id, region, value, checked_at, ttft_ms, latency_ms, error_type in rows.values_list(
        *fields
    ):
        row = by_id.get(model_id)
        if row is None:
            continue  # the model stopped being monitored between the two queries
        limit = row["probe_regions"] or row["provider_account__probe_regions"]
        if limit and region not in limit:
            continue
        values = [*row["labels"], region]
        up.add_metric(values, UP_VALUE[value])
        checked.add_metric(values, checked_at.timestamp())
        if error_type is not None:
            continue  # a failed or rate-limited check measured nothing worth charting
        for family, measured in ((ttft, ttft_ms), (latency, latency_ms)):
            if measured is not None:
                family.add_metric(values, measured * 1e-3)
    yield from (up, checked, ttft, latency)


def _tags_family(models: list[dict]) -> Metric:
    """``arguslm_model_tags``: 1 per monitored model, its tags as ``tag_<key>`` labels (two
    queries: the models' own tags and their accounts')."""
    own = defaultdict(list)
    for model_id, name in LLMModel.tags.through.objects.filter(
        **_monitored("llmmodel__")
    ).values_list("llmmodel_id", "tag__name"):
        own[model_id].append(name)
    inherited = defaultdict(list)
    for account_id, name in ProviderAccount.tags.through.objects.filter(
        provideraccount__enabled=True
    ).values_list("provideraccount_id", "tag__name"):
        inherited[account_id].append(name)
    family = GaugeMetricFamily(
        "arguslm_model_tags",
        "1 per monitored model; its tags as tag_<key> labels (the model's own over its "
        'account\'s; a plain tag is "true"), to join onto the model series.',
        labels=["model_id", *MODEL_LABELS],
    )
    for row in models:
        labels = dict(
            zip(["model_id", *MODEL_LABELS], [str(row["id"]), *row["labels"]], strict=True)
        )
        # Each model has its own set of label names: added as samples, which the family
        # allows (GaugeMetricFamily.add_metric needs one fixed list of names).
        labels |= tags.labels(own[row["id"]], inherited[row["provider_account_id"]])
        family.add_sample("arguslm_model_tags", labels, 1.0)
    return family


def _window_families(models: list[dict], now: datetime) -> Iterator[Metric]:
    labels_of = {row["id"]: row["labels"] for row in models}
    monitored_rollups = CheckRollup.objects.filter(**_monitored("model__"))

    window, reach = QUANTILE_WINDOW
    merged = defaultdict(lambda: {key: sketch.empty() for _, key, _, _ in WINDOW_METRICS})
    for model_id, *summaries in monitored_rollups.filter(
        resolution=CheckRollup.Resolution.HOUR, bucket__gt=now - reach
    ).values_list("model_id", *(key for _, key, _, _ in WINDOW_METRICS)):
        for (_, key, _, _), summary in zip(WINDOW_METRICS, summaries, strict=True):
            sketch.merge(merged[model_id][key], summary)
    for name, key, scale, what in WINDOW_METRICS:
        family = GaugeMetricFamily(
            name,
            f"{what}: quantiles over the hourly rollups overlapping the window "
            "(1h = the current and the previous hour), successful checks only.",
            labels=[*MODEL_LABELS, "quantile", "window"],
        )
        for model_id, summaries in merged.items():
            if model_id not in labels_of:
                continue  # the model stopped being monitored between the two queries
            for q in QUANTILES:
                value = sketch.quantile(summaries[key], q)
                if value is not None:
                    family.add_metric([*labels_of[model_id], str(q), window], value * scale)
        yield family

    window, span = AVAILABILITY_WINDOW
    availability = GaugeMetricFamily(
        "arguslm_model_availability_ratio",
        "(up + degraded) / checks over the hourly rollups of the window, as on the dashboard.",
        labels=[*MODEL_LABELS, "window"],
    )
    for row in (
        monitored_rollups.filter(resolution=CheckRollup.Resolution.HOUR, bucket__gte=now - span)
        .values("model_id")
        .annotate(checks=Sum("n"), ok=Sum(F("up") + F("degraded")))
    ):
        if row["checks"] and row["model_id"] in labels_of:
            availability.add_metric(
                [*labels_of[row["model_id"]], window], row["ok"] / row["checks"]
            )
    yield availability

    totals = {
        row["model_id"]: row
        for row in monitored_rollups.filter(resolution=CheckRollup.Resolution.DAY)
        .values("model_id")
        .annotate(**{f"n_{status}": Sum(status) for status in STATUSES})
    }
    checks = CounterMetricFamily(
        "arguslm_model_checks",
        "Monitoring checks by status, from every daily rollup (rollups are never pruned).",
        labels=[*MODEL_LABELS, "status"],
    )
    for model_id, labels in labels_of.items():
        for status in STATUSES:
            count = totals.get(model_id, {}).get(f"n_{status}") or 0
            checks.add_metric([*labels, status], count)
    yield checks


def _slo_families(now: datetime) -> Iterator[Metric]:
    labels = ["slo_id", "slo", "objective"]
    objective_ratio = GaugeMetricFamily(
        "arguslm_slo_objective_ratio", "The SLO's target share of good checks.", labels=labels
    )
    sli = GaugeMetricFamily(
        "arguslm_slo_sli_ratio", "Share of good checks over the SLO's period.", labels=labels
    )
    budget = GaugeMetricFamily(
        "arguslm_slo_error_budget_remaining_ratio",
        "1 - bad / allowed bad checks over the period (below 0: overspent).",
        labels=labels,
    )
    burn = GaugeMetricFamily(
        "arguslm_slo_burn_rate",
        "Bad share of the window's checks over the error budget share (1 = sustainable).",
        labels=[*labels, "window"],
    )
    alert = GaugeMetricFamily(
        "arguslm_slo_burn_alert",
        "1 while the multi-window burn-rate alert fires (fast: 1h & 5m at 14.4x, slow: 6h & "
        "30m at 6x).",
        labels=[*labels, "alert"],
    )
    for report in slos.reports(Slo.objects.order_by("name"), now=now):
        for objective in report.objectives:
            values = [str(report.slo.pk), report.slo.name, objective.kind]
            objective_ratio.add_metric(values, objective.target / 100)
            if objective.sli is not None:
                sli.add_metric(values, objective.sli / 100)
                budget.add_metric(values, objective.budget_remaining)
            for window in slos.WINDOWS:
                rate = objective.burn_rate(window)
                if rate is not None:
                    burn.add_metric([*values, window], rate)
            firing = {a.name for a in objective.firing}
            for rule in slos.BURN_ALERTS:
                alert.add_metric([*values, rule.name], float(rule.name in firing))
    yield from (objective_ratio, sli, budget, burn, alert)


def _worker_families(now: datetime) -> Iterator[Metric]:
    config = MonitoringConfig.objects.order_by("created_at").first() or MonitoringConfig()
    yield GaugeMetricFamily(
        "arguslm_monitoring_enabled",
        "1 when scheduled monitoring is on.",
        value=float(config.enabled),
    )
    yield GaugeMetricFamily(
        "arguslm_monitoring_interval_seconds",
        "Configured time between monitoring passes.",
        value=config.interval_minutes * 60,
    )

    last = (
        MonitoringRun.objects.filter(status=MonitoringRun.Status.COMPLETED)
        .order_by("-created_at")
        .first()
    )
    pass_models = GaugeMetricFamily(
        "arguslm_monitoring_pass_models",
        "Models by status in the last completed monitoring pass.",
        labels=["status"],
    )
    if last is not None:
        for status in STATUSES:
            pass_models.add_metric([status], getattr(last, status))
        if last.duration_ms is not None:
            yield GaugeMetricFamily(
                "arguslm_monitoring_last_pass_duration_seconds",
                "Duration of the last completed monitoring pass.",
                value=last.duration_ms / 1000,
            )
        if last.finished_at is not None:
            yield from _moment(
                "arguslm_monitoring_last_pass",
                "the last completed monitoring pass finished",
                last.finished_at,
                now,
            )
    yield pass_models

    seen_at = (
        Heartbeat.objects.filter(name=WORKER_HEARTBEAT).values_list("seen_at", flat=True).first()
    )
    if seen_at is not None:
        yield GaugeMetricFamily(
            "arguslm_worker_heartbeat_age_seconds",
            "Seconds since a worker (qcluster) last recorded its heartbeat.",
            value=_age(seen_at, now),
        )

    yield GaugeMetricFamily(
        "arguslm_benchmarks_running",
        "Benchmark runs in progress.",
        value=BenchmarkRun.objects.filter(status=BenchmarkRun.Status.RUNNING).count(),
    )
    depth = _queue_depth(now)
    if depth is not None:
        yield GaugeMetricFamily(
            "arguslm_queue_depth", "Tasks waiting in the django-q2 broker queue.", value=depth
        )


def _region_families(now: datetime) -> Iterator[Metric]:
    """Each known region (the home region always) and whether a worker of it is live."""
    live = GaugeMetricFamily(
        "arguslm_region_live",
        "1 while a worker of the region beats (passes probe from live regions only).",
        labels=["region"],
    )
    seen = GaugeMetricFamily(
        "arguslm_region_last_seen_timestamp_seconds",
        "Unix time of the region's last worker heartbeat (absent before the first).",
        labels=["region"],
    )
    age = GaugeMetricFamily(
        "arguslm_region_last_seen_age_seconds",
        "Seconds since the region's last worker heartbeat (absent before the first).",
        labels=["region"],
    )
    for region in regions.listing(now=now):
        live.add_metric([region["name"]], float(region["live"]))
        if region["last_seen_at"] is not None:
            seen.add_metric([region["name"]], region["last_seen_at"].timestamp())
            age.add_metric([region["name"]], _age(region["last_seen_at"], now))
    yield from (live, seen, age)


def _moment(prefix: str, what: str, moment: datetime, now: datetime) -> Iterable[Metric]:
    yield GaugeMetricFamily(
        f"{prefix}_timestamp_seconds", f"Unix time {what}.", value=moment.timestamp()
    )
    yield GaugeMetricFamily(
        f"{prefix}_age_seconds", f"Seconds since {what}.", value=_age(moment, now)
    )


def _age(moment: datetime, now: datetime) -> float:
    # Web and worker clocks may differ slightly: an age is never negative.
    return max(0.0, (now - moment).total_seconds())


@functools.cache
def _broker():
    from django_q.brokers import get_broker

    return get_broker()


def _queue_depth(now: datetime) -> int | None:
    """Tasks waiting in the broker (not those a worker holds), or None if it is unreachable."""
    from django_q.conf import Conf

    if Conf.ORM:
        from django_q.models import OrmQ

        # What ORM.queue_size() counts, without its close_old_connections(): in a request
        # that would close the connection the rest of the scrape still uses.
        return OrmQ.objects.using(Conf.ORM).filter(key=Conf.CLUSTER_NAME, lock__lte=now).count()
    try:
        return _broker().queue_size()
    except Exception as exc:  # Redis down: the database figures are still worth scraping
        log.warning("metrics: queue depth unavailable: %s", exc)
        return None


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(ArgusLMCollector())


def _unauthorized(request: HttpRequest) -> JsonResponse | None:
    """None when the request carries a valid API token, else the 401 to send."""
    header = request.headers.get("Authorization", "")
    if not header:
        detail = "Authentication credentials were not provided."
    else:
        key = token_from_authorization(header)
        if key and user_for_token(key) is not None:
            return None
        detail = "Invalid or expired API token."
    response = JsonResponse({"detail": detail}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape endpoint (text format 0.0.4)."""
    if not settings.METRICS_PUBLIC and (denied := _unauthorized(request)) is not None:
        return denied
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE)
