"""The LLM simulator over real HTTP: wire formats, scripted failures and exact timing."""

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from arguslm.llmsim.scenarios import (
    ANSWERS,
    Scenario,
    ScenarioError,
    build_chunks,
    parse_model,
    timeline,
)
from arguslm.llmsim.server import start_in_thread

# Allowed lateness of a chunk as seen by the client: loopback, a busy CI box, GC pauses.
SLACK_MS = 30
MESSAGES = [{"role": "user", "content": "x" * 40}]  # 40 characters: 10 input tokens


@pytest.fixture(scope="module")
def sim() -> Iterator[httpx.Client]:
    url, stop = start_in_thread(seed=0)
    with httpx.Client(base_url=url, timeout=5) as client:
        yield client
    stop()


def openai_stream(
    client: httpx.Client, model: str, **extra: Any
) -> tuple[httpx.Response, list[tuple[float, Any]]]:
    """(response, [(ms since the request started, parsed data or "[DONE]")])."""
    body = {"model": model, "messages": MESSAGES, "stream": True, **extra}
    events = []
    start = time.perf_counter()
    with client.stream("POST", "/v1/chat/completions", json=body) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                at = (time.perf_counter() - start) * 1000
                data = line[6:]
                events.append((at, data if data == "[DONE]" else json.loads(data)))
    return resp, events


def deltas(events: list[tuple[float, Any]], field: str = "content") -> list[str]:
    return [
        e["choices"][0]["delta"][field]
        for _, e in events
        if e != "[DONE]" and e.get("choices") and field in e["choices"][0]["delta"]
    ]


def sse(resp: httpx.Response) -> list[tuple[str, Any]]:
    events, name = [], ""
    for line in resp.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_it_streams_openai_chunks_on_schedule(sim):
    resp, events = openai_stream(sim, "sim/ttft=50/itl=20/n=4")

    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["x-sim-scenario"] == "sim/ttft=50/itl=20/n=4/chunk=1"
    assert resp.headers["x-sim-ttft-ms"] == "50"
    assert resp.headers["x-sim-itl-ms"] == "20"
    assert resp.headers["x-sim-output-tokens"] == "4"
    assert resp.headers["x-sim-chunks"] == "4"
    role_at, role = events[0]
    assert role["object"] == "chat.completion.chunk"
    assert role["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]
    assert role_at < 50  # the role chunk goes out with the headers, before ttft
    token_events = events[1:5]
    assert [e["choices"][0]["delta"] for _, e in token_events] == [
        {"content": f"tok{i} "} for i in range(1, 5)
    ]
    for j, (at, _) in enumerate(token_events):
        scheduled = 50 + j * 20
        assert scheduled <= at <= scheduled + SLACK_MS, (j, at)
    assert events[5][1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert events[6:] == [(events[6][0], "[DONE]")]


def test_it_groups_tokens_into_chunks_of_the_requested_size(sim):
    resp, events = openai_stream(sim, "sim/ttft=0/itl=0/n=7/chunk=3")

    assert deltas(events)[1:] == ["tok1 tok2 tok3 ", "tok4 tok5 tok6 ", "tok7 "]
    assert resp.headers["x-sim-chunks"] == "3"
    assert resp.headers["x-sim-output-tokens"] == "7"


def test_it_streams_reasoning_before_the_answer_without_mixing_them(sim):
    resp, events = openai_stream(
        sim, "sim/ttft=0/itl=0/reasoning=3/n=2/chunk=2", stream_options={"include_usage": True}
    )

    token_deltas = [e["choices"][0]["delta"] for _, e in events[1:4]]
    assert token_deltas == [
        {"reasoning_content": "think1 think2 "},
        {"reasoning_content": "think3 "},
        {"content": "tok1 tok2 "},
    ]
    assert resp.headers["x-sim-chunks"] == "3"
    assert resp.headers["x-sim-output-tokens"] == "5"
    assert events[-2][1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}


def test_it_sends_a_usage_chunk_only_when_include_usage_is_requested(sim):
    _, with_usage = openai_stream(
        sim, "sim/ttft=0/itl=0/n=3", stream_options={"include_usage": True}
    )
    _, without = openai_stream(sim, "sim/ttft=0/itl=0/n=3")
    _, disabled = openai_stream(
        sim, "sim/ttft=0/itl=0/n=3/usage=0", stream_options={"include_usage": True}
    )

    usage_chunk = with_usage[-2][1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "total_tokens": 13,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert with_usage[-1][1] == "[DONE]"
    for events in (without, disabled):
        assert not any(e != "[DONE]" and "usage" in e for _, e in events)
        assert events[-2][1]["choices"][0]["finish_reason"] == "stop"


def test_the_input_key_overrides_the_estimated_prompt_tokens(sim):
    _, events = openai_stream(
        sim, "sim/ttft=0/itl=0/n=1/input=123", stream_options={"include_usage": True}
    )

    assert events[-2][1]["usage"]["prompt_tokens"] == 123


def test_it_omits_the_done_terminator_when_done_is_0(sim):
    _, events = openai_stream(sim, "sim/ttft=0/itl=0/n=2/done=0")

    assert [e for _, e in events if e == "[DONE]"] == []
    assert events[-1][1]["choices"][0]["finish_reason"] == "stop"


def test_it_streams_tool_call_argument_deltas_when_tool_is_1(sim):
    _, events = openai_stream(sim, "sim/ttft=0/itl=0/n=3/tool=1")

    calls = [e["choices"][0]["delta"]["tool_calls"][0] for _, e in events[1:4]]
    assert calls[0] == {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "answer", "arguments": "tok1 "},
    }
    assert calls[1:] == [
        {"index": 0, "function": {"arguments": "tok2 "}},
        {"index": 0, "function": {"arguments": "tok3 "}},
    ]
    assert events[4][1]["choices"][0]["finish_reason"] == "tool_calls"


def test_it_completes_normally_with_zero_tokens(sim):
    resp, events = openai_stream(sim, "sim/ttft=10/n=0")

    assert resp.headers["x-sim-chunks"] == "0"
    assert deltas(events) == [""]
    assert events[-2][1]["choices"][0]["finish_reason"] == "stop"
    assert events[-1][1] == "[DONE]"


def test_a_non_streaming_request_waits_for_the_last_chunk(sim):
    start = time.perf_counter()
    resp = sim.post(
        "/v1/chat/completions",
        json={"model": "sim/ttft=30/itl=10/n=3/reasoning=1", "messages": MESSAGES},
    )
    elapsed = (time.perf_counter() - start) * 1000

    assert 30 + 3 * 10 <= elapsed <= 30 + 3 * 10 + SLACK_MS
    body = resp.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "tok1 tok2 tok3 ",
        "reasoning_content": "think1 ",
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 10
    assert body["usage"]["completion_tokens"] == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503, 529])
