"""The benchmark engine: runs in a django-q2 worker, one asyncio loop per run.

Done differently from the original on purpose (original-arguslm.md §3.7):
* warm-ups of a model run *before* that model's measured requests and are discarded;
* measured requests of one model run with the requested ``concurrency`` (default 1, so a
  single-stream figure is clean); models run in parallel, bounded per provider account;
* results are saved in batches as they complete, at most SAVE_EVERY_S behind (visible
  through REST at once), and announced to WebSocket subscribers; the database stays the
  source of truth;
* sweeps (benchmarks.load) run one model at a time through their load levels: a closed loop
  of C streams, or an open loop of arrivals at R per second, each step's window stored
  (BenchmarkStep) so that its throughput is exact;
* the engine heartbeats; cancel requests are honoured within a second; a run whose worker
  died is closed by ``close_stale_runs``.
"""

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta

from django.utils import timezone

from arguslm.db import refresh_connection
from arguslm.llm import warm
from arguslm.llm.measure import measure, new_http_client
from arguslm.llm.prompts import get_pack
from arguslm.llm.types import ErrorType, GatewayError, Sample, Timeouts
from benchmarks import live, load
from benchmarks.models import BenchmarkResult, BenchmarkRun, BenchmarkStep
from benchmarks.signals import run_finished
from providers.models import LLMModel

log = logging.getLogger(__name__)

PER_ACCOUNT_LIMIT = 8
HEARTBEAT_S = 1.0
SAVE_EVERY_S = 0.25
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
        self.load = load.from_run(run)
        self.saver = _Saver(run.pk)
        self.cancelled = False

    async def main(self) -> bool:
        watcher = asyncio.create_task(self._watch())
        saver = asyncio.create_task(self.saver.loop())
        async with _Clients() as clients:
            self.clients = clients
            if self.load is None:
                # Models in parallel, bounded per provider account.
                limits: dict = {}
                work = [
                    self._fixed(
                        m,
                        limits.setdefault(
                            m.provider_account_id, asyncio.Semaphore(PER_ACCOUNT_LIMIT)
                        ),
                    )
                    for m in self.models
                ]
            else:
                work = [self._sweep()]  # one model at a time: each sees only its own load
            self.tasks = [asyncio.create_task(w) for w in work]
            try:
                await asyncio.gather(*self.tasks)
            except asyncio.CancelledError:
                if not self.cancelled:
                    raise
        watcher.cancel()
        await self.saver.close(saver)
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

    def _unusable(self, model: LLMModel, count: int) -> bool:
        """Record ``count`` failed requests for a model whose call target could not be built."""
        target = self.targets[model.pk]
        if not isinstance(target, GatewayError):
            return False
        for _ in range(count):
            failed = Sample(error_type=ErrorType.BAD_REQUEST, error=target.message)
            self.saver.add(model, failed, step=0 if self.load else None)
        return True

    async def _warm(self, model: LLMModel, limit: asyncio.Semaphore | None) -> None:
        for _ in range(self.run.warmup_runs):  # before the measured requests, and discarded
            await self._request(self.targets[model.pk], self.pack.messages(_nonce()), limit)

    async def _fixed(self, model: LLMModel, account_limit: asyncio.Semaphore) -> None:
        if self._unusable(model, self.run.num_runs * self.turns):
            return
        await self._warm(model, account_limit)
        per_model = asyncio.Semaphore(self.run.concurrency)

        async def one() -> None:
            async with per_model:
                await self._unit(model, account_limit)

        await asyncio.gather(*(one() for _ in range(self.run.num_runs)))

    @property
    def turns(self) -> int:
        return len(self.pack.conversations[0]) if self.pack.conversations else 1

    async def _unit(
        self, model: LLMModel, limit: asyncio.Semaphore | None, *, step=None, late_ms=0.0
    ) -> None:
        """One measured request, or one conversation (a request per turn, each turn sent
        with the answers so far) for a multi-turn pack."""
        target = self.targets[model.pk]
        nonce = _nonce()
        if not self.pack.conversations:
            sample = await self._request(target, self.pack.messages(nonce), limit)
            sample.queue_ms += late_ms
            self.saver.add(model, sample, step=step)
            self._finished(step)
            return
        messages: list[dict] = []
        turns = self.pack.conversation(self.saver.seq, nonce)
        for number, text in enumerate(turns, start=1):
            messages.append({"role": "user", "content": text})
            sample = await self._request(target, list(messages), limit)
            sample.queue_ms += late_ms if number == 1 else 0.0
            self.saver.add(model, sample, step=step, turn=number)
            self._finished(step)
            if not sample.ok:
                return  # a conversation does not go on after a failed turn
            messages.append({"role": "assistant", "content": sample.answer or sample.text})

    async def _request(self, target, messages, limit: asyncio.Semaphore | None) -> Sample:
        loop = asyncio.get_running_loop()
        waited = loop.time()
        async with limit or contextlib.nullcontext():
            queue_ms = (loop.time() - waited) * 1000
            client = self.clients.take()
            try:
                sample = await measure(
                    target,
                    messages,
                    max_tokens=self.run.max_tokens,
                    timeouts=TIMEOUTS,
                    client=client,
                )
            finally:
                self.clients.give(client)
        sample.queue_ms = queue_ms
        return sample

    # --- sweeps ---------------------------------------------------------------------------

    async def _sweep(self) -> None:
        for model in self.models:
            if self._unusable(model, 1):
                continue
            await self._warm(model, None)
            for index, level in enumerate(self.load.levels):
                await self._step(model, index, level)

    def _finished(self, step: int | None) -> None:
        """Note when a request of the current step finished (first and last)."""
        if step is not None:
            now = asyncio.get_running_loop().time()
            self.finishes = [self.finishes[0] if self.finishes else now, now]

    async def _step(self, model: LLMModel, index: int, level: float) -> None:
        loop = asyncio.get_running_loop()
        started_at, t0 = timezone.now(), loop.time()
        self.finishes: list[float] = []
        if self.load.is_rate:
            sent = await self._open_loop(model, index, level)
        else:
            sent = await self._closed_loop(model, index, int(level), t0)
        first, last = self.finishes or (t0, t0)
        await asyncio.to_thread(
            _save_step,
            run_id=self.run.pk,
            model=model,
            index=index,
            level=level,
            started_at=started_at,
            duration_ms=(loop.time() - t0) * 1000,
            finish_span_ms=(last - first) * 1000,
            sent=sent,
        )

    async def _closed_loop(self, model: LLMModel, index: int, streams: int, t0: float) -> int:
        """``streams`` workers, each sending its next request when the last one finished,
        until the step has sent step_requests or step_seconds have passed."""
        loop = asyncio.get_running_loop()
        deadline = t0 + self.load.step_seconds if self.load.step_seconds else None
        sent = 0

        async def worker() -> None:
            nonlocal sent
            while True:
                if deadline is not None and loop.time() >= deadline:
                    return
                if self.load.step_requests is not None and sent >= self.load.step_requests:
                    return
                sent += 1
                await self._unit(model, None, step=index)

        await asyncio.gather(*(worker() for _ in range(streams)))
        return sent

    async def _open_loop(self, model: LLMModel, index: int, rate: float) -> int:
        """Requests leave at their arrival times whatever the answers do; how late each one
        left is added to its queue_ms (the pacing error the step reports)."""
        loop = asyncio.get_running_loop()
        times = load.arrivals(self.load, rate, seed=f"{self.run.pk}:{model.pk}:{index}")
        start = loop.time()
        tasks = []
        for at in times:
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            late_ms = max(0.0, (loop.time() - start - at) * 1000)
            tasks.append(asyncio.create_task(self._unit(model, None, step=index, late_ms=late_ms)))
        await asyncio.gather(*tasks)
        return len(times)


