"""Every tested provider type over real HTTP, against a simulator profile that enforces that
provider's published request rules (arguslm/llmsim/profiles.py): up, on time, exact tokens.

Also each way a real server differed from the generic simulator (the provider issue): gzip,
streams without usage that stop at the limit, a clean end without finish, malformed chunks,
late usage, comment lines, 408/413/422, reasoning fields, reused connections.
"""

import asyncio

import pytest

from arguslm.llm import catalog, warm
from arguslm.llm.measure import measure, new_http_client
from arguslm.llm.types import CallTarget, Timeouts
from arguslm.llmsim.accounts import strict_cases

PROMPT = [{"role": "user", "content": "Count from 1 to 12. nonce-1a2b"}]
FAST = Timeouts(connect=2, first_token=3, between_tokens=3, total=8)
# Measured − scheduled on a shared 2-core machine: the benchmark command reports the real
# figures (target 25 ms); the tests catch wrong clocks and wrong requests, not noise.
SLACK_MS = 120


@pytest.fixture(scope="module", autouse=True)
def warm_gateway():
    """As a worker does at start (arguslm/apps.py): first uses are paid before measuring."""
    warm.ensure_warm()


@pytest.fixture(scope="module")
def cases(llmsim):
    return {c.label: c for c in strict_cases(llmsim)}


def _measure(target, *, max_tokens=100, stream=True, client=None):
    return asyncio.run(
        measure(target, PROMPT, max_tokens=max_tokens, timeouts=FAST, stream=stream, client=client)
    )


def _case_target(case):
    return catalog.build_target(case.provider_type, case.credentials, case.model_id)


LABELS = [c.label for c in strict_cases("http://sim")]


@pytest.mark.parametrize("label", LABELS)
def test_each_provider_type_is_up_on_time_with_exact_tokens(cases, label):
    case = cases[label]
    s = _measure(_case_target(case))
    assert s.error_type is None, s.error
    assert (s.output_tokens, s.token_source) == (case.output_tokens, case.token_source)
    assert case.ttft_ms - 1 <= s.ttft_ms < case.ttft_ms + SLACK_MS
    assert case.ttfat_ms - 1 <= s.ttfat_ms < case.ttfat_ms + SLACK_MS


