"""Opt-in: the gateway's ``measure()`` against a real LLM server (not part of ``make test``).

    make llm-venv
    ARGUSLM_REAL_LLM=1 .venv/bin/python -m pytest tests/gateway/test_real_llm.py

llama.cpp's OpenAI server (llama-cpp-python) serving Gemma 3 270M (perf/realllm.py), started
once for the module. Each case is streamed raw (httpx, minimal SSE parser) and through
``measure()``, alternately, each request after a flush so both meet the same KV-cache state;
the truth for output tokens is ``usage.completion_tokens`` of the same request non-streamed
(temperature 0). Targets: TTFT within 25 % of the raw stream (median of the per-pair ratios:
single pairs on a shared 2-core box vary more than that both ways), output tokens never above
the limit and within 10 % of the truth. About a minute and a half.
"""

import asyncio
import os
import statistics
from dataclasses import dataclass

import httpx
import pytest

from arguslm.llm import catalog
from arguslm.llm.measure import measure, new_http_client
from arguslm.llm.types import Sample, Timeouts
from perf import realllm

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("ARGUSLM_REAL_LLM") != "1" or not realllm.available(),
        reason="set ARGUSLM_REAL_LLM=1, with .llm-venv built (make llm-venv)",
    ),
]

# Temperature 0, vicuna format: the first two end on their own (99 and 64 tokens), the
# story runs into the limit.
CASES = [
    ("Tell me a joke.", 200),
    ("What do you like to do?", 200),
    ("Write a long story about a dragon.", 64),
]
REPEATS = 3
TIMEOUTS = Timeouts(connect=10, first_token=60, between_tokens=60, total=180)


@dataclass
class Pair:
    prompt: str
    limit: int
    truth: int
    raw: realllm.RawStream
    sample: Sample


@pytest.fixture(scope="module")
def server():
    with realllm.running_server() as running:
        yield running


@pytest.fixture(scope="module")
def pairs(server) -> list[Pair]:
    """Every case REPEATS times: a raw stream and the gateway's measure(), in turn first."""
    target = catalog.build_target(
        "custom_openai_compatible", {"base_url": f"{server.url}/v1"}, server.model
    )

    async def run() -> list[Pair]:
        found = []
        with httpx.Client(timeout=TIMEOUTS.total) as http:
            async with new_http_client(TIMEOUTS) as client:

                async def gateway(messages, limit) -> Sample:
                    return await measure(
                        target,
                        messages,
                        max_tokens=limit,
                        timeouts=TIMEOUTS,
                        temperature=0.0,
                        client=client,
                    )

                warm = [{"role": "user", "content": "Hello!"}]  # page faults, connections
                realllm.raw_stream(
                    http, server.url, realllm.chat_body(server.model, warm, 8, stream=True)
                )
                await gateway(warm, 8)
                for prompt, limit in CASES:
                    messages = [{"role": "user", "content": prompt}]
                    body = realllm.chat_body(server.model, messages, limit, stream=True)
                    realllm.flush(http, server)
                    truth = realllm.complete(http, server.url, body).completion_tokens
                    for i in range(REPEATS):
                        for side in ("raw", "gateway") if i % 2 == 0 else ("gateway", "raw"):
                            realllm.flush(http, server)
                            if side == "raw":
                                raw = realllm.raw_stream(http, server.url, body)
                            else:
                                sample = await gateway(messages, limit)
                        found.append(Pair(prompt, limit, truth, raw, sample))
        return found

    return asyncio.run(run())


def describe(pair: Pair) -> str:
    s = pair.sample
    return (
        f"{pair.prompt!r}@{pair.limit}: raw TTFT {pair.raw.ttft_ms:.0f} ms, gateway "
        f"{s.ttft_ms if s.ttft_ms is None else round(s.ttft_ms)} ms; truth {pair.truth} tokens, "
        f"gateway {s.output_tokens} ({s.token_source}), {pair.raw.finish_reason}"
    )


def test_every_request_succeeds(pairs):
    failed = [f"{describe(p)}: {p.sample.error}" for p in pairs if not p.sample.ok]
    assert not failed, "\n".join(failed)
    assert all(p.raw.ttft_ms is not None for p in pairs)


def test_ttft_is_within_25_percent_of_the_raw_stream(pairs):
    ratios = [p.sample.ttft_ms / p.raw.ttft_ms for p in pairs if p.sample.ttft_ms is not None]
    assert len(ratios) == len(pairs)
    ratio = statistics.median(ratios)
    assert 0.75 <= ratio <= 1.25, f"median ratio {ratio:.2f}\n" + "\n".join(map(describe, pairs))


def test_output_tokens_never_exceed_the_limit(pairs):
    over = [describe(p) for p in pairs if (p.sample.output_tokens or 0) > p.limit]
    assert not over, "\n".join(over)


def test_output_tokens_are_within_10_percent_of_the_truth(pairs):
    off = [
        describe(p)
        for p in pairs
        if p.sample.output_tokens is None or abs(p.sample.output_tokens - p.truth) > 0.10 * p.truth
    ]
    assert not off, "\n".join(off)


def test_the_cases_cover_both_endings(pairs):
    """The checks above mean something only if some answers stop on their own and some run
    into the limit (a change of model or chat format could lose either)."""
    endings = {p.raw.finish_reason for p in pairs}
    assert endings == {"stop", "length"}, endings
