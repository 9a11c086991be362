"""Bounded decoding of provider bodies, and how output tokens are counted without usage."""

import gzip
import zlib

import pytest

from arguslm.llm import rules, wire
from arguslm.llm.measure import _Collector, _handle_event, _StreamFailure, estimate_output_tokens
from arguslm.llm.types import CallTarget

TARGET = CallTarget("custom_openai_compatible", "m", "openai", "openai/m", base_url="http://x/v1")
PROMPT = [{"role": "user", "content": "hello"}]


def _stream_compressor():
    return zlib.compressobj(wbits=31)


def test_gzip_is_decoded_read_by_read_so_each_event_arrives_when_sent():
    compressor = _stream_compressor()
    decoder = wire.Decoder("gzip")
    for event in (b"data: one\n\n", b"data: two\n\n"):
        raw = compressor.compress(event) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert decoder.feed(raw) == event  # not held back until the end of the body


@pytest.mark.parametrize("encoding", ["deflate", "x-gzip", "identity", "", None, "gzip, identity"])
def test_common_encodings_decode(encoding):
    body = b'{"error": {"message": "bad key"}}'
    if encoding in ("x-gzip", "gzip, identity"):
        raw = gzip.compress(body)
    elif encoding == "deflate":
        raw = zlib.compress(body)
    else:
        raw = body
    assert wire.Decoder(encoding).feed(raw) == body


def test_a_compression_bomb_stops_at_the_limit_without_expanding():
    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))  # ~4 KiB that expands to 4 MiB
    with pytest.raises(wire.BodyError, match="limit"):
        wire.Decoder("gzip", limit=64 * 1024).feed(bomb)


def test_raw_bytes_past_the_limit_are_refused():
    decoder = wire.Decoder(None, limit=10)
    decoder.feed(b"12345")
    with pytest.raises(wire.BodyError, match="limit"):
        decoder.feed(b"678901")


@pytest.mark.parametrize(
    ("encoding", "raw", "message"),
    [
        ("gzip", b"not gzip at all", "Corrupt"),
        ("br", b"x", "Unsupported"),
        ("gzip, br", b"", "stacked"),
    ],
)
def test_corrupt_or_unknown_encodings_are_classified(encoding, raw, message):
    with pytest.raises(wire.BodyError, match=message):
        wire.Decoder(encoding).feed(raw)


def _collect(events, *, limit=100):
    col = _Collector(0, limit=limit)
    for i, event in enumerate(events):
        _handle_event(col, (i + 1) * 1_000_000, event)
    return col.sample(TARGET, PROMPT, streamed=True)


def _chunk(content=None, finish=None):
    import json

    delta = {} if content is None else {"content": content}
    return json.dumps({"choices": [{"delta": delta, "finish_reason": finish}]}).encode()


def test_a_stream_stopped_at_the_limit_without_usage_produced_exactly_the_limit():
    # llama.cpp's server: one token per chunk, no usage, finish_reason "length".
    events = [_chunk(" word") for _ in range(64)] + [_chunk(finish="length"), b"[DONE]"]
    s = _collect(events, limit=64)
    assert (s.output_tokens, s.token_source) == (64, "limit")


def test_reported_usage_wins_over_the_limit():
    usage = b'{"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 63}}'
    events = [_chunk(" w"), _chunk(finish="length"), usage, b"[DONE]"]
    s = _collect(events, limit=64)
    assert (s.output_tokens, s.token_source, s.input_tokens) == (63, "usage", 9)


def test_groq_usage_under_x_groq_counts_as_usage():
    last = b'{"choices": [], "x_groq": {"usage": {"prompt_tokens": 3, "completion_tokens": 2}}}'
    s = _collect([_chunk("a"), _chunk("b", finish="stop"), last])
    assert (s.output_tokens, s.token_source) == (2, "usage")


def test_one_token_per_chunk_is_estimated_by_the_chunk_count():
    s = _collect([_chunk(" word") for _ in range(10)] + [_chunk(finish="stop")])
    assert (s.output_tokens, s.token_source) == (10, "estimate")


def test_multi_token_chunks_are_estimated_by_the_tokenizer():
    text = "The quick brown fox jumps over the lazy dog near the river bank today."
    s = _collect([_chunk(text), _chunk(finish="stop")])
    assert s.token_source == "estimate"
    assert 12 <= s.output_tokens <= 20  # the tokenizer's count, not 1 chunk


def test_an_estimate_never_exceeds_the_limit():
    assert estimate_output_tokens("x " * 500, 1, limit=50) == 50
    assert estimate_output_tokens(" a" * 80, 80, limit=64) == 64


@pytest.mark.parametrize("bad", [b'{"choices": [null]}', b'{"choices": "x"}', b"[1, 2]", b"{oops"])
def test_a_malformed_event_is_a_stream_failure_not_an_exception(bad):
    with pytest.raises(_StreamFailure):
        _handle_event(_Collector(0), 1, bad)


def test_hidden_reasoning_that_spent_the_limit_says_so():
    usage = (
        b'{"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 64,'
        b' "completion_tokens_details": {"reasoning_tokens": 64}}}'
    )
    s = _collect([_chunk(finish="length"), usage, b"[DONE]"], limit=64)
    assert s.error_type == "empty_response"
    assert "spent on reasoning (64 reasoning tokens)" in s.error


@pytest.mark.parametrize(
    ("provider_type", "model", "limit_param", "effort", "stream_usage"),
    [
        ("openai", "gpt-4o-mini", "max_completion_tokens", None, True),
        ("openai", "o4-mini", "max_completion_tokens", "low", True),
        ("openai", "gpt-5-mini", "max_completion_tokens", "low", True),
        ("openai", "gpt-5-chat-latest", "max_completion_tokens", None, True),
        ("azure_openai", "o3-mini", "max_completion_tokens", "low", True),
        ("azure_openai", "my-gpt4o-deployment", "max_completion_tokens", None, True),
        ("mistral", "mistral-small-latest", "max_tokens", None, False),
        ("groq", "llama-3.1-8b-instant", "max_tokens", None, True),
        ("ollama", "llama3.2", "max_tokens", None, True),
        ("custom_openai_compatible", "gemma", "max_tokens", None, True),
    ],
)
def test_request_rules_per_provider(provider_type, model, limit_param, effort, stream_usage):
    r = rules.rules_for(provider_type, model)
    body = r.openai_body(model, PROMPT, max_tokens=64, stream=True, temperature=0.0)
    other = ({"max_tokens", "max_completion_tokens"} - {limit_param}).pop()
    assert limit_param in body and other not in body
    assert body.get("reasoning_effort") == effort
    assert ("stream_options" in body) is stream_usage
    assert ("temperature" in body) is (effort is None)  # reasoning models take no temperature
    assert body[limit_param] == (64 + rules.REASONING_HEADROOM if effort else 64)