@pytest.mark.parametrize("label", ["OpenAI o4-mini", "Mistral AI", "Azure o4-mini"])
def test_the_same_requests_without_the_rules_are_refused_by_the_profile(cases, label):
    """The profiles are strict: the request ArgusLM used to send reads as down there."""
    import httpx

    case = cases[label]
    body = {
        "model": case.model_id,
        "messages": PROMPT,
        "max_tokens": 100,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if case.provider_type == "azure_openai":
        base = case.credentials["base_url"]
        url = f"{base}/openai/deployments/{case.model_id}/chat/completions?api-version=2024-10-21"
        headers = {"api-key": "k"}
    else:
        url, headers = case.credentials["base_url"] + "/chat/completions", {}
    answer = httpx.post(url, json=body, headers=headers, timeout=5)
    assert answer.status_code in (400, 422), answer.text


def _openai(llmsim, model, profile=None):
    base = f"{llmsim}/p/{profile}/v1" if profile else f"{llmsim}/v1"
    return catalog.build_target("custom_openai_compatible", {"base_url": base}, model)


def _litellm(llmsim, fmt, model, *, usage=True):
    if fmt == "anthropic":
        return catalog.build_target(
            "anthropic", {"api_key": "sk-ant-1234567", "base_url": llmsim}, model
        )
    return CallTarget(
        "ollama", model, "litellm", f"ollama_chat/{model}", litellm_kwargs={"api_base": llmsim}
    )


def test_a_server_without_usage_that_stops_at_the_limit_produced_exactly_the_limit(llmsim):
    # llama.cpp's server: one token per chunk, no usage in the stream, finish_reason "length".
    s = _measure(_openai(llmsim, "gemma/ttft=5/itl=1/n=300", "custom"), max_tokens=100)
    assert s.error_type is None
    assert (s.output_tokens, s.token_source, s.chunks) == (100, "limit", 100)


def test_without_usage_an_answer_that_ended_on_its_own_is_estimated_within_the_limit(llmsim):
    s = _measure(_openai(llmsim, "gemma/ttft=5/itl=1/n=40", "custom"), max_tokens=100)
    assert (s.output_tokens, s.token_source) == (40, "estimate")


@pytest.mark.parametrize("stream", [True, False])
def test_gzip_answers_and_gzip_error_bodies_are_decoded(llmsim, stream):
    s = _measure(_openai(llmsim, "sim/ttft=20/itl=2/n=8", "gzip"), stream=stream)
    assert s.error_type is None and s.output_tokens == 8
    failed = _measure(_openai(llmsim, "sim/status=429", "gzip"))
    assert failed.error_type == "rate_limited"
    assert "simulated 429 error" in failed.error


@pytest.mark.parametrize(
    ("route", "model"),
    [("openai", "sim/ttft=10/itl=2/n=5/finish=0"), ("anthropic", "sim/ttft=10/itl=2/n=5/finish=0")],
)
def test_a_stream_that_ends_without_a_finish_is_a_stream_error(llmsim, route, model):
    target = _openai(llmsim, model) if route == "openai" else _litellm(llmsim, route, model)
    s = _measure(target)
    assert s.error_type == "stream_error", (s.error_type, s.error)
    assert s.ttft_ms is not None  # what was seen before the cut is kept


@pytest.mark.parametrize("route", ["openai", "anthropic", "ollama"])
def test_an_answer_without_tokens_is_empty_response_on_every_route(llmsim, route):
    model = "sim/ttft=5/itl=1/n=0"
    target = _openai(llmsim, model) if route == "openai" else _litellm(llmsim, route, model)
    assert _measure(target).error_type == "empty_response"


@pytest.mark.parametrize("route", ["anthropic", "ollama"])
def test_litellm_route_says_usage_only_when_the_provider_reported_it(llmsim, route):
    with_usage = _measure(_litellm(llmsim, route, "sim/ttft=5/itl=1/n=9"))
    assert (with_usage.output_tokens, with_usage.token_source) == (9, "usage")
    without = _measure(_litellm(llmsim, route, "sim/ttft=5/itl=1/n=9/usage=0"))
    assert (without.output_tokens, without.token_source) == (9, "estimate")


@pytest.mark.parametrize("route", ["anthropic", "ollama"])
def test_litellm_route_reports_a_refused_host_as_connection(route):
    target = _litellm("http://127.0.0.1:9", route, "m")
    s = _measure(target)
    assert s.error_type == "connection"
    assert "HTTP 500" not in s.error and "Cannot connect" in s.error


def test_a_malformed_chunk_fails_that_sample_only(llmsim):
    s = _measure(_openai(llmsim, "sim/ttft=5/itl=1/n=6/bad=3"))
    assert s.error_type == "stream_error" and "Malformed" in s.error
    assert _measure(_openai(llmsim, "sim/ttft=5/itl=1/n=6")).ok


def test_comment_lines_before_the_first_token_do_not_count_as_tokens(llmsim):
    s = _measure(_openai(llmsim, "sim/ttft=80/itl=2/n=4/comments=3"))
    assert s.error_type is None and s.chunks == 4
    assert 79 <= s.ttft_ms < 80 + SLACK_MS


def test_late_usage_is_counted_but_does_not_lengthen_latency(llmsim):
    s = _measure(_openai(llmsim, "sim/ttft=20/itl=5/n=5/usage_ms=300"))
    assert (s.output_tokens, s.token_source) == (5, "usage")
    assert s.latency_ms < 40 + SLACK_MS  # the last token at 20 + 4 × 5 ms, not the usage


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_streamed_reasoning_counts_for_ttft_and_ttfat_waits_for_the_answer(llmsim, field):
    s = _measure(_openai(llmsim, f"sim/ttft=30/itl=10/reasoning=4/n=4/rfield={field}"))
    assert s.error_type is None and s.chunks == 8
    assert 29 <= s.ttft_ms < 30 + SLACK_MS
    assert s.ttfat_ms - s.ttft_ms == pytest.approx(40, abs=30)


@pytest.mark.parametrize(
    ("status", "error_type"), [(408, "timeout"), (413, "bad_request"), (422, "bad_request")]
)
def test_408_413_422_are_classified(llmsim, status, error_type):
    s = _measure(_openai(llmsim, f"sim/status={status}"))
    assert (s.error_type, s.status_code) == (error_type, status)


def test_hidden_reasoning_that_spends_the_whole_limit_is_empty_with_the_reason(llmsim):
    case_model = "o4-mini/ttft=5/itl=0/reasoning=2000/n=5"
    target = catalog.build_target(
        "openai", {"api_key": "sk-sim-key-0001", "base_url": f"{llmsim}/p/openai/v1"}, case_model
    )
    s = _measure(target, max_tokens=16)
    assert s.error_type == "empty_response"
    assert "spent on reasoning" in s.error and "1040-token limit" in s.error


def test_a_reused_connection_is_told_apart_from_a_new_one(llmsim):
    target = _openai(llmsim, "sim/ttft=5/itl=1/n=3")

    async def twice():
        async with new_http_client(FAST) as client:
            first = await measure(target, PROMPT, max_tokens=10, timeouts=FAST, client=client)
            second = await measure(target, PROMPT, max_tokens=10, timeouts=FAST, client=client)
            return first, second

    first, second = asyncio.run(twice())
    assert first.new_connection is True and first.connect_ms is not None
    assert second.new_connection is False and second.connect_ms is None
