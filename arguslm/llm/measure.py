"""Measure one chat request per docs/metrics.md: the gateway's timing path.

Two transports, chosen by ``CallTarget.route``:

* ``openai``: providers that speak the OpenAI wire format are streamed with httpx and a
  minimal SSE parser. Measured on this 2-core machine at 1,000 probes/min (gateway issue),
  litellm's streaming adds 9-10 ms median / ~55 ms p99 TTFT error and 35-44 ms CPU per probe;
  the ``openai`` SDK 4.6 / 8.4 ms and 11-16 ms; httpx with a minimal parser 4.3 / 8.1 ms and
  8-11 ms. Only the last two meet the targets (median <= 5 ms, p99 <= 10 ms), and the raw
  parser also gives us the HTTP status, the raw error body and exact per-read timestamps.
  The request itself follows each provider's rules (``rules.py``: token-limit parameter,
  usage in the stream, reasoning), which litellm's provider configs supply.
* ``litellm``: every other provider (Anthropic, Gemini, Bedrock, Vertex, Azure, Ollama's
  native API, the long tail) through ``litellm.acompletion`` with retries off. litellm is
  imported and warmed when a worker starts (``warm.py``), never in the middle of a pass.

No retries inside a measurement; timeouts per phase (connect, first token, between tokens,
total). Every byte read is bounded and decoded first (``wire.py``). Error messages never carry
credentials or the prompt. ``measure()`` never raises: whatever goes wrong becomes that
sample's classified error, so one bad answer cannot lose the other samples of a pass or run.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import statistics
import threading
import time

import httpx

from arguslm.llm import answers, egress, lazy, rules, wire
from arguslm.llm.types import CallTarget, ErrorType, Sample, Timeouts, error_type_for_status
from arguslm.stats import percentile

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = wire.MAX_BODY_BYTES
MAX_ERROR_BODY_BYTES = 64 * 1024  # an error body is a message, not a payload
MAX_ERROR_CHARS = 500
EXCERPT_CHARS = 200  # of an answer, stored with a check so people can see what came back
IDENTITY_CHARS = 200  # of a response's model name or system fingerprint
# How long to keep reading after [DONE] so the connection goes back to the pool clean.
DRAIN_S = 1.0
# A text averaging at most this many characters per token-bearing chunk was streamed one
# token per chunk (English runs ~4 characters a token): the chunk count is then the closest
# estimate of the tokens (llama.cpp, vLLM, Ollama and TGI stream a token per chunk); longer
# chunks carry several tokens and the tokenizer estimate is closer. Measured against a real
# server by ``manage.py real_llm_bench`` (README, "Accuracy against a real server").
ONE_TOKEN_CHUNK_CHARS = 8
# No tokenizer in use makes tokens longer than this on average: a text this many times the
# limit (in characters) is at the limit without being tokenized.
MAX_CHARS_PER_TOKEN = 16
_NS = 1_000_000
DEFAULT_TIMEOUTS = Timeouts()
_SECRET_PATTERN = re.compile(r"(?i)(bearer\s+|api[-_]?key[\"':=\s]{1,20})[A-Za-z0-9._\-]{12,}")


class _StreamFailure(Exception):
    """An error reported inside a stream (after the first byte)."""


def _ms(start_ns: int, end_ns: int) -> float:
    return (end_ns - start_ns) / _NS


def scrub(text: str, *, secrets: list[str]) -> str:
    """Remove credentials and prompt text from an error message, and cap its length."""
    text = text[: MAX_ERROR_CHARS * 8]  # cap, then search: the text may come from a provider
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _SECRET_PATTERN.sub(r"\1[redacted]", text)
    text = " ".join(text.split())
    return text[:MAX_ERROR_CHARS]


class _Collector:
    """Accumulates the stream's observable facts, then builds the Sample."""

    def __init__(self, t0: int, *, limit: int | None = None):
        self.t0 = t0
        self.limit = limit  # the token limit sent
        self.first_token_ns: int | None = None
        self.first_answer_ns: int | None = None
        self.last_token_ns: int | None = None
        self.chunks = 0
        self.parts: list[str] = []
        self.answer_parts: list[str] = []
        self.token_ns: list[int] = []  # when each token-bearing chunk arrived
        self.usage: dict | None = None
        self.finish_reason: str | None = None
        self.done = False  # the OpenAI "[DONE]" terminator arrived
        self.connect_start_ns: int | None = None
        self.connect_end_ns: int | None = None
        self.served_model: str | None = None
        self.system_fingerprint: str | None = None
        self.tool: str | None = None  # the name of the first function the model called

    def called(self, name) -> None:
        if self.tool is None and isinstance(name, str) and name:
            self.tool = name[:IDENTITY_CHARS]

    def identify(self, served_model, system_fingerprint) -> None:
        """What the response says served it (its ``model`` and OpenAI's ``system_fingerprint``),
        from the first event that says so; bounded, like every provider string kept."""
        if self.served_model is None and isinstance(served_model, str) and served_model:
            self.served_model = served_model[:IDENTITY_CHARS]
        if (
            self.system_fingerprint is None
            and isinstance(system_fingerprint, str)
            and system_fingerprint
        ):
            self.system_fingerprint = system_fingerprint[:IDENTITY_CHARS]

    def token(self, now: int, text: str, *, answer: bool) -> None:
        if not text:
            return
        if self.first_token_ns is None:
            self.first_token_ns = now
        if answer and self.first_answer_ns is None:
            self.first_answer_ns = now
        self.last_token_ns = now
        self.token_ns.append(now)
        self.chunks += 1
        self.parts.append(text)
        if answer:
            self.answer_parts.append(text)

    async def trace(self, name: str, info: dict) -> None:
        """httpx's trace hook: when this request opened a connection, and for how long."""
        if name == "connection.connect_tcp.started":
            self.connect_start_ns = time.perf_counter_ns()
        elif name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.connect_end_ns = time.perf_counter_ns()

    def connection(self, sample: Sample) -> None:
        sample.new_connection = self.connect_start_ns is not None
        if self.connect_start_ns is not None and self.connect_end_ns is not None:
            sample.connect_ms = _ms(self.connect_start_ns, self.connect_end_ns)

    def sample(self, target: CallTarget, messages: list[dict], *, streamed: bool) -> Sample:
        s = Sample(chunks=self.chunks, text="".join(self.parts))
        s.served_model, s.system_fingerprint = self.served_model, self.system_fingerprint
        s.tool = self.tool
        s.answer = "".join(self.answer_parts)
        s.excerpt = scrub(s.answer[: EXCERPT_CHARS * 8], secrets=_secrets(target, messages))[
            :EXCERPT_CHARS
        ]
        if streamed and self.first_token_ns is not None:
            s.ttft_ms = _ms(self.t0, self.first_token_ns)
        if streamed and self.first_answer_ns is not None:
            s.ttfat_ms = _ms(self.t0, self.first_answer_ns)
        if self.last_token_ns is not None:
            s.latency_ms = _ms(self.t0, self.last_token_ns)
        if streamed and len(self.token_ns) >= 2:
            gaps = [_ms(a, b) for a, b in itertools.pairwise(self.token_ns)]
            s.itl_mean_ms = statistics.fmean(gaps)
            s.itl_p95_ms = percentile(gaps, 95)
        usage = self.usage or {}
        completion = usage.get("completion_tokens")
        if isinstance(completion, int) and not isinstance(completion, bool) and completion >= 0:
            s.output_tokens, s.token_source = completion, "usage"
        elif self.finish_reason == "length" and self.limit:
            # Stopped at the limit without reporting usage: it generated exactly the limit.
            s.output_tokens, s.token_source = self.limit, "limit"
        else:
            s.output_tokens = estimate_output_tokens(s.text, self.chunks, limit=self.limit)
            s.token_source = "estimate"
        prompt = usage.get("prompt_tokens")
        s.input_tokens = (
            prompt
            if isinstance(prompt, int) and not isinstance(prompt, bool) and prompt >= 0
            else estimate_input_tokens(messages)
        )
        details = usage.get("completion_tokens_details") or {}
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
        s.reasoning_tokens = reasoning if isinstance(reasoning, int) else None
        if self.chunks == 0:
            s.error_type = ErrorType.EMPTY_RESPONSE
            s.error = self._empty_reason(s)
        return s.finish()

    def _empty_reason(self, s: Sample) -> str:
        if self.finish_reason == "length" and s.reasoning_tokens:
            return (
                f"The {self.limit}-token limit was spent on reasoning ({s.reasoning_tokens} "
                "reasoning tokens) before any answer token: raise the token limit."
            )
        if self.finish_reason == "length":
            return f"The answer stopped at the {self.limit}-token limit before any visible token."
        return "The response completed without any generated tokens."


