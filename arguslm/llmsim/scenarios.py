"""Scenario parsing, token schedules and flaky decisions for the LLM simulator.

Pure Python on purpose (no Django, no aiohttp): the schedule is the ground truth that
measurements are compared against, so it must be computable anywhere, including in tests
and benchmarks that never start the server.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

ERROR_STATUSES: frozenset[int] = frozenset({400, 401, 403, 404, 408, 413, 422, 429, 500, 503, 529})
# Which OpenAI delta field carries reasoning text (rfield=...): DeepSeek and xAI use
# "reasoning_content", OpenRouter, Groq and Ollama "reasoning".
REASONING_FIELDS: tuple[str, ...] = ("reasoning_content", "reasoning")
# Scripted answers (answer=<name>) for checks on what a model says. Name -> text only: a
# model name is no place for free text. "count" is long enough to be cut by a token limit.
ANSWERS: dict[str, str] = {
    "json": '{"status": "ok", "items": [1, 2, 3]}',
    "brokenjson": '{"status": "ok", "items": [1, 2, 3]',
    "refusal": "I'm sorry, but I can't help with that request.",
    "four": "2 + 2 = 4",
    "five": "2 + 2 = 5",
    "count": "\n".join(str(i) for i in range(1, 21)),
    "weather": '{"city": "Paris"}',  # get_weather's arguments (with tool=1)
    "empty": "",
}
# Model name reported instead of the requested one (served=<name>): suffix appended to it.
SERVED_SUFFIXES: dict[str, str] = {"alt": "-v2"}
# Guards against a typo such as n=100000000 allocating gigabytes of token text.
MAX_TOKENS = 1_000_000


class ScenarioError(ValueError):
    """A model name starting with ``sim`` (or a named model with overrides) is malformed."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass(frozen=True)
class Scenario:
    """What the simulator does for one request. Field names are the scenario keys."""

    ttft: float = 200.0  # ms from receipt to the first token-bearing chunk
    itl: float = 20.0  # ms between consecutive chunks
    n: int = 20  # answer tokens
    chunk: int = 1  # tokens per chunk
    reasoning: int = 0  # reasoning tokens streamed before the answer
    usage: bool = True  # whether token usage is reported
    input: int | None = None  # prompt tokens reported; None = estimated from the prompt
    status: int | None = None  # HTTP error status returned instead of a response
    retry_after: int = 1  # seconds, Retry-After on 429/529
    drop: int | None = None  # connection cut after this many chunks
    error: int | None = None  # in-stream error after this many chunks
    stall: int | None = None  # pause of stall_ms after this many chunks
    stall_ms: float = 600_000.0
    hang: float = 0.0  # ms before the response headers are sent
    done: bool = True  # OpenAI "data: [DONE]" terminator
    tool: bool = False  # OpenAI: answer streamed as tool-call argument deltas
    flaky: float = 0.0  # fraction of requests failing with flaky_status
    flaky_status: int = 500
    seed: int | None = None  # per-model override of the server seed for flaky
    comments: int = 0  # SSE comment lines (": keep-alive") before the first token
    usage_ms: float = 0.0  # OpenAI: the usage chunk comes this long after the finish
    finish: bool = True  # False: the stream just ends after the last token
    rfield: str = "reasoning_content"  # OpenAI delta field carrying reasoning text
    bad: int | None = None  # malformed event at this chunk slot, then carry on
    answer: str | None = None  # ANSWERS name: scripted answer text instead of filler
    served: str | None = None  # SERVED_SUFFIXES name: the reported model name differs
    vary: int = 0  # each request drops 0..vary answer tokens (seeded): answers vary like samples
    cap: int | None = None  # streams of this model name served at full speed; None = unlimited
    over: float = 50.0  # ms of TTFT added per active stream beyond cap

    def __post_init__(self) -> None:
        # n counts the answer tokens actually sent, so it can never exceed the scripted
        # answer: output_tokens, chunk_count and the X-Sim-* headers stay exact.
        if self.answer is not None:
            object.__setattr__(self, "n", min(self.n, len(answer_tokens(self.answer))))

    @property
    def output_tokens(self) -> int:
        return self.reasoning + self.n

    @property
    def chunk_count(self) -> int:
        return math.ceil(self.reasoning / self.chunk) + math.ceil(self.n / self.chunk)

    def spec(self) -> str:
        """Canonical parametric name: always ttft/itl/n/chunk, other keys when not default.

        ``parse_model(s.spec())`` returns a scenario equal to ``s``, so the string in the
        X-Sim-Scenario header is itself a usable model name.
        """
        parts = ["sim"]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in {"ttft", "itl", "n", "chunk"} or value != f.default:
                parts.append(f"{f.name}={fmt_value(value)}")
        return "/".join(parts)


