"""The dashboard's data: a constant number of queries whatever the number of models.

The fleet view (what needs attention, the accounts, one page of models) is dashboard.fleet's;
here are the status figures, the activity, the model page and the charts. Charts read
rollups (hour rows up to 7 days, day rows beyond), or raw checks for the short ranges.
Percentiles come from merged summaries (monitoring.sketch), never averages.
"""

from collections import defaultdict
from datetime import timedelta
from functools import reduce
from operator import or_

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from alerts.models import Alert, Incident
from benchmarks.models import BenchmarkResult, BenchmarkRun
from monitoring import regions, sketch
from monitoring.models import (
    CheckRollup,
    MonitoringConfig,
    MonitoringRun,
    RegionStatus,
    UptimeCheck,
)
from providers.models import LLMModel

RANGES = {
    "5m": (timedelta(minutes=5), "raw", timedelta(minutes=1)),
    "1h": (timedelta(hours=1), "raw", timedelta(minutes=5)),
    "24h": (timedelta(hours=24), CheckRollup.Resolution.HOUR, timedelta(hours=1)),
    "7d": (timedelta(days=7), CheckRollup.Resolution.HOUR, timedelta(hours=1)),
    "30d": (timedelta(days=30), CheckRollup.Resolution.DAY, timedelta(days=1)),
    "90d": (timedelta(days=90), CheckRollup.Resolution.DAY, timedelta(days=1)),
}

# What each figure is (metrics.md), shown as help text beside every chart and card.
METRICS = {
    "latency": {
        "field": "latency_ms",
        "unit": "ms",
        "label": "Latency",
        "definition": "End-to-end: from sending the request to the last token-bearing "
        "chunk (metrics.md latency_ms).",
    },
    "ttft": {
        "field": "ttft_ms",
        "unit": "ms",
        "label": "TTFT",
        "definition": "Time to first token: from sending the request to the first "
        "token-bearing chunk (metrics.md ttft_ms).",
    },
    "tps": {
        "field": "tps_excluding_ttft",
        "unit": "tok/s",
        "label": "tok/s",
        "definition": "Decode speed: output tokens after the first, per second after the "
        "first token (metrics.md tps_excluding_ttft).",
    },
    "availability": {
        "field": None,
        "unit": "%",
        "label": "Availability",
        "definition": "(up + degraded) / all checks in the bucket (metrics.md).",
    },
}
SKETCH_FIELD = {"latency": "latency", "ttft": "ttft", "tps": "tps"}
ROLLUP_NAMES = {CheckRollup.Resolution.HOUR: "hourly", CheckRollup.Resolution.DAY: "daily"}
# SQLite keeps no statistics unless ANALYZE runs: given ``model_id IN (…)`` and a time range,
# it reads the (resolution, bucket) index, i.e. every model's rows in the range, and keeps the
# few asked for (44 ms for 50 of 1,000 models over 24 h). One OR term per model makes it look
# each model's rows up in the unique (model, resolution, bucket, region) index instead (4 ms).
# PostgreSQL plans both forms well. Past this many models, reading the range is the right
# plan anyway (and SQLite caps an expression's depth at 1,000).
PER_MODEL_TERMS = 100


def rollup_rows(model_ids: list, resolution: str, since) -> QuerySet:
    """The rollups of ``model_ids`` at ``resolution`` from ``since`` on."""
    model_ids = list(model_ids)
    if not model_ids or len(model_ids) > PER_MODEL_TERMS:
        return CheckRollup.objects.filter(
            resolution=resolution, bucket__gte=since, model_id__in=model_ids
        )
    terms = [Q(model_id=pk, resolution=resolution, bucket__gte=since) for pk in model_ids]
    return CheckRollup.objects.filter(reduce(or_, terms))


def monitored_models():
    return (
        LLMModel.objects.monitored()
        .select_related("provider_account", "status")
        .order_by("provider_account__display_name", "model_id")
    )


def _status(model):
    try:
        return model.status
    except LLMModel.status.RelatedObjectDoesNotExist:
        return None


def status(*, now=None) -> dict:
    """The status cards' figures that are not per model: the schedule, the last pass, open
    alerts and incidents, recent activity (the per-model figures are dashboard.fleet's)."""
    now = now or timezone.now()
    config = MonitoringConfig.get()
    last_run = MonitoringRun.objects.filter(status=MonitoringRun.Status.COMPLETED).first()
    stale_after = timedelta(minutes=2 * config.interval_minutes)
    stale = bool(
        config.enabled and (config.last_run_at is None or now - config.last_run_at > stale_after)
    )
    return {
        "config": config,
        "last_run": last_run,
        "stale": stale,
        "open_alerts": Alert.objects.filter(acknowledged=False).count(),
        "open_incidents": Incident.objects.filter(resolved_at__isnull=True).count(),
        "activity": _activity(Alert, BenchmarkRun),
    }