def _tokenizer_count(*, text: str = "", messages: list[dict] | None = None) -> int:
    """litellm's default tokenizer (tiktoken's cl100k, shipped inside litellm).

    Never a model-specific tokenizer: those are downloaded from a hub on first use, and a
    blocked download froze a probing loop for 23 s on a machine without internet.
    """
    litellm = lazy.litellm()
    if messages is not None:
        return int(litellm.token_counter(messages=messages))
    return int(litellm.token_counter(text=text))


def estimate_output_tokens(text: str, chunks: int, *, limit: int | None = None) -> int:
    """Output tokens of an answer that reported no usage and was not stopped by the limit.

    The chunk count where the text came one token per chunk, else the tokenizer estimate (at
    least the chunk count); never above the limit.
    """
    if not text:
        return 0
    if limit and len(text) >= limit * MAX_CHARS_PER_TOKEN:
        return limit  # no need to tokenize megabytes on the probing loop to know that
    if chunks and len(text) / chunks <= ONE_TOKEN_CHUNK_CHARS:
        estimate = chunks
    else:
        estimate = max(chunks, _tokenizer_count(text=text))
    return min(estimate, limit) if limit else estimate


def estimate_input_tokens(messages: list[dict]) -> int:
    """Prompt tokens where usage is not reported: the default tokenizer's count."""
    try:
        return _tokenizer_count(messages=messages)
    except Exception:  # content the tokenizer cannot read (images, odd parts)
        return 0


