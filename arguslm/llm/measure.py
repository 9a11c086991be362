"""Measure one chat request per ../shared/spec/metrics.md: the gateway's timing path.

Two transports, chosen by ``CallTarget.route``:

* ``openai``: providers that speak the OpenAI wire format are streamed with httpx and a
  minimal SSE parser. Measured on this 2-core machine at 1,000 probes/min (gateway issue),
  litellm's streaming adds 9-10 ms median / ~55 ms p99 TTFT error and 35-44 ms CPU per probe;
  the ``openai`` SDK 4.6 / 8.4 ms and 11-16 ms; httpx with a minimal parser 4.3 / 8.1 ms and
  8-11 ms. Only the last two meet the targets (median <= 5 ms, p99 <= 10 ms), and the raw
  parser also gives us the HTTP status, the raw error body and exact per-read timestamps.
* ``litellm``: every other provider (Anthropic, Gemini, Bedrock, Vertex, Azure, Ollama's
  native API, the long tail) through ``litellm.acompletion`` with retries off. litellm is
  imported lazily here, never at Django start-up.

No retries inside a measurement; timeouts per phase (connect, first token, between tokens,
total). Error messages never carry credentials or the prompt.
"""

import asyncio
import json
import re
import time

import httpx

from arguslm.llm import lazy
from arguslm.llm.types import CallTarget, ErrorType, Sample, Timeouts, error_type_for_status

MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # a provider flooding bytes cannot exhaust memory
MAX_ERROR_CHARS = 500
_NS = 1_000_000
DEFAULT_TIMEOUTS = Timeouts()


class _Phase(Exception):
    """A phase timeout, with the message to record."""


class _StreamFailure(Exception):
    """An error reported inside a stream (after the first byte)."""


def _ms(start_ns: int, end_ns: int) -> float:
    return (end_ns - start_ns) / _NS


def scrub(text: str, *, secrets: list[str]) -> str:
    """Remove credentials and prompt text from an error message, and cap its length."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = re.sub(
        r"(?i)(bearer|api[-_]?key[\"':= ]+)\s*[A-Za-z0-9._\-]{12,}", r"\1 [redacted]", text
    )
    text = " ".join(text.split())
    return text[:MAX_ERROR_CHARS]


class _Collector:
    """Accumulates the stream's observable facts, then builds the Sample."""

    def __init__(self, t0: int):
        self.t0 = t0
        self.first_token_ns: int | None = None
        self.first_answer_ns: int | None = None
        self.last_token_ns: int | None = None
        self.chunks = 0
        self.parts: list[str] = []
        self.usage: dict | None = None

    def token(self, now: int, text: str, *, answer: bool) -> None:
        if not text:
            return
        if self.first_token_ns is None:
            self.first_token_ns = now
        if answer and self.first_answer_ns is None:
            self.first_answer_ns = now
        self.last_token_ns = now
        self.chunks += 1
        self.parts.append(text)

    def sample(self, target: CallTarget, messages: list[dict], *, streamed: bool) -> Sample:
        s = Sample(chunks=self.chunks, text="".join(self.parts))
        if streamed and self.first_token_ns is not None:
            s.ttft_ms = _ms(self.t0, self.first_token_ns)
        if streamed and self.first_answer_ns is not None:
            s.ttfat_ms = _ms(self.t0, self.first_answer_ns)
        if self.last_token_ns is not None:
            s.latency_ms = _ms(self.t0, self.last_token_ns)
        usage = self.usage or {}
        completion = usage.get("completion_tokens")
        if isinstance(completion, int):
            s.output_tokens, s.token_source = completion, "usage"
        else:
            s.output_tokens = estimate_tokens(target, text=s.text) if s.text else 0
            s.token_source = "estimate"
        prompt = usage.get("prompt_tokens")
        s.input_tokens = (
            prompt if isinstance(prompt, int) else estimate_tokens(target, messages=messages)
        )
        details = usage.get("completion_tokens_details") or {}
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
        s.reasoning_tokens = reasoning if isinstance(reasoning, int) else None
        if s.output_tokens == 0 and self.chunks == 0:
            s.error_type = ErrorType.EMPTY_RESPONSE
            s.error = "The response completed without any generated tokens."
        return s.finish()


def estimate_tokens(
    target: CallTarget, *, text: str = "", messages: list[dict] | None = None
) -> int:
    """A tokenizer estimate (litellm.token_counter), used only when usage is not reported."""
    litellm = lazy.litellm()  # needed only for providers that omit usage
    try:
        if messages is not None:
            return int(litellm.token_counter(model=target.litellm_model, messages=messages))
        return int(litellm.token_counter(model=target.litellm_model, text=text))
    except Exception:  # an unknown model falls back to the default tokenizer
        if messages is not None:
            return int(litellm.token_counter(messages=messages))
        return int(litellm.token_counter(text=text))


def _secrets(target: CallTarget, messages: list[dict]) -> list[str]:
    values = [target.api_key or ""]
    values += [str(v) for k, v in target.litellm_kwargs.items() if "key" in k or "secret" in k]
    values += [str(v) for v in target.headers.values()]
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            values.append(content)
    return values