def test_it_returns_each_scripted_status_at_once(sim, status):
    resp = sim.post(
        "/v1/chat/completions",
        json={"model": f"sim/status={status}/retry_after=7", "messages": MESSAGES},
    )

    assert resp.status_code == status
    error = resp.json()["error"]
    assert error["message"] == f"simulated {status} error"
    assert error["param"] is None
    assert set(error) == {"message", "type", "param", "code"}
    assert resp.headers.get("retry-after") == ("7" if status in (429, 529) else None)
    assert (
        resp.headers["x-sim-scenario"]
        == f"sim/ttft=200/itl=20/n=20/chunk=1/status={status}/retry_after=7"
    )


def test_the_down_model_answers_503_in_every_format(sim):
    openai = sim.post("/v1/chat/completions", json={"model": "down", "messages": MESSAGES})
    anthropic = sim.post("/v1/messages", json={"model": "down", "messages": MESSAGES})
    ollama = sim.post("/api/chat", json={"model": "down:latest", "messages": MESSAGES})

    assert openai.status_code == anthropic.status_code == ollama.status_code == 503
    assert openai.json()["error"]["type"] == "server_error"
    assert anthropic.json() == {
        "type": "error",
        "error": {"type": "api_error", "message": "simulated 503 error"},
    }
    assert ollama.json() == {"error": "simulated 503 error"}


def test_it_cuts_the_connection_on_drop(sim):
    received = []
    body = {"model": "sim/ttft=0/itl=10/n=5/drop=2", "messages": MESSAGES, "stream": True}

    with (
        pytest.raises(httpx.RemoteProtocolError),
        sim.stream("POST", "/v1/chat/completions", json=body) as resp,
    ):
        for line in resp.iter_lines():
            if line.startswith("data: "):
                received.append(json.loads(line[6:]))

    assert deltas([(0, e) for e in received]) == ["", "tok1 ", "tok2 "]
    record = sim.get("/_sim/requests", params={"limit": 1}).json()["requests"][0]
    assert (record["outcome"], record["chunks_sent"], record["status"]) == ("dropped", 2, 200)