def _activity(Alert, BenchmarkRun) -> list[dict]:
    items = []
    for run in MonitoringRun.objects.order_by("-created_at")[:5]:
        text = f"Monitoring pass {run.status}"
        status = run.status
        if run.status == MonitoringRun.Status.COMPLETED:  # counts are final only then
            text += f": {run.up} up, {run.degraded} degraded, {run.down} down"
            if run.message:  # a region's workers stopped during the pass
                text, status = f"{text}. {run.message}", "partial"
        elif run.message:
            text += f": {run.message}"
        items.append({"at": run.created_at, "kind": "pass", "status": status, "text": text})
    for bench in BenchmarkRun.objects.order_by("-created_at")[:5]:
        items.append(
            {
                "at": bench.created_at,
                "kind": "benchmark",
                "status": bench.status,
                "text": f"Benchmark “{bench.name}” {bench.status}",
                "id": bench.id,
            }
        )
    for alert in Alert.objects.order_by("-created_at")[:5]:
        items.append(
            {"at": alert.created_at, "kind": "alert", "status": alert.kind, "text": alert.message}
        )
    return sorted(items, key=lambda i: i["at"], reverse=True)[:10]


def chart(*, metric: str, range_key: str, model_ids: list | None = None, now=None) -> dict:
    """One chart's series per model: points of [time, p50, p95, n] (or availability, n)."""
    now = now or timezone.now()
    span, source, step = RANGES[range_key]
    since = now - span
    models = monitored_models()
    if model_ids:
        models = LLMModel.objects.filter(pk__in=model_ids).select_related("provider_account")
    names = {m.id: f"{m.display_name} · {m.provider_account.display_name}" for m in models}
    if source == "raw":
        series = _raw_series(metric, list(names), since, step)
    else:
        series = _rollup_series(metric, list(names), since, source)
    info = METRICS[metric]
    series_out = [
        {"model_id": str(model_id), "name": names[model_id], "points": series.get(model_id, [])}
        for model_id in names
    ]
    return {
        "metric": metric,
        "range": range_key,
        "since": since.isoformat(),
        "until": now.isoformat(),
        "unit": info["unit"],
        "label": info["label"],
        "definition": info["definition"],
        "step_seconds": int(step.total_seconds()),
        "source": "raw checks" if source == "raw" else f"{ROLLUP_NAMES[source]} rollups",
        "samples": sum(point[3] for s in series_out for point in s["points"]),
        "series": series_out,
    }


def _raw_series(metric: str, model_ids: list, since, step: timedelta) -> dict:
    checks = UptimeCheck.objects.filter(model_id__in=model_ids, created_at__gte=since)
    out = defaultdict(list)
    if metric == "availability":
        buckets = defaultdict(lambda: [0, 0])
        seconds = step.total_seconds()
        for model_id, created, status in checks.values_list("model_id", "created_at", "status"):
            start = created.timestamp() // seconds * seconds
            buckets[(model_id, start)][0] += status != UptimeCheck.Status.DOWN
            buckets[(model_id, start)][1] += 1
        for (model_id, start), (ok, n) in sorted(buckets.items(), key=lambda kv: kv[0][1]):
            out[model_id].append([_iso(start), round(100 * ok / n, 2), None, n])
        return out
    field = METRICS[metric]["field"]
    rows = checks.filter(error_type__isnull=True, **{f"{field}__isnull": False})
    for model_id, created, value in rows.values_list("model_id", "created_at", field).order_by(
        "created_at"
    ):
        out[model_id].append([created.isoformat(), round(value, 2), None, 1])
    return out


def _rollup_series(metric: str, model_ids: list, since, resolution: str) -> dict:
    """One point per model and bucket: a bucket has a row per region, whose counts add up
    and whose summaries merge."""
    rows = rollup_rows(model_ids, resolution, since)
    out = defaultdict(list)
    if metric == "availability":
        for row in (
            rows.values("model_id", "bucket")
            .annotate(n=Sum("n"), ok=Sum(F("up") + F("degraded")))
            .order_by("bucket")
        ):
            if row["n"]:
                ratio = round(100 * row["ok"] / row["n"], 2)
                out[row["model_id"]].append([row["bucket"].isoformat(), ratio, None, row["n"]])
        return out
    column = SKETCH_FIELD[metric]
    merged = {}
    for model_id, bucket, summary in rows.values_list("model_id", "bucket", column).order_by(
        "bucket"
    ):
        sketch.merge(merged.setdefault((model_id, bucket), sketch.empty()), summary)
    for (model_id, bucket), summary in merged.items():  # in bucket order, as read
        if summary["n"]:
            p50, p95 = sketch.quantile(summary, 0.5), sketch.quantile(summary, 0.95)
            out[model_id].append([bucket.isoformat(), round(p50, 2), round(p95, 2), summary["n"]])
    return out


def comparison(*, range_key: str, model_ids: list | None = None, now=None) -> list[dict]:
    """Per model over the range: p50 TTFT, latency and tok/s side by side, with n. Every
    monitored model, or those of ``model_ids`` (the dashboard asks for the page it shows)."""
    now = now or timezone.now()
    span, source, _ = RANGES[range_key]
    resolution = CheckRollup.Resolution.HOUR if source == "raw" else source
    since = (
        (now - span).replace(minute=0, second=0, microsecond=0) if source == "raw" else now - span
    )
    models = monitored_models()
    if model_ids is not None:
        models = models.filter(pk__in=model_ids)
    models = {m.id: m for m in models}
    merged = defaultdict(lambda: {k: sketch.empty() for k in SKETCH_FIELD.values()})
    for model_id, ttft, latency, tps in rollup_rows(list(models), resolution, since).values_list(
        "model_id", "ttft", "latency", "tps"
    ):
        for key, summary in (("ttft", ttft), ("latency", latency), ("tps", tps)):
            sketch.merge(merged[model_id][key], summary)
    rows = []
    for model_id, model in models.items():
        s = merged[model_id]
        rows.append(
            {
                "model_id": str(model_id),
                "name": model.display_name,
                "provider": model.provider_account.display_name,
                "ttft_p50": sketch.quantile(s["ttft"], 0.5),
                "latency_p50": sketch.quantile(s["latency"], 0.5),
                "tps_p50": sketch.quantile(s["tps"], 0.5),
                "n": s["latency"]["n"],
            }
        )
    return rows


def availability_totals(model_ids: list, since) -> dict:
    rows = (
        CheckRollup.objects.filter(
            resolution=CheckRollup.Resolution.HOUR, bucket__gte=since, model_id__in=model_ids
        )
        .values("model_id")
        .annotate(n=Sum("n"), ok=Sum(F("up") + F("degraded")))
    )
    return {r["model_id"]: (r["ok"] / r["n"] if r["n"] else None, r["n"]) for r in rows}


def _iso(timestamp: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


def model_detail(*, model: LLMModel, now=None) -> dict:
    """The model page: latest status, 24 h and 7 d availability, errors by type, benchmarks."""

    now = now or timezone.now()
    week = now - timedelta(days=7)
    errors = (
        UptimeCheck.objects.filter(model=model, created_at__gte=week, error_type__isnull=False)
        .values("error_type")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    recent_errors = list(
        UptimeCheck.objects.filter(model=model, error_type__isnull=False).order_by("-created_at")[
            :10
        ]
    )
    # An hour has a row per region: one cell per hour, their counts added.
    timeline = [
        (row["bucket"], row["n"], row["up"], row["degraded"], row["down"])
        for row in CheckRollup.objects.filter(
            model=model, resolution=CheckRollup.Resolution.HOUR, bucket__gte=week
        )
        .values("bucket")
        .annotate(n=Sum("n"), up=Sum("up"), degraded=Sum("degraded"), down=Sum("down"))
        .order_by("bucket")
    ]
    results = list(
        BenchmarkResult.objects.filter(model=model)
        .select_related("run")
        .order_by("-created_at")[:20]
    )
    totals_day = availability_totals([model.id], now - timedelta(hours=24)).get(model.id, (None, 0))
    totals_week = availability_totals([model.id], week).get(model.id, (None, 0))
    return {
        "model": model,
        "status": _status(model),
        "by_region": by_region(model, now),
        "availability_24h": totals_day,
        "availability_7d": totals_week,
        "errors_by_type": list(errors),
        "recent_errors": recent_errors,
        "timeline": timeline,
        "benchmark_results": results,
    }


def by_region(model: LLMModel, now) -> list[dict]:
    """The model's latest check from each region that probed it, with each region's
    availability and TTFT p50/p95 over 24 h (its hourly rollups, summaries merged); none when
    one region probed it (the page's figures are that region's)."""
    statuses = list(RegionStatus.objects.filter(model=model).order_by("region"))
    if len(statuses) < 2:
        return []
    live = {r["name"]: r["live"] for r in regions.listing(now=now)}
    figures = defaultdict(lambda: {"n": 0, "ok": 0, "ttft": sketch.empty()})
    for region, n, up, degraded, ttft in CheckRollup.objects.filter(
        model=model, resolution=CheckRollup.Resolution.HOUR, bucket__gte=now - timedelta(hours=24)
    ).values_list("region", "n", "up", "degraded", "ttft"):
        figure = figures[region]
        figure["n"] += n
        figure["ok"] += up + degraded
        sketch.merge(figure["ttft"], ttft)
    rows = []
    for status in statuses:
        figure = figures[status.region]
        rows.append(
            {
                "status": status,
                "live": live.get(status.region, False),
                "availability": figure["ok"] / figure["n"] if figure["n"] else None,
                "checks": figure["n"],
                "ttft_p50": sketch.quantile(figure["ttft"], 0.5),
                "ttft_p95": sketch.quantile(figure["ttft"], 0.95),
            }
        )
    return rows