def estimate_tokens(*, text: str = "", messages: list[dict] | None = None) -> int:
    """A tokenizer estimate of a text or of messages (the default tokenizer, never a download)."""
    if messages is not None:
        return estimate_input_tokens(messages)
    return _tokenizer_count(text=text) if text else 0


def _secrets(target: CallTarget, messages: list[dict]) -> list[str]:
    values = [target.api_key or ""]
    values += [str(v) for k, v in target.litellm_kwargs.items() if "key" in k or "secret" in k]
    values += [str(v) for v in target.headers.values()]
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            values.append(content)
    return values


def _error_message(body: bytes) -> str:
    """The provider's own message from an error body (OpenAI, Anthropic, Ollama shapes)."""
    body = body[:MAX_ERROR_BODY_BYTES]
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # Gemini wraps some errors in a list
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("type") or error
            if isinstance(message, dict | list):  # Mistral: {"message": {"detail": [...]}}
                message = json.dumps(message)[:300]
            return str(message)
        if isinstance(error, str):
            return error
    return str(data)[:200]


# --- OpenAI wire format over httpx ------------------------------------------------------------


def _apply_delta(col: _Collector, now: int, choice) -> None:
    if not isinstance(choice, dict):
        raise _StreamFailure(f"Malformed stream event: a choice is {type(choice).__name__}.")
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        raise _StreamFailure("Malformed stream event: delta is not an object.")
    for key in ("reasoning_content", "reasoning"):
        value = delta.get(key)
        if isinstance(value, str):
            col.token(now, value, answer=False)
    content = delta.get("content")
    if isinstance(content, str):
        col.token(now, content, answer=True)
    calls = delta.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        args = function.get("arguments") if isinstance(function, dict) else None
        if isinstance(function, dict):
            col.called(function.get("name"))
        if isinstance(args, str):
            col.token(now, args, answer=True)
    reason = choice.get("finish_reason")
    if isinstance(reason, str) and reason:
        col.finish_reason = reason


def _handle_event(col: _Collector, now: int, payload: bytes) -> bool:
    """Apply one SSE ``data:`` payload; True when the stream says it is done."""
    if payload == b"[DONE]":
        col.done = True
        return True
    if not payload:
        return False
    try:
        event = json.loads(payload)
    except ValueError:
        raise _StreamFailure(f"Malformed stream event: {payload[:80]!r}") from None
    if not isinstance(event, dict):
        raise _StreamFailure(f"Malformed stream event: {payload[:80]!r}")
    if "error" in event:
        raise _StreamFailure(f"Error in stream: {_error_message(payload)}")
    col.identify(event.get("model"), event.get("system_fingerprint"))
    choices = event.get("choices")
    if choices is not None and not isinstance(choices, list):
        raise _StreamFailure("Malformed stream event: choices is not a list.")
    for choice in choices or ():
        _apply_delta(col, now, choice)
    usage = event.get("usage")
    if not isinstance(usage, dict):
        # Groq reported streamed usage under ``x_groq.usage`` (Groq API reference, streaming).
        groq = event.get("x_groq")
        usage = groq.get("usage") if isinstance(groq, dict) else None
    if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
        col.usage = usage
    return False


async def _openai_stream(
    client, target, messages, max_tokens, timeouts, temperature, stream, tools=None
):
    url = target.base_url.rstrip("/") + "/chat/completions"
    headers = {
        "Content-Type": "application/json",
        "Accept-Encoding": wire.CHAT_ACCEPT_ENCODING,
        **target.headers,
    }
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    request_rules = rules.for_target(target)
    payload = request_rules.openai_body(
        target.model_id,
        messages,
        max_tokens=max_tokens,
        stream=stream,
        temperature=temperature,
        tools=tools,
    )
    body = json.dumps(payload).encode()
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter_ns()
    col = _Collector(t0, limit=request_rules.token_limit(max_tokens))
    started = loop.time()
    total_deadline = started + timeouts.total
    try:
        sample = await _openai_read(
            client,
            url,
            body,
            headers,
            target,
            messages,
            timeouts,
            col,
            stream,
            loop,
            total_deadline,
        )
    except TimeoutError:
        sample = _timed_out(col, target, messages, timeouts, loop.time() - started)
    col.connection(sample)
    return sample


async def _openai_read(
    client, url, body, headers, target, messages, timeouts, col, stream, loop, total_deadline
):
    # timeout_at: the deadline is a loop time. (asyncio.timeout() takes a delay: given this
    # absolute time it never fired, so a provider that never sent headers hung the probe.)
    async with asyncio.timeout_at(
        min(total_deadline, loop.time() + timeouts.connect + timeouts.first_token)
    ) as cm:
        phase = "first_token"
        try:
            async with client.stream(
                "POST",
                url,
                params=target.query or None,
                content=body,
                headers=headers,
                extensions={
                    "trace": col.trace,
                    egress.PRIVATE: _private(target),
                },
            ) as resp:
                status = resp.status_code
                ctype = resp.headers.get("content-type", "")
                if status >= 400:
                    try:
                        raw = await wire.read_body(resp, limit=MAX_ERROR_BODY_BYTES, truncate=True)
                    except wire.BodyError as exc:  # corrupt or unknown encoding
                        raw = str(exc).encode()
                    return _http_error(status, raw, resp.headers, target, messages)
                if 300 <= status < 400:
                    sample = _failed(col, target, messages, ErrorType.UNKNOWN, _redirected(status))
                    sample.status_code = status
                    return sample
                decoder = wire.decoder_for(resp)
                if stream and "event-stream" in ctype:
                    buffer = b""
                    chunks = resp.aiter_raw()
                    async for data in chunks:
                        now = time.perf_counter_ns()
                        buffer += decoder.feed(data)
                        *lines, buffer = buffer.split(b"\n")
                        for line in lines:
                            if line.startswith(b"data:") and _handle_event(
                                col, now, line[5:].strip()
                            ):
                                break
                        if col.done:
                            break
                        if col.first_token_ns is not None:
                            phase = "between_tokens"
                        cm.reschedule(
                            min(
                                total_deadline,
                                loop.time()
                                + (
                                    timeouts.between_tokens
                                    if phase == "between_tokens"
                                    else timeouts.first_token
                                ),
                            )
                        )
                    if buffer.startswith(b"data:"):
                        _handle_event(col, time.perf_counter_ns(), buffer[5:].strip())
                    if col.done:
                        await _drain(chunks, decoder)
                    sample = col.sample(target, messages, streamed=True)
                    if sample.ok and not col.done and col.finish_reason is None:
                        # A clean end with neither a finish reason nor [DONE]: the answer may
                        # have been cut short (a proxy or server that gave up politely).
                        return _failed(
                            col,
                            target,
                            messages,
                            ErrorType.STREAM_ERROR,
                            "The stream ended without a finish reason or [DONE].",
                        )
                else:
                    # Non-streaming call, or a server that ignored stream=true: one JSON body.
                    raw = b"".join([decoder.feed(data) async for data in resp.aiter_raw()])
                    now = time.perf_counter_ns()
                    sample = _from_completion(col, now, raw, target, messages)
                sample.status_code = status
                return sample
        except TimeoutError:
            raise
        except _StreamFailure as exc:
            return _failed(col, target, messages, ErrorType.STREAM_ERROR, str(exc))
        except wire.BodyError as exc:
            return _failed(col, target, messages, ErrorType.STREAM_ERROR, str(exc))
        except (httpx.InvalidURL, UnicodeEncodeError) as exc:
            # Stored credentials httpx cannot send (a control character in the base URL, a
            # non-ASCII key): the request never left. Classified, so it fails this probe
            # alone and not every probe of its monitoring shard (it used to propagate).
            return _failed(
                col,
                target,
                messages,
                ErrorType.BAD_REQUEST,
                f"Cannot send the request (check the base URL and API key): {exc}",
            )
        except httpx.ConnectTimeout:
            return _failed(
                col,
                target,
                messages,
                ErrorType.TIMEOUT,
                f"Timed out connecting after {timeouts.connect:g} s.",
            )
        except httpx.TimeoutException as exc:
            return _failed(
                col, target, messages, ErrorType.TIMEOUT, f"Timed out: {type(exc).__name__}"
            )
        except (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            return _failed(
                col,
                target,
                messages,
                ErrorType.CONNECTION,
                f"Cannot connect to {_origin(url)}: {exc}",
            )
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            kind = (
                ErrorType.STREAM_ERROR if col.first_token_ns or col.chunks else ErrorType.CONNECTION
            )
            return _failed(
                col, target, messages, kind, f"Connection broken: {exc or type(exc).__name__}"
            )
        except httpx.TransportError as exc:  # anything else below HTTP: still this sample's
            return _failed(col, target, messages, ErrorType.CONNECTION, f"Transport error: {exc!r}")


async def _drain(chunks, decoder: wire.Decoder) -> None:
    """Read what follows [DONE] (the chunked terminator) so the connection is reused."""
    try:
        async with asyncio.timeout(DRAIN_S):
            async for data in chunks:
                decoder.feed(data)
    except (TimeoutError, httpx.HTTPError, wire.BodyError):
        pass  # the connection is then closed instead of reused; the sample is complete


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


def _from_completion(col: _Collector, now: int, raw: bytes, target, messages) -> Sample:
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict):
            raise TypeError
    except (ValueError, KeyError, IndexError, TypeError):
        return _failed(col, target, messages, ErrorType.UNKNOWN, "Unexpected response body.")
    col.identify(data.get("model"), data.get("system_fingerprint"))
    for key in ("reasoning_content", "reasoning"):
        if isinstance(message.get(key), str):
            col.token(now, message[key], answer=False)
    content = message.get("content")
    col.token(now, content if isinstance(content, str) else "", answer=True)
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        args = function.get("arguments") if isinstance(function, dict) else None
        if isinstance(function, dict):
            col.called(function.get("name"))
        col.token(now, args if isinstance(args, str) else "", answer=True)
    if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
        col.finish_reason = choice["finish_reason"]
    col.usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    return col.sample(target, messages, streamed=False)


