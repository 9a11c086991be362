"""The benchmark engine: runs in a django-q2 worker, one asyncio loop per run.

Done differently from the original on purpose (original-arguslm.md §3.7):
* warm-ups of a model run *before* that model's measured requests and are discarded;
* measured requests of one model run with the requested ``concurrency`` (default 1, so a
  single-stream figure is clean); models run in parallel, bounded per provider account;
* every result is saved as it completes (visible through REST at once) and announced to
  WebSocket subscribers; the database stays the source of truth;
* the engine heartbeats; cancel requests are honoured within a second; a run whose worker
  died is closed by ``close_stale_runs``.
"""

import asyncio
import logging
import uuid
from datetime import timedelta

from django.utils import timezone

from arguslm.db import refresh_connection
from arguslm.llm import warm
from arguslm.llm.measure import measure, new_http_client
from arguslm.llm.prompts import get_pack
from arguslm.llm.types import ErrorType, GatewayError, Sample, Timeouts
from benchmarks import live
from benchmarks.models import BenchmarkResult, BenchmarkRun
from benchmarks.signals import run_finished
from providers.models import LLMModel

log = logging.getLogger(__name__)

PER_ACCOUNT_LIMIT = 8
HEARTBEAT_S = 1.0
STALE_AFTER = timedelta(minutes=2)
TIMEOUTS = Timeouts(connect=10, first_token=60, between_tokens=60, total=300)


def execute(run_id) -> str:
    """Claim a pending run and execute it to the end; returns the final status."""
    now = timezone.now()
    claimed = BenchmarkRun.objects.filter(pk=run_id, status=BenchmarkRun.Status.PENDING).update(
        status=BenchmarkRun.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if claimed != 1:
        return BenchmarkRun.objects.get(pk=run_id).status
    run = BenchmarkRun.objects.get(pk=run_id)
    live.announce(run.id)
    try:
        models = {
            str(m.id): m
            for m in LLMModel.objects.select_related("provider_account").filter(
                pk__in=run.model_ids
            )
        }
        ordered = [models[i] for i in run.model_ids if i in models]
        warm.ensure_warm()  # before the loop that times the streams (see arguslm/llm/warm.py)
        targets = warm.prepare(
            (m.pk, m.provider_account.provider_type, m.provider_account.credentials, m.model_id)
            for m in ordered
        )
        cancelled = asyncio.run(_Engine(run, ordered, targets).main())
        status = BenchmarkRun.Status.CANCELLED if cancelled else BenchmarkRun.Status.COMPLETED
        error = "Cancelled by request." if cancelled else None
    except Exception as exc:  # an engine failure (not a request failure): record it
        log.exception("Benchmark %s failed", run_id)
        status, error = BenchmarkRun.Status.FAILED, f"Engine error: {type(exc).__name__}: {exc}"
    refresh_connection()
    BenchmarkRun.objects.filter(pk=run_id, status=BenchmarkRun.Status.RUNNING).update(
        status=status, completed_at=timezone.now(), error=error
    )
    live.announce(run_id)
    run_finished.send(sender=BenchmarkRun, run_id=run_id, status=status)
    return status


def close_stale_runs(*, now=None) -> int:
    """Fail running runs whose engine stopped heartbeating (worker killed or crashed)."""
    now = now or timezone.now()
    count = BenchmarkRun.objects.filter(
        status=BenchmarkRun.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    ).update(
        status=BenchmarkRun.Status.FAILED,
        completed_at=now,
        error="The worker running this benchmark stopped responding (killed or crashed). "
        "Results saved before that are kept.",
    )
    for run_id in BenchmarkRun.objects.filter(completed_at=now).values_list("id", flat=True):
        live.announce(run_id)
    return count


class _Engine:
    def __init__(self, run: BenchmarkRun, models: list[LLMModel], targets: dict):
        self.run = run
        self.models = models
        self.targets = targets  # model pk -> CallTarget, or the GatewayError building it raised
        self.pack = get_pack(run.prompt_pack)
        self.seq = 0
        self.cancelled = False

    async def main(self) -> bool:
        limits: dict = {}
        watcher = asyncio.create_task(self._watch())
        async with new_http_client(TIMEOUTS) as client:
            self.client = client
            tasks = [
                asyncio.create_task(
                    self._model(
                        m,
                        limits.setdefault(
                            m.provider_account_id, asyncio.Semaphore(PER_ACCOUNT_LIMIT)
                        ),
                    )
                )
                for m in self.models
            ]
            self.tasks = tasks
            try:
                await asyncio.gather(*tasks)
            except asyncio.CancelledError:
                if not self.cancelled:
                    raise
        watcher.cancel()
        return self.cancelled

    async def _watch(self) -> None:
        """Heartbeat, and stop the run when a cancel was requested."""

        def beat() -> bool:
            BenchmarkRun.objects.filter(pk=self.run.pk).update(heartbeat_at=timezone.now())
            cancel = BenchmarkRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()
            refresh_connection()
            return cancel

        while True:
            await asyncio.sleep(HEARTBEAT_S)
            if await asyncio.to_thread(beat):
                self.cancelled = True
                for task in self.tasks:
                    task.cancel()
                return

    async def _model(self, model: LLMModel, account_limit: asyncio.Semaphore) -> None:
        target = self.targets[model.pk]
        if isinstance(target, GatewayError):
            for _ in range(self.run.num_runs):
                await self._save(
                    model, Sample(error_type=ErrorType.BAD_REQUEST, error=target.message)
                )
            return
        for _ in range(self.run.warmup_runs):  # before the measured requests, and discarded
            await self._request(target, account_limit)
        per_model = asyncio.Semaphore(self.run.concurrency)

        async def one() -> None:
            async with per_model:
                sample = await self._request(target, account_limit)
            await self._save(model, sample)

        await asyncio.gather(*(one() for _ in range(self.run.num_runs)))

    async def _request(self, target, account_limit: asyncio.Semaphore) -> Sample:
        waited = asyncio.get_running_loop().time()
        async with account_limit:
            queue_ms = (asyncio.get_running_loop().time() - waited) * 1000
            messages = self.pack.messages(nonce=uuid.uuid4().hex[:8])
            sample = await measure(
                target,
                messages,
                max_tokens=self.run.max_tokens,
                timeouts=TIMEOUTS,
                client=self.client,
            )
        sample.queue_ms = queue_ms
        return sample

    async def _save(self, model: LLMModel, sample: Sample) -> None:
        self.seq += 1
        seq = self.seq

        def write() -> None:
            BenchmarkResult.objects.create(
                run_id=self.run.pk, model=model, seq=seq, **BenchmarkResult.sample_values(sample)
            )
            refresh_connection()

        await asyncio.to_thread(write)
        await live.aannounce(self.run.pk)
