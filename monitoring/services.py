"""Monitoring passes: claiming, sharding, probing concurrently, storing checks in bulk.

A pass is a ``MonitoringRun``. ``start_pass`` (in a worker) closes runs left behind by killed
workers, refuses to overlap a running pass (the new run is recorded as skipped), and splits
the monitored models into shards that django-q2 hands to any worker process or machine.
``probe_shard`` probes one shard concurrently (bounded per provider account, paced per
process) and stores its checks as they complete, in batches at most STORE_EVERY_S apart; the
shard that finishes last closes the run.
"""

import asyncio
import gc
import logging
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from arguslm import errors
from arguslm.db import refresh_connection
from arguslm.llm import warm
from arguslm.llm.measure import measure, new_http_client
from arguslm.llm.prompts import get_pack
from arguslm.llm.types import ErrorType, GatewayError, Sample, Timeouts
from monitoring import drift, maintenance, regions, rollups, signals
from monitoring.models import (
    CheckCount,
    MonitoringConfig,
    MonitoringRun,
    MonitoringShard,
    UptimeCheck,
)
from providers.models import LLMModel

log = logging.getLogger(__name__)

# Models per shard task. A setting (like the rate below) so that fault tests can split a small
# pass into several shards: a worker killed mid-pass then leaves some shards stored, some lost.
SHARD_SIZE = getattr(settings, "ARGUSLM_SHARD_SIZE", 250)
# One process stays at or below this many probe starts per minute (the gateway's accuracy
# target holds there); more load is spread over more worker processes.
PROBE_RATE_PER_MIN = settings.ARGUSLM_PROBE_RATE
HEARTBEAT_EVERY_S = 5  # with no batch to store: well inside the lease (regions.LEASE)
# Completed probes are stored this often: what a worker killed mid-shard can lose.
STORE_EVERY_S = 1.0
QUEUED_GIVE_UP = timedelta(hours=1)


def monitored_models():
    """Models that monitoring probes: monitoring on, account enabled."""
    return LLMModel.objects.monitored().select_related("provider_account")


def request_pass(*, trigger: str = MonitoringRun.Trigger.MANUAL) -> MonitoringRun:
    """Record a queued pass and hand it to the workers."""
    from django_q.tasks import async_task

    config = MonitoringConfig.get()
    run = MonitoringRun.objects.create(trigger=trigger, prompt_pack=config.prompt_pack)
    try:
        async_task(
            "monitoring.tasks.start_pass",
            str(run.id),
            task_name=f"monitoring-pass-{run.id}",
            cluster=settings.ARGUSLM_HOME_QUEUE,
        )
    except Exception as exc:  # the broker is down: record it, never leave the run queued
        run.status, run.finished_at = MonitoringRun.Status.FAILED, timezone.now()
        run.message = f"Could not queue the pass: {type(exc).__name__}: {exc}"
        run.save()
        raise errors.Unavailable(run.message) from exc
    return run


def stale_after(config: MonitoringConfig) -> timedelta:
    """How long a running pass may go without a heartbeat before it is declared dead."""
    return timedelta(seconds=2 * config.timeout_seconds + 3 * HEARTBEAT_EVERY_S + 60)


def close_stale_runs(*, now=None) -> int:
    """Close passes whose workers died (no heartbeat) or that never started."""
    now = now or timezone.now()
    config = MonitoringConfig.get()
    dead = MonitoringRun.objects.filter(
        status=MonitoringRun.Status.RUNNING, heartbeat_at__lt=now - stale_after(config)
    ).update(
        status=MonitoringRun.Status.FAILED,
        finished_at=now,
        message="Closed: the worker running this pass stopped responding (killed or crashed). "
        "Checks it had stored are kept.",
    )
    never = MonitoringRun.objects.filter(
        status=MonitoringRun.Status.QUEUED, created_at__lt=now - QUEUED_GIVE_UP
    ).update(
        status=MonitoringRun.Status.FAILED,
        finished_at=now,
        message="Closed: no worker picked this pass up within an hour (is qcluster running?).",
    )
    if dead:
        start_waiting()
    return dead + never