def _redirected(status: int) -> str:
    # Never followed: the key would travel to whatever host the redirect names. The Location
    # is left out of the message (it may carry tokens of its own).
    return f"HTTP {status}: a redirect, not followed: use the final address as the base URL."


def _http_error(status: int, raw: bytes, headers, target, messages) -> Sample:
    message = f"HTTP {status}: {_error_message(raw) or 'no error body'}"
    retry_after = headers.get("retry-after", "")[:40]
    if status in (429, 529) and retry_after:
        message += f" (Retry-After: {retry_after})"
    sample = Sample(
        error_type=error_type_for_status(status),
        status_code=status,
        error=scrub(message, secrets=_secrets(target, messages)),
    )
    return sample


def _failed(col: _Collector, target, messages, error_type: ErrorType, message: str) -> Sample:
    """A failed attempt keeps the timings observed before the failure."""
    sample = Sample(
        chunks=col.chunks,
        error_type=error_type,
        error=scrub(message, secrets=_secrets(target, messages)),
    )
    if col.first_token_ns is not None:
        sample.ttft_ms = _ms(col.t0, col.first_token_ns)
    return sample


# --- litellm --------------------------------------------------------------------------------


def _chain(exc: BaseException | None):
    """The exception and the ones it was raised from (litellm wraps up to a few levels)."""
    for _ in range(6):
        if exc is None:
            return
        yield exc
        exc = exc.__cause__ or exc.__context__


def _redirect_status(exc: BaseException) -> int | None:
    """The 3xx status of a redirect litellm did not follow, found in the exception's chain."""
    for link in _chain(exc):
        status = getattr(getattr(link, "response", None), "status_code", None)
        if isinstance(status, int) and 300 <= status < 400:
            return status
    return None


def _response_status(exc: BaseException) -> int | None:
    """The HTTP status of the provider's own answer, when the exception carries one."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) and status >= 400 else None


def _litellm_status(exc: Exception) -> int | None:
    """The provider's HTTP status (litellm reports 529 as a 500 on the exception itself)."""
    status = _response_status(exc) or getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _is_connection_error(exc: BaseException) -> bool:
    """A refused, unresolvable or reset host: litellm wraps it in APIConnectionError (with a
    made-up status 500) or lets httpx's own error through."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | OSError):
            return True
        if type(exc).__name__ == "APIConnectionError" and _response_status(exc) is None:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _classify_litellm(exc: Exception, *, after_first_byte: bool) -> ErrorType:
    name = type(exc).__name__
    text = str(exc)[:2000]
    if "Timeout" in name:
        return ErrorType.TIMEOUT
    if after_first_byte:  # any failure after the first byte (metrics.md)
        return ErrorType.STREAM_ERROR
    if _is_connection_error(exc):
        return ErrorType.CONNECTION
    if "overloaded_error" in text or "rate_limit_error" in text:
        return ErrorType.RATE_LIMITED
    status = _litellm_status(exc)
    if status is None:
        return ErrorType.UNKNOWN
    return error_type_for_status(status)


def _litellm_message(exc: Exception, target: CallTarget) -> str:
    """A short message: the provider's own words where litellm wrapped a JSON error body."""
    if _is_connection_error(exc):
        base = target.litellm_kwargs.get("api_base") or "the provider"
        cause = exc.__cause__ or exc.__context__ or exc
        reason = re.sub(r" ssl:<[^<>]{0,200}>", "", str(cause)[:300]) or type(cause).__name__
        return f"Cannot connect to {base}: {reason}"
    text = str(getattr(exc, "message", None) or exc or type(exc).__name__)[: MAX_ERROR_CHARS * 8]
    text = re.sub(r"litellm\.\w+:\s*", "", text)
    text = re.sub(r"\b\w+Exception - ", "", text)  # \b: one attempt per word, not per character
    text = text.replace("Handle with `", "").split(". Handle with")[0]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        inner = _error_message(text[start : end + 1].encode())
        if inner and inner != text[start : end + 1][:200]:
            text = inner
    status = _litellm_status(exc)
    return f"HTTP {status}: {text}" if status and status >= 400 else text


def _usage_dict(usage) -> dict | None:
    if usage is None:
        return None
    try:
        dumped = usage.model_dump() if hasattr(usage, "model_dump") else dict(usage)
    except (TypeError, ValueError):
        return None
    return dumped if isinstance(dumped, dict) else None


def _litellm_delta(col: _Collector, now: int, chunk) -> None:
    col.identify(getattr(chunk, "model", None), getattr(chunk, "system_fingerprint", None))
    for choice in getattr(chunk, "choices", None) or ():
        delta = getattr(choice, "delta", None)
        if delta is not None:
            for key in ("reasoning_content", "reasoning"):
                value = getattr(delta, key, None)
                if isinstance(value, str):
                    col.token(now, value, answer=False)
            content = getattr(delta, "content", None)
            if isinstance(content, str):
                col.token(now, content, answer=True)
            for call in getattr(delta, "tool_calls", None) or ():
                function = getattr(call, "function", None)
                col.called(getattr(function, "name", None))
                args = getattr(function, "arguments", None)
                if isinstance(args, str):
                    col.token(now, args, answer=True)
        reason = getattr(choice, "finish_reason", None)
        if isinstance(reason, str) and reason:
            col.finish_reason = reason


def _reported_usage(response) -> dict | None:
    """The usage the provider itself reported in the stream, or None.

    litellm hands the caller a final usage chunk even when the provider reported none (it then
    counts tokens itself); the chunks it received from the provider are kept in
    ``CustomStreamWrapper.chunks``, where only provider-reported usage appears. The latest
    report carries the totals (Anthropic's message_delta after message_start).
    """
    merged: dict = {}
    for chunk in getattr(response, "chunks", None) or ():
        usage = _usage_dict(getattr(chunk, "usage", None))
        if not usage:
            continue
        for key in ("prompt_tokens", "completion_tokens", "completion_tokens_details"):
            if usage.get(key):
                merged[key] = usage[key]
    return merged if "completion_tokens" in merged else None


async def _litellm_stream(target, messages, max_tokens, timeouts, temperature, stream, tools=None):
    litellm = lazy.litellm()
    request_rules = rules.for_target(target)
    kwargs = dict(target.litellm_kwargs)
    if target.provider_type in OWN_CLIENT_TYPES:
        kwargs["client"] = _litellm_client(_private(target))
    kwargs.update(
        model=target.litellm_model,
        messages=messages,
        timeout=timeouts.total,
        num_retries=0,
        max_retries=0,
        **request_rules.litellm_params(
            max_tokens=max_tokens, stream=stream, temperature=temperature, tools=tools
        ),
    )
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter_ns()
    col = _Collector(t0, limit=request_rules.token_limit(max_tokens))
    started = loop.time()
    total_deadline = started + timeouts.total
    # What bounds this route. litellm reads the bodies itself, with no size limit on a POST's
    # answer, and reads an error body whole (``aread()``, e.g. anthropic/chat/handler.py).
    # - Time, always: the phase deadlines below, whatever litellm does.
    # - Bytes: for OWN_CLIENT_TYPES, its transport decodes and cuts every body off at 8 MiB
    #   (received or decoded); for the other types nothing does: a provider may fill memory
    #   at line rate until the deadline passes.
    # - Redirects: never followed for OWN_CLIENT_TYPES; litellm's own clients follow them
    #   (httpx then drops only the Authorization header).
    # litellm does not always honour cancellation promptly (it may keep waiting for its own
    # socket timeout), so the call runs as a separate task and the phase deadlines are
    # enforced here; a task that overruns is cancelled and abandoned, never awaited.
    task = asyncio.ensure_future(_litellm_read(litellm, kwargs, target, messages, col, stream))
    last_seen = None
    while True:
        if col.last_token_ns != last_seen or last_seen is None:
            last_seen = col.last_token_ns
            wait = timeouts.between_tokens if last_seen else timeouts.connect + timeouts.first_token
            deadline = min(total_deadline, loop.time() + wait)
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
        if done:
            return task.result()
        if col.last_token_ns == last_seen:
            task.cancel()
            task.add_done_callback(_discard_result)
            return _timed_out(col, target, messages, timeouts, loop.time() - started)


