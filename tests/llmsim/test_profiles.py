"""Strict provider profiles over real HTTP: what each provider accepts, rejects and sends."""

import asyncio
import base64
import gzip
import json
import os
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from arguslm.llmsim import eventstream
from arguslm.llmsim.accounts import service_account
from arguslm.llmsim.profiles import VERTEX_TOKEN
from arguslm.llmsim.scenarios import Scenario, ScenarioError, limit_output, parse_provider_model
from tests.llmsim.test_llmsim import sse

SLACK_MS = 30  # allowed lateness of an event as seen by the client
MESSAGES = [{"role": "user", "content": "x" * 40}]  # 10 input tokens
TEXT_PARTS = {"parts": [{"text": "x" * 40}], "role": "user"}


@pytest.fixture(scope="module")
def sim(llmsim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=llmsim, timeout=5) as client:
        yield client


def stream_lines(
    client: httpx.Client, path: str, body: Any, **kwargs: Any
) -> tuple[httpx.Response, list[tuple[float, str]]]:
    """(response, [(ms since the request started, line)]) for every non-empty line."""
    lines = []
    start = time.perf_counter()
    with client.stream("POST", path, json=body, **kwargs) as resp:
        for line in resp.iter_lines():
            if line:
                lines.append(((time.perf_counter() - start) * 1000, line))
    return resp, lines


def data_events(lines: list[tuple[float, str]]) -> list[tuple[float, Any]]:
    return [
        (at, line[6:] if line == "data: [DONE]" else json.loads(line[6:]))
        for at, line in lines
        if line.startswith("data: ")
    ]


def chat(
    client: httpx.Client, profile: str, model: str, **extra: Any
) -> tuple[httpx.Response, list[tuple[float, Any]]]:
    body = {"model": model, "messages": MESSAGES, "stream": True, **extra}
    resp, lines = stream_lines(client, f"/p/{profile}/v1/chat/completions", body)
    return resp, data_events(lines)


def deltas(events: list[tuple[float, Any]], field: str = "content") -> list[Any]:
    return [
        e["choices"][0]["delta"][field]
        for _, e in events
        if isinstance(e, dict) and e.get("choices") and field in e["choices"][0]["delta"]
    ]


def finish_reasons(events: list[tuple[float, Any]]) -> list[str]:
    return [
        e["choices"][0]["finish_reason"]
        for _, e in events
        if isinstance(e, dict) and e.get("choices") and e["choices"][0]["finish_reason"]
    ]


def assert_on_schedule(
    events: list[tuple[float, Any]], ttft: float, itl: float, count: int
) -> None:
    """The token-bearing chunks (any non-empty delta but the role chunk) arrive on time."""
    arrivals = [
        at
        for at, e in events
        if isinstance(e, dict)
        and e.get("choices")
        and any(v for k, v in e["choices"][0]["delta"].items() if k != "role")
    ]
    assert len(arrivals) == count
    for j, at in enumerate(arrivals):
        assert ttft + j * itl <= at <= ttft + j * itl + SLACK_MS, (j, at)


def usages(events: list[tuple[float, Any]]) -> list[dict[str, Any]]:
    return [e["usage"] for _, e in events if isinstance(e, dict) and e.get("usage")]


def test_provider_model_names_split_into_an_id_and_overrides():
    assert parse_provider_model("meta-llama/llama-3.1-8b-instruct/ttft=50") == (
        "meta-llama/llama-3.1-8b-instruct",
        Scenario(ttft=50),
    )
    assert parse_provider_model("fast-small/n=3") == ("fast-small", Scenario(ttft=150, itl=8, n=3))
    assert parse_provider_model("gpt-4o-mini") == ("gpt-4o-mini", Scenario())
    assert parse_provider_model("anthropic.claude-3-haiku-20240307-v1:0,ttft=5", "/,") == (
        "anthropic.claude-3-haiku-20240307-v1:0",
        Scenario(ttft=5),
    )
    with pytest.raises(ScenarioError, match="'gpt-4o/bogus=1'"):
        parse_provider_model("gpt-4o/bogus=1")


def test_a_limit_cuts_reasoning_first():
    assert limit_output(Scenario(reasoning=3, n=5), 4) == (Scenario(reasoning=3, n=1), True)
    assert limit_output(Scenario(reasoning=3, n=5), 2) == (Scenario(reasoning=2, n=0), True)
    assert limit_output(Scenario(n=5), 5) == (Scenario(n=5), False)
    assert limit_output(Scenario(n=5), None) == (Scenario(n=5), False)


# ---- OpenAI ----------------------------------------------------------------------------


