"""Rollups and latest status, maintained as checks are stored (one writer per model).

A model's checks from one region are written by one shard of one pass at a time (passes never
overlap, a model is in one shard per region and a shard has one lease holder), so merging a
batch into its region's hour and day rows cannot race. Rollups are kept per region; readers
merge the regions' rows of a bucket.
"""

from collections import defaultdict
from datetime import datetime

from django.db import transaction

from monitoring import sketch
from monitoring.models import (
    CheckCount,
    CheckRollup,
    ModelStatus,
    MonitoringConfig,
    RegionStatus,
    UptimeCheck,
)
from monitoring.regions import agree, allowed

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


def new_rollup(model_id, region: str, resolution: str, bucket: datetime) -> CheckRollup:
    return CheckRollup(
        model_id=model_id,
        region=region,
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
def record(checks: list[UptimeCheck], *, region: str | None = None, regions=()) -> None:
    """Merge freshly stored checks of one region into their rollups, the models' latest status
    per region and their status (the regions' agreement when the pass has several, ``regions``).
    Checks made during a maintenance window stay out of the rollups (availability,
    percentiles)."""
    if not checks:
        return
    region = region or checks[0].region
    counted = [c for c in checks if not c.in_maintenance]
    wanted = defaultdict(set)
    for check in counted:
        for resolution in CheckRollup.Resolution.values:
            wanted[resolution].add(bucket_start(check.created_at, resolution))
    model_ids = {c.model_id for c in counted}
    rows = {}
    for resolution, buckets in wanted.items():
        for row in CheckRollup.objects.filter(
            model_id__in=model_ids, region=region, resolution=resolution, bucket__in=buckets
        ):
            rows[(row.model_id, resolution, row.bucket)] = row
    for check in counted:
        for resolution in CheckRollup.Resolution.values:
            key = (check.model_id, resolution, bucket_start(check.created_at, resolution))
            if key not in rows:
                rows[key] = new_rollup(key[0], region, *key[1:])
            add_check(rows[key], check)
    for row in rows.values():
        row.latency_p50 = sketch.quantile(row.latency, 0.5)
    CheckRollup.objects.bulk_create(
        rows.values(),
        update_conflicts=True,
        unique_fields=["model", "resolution", "bucket", "region"],
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
    RegionStatus.objects.bulk_create(
        [RegionStatus(region=region, **_status_values(c)) for c in latest.values()],
        update_conflicts=True,
        unique_fields=["model", "region"],
        update_fields=STATUS_FIELDS,
    )
    if len(regions) <= 1:  # one region: its latest check is the model's status
        ModelStatus.objects.bulk_create(
            [ModelStatus(**_status_values(c)) for c in latest.values()],
            update_conflicts=True,
            unique_fields=["model"],
            update_fields=STATUS_FIELDS,
        )
        return
    _agree(sorted(latest.values(), key=lambda c: str(c.model_id)), regions)


def _status_values(check: UptimeCheck) -> dict:
    return {
        "model_id": check.model_id,
        "status": check.status,
        "checked_at": check.created_at,
        "ttft_ms": check.ttft_ms,
        "latency_ms": check.latency_ms,
        "tps_excluding_ttft": check.tps_excluding_ttft,
        "error_type": check.error_type,
        "error": check.error,
    }


def _agree(latest: list[UptimeCheck], regions) -> None:
    """Each model's status from its regions' latest checks (monitoring.regions.agree).

    Another region's worker may store the same model at the same moment: its status rows are
    created if missing and locked (in model order, so two batches never deadlock) before the
    regions' rows are read, so the second writer sees the first one's region status."""
    ids = [c.model_id for c in latest]
    ModelStatus.objects.bulk_create(
        [ModelStatus(**_status_values(c)) for c in latest], ignore_conflicts=True
    )
    statuses = {
        s.model_id: s
        for s in ModelStatus.objects.select_for_update().filter(model_id__in=ids).order_by("model")
    }
    by_model = defaultdict(list)
    for row in RegionStatus.objects.filter(model_id__in=ids, region__in=list(regions)):
        by_model[row.model_id].append(row)
    quorum = MonitoringConfig.get().down_quorum
    for check in latest:
        probed = set(allowed(check.model, list(regions)))
        seen = [r for r in by_model[check.model_id] if r.region in probed] or [
            RegionStatus(region=check.region, **_status_values(check))
        ]
        status = agree([r.status for r in seen], quorum)
        # The figures shown beside it: the newest region that saw that status.
        source = max((r for r in seen if r.status == status), key=lambda r: r.checked_at)
        target = statuses[check.model_id]
        target.status = status
        for field in STATUS_FIELDS[1:]:
            setattr(target, field, getattr(source, field))
    ModelStatus.objects.bulk_update(statuses.values(), STATUS_FIELDS)
