"""Measure the gateway's accuracy and cost against the simulator (prints figures, no asserts).

    manage.py gateway_bench [--rate 1000] [--seconds 60]

1. One stream: sequential probes; TTFT error = measured − scheduled (median, p99).
2. Open loop at --rate probes/min for --seconds: TTFT error p50/p99, CPU per probe, event-loop
   lag p99. The simulator runs in its own process, as a real provider would.
"""

import asyncio
import gc
import time

from django.core.management.base import BaseCommand

from arguslm.llm.measure import measure, new_http_client
from arguslm.llm.types import CallTarget, Timeouts
from arguslm.llmsim.server import start_in_process
from arguslm.stats import percentile

PROMPT = [{"role": "user", "content": "Count from 1 to 20."}]
TTFT_MS = 500
MODEL = f"sim/ttft={TTFT_MS}/itl=15/n=30"


def fmt(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):6.2f} ms   p99 {percentile(values, 99):6.2f} ms"


class Command(BaseCommand):
    help = "Benchmark the gateway's TTFT accuracy and CPU cost against the LLM simulator."

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=int, default=1000, help="probes per minute (open loop)")
        parser.add_argument("--seconds", type=int, default=60)
        parser.add_argument("--single", type=int, default=100, help="sequential probes at 1 stream")

    def handle(self, *args, rate, seconds, single, **options):
        url, proc = start_in_process()
        try:
            asyncio.run(self.run(url, rate, seconds, single))
        finally:
            proc.terminate()

    async def run(self, url: str, rate: int, seconds: int, single: int) -> None:
        target = CallTarget(
            "custom_openai_compatible",
            MODEL,
            "openai",
            f"openai/{MODEL}",
            base_url=f"{url}/v1",
            api_key="bench",
        )
        timeouts = Timeouts(connect=5, first_token=10, between_tokens=10, total=30)
        async with new_http_client(timeouts) as client:
            for _ in range(5):  # warm-up: imports, connections, code paths
                await measure(target, PROMPT, max_tokens=64, timeouts=timeouts, client=client)
            gc.collect()
            gc.freeze()  # long-lived objects out of the GC's way (as the worker does)

            errors = []
            for _ in range(single):
                s = await measure(target, PROMPT, max_tokens=64, timeouts=timeouts, client=client)
                if s.ok:
                    errors.append(s.ttft_ms - TTFT_MS)
            self.stdout.write(f"1 stream, {len(errors)} probes: TTFT error {fmt(errors)}")

            await self.open_loop(target, timeouts, client, rate, seconds)

    async def open_loop(self, target, timeouts, client, rate, seconds) -> None:
        loop = asyncio.get_running_loop()
        interval = 60 / rate
        lags: list[float] = []
        stop = False

        async def ticker():
            while not stop:
                due = loop.time() + 0.01
                await asyncio.sleep(0.01)
                lags.append((loop.time() - due) * 1000)

        tick = asyncio.create_task(ticker())
        tasks = []
        cpu0, wall0 = time.process_time(), loop.time()
        count = int(rate * seconds / 60)
        for i in range(count):
            delay = wall0 + i * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(
                    measure(target, PROMPT, max_tokens=64, timeouts=timeouts, client=client)
                )
            )
        launched = loop.time() - wall0
        samples = await asyncio.gather(*tasks)
        cpu = time.process_time() - cpu0
        wall = loop.time() - wall0
        stop = True
        await tick
        ok = [s for s in samples if s.ok]
        errors = [s.ttft_ms - TTFT_MS for s in ok]
        self.stdout.write(
            f"open loop {rate}/min for {seconds} s: {len(samples)} probes "
            f"({len(samples) / launched * 60:.0f}/min launched), {len(ok)} ok in {wall:.1f} s\n"
            f"  TTFT error {fmt(errors)}\n"
            f"  CPU per probe {cpu / len(samples) * 1000:.2f} ms   "
            f"event-loop lag p99 {percentile(lags, 99):.2f} ms"
        )
