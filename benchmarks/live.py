"""Live benchmark progress over WebSocket: ``WS /api/v1/benchmarks/{id}/stream``.

The database is the source of truth; the channel layer only carries wake-ups. The engine
announces "run updated" after each saved result; subscribers then read what is new from the
database. In the embedded default (in-process channel layer, worker and web server in
separate processes) wake-ups cannot cross processes, so subscribers also poll, every 0.25 s.
A client that reconnects with ``?after=<seq>`` resumes after the last result it saw; one
that connects after the run ended gets the final state and ``complete``/``error`` at once.
"""

import asyncio
import contextlib
import json
import uuid

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

PING_AFTER_S = 30
POLL_S = 0.25 if not getattr(settings, "REDIS_URL", "") else 2.0

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_INVALID_ID = 4422


def group(run_id) -> str:
    return f"benchmark-{run_id}"


def announce(run_id) -> None:
    """Wake the run's subscribers (sync callers)."""
    layer = get_channel_layer()
    if layer is not None:
        # A broken layer must never break the engine: subscribers also poll the database.
        with contextlib.suppress(Exception):
            async_to_sync(layer.group_send)(group(run_id), {"type": "run.updated"})


async def aannounce(run_id) -> None:
    layer = get_channel_layer()
    if layer is not None:
        with contextlib.suppress(Exception):
            await layer.group_send(group(run_id), {"type": "run.updated"})


def result_message(result, model_name: str) -> dict:
    """The ``result`` message for one saved result (numbers never null, as the SDK needs).

    A failed request reports 0 for its figures and ``error`` (metrics.md wire compatibility).
    """
    from benchmarks.stats import is_failed

    if is_failed(result):
        return {
            "type": "result",
            "data": {
                "seq": result.seq,
                "model_id": str(result.model_id),
                "model_name": model_name,
                "ttft_ms": 0.0,
                "tps": 0.0,
                "tps_excluding_ttft": 0.0,
                "total_latency_ms": 0.0,
                "output_tokens": 0,
                "error_type": result.error_type,
                "error": result.error or result.error_type,
                "saved_at": result.created_at.isoformat(),
            },
        }
    return {
        "type": "result",
        "data": {
            "seq": result.seq,
            "model_id": str(result.model_id),
            "model_name": model_name,
            "ttft_ms": result.ttft_ms or 0.0,
            "tps": result.tps or 0.0,
            "tps_excluding_ttft": result.tps_excluding_ttft or 0.0,
            "total_latency_ms": result.latency_ms or 0.0,
            "output_tokens": result.output_tokens or 0,
            "error_type": result.error_type,
            "error": result.error,
            "saved_at": result.created_at.isoformat(),
        },
    }


@database_sync_to_async
def _read(run_id, after: int, *, count: bool):
    """The run, its results after ``after``, and how many results it has.

    Results are numbered 1, 2, 3… in saving order, so after the first read the count is the
    last seq seen: only the first read of a subscriber counts rows.
    """
    from benchmarks.models import BenchmarkResult, BenchmarkRun

    run = BenchmarkRun.objects.filter(pk=run_id).first()
    if run is None:
        return None, [], 0
    results = list(
        BenchmarkResult.objects.filter(run_id=run_id, seq__gt=after)
        .select_related("model")
        .order_by("seq")
    )
    if count:
        completed = BenchmarkResult.objects.filter(run_id=run_id).count()
    else:
        completed = results[-1].seq if results else after
    return run, results, completed


@database_sync_to_async
def _run_exists(run_id) -> bool:
    from benchmarks.models import BenchmarkRun

    return BenchmarkRun.objects.filter(pk=run_id).exists()


class BenchmarkStreamConsumer(AsyncWebsocketConsumer):
    """One subscriber of one run."""

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if settings.API_AUTH and not (user and user.is_authenticated):
            await self._fail(
                "Authentication required (session, Bearer token or Basic token).",
                CLOSE_UNAUTHENTICATED,
            )
            return
        raw = self.scope["url_route"]["kwargs"]["run_id"]
        try:
            self.run_id = uuid.UUID(raw)
        except ValueError:
            await self._fail(f"'{raw}' is not a valid benchmark run id.", CLOSE_INVALID_ID)
            return
        query = dict(
            part.split("=", 1)
            for part in self.scope.get("query_string", b"").decode().split("&")
            if "=" in part
        )
        self.after = int(query["after"]) if query.get("after", "").isdigit() else 0
        self.finished = False
        self.lock = asyncio.Lock()
        self.last_sent = asyncio.get_running_loop().time()
        if not await _run_exists(self.run_id):
            await self._fail(f"Benchmark run {self.run_id} not found.", CLOSE_NOT_FOUND)
            return
        # If the layer (Redis) is down, the database poll still delivers everything.
        with contextlib.suppress(Exception):
            await self.channel_layer.group_add(group(self.run_id), self.channel_name)
        await self.sync(initial=True)
        if not self.finished:
            self.poller = asyncio.create_task(self._poll())

    async def disconnect(self, code):
        poller = getattr(self, "poller", None)
        if poller:
            poller.cancel()
        if hasattr(self, "run_id") and getattr(self, "lock", None):
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(group(self.run_id), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if text_data == "ping":
            await self.send(text_data="pong")

    async def run_updated(self, event):
        await self.sync()

    async def _poll(self):
        loop = asyncio.get_running_loop()
        while not self.finished:
            await asyncio.sleep(POLL_S)
            await self.sync()
            if not self.finished and loop.time() - self.last_sent > PING_AFTER_S:
                await self._send({"type": "ping"})

    async def _send(self, message: dict):
        self.last_sent = asyncio.get_running_loop().time()
        await self.send(text_data=json.dumps(message))

    async def _fail(self, error: str, code: int):
        await self._send({"type": "error", "error": error, "status": "rejected"})
        await self.close(code=code)

    async def sync(self, initial: bool = False):
        """Send what the database holds that this subscriber has not seen yet."""
        async with self.lock:
            if self.finished:
                return
            run, results, completed = await _read(self.run_id, self.after, count=initial)
            total = len(run.model_ids) * run.num_runs
            if initial:
                await self._send(
                    {
                        "type": "progress",
                        "status": run.status,
                        "completed": completed,
                        "total": total,
                        "current_model": None,
                    }
                )
            done_before = completed - len(results)
            for index, result in enumerate(results, start=1):
                name = result.model.display_name
                if not initial:
                    await self._send(
                        {
                            "type": "progress",
                            "status": run.status,
                            "completed": done_before + index,
                            "total": total,
                            "current_model": name,
                        }
                    )
                await self._send(result_message(result, name))
                self.after = result.seq
            if run.is_finished:
                self.finished = True
                if run.status == "failed":
                    await self._send(
                        {
                            "type": "error",
                            "error": run.error or "Benchmark failed.",
                            "status": "failed",
                        }
                    )
                else:
                    await self._send(
                        {
                            "type": "complete",
                            "status": run.status,
                            "completed": completed,
                            "total": total,
                        }
                    )
                await self.close(code=1000)