def test_it_ends_the_stream_with_an_error_event(sim):
    _, events = openai_stream(sim, "sim/ttft=0/itl=0/n=5/error=2")

    assert deltas(events) == ["", "tok1 ", "tok2 "]
    assert events[-1][1] == {
        "error": {
            "message": "simulated error after 2 chunks",
            "type": "server_error",
            "code": "internal_error",
        }
    }
    assert len(events) == 4  # role, two tokens, error: no finish chunk, no [DONE]


def test_it_sends_headers_but_no_token_when_stall_is_0(sim):
    body = {"model": "sim/ttft=0/n=5/stall=0", "messages": MESSAGES, "stream": True}
    lines = []

    with (
        pytest.raises(httpx.ReadTimeout),
        sim.stream(
            "POST", "/v1/chat/completions", json=body, timeout=httpx.Timeout(5, read=0.3)
        ) as resp,
    ):
        assert resp.status_code == 200
        lines.extend(line for line in resp.iter_lines() if line)

    assert [json.loads(line[6:])["choices"][0]["delta"] for line in lines] == [
        {"role": "assistant", "content": ""}
    ]


def test_a_stall_delays_the_rest_of_the_stream_by_stall_ms(sim):
    _, events = openai_stream(sim, "sim/ttft=0/itl=0/n=3/stall=1/stall_ms=100")

    tok1, tok2 = events[1][0], events[2][0]
    assert tok1 < 100 <= tok2 <= 100 + SLACK_MS
    assert deltas(events) == ["", "tok1 ", "tok2 ", "tok3 "]


def test_hang_holds_back_the_response_headers(sim):
    start = time.perf_counter()
    with sim.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "sim/hang=80/ttft=0/n=1", "messages": MESSAGES, "stream": True},
    ) as resp:
        headers_at = (time.perf_counter() - start) * 1000
        resp.read()

    assert 80 <= headers_at <= 80 + SLACK_MS


def expected_failures(seed: int, model: str, fraction: float, count: int) -> list[bool]:
    rng = random.Random(f"{seed}:{model}")
    return [rng.random() < fraction for _ in range(count)]


def test_flaky_failures_follow_the_seeded_sequence(sim):
    model = "sim/ttft=0/itl=0/n=1/flaky=0.5/flaky_status=429"
    body = {"model": model, "messages": MESSAGES}
    second_url, stop_second = start_in_thread(seed=0)
    try:
        with httpx.Client(base_url=second_url) as other:
            first = [sim.post("/v1/chat/completions", json=body) for _ in range(20)]
            again = [other.post("/v1/chat/completions", json=body) for _ in range(20)]
    finally:
        stop_second()

    pattern = [r.status_code == 429 for r in first]
    assert pattern == expected_failures(0, model, 0.5, 20)
    assert [r.status_code == 429 for r in again] == pattern
    assert pattern != expected_failures(1, model, 0.5, 20)  # the seed matters
    assert 5 <= sum(pattern) <= 15
    assert {r.status_code for r in first} == {200, 429}
    assert all(r.headers["retry-after"] == "1" for r in first if r.status_code == 429)


def test_the_seed_key_overrides_the_server_seed(sim):
    model = "sim/ttft=0/itl=0/n=1/flaky=0.5/seed=42"
    body = {"model": model, "messages": MESSAGES}

    pattern = [sim.post("/v1/chat/completions", json=body).status_code == 500 for _ in range(10)]

    assert pattern == expected_failures(42, model, 0.5, 10)


def test_it_streams_anthropic_events_in_order_with_usage(sim):
    body = {
        "model": "sim/ttft=0/itl=0/reasoning=1/n=2",
        "system": "y" * 8,
        "messages": MESSAGES,
        "stream": True,
        "max_tokens": 100,
    }
    with sim.stream("POST", "/v1/messages", json=body) as resp:
        events = sse(resp)

    assert [(name, data["type"]) for name, data in events] == [
        (name, name)
        for name in [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    ]
    assert events[0][1]["message"]["usage"] == {"input_tokens": 12, "output_tokens": 1}
    assert events[1][1]["content_block"] == {"type": "thinking", "thinking": ""}
    assert events[3][1]["delta"] == {"type": "thinking_delta", "thinking": "think1 "}
    assert events[4][1]["delta"]["type"] == "signature_delta"
    assert events[6][1] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "text", "text": ""},
    }
    assert [e[1]["delta"] for e in events[7:9]] == [
        {"type": "text_delta", "text": "tok1 "},
        {"type": "text_delta", "text": "tok2 "},
    ]
    assert events[10][1]["delta"]["stop_reason"] == "end_turn"
    assert events[10][1]["usage"] == {"output_tokens": 3}


def test_it_sends_an_anthropic_error_event_mid_stream(sim):
    body = {"model": "sim/ttft=0/itl=0/n=3/error=1", "messages": MESSAGES, "stream": True}
    with sim.stream("POST", "/v1/messages", json=body) as resp:
        events = sse(resp)

    assert events[-1] == (
        "error",
        {
            "type": "error",
            "error": {"type": "api_error", "message": "simulated error after 1 chunks"},
        },
    )
    assert [name for name, _ in events].count("content_block_delta") == 1


def test_it_paginates_anthropic_models(sim):
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant"}

    first = sim.get("/v1/models", headers=headers).json()
    rest = sim.get("/v1/models", headers=headers, params={"after_id": first["last_id"]}).json()
    everything = sim.get("/v1/models", headers=headers, params={"limit": 1000}).json()
    too_many = sim.get("/v1/models", headers=headers, params={"limit": 1001})

    assert len(first["data"]) == 20 and first["has_more"] is True
    assert first["first_id"] == "fast-small"
    assert first["data"][0] == {
        "type": "model",
        "id": "fast-small",
        "display_name": "Fast Small",
        "created_at": "2025-01-01T00:00:00Z",
    }
    assert len(rest["data"]) == 12 and rest["has_more"] is False
    assert rest["last_id"] == "claude-sim-25"
    assert [m["id"] for m in everything["data"]] == [m["id"] for m in first["data"] + rest["data"]]
    assert too_many.status_code == 400
    assert too_many.json()["error"]["type"] == "invalid_request_error"


def test_it_lists_openai_models_without_anthropic_headers(sim):
    body = sim.get("/v1/models", headers={"Authorization": "Bearer sk-test"}).json()

    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [
        "fast-small",
        "balanced-medium",
        "slow-large",
        "reasoner",
        "flaky",
        "rate-limited",
        "down",
    ]
    assert body["data"][0]["owned_by"] == "llmsim"


def test_together_lists_models_as_a_bare_array(sim):
    body = sim.get("/together/v1/models").json()

    assert isinstance(body, list)
    assert body[0]["id"] == "fast-small"
    assert body[0]["object"] == "model"
    chat = sim.post(
        "/together/v1/chat/completions",
        json={"model": "sim/ttft=0/n=2", "messages": MESSAGES},
    )
    assert chat.json()["choices"][0]["message"]["content"] == "tok1 tok2 "


def test_it_streams_ollama_ndjson_and_lists_tags(sim):
    body = {"model": "fast-small:latest/ttft=0/itl=0/n=2/reasoning=1", "messages": MESSAGES}
    with sim.stream("POST", "/api/chat", json=body) as resp:
        lines = [json.loads(line) for line in resp.iter_lines() if line]
    tags = sim.get("/api/tags").json()["models"]

    assert resp.headers["content-type"] == "application/x-ndjson"
    assert resp.headers["x-sim-scenario"] == "sim/ttft=0/itl=0/n=2/chunk=1/reasoning=1"
    assert [line["message"] for line in lines[:3]] == [
        {"role": "assistant", "content": "", "thinking": "think1 "},
        {"role": "assistant", "content": "tok1 "},
        {"role": "assistant", "content": "tok2 "},
    ]
    assert all(line["done"] is False for line in lines[:3])
    final = lines[3]
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert (final["prompt_eval_count"], final["eval_count"]) == (10, 3)
    assert final["total_duration"] >= final["eval_duration"] >= 0
    assert len(lines) == 4
    assert tags[0]["name"] == tags[0]["model"] == "fast-small:latest"
    assert tags[0]["details"]["format"] == "gguf"
    assert len(tags) == 7


