"""Every tested provider type, probed through a server that enforces its rules (prints figures).

    manage.py provider_bench [--passes 2] [--repeat 5] [--no-warm]

One account per tested provider type (``arguslm/llmsim/accounts.py``), each pointed at its
strict simulator profile running in its own process: the request rules of OpenAI (reasoning
models too), Azure, Mistral, Anthropic, Gemini, Vertex, Bedrock, ... are enforced as the
providers publish them. All accounts, of every route, go into one monitoring pass, run through
the production path (``services.probe_shard``) in a freshly started worker process: the first
pass of that process and the ones after it are reported separately, as TTFT error (measured −
scheduled), status and output tokens against the truth. ``--no-warm`` skips the worker's
warm-up, to show what it prevents. ``--repeat`` runs that many fresh worker processes.
"""

import json
import os
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from arguslm.llm import catalog
from arguslm.llmsim.accounts import strict_cases
from arguslm.llmsim.server import start_in_process
from arguslm.stats import percentile
from monitoring import services
from monitoring.models import MonitoringConfig, MonitoringRun, UptimeCheck
from perf.management.commands.monitoring_bench import argparse_hidden
from providers.models import LLMModel, ProviderAccount

PREFIX = "Provider bench: "
TARGET_MS = 25


class Command(BaseCommand):
    help = "Probe every tested provider type at its strict simulator profile; print accuracy."

    def add_arguments(self, parser):
        parser.add_argument("--passes", type=int, default=2, help="passes per worker process")
        parser.add_argument("--repeat", type=int, default=3, help="fresh worker processes")
        parser.add_argument("--no-warm", action="store_true", help="skip the worker warm-up")
        parser.add_argument("--worker", help=argparse_hidden())

    def handle(self, *args, passes, repeat, no_warm, worker, **options):
        # Every account points at the simulator on this machine: remote provider types reach a
        # private address only where the operator allows it (docs/network-policy.md).
        os.environ["ARGUSLM_ALLOW_PRIVATE_NETWORKS"] = "true"
        settings.ARGUSLM_ALLOW_PRIVATE_NETWORKS = True
        if worker:
            return self.worker(json.loads(worker), no_warm)
        url, sim = start_in_process()
        try:
            self.bench(url, passes, repeat, no_warm)
        finally:
            sim.terminate()

    def worker(self, spec: dict, no_warm: bool) -> None:
        """A fresh process: each pass in turn through the production shard path."""
        if no_warm:
            from arguslm.llm import warm

            warm._warmed = True  # as if warmed: measures what the warm-up prevents
        for run_id in spec["runs"]:
            started = time.perf_counter()
            services.probe_shard(run_id=run_id, model_ids=spec["models"])
            self.stderr.write(f"pass {run_id} took {time.perf_counter() - started:.1f} s")
        self.stdout.write("done")

    def bench(self, url: str, passes: int, repeat: int, no_warm: bool) -> None:
        config = MonitoringConfig.get()
        config.max_tokens, config.timeout_seconds = 100, 30
        config.save()
        cases = strict_cases(url)
        ProviderAccount.objects.filter(display_name__startswith=PREFIX).delete()
        truth = {}
        for case in cases:
            account = ProviderAccount(
                provider_type=case.provider_type, display_name=PREFIX + case.label
            )
            account.credentials = case.credentials
            account.save()
            model = LLMModel.objects.create(
                provider_account=account, model_id=case.model_id, enabled_for_monitoring=True
            )
            truth[model.pk] = case
        ids = [str(pk) for pk in truth]
        by_pass: dict[int, list[UptimeCheck]] = {p: [] for p in range(passes)}
        runs = []
        try:
            for _ in range(repeat):
                batch = [
                    MonitoringRun.objects.create(
                        status=MonitoringRun.Status.RUNNING, total=len(ids), shards_total=1
                    )
                    for _ in range(passes)
                ]
                runs += batch
                spec = json.dumps({"runs": [str(r.id) for r in batch], "models": ids})
                command = [sys.executable, "manage.py", "provider_bench", f"--worker={spec}"]
                if no_warm:
                    command.append("--no-warm")
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                for index, run in enumerate(batch):
                    by_pass[index] += list(UptimeCheck.objects.filter(run=run))
            self.report(truth, by_pass, no_warm)
        finally:
            UptimeCheck.objects.filter(run__in=runs).delete()
            MonitoringRun.objects.filter(pk__in=[r.pk for r in runs]).delete()
            ProviderAccount.objects.filter(display_name__startswith=PREFIX).delete()

    def report(self, truth: dict, by_pass: dict, no_warm: bool) -> None:
        warm = "without warm-up" if no_warm else "warmed at start"
        self.stdout.write(
            f"{len(truth)} accounts of {len({c.provider_type for c in truth.values()})} provider "
            f"types in one pass, fresh worker process ({warm}); TTFT error = measured − scheduled"
        )
        header = f"{'provider':24} {'route':8}" + "".join(
            f" | pass {p + 1}: {'status':8} {'TTFT err':>9} {'tokens':>9}" for p in by_pass
        )
        self.stdout.write(header)
        missed = 0
        for pk, case in truth.items():
            route = catalog.get_spec(case.provider_type).route
            line = f"{case.label:24} {route:8}"
            for checks in by_pass.values():
                mine = [c for c in checks if c.model_id == pk]
                statuses = {c.status for c in mine}
                errors = [c.ttft_ms - case.ttft_ms for c in mine if c.ttft_ms is not None]
                tokens = {(c.output_tokens, c.token_source) for c in mine}
                exact = tokens == {(case.output_tokens, case.token_source)}
                err = max(errors, key=abs) if errors else float("nan")
                ok = statuses == {"up"} and exact and errors and abs(err) <= TARGET_MS
                missed += not ok
                shown = "/".join(sorted(statuses))
                token_text = f"{'exact' if exact else 'WRONG'}"
                line += f" | {'':8}{shown:8} {err:+8.1f}ms {token_text:>9}"
            self.stdout.write(line)
        for p, checks in by_pass.items():
            up = sum(c.status == "up" for c in checks)
            self.stdout.write(f"pass {p + 1}: {up}/{len(checks)} up")
            for route in ("openai", "litellm"):
                errors = [
                    c.ttft_ms - truth[c.model_id].ttft_ms
                    for c in checks
                    if c.ttft_ms is not None
                    and catalog.get_spec(truth[c.model_id].provider_type).route == route
                ]
                self.stdout.write(
                    f"  {route:8} route: TTFT error p50 {percentile(errors, 50):.1f} ms, "
                    f"p99 {percentile(errors, 99):.1f} ms, worst {max(errors, key=abs):+.1f} ms "
                    f"(n={len(errors)})"
                )
        verdict = "met" if not missed else f"MISSED for {missed} (provider, pass) pairs"
        self.stdout.write(f"target (up, exact tokens, |TTFT error| <= {TARGET_MS} ms): {verdict}")
        if missed:
            sys.exit(1)
