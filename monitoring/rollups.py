"""Rollups and latest status, maintained as checks are stored (one writer per model).

A model's checks are written by one shard of one pass at a time (passes never overlap and a
model is in one shard), so merging a batch into its hour and day rows cannot race.
"""

from collections import defaultdict
from datetime import datetime

from django.db import transaction

from monitoring import sketch
from monitoring.models import CheckCount, CheckRollup, ModelStatus, UptimeCheck

STATUS_FIELDS = [
    "status",
    "checked_at",
    "ttft_ms",
    "latency_ms",
    "tps_excluding_ttft",
    "error_type",
    "error",
]
ROLLUP_FIELDS = ["n", "up", "degraded", "down", "ttft", "latency", "tps", "latency_p50"]


def bucket_start(moment: datetime, resolution: str) -> datetime:
    if resolution == CheckRollup.Resolution.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def new_rollup(model_id, resolution: str, bucket: datetime) -> CheckRollup:
    return CheckRollup(
        model_id=model_id,
        resolution=resolution,
        bucket=bucket,
        n=0,
        up=0,
        degraded=0,
        down=0,
        ttft=sketch.empty(),
        latency=sketch.empty(),
        tps=sketch.empty(),
    )


def add_check(rollup: CheckRollup, check: UptimeCheck) -> None:
    rollup.n += 1
    setattr(rollup, check.status, getattr(rollup, check.status) + 1)
    if check.error_type is None:
        sketch.add(rollup.ttft, check.ttft_ms)
        sketch.add(rollup.latency, check.latency_ms)
        sketch.add(rollup.tps, check.tps_excluding_ttft)


@transaction.atomic
def record(checks: list[UptimeCheck]) -> None:
    """Merge freshly stored checks into their rollups and the models' latest status. Checks
    made during a maintenance window stay out of the rollups (availability, percentiles)."""
    if not checks:
        return
    counted = [c for c in checks if not c.in_maintenance]
    wanted = defaultdict(set)
    for check in counted:
        for resolution in CheckRollup.Resolution.values:
            wanted[resolution].add(bucket_start(check.created_at, resolution))
    model_ids = {c.model_id for c in counted}
    rows = {}
    for resolution, buckets in wanted.items():
        for row in CheckRollup.objects.filter(
            model_id__in=model_ids, resolution=resolution, bucket__in=buckets
        ):
            rows[(row.model_id, resolution, row.bucket)] = row
    for check in counted:
        for resolution in CheckRollup.Resolution.values:
            key = (check.model_id, resolution, bucket_start(check.created_at, resolution))
            if key not in rows:
                rows[key] = new_rollup(*key)
            add_check(rows[key], check)
    for row in rows.values():
        row.latency_p50 = sketch.quantile(row.latency, 0.5)
    CheckRollup.objects.bulk_create(
        rows.values(),
        update_conflicts=True,
        unique_fields=["model", "resolution", "bucket"],
        update_fields=ROLLUP_FIELDS,
        batch_size=500,
    )

    counts: dict = defaultdict(int)
    for check in checks:
        counts[(check.model_id, check.status)] += 1
    CheckCount.add(counts)

    latest: dict = {}
    for check in checks:
        if check.model_id not in latest or check.created_at > latest[check.model_id].created_at:
            latest[check.model_id] = check
    ModelStatus.objects.bulk_create(
        [
            ModelStatus(
                model_id=c.model_id,
                status=c.status,
                checked_at=c.created_at,
                ttft_ms=c.ttft_ms,
                latency_ms=c.latency_ms,
                tps_excluding_ttft=c.tps_excluding_ttft,
                error_type=c.error_type,
                error=c.error,
            )
            for c in latest.values()
        ],
        update_conflicts=True,
        unique_fields=["model"],
        update_fields=STATUS_FIELDS,
    )