def test_openai_reasoning_models_hide_the_reasoning_but_count_it(sim):
    resp, events = chat(
        sim,
        "openai",
        "o4-mini/ttft=40/itl=20/reasoning=2/n=2",
        stream_options={"include_usage": True},
    )

    assert resp.status_code == 200
    assert deltas(events) == ["", "tok1 ", "tok2 "]
    assert deltas(events, "reasoning_content") == deltas(events, "reasoning") == []
    # The two reasoning slots (40, 60 ms) pass silently: the first token is due at 80 ms.
    assert resp.headers["x-sim-ttft-ms"] == "80"
    assert resp.headers["x-sim-chunks"] == "2"
    assert resp.headers["x-sim-output-tokens"] == "4"
    first_token_at = next(at for at, e in events if deltas([(at, e)]) == ["tok1 "])
    assert 80 <= first_token_at <= 80 + SLACK_MS
    assert events[-2][1]["choices"] == []
    assert events[-2][1]["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 4,
        "total_tokens": 14,
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    assert events[-1][1] == "[DONE]"


def test_openai_max_completion_tokens_covers_reasoning_first(sim):
    resp, events = chat(
        sim,
        "openai",
        "o4-mini/ttft=0/itl=0/reasoning=2/n=5",
        max_completion_tokens=3,
        stream_options={"include_usage": True},
    )

    assert deltas(events)[1:] == ["tok1 "]
    assert finish_reasons(events) == ["length"]
    assert usages(events)[0]["completion_tokens"] == 3
    assert usages(events)[0]["completion_tokens_details"] == {"reasoning_tokens": 2}
    assert resp.headers["x-sim-output-tokens"] == "3"
    assert resp.headers["x-sim-chunks"] == "1"


def test_openai_non_reasoning_models_honour_max_tokens(sim):
    resp = sim.post(
        "/p/openai/v1/chat/completions",
        json={"model": "gpt-4o-mini/ttft=0/itl=0/n=5", "messages": MESSAGES, "max_tokens": 2},
    )

    body = resp.json()
    assert body["choices"][0]["message"]["content"] == "tok1 tok2 "
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 2
    assert body["model"] == "gpt-4o-mini"


def openai_error(message: str, param: str | None = None, code: str | None = None) -> Any:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


@pytest.mark.parametrize(
    ("model", "extra", "expected"),
    [
        (
            "gpt-4o-mini",
            {"foo": 1},
            openai_error("Unrecognized request argument supplied: foo"),
        ),
        (
            "gpt-4o-mini",
            {"foo": 1, "bar": 2},
            openai_error("Unrecognized request arguments supplied: foo, bar"),
        ),
        (
            "o4-mini",
            {"max_tokens": 5},
            openai_error(
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                "max_tokens",
                "unsupported_parameter",
            ),
        ),
        (
            "gpt-5-mini",
            {"temperature": 0.5},
            openai_error(
                "Unsupported value: 'temperature' does not support 0.5 with this model. "
                "Only the default (1) value is supported.",
                "temperature",
                "unsupported_value",
            ),
        ),
        (
            "o3",
            {"reasoning_effort": "minimal"},
            openai_error(
                "Unsupported value: 'reasoning_effort' does not support 'minimal' with this "
                "model. Supported values are: 'low', 'medium', and 'high'.",
                "reasoning_effort",
                "unsupported_value",
            ),
        ),
        (
            "gpt-4o-mini",
            {"reasoning_effort": "low"},
            openai_error("Unrecognized request argument supplied: reasoning_effort"),
        ),
        (
            "gpt-4o-mini",
            {"tools": [{"type": "function", "function": {"name": "get weather"}}]},
            openai_error(
                "Invalid 'tools': tools[0].function.name must match ^[a-zA-Z0-9_-]{1,64}$.",
                "tools",
                "invalid_value",
            ),
        ),
        (
            "gpt-4o-mini",
            {"tools": [{"name": "get_weather"}]},
            openai_error(
                "Invalid 'tools': tools[0].type must be 'function'.", "tools", "invalid_value"
            ),
        ),
    ],
)
def test_openai_rejects_what_api_openai_com_rejects(sim, model, extra, expected):
    resp = sim.post(
        "/p/openai/v1/chat/completions", json={"model": model, "messages": MESSAGES, **extra}
    )

    assert resp.status_code == 400
    assert resp.json() == expected


def test_openai_accepts_each_reasoning_effort_its_model_takes(sim):
    for model, effort in [("gpt-5-mini", "minimal"), ("o4-mini", "high"), ("o1", "low")]:
        resp = sim.post(
            "/p/openai/v1/chat/completions",
            json={"model": f"{model}/ttft=0/n=1", "messages": MESSAGES, "reasoning_effort": effort},
        )
        assert resp.status_code == 200, (model, effort, resp.text)
    listing = sim.get("/p/openai/v1/models").json()
    assert listing["object"] == "list" and listing["data"][0]["id"] == "fast-small"


# ---- Azure -----------------------------------------------------------------------------

AZURE = "/p/azure/openai/deployments/{}/chat/completions"


def test_azure_needs_an_api_version_and_a_key(sim):
    path = AZURE.format("gpt-4o-mini")
    no_version = sim.post(path, json={"messages": MESSAGES}, headers={"api-key": "k"})
    no_key = sim.post(path, params={"api-version": "2024-10-21"}, json={"messages": MESSAGES})
    bearer = sim.post(
        path,
        params={"api-version": "2024-10-21"},
        json={"messages": MESSAGES},
        headers={"Authorization": "Bearer entra-token"},
    )

    assert no_version.status_code == 404
    assert no_version.json() == {"error": {"code": "404", "message": "Resource not found"}}
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] == "401"
    assert bearer.status_code == 200


