"""Probe regions: where probes run from, which are alive, and what they agree on.

A region is a set of django-q2 worker clusters started with the same ``ARGUSLM_REGION``
(docs/regions.md). The home region's clusters serve the main queue (schedules, benchmarks,
alerts, passes, and their own region's probes); another region's clusters serve only the
queue ``<name>.<region>`` of their region's shards.

Every cluster beats every BEAT_EVERY_S (``keep``, from ``manage.py qcluster``): its region's
``last_seen_at``, then its region's shards whose worker is gone are queued again. A region
silent for STALE_AFTER is stale: passes leave it out and its unfinished shards are given up.
"""

import logging
import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

# The name rule is core (providers checks its fields with it); importable from here too.
from arguslm.region_names import clean_names  # noqa: F401
from monitoring.models import MonitoringRun, MonitoringShard, Region, UptimeCheck

log = logging.getLogger(__name__)

BEAT_EVERY_S = 5.0
# Six missed beats: long enough for a busy database, short enough to be "within two
# intervals" of the shortest monitoring interval (1 min).
STALE_AFTER = timedelta(seconds=30)
# A shard's worker renews its lease with every stored batch (about every second) and every
# HEARTBEAT_EVERY_S without one; a lease that runs out means the worker is gone.
LEASE = timedelta(seconds=15)
# A shard queued this long without a worker claiming it is queued again (the cluster that had
# fetched its task was killed before starting it). A duplicate task is harmless: one claims.
QUEUED_LEASE = timedelta(seconds=30)


def home() -> str:
    return settings.ARGUSLM_HOME_REGION


def here() -> str:
    """This process's region."""
    return settings.ARGUSLM_REGION


def queue(region: str) -> str:
    """The django-q2 queue (cluster name) of a region's probe tasks."""
    if region == home():
        return settings.ARGUSLM_HOME_QUEUE
    return f"{settings.ARGUSLM_HOME_QUEUE}.{region}"


def live(*, now=None) -> list[str]:
    """Regions with a live worker cluster, the home region always among them (a pass starts
    on a home worker, which is alive by definition)."""
    now = now or timezone.now()
    names = set(
        Region.objects.filter(last_seen_at__gte=now - STALE_AFTER).values_list("name", flat=True)
    )
    return sorted(names | {home()})


def listing(*, now=None) -> list[dict]:
    """Every known region with its last heartbeat and whether it is live."""
    now = now or timezone.now()
    rows = {r.name: r for r in Region.objects.all()}
    out = []
    for name in sorted(set(rows) | {home()}):
        row = rows.get(name)
        seen = row.last_seen_at if row else None
        out.append(
            {
                "name": name,
                "home": name == home(),
                "last_seen_at": seen,
                "last_worker": row.last_worker if row else "",
                "live": seen is not None and seen >= now - STALE_AFTER,
            }
        )
    return out


def allowed(model, regions: list[str]) -> list[str]:
    """The regions of ``regions`` that probe ``model`` (its own list, else its account's)."""
    limit = model.probe_regions or model.provider_account.probe_regions
    return [r for r in regions if r in limit] if limit else list(regions)