def start_pass(*, run_id) -> MonitoringRun:
    """Claim a queued run and queue its shards, one set per live region.

    When another pass is running, the new one is recorded as skipped, unless that pass is held
    up by a worker that is gone (a shard's lease ran out): then the new one waits and starts
    as soon as the old one closes (``finish``), never skipped behind a dead worker.
    """
    close_stale_runs()
    now = timezone.now()
    with transaction.atomic():
        # The config row is the lock: two starts never both see "nothing running".
        config = MonitoringConfig.objects.select_for_update().get(pk=MonitoringConfig.get().pk)
        run = MonitoringRun.objects.get(pk=run_id)
        if run.status != MonitoringRun.Status.QUEUED:
            return run
        busy = MonitoringRun.objects.filter(status=MonitoringRun.Status.RUNNING).first()
        if busy is not None:
            waiting = _waiting().exclude(pk=run.pk).first()
            if waiting is None and _held_up(busy, now):
                run.waiting = True
                run.message = f"Waiting for pass {busy.id}, whose worker stopped: it starts next."
            else:
                run.status = MonitoringRun.Status.SKIPPED
                run.finished_at = now
                run.message = (
                    f"Skipped: pass {waiting.id} was already waiting to start."
                    if waiting is not None
                    else f"Skipped: pass {busy.id} was still running."
                )
            run.save()
            return run
        models = list(monitored_models().order_by("provider_account_id", "id"))
        run.regions = regions.live(now=now)
        shards = []
        for region in run.regions:
            ids = [str(m.pk) for m in models if region in regions.allowed(m, run.regions)]
            shards += [
                MonitoringShard(
                    run=run, region=region, model_ids=ids[i : i + SHARD_SIZE], enqueued_at=now
                )
                for i in range(0, len(ids), SHARD_SIZE)
            ]
        run.status = MonitoringRun.Status.RUNNING
        run.started_at = run.heartbeat_at = now
        run.prompt_pack = config.prompt_pack
        run.total = sum(len(s.model_ids) for s in shards)
        run.shards_total = len(shards)
        run.message = ""
        run.save()
        MonitoringShard.objects.bulk_create(shards)
    if not shards:
        finish(run.id)
        run.refresh_from_db()
        return run
    for shard in shards:
        _queue_shard(shard)
    return run


def _waiting():
    return MonitoringRun.objects.filter(status=MonitoringRun.Status.QUEUED, waiting=True).order_by(
        "created_at"
    )


def _held_up(run: MonitoringRun, now) -> bool:
    """Whether a running pass waits on a worker that is gone: a shard whose lease ran out, or
    one queued again after losing its worker (being taken over). Shards merely waiting in a
    queue behind other work are not: a pass asked for then is skipped as usual."""
    return run.shards.filter(
        Q(status=MonitoringShard.Status.RUNNING, lease_until__lt=now)
        | Q(status=MonitoringShard.Status.QUEUED, attempts__gte=1)
    ).exists()


def _queue_shard(shard: MonitoringShard) -> None:
    from django_q.tasks import async_task

    async_task(
        "monitoring.tasks.probe_shard",
        str(shard.pk),
        task_name=f"monitoring-shard-{shard.run_id}",
        cluster=regions.queue(shard.region),
    )


def claim(shard_id) -> MonitoringShard | None:
    """Take a shard's lease for this process: a queued shard, or one whose worker is gone.
    None when another worker holds it, it is settled, its pass is over, or it belongs to
    another region."""
    now = timezone.now()
    worker = regions.worker_id()
    taken = (
        MonitoringShard.objects.filter(
            pk=shard_id, region=regions.here(), run__status=MonitoringRun.Status.RUNNING
        )
        .filter(
            Q(status=MonitoringShard.Status.QUEUED)
            | Q(status=MonitoringShard.Status.RUNNING, lease_until__lt=now)
        )
        .update(
            status=MonitoringShard.Status.RUNNING,
            worker=worker,
            lease_until=now + regions.LEASE,
            attempts=F("attempts") + 1,
        )
    )
    if not taken:
        return None
    return MonitoringShard.objects.select_related("run").get(pk=shard_id)