def test_ollama_answers_in_one_object_when_stream_is_false(sim):
    resp = sim.post(
        "/api/chat",
        json={"model": "sim/ttft=0/itl=0/n=2/usage=0", "messages": MESSAGES, "stream": False},
    )

    body = resp.json()
    assert body["message"] == {"role": "assistant", "content": "tok1 tok2 "}
    assert body["done"] is True
    assert "eval_count" not in body and "prompt_eval_count" not in body


def test_gemini_models_paginate_with_page_tokens(sim):
    pages, token = [], ""
    while True:
        page = sim.get("/v1beta/models", params={"pageToken": token} if token else {}).json()
        pages.append(page)
        token = page.get("nextPageToken")
        if not token:
            break

    assert [len(p["models"]) for p in pages] == [3, 3, 1]
    models = [m for p in pages for m in p["models"]]
    assert [m["name"] for m in models] == [f"models/gemini-sim-{i}" for i in range(1, 8)]
    embedding = [m["name"] for m in models if m["supportedGenerationMethods"] == ["embedContent"]]
    assert embedding == ["models/gemini-sim-3", "models/gemini-sim-6"]
    assert sim.get("/v1beta/models", params={"pageSize": 10}).json().get("nextPageToken") is None


def test_an_invalid_key_gets_401_in_each_format(sim):
    bearer = {"Authorization": "Bearer invalid-key"}
    chat = {"model": "sim/ttft=0/n=1", "messages": MESSAGES}

    openai = sim.post("/v1/chat/completions", json=chat, headers=bearer)
    openai_models = sim.get("/v1/models", headers=bearer)
    together = sim.get("/together/v1/models", headers=bearer)
    anthropic = sim.post("/v1/messages", json=chat, headers={"x-api-key": "invalid"})
    anthropic_models = sim.get("/v1/models", headers={"x-api-key": "invalid"})
    ollama = sim.post("/api/chat", json=chat, headers=bearer)
    ollama_tags = sim.get("/api/tags", headers=bearer)
    gemini = sim.get("/v1beta/models", params={"key": "invalid"})

    responses = [
        openai,
        openai_models,
        together,
        anthropic,
        anthropic_models,
        ollama,
        ollama_tags,
        gemini,
    ]
    assert [r.status_code for r in responses] == [401] * 8
    assert openai.json()["error"]["code"] == "invalid_api_key"
    assert together.json()["error"]["code"] == "invalid_api_key"
    assert anthropic.json()["error"]["type"] == "authentication_error"
    assert anthropic_models.json()["error"]["type"] == "authentication_error"
    assert "error" in ollama.json() and "error" in ollama_tags.json()
    assert gemini.json()["error"]["status"] == "UNAUTHENTICATED"
    assert openai.headers["x-sim-scenario"] == "sim/ttft=0/itl=20/n=1/chunk=1"


def test_an_unknown_scenario_key_gets_400_naming_it(sim):
    unknown = sim.post("/v1/chat/completions", json={"model": "sim/ttft=10/bogus=1"})
    bad_value = sim.post("/v1/messages", json={"model": "fast-small/itl=fast"})
    bad_status = sim.post("/api/chat", json={"model": "sim/status=418"})

    assert unknown.status_code == bad_value.status_code == bad_status.status_code == 400
    assert "'bogus'" in unknown.json()["error"]["message"]
    assert bad_value.json()["error"]["type"] == "invalid_request_error"
    assert bad_value.json()["error"]["message"].startswith("itl=")
    assert bad_status.json()["error"].startswith("status=")


def test_an_unknown_model_gets_404_in_the_providers_format(sim):
    openai = sim.post("/v1/chat/completions", json={"model": "gpt-4o"})
    anthropic = sim.post("/v1/messages", json={"model": "claude-3"})
    ollama = sim.post("/api/chat", json={"model": "llama3"})

    assert openai.status_code == anthropic.status_code == ollama.status_code == 404
    assert openai.json()["error"]["code"] == "model_not_found"
    assert anthropic.json()["error"]["type"] == "not_found_error"
    assert ollama.json() == {"error": 'model "llama3" not found, try pulling it first'}


