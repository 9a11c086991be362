"""Provider request rules: the request each provider's API actually accepts, in one place.

Real APIs differ in ways that turn a correct probe into a 400 or a wrong figure: OpenAI's
reasoning models refuse ``max_tokens``, Mistral refuses any field it does not know (including
``stream_options``), Azure puts the version in the query string. ``rules_for`` answers, per
provider type and model, which token-limit parameter to send, whether to ask for usage in the
stream, whether a temperature may be sent, and how reasoning is bounded.

Where litellm keeps this knowledge, it comes from litellm: ``get_optional_params`` maps the
OpenAI parameters onto each provider's config (``litellm/llms/<provider>/chat/transformation.py``)
and drops what the provider does not take. That call costs 0.2-13 ms, so its answer is cached
per (provider type, model) and resolved before a pass starts, never on the loop that times
streams (``prepare``). A short table of our own covers what litellm does not know or where the
probe needs a policy; each entry names its source.
"""

import dataclasses
import logging
import re

from arguslm.llm import lazy
from arguslm.llm.types import CallTarget

log = logging.getLogger(__name__)

# Extra completion tokens sent to a model whose reasoning counts against the same limit as its
# answer (OpenAI / Azure reasoning models, Gemini 2.5+ thinking models): without it, a 64-token
# probe is often spent on reasoning before any visible token (then recorded as empty_response,
# with the reason).
# Tokens that are not generated are not billed, so the headroom costs nothing on a short answer.
REASONING_HEADROOM = 1024
# The lowest reasoning effort every current OpenAI reasoning model accepts. Source: OpenAI API
# reference, Chat Completions, ``reasoning_effort`` ("minimal" exists for gpt-5 only, "none"
# for gpt-5.1 only; "low" is accepted by o1, o3, o3-mini, o4-mini and the gpt-5 family).
PROBE_REASONING_EFFORT = "low"

# OpenAI reasoning models: o1, o3, o4-mini, ... and the gpt-5 family, except the non-reasoning
# gpt-5 chat snapshots. Source: OpenAI models and reasoning guides; litellm's
# ``OpenAIOSeriesConfig.is_model_o_series_model`` and ``OpenAIGPT5Config.is_model_gpt_5_model``.
_OPENAI_REASONING = re.compile(r"^(?:openai/)?(?:o\d|gpt-5)(?![\w.-]*-chat)", re.IGNORECASE)
# Gemini 2.5 and later think by default, and thinking tokens count against maxOutputTokens
# (Gemini API docs, "Thinking"); Flash-Lite thinks only when asked.
_GEMINI_THINKING = re.compile(r"gemini-(?:2\.5|[3-9])", re.IGNORECASE)
# These reasoning models predate ``reasoning_effort`` (OpenAI reasoning guide) or accept only
# "high" (gpt-5-pro): send none and let the model use its default.
_NO_EFFORT = re.compile(r"^(?:openai/)?(?:o1-mini|o1-preview|gpt-5(?:\.\d+)?-pro)", re.IGNORECASE)

# Direct (route "openai") provider types whose API litellm describes, and the litellm provider
# that describes it.
_LITELLM_PROVIDER = {
    "openai": "openai",
    "lm_studio": "lm_studio",
    "openrouter": "openrouter",
    "together_ai": "together_ai",
    "groq": "groq",
    "mistral": "mistral",
    "xai": "xai",
    "fireworks_ai": "fireworks_ai",
    "deepseek": "deepseek",
}


@dataclasses.dataclass(frozen=True)
class RequestRules:
    """How to ask one model of one provider type for a bounded, streamed, measured answer."""

    limit_param: str = "max_tokens"
    stream_usage: bool = True  # send stream_options={"include_usage": true}
    temperature: bool = True  # the model accepts a temperature other than its default
    # The model reasons before answering and its reasoning counts against the same token
    # limit as the answer: it gets REASONING_HEADROOM on top of the caller's limit.
    reasoning_in_limit: bool = False
    reasoning_effort: str | None = None
    source: str = "default"

    def token_limit(self, max_tokens: int) -> int:
        """The limit sent: the caller's, plus headroom for hidden reasoning."""
        return max_tokens + (REASONING_HEADROOM if self.reasoning_in_limit else 0)

    def openai_body(
        self, model_id: str, messages, *, max_tokens, stream, temperature, tools=None
    ) -> dict:
        """The JSON body of an OpenAI-wire chat request (the direct route). ``tools``: the
        functions the model may call (Chat Completions API reference, ``tools``)."""
        body = {"model": model_id, "messages": messages, "stream": stream}
        if tools:
            body["tools"] = list(tools)
        body[self.limit_param] = self.token_limit(max_tokens)
        if stream and self.stream_usage:
            body["stream_options"] = {"include_usage": True}
        if temperature is not None and self.temperature:
            body["temperature"] = temperature
        if self.reasoning_effort:
            body["reasoning_effort"] = self.reasoning_effort
        return body

    def litellm_params(self, *, max_tokens, stream, temperature, tools=None) -> dict:
        """The OpenAI-style parameters handed to litellm, which maps them per provider (its
        function-calling support translates OpenAI ``tools`` for Anthropic, Gemini, Bedrock)."""
        params = {self.limit_param: self.token_limit(max_tokens), "stream": stream}
        if tools:
            params["tools"] = list(tools)
        if stream:
            # litellm drops it where the provider's own format reports usage (Anthropic,
            # Gemini, Bedrock, Ollama's native API) and passes it on where it is an option.
            params["stream_options"] = {"include_usage": True}
        if temperature is not None and self.temperature:
            params["temperature"] = temperature
        if self.reasoning_effort:
            params["reasoning_effort"] = self.reasoning_effort
        return params


def _openai_reasoning(model_id: str) -> RequestRules:
    return RequestRules(
        limit_param="max_completion_tokens",
        temperature=False,  # only the default (1) is accepted: OpenAI reasoning guide
        reasoning_in_limit=True,
        reasoning_effort=None if _NO_EFFORT.match(model_id) else PROBE_REASONING_EFFORT,
        source="OpenAI reasoning models (API reference, reasoning guide)",
    )


def _gemini_thinking(model_id: str) -> RequestRules:
    return RequestRules(
        reasoning_in_limit=True,
        # litellm maps "low" to a 1,024-token thinkingBudget (Gemini 2.5) or thinkingLevel
        # "low" (Gemini 3), with includeThoughts: the thoughts stream, TTFT counts them and
        # TTFAT waits for the answer. Flash-Lite does not think unless asked: ask nothing.
        reasoning_effort=None if "lite" in model_id.lower() else PROBE_REASONING_EFFORT,
        source="Gemini thinking docs + litellm VertexGeminiConfig (reasoning_effort mapping)",
    )


def _from_litellm(provider: str, model_id: str) -> RequestRules:
    """What litellm's config for ``provider`` sends for a bounded, streamed request."""
    litellm = lazy.litellm()
    try:
        params = litellm.get_optional_params(
            model=model_id,
            custom_llm_provider=provider,
            max_tokens=64,
            stream=True,
            stream_options={"include_usage": True},
            temperature=0.5,
            drop_params=True,
        )
    except Exception as exc:  # an unknown model or a litellm change: keep the common form
        log.warning("litellm cannot map parameters for %s/%s: %s", provider, model_id, exc)
        return RequestRules(source=f"default (litellm could not map {provider})")
    return RequestRules(
        limit_param="max_completion_tokens" if "max_completion_tokens" in params else "max_tokens",
        stream_usage="stream_options" in params,
        temperature="temperature" in params,
        source=f"litellm get_optional_params({provider})",
    )


def rules_for(provider_type: str, model_id: str) -> RequestRules:
    """The request rules for ``model_id`` of ``provider_type`` (``for_target`` caches them)."""
    if provider_type in ("openai", "azure_openai") and _OPENAI_REASONING.match(model_id):
        # Azure: the deployment name stands for the model; deployments named after their
        # model (the common case) are recognised. Azure reasoning guide: same parameters.
        return _openai_reasoning(model_id)
    if provider_type in ("google_ai_studio", "google_vertex") and _GEMINI_THINKING.search(model_id):
        return _gemini_thinking(model_id)
    if provider_type == "openai":
        # OpenAI API reference: ``max_tokens`` is deprecated in favour of
        # ``max_completion_tokens``, which every chat model accepts; new model families
        # (gpt-5) refuse the old name, so never send it to api.openai.com.
        base = _from_litellm("openai", model_id)
        return dataclasses.replace(
            base, limit_param="max_completion_tokens", source="OpenAI API reference + litellm"
        )
    if provider_type == "azure_openai":
        # Azure OpenAI reference (api-version 2024-09-01-preview and later, GA 2024-10-21):
        # ``max_completion_tokens``; reasoning deployments refuse ``max_tokens``.
        return RequestRules(limit_param="max_completion_tokens", source="Azure OpenAI reference")
    if provider_type == "ollama":
        # Ollama docs, OpenAI compatibility (/v1/chat/completions): ``max_tokens`` and
        # ``stream_options.include_usage`` are supported; unknown fields are ignored, so a
        # ``max_completion_tokens`` would silently leave the answer unbounded.
        return RequestRules(source="Ollama OpenAI-compatibility docs")
    if provider_type == "custom_openai_compatible":
        # vLLM, llama.cpp's server and TGI all bound the answer with ``max_tokens`` and accept
        # ``stream_options`` (servers that do not know it ignore it; llama.cpp sends no usage
        # in the stream either way, which the token counting handles).
        return RequestRules(source="vLLM / llama.cpp server docs")
    provider = _LITELLM_PROVIDER.get(provider_type)
    if provider is not None:
        return _from_litellm(provider, model_id)
    # The litellm route: litellm maps ``max_tokens`` itself per provider.
    return RequestRules(source="litellm provider config")


def for_target(target: CallTarget) -> RequestRules:
    """The rules for a call target, from the cache when ``prepare`` resolved them."""
    key = (target.provider_type, target.model_id)
    rules = _CACHE.get(key)
    if rules is None:
        rules = _CACHE[key] = rules_for(*key)
    return rules


def is_prepared(target: CallTarget) -> bool:
    """Whether ``for_target`` answers from the cache (no litellm call, nothing that blocks)."""
    return (target.provider_type, target.model_id) in _CACHE


def prepare(targets) -> None:
    """Resolve the rules of these targets now: off the timing loop, before a pass starts."""
    for target in targets:
        for_target(target)


_CACHE: dict[tuple[str, str], RequestRules] = {}