def probe_shard(*, shard_id=None, run_id=None, model_ids=None) -> int:
    """Probe one shard of a running pass and store its checks; returns the number stored.

    A shard taken over from a worker that is gone probes only its models without a check in
    this pass and region. ``run_id`` and ``model_ids`` (benchmark commands, tests) make a
    shard of those models in this process's region first.
    """
    if shard_id is None:
        shard_id = MonitoringShard.objects.create(
            run_id=run_id,
            region=regions.here(),
            model_ids=[str(i) for i in model_ids],
            enqueued_at=timezone.now(),
        ).pk
    shard = claim(shard_id)
    if shard is None:
        return 0
    run = shard.run
    config = MonitoringConfig.get()
    pack = get_pack(run.prompt_pack)
    if pack is None or pack.benchmark_only:  # set past the API's check (admin, shell)
        pack = get_pack("health_check")
    checked = {
        str(i)
        for i in UptimeCheck.objects.filter(
            run_id=run.id, region=shard.region, model_id__in=shard.model_ids
        ).values_list("model_id", flat=True)
    }
    todo = [i for i in shard.model_ids if i not in checked]
    found = {str(m.pk): m for m in monitored_models().filter(pk__in=todo)}
    models = [found[i] for i in todo if i in found]  # in the shard's order (the pacer's plan)
    # Anything that can block (litellm's first import, each model's request rules) happens
    # here, before the loop that times the streams starts.
    warm.ensure_warm()
    targets = warm.prepare(
        (m.pk, m.provider_account.provider_type, _credentials(m, shard.region), m.model_id)
        for m in models
    )
    _freeze_gc_once()
    store = _Store(shard, config)
    asyncio.run(_probe_all(models, targets, config=config, pack=pack, store=store))
    refresh_connection()
    store.flush(last=True)
    finish(run.id)
    return store.stored


def _credentials(model: LLMModel, region: str) -> dict:
    """The account's credentials, with its regional endpoint for ``region`` when it has one."""
    account = model.provider_account
    credentials = account.credentials
    endpoint = (account.region_base_urls or {}).get(region)
    return {**credentials, "base_url": endpoint} if endpoint else credentials