def test_the_request_log_records_first_chunk_sent_ms(sim):
    resp, _ = openai_stream(sim, "sim/ttft=40/itl=0/n=2")

    log = sim.get("/_sim/requests", params={"limit": 5}).json()["requests"]
    record = log[0]
    assert record["id"] == resp.headers["x-sim-request-id"]
    assert record["model"] == "sim/ttft=40/itl=0/n=2"
    assert record["format"] == "openai"
    assert record["scheduled_ttft_ms"] == 40
    assert 40 <= record["first_chunk_sent_ms"] <= 40 + 10
    assert record["chunks_sent"] == 2
    assert record["status"] == 200
    assert abs(record["received_at"] - time.time()) < 5
    assert log[1]["received_at"] <= record["received_at"]  # newest first
    assert sim.get("/_sim/health").json() == {"status": "ok"}


def test_a_model_name_round_trips_through_its_canonical_spec():
    scenario = parse_model("reasoner/n=3/stall=1/stall_ms=5/hang=1.5")

    assert scenario == Scenario(ttft=300, itl=15, reasoning=40, n=3, stall=1, stall_ms=5, hang=1.5)
    assert parse_model(scenario.spec()) == scenario
    assert parse_model("gpt-4o") is None
    with pytest.raises(ScenarioError) as excinfo:
        parse_model("sim/chunk=0")
    assert excinfo.value.key == "chunk"


def test_the_timeline_puts_drop_error_and_stall_at_chunk_slots():
    events = timeline(Scenario(ttft=100, itl=10, n=4, stall=2, stall_ms=50, error=3))

    assert [(e.kind, e.at_ms) for e in events] == [
        ("chunk", 100),
        ("chunk", 110),
        ("chunk", 170),
        ("error", 180),
    ]
    beyond = timeline(Scenario(ttft=100, itl=10, n=2, drop=9))
    assert [(e.kind, e.at_ms) for e in beyond] == [("chunk", 100), ("chunk", 110), ("drop", 110)]


def test_anthropic_answers_in_one_message_when_not_streaming(sim):
    resp = sim.post(
        "/v1/messages",
        json={"model": "sim/ttft=0/itl=0/reasoning=1/n=2", "messages": MESSAGES, "max_tokens": 9},
    )

    body = resp.json()
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["content"] == [
        {"type": "thinking", "thinking": "think1 ", "signature": "llmsim"},
        {"type": "text", "text": "tok1 tok2 "},
    ]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"] == {"input_tokens": 10, "output_tokens": 3}


def test_a_non_streaming_drop_closes_the_connection_without_a_response(sim):
    with pytest.raises(httpx.RemoteProtocolError):
        sim.post("/v1/chat/completions", json={"model": "sim/ttft=0/n=3/drop=1"})


def raw_stream(
    client: httpx.Client, path: str, body: dict[str, Any]
) -> tuple[httpx.Response, list[tuple[float, str]]]:
    """(response, [(ms since the request started, line)]) for every non-empty line."""
    lines = []
    start = time.perf_counter()
    with client.stream("POST", path, json=body) as resp:
        for line in resp.iter_lines():
            if line:
                lines.append(((time.perf_counter() - start) * 1000, line))
    return resp, lines


def test_comments_are_spread_between_the_headers_and_the_first_token(sim):
    body = {"model": "sim/ttft=120/itl=0/n=1/comments=3", "messages": MESSAGES, "stream": True}
    _, lines = raw_stream(sim, "/v1/chat/completions", body)

    comments = [(at, line) for at, line in lines if line.startswith(":")]
    assert [line for _, line in comments] == [": keep-alive"] * 3
    for i, (at, _) in enumerate(comments, 1):
        assert 30 * i <= at <= 30 * i + SLACK_MS, (i, at)
    first_token = next(at for at, line in lines if "tok1" in line)
    assert 120 <= first_token <= 120 + SLACK_MS


def test_usage_ms_delays_only_the_usage_chunk(sim):
    resp, events = openai_stream(
        sim, "sim/ttft=0/itl=0/n=2/usage_ms=100", stream_options={"include_usage": True}
    )

    finish_at, finish = events[-3]
    usage_at, usage = events[-2]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert finish_at < 100 and usage["choices"] == []
    assert 100 <= usage_at <= 100 + SLACK_MS
    assert usage["usage"]["completion_tokens"] == 2
    assert events[-1][1] == "[DONE]"
    assert resp.headers["x-sim-ttft-ms"] == "0"