def test_azure_streams_the_deployment_after_a_content_filter_chunk(sim):
    resp, lines = stream_lines(
        sim,
        AZURE.format("o3-mini/ttft=0/itl=0/n=2/reasoning=1"),
        {"model": "ignored", "messages": MESSAGES, "stream": True, "max_tokens": 1},
        params={"api-version": "2024-10-21"},
        headers={"api-key": "k"},
    )
    refused = resp.status_code
    resp, lines = stream_lines(
        sim,
        AZURE.format("o3-mini/ttft=0/itl=0/n=2/reasoning=1"),
        {
            "model": "ignored",
            "messages": MESSAGES,
            "stream": True,
            "max_completion_tokens": 2,
            "stream_options": {"include_usage": True},
        },
        params={"api-version": "2024-10-21"},
        headers={"api-key": "k"},
    )
    events = data_events(lines)

    assert refused == 400  # max_tokens on a reasoning deployment, as on api.openai.com
    assert events[0][1]["choices"] == [] and "prompt_filter_results" in events[0][1]
    assert deltas(events) == ["", "tok1 "]
    assert events[2][1]["model"] == "o3-mini"
    assert finish_reasons(events) == ["length"]
    assert usages(events)[0]["completion_tokens_details"] == {"reasoning_tokens": 1}


# ---- Mistral ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"), [("stream_options", {"include_usage": True}), ("max_completion_tokens", 5)]
)
def test_mistral_refuses_extra_fields_with_422(sim, field, value):
    resp = sim.post(
        "/p/mistral/v1/chat/completions",
        json={"model": "mistral-small-latest", "messages": MESSAGES, field: value},
    )

    assert resp.status_code == 422
    assert resp.json() == {
        "object": "error",
        "message": {
            "detail": [
                {
                    "type": "extra_forbidden",
                    "loc": ["body", field],
                    "msg": "Extra inputs are not permitted",
                    "input": value,
                }
            ]
        },
        "type": "invalid_request_message_error",
        "param": None,
        "code": None,
    }


def test_mistral_puts_usage_in_the_finish_chunk_and_honours_max_tokens(sim):
    _, events = chat(sim, "mistral", "magistral-small/ttft=30/itl=15/reasoning=1/n=4", max_tokens=3)

    assert deltas(events)[1] == [
        {"type": "thinking", "thinking": [{"type": "text", "text": "think1 "}]}
    ]
    assert deltas(events)[2:] == ["tok1 ", "tok2 "]
    assert_on_schedule(events, ttft=30, itl=15, count=3)
    finish = events[-2][1]
    assert finish["choices"][0]["finish_reason"] == "length"
    assert finish["usage"]["completion_tokens"] == 3
    assert len(usages(events)) == 1
    assert events[-1][1] == "[DONE]"


# ---- the rest of the OpenAI-compatible family, table-driven ----------------------------