def _error_message(body: bytes) -> str:
    """The provider's own message from an error body (OpenAI, Anthropic, Ollama shapes)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("type") or error)
        if isinstance(error, str):
            return error
    return str(data)[:200]


# --- OpenAI wire format over httpx ------------------------------------------------------------


def _openai_body(target: CallTarget, messages, max_tokens, stream, temperature) -> dict:
    body = {
        "model": target.model_id,
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if temperature is not None:
        body["temperature"] = temperature
    return body


def _apply_delta(col: _Collector, now: int, choice: dict) -> None:
    delta = choice.get("delta") or {}
    for key in ("reasoning_content", "reasoning"):
        value = delta.get(key)
        if isinstance(value, str):
            col.token(now, value, answer=False)
    content = delta.get("content")
    if isinstance(content, str):
        col.token(now, content, answer=True)
    for call in delta.get("tool_calls") or ():
        args = (call.get("function") or {}).get("arguments")
        if isinstance(args, str):
            col.token(now, args, answer=True)


def _handle_event(col: _Collector, now: int, payload: bytes) -> bool:
    """Apply one SSE ``data:`` payload; True when the stream says it is done."""
    if payload == b"[DONE]":
        return True
    try:
        event = json.loads(payload)
    except ValueError:
        raise _StreamFailure(f"Malformed stream event: {payload[:80]!r}") from None
    if not isinstance(event, dict):
        return False
    if "error" in event:
        raise _StreamFailure(f"Error in stream: {_error_message(payload)}")
    for choice in event.get("choices") or ():
        _apply_delta(col, now, choice)
    if isinstance(event.get("usage"), dict):
        col.usage = event["usage"]
    return False


async def _openai_stream(client, target, messages, max_tokens, timeouts, temperature, stream):
    url = target.base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", **target.headers}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    body = json.dumps(_openai_body(target, messages, max_tokens, stream, temperature)).encode()
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter_ns()
    col = _Collector(t0)
    started = loop.time()
    total_deadline = started + timeouts.total
    try:
        return await _openai_read(
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
        return _timed_out(col, target, messages, timeouts, loop.time() - started)


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
            async with client.stream("POST", url, content=body, headers=headers) as resp:
                status = resp.status_code
                ctype = resp.headers.get("content-type", "")
                if status >= 400:
                    raw = await _read_bounded(resp)
                    return _http_error(status, raw, resp.headers, target, messages)
                if stream and "event-stream" in ctype:
                    received = 0
                    buffer = b""
                    done = False
                    async for data in resp.aiter_raw():
                        now = time.perf_counter_ns()
                        received += len(data)
                        if received > MAX_RESPONSE_BYTES:
                            raise _StreamFailure("Response exceeded the 8 MiB limit.")
                        buffer += data
                        *lines, buffer = buffer.split(b"\n")
                        for line in lines:
                            if line.startswith(b"data:") and _handle_event(
                                col, now, line[5:].strip()
                            ):
                                done = True
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
                        if done:
                            break
                    if buffer.startswith(b"data:"):
                        _handle_event(col, time.perf_counter_ns(), buffer[5:].strip())
                    sample = col.sample(target, messages, streamed=True)
                else:
                    # Non-streaming call, or a server that ignored stream=true: one JSON body.
                    raw = await _read_bounded(resp)
                    now = time.perf_counter_ns()
                    sample = _from_completion(col, now, raw, target, messages)
                sample.status_code = status
                return sample
        except TimeoutError:
            raise
        except _StreamFailure as exc:
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


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


async def _read_bounded(resp: httpx.Response) -> bytes:
    chunks, size = [], 0
    async for data in resp.aiter_raw():
        size += len(data)
        if size > MAX_RESPONSE_BYTES:
            raise _StreamFailure("Response exceeded the 8 MiB limit.")
        chunks.append(data)
    return b"".join(chunks)


def _from_completion(col: _Collector, now: int, raw: bytes, target, messages) -> Sample:
    try:
        data = json.loads(raw)
        message = data["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return _failed(col, target, messages, ErrorType.UNKNOWN, "Unexpected response body.")
    for key in ("reasoning_content", "reasoning"):
        if isinstance(message.get(key), str):
            col.token(now, message[key], answer=False)
    col.token(now, message.get("content") or "", answer=True)
    for call in message.get("tool_calls") or ():
        col.token(now, (call.get("function") or {}).get("arguments") or "", answer=True)
    col.usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    return col.sample(target, messages, streamed=False)


def _http_error(status: int, raw: bytes, headers, target, messages) -> Sample:
    message = f"HTTP {status}: {_error_message(raw) or 'no error body'}"
    if status in (429, 529) and headers.get("retry-after"):
        message += f" (Retry-After: {headers['retry-after']})"
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

_LITELLM_STATUS_ATTR = "status_code"


def _litellm_status(exc: Exception) -> int | None:
    """The provider's HTTP status (litellm reports 529 as a 500 on the exception itself)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and status >= 400:
        return status
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _classify_litellm(exc: Exception, *, after_first_byte: bool) -> ErrorType:
    name = type(exc).__name__
    text = str(exc)
    if "Timeout" in name:
        return ErrorType.TIMEOUT
    if "overloaded_error" in text or "rate_limit_error" in text:
        return ErrorType.RATE_LIMITED
    status = _litellm_status(exc)
    if after_first_byte:  # any failure after the first byte (metrics.md)
        return ErrorType.STREAM_ERROR
    if status is None or "APIConnectionError" in name:
        return ErrorType.CONNECTION
    return error_type_for_status(status)


def _litellm_message(exc: Exception) -> str:
    """A short message: the provider's own words where litellm wrapped a JSON error body."""
    text = str(getattr(exc, "message", None) or exc or type(exc).__name__)
    text = re.sub(r"litellm\.\w+:\s*", "", text)
    text = re.sub(r"\w+Exception - ", "", text)
    text = text.replace("Handle with `", "").split(". Handle with")[0]
    match = re.search(r"\{.*\}", text)
    if match:
        inner = _error_message(match.group(0).encode())
        if inner and inner != match.group(0)[:200]:
            text = inner
    status = _litellm_status(exc)
    return f"HTTP {status}: {text}" if status and status >= 400 else text


def _litellm_delta(col: _Collector, now: int, chunk) -> None:
    for choice in getattr(chunk, "choices", None) or ():
        delta = getattr(choice, "delta", None)
        if delta is None:
            continue
        for key in ("reasoning_content", "reasoning"):
            value = getattr(delta, key, None)
            if isinstance(value, str):
                col.token(now, value, answer=False)
        content = getattr(delta, "content", None)
        if isinstance(content, str):
            col.token(now, content, answer=True)
        for call in getattr(delta, "tool_calls", None) or ():
            function = getattr(call, "function", None)
            args = getattr(function, "arguments", None)
            if isinstance(args, str):
                col.token(now, args, answer=True)
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        dumped = usage.model_dump() if hasattr(usage, "model_dump") else dict(usage)
        if dumped.get("completion_tokens") is not None:
            col.usage = dumped


async def _litellm_stream(target, messages, max_tokens, timeouts, temperature, stream):
    litellm = lazy.litellm()
    kwargs = dict(target.litellm_kwargs)
    kwargs.update(
        model=target.litellm_model,
        messages=messages,
        max_tokens=max_tokens,
        stream=stream,
        timeout=timeouts.total,
        num_retries=0,
        max_retries=0,
    )
    if stream:
        kwargs["stream_options"] = {"include_usage": True}
    if temperature is not None:
        kwargs["temperature"] = temperature
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter_ns()
    col = _Collector(t0)
    started = loop.time()
    total_deadline = started + timeouts.total
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


def _discard_result(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # retrieve it, so asyncio does not log "never retrieved"


async def _litellm_read(litellm, kwargs, target, messages, col, stream) -> Sample:
    try:
        response = await litellm.acompletion(**kwargs)
        if not stream:
            now = time.perf_counter_ns()
            message = response.choices[0].message
            reasoning = getattr(message, "reasoning_content", None)
            if isinstance(reasoning, str):
                col.token(now, reasoning, answer=False)
            col.token(now, message.content or "", answer=True)
            usage = getattr(response, "usage", None)
            col.usage = usage.model_dump() if usage is not None else None
            return col.sample(target, messages, streamed=False)
        async for chunk in response:
            _litellm_delta(col, time.perf_counter_ns(), chunk)
        return col.sample(target, messages, streamed=True)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        kind = _classify_litellm(exc, after_first_byte=col.first_token_ns is not None)
        return _failed(col, target, messages, kind, _litellm_message(exc))


# --- entry point ----------------------------------------------------------------------------


def new_http_client(
    timeouts: Timeouts = DEFAULT_TIMEOUTS, *, max_connections: int = 1000
) -> httpx.AsyncClient:
    """An httpx client for the OpenAI route; share one per event loop (keep-alive pooling)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=timeouts.connect, read=None, write=timeouts.connect, pool=None
        ),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
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
) -> Sample:
    """Send one request to ``target`` and measure it (one HTTP attempt, never retried)."""
    own_client = client is None and target.route == "openai"
    if own_client:
        client = new_http_client(timeouts)
    try:
        if target.route == "openai":
            return await _openai_stream(
                client, target, messages, max_tokens, timeouts, temperature, stream
            )
        return await _litellm_stream(target, messages, max_tokens, timeouts, temperature, stream)
    finally:
        if own_client:
            await client.aclose()


def _timed_out(col: _Collector, target, messages, timeouts: Timeouts, elapsed: float) -> Sample:
    if elapsed >= timeouts.total - 0.001:
        what = f"the total limit of {timeouts.total:g} s"
    elif col.first_token_ns is None:
        what = f"no first token within {timeouts.first_token:g} s"
    else:
        what = f"no further token within {timeouts.between_tokens:g} s"
    return _failed(col, target, messages, ErrorType.TIMEOUT, f"Timed out: {what}.")
