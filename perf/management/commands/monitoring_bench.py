"""Monitoring at scale against the simulator (prints figures; not a test).

    manage.py monitoring_bench --models 1000 --workers 1
    manage.py monitoring_bench --models 2000 --workers 2

Creates N monitored models (TTFT 500 ms, 30 tokens each) on a simulator running in its own
process, then runs one real pass through the production code path: ``start_pass`` splits it
into shards and W worker processes execute ``probe_shard`` (each paced at its per-process
probe rate). Prints probes/min, TTFT error p50/p99 (measured − scheduled), CPU per probe and
schedule lag (how late probes started against the pacer's plan).
"""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

from django.core.management.base import BaseCommand

from arguslm.llm import warm
from arguslm.llmsim.server import start_in_process
from arguslm.stats import percentile
from monitoring import services
from monitoring.models import MonitoringConfig, MonitoringRun, UptimeCheck
from providers.models import LLMModel, ProviderAccount

TTFT_MS = 500


class Command(BaseCommand):
    help = "Benchmark a monitoring pass over many models against the LLM simulator."

    def add_arguments(self, parser):
        parser.add_argument("--models", type=int, default=1000)
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--accounts", type=int, default=20)
        parser.add_argument("--worker-shard", help=argparse_hidden())

    def handle(self, *args, models, workers, accounts, worker_shard, **options):
        if worker_shard:
            return self.worker(worker_shard)
        url, sim = start_in_process()
        try:
            self.bench(url, models, workers, accounts)
        finally:
            sim.terminate()

    def worker(self, spec: str) -> None:
        run_id, ids = spec.split(":", 1)
        warm.ensure_warm()  # as a django-q2 worker does when it starts, before any task
        cpu = time.process_time()
        stored = services.probe_shard(run_id=run_id, model_ids=ids.split(","))
        self.stdout.write(json.dumps({"cpu": time.process_time() - cpu, "stored": stored}))

    def bench(self, url: str, count: int, workers: int, account_count: int) -> None:
        config = MonitoringConfig.get()
        config.concurrency_per_account = max(8, count // account_count)
        config.max_tokens, config.timeout_seconds = 64, 30
        config.save()
        ProviderAccount.objects.filter(display_name__startswith="Bench account").delete()
        accounts = []
        for i in range(account_count):
            account = ProviderAccount(
                provider_type="custom_openai_compatible", display_name=f"Bench account {i + 1}"
            )
            account.credentials = {"base_url": f"{url}/v1"}
            account.save()
            accounts.append(account)
        models = [
            LLMModel(
                provider_account=accounts[i % account_count],
                enabled_for_monitoring=True,
                model_id=f"sim/ttft={TTFT_MS}/itl=15/n=30/seed={i}",
            )
            for i in range(count)
        ]
        LLMModel.objects.bulk_create(models)
        ids = [str(m.id) for m in models]
        run = MonitoringRun.objects.create(
            status=MonitoringRun.Status.RUNNING, total=count, shards_total=workers
        )
        run.started_at = run.created_at
        run.save()
        parts = [ids[w::workers] for w in range(workers)]
        started = time.monotonic()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "monitoring_bench",
                    f"--worker-shard={run.id}:{','.join(part)}",
                ],
                stdout=subprocess.PIPE,
                text=True,
                env=os.environ.copy(),
            )
            for part in parts
        ]
        reports = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        wall = time.monotonic() - started
        checks = list(UptimeCheck.objects.filter(run=run).order_by("created_at"))
        ok = [c for c in checks if c.error_type is None and c.ttft_ms is not None]
        errors = [c.ttft_ms - TTFT_MS for c in ok]
        first = checks[0].created_at
        launch = (checks[-1].created_at - first).total_seconds()
        # Schedule lag: each worker paces its part at PROBE_RATE_PER_MIN; compare each probe's
        # start with its planned slot in its worker's plan.
        interval = timedelta(seconds=60 / services.PROBE_RATE_PER_MIN)
        planned = {}
        for part in parts:
            for index, model_id in enumerate(part):
                planned[model_id] = index * interval
        lags = [
            ((c.created_at - first) - planned[str(c.model_id)]).total_seconds() * 1000
            for c in checks
        ]
        cpu = sum(r["cpu"] for r in reports)
        self.stdout.write(
            f"{count} models, {workers} worker process(es): {len(checks)} checks stored, "
            f"{len(ok)} ok, in {wall:.1f} s wall\n"
            f"  probes/min {len(checks) / max(launch, 1e-9) * 60:,.0f} "
            f"(launch window {launch:.1f} s)\n"
            f"  TTFT error p50 {percentile(errors, 50):.2f} ms   "
            f"p99 {percentile(errors, 99):.2f} ms\n"
            f"  CPU per probe {cpu / max(len(checks), 1) * 1000:.2f} ms "
            "(probe path incl. DB writes)\n"
            f"  schedule lag p50 {percentile(lags, 50):.1f} ms   p99 {percentile(lags, 99):.1f} ms"
        )
        LLMModel.objects.filter(pk__in=ids).delete()
        ProviderAccount.objects.filter(pk__in=[a.pk for a in accounts]).delete()
        run.delete()


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS
