"""aiohttp server speaking the OpenAI, Anthropic and Ollama wire formats on a scripted clock.

Timing rule: every event of a response is scheduled against an absolute deadline,
``received + offset``, where ``received`` is ``loop.time()`` at handler entry. Sleeping
until each deadline (never for an interval) keeps late wake-ups from accumulating, so the
schedule in scenarios.timeline() is the ground truth measurements are compared against.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import math
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from arguslm.llmsim.scenarios import (
    NAMED_MODELS,
    Chunk,
    FlakyDecider,
    Scenario,
    ScenarioError,
    estimate_input_tokens,
    fmt_value,
    loaded,
    parse_model,
    served_model,
    timeline,
)

RECORD_LIMIT = 10_000
CREATED = 1_735_689_600  # 2025-01-01, fixed so listings are byte-for-byte reproducible
CREATED_AT = "2025-01-01T00:00:00Z"
ANTHROPIC_EXTRA = [f"claude-sim-{i}" for i in range(1, 26)]
# (id, embedding-only); embedding models sit on different pages to exercise filtering.
GEMINI_MODELS = [(f"gemini-sim-{i}", i in (3, 6)) for i in range(1, 8)]


class _State:
    def __init__(self, seed: int, distance_ms: float = 0) -> None:
        self.flaky = FlakyDecider(seed)
        # Added before every chat answer: the network distance of the place probing it (one
        # simulator per probe region, each with its own distance).
        self.distance_s = distance_ms / 1000
        self.records: deque[dict[str, Any]] = deque(maxlen=RECORD_LIMIT)
        self.ids = itertools.count(1)
        # Requests in flight per exact model name, for the cap key: the loop is single
        # threaded and nothing awaits between reading and updating a count.
        self.active: Counter[str] = Counter()


_STATE = web.AppKey("llmsim_state", _State)


@dataclass
class _Call:
    """One chat request being answered; wire encoders read and update it."""

    id: str
    model: str
    scenario: Scenario
    body: dict[str, Any]
    created: int
    received: float
    input_tokens: int
    record: dict[str, Any]
    block: int = 0  # Anthropic/Bedrock: index of the open content block
    block_kind: str = ""  # Anthropic/Bedrock: "reasoning" or "answer"
    tool_started: bool = False  # OpenAI: id/name go only in the first tool-call delta
    # Strict profiles (profiles.py):
    flaky_key: str | None = None  # model name the flaky sequence follows (default: model)
    limited: bool = False  # the token limit cut the answer: finish with "length"
    hidden_reasoning: bool = False  # reasoning takes its time but no text is sent
    compressor: Any = None  # zlib compressobj of a gzip-encoded stream
    opts: dict[str, Any] = field(default_factory=dict)  # per-profile request options
    active: int | None = None  # requests of this model name in flight, this one included


def tool_name(body: dict[str, Any]) -> str:
    """The function a tool-call answer (tool=1) calls: the first one the request offers, as a
    model given tools would, else "answer"."""
    tools = body.get("tools")
    first = tools[0] if isinstance(tools, list) and tools else None
    function = first.get("function") if isinstance(first, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    return name[:64] if isinstance(name, str) and name else "answer"


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {_json(data)}\n\n".encode()


def _texts(content: Any) -> list[str]:
    """Text of a message content: a string or a list of parts/blocks with "text"."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
    return []


def _message_texts(body: dict[str, Any]) -> list[str]:
    texts = _texts(body.get("system"))  # Anthropic's top-level system prompt
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            texts += _texts(message.get("content"))
    return texts


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- wire encoders: one per provider format, sharing the _Call state ---------------------


class _WireBase:
    """What every wire format has; the defaults send nothing for optional events."""

    name = "base"
    stream_default = False
    content_type = "text/event-stream; charset=utf-8"
    gzip = False  # every body Content-Encoding: gzip (the gzip profile)

    def error_body(self, status: int, message: str) -> Any:
        raise NotImplementedError

    def respond_json(
        self, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        if not self.gzip:
            return web.json_response(data, status=status, headers=headers)
        body = zlib.compress(_json(data).encode(), wbits=31)  # 31: gzip container
        headers = {**(headers or {}), "Content-Encoding": "gzip"}
        return web.Response(
            body=body, status=status, headers=headers, content_type="application/json"
        )

    def error_response(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        return self.respond_json(self.error_body(status, message), status, headers)

    def comment(self, call: _Call) -> bytes:
        return b""  # formats without comment lines (NDJSON, binary) send nothing

    def bad(self, call: _Call) -> bytes:
        return b""

    def tail(self, call: _Call) -> bytes:
        """What follows the finish (OpenAI: usage chunk and [DONE]); usage_ms delays it."""
        return b""


class _OpenAI(_WireBase):
    name = "openai"
    stream_default = False
    content_type = "text/event-stream; charset=utf-8"
    _errors = {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        403: ("invalid_request_error", "permission_denied"),
        404: ("invalid_request_error", "model_not_found"),
        408: ("invalid_request_error", "timeout"),
        413: ("invalid_request_error", "request_too_large"),
        422: ("invalid_request_error", "unprocessable_entity"),
        429: ("requests", "rate_limit_exceeded"),
        500: ("server_error", "internal_error"),
        503: ("server_error", "service_unavailable"),
        529: ("server_error", "overloaded"),
    }

    def error_body(self, status: int, message: str) -> Any:
        kind, code = self._errors.get(status, ("server_error", None))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def not_found(self, model: str) -> str:
        return f"The model `{model}` does not exist or you do not have access to it."

    def _chunk(self, call: _Call, choices: list[Any], **extra: Any) -> bytes:
        return _sse(
            {
                "id": f"chatcmpl-{call.id}",
                "object": "chat.completion.chunk",
                "created": call.created,
                "model": call.model,
                "choices": choices,
                **extra,
            }
        )

    def _usage(self, call: _Call) -> dict[str, Any]:
        s = call.scenario
        return {
            "prompt_tokens": call.input_tokens,
            "completion_tokens": s.output_tokens,
            "total_tokens": call.input_tokens + s.output_tokens,
            "completion_tokens_details": {"reasoning_tokens": s.reasoning},
        }

    def preamble(self, call: _Call) -> bytes:
        delta = {"role": "assistant", "content": ""}
        return self._chunk(call, [{"index": 0, "delta": delta, "finish_reason": None}])

    def reasoning_delta(self, call: _Call, text: str) -> dict[str, Any] | None:
        """The delta carrying reasoning text; None: reasoning is hidden."""
        if call.hidden_reasoning:
            return None
        return {call.scenario.rfield: text}

    def comment(self, call: _Call) -> bytes:
        return b": keep-alive\n\n"

    def bad(self, call: _Call) -> bytes:
        return b'data: {"choices":[null]}\n\n'

    def chunk(self, call: _Call, ch: Chunk) -> bytes:
        if ch.kind == "reasoning":
            reasoning = self.reasoning_delta(call, ch.text)
            if reasoning is None:
                return b""
            delta: dict[str, Any] = reasoning
        elif call.scenario.tool:
            function = {"arguments": ch.text}
            tool_call: dict[str, Any] = {"index": 0, "function": function}
            if not call.tool_started:
                call.tool_started = True
                tool_call.update(id="call_1", type="function")
                function["name"] = tool_name(call.body)
            delta = {"tool_calls": [tool_call]}
        else:
            delta = {"content": ch.text}
        return self._chunk(call, [{"index": 0, "delta": delta, "finish_reason": None}])

    def finish_reason(self, call: _Call) -> str:
        if call.limited:
            return "length"
        return "tool_calls" if call.scenario.tool else "stop"

    def include_usage(self, call: _Call) -> bool:
        options = call.body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True

    def finish(self, call: _Call) -> bytes:
        choice = {"index": 0, "delta": {}, "finish_reason": self.finish_reason(call)}
        return self._chunk(call, [choice])

    def tail(self, call: _Call) -> bytes:
        s = call.scenario
        out = b""
        if s.usage and self.include_usage(call):
            out += self._chunk(call, [], usage=self._usage(call))
        return out + (b"data: [DONE]\n\n" if s.done else b"")

    def stream_error(self, call: _Call, message: str) -> bytes:
        return _sse(
            {"error": {"message": message, "type": "server_error", "code": "internal_error"}}
        )

    def complete(self, call: _Call, chunks: list[Chunk]) -> Any:
        s = call.scenario
        answer = "".join(c.text for c in chunks if c.kind == "answer")
        message: dict[str, Any] = {"role": "assistant", "content": answer}
        if s.reasoning:
            reasoning = self.reasoning_delta(
                call, "".join(c.text for c in chunks if c.kind == "reasoning")
            )
            if reasoning is not None:
                message.update(reasoning)
        if s.tool:
            function = {"name": tool_name(call.body), "arguments": answer}
            message.update(
                content=None,
                tool_calls=[{"id": "call_1", "type": "function", "function": function}],
            )
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": self.finish_reason(call),
        }
        body = {
            "id": f"chatcmpl-{call.id}",
            "object": "chat.completion",
            "created": call.created,
            "model": call.model,
            "choices": [choice],
        }
        if s.usage:
            body["usage"] = self._usage(call)
        return body


class _Anthropic(_WireBase):
    name = "anthropic"
    stream_default = False
    content_type = "text/event-stream; charset=utf-8"
    _errors = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        408: "timeout_error",
        413: "request_too_large",
        422: "invalid_request_error",
        429: "rate_limit_error",
        500: "api_error",
        503: "api_error",
        529: "overloaded_error",
    }
    _blocks = {
        "reasoning": {"type": "thinking", "thinking": ""},
        "answer": {"type": "text", "text": ""},
    }

    def error_body(self, status: int, message: str) -> Any:
        return {
            "type": "error",
            "error": {"type": self._errors.get(status, "api_error"), "message": message},
        }

    def not_found(self, model: str) -> str:
        return f"model: {model}"

    def _start_block(self, call: _Call, kind: str) -> bytes:
        call.block_kind = kind
        start = {
            "type": "content_block_start",
            "index": call.block,
            "content_block": self._blocks[kind],
        }
        return _sse(start, "content_block_start")

    def _stop_block(self, call: _Call) -> bytes:
        out = b""
        if call.block_kind == "reasoning":  # real thinking blocks end with their signature
            delta = {"type": "signature_delta", "signature": "llmsim"}
            out = _sse(
                {"type": "content_block_delta", "index": call.block, "delta": delta},
                "content_block_delta",
            )
        return out + _sse({"type": "content_block_stop", "index": call.block}, "content_block_stop")

    def preamble(self, call: _Call) -> bytes:
        s = call.scenario
        message: dict[str, Any] = {
            "id": f"msg_{call.id}",
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }
        if s.usage:
            message["usage"] = {"input_tokens": call.input_tokens, "output_tokens": 1}
        first = "reasoning" if s.reasoning else "answer"
        return (
            _sse({"type": "message_start", "message": message}, "message_start")
            + self._start_block(call, first)
            + _sse({"type": "ping"}, "ping")
        )

    def chunk(self, call: _Call, ch: Chunk) -> bytes:
        out = b""
        if ch.kind != call.block_kind:  # thinking block done: switch to the text block
            out = self._stop_block(call)
            call.block += 1
            out += self._start_block(call, ch.kind)
        if ch.kind == "reasoning":
            delta = {"type": "thinking_delta", "thinking": ch.text}
        else:
            delta = {"type": "text_delta", "text": ch.text}
        return out + _sse(
            {"type": "content_block_delta", "index": call.block, "delta": delta},
            "content_block_delta",
        )

    def finish(self, call: _Call) -> bytes:
        reason = "max_tokens" if call.limited else "end_turn"
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
        }
        if call.scenario.usage:
            delta["usage"] = {"output_tokens": call.scenario.output_tokens}
        return (
            self._stop_block(call)
            + _sse(delta, "message_delta")
            + _sse({"type": "message_stop"}, "message_stop")
        )

    def stream_error(self, call: _Call, message: str) -> bytes:
        return _sse({"type": "error", "error": {"type": "api_error", "message": message}}, "error")

    def complete(self, call: _Call, chunks: list[Chunk]) -> Any:
        s = call.scenario
        content: list[dict[str, Any]] = []
        if s.reasoning:
            thinking = "".join(c.text for c in chunks if c.kind == "reasoning")
            content.append({"type": "thinking", "thinking": thinking, "signature": "llmsim"})
        content.append(
            {"type": "text", "text": "".join(c.text for c in chunks if c.kind == "answer")}
        )
        body: dict[str, Any] = {
            "id": f"msg_{call.id}",
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": content,
            "stop_reason": "max_tokens" if call.limited else "end_turn",
            "stop_sequence": None,
        }
        if s.usage:
            body["usage"] = {"input_tokens": call.input_tokens, "output_tokens": s.output_tokens}
        return body


class _Ollama(_WireBase):
    name = "ollama"
    stream_default = True
    content_type = "application/x-ndjson"

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    def not_found(self, model: str) -> str:
        return f'model "{model}" not found, try pulling it first'

    def _line(
        self, call: _Call, message: dict[str, Any], done: bool, **extra: Any
    ) -> dict[str, Any]:
        return {
            "model": call.model,
            "created_at": _now_rfc3339(),
            "message": message,
            "done": done,
            **extra,
        }

    def preamble(self, call: _Call) -> bytes:
        return b""  # Ollama sends nothing before the first token

    def chunk(self, call: _Call, ch: Chunk) -> bytes:
        if ch.kind == "reasoning":
            message = {"role": "assistant", "content": "", "thinking": ch.text}
        else:
            message = {"role": "assistant", "content": ch.text}
        return (_json(self._line(call, message, False)) + "\n").encode()

    def _stats(self, call: _Call) -> dict[str, Any]:
        # Durations are what the server actually did, in ns like Ollama reports them.
        elapsed = asyncio.get_running_loop().time() - call.received
        first = call.record["first_chunk_sent_ms"]
        prompt = elapsed if first is None else first / 1000
        stats: dict[str, Any] = {
            "total_duration": int(elapsed * 1e9),
            "load_duration": 0,
            "prompt_eval_count": call.input_tokens,
            "prompt_eval_duration": int(prompt * 1e9),
            "eval_count": call.scenario.output_tokens,
            "eval_duration": int((elapsed - prompt) * 1e9),
        }
        if not call.scenario.usage:
            del stats["prompt_eval_count"], stats["eval_count"]
        return stats

    def finish(self, call: _Call) -> bytes:
        message = {"role": "assistant", "content": ""}
        reason = "length" if call.limited else "stop"
        line = self._line(call, message, True, done_reason=reason, **self._stats(call))
        return (_json(line) + "\n").encode()

    def stream_error(self, call: _Call, message: str) -> bytes:
        return (_json({"error": message}) + "\n").encode()

    def complete(self, call: _Call, chunks: list[Chunk]) -> Any:
        message = {
            "role": "assistant",
            "content": "".join(c.text for c in chunks if c.kind == "answer"),
        }
        if call.scenario.reasoning:
            message["thinking"] = "".join(c.text for c in chunks if c.kind == "reasoning")
        reason = "length" if call.limited else "stop"
        return self._line(call, message, True, done_reason=reason, **self._stats(call))


OPENAI, ANTHROPIC, OLLAMA = _OpenAI(), _Anthropic(), _Ollama()
_Wire = _WireBase


# ---- chat engine ------------------------------------------------------------------------


def _invalid_key(request: web.Request) -> bool:
    """Any key (or none) is accepted, except one starting with "invalid"."""
    keys = [
        request.headers.get("x-api-key"),
        request.headers.get("x-goog-api-key"),
        request.headers.get("api-key"),
        request.query.get("key"),
    ]
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        keys.append(auth[7:])
    return any(k and k.strip().startswith("invalid") for k in keys)


def _sim_headers(
    call_id: str, s: Scenario | None, hidden_reasoning: bool = False, active: int | None = None
) -> dict[str, str]:
    """Ground-truth headers; zeros when the model could not be resolved. X-Sim-Active (the
    requests of this model name in flight, this one included) once the request is counted.

    With hidden reasoning (OpenAI reasoning models, Gemini without includeThoughts) only
    the answer chunks are sent: X-Sim-Chunks counts them and X-Sim-TTFT-Ms is the time of
    the first one (or of the finish when there is none).
    """
    if s is None:
        ttft, chunks = "0", "0"
    elif hidden_reasoning and s.reasoning:
        chunks = str(math.ceil(s.n / s.chunk))
        first = next(
            e.at_ms
            for e in timeline(s)
            if e.kind not in ("comment", "bad") and (e.chunk is None or e.chunk.kind == "answer")
        )
        ttft = fmt_value(float(first))
    else:
        ttft, chunks = fmt_value(s.ttft), str(s.chunk_count)
    headers = {
        "X-Sim-Request-Id": call_id,
        "X-Sim-Scenario": s.spec() if s else "none",
        "X-Sim-TTFT-Ms": ttft,
        "X-Sim-ITL-Ms": fmt_value(s.itl) if s else "0",
        "X-Sim-Output-Tokens": str(s.output_tokens if s else 0),
        "X-Sim-Chunks": chunks,
    }
    if active is not None:
        headers["X-Sim-Active"] = str(active)
    return headers


