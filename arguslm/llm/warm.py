"""Warm a worker process before it takes a pass, so its first probes are timed like the rest.

Measured on this machine: the first pass of a freshly started worker recorded every probe's
TTFT 100 ms to 2.2 s late when the pass included an account on the litellm route (importing
litellm blocks the event loop that times all streams), and even without one the first probe
was 20-25 ms late (first use of httpx's connection machinery, the SSE parser, json, the
tokenizer). ``warm_up`` pays all of that once, at worker start (django-q2's ``post_spawn``
signal, see ``arguslm/apps.py``), by running real requests of every route and wire format
against the project's simulator on a loopback port: no mocks, no network.

``prepare`` resolves what a pass needs that can block (each model's request rules, which ask
litellm's provider configs) before the probing loop starts.
"""

import asyncio
import dataclasses
import gc
import json
import logging
import sys
import threading
import time

from arguslm.llm import catalog, egress, lazy, rules
from arguslm.llm.measure import estimate_tokens, measure, new_http_client
from arguslm.llm.types import CallTarget, GatewayError, Timeouts

log = logging.getLogger(__name__)

_TIMEOUTS = Timeouts(connect=2, first_token=5, between_tokens=5, total=10)
_MESSAGES = [{"role": "user", "content": "Warm-up: reply with one word."}]
_MODEL = "sim/ttft=1/itl=1/n=3"
_lock = threading.Lock()
_warmed = False


def _targets(base: str) -> list:
    """A call target of every tested provider type (each at its strict simulator profile),
    plus litellm's paths that the long tail of providers and Ollama's native API use; each may
    reach the simulator's loopback address whatever its type (``CallTarget.private``)."""
    from arguslm.llmsim.accounts import strict_cases

    seen: set[str] = set()
    targets = []
    for case in strict_cases(base, ttft=1, itl=1, n=3, reasoning=1):
        if case.provider_type not in seen:
            seen.add(case.provider_type)
            targets.append(
                catalog.build_target(case.provider_type, case.credentials, case.model_id)
            )
    ollama = catalog.build_target("ollama", {"base_url": f"{base}/p/ollama"}, _MODEL)
    targets.append(
        CallTarget(
            "ollama",
            _MODEL,
            "litellm",
            f"ollama_chat/{_MODEL}",
            litellm_kwargs=dict(ollama.litellm_kwargs),
        )
    )
    targets.append(
        CallTarget(
            "openai_like",
            _MODEL,
            "litellm",
            f"openai/{_MODEL}",
            litellm_kwargs={"api_base": f"{base}/v1", "api_key": "warm-up-key"},
        )
    )
    return [dataclasses.replace(target, private=True) for target in targets]


async def _exercise(targets) -> list:
    async with new_http_client(_TIMEOUTS) as client:
        samples = []
        for target in targets:  # one after another: each path's first use is paid here
            for stream in (True, False):
                samples.append(
                    await measure(
                        target,
                        _MESSAGES,
                        max_tokens=8,
                        timeouts=_TIMEOUTS,
                        stream=stream,
                        client=client,
                    )
                )
        return samples


def warm_up() -> float:
    """Import and exercise every gateway path once in this process; returns the seconds spent."""
    from arguslm.llmsim.server import start_in_thread

    started = time.perf_counter()
    lazy.litellm()
    estimate_tokens(text="warm up the tokenizer")
    estimate_tokens(messages=_MESSAGES)
    for provider_type in (s.id for s in catalog.all_specs().values() if s.tested):
        rules.rules_for(provider_type, "warm-up-model")  # loads each provider's litellm config
    base, stop = start_in_thread(host="127.0.0.1", port=0)
    try:
        targets = _targets(base)
        rules.prepare(targets)
        samples = asyncio.run(_exercise(targets))
    finally:
        stop()
    failed = [s.error for s in samples if not s.ok]
    if failed:
        log.warning("Gateway warm-up: %d of %d calls failed: %s", len(failed), len(samples), failed)
    return time.perf_counter() - started


# How often the interpreter hands the GIL between threads: litellm calls run on a thread of
# their own (measure.py), and the loop that times the direct streams waits at most this long
# for its turn when a read arrives (Python's default is 5 ms).
SWITCH_INTERVAL_S = 0.001


def ensure_warm() -> None:
    """Warm this process once (idempotent; the worker's start signal normally did it)."""
    global _warmed
    with _lock:
        if _warmed:
            return
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        try:
            seconds = warm_up()
            log.info("Gateway warmed in %.1f s", seconds)
        except Exception:  # never keep a worker from working: it would only be late once
            log.exception("Gateway warm-up failed")
        # What warming loaded (litellm's ~170 MB of objects) lives as long as the process:
        # out of the collector's way, a full collection no longer pauses a probe mid-stream
        # for 150-250 ms (measured on this machine in the gateway's tests). Monitoring passes
        # also freeze at their start (monitoring/services.py); benchmarks had nothing.
        gc.collect()
        gc.freeze()
        _warmed = True


def prepare(calls) -> dict:
    """Each call's target, built once and ready, before the loop that times the streams.

    ``calls`` are (key, provider_type, credentials, model_id); returns {key: CallTarget, or the
    GatewayError that building it raised}. Decrypted credentials, request rules (litellm's
    provider configs) and Vertex tokens are all resolved here, never mid-pass.
    """
    prepared: dict = {}
    for key, provider_type, credentials, model_id in calls:
        try:
            prepared[key] = catalog.build_target(provider_type, credentials, model_id)
        except GatewayError as exc:
            prepared[key] = exc  # the probe records it as its sample's error
    targets = [t for t in prepared.values() if isinstance(t, CallTarget)]
    rules.prepare(targets)
    for target in targets:
        if target.provider_type == "google_vertex":
            _fetch_vertex_token(target)
    return prepared


def _fetch_vertex_token(target: CallTarget) -> None:
    """Exchange a Vertex service account for its access token now, not inside a probe.

    litellm caches the token per credentials and refreshes it in the background before it
    expires; only the first call of a process would pay the exchange (a signed JWT and a round
    trip to Google's token endpoint, 50-100 ms) inside its TTFT.
    """
    import litellm.main

    kwargs = target.litellm_kwargs
    try:
        token_uri = json.loads(kwargs.get("vertex_credentials") or "{}").get("token_uri")
    except (ValueError, AttributeError):
        token_uri = None
    private = target.private or egress.private_allowed(target.provider_type)
    if isinstance(token_uri, str) and egress.refused_now(token_uri, private=private):
        return  # refused by the network policy: the probe reports why
    try:
        litellm.main.vertex_chat_completion.get_access_token(
            credentials=kwargs.get("vertex_credentials"), project_id=kwargs.get("vertex_project")
        )
    except Exception as exc:  # the probe will report the failure with its own message
        log.info("Vertex token not fetched ahead of the pass: %s", type(exc).__name__)