def test_finish_0_ends_the_stream_after_the_last_token(sim):
    _, events = openai_stream(
        sim, "sim/ttft=0/itl=0/n=2/finish=0", stream_options={"include_usage": True}
    )
    body = {"model": "sim/ttft=0/itl=0/n=1/finish=0", "messages": MESSAGES, "stream": True}
    with sim.stream("POST", "/v1/messages", json=body) as resp:
        anthropic = [name for name, _ in sse(resp)]
    record = sim.get("/_sim/requests", params={"limit": 1}).json()["requests"][0]

    assert deltas(events) == ["", "tok1 ", "tok2 "]
    assert len(events) == 3  # role and tokens: no finish, no usage, no [DONE]
    assert anthropic[-1] == "content_block_delta"
    assert record["outcome"] == "unfinished"


def test_rfield_picks_the_reasoning_delta_field(sim):
    _, events = openai_stream(sim, "sim/ttft=0/itl=0/reasoning=1/n=1/rfield=reasoning")
    resp = sim.post(
        "/v1/chat/completions",
        json={"model": "sim/ttft=0/itl=0/reasoning=1/n=1/rfield=reasoning", "messages": MESSAGES},
    )

    assert deltas(events, "reasoning") == ["think1 "]
    assert deltas(events, "reasoning_content") == []
    assert resp.json()["choices"][0]["message"]["reasoning"] == "think1 "
    assert (
        sim.post("/v1/chat/completions", json={"model": "sim/rfield=thinking"}).status_code == 400
    )


def test_bad_sends_a_malformed_event_then_carries_on(sim):
    body = {"model": "sim/ttft=0/itl=0/n=3/bad=1", "messages": MESSAGES, "stream": True}
    _, lines = raw_stream(sim, "/v1/chat/completions", body)

    data = [line for _, line in lines]
    assert data[2] == 'data: {"choices":[null]}'
    assert [
        json.loads(d[6:])["choices"][0]["delta"].get("content") for d in data[1:2] + data[3:5]
    ] == [
        "tok1 ",
        "tok2 ",
        "tok3 ",
    ]
    assert data[-1] == "data: [DONE]"


@pytest.mark.parametrize("status", [408, 413, 422])
def test_the_new_statuses_come_in_each_format(sim, status):
    model = f"sim/status={status}"
    openai = sim.post("/v1/chat/completions", json={"model": model})
    anthropic = sim.post("/v1/messages", json={"model": model})
    ollama = sim.post("/api/chat", json={"model": model})

    assert openai.status_code == anthropic.status_code == ollama.status_code == status
    assert openai.json()["error"]["type"] == "invalid_request_error"
    expected = {408: "timeout_error", 413: "request_too_large", 422: "invalid_request_error"}
    assert anthropic.json()["error"]["type"] == expected[status]
    assert ollama.json() == {"error": f"simulated {status} error"}


def test_the_new_keys_round_trip_and_take_their_slots():
    scenario = parse_model(
        "sim/ttft=100/itl=10/n=2/comments=1/usage_ms=5/finish=0/rfield=reasoning/bad=1"
    )

    assert parse_model(scenario.spec()) == scenario
    assert scenario.spec().endswith("/comments=1/usage_ms=5/finish=0/rfield=reasoning/bad=1")
    assert [(e.kind, e.at_ms) for e in timeline(scenario)] == [
        ("comment", 50),
        ("chunk", 100),
        ("bad", 110),
        ("chunk", 110),
        ("finish", 110),
        ("usage", 115),
    ]


def test_answer_scripts_the_text_and_n_counts_its_tokens():
    scenario = parse_model("fast-small/answer=json")
    cut = parse_model("sim/n=2/answer=json")

    assert scenario.n == 6
    assert "".join(c.text for c in build_chunks(scenario)) == ANSWERS["json"]
    assert parse_model(scenario.spec()) == scenario
    assert scenario.spec().endswith("/n=6/chunk=1/answer=json")
    assert "".join(c.text for c in build_chunks(cut)) == '{"status": "ok", '
    assert parse_model(cut.spec()) == cut
    assert parse_model("sim/n=99/answer=four").n == 5
    with pytest.raises(ScenarioError) as excinfo:
        parse_model("sim/answer=poem")
    assert excinfo.value.key == "answer"