# profile, model, reasoning field, usage ("requested", "final", "always", "never"), whether
# an unknown field is refused (status) or ignored (200), the limit honoured, one ignored.
MCT, RC, MT = "max_completion_tokens", "reasoning_content", "max_tokens"
FAMILY = [
    ("groq", "llama-3.1-8b-instant", "reasoning", "requested", 400, MCT, None),
    ("xai", "grok-3-mini", RC, "requested", 200, MT, None),
    ("deepseek", "deepseek-chat", RC, "requested", 200, MT, MCT),
    ("together", "meta-llama/Llama-3.2-3B-Instruct-Turbo", "reasoning", "final", 200, MT, MCT),
    ("fireworks", "accounts/fireworks/models/llama-v3p1-8b", RC, "requested", 400, MCT, None),
    ("openrouter", "meta-llama/llama-3.1-8b-instruct", "reasoning", "always", 200, MT, MCT),
    ("lm_studio", "qwen3-8b", RC, "requested", 200, MT, MCT),
    ("ollama", "llama3.2:latest", "reasoning", "requested", 200, MT, MCT),
    ("custom", "gpt-oss-20b", RC, "never", 200, MT, MCT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("profile", "model", "rfield", "usage", "unknown", "limit", "ignored"), FAMILY
)
def test_each_openai_compatible_profile_follows_its_table_row(
    sim, profile, model, rfield, usage, unknown, limit, ignored
):
    script = f"{model}/ttft=0/itl=0/reasoning=1/n=3"
    resp, events = chat(
        sim,
        profile,
        f"{model}/ttft=30/itl=15/reasoning=1/n=3",
        stream_options={"include_usage": True},
    )
    _, without = chat(sim, profile, script)
    _, limited = chat(sim, profile, script, **{limit: 2})
    refused = sim.post(
        f"/p/{profile}/v1/chat/completions",
        json={"model": model, "messages": MESSAGES, "max_tool_calls": 1},
    )

    assert resp.status_code == 200
    assert deltas(events, rfield) == ["think1 "]
    assert deltas(events)[-3:] == ["tok1 ", "tok2 ", "tok3 "]
    assert_on_schedule(events, ttft=30, itl=15, count=4)
    assert finish_reasons(events) == ["stop"]
    expected = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    found = usages(events)
    if usage == "never":
        assert found == []
    else:
        assert {k: found[0][k] for k in expected} == expected
    assert bool(usages(without)) == (usage in ("final", "always"))
    assert deltas(limited, rfield) + deltas(limited)[-1:] == ["think1 ", "tok1 "]
    assert finish_reasons(limited) == ["length"]
    assert refused.status_code == unknown
    if ignored is not None:  # a limit the provider does not know is no limit
        _, unlimited = chat(sim, profile, script, **{ignored: 2})
        assert finish_reasons(unlimited) == ["stop"]


def test_the_family_answers_unknown_fields_in_its_own_words(sim):
    groq = sim.post(
        "/p/groq/v1/chat/completions", json={"model": "m", "messages": MESSAGES, "store2": 1}
    )
    fireworks = sim.post(
        "/p/fireworks/v1/chat/completions",
        json={"model": "m", "messages": MESSAGES, "vl_high_resolution_images": True},
    )
    xai = sim.post(
        "/p/xai/v1/chat/completions",
        json={"model": "grok-4-latest", "messages": MESSAGES, "reasoning_effort": "low"},
    )

    assert groq.json() == {
        "error": {
            "message": "unknown field `store2` in request body",
            "type": "invalid_request_error",
        }
    }
    assert fireworks.json()["error"]["message"] == (
        "Extra inputs are not permitted, field: 'vl_high_resolution_images', value: True."
    )
    assert xai.status_code == 400
    assert xai.json() == {
        "code": "Client specified an invalid argument",
        "error": "Model grok-4-latest does not support parameter reasoningEffort.",
    }


def test_groq_reports_usage_in_x_groq(sim):
    _, events = chat(sim, "groq", "llama-3.1-8b-instant/ttft=0/itl=0/n=2")

    finish = events[-2][1]
    assert finish["x_groq"]["usage"]["completion_tokens"] == 2
    assert "usage" not in finish


def test_openrouter_sends_processing_comments_before_the_first_token(sim):
    _, lines = stream_lines(
        sim,
        "/p/openrouter/v1/chat/completions",
        {
            "model": "openai/gpt-4o/ttft=90/itl=0/n=1/comments=2",
            "messages": MESSAGES,
            "stream": True,
        },
    )

    comments = [(at, line) for at, line in lines if line.startswith(":")]
    assert [line for _, line in comments] == [": OPENROUTER PROCESSING"] * 3
    assert comments[0][0] < 30  # with the headers
    assert 30 <= comments[1][0] <= 30 + SLACK_MS and 60 <= comments[2][0] <= 60 + SLACK_MS
    first = next(at for at, line in lines if "tok1" in line)
    assert 90 <= first <= 90 + SLACK_MS
    assert usages(data_events(lines))[0]["completion_tokens"] == 1


def test_llama_cpp_sends_one_token_per_chunk_and_never_usage(sim):
    resp, events = chat(
        sim,
        "custom",
        "qwen2.5-0.5b/ttft=0/itl=0/n=4/chunk=3",
        stream_options={"include_usage": True},
        n_predict=10,
    )

    assert deltas(events)[1:] == ["tok1 ", "tok2 ", "tok3 ", "tok4 "]
    assert resp.headers["x-sim-chunks"] == "4"
    assert usages(events) == []
    assert events[-1][1] == "[DONE]"


def test_ollama_native_honours_num_predict_and_ignores_unknown_fields(sim):
    body = {
        "model": "llama3.2:latest/ttft=0/itl=0/n=5",
        "messages": MESSAGES,
        "options": {"num_predict": 2},
        "max_tokens": 1,  # not an Ollama field: ignored
    }
    with sim.stream("POST", "/p/ollama/api/chat", json=body) as resp:
        lines = [json.loads(line) for line in resp.iter_lines() if line]
    unlimited = sim.post(
        "/p/ollama/api/chat",
        json={**body, "options": {"num_predict": -1}, "stream": False},
    ).json()

    assert [line["message"]["content"] for line in lines] == ["tok1 ", "tok2 ", ""]
    assert lines[-1]["done_reason"] == "length" and lines[-1]["eval_count"] == 2
    assert unlimited["done_reason"] == "stop" and unlimited["eval_count"] == 5
    assert sim.get("/p/ollama/api/tags").json()["models"][0]["name"] == "fast-small:latest"


# ---- gzip ------------------------------------------------------------------------------


def raw_body(
    client: httpx.Client, method: str, path: str, body: Any = None
) -> tuple[httpx.Response, Any]:
    """The response and its JSON, gunzipped by hand from the raw bytes (asking for none)."""
    headers = {"Accept-Encoding": "identity"}
    with client.stream(method, path, json=body, headers=headers) as resp:
        raw = b"".join(resp.iter_raw())
    return resp, json.loads(gzip.decompress(raw))


def test_gzip_compresses_every_body_and_keeps_the_stream_on_schedule(sim):
    body = {"model": "sim/ttft=50/itl=40/n=3", "messages": MESSAGES, "stream": True}
    decoder = zlib.decompressobj(wbits=31)
    arrivals = []
    start = time.perf_counter()
    with sim.stream("POST", "/p/gzip/v1/chat/completions", json=body) as resp:
        for raw in resp.iter_raw():
            text = decoder.decompress(raw).decode()
            arrivals += [
                ((time.perf_counter() - start) * 1000, part) for part in text.split("\n\n") if part
            ]
    plain, plain_body = raw_body(
        sim,
        "POST",
        "/p/gzip/v1/chat/completions",
        {"model": "sim/ttft=0/n=2", "messages": MESSAGES},
    )
    error, error_body = raw_body(sim, "POST", "/p/gzip/v1/chat/completions", {"model": "gpt-4o"})
    listing, listing_body = raw_body(sim, "GET", "/p/gzip/v1/models")

    assert resp.headers["content-encoding"] == "gzip"
    tokens = [(at, part) for at, part in arrivals if '"tok' in part]
    assert len(tokens) == 3
    for j, (at, _) in enumerate(tokens):
        assert 50 + 40 * j <= at <= 50 + 40 * j + SLACK_MS, (j, at)
    assert arrivals[-1][1] == "data: [DONE]"
    assert plain.headers["content-encoding"] == "gzip"
    assert plain_body["choices"][0]["message"]["content"] == "tok1 tok2 "
    assert error.status_code == 404 and error.headers["content-encoding"] == "gzip"
    assert error_body["error"]["code"] == "model_not_found"
    assert listing.headers["content-encoding"] == "gzip"
    assert listing_body["object"] == "list"


# ---- Anthropic -------------------------------------------------------------------------

ANTHROPIC_HEADERS = {"x-api-key": "sk-ant", "anthropic-version": "2023-06-01"}
AUTH, INVALID = "authentication_error", "invalid_request_error"


@pytest.mark.parametrize(
    ("headers", "body", "status", "kind", "message"),
    [
        ({"anthropic-version": "2023-06-01"}, {}, 401, AUTH, "x-api-key header is required"),
        ({"x-api-key": "k"}, {}, 400, INVALID, "anthropic-version: header is required"),
        (ANTHROPIC_HEADERS, {"max_tokens": None}, 400, INVALID, "max_tokens: Field required"),
        (
            ANTHROPIC_HEADERS,
            {"stream_options": {}},
            400,
            INVALID,
            "stream_options: Extra inputs are not permitted",
        ),
        (
            ANTHROPIC_HEADERS,
            {"thinking": {"type": "enabled", "budget_tokens": 512}},
            400,
            INVALID,
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            ANTHROPIC_HEADERS,
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            400,
            INVALID,
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#max-tokens-and-context-window-size",
        ),
    ],
)
def test_anthropic_rejects_what_the_messages_api_rejects(sim, headers, body, status, kind, message):
    request = {"model": "claude-haiku-4-5", "messages": MESSAGES, "max_tokens": 1024, **body}
    request = {k: v for k, v in request.items() if v is not None}
    resp = sim.post("/p/anthropic/v1/messages", json=request, headers=headers)

    assert resp.status_code == status
    assert resp.json() == {"type": "error", "error": {"type": kind, "message": message}}


def test_anthropic_streams_thinking_and_stops_at_max_tokens(sim):
    body = {
        "model": "claude-sonnet-4-5/ttft=0/itl=0/reasoning=2/n=5",
        "messages": MESSAGES,
        "max_tokens": 4,
        "stream": True,
    }
    with sim.stream(
        "POST", "/p/anthropic/v1/messages", json=body, headers=ANTHROPIC_HEADERS
    ) as resp:
        events = sse(resp)

    thinking = [
        e["delta"]["thinking"]
        for n, e in events
        if e.get("delta", {}).get("type") == "thinking_delta"
    ]
    text = [e["delta"]["text"] for n, e in events if e.get("delta", {}).get("type") == "text_delta"]
    assert thinking == ["think1 ", "think2 "] and text == ["tok1 ", "tok2 "]
    delta = next(e for n, e in events if n == "message_delta")
    assert delta["delta"]["stop_reason"] == "max_tokens"
    assert delta["usage"] == {"output_tokens": 4}
    assert events[0][1]["message"]["model"] == "claude-sonnet-4-5"
    assert sim.get("/p/anthropic/v1/models", headers=ANTHROPIC_HEADERS).json()["data"]


# ---- Gemini and Vertex -----------------------------------------------------------------

GEMINI = "/p/gemini/v1beta/models/{}:streamGenerateContent"


def gemini_events(lines: list[tuple[float, str]]) -> list[tuple[float, Any]]:
    return [(at, json.loads(line[6:])) for at, line in lines if line.startswith("data: ")]


def gemini_parts(events: list[tuple[float, Any]]) -> list[dict[str, Any]]:
    return [p for _, e in events for p in e["candidates"][0]["content"]["parts"] if p["text"]]


def test_gemini_wants_a_key_and_known_fields(sim):
    path = GEMINI.format("gemini-2.5-flash")
    body = {"contents": [TEXT_PARTS]}
    no_key = sim.post(path, params={"alt": "sse"}, json=body)
    bad_key = sim.post(path, params={"alt": "sse", "key": "invalid"}, json=body)
    unknown = sim.post(
        path,
        params={"alt": "sse", "key": "k"},
        json={**body, "messages": [], "generationConfig": {"max_tokens": 5}},
    )

    assert no_key.status_code == 403
    assert no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    assert bad_key.status_code == 400
    assert bad_key.json()["error"]["message"] == "API key not valid. Please pass a valid API key."
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "code": 400,
        "message": 'Invalid JSON payload received. Unknown name "messages": Cannot find field.\n'
        "Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': "
        "Cannot find field.",
        "status": "INVALID_ARGUMENT",
    }