class _Store:
    """A shard's checks, stored as they complete: every STORE_EVERY_S, each batch with the
    run's counters, rollups, heartbeat and the shard's lease in one transaction. A worker
    killed mid-shard loses at most the last STORE_EVERY_S of probes, and the run's figures
    always match the checks it has; the last batch also settles the shard.

    Only the lease's holder stores: a worker that lost its lease (stalled past it, and the
    shard taken over) stops probing and stores nothing more, so no model is checked twice."""

    def __init__(self, shard: MonitoringShard, config: MonitoringConfig):
        self.shard, self.config = shard, config
        self.run_id = shard.run_id
        self.pending: list = []
        self.lock = threading.Lock()  # probes add on the loop, a thread writes
        self.stored = 0
        self.lost = False
        self.beat_at = time.monotonic()

    def add(self, model: LLMModel, sample: Sample, created_at) -> None:
        with self.lock:
            self.pending.append((model, sample, created_at))

    def _mine(self):
        return MonitoringShard.objects.filter(
            pk=self.shard.pk, worker=self.shard.worker, status=MonitoringShard.Status.RUNNING
        )

    def flush(self, *, last: bool = False) -> None:
        if self.lost:
            return
        with self.lock:
            batch, self.pending = self.pending, []
        now = timezone.now()
        if not batch and not last:
            if time.monotonic() - self.beat_at >= HEARTBEAT_EVERY_S:  # slow probes: still alive
                self._beat(now)
            return
        paused = maintenance.covered([m for m, _, _ in batch], now) if batch else ()
        region = self.shard.region
        checks = [
            _check(self.run_id, model, sample, created_at, self.config, model.pk in paused, region)
            for model, sample, created_at in batch
        ]
        counts = {s: sum(1 for c in checks if c.status == s) for s in UptimeCheck.Status.values}
        try:
            with transaction.atomic():
                # The lease's row lock: a takeover waits for this batch, then sees its checks.
                if not self._mine().select_for_update().exists():
                    self._lose()
                    return
                UptimeCheck.objects.bulk_create(checks, batch_size=500)
                rollups.record(checks, region=region, regions=self.shard.run.regions)
                MonitoringRun.objects.filter(pk=self.run_id).update(
                    up=F("up") + counts["up"],
                    degraded=F("degraded") + counts["degraded"],
                    down=F("down") + counts["down"],
                    heartbeat_at=now,
                    **({"shards_done": F("shards_done") + 1} if last else {}),
                )
                self._mine().update(
                    lease_until=now + regions.LEASE,
                    stored=F("stored") + len(checks),
                    **({"status": MonitoringShard.Status.DONE} if last else {}),
                )
        except DatabaseError:
            # The database is away: keep the batch for the next try (the last one raises:
            # the shard's lease then runs out and another worker takes what is left).
            with self.lock:
                self.pending[:0] = batch
            refresh_connection()
            if last:
                raise
            log.warning("Shard %s: could not store %d checks; retrying", self.shard.pk, len(batch))
            return
        refresh_connection()
        self.stored += len(checks)
        self.beat_at = time.monotonic()

    def _beat(self, now) -> None:
        """Renew the lease and the run's heartbeat while no probe completes."""
        try:
            if not self._mine().update(lease_until=now + regions.LEASE):
                self._lose()
                return
            MonitoringRun.objects.filter(pk=self.run_id).update(heartbeat_at=now)
        except DatabaseError:
            log.warning("Shard %s: could not renew its lease; retrying", self.shard.pk)
        refresh_connection()
        self.beat_at = time.monotonic()

    def _lose(self) -> None:
        self.lost = True
        log.warning(
            "Shard %s was taken over by another worker: this worker stops probing it",
            self.shard.pk,
        )

    async def every(self, seconds: float) -> None:
        """Write what has completed every ``seconds``, off the loop that times the streams."""
        while True:
            await asyncio.sleep(seconds)
            try:
                await asyncio.to_thread(self.flush)
            except Exception:  # never lose the writer: the next tick tries again
                log.exception("Shard %s: storing checks failed", self.shard.pk)


def finish(run_id) -> bool:
    """Close the run if every shard is settled (exactly one caller wins), then follow up:
    the pass's signal, and the pass that waited for it."""
    now = timezone.now()
    closed = MonitoringRun.objects.filter(
        pk=run_id, status=MonitoringRun.Status.RUNNING, shards_done__gte=F("shards_total")
    ).update(status=MonitoringRun.Status.COMPLETED, finished_at=now)
    if closed != 1:
        return False
    lost = sorted(
        set(
            MonitoringShard.objects.filter(
                run_id=run_id, status=MonitoringShard.Status.LOST
            ).values_list("region", flat=True)
        )
    )
    if lost:
        MonitoringRun.objects.filter(pk=run_id).update(
            message=f"Not probed from {', '.join(lost)}: the region's workers stopped."
        )
    MonitoringConfig.objects.filter(pk=MonitoringConfig.get().pk).update(last_run_at=now)
    signals.pass_completed.send(sender=MonitoringRun, run_id=run_id)
    start_waiting()
    return True


def start_waiting() -> None:
    """Start the oldest pass that waited for one held up by a dead worker (the others wait
    on: one pass at a time)."""
    from django_q.tasks import async_task

    waiting = _waiting().first()
    if waiting is not None:
        MonitoringRun.objects.filter(pk=waiting.pk).update(waiting=False, message="")
        async_task(
            "monitoring.tasks.start_pass",
            str(waiting.id),
            task_name=f"monitoring-pass-{waiting.id}",
            cluster=settings.ARGUSLM_HOME_QUEUE,
        )


