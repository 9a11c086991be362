"""A 10-model × 50-run benchmark against the simulator (prints figures; not a test).

    manage.py benchmark_bench [--models 10] [--runs 50]

The engine runs in its own process (as in a django-q2 worker); a WebSocket subscriber runs
here through the real ASGI application. Prints wall time, requests/s, TTFT error p50/p99
against the simulator's scheduled TTFT, and the delay from a result being saved to its
WebSocket message reaching the subscriber (p50/p99). With REDIS_URL set, wake-ups cross
processes through Redis; in the embedded default the subscriber polls the database.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from arguslm import tokens
from arguslm.llmsim.server import start_in_process
from arguslm.stats import percentile
from benchmarks.models import BenchmarkResult, BenchmarkRun
from providers.models import LLMModel, ProviderAccount


class Command(BaseCommand):
    help = "Benchmark the benchmark engine and its live WebSocket stream."

    def add_arguments(self, parser):
        parser.add_argument("--models", type=int, default=10)
        parser.add_argument("--runs", type=int, default=50)
        parser.add_argument("--engine", help="(internal) execute this run id and exit")

    def handle(self, *args, models, runs, engine, **options):
        if engine:
            from arguslm.llm import warm
            from benchmarks import engine as bench_engine

            warm.ensure_warm()  # as a django-q2 worker does when it starts, before any task
            bench_engine.execute(engine)
            return
        url, sim = start_in_process()
        try:
            self.bench(url, models, runs)
        finally:
            sim.terminate()

    def bench(self, url: str, count: int, runs: int) -> None:
        import arguslm.asgi  # noqa: F401 (checks the encryption key outside the event loop)

        account = ProviderAccount(provider_type="custom_openai_compatible", display_name="Bench")
        account.credentials = {"base_url": f"{url}/v1"}
        account.save()
        scheduled = {}
        models = []
        for i in range(count):
            ttft = 100 + 40 * i
            model = LLMModel.objects.create(
                provider_account=account, model_id=f"sim/ttft={ttft}/itl=8/n=30/seed={i}"
            )
            scheduled[model.id] = ttft
            models.append(model)
        run = BenchmarkRun.objects.create(
            name="bench",
            prompt_pack="health_check",
            num_runs=runs,
            max_tokens=64,
            model_ids=[str(m.id) for m in models],
        )
        user, _ = get_user_model().objects.get_or_create(username="bench-ws")
        _, key = tokens.issue(user=user, name="benchmark_bench")
        delays = asyncio.run(self.follow(run, key))
        run.refresh_from_db()
        results = list(BenchmarkResult.objects.filter(run=run))
        ok = [r for r in results if r.error_type is None and r.ttft_ms is not None]
        errors = [r.ttft_ms - scheduled[r.model_id] for r in ok]
        wall = (run.completed_at - run.started_at).total_seconds()
        layer = "Redis" if settings.REDIS_URL else "in-process layer + database polling"
        self.stdout.write(
            f"{count} models × {runs} runs: {run.status}, {len(results)} results "
            f"({len(ok)} ok) in {wall:.1f} s — {len(results) / wall:.1f} requests/s\n"
            f"  TTFT error vs scheduled: p50 {percentile(errors, 50):.2f} ms   "
            f"p99 {percentile(errors, 99):.2f} ms\n"
            f"  saved → WebSocket message ({layer}): p50 {percentile(delays, 50):.1f} ms   "
            f"p99 {percentile(delays, 99):.1f} ms over {len(delays)} messages"
        )
        BenchmarkRun.objects.filter(pk=run.pk).delete()
        account.delete()

    async def follow(self, run, token: str) -> list[float]:
        from arguslm.asgi import application

        comm = WebsocketCommunicator(
            application,
            f"/api/v1/benchmarks/{run.id}/stream",
            headers=[(b"authorization", f"Bearer {token}".encode())],
        )
        await comm.connect()
        engine = subprocess.Popen(
            [sys.executable, "manage.py", "benchmark_bench", f"--engine={run.id}"],
            env=os.environ.copy(),
        )
        delays = []
        while True:
            message = json.loads(await comm.receive_from(timeout=600))
            if message["type"] == "result":
                saved = datetime.fromisoformat(message["data"]["saved_at"]).timestamp()
                delays.append((time.time() - saved) * 1000)
            if message["type"] in ("complete", "error"):
                break
        await comm.disconnect()
        await asyncio.to_thread(engine.wait)
        return delays