# litellm's own HTTP clients follow redirects (``AsyncHTTPHandler(follow_redirects=True)`` in
# litellm/llms/custom_httpx/http_handler.py, 1.110), and httpx drops only ``Authorization`` on a
# redirect to another origin: Anthropic's x-api-key and Gemini's x-goog-api-key went along to
# the redirect's host (tests/gateway/test_hostile.py). These types' litellm handlers accept an
# ``AsyncHTTPHandler`` as ``client`` (anthropic/chat/handler.py, vertex_and_google_ai_studio_
# gemini.py, bedrock/chat/converse_handler.py): they get one that follows no redirect and
# connects under the network policy. The untested long tail keeps litellm's clients (some are
# the openai SDK's, which take another client type); see docs/network-policy.md.
OWN_CLIENT_TYPES = frozenset({"anthropic", "google_ai_studio", "google_vertex", "aws_bedrock"})
_litellm_clients: dict[tuple[int, bool], object] = {}


def _litellm_client(private: bool):
    """The litellm HTTP handler of this loop and tier (one pool each, kept across passes)."""
    key = (id(asyncio.get_running_loop()), private)
    client = _litellm_clients.get(key)
    if client is None:
        client = lazy.async_http_handler()(
            transport=egress.Transport(private=private, limit=MAX_RESPONSE_BYTES),
            follow_redirects=False,
        )
        _litellm_clients[key] = client
    return client


_litellm_loop: asyncio.AbstractEventLoop | None = None
_litellm_loop_pid: int | None = None
_litellm_loop_lock = threading.Lock()


def _litellm_runner() -> asyncio.AbstractEventLoop:
    """The process's event loop for litellm calls, in a thread of its own (started once).

    A litellm call costs 35-44 ms of CPU per probe (gateway issue), spent in pieces between
    its reads. On the loop that times the direct streams, each piece would hold every other
    stream's next read back by that much; on a thread of its own, the interpreter hands the
    timing loop its turn at least every switch interval (5 ms), so a pass that mixes routes
    keeps the direct route's precision. litellm's clients live on this loop across passes.
    """
    global _litellm_loop, _litellm_loop_pid
    with _litellm_loop_lock:
        # A forked child inherits the loop but not its thread: it starts its own.
        if _litellm_loop is None or _litellm_loop.is_closed() or _litellm_loop_pid != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="litellm-route", daemon=True).start()
            _litellm_loop, _litellm_loop_pid = loop, os.getpid()
        return _litellm_loop


async def _on_litellm_loop(coroutine) -> Sample:
    future = asyncio.run_coroutine_threadsafe(coroutine, _litellm_runner())
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.cancel()
        raise


def _discard_result(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # retrieve it, so asyncio does not log "never retrieved"


async def _litellm_read(litellm, kwargs, target, messages, col, stream) -> Sample:
    try:
        response = await litellm.acompletion(**kwargs)
        if not stream:
            now = time.perf_counter_ns()
            col.identify(
                getattr(response, "model", None), getattr(response, "system_fingerprint", None)
            )
            choice = response.choices[0]
            message = choice.message
            reasoning = getattr(message, "reasoning_content", None)
            if isinstance(reasoning, str):
                col.token(now, reasoning, answer=False)
            col.token(now, message.content or "", answer=True)
            if isinstance(getattr(choice, "finish_reason", None), str):
                col.finish_reason = choice.finish_reason
            col.usage = _usage_dict(getattr(response, "usage", None))
            return col.sample(target, messages, streamed=False)
        async for chunk in response:
            _litellm_delta(col, time.perf_counter_ns(), chunk)
        col.usage = _reported_usage(response)
        sample = col.sample(target, messages, streamed=True)
        if sample.ok and col.finish_reason is None:
            return _failed(
                col,
                target,
                messages,
                ErrorType.STREAM_ERROR,
                "The stream ended without a finish reason.",
            )
        return sample
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if redirect := _redirect_status(exc):
            return _failed(col, target, messages, ErrorType.UNKNOWN, _redirected(redirect))
        if cut := next((e for e in _chain(exc) if isinstance(e, egress.BodyLimit)), None):
            return _failed(col, target, messages, ErrorType.STREAM_ERROR, str(cut))
        kind = _classify_litellm(exc, after_first_byte=col.first_token_ns is not None)
        return _failed(col, target, messages, kind, _litellm_message(exc, target))


# --- entry point ----------------------------------------------------------------------------


def new_http_client(
    timeouts: Timeouts = DEFAULT_TIMEOUTS, *, max_connections: int = 1000
) -> httpx.AsyncClient:
    """An httpx client for the OpenAI route; share one per event loop (keep-alive pooling).

    Its transport connects only where the network policy allows (``egress.Transport``, which
    keeps the connections of local provider types apart); redirects are never followed.
    """
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=timeouts.connect, read=None, write=timeouts.connect, pool=None
        ),
        transport=egress.Transport(limits=limits),
        follow_redirects=False,
    )