def test_openai_streams_the_scripted_answer_with_its_token_count(sim):
    resp, events = openai_stream(
        sim, "sim/ttft=0/itl=0/chunk=2/answer=json", stream_options={"include_usage": True}
    )

    assert "".join(deltas(events)) == ANSWERS["json"]
    assert resp.headers["x-sim-output-tokens"] == "6"
    assert resp.headers["x-sim-chunks"] == "3"
    assert events[-2][1]["usage"]["completion_tokens"] == 6


def test_openai_answers_the_scripted_text_when_not_streaming(sim):
    resp = sim.post(
        "/v1/chat/completions",
        json={"model": "sim/ttft=0/itl=0/reasoning=2/answer=refusal", "messages": MESSAGES},
    )

    body = resp.json()
    assert body["choices"][0]["message"]["content"] == ANSWERS["refusal"]
    assert body["choices"][0]["message"]["reasoning_content"] == "think1 think2 "
    assert body["usage"]["completion_tokens"] == int(resp.headers["x-sim-output-tokens"]) == 11


def test_tool_streams_the_json_answer_as_arguments(sim):
    _, events = openai_stream(sim, "sim/ttft=0/itl=0/tool=1/answer=json")

    arguments = "".join(
        e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for _, e in events
        if e != "[DONE]" and "tool_calls" in e["choices"][0]["delta"]
    )
    assert json.loads(arguments) == {"status": "ok", "items": [1, 2, 3]}


def test_anthropic_streams_the_scripted_answer_after_the_reasoning(sim):
    body = {
        "model": "sim/ttft=0/itl=0/chunk=3/reasoning=1/answer=count",
        "messages": MESSAGES,
        "stream": True,
        "max_tokens": 100,
    }
    with sim.stream("POST", "/v1/messages", json=body) as resp:
        events = sse(resp)

    deltas_ = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert deltas_[0] == {"type": "thinking_delta", "thinking": "think1 "}
    text = "".join(d["text"] for d in deltas_ if d["type"] == "text_delta")
    assert text == ANSWERS["count"]
    assert events[-2][1]["usage"]["output_tokens"] == 21
    assert resp.headers["x-sim-output-tokens"] == "21"


def test_ollama_streams_and_completes_the_scripted_answer(sim):
    body = {"model": "sim/ttft=0/itl=0/answer=four", "messages": MESSAGES}
    with sim.stream("POST", "/api/chat", json=body) as resp:
        lines = [json.loads(line) for line in resp.iter_lines() if line]
    whole = sim.post("/api/chat", json={**body, "stream": False}).json()

    assert "".join(line["message"]["content"] for line in lines) == "2 + 2 = 4"
    assert lines[-1]["eval_count"] == int(resp.headers["x-sim-output-tokens"]) == 5
    assert whole["message"] == {"role": "assistant", "content": "2 + 2 = 4"}
    assert whole["eval_count"] == 5


def test_the_empty_answer_still_finishes_cleanly(sim):
    resp, events = openai_stream(sim, "sim/ttft=0/answer=empty")
    anthropic = {"model": "sim/ttft=0/answer=empty", "stream": True, "max_tokens": 9}
    with sim.stream("POST", "/v1/messages", json=anthropic) as messages:
        names = [name for name, _ in sse(messages)]

    assert resp.headers["x-sim-output-tokens"] == resp.headers["x-sim-chunks"] == "0"
    assert deltas(events) == [""]
    assert events[-2][1]["choices"][0]["finish_reason"] == "stop"
    assert events[-1][1] == "[DONE]"
    assert "content_block_delta" not in names
    assert names[-2:] == ["message_delta", "message_stop"]


def test_served_reports_an_alternative_model_name(sim):
    model = "sim/ttft=0/itl=0/n=1/served=alt"
    openai = sim.post("/v1/chat/completions", json={"model": model})
    anthropic = sim.post("/v1/messages", json={"model": model, "max_tokens": 9})
    ollama = sim.post("/api/chat", json={"model": model, "stream": False})

    assert openai.json()["model"] == anthropic.json()["model"] == ollama.json()["model"]
    assert openai.json()["model"] == "sim/ttft=0/itl=0/n=1/served=alt-v2"
    assert parse_model(openai.headers["x-sim-scenario"]).served == "alt"
