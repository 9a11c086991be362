"""How exactly the sweep engine times requests at each load level (prints figures; not a test).

    manage.py sweep_bench [--levels 1,2,4,8,16,32,64] [--step-seconds 6]
                          [--rates 5,10,20,40,80] [--cap 8]

Three sweeps against the simulator (its own process), the engine in another process, as in
a django-q2 worker:
1. a concurrency sweep of an endpoint with a fixed schedule (TTFT 200 ms, ITL 20 ms, 30
   tokens): per step, the TTFT error against the schedule (p50/p95/max) and the mean ITL's
   error — whether 64 streams are timed as exactly as one;
2. a rate sweep of the same endpoint: per step, the same errors and how late requests left;
3. both sweeps of an endpoint that slows beyond ``--cap`` streams: the capacity found, next
   to the true one (cap streams; cap / request time for rates).
"""

import subprocess
import sys

from django.core.management.base import BaseCommand

from arguslm.llmsim.server import start_in_process
from arguslm.stats import percentile
from benchmarks import services
from benchmarks.models import BenchmarkRun
from providers.models import LLMModel, ProviderAccount

TTFT, ITL, TOKENS = 200, 20, 30
SLO = {"metric": "ttft", "percentile": 95, "max_ms": TTFT * 1.5}


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


class Command(BaseCommand):
    help = "Measure the sweep engine's timing error per load level against the simulator."

    def add_arguments(self, parser):
        parser.add_argument("--levels", default="1,2,4,8,16,32,64")
        parser.add_argument("--step-seconds", type=float, default=6)
        parser.add_argument("--rates", default="5,10,20,40,80")
        parser.add_argument("--rate-seconds", type=float, default=4)
        parser.add_argument("--cap", type=int, default=8)
        parser.add_argument("--engine", help="(internal) execute this run id and exit")

    def handle(self, *args, **opts):
        if opts["engine"]:
            from arguslm.llm import warm
            from benchmarks import engine

            warm.ensure_warm()  # as a django-q2 worker does when it starts
            engine.execute(opts["engine"])
            return
        url, sim = start_in_process()
        account = ProviderAccount(provider_type="custom_openai_compatible", display_name="Sweep")
        account.credentials = {"base_url": f"{url}/v1"}
        account.save()
        try:
            self.bench(account, opts)
        finally:
            sim.terminate()
            BenchmarkRun.objects.filter(name__startswith="sweep_bench").delete()
            account.delete()

    def bench(self, account, opts) -> None:
        steady = LLMModel.objects.create(
            provider_account=account, model_id=f"sim/ttft={TTFT}/itl={ITL}/n={TOKENS}"
        )
        levels = [int(v) for v in _floats(opts["levels"])]
        rates = _floats(opts["rates"])
        self.stdout.write(
            f"Endpoint: TTFT {TTFT} ms, ITL {ITL} ms, {TOKENS} tokens "
            f"({TTFT + (TOKENS - 1) * ITL} ms a request)."
        )
        run = self.run(
            steady, "concurrency_sweep", {"levels": levels, "step_seconds": opts["step_seconds"]}
        )
        self.errors(run, "streams")
        load = {"levels": rates, "step_seconds": opts["rate_seconds"], "arrivals": "poisson"}
        self.errors(self.run(steady, "rate_sweep", load), "req/s")

        cap = opts["cap"]
        capped = LLMModel.objects.create(
            provider_account=account,
            model_id=f"sim/ttft={TTFT}/itl={ITL}/n={TOKENS}/cap={cap}/over={TTFT // 2}",
        )
        request_s = (TTFT + (TOKENS - 1) * ITL) / 1000
        self.stdout.write(
            f"\nEndpoint slowing beyond {cap} streams (+{TTFT // 2} ms TTFT each), "
            f"SLO TTFT p95 ≤ {SLO['max_ms']:g} ms:"
        )
        for profile, load, truth in (
            (
                "concurrency_sweep",
                {"levels": levels, "step_seconds": opts["step_seconds"]},
                f"{cap} streams",
            ),
            (
                "rate_sweep",
                {"levels": rates, "step_seconds": opts["rate_seconds"]},
                f"{cap / request_s:g} req/s",
            ),
        ):
            run = self.run(capped, profile, load, slo=SLO)
            [found] = services.capacity_of(run, services.results_of(run))
            self.stdout.write(f"  {profile}: {found.verdict} True capacity: {truth}.")

    def run(self, model, profile, load, slo=None) -> BenchmarkRun:
        run = BenchmarkRun.objects.create(
            name=f"sweep_bench {profile}",
            prompt_pack="health_check",
            max_tokens=TOKENS + 10,
            warmup_runs=1,
            model_ids=[str(model.pk)],
            profile=profile,
            load=load,
            slo=slo,
        )
        subprocess.run(
            [sys.executable, "manage.py", "sweep_bench", f"--engine={run.pk}"], check=True
        )
        run.refresh_from_db()
        return run

    def errors(self, run: BenchmarkRun, unit: str) -> None:
        results = services.results_of(run)
        [found] = services.capacity_of(run, results)
        rate = run.profile == "rate_sweep"
        self.stdout.write(f"\n{run.profile} ({run.status}):")
        late = "   late p95" if rate else ""
        self.stdout.write(
            f"  {'level':>10} {'ok':>5} {'req/s':>7}   TTFT error p50 / p95 / max"
            f"   ITL error p50{late}"
        )
        for step in found.steps:
            ok = [r for r in results if r.step == step.index and r.error_type is None]
            ttft = [r.ttft_ms - TTFT for r in ok if r.ttft_ms is not None]
            itl = [r.itl_mean_ms - ITL for r in ok if r.itl_mean_ms is not None]
            if not ttft:
                self.stdout.write(f"  {step.level:>6g} {unit:<6} no successful request")
                continue
            pacing = f"   {step.late_p95_ms:8.1f} ms" if rate else ""
            self.stdout.write(
                f"  {step.level:>4g} {unit:<5} {len(ok):>5} {step.requests_per_s or 0:>7.1f}"
                f"   {percentile(ttft, 50):+6.1f} / {percentile(ttft, 95):+6.1f} / "
                f"{max(ttft):+6.1f} ms   {percentile(itl, 50):+6.2f} ms{pacing}"
            )