async def measure(
    target: CallTarget,
    messages: list[dict],
    *,
    max_tokens: int,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    stream: bool = True,
    temperature: float | None = None,
    client: httpx.AsyncClient | None = None,
    expect: list | None = None,
    tools: list | None = None,
) -> Sample:
    """Send one request to ``target`` and measure it (one HTTP attempt, never retried).

    Never raises (except cancellation): a failure of any kind is the sample's error. With
    ``expect`` (answer-check rules, arguslm.llm.answers), an answer that fails them makes the
    sample a ``bad_answer``, checked once the timings are taken.
    """
    if not rules.is_prepared(target):
        # Normally resolved before the pass (``rules.prepare``); a one-off call (connection
        # test) resolves it here, off the loop and before t0.
        await asyncio.to_thread(rules.for_target, target)
    refused = await _refusal(target, timeouts)
    if refused:
        return Sample(
            error_type=ErrorType.CONNECTION,
            error=scrub(f"Refused by the network policy: {refused}", secrets=_secrets(target, [])),
        )
    own_client = client is None and target.route == "openai"
    if own_client:
        client = new_http_client(timeouts)
    try:
        if target.route == "openai":
            sample = await _openai_stream(
                client, target, messages, max_tokens, timeouts, temperature, stream, tools
            )
        else:
            sample = await _on_litellm_loop(
                _litellm_stream(target, messages, max_tokens, timeouts, temperature, stream, tools)
            )
        reason = expect and sample.ok and answers.failure(expect, sample.answer, sample.tool)
        if reason:
            sample.error_type = ErrorType.BAD_ANSWER
            sample.error = scrub(reason, secrets=_secrets(target, messages))
        return sample
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a gateway bug or an answer no branch foresaw: this sample only
        log.exception("Measuring %s/%s failed unexpectedly", target.provider_type, target.model_id)
        return Sample(
            error_type=ErrorType.UNKNOWN,
            error=scrub(
                f"Unexpected error: {type(exc).__name__}: {exc}",
                secrets=_secrets(target, messages),
            ),
        )
    finally:
        if own_client:
            await client.aclose()


def _private(target: CallTarget) -> bool:
    """Whether the network policy lets this target reach private and loopback addresses."""
    return target.private or egress.private_allowed(target.provider_type)


async def _refusal(target: CallTarget, timeouts: Timeouts) -> str | None:
    """Why the network policy refuses this target's destination, or None.

    Every URL's host is checked here; the resolved addresses are checked when our transport
    connects (the OpenAI route, and litellm with ``OWN_CLIENT_TYPES``). Where litellm or
    google-auth (a Vertex service account's token endpoint) connect by themselves, the
    addresses are resolved and checked here, once, before the call; they resolve the name
    again (one that re-resolves elsewhere in between is the residual risk,
    docs/network-policy.md).
    """
    private = _private(target)
    if target.route == "openai":
        return egress.url_refusal(target.base_url or "", private=private)
    ours = target.provider_type in OWN_CLIENT_TYPES
    urls = [(target.litellm_kwargs.get("api_base"), not ours)]  # (url, resolve it here)
    account = target.litellm_kwargs.get("vertex_credentials")
    if isinstance(account, str):
        with contextlib.suppress(ValueError, AttributeError):  # build_target wrote a JSON object
            urls.append((json.loads(account).get("token_uri"), True))
    for url, resolve in urls:
        if not isinstance(url, str) or not url:
            continue
        if reason := egress.url_refusal(url, private=private):
            return reason
        if not resolve:
            continue
        try:
            parts = httpx.URL(url)
            async with asyncio.timeout(timeouts.connect):
                await egress.check_resolved(parts.host, parts.port or 443, private=private)
        except egress.Refused as exc:
            return str(exc)
        except (httpx.InvalidURL, OSError, TimeoutError):
            pass  # litellm reports an unusable or unresolvable URL itself
    return None


def _timed_out(col: _Collector, target, messages, timeouts: Timeouts, elapsed: float) -> Sample:
    if elapsed >= timeouts.total - 0.001:
        what = f"the total limit of {timeouts.total:g} s"
    elif col.first_token_ns is None:
        what = f"no first token within {timeouts.first_token:g} s"
    else:
        what = f"no further token within {timeouts.between_tokens:g} s"
    return _failed(col, target, messages, ErrorType.TIMEOUT, f"Timed out: {what}.")