class _Clients:
    """HTTP clients of one connection each, lent to one request at a time.

    One shared pool would do, but httpx's pool walks every connection each time a request
    is assigned or a response closes: at 64 streams that bookkeeping alone delayed first
    tokens by a p95 of 426 ms (manage.py sweep_bench, before and after). A client per
    stream keeps it constant, and keep-alive still reuses each connection."""

    def __init__(self):
        self.idle: list = []
        self.every: list = []

    def take(self):
        if self.idle:
            return self.idle.pop()
        client = new_http_client(TIMEOUTS, max_connections=1)
        self.every.append(client)
        return client

    def give(self, client) -> None:
        self.idle.append(client)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.gather(*(c.aclose() for c in self.every), return_exceptions=True)


def _nonce() -> str:
    return uuid.uuid4().hex[:8]


def _save_step(**values) -> None:
    BenchmarkStep.objects.create(**values)
    refresh_connection()


class _Saver:
    """Saves results in small batches (at most SAVE_EVERY_S behind) off the event loop, so
    that a step of many streams never waits on the database while it times them; announces
    each batch to WebSocket subscribers."""

    def __init__(self, run_id):
        self.run_id = run_id
        self.seq = 0
        self.pending: list[BenchmarkResult] = []

    def add(self, model: LLMModel, sample: Sample, *, step=None, turn=None) -> None:
        self.seq += 1
        self.pending.append(
            BenchmarkResult(
                run_id=self.run_id,
                model=model,
                seq=self.seq,
                step=step,
                turn=turn,
                **BenchmarkResult.sample_values(sample),
            )
        )

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        if not batch:
            return

        def write() -> None:
            BenchmarkResult.objects.bulk_create(batch)
            refresh_connection()

        await asyncio.to_thread(write)
        await live.aannounce(self.run_id)

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(SAVE_EVERY_S)
            await self.flush()

    async def close(self, task: asyncio.Task) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.flush()