def agree(statuses: list[str], quorum: int | None) -> str:
    """A model's status from its regions' latest checks: down when at least ``quorum`` (None:
    a majority) saw it down, degraded when that many saw it down or degraded, else up. With
    one region, the region's status."""
    n = len(statuses)
    if n == 0:
        return UptimeCheck.Status.UP
    k = min(quorum or n // 2 + 1, n)
    down = statuses.count(UptimeCheck.Status.DOWN)
    if down >= k:
        return UptimeCheck.Status.DOWN
    if down + statuses.count(UptimeCheck.Status.DEGRADED) >= k:
        return UptimeCheck.Status.DEGRADED
    return UptimeCheck.Status.UP


def agreed_checks(checks: list, quorum: int | None) -> list:
    """One check per model from a pass's checks of every region: one that saw the agreed
    status, carrying it and ``by_region`` ({region: status}) for the messages."""
    by_model: dict = {}
    for check in checks:
        by_model.setdefault(check.model_id, []).append(check)
    out = []
    for model_checks in by_model.values():
        status = agree([c.status for c in model_checks], quorum)
        # agree() only answers a status that at least one region saw.
        chosen = next(c for c in model_checks if c.status == status)
        chosen.by_region = {c.region: c.status for c in model_checks}
        out.append(chosen)
    return out


def worker_id() -> str:
    """Who holds a lease: host, process and a one-claim nonce."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def beat(region: str, worker: str, *, now=None) -> None:
    now = now or timezone.now()
    updated = Region.objects.filter(name=region).update(last_seen_at=now, last_worker=worker)
    if not updated:
        Region.objects.bulk_create(
            [Region(name=region, last_seen_at=now, last_worker=worker)], ignore_conflicts=True
        )


def cluster_beat(worker: str) -> float:
    """A worker cluster's beat (manage.py qcluster, every BEAT_EVERY_S): ``keep`` for this
    process's region; returns the seconds until the next one."""
    keep(here(), worker)
    return BEAT_EVERY_S


def keep(region: str, worker: str, *, now=None) -> int:
    """One beat of a worker cluster: its region's heartbeat, its region's orphaned shards
    queued again, and (home region) the shards of stale regions given up. Returns the number
    of shards queued again."""
    now = now or timezone.now()
    beat(region, worker, now=now)
    requeued = requeue_orphans(region, now=now)
    if region == home():
        settle_stale_regions(now=now)
    return requeued


def requeue_orphans(region: str, *, now=None) -> int:
    """Queue again the region's shards whose worker is gone (lease out) or whose task was lost
    before a worker claimed it."""
    from django_q.tasks import async_task

    now = now or timezone.now()
    dead = Q(status=MonitoringShard.Status.RUNNING, lease_until__lt=now)
    lost = Q(status=MonitoringShard.Status.QUEUED, enqueued_at__lt=now - QUEUED_LEASE)
    shards = MonitoringShard.objects.filter(
        dead | lost, region=region, run__status=MonitoringRun.Status.RUNNING
    )
    # Tasks still waiting in the region's queue (a long pass, busy workers): a queued shard's
    # task is among them, not lost.
    waiting = shards.filter(lost).exists() and _queue_size(region) > 0
    orphaned = dead if waiting else dead | lost
    count = 0
    for shard in shards.filter(orphaned).only("id", "run_id"):
        # Guarded by the same condition: of two clusters looking at once, one queues it.
        taken = MonitoringShard.objects.filter(orphaned, pk=shard.pk).update(
            status=MonitoringShard.Status.QUEUED, enqueued_at=now, worker=""
        )
        if not taken:
            continue
        log.warning("Shard %s of pass %s has no live worker: queued again", shard.pk, shard.run_id)
        async_task(
            "monitoring.tasks.probe_shard",
            str(shard.pk),
            task_name=f"monitoring-shard-{shard.run_id}",
            cluster=queue(region),
        )
        count += 1
    return count


def _queue_size(region: str) -> int:
    from django_q.brokers import get_broker

    return get_broker(queue(region)).queue_size() or 0


def settle_stale_regions(*, now=None) -> int:
    """Give up the unfinished shards of regions whose workers are gone, so that their passes
    close; returns the number given up."""
    from monitoring import services

    now = now or timezone.now()
    stale = (
        MonitoringShard.objects.filter(
            status__in=[MonitoringShard.Status.QUEUED, MonitoringShard.Status.RUNNING],
            run__status=MonitoringRun.Status.RUNNING,
        )
        .exclude(region__in=live(now=now))
        # A shard still holding a lease is being worked on (a beat may be late).
        .exclude(status=MonitoringShard.Status.RUNNING, lease_until__gte=now)
    )
    given_up = 0
    for shard in stale.only("id", "run_id", "region"):
        with transaction.atomic():
            lost = MonitoringShard.objects.filter(
                pk=shard.pk,
                status__in=[MonitoringShard.Status.QUEUED, MonitoringShard.Status.RUNNING],
            ).update(status=MonitoringShard.Status.LOST, lease_until=None)
            if not lost:
                continue
            MonitoringRun.objects.filter(pk=shard.run_id).update(shards_done=F("shards_done") + 1)
        given_up += 1
        log.warning("Region %s has no live worker: shard %s given up", shard.region, shard.pk)
        services.finish(shard.run_id)
    return given_up