def fmt_value(value: object) -> str:
    """Scenario value as written in a model name: 1/0 flags, no ".0", no exponent."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


NAMED_MODELS: dict[str, Scenario] = {
    "fast-small": Scenario(ttft=150, itl=8, n=40),
    "balanced-medium": Scenario(ttft=400, itl=25, n=60),
    "slow-large": Scenario(ttft=1200, itl=60, n=80),
    "reasoner": Scenario(ttft=300, itl=15, reasoning=40, n=30),
    "flaky": Scenario(ttft=250, itl=15, n=30, flaky=0.3),
    "rate-limited": Scenario(ttft=200, itl=10, n=20, flaky=0.5, flaky_status=429),
    "down": Scenario(status=503),
}


def _ms(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise ScenarioError(key, f"{key}={raw!r}: expected a non-negative number of ms")
    return value


def _count(key: str, raw: str, minimum: int = 0) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) < minimum:
        raise ScenarioError(key, f"{key}={raw!r}: expected an integer >= {minimum}")
    return int(raw)


def _flag(key: str, raw: str) -> bool:
    if raw not in {"0", "1"}:
        raise ScenarioError(key, f"{key}={raw!r}: expected 0 or 1")
    return raw == "1"


def _fraction(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:  # also rejects nan
        raise ScenarioError(key, f"{key}={raw!r}: expected a fraction between 0 and 1")
    return value


def _status(key: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) not in ERROR_STATUSES:
        allowed = ", ".join(str(s) for s in sorted(ERROR_STATUSES))
        raise ScenarioError(key, f"{key}={raw!r}: expected one of {allowed}")
    return int(raw)


def _rfield(key: str, raw: str) -> str:
    if raw not in REASONING_FIELDS:
        raise ScenarioError(key, f"{key}={raw!r}: expected one of {', '.join(REASONING_FIELDS)}")
    return raw


def answer_tokens(name: str) -> list[str]:
    """ANSWERS[name] cut into tokens: one per word with the whitespace around it, so the
    tokens joined give back the text exactly (like the filler's ``tok1 tok2 ``)."""
    return re.findall(r"\s*\S+\s*", ANSWERS[name])


def served_model(requested: str, s: Scenario) -> str:
    """The model name a response reports: ``served`` swaps in a fixed alternative."""
    return requested if s.served is None else requested + SERVED_SUFFIXES[s.served]


def _choice(table: dict[str, str]) -> Callable[[str, str], str]:
    def parse(key: str, raw: str) -> str:
        if raw not in table:
            raise ScenarioError(key, f"{key}={raw!r}: expected one of {', '.join(table)}")
        return raw

    return parse


def _seed(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ScenarioError(key, f"{key}={raw!r}: expected an integer") from None


_PARSERS = {
    "ttft": _ms,
    "itl": _ms,
    "stall_ms": _ms,
    "hang": _ms,
    "n": _count,
    "reasoning": _count,
    "input": _count,
    "retry_after": _count,
    "drop": _count,
    "error": _count,
    "stall": _count,
    "chunk": lambda key, raw: _count(key, raw, minimum=1),
    "usage": _flag,
    "done": _flag,
    "tool": _flag,
    "flaky": _fraction,
    "status": _status,
    "flaky_status": _status,
    "seed": _seed,
    "comments": _count,
    "usage_ms": _ms,
    "finish": _flag,
    "rfield": _rfield,
    "bad": _count,
    "answer": _choice(ANSWERS),
    "served": _choice(SERVED_SUFFIXES),
    "vary": _count,
    "cap": lambda key, raw: _count(key, raw, minimum=1),
    "over": _ms,
}


def parse_model(name: str) -> Scenario | None:
    """Scenario for a model name; None when the name is neither ``sim…`` nor a named model.

    Raises ScenarioError (carrying the offending key) for an unknown key or a bad value.
    A trailing ``:latest`` (Ollama tag) is ignored. ``answer`` sets n to the answer's
    token count; an ``n`` in the same name cuts the answer to its first n tokens, which
    keeps ``parse_model(s.spec()) == s`` also for an answer cut by a token limit.
    """
    name = name.removesuffix(":latest")
    base, _, rest = name.partition("/")
    base = base.removesuffix(":latest")  # "fast-small:latest/n=5" works too
    if base == "sim":
        scenario = Scenario()
    elif base in NAMED_MODELS:
        scenario = NAMED_MODELS[base]
    else:
        return None
    overrides: dict[str, object] = {}
    for segment in rest.split("/") if rest else []:
        key, sep, raw = segment.partition("=")
        if key not in _PARSERS:
            raise ScenarioError(key, f"unknown scenario key {key!r} in model {name!r}")
        if not sep:
            raise ScenarioError(key, f"scenario key {key!r} needs a value ({key}=...)")
        overrides[key] = _PARSERS[key](key, raw)
    if "answer" in overrides:
        overrides.setdefault("n", len(answer_tokens(str(overrides["answer"]))))
    scenario = dataclasses.replace(scenario, **overrides)
    if scenario.output_tokens > MAX_TOKENS:
        raise ScenarioError("n", f"reasoning + n must be at most {MAX_TOKENS}")
    return scenario


def parse_provider_model(name: str, separators: str = "/") -> tuple[str, Scenario]:
    """(model id, scenario) for a strict profile's provider-style model name.

    The name is split on ``separators``: segments containing "=" are scenario overrides,
    the rest (joined by the first separator) is the model id, e.g.
    ``meta-llama/llama-3.1-8b-instruct/ttft=50`` -> ("meta-llama/llama-3.1-8b-instruct",
    ttft=50). ``sim`` or a named model as id keeps its scenario; any other id gets the
    default ``sim`` scenario. Raises ScenarioError for a bad override.
    """
    segments = [name]
    for sep in separators:
        segments = [part for segment in segments for part in segment.split(sep)]
    overrides = [seg for seg in segments if "=" in seg]
    model_id = separators[0].join(seg for seg in segments if "=" not in seg)
    base = model_id.removesuffix(":latest")
    script = base if base == "sim" or base in NAMED_MODELS else "sim"
    script = "/".join([script, *overrides])
    try:
        scenario = parse_model(script)
    except ScenarioError as exc:  # name the model as the client wrote it
        raise ScenarioError(exc.key, exc.message.replace(repr(script), repr(name))) from None
    assert scenario is not None  # "sim" and named models always parse
    return model_id, scenario


def limit_output(s: Scenario, limit: int | None) -> tuple[Scenario, bool]:
    """The scenario cut to ``limit`` output tokens (reasoning first), and whether it was cut."""
    if limit is None or s.output_tokens <= limit:
        return s, False
    reasoning = min(s.reasoning, limit)
    return dataclasses.replace(s, reasoning=reasoning, n=limit - reasoning), True


def loaded(s: Scenario, others: int) -> Scenario:
    """The scenario of a request that finds ``others`` requests of its model name active.

    Beyond ``cap`` concurrent streams each one adds ``over`` ms to the TTFT, the way a
    server's queue delays the prefill of requests past its batch size. The result has no
    cap: its spec (the X-Sim-Scenario header) replays this very timing, as with ``vary``.
    """
    if s.cap is None:
        return s
    queued = max(0, others + 1 - s.cap)
    return dataclasses.replace(s, ttft=s.ttft + s.over * queued, cap=None, over=Scenario.over)


def estimate_input_tokens(texts: Iterable[str]) -> int:
    """Prompt tokens reported when the scenario has no ``input``: 4 characters a token."""
    return max(1, sum(len(t) for t in texts) // 4)


@dataclass(frozen=True)
class Chunk:
    index: int  # 0-based position among the token-bearing chunks
    kind: Literal["reasoning", "answer"]
    text: str
    tokens: int


@dataclass(frozen=True)
class Event:
    """One step of a response, at ``at_ms`` after the request was received."""

    at_ms: float
    kind: Literal["comment", "chunk", "bad", "drop", "error", "finish", "usage"]
    chunk: Chunk | None = None


def build_chunks(s: Scenario) -> list[Chunk]:
    """Reasoning chunks first; a chunk never mixes reasoning and answer tokens."""
    answer = answer_tokens(s.answer) if s.answer is not None else None
    chunks: list[Chunk] = []
    for kind, word, total in (("reasoning", "think", s.reasoning), ("answer", "tok", s.n)):
        for start in range(1, total + 1, s.chunk):
            stop = min(start + s.chunk, total + 1)
            if kind == "answer" and answer is not None:
                text = "".join(answer[start - 1 : stop - 1])
            else:
                text = "".join(f"{word}{i} " for i in range(start, stop))
            chunks.append(Chunk(len(chunks), kind, text, stop - start))  # type: ignore[arg-type]
    return chunks


def timeline(s: Scenario) -> list[Event]:
    """Every event of the response with its scheduled offset from receipt.

    Chunk j is due at ttft + j*itl. The finish comes right after the last chunk (at ttft
    when there are no chunks). drop/error/stall/bad=k act at the slot of chunk k; k beyond
    the last chunk means "instead of / before the finish". A stall shifts everything after
    it by stall_ms, so the schedule stays absolute. On a tie drop wins over error. The
    ``comments`` are spread evenly between the headers (sent after ``hang``) and ttft; a
    ``bad`` event goes out just before the chunk of its slot; ``usage_ms`` adds a "usage"
    event that long after the finish.
    """
    chunks = build_chunks(s)
    count = len(chunks)
    events: list[Event] = []
    if s.comments:
        start = min(s.hang, s.ttft)
        step = (s.ttft - start) / (s.comments + 1)
        events += [Event(start + i * step, "comment") for i in range(1, s.comments + 1)]
    shift = 0.0
    for j in range(count + 1):
        if s.stall is not None and min(s.stall, count) == j:
            shift = s.stall_ms
        at = s.ttft + (j if j < count else max(count - 1, 0)) * s.itl + shift
        for kind, k in (("drop", s.drop), ("error", s.error)):
            if k is not None and min(k, count) == j:
                events.append(Event(at, kind))  # type: ignore[arg-type]
                return events
        if s.bad is not None and min(s.bad, count) == j:
            events.append(Event(at, "bad"))
        events.append(Event(at, "finish") if j == count else Event(at, "chunk", chunks[j]))
    if s.usage_ms:
        events.append(Event(events[-1].at_ms + s.usage_ms, "usage"))
    return events


@dataclass
class FlakyDecider:
    """Seeded, per-model-name failure sequence: same seed, same failures, in every run.

    Each distinct model name gets its own ``random.Random(f"{seed}:{model_name}")`` so the
    pattern of one model does not depend on how requests to other models interleave.
    """

    seed: int = 0
    _rngs: dict[str, random.Random] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, model_name: str, scenario: Scenario) -> tuple[bool, int]:
        """(fails, k): whether request number k (1-based) to this model name fails."""
        if scenario.flaky <= 0:
            return False, 0
        seed = self.seed if scenario.seed is None else scenario.seed
        with self._lock:
            rng = self._rngs.get(model_name)
            if rng is None:
                rng = self._rngs[model_name] = random.Random(f"{seed}:{model_name}")
            k = self._counts[model_name] = self._counts.get(model_name, 0) + 1
            return rng.random() < scenario.flaky, k

    def varied(self, model_name: str, scenario: Scenario) -> Scenario:
        """The scenario of this request to a ``vary`` model: its answer shortened by a seeded
        0..vary tokens (keeping one), so that answers differ in content and length the way
        sampled ones do, in the same sequence in every run. The result has no ``vary``: its
        spec (the X-Sim-Scenario header) replays this very answer."""
        if scenario.vary <= 0:
            return scenario
        seed = self.seed if scenario.seed is None else scenario.seed
        with self._lock:
            key = f"vary:{model_name}"
            rng = self._rngs.get(key)
            if rng is None:
                rng = self._rngs[key] = random.Random(f"{seed}:{key}")
            dropped = rng.randint(0, min(scenario.vary, max(scenario.n - 1, 0)))
        return dataclasses.replace(scenario, n=scenario.n - dropped, vary=0)