async def _sleep_until(deadline: float) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


def _ms_since(received: float) -> float:
    return round((asyncio.get_running_loop().time() - received) * 1000, 3)


def _error(
    wire: _Wire, status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return wire.error_response(status, message, headers)


def _begin(request: web.Request, wire: _Wire) -> tuple[float, str, dict[str, Any]]:
    """(received, call id, log record) for a chat request; call it first in the handler."""
    received = asyncio.get_running_loop().time()  # every deadline counts from here
    state = request.app[_STATE]
    call_id = f"sim-{next(state.ids)}"
    record: dict[str, Any] = {
        "id": call_id,
        "model": None,
        "format": wire.name,
        "path": request.path,
        "scenario": None,
        "received_at": time.time(),
        "scheduled_ttft_ms": None,
        "active": None,
        "first_chunk_sent_ms": None,
        "chunks_sent": 0,
        "status": None,
        "outcome": "pending",
    }
    state.records.appendleft(record)
    return received, call_id, record


def _fail(
    wire: _Wire,
    record: dict[str, Any],
    call_id: str,
    scenario: Scenario | None,
    status: int,
    message: str,
    hidden_reasoning: bool = False,
    active: int | None = None,
) -> web.Response:
    record.update(status=status, outcome="error")
    headers = _sim_headers(call_id, scenario, hidden_reasoning, active)
    if status in (429, 529):
        headers["Retry-After"] = str(scenario.retry_after if scenario else 1)
    return wire.error_response(status, message, headers)


async def _read_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


async def _chat(request: web.Request, wire: _Wire) -> web.StreamResponse:
    if distance := request.app[_STATE].distance_s:
        await asyncio.sleep(distance)  # before the clock of the scripted timing starts
    received, call_id, record = _begin(request, wire)
    body = await _read_body(request)
    model = body.get("model") if isinstance(body, dict) else None
    record["model"] = model
    scenario: Scenario | None = None
    problem: ScenarioError | None = None
    if isinstance(model, str):
        try:
            scenario = parse_model(model)
        except ScenarioError as exc:
            problem = exc

    def fail(status: int, message: str) -> web.Response:
        return _fail(wire, record, call_id, scenario, status, message)

    # Precedence: auth, then request shape, then the scenario's scripted failures.
    if _invalid_key(request):
        return fail(401, "invalid api key (llmsim rejects keys starting with 'invalid')")
    if not isinstance(body, dict):
        return fail(400, "request body must be a JSON object")
    if not isinstance(model, str) or not model:
        return fail(400, "model is required")
    if problem is not None:
        return fail(400, problem.message)
    if scenario is None:
        return fail(404, wire.not_found(model))
    s = scenario
    input_tokens = s.input if s.input is not None else estimate_input_tokens(_message_texts(body))
    call = _Call(
        call_id,
        served_model(model, s),
        s,
        body,
        int(time.time()),
        received,
        input_tokens,
        record,
        flaky_key=model,
    )
    return await _run(request, wire, call, bool(body.get("stream", wire.stream_default)))


async def _run(request: web.Request, wire: _Wire, call: _Call, stream: bool) -> web.StreamResponse:
    """The scripted part shared by every endpoint: hang, status, flaky, then the answer.

    The request counts as active for its model name (the cap key) until this returns or
    is cancelled, whatever the outcome: the finally below is the only decrement.
    """
    state = request.app[_STATE]
    key = call.flaky_key or call.model
    others = state.active[key]
    call.active = others + 1
    state.active[key] += 1
    try:
        s = call.scenario = loaded(state.flaky.varied(key, call.scenario), others)
        record = call.record
        record.update(scenario=s.spec(), scheduled_ttft_ms=s.ttft, active=call.active)
        await _sleep_until(call.received + s.hang / 1000)
        if s.status is not None:
            return _fail_call(wire, call, s.status, f"simulated {s.status} error")
        fails, k = state.flaky.decide(key, s)
        if fails:
            message = f"simulated flaky failure (request {k} to {key})"
            return _fail_call(wire, call, s.flaky_status, message)
        if stream:
            return await _stream(request, wire, call)
        return await _complete(request, wire, call)
    except asyncio.CancelledError:
        # The client hung up (handler_cancellation) or the server is shutting down.
        call.record["outcome"] = "client_closed"
        raise
    finally:
        state.active[key] -= 1
        if not state.active[key]:
            del state.active[key]  # model names are unbounded: keep only the busy ones


def _fail_call(wire: _Wire, call: _Call, status: int, message: str) -> web.Response:
    s = call.scenario
    return _fail(wire, call.record, call.id, s, status, message, call.hidden_reasoning, call.active)


async def _stream(request: web.Request, wire: _Wire, call: _Call) -> web.StreamResponse:
    record = call.record
    headers = {
        **_sim_headers(call.id, call.scenario, call.hidden_reasoning, call.active),
        "Content-Type": wire.content_type,
    }
    headers.update({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    # aiohttp's own compression stays off (it only compresses after enable_compression(),
    # whose boolean form is deprecated) because its compressor would buffer the chunks. A
    # gzip wire compresses here instead, flushing after every event (see _send).
    if wire.gzip:
        headers["Content-Encoding"] = "gzip"
        call.compressor = zlib.compressobj(wbits=31)
    resp = web.StreamResponse(status=200, headers=headers)
    writer = await resp.prepare(request)
    # aiohttp >= 3.12 holds headers back until the first body write; "headers sent, no
    # chunk yet" must be observable (stall=0, Ollama's empty preamble), so push them now.
    send_headers = getattr(writer, "send_headers", None)
    if send_headers is not None:
        send_headers()
    record["status"] = 200
    try:
        await _play(request, resp, wire, call)
    except ConnectionError:
        # The client hung up between two writes. Returning (instead of raising) lets
        # aiohttp treat it as a disconnect rather than log "Error handling request".
        record["outcome"] = "client_closed"
    return resp


async def _send(resp: web.StreamResponse, call: _Call, data: bytes) -> None:
    if call.compressor is not None:
        # One compressor per response, synced after every event: each event can be
        # decompressed as soon as it arrives, so the stream stays on schedule.
        data = call.compressor.compress(data) + call.compressor.flush(zlib.Z_SYNC_FLUSH)
    await resp.write(data)


async def _play(request: web.Request, resp: web.StreamResponse, wire: _Wire, call: _Call) -> None:
    """Write the preamble, then each timeline event at its absolute deadline."""
    record = call.record
    s = call.scenario
    preamble = wire.preamble(call)
    if preamble:
        await _send(resp, call, preamble)
    for event in timeline(s):
        await _sleep_until(call.received + event.at_ms / 1000)
        data = b""
        if event.kind == "comment":
            data = wire.comment(call)
        elif event.kind == "bad":
            data = wire.bad(call)
        elif event.kind == "chunk":
            assert event.chunk is not None
            data = wire.chunk(call, event.chunk)
            if data:  # hidden reasoning takes its slot but sends nothing
                await _send(resp, call, data)
                if record["first_chunk_sent_ms"] is None:
                    record["first_chunk_sent_ms"] = _ms_since(call.received)
                record["chunks_sent"] += 1
            continue
        elif event.kind == "drop":
            record["outcome"] = "dropped"
            # Close without the terminating zero-length chunk: the client sees a broken
            # chunked body. aiohttp's own write_eof then fails with ConnectionError, which
            # it treats as a client disconnect (no log noise).
            if request.transport is not None:
                request.transport.close()
            return
        elif event.kind == "error":
            message = f"simulated error after {record['chunks_sent']} chunks"
            data = wire.stream_error(call, message)
            record["outcome"] = "stream_error"
        elif event.kind == "finish":
            record["outcome"] = "ok" if s.finish else "unfinished"
            if s.finish:
                data = wire.finish(call) + (b"" if s.usage_ms else wire.tail(call))
        elif s.finish:  # "usage": the late tail
            data = wire.tail(call)
        if data:
            await _send(resp, call, data)
    if call.compressor is not None:
        await resp.write(call.compressor.flush())
    await resp.write_eof()


async def _complete(request: web.Request, wire: _Wire, call: _Call) -> web.StreamResponse:
    """Non-streaming: the whole body at the scheduled time of the finish (or drop/error)."""
    record = call.record
    events = [e for e in timeline(call.scenario) if e.kind not in ("comment", "bad", "usage")]
    last = events[-1]
    await _sleep_until(call.received + last.at_ms / 1000)
    chunks = [e.chunk for e in events if e.chunk is not None]
    headers = _sim_headers(call.id, call.scenario, call.hidden_reasoning, call.active)
    if last.kind == "drop":
        record["outcome"] = "dropped"
        if request.transport is not None:
            request.transport.close()
        return web.Response()  # never reaches the client: the transport is closed
    if last.kind == "error":
        record.update(status=500, outcome="error")
        message = f"simulated error after {len(chunks)} chunks"
        return wire.error_response(500, message, headers)
    record.update(status=200, outcome="ok", chunks_sent=len(chunks))
    record["first_chunk_sent_ms"] = _ms_since(call.received)
    return wire.respond_json(wire.complete(call, chunks), 200, headers)


# ---- model listings -------------------------------------------------------------------


def _title(model_id: str) -> str:
    return model_id.replace("-", " ").title()


async def _models(request: web.Request) -> web.StreamResponse:
    """GET /v1/models is shared: Anthropic clients identify themselves by their headers."""
    if "anthropic-version" in request.headers or "x-api-key" in request.headers:
        return await _anthropic_models(request)
    if _invalid_key(request):
        return _error(OPENAI, 401, "invalid api key")
    data = [
        {"id": m, "object": "model", "created": CREATED, "owned_by": "llmsim"} for m in NAMED_MODELS
    ]
    return web.json_response({"object": "list", "data": data})


async def _together_models(request: web.Request) -> web.StreamResponse:
    if _invalid_key(request):
        return _error(OPENAI, 401, "invalid api key")
    data = [
        {
            "id": m,
            "object": "model",
            "created": CREATED,
            "type": "chat",
            "display_name": _title(m),
            "organization": "llmsim",
            "context_length": 8192,
        }
        for m in NAMED_MODELS
    ]
    return web.json_response(data)  # Together returns a bare array, not {"data": [...]}


async def _anthropic_models(request: web.Request) -> web.StreamResponse:
    if _invalid_key(request):
        return _error(ANTHROPIC, 401, "invalid x-api-key")
    ids = [*NAMED_MODELS, *ANTHROPIC_EXTRA]
    raw_limit = request.query.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        return _error(ANTHROPIC, 400, "limit: must be an integer between 1 and 1000")
    limit = int(raw_limit)
    after, before = request.query.get("after_id"), request.query.get("before_id")
    for cursor in (after, before):
        if cursor is not None and cursor not in ids:
            return _error(ANTHROPIC, 400, f"unknown model id in cursor: {cursor}")
    if before is not None:
        end = ids.index(before)
        start = max(0, end - limit)
        has_more = start > 0
    else:
        start = ids.index(after) + 1 if after is not None else 0
        end = min(len(ids), start + limit)
        has_more = end < len(ids)
    data = [
        {"type": "model", "id": m, "display_name": _title(m), "created_at": CREATED_AT}
        for m in ids[start:end]
    ]
    return web.json_response(
        {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


async def _ollama_tags(request: web.Request) -> web.StreamResponse:
    if _invalid_key(request):
        return _error(OLLAMA, 401, "unauthorized")
    sizes = {"fast-small": "1B", "balanced-medium": "8B", "slow-large": "70B", "reasoner": "14B"}
    models = []
    for i, m in enumerate(NAMED_MODELS):
        details = {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": sizes.get(m, "3B"),
            "quantization_level": "Q4_K_M",
        }
        models.append(
            {
                "name": f"{m}:latest",
                "model": f"{m}:latest",
                "modified_at": CREATED_AT,
                "size": 1_000_000_000 + i,
                "digest": hashlib.sha256(m.encode()).hexdigest(),
                "details": details,
            }
        )
    return web.json_response({"models": models})


def _gemini_error(status: int, message: str) -> web.Response:
    code = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED"}[status]
    return web.json_response(
        {"error": {"code": status, "message": message, "status": code}}, status=status
    )


async def _gemini_models(request: web.Request) -> web.StreamResponse:
    if _invalid_key(request):
        return _gemini_error(401, "API key not valid. Please pass a valid API key.")
    size_raw, token = request.query.get("pageSize", ""), request.query.get("pageToken", "")
    if (size_raw and not size_raw.isdigit()) or (token and not token.isdigit()):
        return _gemini_error(400, "Invalid pageSize or pageToken.")
    size = min(int(size_raw or 0) or 3, 1000)  # 0/absent means the default page size
    start = int(token or 0)
    models = []
    for i, (model_id, embedding) in enumerate(GEMINI_MODELS[start : start + size], start + 1):
        methods = ["embedContent"] if embedding else ["generateContent", "countTokens"]
        models.append(
            {
                "name": f"models/{model_id}",
                "version": "001",
                "displayName": f"Gemini Sim {i}",
                "description": "Simulated embedding model" if embedding else "Simulated chat model",
                "inputTokenLimit": 2048 if embedding else 1_048_576,
                "outputTokenLimit": 1 if embedding else 8192,
                "supportedGenerationMethods": methods,
            }
        )
    page: dict[str, Any] = {"models": models}
    if start + size < len(GEMINI_MODELS):  # like Gemini, the token is absent on the last page
        page["nextPageToken"] = str(start + size)
    return web.json_response(page)


async def _sim_requests(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= RECORD_LIMIT:
        return web.json_response({"error": f"limit must be 1..{RECORD_LIMIT}"}, status=400)
    records = itertools.islice(request.app[_STATE].records, int(raw))
    return web.json_response({"requests": [dict(r) for r in records]})


async def _sim_health(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


def make_app(seed: int = 0, distance_ms: float = 0) -> web.Application:
    """The simulator as an aiohttp application; ``seed`` drives the flaky failures,
    ``distance_ms`` delays every chat answer (a farther network)."""
    # Large client_max_size: long-prompt benchmarks must not hit aiohttp's 1 MiB default.
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_STATE] = _State(seed, distance_ms)

    def chat(wire: _Wire) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await _chat(request, wire)

        return handler

    app.router.add_post("/v1/chat/completions", chat(OPENAI))
    app.router.add_post("/together/v1/chat/completions", chat(OPENAI))
    app.router.add_post("/v1/messages", chat(ANTHROPIC))
    app.router.add_post("/api/chat", chat(OLLAMA))
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/together/v1/models", _together_models)
    app.router.add_get("/api/tags", _ollama_tags)
    app.router.add_get("/v1beta/models", _gemini_models)
    app.router.add_get("/_sim/requests", _sim_requests)
    app.router.add_get("/_sim/health", _sim_health)
    from arguslm.llmsim import profiles  # imports this module: import it only here

    profiles.add_routes(app)  # strict provider profiles under /p/<profile>/
    return app


async def _start(
    app: web.Application, host: str, port: int, shutdown_timeout: float
) -> tuple[web.AppRunner, str]:
    # access_log=None: a log line per chunk-scheduled request would cost time and noise.
    # handler_cancellation: a client that hangs up (e.g. during stall) ends its handler.
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]  # the real port when port=0
    if ":" in bound_host:  # IPv6 literal
        bound_host = f"[{bound_host}]"
    return runner, f"http://{bound_host}:{bound_port}"


def run(
    host: str = "127.0.0.1",
    port: int = 8100,
    seed: int = 0,
    on_ready: Callable[[str], None] | None = None,
    distance_ms: float = 0,
) -> None:
    """Serve until SIGINT/SIGTERM; ``on_ready(base_url)`` is called once listening."""

    async def main() -> None:
        app = make_app(seed, distance_ms)
        runner, url = await _start(app, host, port, shutdown_timeout=1.0)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not available on Windows, where Ctrl-C raises KeyboardInterrupt instead.
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        if on_ready is not None:
            on_ready(url)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, seed: int = 0
) -> tuple[str, Callable[[], None]]:
    """Run the simulator on its own event loop in a daemon thread.

    Returns once it is listening: (base_url, stop). ``stop()`` is idempotent and waits
    for the thread to finish.
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    started: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            started["runner"], started["url"] = loop.run_until_complete(
                _start(make_app(seed), host, port, shutdown_timeout=0.5)
            )
        except BaseException as exc:  # reported to the caller, which re-raises it
            started["error"] = exc
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(started["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="llmsim", daemon=True)
    thread.start()
    ready.wait()
    if "error" in started:
        raise started["error"]

    def stop() -> None:
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    return started["url"], stop


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (for servers that take a port number)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_in_process(
    host: str = "127.0.0.1", *, distance_ms: float = 0
) -> tuple[str, subprocess.Popen]:
    """Run ``manage.py llmsim`` in a process of its own, as a real provider would be (its work
    shares no GIL with the measuring process). Returns once it answers: (base_url, process);
    the caller terminates the process."""
    import httpx
    from django.conf import settings

    port = free_port(host)
    process = subprocess.Popen(
        [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "llmsim",
            "--host",
            host,
            "--port",
            str(port),
            "--distance-ms",
            str(distance_ms),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{host}:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/_sim/health", timeout=0.5)
            return url, process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the LLM simulator did not start within 10 s")