def test_gemini_streams_sse_chunks_on_schedule_with_usage_metadata(sim):
    resp, lines = stream_lines(
        sim,
        GEMINI.format("gemini-2.5-flash/ttft=40/itl=20/n=2/reasoning=1/comments=1"),
        {
            "contents": [TEXT_PARTS],
            "generationConfig": {"thinkingConfig": {"includeThoughts": True}},
        },
        params={"alt": "sse"},
        headers={"x-goog-api-key": "k"},
    )
    events = gemini_events(lines)

    assert resp.headers["content-type"].startswith("text/event-stream")
    assert lines[0][1] == ": keep-alive" and lines[0][0] <= 20 + SLACK_MS
    assert gemini_parts(events) == [
        {"text": "think1 ", "thought": True},
        {"text": "tok1 "},
        {"text": "tok2 "},
    ]
    for j, (at, _) in enumerate(events[:3]):
        assert 40 + 20 * j <= at <= 40 + 20 * j + SLACK_MS, (j, at)
    final = events[-1][1]
    assert final["candidates"][0]["finishReason"] == "STOP"
    assert final["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 2,
        "thoughtsTokenCount": 1,
        "totalTokenCount": 13,
    }
    assert final["modelVersion"] == "gemini-2.5-flash"


def test_gemini_hides_thoughts_and_stops_at_max_output_tokens(sim):
    resp, lines = stream_lines(
        sim,
        GEMINI.format("gemini-2.5-flash/ttft=0/itl=0/n=5/reasoning=2"),
        {"contents": [TEXT_PARTS], "generationConfig": {"maxOutputTokens": 3}},
        params={"alt": "sse", "key": "k"},
    )
    events = gemini_events(lines)
    whole = sim.post(
        "/p/gemini/v1beta/models/gemini-2.5-flash/ttft=0/n=2:generateContent",
        json={"contents": [TEXT_PARTS]},
        headers={"x-goog-api-key": "k"},
    ).json()

    assert gemini_parts(events) == [{"text": "tok1 "}]
    assert resp.headers["x-sim-chunks"] == "1"
    final = events[-1][1]
    assert final["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert final["usageMetadata"]["candidatesTokenCount"] == 1
    assert final["usageMetadata"]["thoughtsTokenCount"] == 2
    assert whole["candidates"][0]["content"]["parts"] == [{"text": "tok1 tok2 "}]
    assert whole["candidates"][0]["finishReason"] == "STOP"
    assert sim.get("/p/gemini/v1beta/models").json()["models"][0]["name"] == "models/gemini-sim-1"


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


VERTEX = (
    "/p/vertex/v1/projects/sim-project/locations/us-central1/publishers/google/models/"
    "{}:streamGenerateContent"
)


def test_vertex_issues_a_token_and_wants_it(sim):
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    token = sim.post(
        "/p/vertex/token",
        data={"grant_type": grant, "assertion": jwt({"iss": "sa@sim", "aud": "token"})},
    )
    refused = sim.post("/p/vertex/token", data={"grant_type": grant, "assertion": "junk"})
    path = VERTEX.format("gemini-2.5-flash/ttft=0/itl=0/n=2")
    anonymous = sim.post(path, params={"alt": "sse"}, json={"contents": [TEXT_PARTS]})
    _, lines = stream_lines(
        sim,
        path,
        {"contents": [TEXT_PARTS], "labels": {"team": "sim"}},
        params={"alt": "sse"},
        headers={"Authorization": f"Bearer {VERTEX_TOKEN}"},
    )

    assert token.json() == {
        "access_token": VERTEX_TOKEN,
        "expires_in": 3600,
        "token_type": "Bearer",
    }
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["status"] == "UNAUTHENTICATED"
    assert gemini_parts(gemini_events(lines)) == [{"text": "tok1 "}, {"text": "tok2 "}]


# ---- Bedrock ---------------------------------------------------------------------------

BEDROCK = "/p/bedrock/model/{}/converse-stream"
CONVERSE = {"messages": [{"role": "user", "content": [{"text": "x" * 40}]}]}


def test_bedrock_wants_auth_and_known_fields(sim):
    path = BEDROCK.format("anthropic.claude-3-haiku-20240307-v1:0")
    anonymous = sim.post(path, json=CONVERSE)
    unknown = sim.post(
        path, json={**CONVERSE, "max_tokens": 5}, headers={"Authorization": "Bearer br"}
    )
    sigv4 = "AWS4-HMAC-SHA256 Credential=AKIA/20250101/us-east-1/bedrock/aws4_request, ..."
    signed = sim.post(
        path.replace("converse-stream", "converse"),
        json={**CONVERSE, "inferenceConfig": {"maxTokens": 2}},
        headers={"Authorization": sigv4},
    )

    assert anonymous.status_code == 403
    assert anonymous.json() == {"message": "Missing Authentication Token"}
    assert unknown.status_code == 400
    assert unknown.headers["x-amzn-errortype"] == "ValidationException"
    assert "max_tokens" in unknown.json()["message"]
    assert signed.status_code == 200
    assert signed.json()["stopReason"] == "max_tokens"
    assert signed.json()["usage"] == {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12}


def test_bedrock_streams_eventstream_frames_on_schedule(sim):
    frames = []
    start = time.perf_counter()
    model = "anthropic.claude-3-haiku-20240307-v1:0,ttft=40,itl=20,reasoning=1,n=3"
    body = {**CONVERSE, "inferenceConfig": {"maxTokens": 3}}
    with sim.stream(
        "POST", BEDROCK.format(model), json=body, headers={"Authorization": "Bearer br"}
    ) as resp:
        buffer = b""
        for raw in resp.iter_raw():
            buffer += raw
            decoded = eventstream.decode(buffer)  # raises on a torn or corrupt frame
            if decoded:
                at = (time.perf_counter() - start) * 1000
                frames += [(at, h[":event-type"], json.loads(p)) for h, p in decoded]
                buffer = b""

    assert resp.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert [name for _, name, _ in frames] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert frames[1][2] == {
        "contentBlockIndex": 0,
        "delta": {"reasoningContent": {"text": "think1 "}},
    }
    assert frames[5][2] == {"contentBlockIndex": 1, "delta": {"text": "tok2 "}}
    for slot, index in enumerate((1, 4, 5)):
        assert 40 + 20 * slot <= frames[index][0] <= 40 + 20 * slot + SLACK_MS
    assert frames[7][2] == {"stopReason": "max_tokens"}
    assert frames[8][2]["usage"] == {"inputTokens": 10, "outputTokens": 3, "totalTokens": 13}


def test_botocore_reads_the_eventstream():
    botocore_eventstream = pytest.importorskip("botocore.eventstream")
    data = eventstream.event("contentBlockDelta", {"delta": {"text": "hi"}})
    data += eventstream.exception("internalServerException", "boom")

    buffer = botocore_eventstream.EventStreamBuffer()
    buffer.add_data(data)
    messages = list(buffer)

    assert messages[0].headers[":event-type"] == "contentBlockDelta"
    assert json.loads(messages[0].payload) == {"delta": {"text": "hi"}}
    assert messages[1].headers[":message-type"] == "exception"
    assert messages[1].headers[":exception-type"] == "internalServerException"


# ---- scripted statuses in each provider's shape -----------------------------------------


@pytest.mark.parametrize("status", [408, 413, 422, 429])
def test_scripted_statuses_come_in_each_providers_shape(sim, status):
    model = f"m/status={status}/retry_after=3"
    key = {"Authorization": "Bearer k"}
    mistral = sim.post("/p/mistral/v1/chat/completions", json={"model": model, "messages": []})
    anthropic = sim.post(
        "/p/anthropic/v1/messages",
        json={"model": model, "messages": [], "max_tokens": 5},
        headers=ANTHROPIC_HEADERS,
    )
    gemini = sim.post(
        GEMINI.format(model), json={"contents": [TEXT_PARTS]}, headers={"x-goog-api-key": "k"}
    )
    bedrock = sim.post(BEDROCK.format(model.replace("/", ",")), json=CONVERSE, headers=key)
    azure = sim.post(
        AZURE.format(model), params={"api-version": "v"}, json={"messages": []}, headers=key
    )

    responses = [mistral, anthropic, gemini, bedrock, azure]
    assert [r.status_code for r in responses] == [status] * 5
    assert mistral.json()["object"] == "error"
    assert anthropic.json()["type"] == "error"
    google = {408: "DEADLINE_EXCEEDED", 413: "INVALID_ARGUMENT", 422: "INVALID_ARGUMENT"}
    assert gemini.json()["error"]["status"] == google.get(status, "RESOURCE_EXHAUSTED")
    aws = {408: "ModelTimeoutException", 429: "ThrottlingException"}
    assert bedrock.headers["x-amzn-errortype"] == aws.get(status, "ValidationException")
    assert bedrock.json() == {"message": f"simulated {status} error"}
    assert azure.json()["error"]["code"] == (str(status) if status in (408, 413, 429) else None)
    retry = "3" if status == 429 else None
    assert {r.headers.get("retry-after") for r in responses} == {retry}


# ---- litellm against the profiles -------------------------------------------------------


@pytest.fixture(scope="module")
def litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download
    import litellm

    return litellm


@pytest.fixture(scope="module")
def run_async() -> Iterator[Any]:
    """One event loop for every litellm call: litellm caches clients bound to it."""
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


async def litellm_stream(litellm, **kwargs: Any) -> tuple[str, str | None, Any]:
    response = await litellm.acompletion(
        messages=[{"role": "user", "content": "x" * 40}],
        stream=True,
        stream_options={"include_usage": True},
        **kwargs,
    )
    text, finish, usage = "", None, None
    async for chunk in response:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        usage = getattr(chunk, "usage", None) or usage
    return text, finish, usage


@pytest.mark.parametrize(
    ("name", "kwargs", "expected_text", "expected_finish", "completion_tokens"),
    [
        (
            "anthropic",
            {
                "model": "anthropic/claude-haiku-4-5/ttft=0/itl=0/n=3",
                "api_key": "sk-ant",
                "max_tokens": 2,
            },
            "tok1 tok2 ",
            "length",
            2,
        ),
        (
            "gemini",
            {"model": "gemini/gemini-2.5-flash/ttft=0/itl=0/n=3", "api_key": "k"},
            "tok1 tok2 tok3 ",
            "stop",
            3,
        ),
        (
            "azure",
            {
                "model": "azure/o4-mini/ttft=0/itl=0/reasoning=1/n=3",
                "api_key": "k",
                "api_version": "2024-10-21",
                "max_tokens": 3,  # litellm sends it as max_completion_tokens for o-series
            },
            "tok1 tok2 ",
            "length",
            3,
        ),
        (
            "bedrock",
            {
                "model": "bedrock/sim,ttft=0,itl=0,n=3",
                "api_key": "bedrock-api-key",
                "aws_region_name": "us-east-1",
            },
            "tok1 tok2 tok3 ",
            "stop",
            3,
        ),
        (
            "bedrock",
            {
                "model": "bedrock/converse/anthropic.claude-3-haiku-20240307-v1:0,ttft=0,itl=0,n=3",
                "aws_access_key_id": "AKIASIM",
                "aws_secret_access_key": "secret",
                "aws_region_name": "us-east-1",
                "max_tokens": 2,
            },
            "tok1 tok2 ",
            "length",
            2,
        ),
        (
            "ollama",
            {"model": "ollama_chat/llama3.2/ttft=0/itl=0/n=3", "max_tokens": 2},
            "tok1 tok2 ",
            "length",
            2,
        ),
    ],
)  # fmt: skip
def test_litellm_streams_from_the_profile(
    llmsim, litellm, run_async, name, kwargs, expected_text, expected_finish, completion_tokens
):
    api_base = {
        "anthropic": f"{llmsim}/p/anthropic",
        "gemini": f"{llmsim}/p/gemini/v1beta",
        "azure": f"{llmsim}/p/azure",
        "bedrock": f"{llmsim}/p/bedrock",
        "ollama": f"{llmsim}/p/ollama",
    }[name]

    text, finish, usage = run_async(litellm_stream(litellm, api_base=api_base, **kwargs))

    assert text == expected_text
    assert finish == expected_finish
    assert usage.completion_tokens == completion_tokens


def test_litellm_streams_from_vertex_with_a_service_account(llmsim, litellm, run_async):
    pytest.importorskip("google.auth", reason="litellm needs google-auth for service accounts")
    account = service_account(llmsim)
    common = {
        "vertex_credentials": json.dumps(account),
        "vertex_project": "sim-project",
        "vertex_location": "us-central1",
    }
    model_url = (
        f"{llmsim}/p/vertex/v1/projects/sim-project/locations/us-central1/publishers/google/"
        "models/gemini-2.5-flash/ttft=0/itl=0/n=3"
    )

    by_model_url = run_async(
        litellm_stream(litellm, model="vertex_ai/gemini-2.5-flash", api_base=model_url, **common)
    )
    by_root = run_async(
        litellm_stream(
            litellm,
            model="vertex_ai/gemini-2.5-flash/ttft=0/itl=0/n=3",
            api_base=llmsim,
            max_tokens=2,
            **common,
        )
    )

    assert by_model_url[:2] == ("tok1 tok2 tok3 ", "stop")
    assert by_model_url[2].completion_tokens == 3
    assert by_root[:2] == ("tok1 tok2 ", "length")