_gc_frozen = False


def _freeze_gc_once() -> None:
    """Move the worker's long-lived objects out of the GC's way (GC pauses hurt TTFT)."""
    global _gc_frozen
    if not _gc_frozen:
        gc.collect()
        gc.freeze()
        _gc_frozen = True


def _check(
    run_id, model: LLMModel, sample: Sample, created_at, config, in_maintenance: bool, region: str
) -> UptimeCheck:
    return UptimeCheck(
        model=model,
        run_id=run_id,
        region=region,
        status=config.status_for(sample, model),
        created_at=created_at,
        in_maintenance=in_maintenance,
        **drift.fingerprint(sample),
        **UptimeCheck.sample_values(sample),
    )


async def _probe_all(models, targets: dict, *, config: MonitoringConfig, pack, store) -> None:
    """Probe every model concurrently (paced per process, bounded per provider account),
    handing each result to the store as it completes."""
    timeout = float(config.timeout_seconds)
    timeouts = Timeouts(
        connect=min(10.0, timeout), first_token=timeout, between_tokens=timeout, total=timeout
    )
    limits: dict = {}
    loop = asyncio.get_running_loop()
    interval = 60 / PROBE_RATE_PER_MIN
    writer = asyncio.create_task(store.every(STORE_EVERY_S))
    async with new_http_client(timeouts) as client:
        tasks = []
        start = loop.time()
        for index, model in enumerate(models):
            delay = start + index * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            limit = limits.setdefault(
                model.provider_account_id, asyncio.Semaphore(config.concurrency_per_account)
            )
            tasks.append(
                asyncio.create_task(
                    _probe_one(
                        model,
                        targets[model.pk],
                        limit,
                        client=client,
                        timeouts=timeouts,
                        pack=pack,
                        config=config,
                        store=store,
                    )
                )
            )
        await asyncio.gather(*tasks)
    writer.cancel()


async def _probe_one(model: LLMModel, target, limit, *, client, timeouts, pack, config, store):
    """One probe; ``target`` is the prepared CallTarget, or the GatewayError building it raised."""
    waited = time.perf_counter()
    async with limit:
        if store.lost:
            return  # the shard was taken over: its new worker probes what is left
        queue_ms = (time.perf_counter() - waited) * 1000
        created_at = timezone.now()
        if isinstance(target, GatewayError):
            sample = Sample(error_type=ErrorType.BAD_REQUEST, error=target.message)
        else:
            messages = pack.messages(nonce=uuid.uuid4().hex[:8])
            try:
                sample = await measure(
                    target,
                    messages,
                    max_tokens=config.max_tokens,
                    timeouts=timeouts,
                    client=client,
                    temperature=pack.temperature,
                    tools=list(pack.tools) or None,
                    expect=pack.answer_check if model.answer_check is None else model.answer_check,
                )
            except Exception as exc:  # a gateway bug: record it for this model; the shard's
                # other checks must still be stored (one raise used to lose them all).
                log.exception("Probe of model %s failed unexpectedly", model.pk)
                sample = Sample(
                    error_type=ErrorType.UNKNOWN, error=f"Unexpected error: {type(exc).__name__}"
                )
        sample.queue_ms = queue_ms
    store.add(model, sample, created_at)


def prune_checks(*, now=None, batch: int = 10_000) -> int:
    """Delete raw checks older than the retention setting, in batches (returns rows deleted)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=MonitoringConfig.get().retention_days)
    deleted = 0
    while True:
        ids = list(
            UptimeCheck.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[:batch]
        )
        if not ids:
            return deleted
        with transaction.atomic():
            doomed = UptimeCheck.objects.filter(id__in=ids)
            counts = {
                (row["model_id"], row["status"]): -row["n"]
                for row in doomed.values("model_id", "status").annotate(n=Count("id"))
            }
            deleted += doomed.delete()[0]
            CheckCount.add(counts)
