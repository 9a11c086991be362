"""Strict provider profiles: each one accepts and rejects what one real provider does.

Mounted under ``/p/<profile>/...`` so an account's base URL picks the profile, e.g. base URL
``{sim}/p/mistral/v1`` -> ``POST {sim}/p/mistral/v1/chat/completions``. The generic
endpoints (server.py) accept anything; these answer like the provider, so a gateway can be
tested over real HTTP against each provider's rules.

Model names are provider-style ids, optionally followed by scenario overrides: segments
containing "=" are overrides, the rest is the model id (``o4-mini/ttft=100/n=20``,
``meta-llama/llama-3.1-8b-instruct/ttft=50``, ``gpt-4o-mini``). ``sim`` or a named model as
id keeps its scenario, any other id gets the default ``sim`` scenario. Bedrock model ids
travel URL-encoded in the path, so there "," separates the overrides too
(``anthropic.claude-3-haiku-20240307-v1:0,ttft=50``): litellm reads "/" in a Bedrock model
name as a region or route prefix.

Token limits: each profile honours only the limit parameter(s) its provider honours. When
reasoning + n exceeds the limit L, only L tokens are generated (reasoning first), the
answer finishes with the provider's "length" reason and usage counts what was generated.
X-Sim-Output-Tokens and X-Sim-Chunks describe what is actually sent; where reasoning is
hidden (OpenAI/Azure reasoning models, Gemini/Vertex without includeThoughts) X-Sim-Chunks
counts the answer chunks only and X-Sim-TTFT-Ms is the time of the first one.

With litellm (verified by tests/llmsim/test_profiles.py):
    anthropic  model "anthropic/<id>[/k=v...]", api_base "{sim}/p/anthropic", api_key
    gemini     model "gemini/<id>[/k=v...]", api_base "{sim}/p/gemini/v1beta", api_key
    vertex     model "vertex_ai/<id>[/k=v...]", api_base "{sim}" (litellm grafts
               /v1/projects/{p}/locations/{l}/publishers/google/models/<id>:method onto a
               path-less base) or the model's resource URL "{sim}/p/vertex/v1/projects/{p}/
               locations/{l}/publishers/google/models/<id>[/k=v...]" (litellm appends
               ":method"), vertex_project, vertex_location and vertex_credentials = a
               service-account JSON whose token_uri is "{sim}/p/vertex/token" (needs
               google-auth)
    bedrock    model "bedrock/<id>[,k=v...]", api_base "{sim}/p/bedrock", aws_region_name,
               and api_key (Bedrock API key, sent as Bearer) or aws_access_key_id +
               aws_secret_access_key (SigV4). litellm sends ids it does not know as
               Converse models to Converse only when they name no Invoke provider: use
               "bedrock/sim,k=v", a named model, a plain catalogued id such as
               "anthropic.claude-3-haiku-20240307-v1:0" (default scenario), or
               "bedrock/converse/<id>,k=v"; "anthropic.<id>,k=v" goes to InvokeModel, which
               is not simulated.
    azure      model "azure/<deployment>[/k=v...]", api_base "{sim}/p/azure", api_key,
               api_version
    ollama     model "ollama_chat/<id>[/k=v...]", api_base "{sim}/p/ollama"
    others     the OpenAI route: base URL "{sim}/p/<profile>/v1", any key.

Every rule below cites its source: a provider's API docs page, the provider's own SDK,
litellm's provider config (``litellm/llms/...``, what litellm sends and expects), or a
public issue quoting the provider's answer. Behaviour that could not be confirmed is
marked "unconfirmed".
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from arguslm.llmsim import eventstream
from arguslm.llmsim.scenarios import (
    NAMED_MODELS,
    Chunk,
    ScenarioError,
    estimate_input_tokens,
    limit_output,
    parse_provider_model,
    served_model,
)
from arguslm.llmsim.server import (
    CREATED,
    _Anthropic,
    _anthropic_models,
    _begin,
    _Call,
    _chat,
    _gemini_models,
    _invalid_key,
    _json,
    _message_texts,
    _ms_since,
    _Ollama,
    _ollama_tags,
    _OpenAI,
    _read_body,
    _run,
    _sim_headers,
    _texts,
    _together_models,
    _WireBase,
)

Rejection = tuple[int, Any]  # (HTTP status, JSON body)
VERTEX_TOKEN = "sim-vertex-token"


def _reject(
    wire: _WireBase,
    record: dict[str, Any],
    call_id: str,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
) -> web.Response:
    record.update(status=status, outcome="error")
    return wire.respond_json(body, status, {**_sim_headers(call_id, None), **(headers or {})})


def _words(text: str) -> list[str]:
    return text.split()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _new_call(
    call_id: str,
    model_id: str,
    model_name: str,
    scenario,
    limit: int | None,
    body: dict[str, Any],
    received: float,
    record: dict[str, Any],
    *,
    texts: list[str] | None = None,
    hidden_reasoning: bool = False,
) -> _Call:
    """The call for an accepted request: the scenario cut to the provider's token limit."""
    s, limited = limit_output(scenario, limit)
    if texts is None:
        texts = _message_texts(body)
    input_tokens = s.input if s.input is not None else estimate_input_tokens(texts)
    return _Call(
        call_id,
        served_model(model_id, s),
        s,
        body,
        int(time.time()),
        received,
        input_tokens,
        record,
        flaky_key=model_name,
        limited=limited,
        hidden_reasoning=hidden_reasoning,
    )


# ---- OpenAI-compatible family: error bodies ---------------------------------------------


def _openai_error(status: int, message: str, param: str | None = None, code: Any = None) -> Any:
    # Shape of every OpenAI error (openai-python raises APIStatusError with this "error").
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 429:
        kind, code = "requests", code or "rate_limit_exceeded"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _azure_error(status: int, message: str) -> Any:
    # Azure's gateway errors carry the status as a string code, e.g. the 404 for a missing
    # api-version and the 401 for a missing key (Azure OpenAI REST reference); request
    # validation (400/422) is answered by the OpenAI backend in OpenAI's shape.
    if status in (400, 422):
        return _openai_error(status, message)
    return {"error": {"code": str(status), "message": message}}


def _mistral_error(status: int, message: str) -> Any:
    # Mistral errors: {"object": "error", "message": ..., "type": ..., "param", "code"}
    # (docs.mistral.ai/api; the 422 body quoted in the brief and partITech/php-mistral#76).
    kind = "invalid_request_message_error" if status in (400, 422) else "api_error"
    return {"object": "error", "message": message, "type": kind, "param": None, "code": None}


def _groq_error(status: int, message: str) -> Any:
    # Groq: {"error": {"message", "type"}} (bodies quoted in fanenr/chatbot#21,
    # mozilla-ai/any-llm#186).
    kind = "invalid_request_error" if status < 500 else "internal_server_error"
    return {"error": {"message": message, "type": kind}}


def _xai_error(status: int, message: str) -> Any:
    # xAI: {"code": ..., "error": ...} (quoted in litellm PR BerriAI/litellm#16265).
    code = "Client specified an invalid argument" if status < 500 else "Internal error"
    return {"code": code, "error": message}


def _fireworks_error(status: int, message: str) -> Any:
    # Fireworks' message text is quoted in web-infra-dev/midscene#1322; the envelope
    # around it is unconfirmed (OpenAI-like, as the openai SDK shows "400 <message>").
    return {"error": {"object": "error", "type": "invalid_request_error", "message": message}}


def _llamacpp_error(status: int, message: str) -> Any:
    # llama.cpp server: {"error": {"code": <status>, "message", "type"}}
    # (tools/server/utils.hpp format_error_response in ggml-org/llama.cpp).
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 404:
        kind = "not_found_error"
    return {"error": {"code": status, "message": message, "type": kind}}


# ---- OpenAI-compatible family: unknown-field rejections ---------------------------------


def _openai_unknown(fields: list[str], body: dict[str, Any]) -> Rejection:
    # api.openai.com rejects unknown top-level fields; the plural form lists them all
    # (bodies quoted in davidmigloz/langchain_dart#712 and namankhurpia/Easy-open-ai#38).
    if len(fields) == 1:
        message = f"Unrecognized request argument supplied: {fields[0]}"
    else:
        message = f"Unrecognized request arguments supplied: {', '.join(fields)}"
    return 400, _openai_error(400, message)


def _mistral_unknown(fields: list[str], body: dict[str, Any]) -> Rejection:
    # Mistral validates with pydantic extra="forbid": 422 extra_forbidden per field
    # (brief; the same detail entries quoted in partITech/php-mistral#76).
    detail = [
        {
            "type": "extra_forbidden",
            "loc": ["body", name],
            "msg": "Extra inputs are not permitted",
            "input": body[name],
        }
        for name in fields
    ]
    return 422, {
        "object": "error",
        "message": {"detail": detail},
        "type": "invalid_request_message_error",
        "param": None,
        "code": None,
    }


def _groq_unknown(fields: list[str], body: dict[str, Any]) -> Rejection:
    # Groq rejects unknown fields: "unknown field `max_tool_calls` in request body"
    # (mozilla-ai/any-llm#186, 2025-08; older: "property 'store' is unsupported").
    return 400, _groq_error(400, f"unknown field `{fields[0]}` in request body")


def _fireworks_unknown(fields: list[str], body: dict[str, Any]) -> Rejection:
    # "Extra inputs are not permitted, field: 'vl_high_resolution_images', value: True."
    # (web-infra-dev/midscene#1322; FlowiseAI/Flowise#2866 for stream_options in 2024).
    name = fields[0]
    message = f"Extra inputs are not permitted, field: '{name}', value: {body[name]!r}."
    return 400, _fireworks_error(400, message)


# ---- OpenAI-compatible family: per-provider checks --------------------------------------


def is_openai_reasoning_model(model_id: str) -> bool:
    """o1/o3/o4/gpt-5 ids, but not gpt-5-chat (litellm: is_gpt_reasoning_series_name in
    litellm/llms/openai/chat/gpt_reasoning_transformation.py; o-series in
    o_series_transformation.py)."""
    model_id = model_id.rsplit("/", 1)[-1].lower()
    if model_id.startswith("gpt-5-chat"):
        return False
    return model_id.startswith(("o1", "o3", "o4", "gpt-5"))


def _tools_problem(tools: Any) -> str | None:
    if tools is None:
        return None
    if not isinstance(tools, list) or not tools:
        return "expected a non-empty array of tools."
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function":
            return f"tools[{index}].type must be 'function'."
        name = function.get("name") if isinstance(function, dict) else None
        if (
            not isinstance(name, str)
            or not name
            or len(name) > 64
            or not all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
        ):
            return f"tools[{index}].function.name must match ^[a-zA-Z0-9_-]{{1,64}}$."
    return None


def _openai_checks(model_id: str, body: dict[str, Any]) -> Rejection | None:
    """Reasoning-model rules of api.openai.com (and Azure OpenAI, the same backend), and the
    shape of ``tools``."""
    effort = body.get("reasoning_effort")
    if (problem := _tools_problem(body.get("tools"))) is not None:
        # API reference, tools: a list of {"type": "function", "function": {"name", ...}},
        # the name made of a-z, A-Z, 0-9, underscores and dashes, at most 64 characters.
        return 400, _openai_error(400, f"Invalid 'tools': {problem}", "tools", "invalid_value")
    if body.get("stream_options") is not None and body.get("stream") is not True:
        # API reference, stream_options: "Only set this when you set stream: true."
        message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        return 400, _openai_error(400, message, "stream_options")
    if not is_openai_reasoning_model(model_id):
        if effort is not None:
            # gpt-4o-mini answered exactly this (davidmigloz/langchain_dart#712).
            return 400, _openai_error(
                400, "Unrecognized request argument supplied: reasoning_effort"
            )
        return None
    if body.get("max_tokens") is not None:
        # openai-python completion_create_params.py: max_tokens "is not compatible with
        # o-series models"; litellm o_series_transformation.py maps it to
        # max_completion_tokens for that reason.
        message = (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        return 400, _openai_error(400, message, "max_tokens", "unsupported_parameter")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        # Bodies quoted in holoviz/lumen#1087, owndev/Open-WebUI-Functions#98; litellm
        # o_series_transformation.py: "Only temperature=1 is supported".
        message = (
            f"Unsupported value: 'temperature' does not support {temperature} with this "
            "model. Only the default (1) value is supported."
        )
        return 400, _openai_error(400, message, "temperature", "unsupported_value")
    if effort is not None:
        # gpt-5 family: minimal|low|medium|high; o-series: low|medium|high (OpenAI
        # reasoning guide; openai-python shared/reasoning_effort.py lists the union).
        gpt5 = model_id.rsplit("/", 1)[-1].lower().startswith("gpt-5")
        allowed = ("minimal", "low", "medium", "high") if gpt5 else ("low", "medium", "high")
        if effort not in allowed:
            quoted = [f"'{a}'" for a in allowed]
            supported = ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
            # Message pattern as for temperature; the exact wording is unconfirmed.
            message = (
                f"Unsupported value: 'reasoning_effort' does not support '{effort}' with "
                f"this model. Supported values are: {supported}."
            )
            return 400, _openai_error(400, message, "reasoning_effort", "unsupported_value")
    return None


def _xai_checks(model_id: str, body: dict[str, Any]) -> Rejection | None:
    """xAI refuses parameters a model does not take (litellm/llms/xai/chat/transformation.py:
    reasoning_effort only for grok-3-mini (PR BerriAI/litellm#16265 quotes the error), no stop
    for grok-3-mini/grok-4/grok-code-fast, no frequency_penalty for grok-4/grok-code-fast)."""
    name = model_id.lower()
    refused = []
    if body.get("reasoning_effort") is not None and "grok-3-mini" not in name:
        refused.append("reasoningEffort")
    if body.get("stop") is not None and any(
        m in name for m in ("grok-3-mini", "grok-4", "grok-code-fast")
    ):
        refused.append("stop")  # the error wording for stop is unconfirmed
    if body.get("frequency_penalty") is not None and any(
        m in name for m in ("grok-4", "grok-code-fast")
    ):
        refused.append("frequencyPenalty")  # the error wording is unconfirmed
    if refused:
        return 400, _xai_error(400, f"Model {model_id} does not support parameter {refused[0]}.")
    return None


# ---- OpenAI-compatible family: the table ------------------------------------------------

# openai-python types/chat/completion_create_params.py (CompletionCreateParamsBase) + stream.
OPENAI_FIELDS = frozenset(
    _words(
        """messages model audio frequency_penalty function_call functions logit_bias logprobs
    max_completion_tokens max_tokens metadata modalities moderation n parallel_tool_calls
    prediction presence_penalty prompt_cache_key prompt_cache_options prompt_cache_retention
    reasoning_effort response_format safety_identifier seed service_tier stop store stream
    stream_options temperature tool_choice tools top_logprobs top_p user verbosity
    web_search_options"""
    )
)
# mistralai client-python models/chatcompletionstreamrequest.py, plus reasoning_effort and
# prompt_cache_key that litellm/llms/mistral/chat/transformation.py sends to mistral.ai.
# No stream_options and no max_completion_tokens: litellm maps the latter to max_tokens.
MISTRAL_FIELDS = frozenset(
    _words(
        """model messages temperature top_p max_tokens stream stop random_seed metadata
    response_format tools tool_choice presence_penalty frequency_penalty n prediction
    parallel_tool_calls prompt_mode safe_prompt reasoning_effort prompt_cache_key"""
    )
)
# console.groq.com/docs/api-reference#chat-create (request body).
GROQ_FIELDS = frozenset(
    _words(
        """messages model citation_options compound_custom disable_tool_validation documents
    exclude_domains frequency_penalty function_call functions include_domains
    include_reasoning logit_bias logprobs max_completion_tokens max_tokens metadata n
    parallel_tool_calls presence_penalty reasoning_effort reasoning_format response_format
    search_settings seed service_tier stop store stream stream_options temperature
    tool_choice tools top_logprobs top_p user"""
    )
)
# litellm/llms/fireworks_ai/chat/transformation.py get_supported_openai_params, plus the
# request basics and the reasoning parameters it maps.
FIREWORKS_FIELDS = frozenset(
    _words(
        """model messages stream max_completion_tokens max_tokens temperature top_p top_k
    frequency_penalty presence_penalty n stop response_format user logprobs
    prompt_truncate_len context_length_exceeded_behavior seed top_logprobs min_p typical_p
    repetition_penalty mirostat_target mirostat_lr logit_bias echo echo_last ignore_eos
    prompt_cache_key prompt_cache_isolation_key raw_output perf_metrics_in_response
    return_token_ids safe_tokenization service_tier speculation prediction stream_options
    sampling_mask tools tool_choice parallel_tool_calls reasoning_effort thinking"""
    )
)


def _never(model_id: str, body: dict[str, Any]) -> Rejection | None:
    return None


@dataclass(frozen=True)
class OpenAIProfile:
    """One OpenAI-compatible provider, as a row of the table below."""

    name: str
    fields: frozenset[str] | None  # accepted top-level fields; None: no field list
    unknown: Callable[[list[str], dict[str, Any]], Rejection] | None  # None: ignored
    limits: tuple[str, ...]  # the limit parameters the provider honours
    usage: str  # "requested" (include_usage), "final" (in the finish chunk), "always", "never"
    reasoning: str  # "hidden", "reasoning", "reasoning_content", "mistral" (content blocks)
    error: Callable[[int, str], Any] = _openai_error
    checks: Callable[[str, dict[str, Any]], Rejection | None] = _never
    comment: str = "keep-alive"  # text of the SSE comment lines (comments=k)
    preface: int = 0  # comment lines sent with the headers
    one_token: bool = False  # one token per chunk whatever chunk= says
    x_groq: bool = False  # Groq's x_groq.usage in the finish chunk
    content_filter: bool = False  # Azure's prompt_filter_results chunk first
    listing: str = "openai"  # GET .../models: "openai" or "together" (bare array)


OPENAI_PROFILES: dict[str, OpenAIProfile] = {
    p.name: p
    for p in (
        # api.openai.com. Usage: stream_options.include_usage -> a chunk with choices: []
        # after the finish (openai-python chat_completion_stream_options_param.py). Chat
        # Completions never returns reasoning text; completion_tokens_details counts it
        # (OpenAI reasoning guide).
        OpenAIProfile(
            "openai",
            OPENAI_FIELDS,
            _openai_unknown,
            ("max_completion_tokens", "max_tokens"),
            "requested",
            "hidden",
            checks=_openai_checks,
        ),
        # Azure OpenAI: same backend and rules; the deployment is the model (see _azure).
        # Streams start with a chunk of prompt_filter_results and choices: [] (Azure OpenAI
        # content filtering docs, "streaming" section; litellm skips it).
        OpenAIProfile(
            "azure",
            OPENAI_FIELDS,
            _openai_unknown,
            ("max_completion_tokens", "max_tokens"),
            "requested",
            "hidden",
            error=_azure_error,
            checks=_openai_checks,
            content_filter=True,
        ),
        # Mistral: usage always in the chunk carrying finish_reason, then [DONE]
        # (docs.mistral.ai/api chat completions stream; litellm's Mistral config sends no
        # stream_options). Reasoning (magistral) arrives as content blocks of type
        # "thinking" (litellm MistralChatResponseIterator._normalize_content_blocks).
        OpenAIProfile(
            "mistral",
            MISTRAL_FIELDS,
            _mistral_unknown,
            ("max_tokens",),
            "final",
            "mistral",
            error=_mistral_error,
        ),
        # Groq: max_completion_tokens (max_tokens deprecated, still honoured: Groq API
        # reference; litellm groq config "groq supports max_completion_tokens"); the finish
        # chunk carries x_groq.usage, include_usage adds the OpenAI usage chunk (Groq API
        # reference, unconfirmed for the latter); reasoning in delta.reasoning (litellm
        # GroqChatCompletionStreamingHandler maps delta.reasoning).
        OpenAIProfile(
            "groq",
            GROQ_FIELDS,
            _groq_unknown,
            ("max_completion_tokens", "max_tokens"),
            "requested",
            "reasoning",
            error=_groq_error,
            x_groq=True,
        ),
        # xAI: max_completion_tokens and max_tokens, stream_options supported (litellm xai
        # config lists both and stream_options); reasoning_content for grok-3-mini (xAI
        # reasoning docs). Unknown fields: ignored (unconfirmed).
        OpenAIProfile(
            "xai",
            None,
            None,
            ("max_completion_tokens", "max_tokens"),
            "requested",
            "reasoning_content",
            error=_xai_error,
            checks=_xai_checks,
        ),
        # DeepSeek: max_tokens, stream_options.include_usage, reasoning_content
        # (api-docs.deepseek.com create-chat-completion and reasoning_model guide); it sends
        # ": keep-alive" comments while a request waits (same docs, "keep-alive").
        # Unknown fields: ignored (unconfirmed).
        OpenAIProfile("deepseek", None, None, ("max_tokens",), "requested", "reasoning_content"),
        # Together AI: max_tokens; usage in the last chunk, the one with finish_reason
        # (docs.together.ai streaming; unconfirmed that it needs no stream_options);
        # reasoning models stream delta.reasoning (Together reasoning docs, unconfirmed).
        # Unknown fields: ignored (unconfirmed). Lists models as a bare array.
        OpenAIProfile(
            "together",
            None,
            None,
            ("max_tokens",),
            "final",
            "reasoning",
            listing="together",
        ),
        # Fireworks: both limit names (litellm maps max_completion_tokens to max_tokens);
        # litellm forces stream_options.include_usage because usage only comes on request;
        # reasoning_content (Fireworks reasoning docs).
        OpenAIProfile(
            "fireworks",
            FIREWORKS_FIELDS,
            _fireworks_unknown,
            ("max_tokens", "max_completion_tokens"),
            "requested",
            "reasoning_content",
            error=_fireworks_error,
        ),
        # OpenRouter: only max_tokens is a documented limit (openrouter.ai/docs
        # api-reference/parameters); unsupported parameters are ignored (same page); usage
        # is always in the last SSE message (docs use-cases/usage-accounting); comment lines
        # ": OPENROUTER PROCESSING" keep the connection alive (docs api-reference/streaming);
        # reasoning in delta.reasoning (docs use-cases/reasoning-tokens; litellm openrouter
        # config copies it to reasoning_content).
        OpenAIProfile(
            "openrouter",
            None,
            None,
            ("max_tokens",),
            "always",
            "reasoning",
            comment="OPENROUTER PROCESSING",
            preface=1,
        ),
        # LM Studio: max_tokens; include_usage; reasoning_content (LM Studio docs, OpenAI
        # compatibility; 0.3.9 release notes); unknown fields ignored (unconfirmed).
        OpenAIProfile("lm_studio", None, None, ("max_tokens",), "requested", "reasoning_content"),
        # Ollama /v1: Go's encoding/json ignores unknown fields, so an unknown limit does not
        # limit; max_tokens -> num_predict, stream_options.include_usage, delta.reasoning
        # (ollama docs/openai.md; openai/openai.go in ollama/ollama).
        OpenAIProfile("ollama", None, None, ("max_tokens",), "requested", "reasoning"),
        # llama.cpp server (custom_openai_compatible): unknown fields ignored; max_tokens
        # (alias of n_predict); one token per chunk; no usage in the stream, even with
        # include_usage; reasoning_content with --reasoning-format deepseek (llama.cpp
        # tools/server/README.md).
        OpenAIProfile(
            "custom",
            None,
            None,
            ("max_tokens", "n_predict"),
            "never",
            "reasoning_content",
            error=_llamacpp_error,
            one_token=True,
        ),
    )
}


class _ProfileOpenAI(_OpenAI):
    """The OpenAI encoder with one profile's usage, reasoning and comment rules."""

    def __init__(self, profile: OpenAIProfile) -> None:
        self.profile = profile
        self.name = profile.name

    def error_body(self, status: int, message: str) -> Any:
        return self.profile.error(status, message)

    def not_found(self, model: str) -> str:
        return f"The model `{model}` does not exist or you do not have access to it."

    def _comment_line(self) -> bytes:
        return f": {self.profile.comment}\n\n".encode()

    def comment(self, call: _Call) -> bytes:
        return self._comment_line()

    def preamble(self, call: _Call) -> bytes:
        out = self._comment_line() * self.profile.preface
        if self.profile.content_filter:
            categories = ("hate", "self_harm", "sexual", "violence")
            results = {c: {"filtered": False, "severity": "safe"} for c in categories}
            filtered = {"prompt_index": 0, "content_filter_results": results}
            out += self._chunk(call, [], prompt_filter_results=[filtered])
        return out + super().preamble(call)

    def reasoning_delta(self, call: _Call, text: str) -> dict[str, Any] | None:
        style = self.profile.reasoning
        if style == "hidden" or call.hidden_reasoning:
            return None
        if style == "mistral":
            thinking = [{"type": "text", "text": text}]
            return {"content": [{"type": "thinking", "thinking": thinking}]}
        return {style: text}

    def complete(self, call: _Call, chunks: list[Chunk]) -> Any:
        body = super().complete(call, chunks)
        reasoning = "".join(c.text for c in chunks if c.kind == "reasoning")
        if self.profile.reasoning == "mistral" and reasoning:
            # Non-streamed magistral answers carry [thinking block, text block] as content.
            message = body["choices"][0]["message"]
            answer = "".join(c.text for c in chunks if c.kind == "answer")
            thinking = [{"type": "text", "text": reasoning}]
            message["content"] = [
                {"type": "thinking", "thinking": thinking},
                {"type": "text", "text": answer},
            ]
        return body

    def include_usage(self, call: _Call) -> bool:
        if self.profile.usage == "requested":
            return super().include_usage(call)
        return self.profile.usage == "always"

    def finish(self, call: _Call) -> bytes:
        choice = {"index": 0, "delta": {}, "finish_reason": self.finish_reason(call)}
        extra: dict[str, Any] = {}
        if call.scenario.usage and self.profile.usage == "final":
            extra["usage"] = self._usage(call)
        if call.scenario.usage and self.profile.x_groq:
            extra["x_groq"] = {"id": f"req_{call.id}", "usage": self._usage(call)}
        return self._chunk(call, [choice], **extra)


def _limit(
    body: dict[str, Any], names: Iterable[str], error: Callable[[int, str], Any]
) -> tuple[int | None, Rejection | None]:
    """The smallest honoured limit present, or a 400 for a value that is not >= 1."""
    limit: int | None = None
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if not _is_int(value) or value < 1:
            # OpenAI's wording (integer_below_min_value); providers word it differently.
            message = (
                f"Invalid '{name}': integer below minimum value. "
                f"Expected a value >= 1, but got {value!r} instead."
            )
            return None, (400, error(400, message))
        limit = value if limit is None else min(limit, value)
    return limit, None


async def _openai_chat(
    request: web.Request, profile: OpenAIProfile, deployment: str | None = None
) -> web.StreamResponse:
    wire = _WIRES[profile.name]
    received, call_id, record = _begin(request, wire)

    def reject(status: int, body: Any) -> web.Response:
        return _reject(wire, record, call_id, status, body)

    if deployment is not None:  # Azure: URL and header checks come before the body
        if not request.query.get("api-version"):
            # Azure OpenAI REST reference: api-version is a required query parameter.
            return reject(404, {"error": {"code": "404", "message": "Resource not found"}})
        auth = request.headers.get("Authorization", "")
        if not request.headers.get("api-key") and auth[:7].lower() != "bearer ":
            # Azure OpenAI REST reference: an api-key header or a Microsoft Entra bearer.
            message = (
                "Access denied due to missing subscription key. Make sure to include "
                "subscription key when making requests to an API."
            )
            return reject(401, {"error": {"code": "401", "message": message}})
    if _invalid_key(request):
        return reject(401, profile.error(401, "Incorrect API key provided."))
    body = await _read_body(request)
    if not isinstance(body, dict):
        return reject(400, profile.error(400, "We could not parse the JSON body of your request."))
    model_name = deployment if deployment is not None else body.get("model")
    record["model"] = model_name
    if not isinstance(model_name, str) or not model_name:
        return reject(400, profile.error(400, "you must provide a model parameter"))
    if profile.fields is not None and profile.unknown is not None:
        unknown = [k for k in body if k not in profile.fields]
        if deployment is not None:
            unknown = [k for k in unknown if k != "model"]
        if unknown:
            return reject(*profile.unknown(unknown, body))
    try:
        model_id, s = parse_provider_model(model_name)
    except ScenarioError as exc:
        return reject(400, profile.error(400, exc.message))
    if not model_id:
        return reject(404, profile.error(404, wire.not_found(model_name)))
    problem = profile.checks(model_id, body)
    if problem is not None:
        return reject(*problem)
    limit, problem = _limit(body, profile.limits, profile.error)
    if problem is not None:
        return reject(*problem)
    if profile.one_token:
        s = dataclasses.replace(s, chunk=1)
    call = _new_call(
        call_id,
        model_id,
        model_name,
        s,
        limit,
        body,
        received,
        record,
        hidden_reasoning=profile.reasoning == "hidden",
    )
    return await _run(request, wire, call, body.get("stream") is True)


def _openai_handler(profile: OpenAIProfile) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await _openai_chat(request, profile)

    return handler


def _openai_listing(profile: OpenAIProfile) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.StreamResponse:
        if profile.listing == "together":
            return await _together_models(request)
        if _invalid_key(request):
            return web.json_response(profile.error(401, "invalid api key"), status=401)
        data = [
            {"id": m, "object": "model", "created": CREATED, "owned_by": "llmsim"}
            for m in NAMED_MODELS
        ]
        return web.json_response({"object": "list", "data": data})

    return handler


_WIRES: dict[str, _ProfileOpenAI] = {n: _ProfileOpenAI(p) for n, p in OPENAI_PROFILES.items()}


# ---- gzip: the generic OpenAI behaviour behind a proxy that always compresses ----------


class _GzipOpenAI(_OpenAI):
    gzip = True


GZIP_OPENAI = _GzipOpenAI()


async def _gzip_models(request: web.Request) -> web.StreamResponse:
    if _invalid_key(request):
        return GZIP_OPENAI.error_response(401, "invalid api key")
    data = [
        {"id": m, "object": "model", "created": CREATED, "owned_by": "llmsim"} for m in NAMED_MODELS
    ]
    return GZIP_OPENAI.respond_json({"object": "list", "data": data})


# ---- Anthropic ---------------------------------------------------------------------------

# The Messages API request body (docs.anthropic.com/en/api/messages) as litellm may send it:
# litellm/types/llms/anthropic.py AnthropicMessagesRequest(OptionalParams), without the
# fields litellm keeps to itself (litellm_metadata, reasoning_effort, compaction, safeguards).
ANTHROPIC_FIELDS = frozenset(
    _words(
        """model messages max_tokens metadata stop_sequences stream system temperature thinking
    tool_choice tools top_k top_p inference_geo mcp_servers context_management container
    output_format speed output_config cache_control service_tier"""
    )
)
ANTHROPIC = _Anthropic()


def _anthropic_error(message: str, kind: str = "invalid_request_error") -> Any:
    return {"type": "error", "error": {"type": kind, "message": message}}


async def _anthropic_chat(request: web.Request) -> web.StreamResponse:
    wire = ANTHROPIC
    received, call_id, record = _begin(request, wire)

    def reject(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
        return _reject(wire, record, call_id, status, _anthropic_error(message, kind))

    auth = request.headers.get("Authorization", "")
    if not request.headers.get("x-api-key") and auth[:7].lower() != "bearer ":
        # API docs, "Authentication": every request needs the x-api-key header (a bearer
        # token, as OAuth clients send, is let through too).
        return reject(401, "x-api-key header is required", "authentication_error")
    if _invalid_key(request):
        return reject(401, "invalid x-api-key", "authentication_error")
    if not request.headers.get("anthropic-version"):
        # API docs, "Versions": the anthropic-version header is required.
        return reject(400, "anthropic-version: header is required")
    body = await _read_body(request)
    if not isinstance(body, dict):
        return reject(400, "There was an issue with your request body: invalid JSON")
    record["model"] = body.get("model")
    for name in body:
        if name not in ANTHROPIC_FIELDS:
            # Pydantic-style answer for an extra top-level field (the same "<loc>: Extra
            # inputs are not permitted" is quoted in anthropics/claude-code#4378).
            return reject(400, f"{name}: Extra inputs are not permitted")
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            # max_tokens is required (API reference, Messages: "max_tokens required").
            return reject(400, f"{name}: Field required")
    model_name, max_tokens = body["model"], body["max_tokens"]
    if not isinstance(model_name, str) or not model_name:
        return reject(400, "model: Input should be a valid string")
    if not _is_int(max_tokens) or max_tokens < 1:
        return reject(400, "max_tokens: Input should be greater than or equal to 1")
    budget: int | None = None
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        # Extended thinking docs: budget_tokens >= 1024 and below max_tokens.
        budget = thinking.get("budget_tokens")
        if not _is_int(budget):
            return reject(400, "thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            return reject(
                400,
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
            )
        if budget >= max_tokens:
            return reject(
                400,
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
                "our documentation at https://docs.claude.com/en/docs/build-with-claude/"
                "extended-thinking#max-tokens-and-context-window-size",
            )
    try:
        model_id, s = parse_provider_model(model_name)
    except ScenarioError as exc:
        return reject(400, exc.message)
    if budget is not None and s.reasoning > budget:
        # budget_tokens caps the thinking (extended thinking docs).
        s = dataclasses.replace(s, reasoning=budget)
    # max_tokens covers thinking + text.
    call = _new_call(call_id, model_id, model_name, s, max_tokens, body, received, record)
    return await _run(request, wire, call, body.get("stream") is True)


# ---- Gemini (Google AI Studio) and Vertex AI --------------------------------------------

_GOOGLE_STATUS = {
    # google.rpc.Code <-> HTTP mapping (cloud.google.com/apis/design/errors).
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    529: "UNAVAILABLE",
}
# GenerateContentRequest (ai.google.dev/api/generate-content#request-body); Vertex adds
# labels (cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.endpoints/
# generateContent). Proto JSON parsing accepts lowerCamelCase and the proto field name
# (protobuf.dev/programming-guides/json), so both spellings are accepted.
GEMINI_FIELDS = frozenset(
    _words(
        """contents tools toolConfig tool_config safetySettings safety_settings
    systemInstruction system_instruction generationConfig generation_config cachedContent
    cached_content model"""
    )
)
VERTEX_FIELDS = GEMINI_FIELDS | {"labels"}
# GenerationConfig (ai.google.dev/api/generate-content#generationconfig).
_GENERATION_CONFIG = [
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
    "audioTimestamp",
]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


GENERATION_CONFIG_FIELDS = frozenset(_GENERATION_CONFIG + [_snake(n) for n in _GENERATION_CONFIG])


def _google_error(status: int, message: str, reason: str | None = None) -> Any:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    if reason:
        info = "type.googleapis.com/google.rpc.ErrorInfo"
        error["details"] = [
            {"@type": info, "reason": reason, "domain": "googleapis.com"},
        ]
    return {"error": error}


def _camel(body: dict[str, Any], name: str) -> Any:
    """A field by its lowerCamelCase name or its proto (snake_case) name."""
    value = body.get(name)
    return body.get(_snake(name)) if value is None else value


class _Gemini(_WireBase):
    """GenerateContentResponse chunks as SSE (alt=sse) or as one streamed JSON array."""

    name = "gemini"
    content_type = "text/event-stream"

    def error_body(self, status: int, message: str) -> Any:
        return _google_error(status, message)

    def _frame(self, call: _Call, data: Any) -> bytes:
        text = _json(data)
        if not call.opts.get("array"):
            # Google's SSE frames end with CRLF CRLF (observed on generativelanguage; the
            # SSE spec accepts CRLF line ends).
            return f"data: {text}\r\n\r\n".encode()
        first = not call.opts.get("array_started")
        call.opts["array_started"] = True
        return ("[" if first else ",\r\n").encode() + text.encode()

    def _usage(self, call: _Call, final: bool) -> dict[str, Any]:
        s = call.scenario
        usage: dict[str, Any] = {"promptTokenCount": call.input_tokens}
        if final:
            usage["candidatesTokenCount"] = s.n
            if s.reasoning:
                usage["thoughtsTokenCount"] = s.reasoning
        usage["totalTokenCount"] = call.input_tokens + (s.output_tokens if final else 0)
        return usage

    def _response(
        self, call: _Call, parts: list[dict[str, Any]], finish: bool, final_usage: bool
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = "MAX_TOKENS" if call.limited else "STOP"
        candidate["index"] = 0
        data: dict[str, Any] = {"candidates": [candidate]}
        if call.scenario.usage:
            data["usageMetadata"] = self._usage(call, final_usage)
        data["modelVersion"] = call.model
        data["responseId"] = call.id
        return data

    def preamble(self, call: _Call) -> bytes:
        return b""

    def comment(self, call: _Call) -> bytes:
        return b"" if call.opts.get("array") else b": keep-alive\r\n\r\n"

    def chunk(self, call: _Call, ch: Chunk) -> bytes:
        if ch.kind == "reasoning":
            if call.hidden_reasoning:
                return b""
            part: dict[str, Any] = {"text": ch.text, "thought": True}
        else:
            part = {"text": ch.text}
        return self._frame(call, self._response(call, [part], False, False))

    def finish(self, call: _Call) -> bytes:
        out = self._frame(call, self._response(call, [{"text": ""}], True, True))
        return out + (b"]" if call.opts.get("array") else b"")

    def stream_error(self, call: _Call, message: str) -> bytes:
        out = self._frame(call, _google_error(500, message))
        return out + (b"]" if call.opts.get("array") else b"")

    def complete(self, call: _Call, chunks: list[Chunk]) -> Any:
        parts: list[dict[str, Any]] = []
        thoughts = "".join(c.text for c in chunks if c.kind == "reasoning")
        if thoughts and not call.hidden_reasoning:
            parts.append({"text": thoughts, "thought": True})
        parts.append({"text": "".join(c.text for c in chunks if c.kind == "answer")})
        return self._response(call, parts, True, True)


GEMINI = _Gemini()


def _gemini_texts(body: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    system = _camel(body, "systemInstruction")
    contents = body.get("contents")
    for content in [system, *(contents if isinstance(contents, list) else [])]:
        if isinstance(content, dict):
            parts = content.get("parts")
            if isinstance(parts, list):
                texts += _texts(parts)
    return texts


async def _google_chat(request: web.Request, vertex: bool) -> web.StreamResponse:
    wire = GEMINI
    received, call_id, record = _begin(request, wire)

    def reject(status: int, message: str, reason: str | None = None) -> web.Response:
        return _reject(wire, record, call_id, status, _google_error(status, message, reason))

    model_name, sep, method = request.match_info["tail"].rpartition(":")
    record["model"] = model_name
    if not sep or method not in ("generateContent", "streamGenerateContent"):
        return reject(404, f"Method not found: {method or request.match_info['tail']}")
    if vertex:
        # Vertex AI takes an OAuth 2 access token (here: the one POST /p/vertex/token
        # issues) as "Authorization: Bearer" (Vertex AI REST docs, authentication).
        if request.headers.get("Authorization", "") != f"Bearer {VERTEX_TOKEN}":
            return reject(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                "ACCESS_TOKEN_TYPE_UNSUPPORTED",
            )
    else:
        # Gemini API keys go in x-goog-api-key or ?key= (ai.google.dev/gemini-api/docs/
        # api-key). Without one Google answers 403; a bad one is a 400 API_KEY_INVALID.
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return reject(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to "
                "call this API.",
            )
        if key.startswith("invalid"):
            return reject(400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
    body = await _read_body(request)
    if not isinstance(body, dict):
        return reject(400, "Invalid JSON payload received. Expected an object.")
    fields = VERTEX_FIELDS if vertex else GEMINI_FIELDS
    unknown = [name for name in body if name not in fields]
    config = _camel(body, "generationConfig")
    config = config if isinstance(config, dict) else {}
    unknown_config = [name for name in config if name not in GENERATION_CONFIG_FIELDS]
    if unknown or unknown_config:
        # Proto JSON parsing rejects unknown names, one line per name (body quoted in
        # CherryHQ/cherry-studio#9901).
        lines = [
            f'Invalid JSON payload received. Unknown name "{n}": Cannot find field.'
            for n in unknown
        ]
        lines += [
            f"Invalid JSON payload received. Unknown name \"{n}\" at 'generation_config': "
            "Cannot find field."
            for n in unknown_config
        ]
        return reject(400, "\n".join(lines))
    if not body.get("contents"):
        return reject(400, "* GenerateContentRequest.contents: contents is not specified\n")
    try:
        model_id, s = parse_provider_model(model_name)
    except ScenarioError as exc:
        return reject(400, exc.message)
    limit = _camel(config, "maxOutputTokens")
    if limit is not None and (not _is_int(limit) or limit < 1):
        message = "* GenerateContentRequest.generation_config.max_output_tokens: must be positive\n"
        return reject(400, message)
    thinking = _camel(config, "thinkingConfig")
    thinking = thinking if isinstance(thinking, dict) else {}
    budget = _camel(thinking, "thinkingBudget")
    if _is_int(budget) and budget >= 0 and s.reasoning > budget:
        # thinkingBudget caps the thinking tokens; 0 turns thinking off, -1 is dynamic
        # (ai.google.dev/gemini-api/docs/thinking).
        s = dataclasses.replace(s, reasoning=budget)
    # maxOutputTokens covers thoughts and answer (same docs: thinking tokens count toward
    # the output limit), so reasoning consumes it first.
    include_thoughts = _camel(thinking, "includeThoughts") is True
    call = _new_call(
        call_id,
        model_id,
        model_name,
        s,
        limit,
        body,
        received,
        record,
        texts=_gemini_texts(body),
        # Thought summaries come only with includeThoughts (thinking docs); the time passes.
        hidden_reasoning=not include_thoughts,
    )
    stream = method == "streamGenerateContent"
    # Without alt=sse streamGenerateContent answers one JSON array, element by element.
    call.opts["array"] = stream and request.query.get("alt") != "sse"
    if call.opts["array"]:
        wire = _GEMINI_ARRAY
    return await _run(request, wire, call, stream)


class _GeminiArray(_Gemini):
    content_type = "application/json; charset=UTF-8"


_GEMINI_ARRAY = _GeminiArray()


def _jwt_claims(assertion: str) -> dict[str, Any] | None:
    """The claims of a signed JWT (header.payload.signature); the signature is not checked."""
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


async def _vertex_token(request: web.Request) -> web.StreamResponse:
    """Google's OAuth token endpoint for service accounts (RFC 7523 JWT bearer grant).

    google-auth signs a JWT with the service-account key and POSTs it to the JSON's
    token_uri (google/oauth2/_client.py jwt_grant); errors follow RFC 6749 section 5.2.
    """
    form = await request.post()
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return web.json_response(
            {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"},
            status=400,
        )
    assertion = form.get("assertion")
    claims = _jwt_claims(assertion) if isinstance(assertion, str) else None
    if claims is None or not claims.get("iss"):
        return web.json_response(
            {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
            status=400,
        )
    return web.json_response(
        {"access_token": VERTEX_TOKEN, "expires_in": 3600, "token_type": "Bearer"}
    )


# ---- AWS Bedrock Converse ---------------------------------------------------------------

# Converse / ConverseStream request body (docs.aws.amazon.com/bedrock/latest/APIReference/
# API_runtime_ConverseStream.html) and InferenceConfiguration.
BEDROCK_FIELDS = frozenset(
    _words(
        """messages system inferenceConfig toolConfig guardrailConfig
    additionalModelRequestFields promptVariables additionalModelResponseFieldPaths
    requestMetadata performanceConfig serviceTier"""
    )
)
INFERENCE_CONFIG_FIELDS = frozenset({"maxTokens", "temperature", "topP", "stopSequences"})
_BEDROCK_ERRORS = {
    # Error types of the Converse API reference ("Errors" section).
    400: "ValidationException",
    401: "AccessDeniedException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    413: "ValidationException",
    422: "ValidationException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    529: "ServiceUnavailableException",
}


class _Bedrock(_WireBase):
    """ConverseStream events in AWS event stream frames (see eventstream.py)."""

    name = "bedrock"
    content_type = "application/vnd.amazon.eventstream"

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message}

    def error_response(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        # AWS JSON protocols name the error in x-amzn-ErrorType (botocore parsers.py).
        error_type = _BEDROCK_ERRORS.get(status, "InternalServerException")
        headers = {**(headers or {}), "x-amzn-ErrorType": error_type}
        return self.respond_json(self.error_body(status, message), status, headers)

    def _stop_block(self, call: _Call) -> bytes:
        out = b""
        if call.block_kind == "reasoning":  # reasoning blocks end with their signature
            delta = {"reasoningContent": {"signature": "llmsim"}}
            out = eventstream.event(
                "contentBlockDelta", {"contentBlockIndex": call.block, "delta": delta}
            )
        return out + eventstream.event("contentBlockStop", {"contentBlockIndex": call.block})

    def preamble(self, call: _Call) -> bytes:
        return eventstream.event("messageStart", {"role": "assistant"})

    def chunk(self, call: _Call, ch: Chunk) -> bytes:
        out = b""
        if call.block_kind and ch.kind != call.block_kind:
            out = self._stop_block(call)
            call.block += 1
        call.block_kind = ch.kind
        if ch.kind == "reasoning":
            delta: dict[str, Any] = {"reasoningContent": {"text": ch.text}}
        else:
            delta = {"text": ch.text}
        return out + eventstream.event(
            "contentBlockDelta", {"contentBlockIndex": call.block, "delta": delta}
        )

    def _usage(self, call: _Call) -> dict[str, int]:
        out = call.scenario.output_tokens
        return {
            "inputTokens": call.input_tokens,
            "outputTokens": out,
            "totalTokens": call.input_tokens + out,
        }

    def finish(self, call: _Call) -> bytes:
        out = self._stop_block(call)
        reason = "max_tokens" if call.limited else "end_turn"
        out += eventstream.event("messageStop", {"stopReason": reason})
        if call.scenario.usage:
            metrics = {"latencyMs": int(_ms_since(call.received))}
            out += eventstream.event("metadata", {"usage": self._usage(call), "metrics": metrics})
        return out

    def stream_error(self, call: _Call, message: str) -> bytes:
        # ConverseStream's in-stream errors, e.g. internalServerException (API reference).
        return eventstream.exception("internalServerException", message)

    def complete(self, call: _Call, chunks: list[Chunk]) -> Any:
        content: list[dict[str, Any]] = []
        reasoning = "".join(c.text for c in chunks if c.kind == "reasoning")
        if reasoning:
            text = {"text": reasoning, "signature": "llmsim"}
            content.append({"reasoningContent": {"reasoningText": text}})
        content.append({"text": "".join(c.text for c in chunks if c.kind == "answer")})
        body: dict[str, Any] = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": "max_tokens" if call.limited else "end_turn",
            "metrics": {"latencyMs": int(_ms_since(call.received))},
        }
        if call.scenario.usage:
            body["usage"] = self._usage(call)
        return body


BEDROCK = _Bedrock()


async def _bedrock_chat(request: web.Request, stream: bool) -> web.StreamResponse:
    wire = BEDROCK
    received, call_id, record = _begin(request, wire)

    def reject(status: int, message: str, error_type: str | None = None) -> web.Response:
        error_type = error_type or _BEDROCK_ERRORS.get(status, "InternalServerException")
        headers = {"x-amzn-ErrorType": error_type}
        return _reject(wire, record, call_id, status, {"message": message}, headers)

    model_name = request.match_info["model"]  # aiohttp has decoded the %-escapes
    record["model"] = model_name
    auth = request.headers.get("Authorization", "")
    # Bedrock API keys travel as "Authorization: Bearer" (Bedrock user guide, API keys);
    # otherwise a SigV4 header (AWS general reference, Signature Version 4): only its
    # presence is checked here, not the signature.
    if auth[:7].lower() == "bearer ":
        if auth[7:].strip().startswith("invalid"):
            message = "The security token included in the request is invalid."
            return reject(403, message, "UnrecognizedClientException")
    elif not auth.startswith("AWS4-HMAC-SHA256 Credential="):
        return reject(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
    body = await _read_body(request)
    if not isinstance(body, dict):
        return reject(400, "Malformed input request, please reformat your input and try again.")
    unknown = [name for name in body if name not in BEDROCK_FIELDS]
    config = body.get("inferenceConfig")
    config = config if isinstance(config, dict) else {}
    unknown += [f"inferenceConfig.{n}" for n in config if n not in INFERENCE_CONFIG_FIELDS]
    if unknown:
        # Unknown members are refused with a ValidationException (the exact wording is
        # unconfirmed; this is Bedrock's InvokeModel schema message).
        return reject(
            400,
            f"Malformed input request: extraneous key [{unknown[0]}] is not permitted, "
            "please reformat your input and try again.",
        )
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return reject(400, "A conversation must start with a user message. Try again.")
    try:
        model_id, s = parse_provider_model(model_name, "/,")
    except ScenarioError as exc:
        return reject(400, exc.message)
    limit = config.get("maxTokens")
    if limit is not None and (not _is_int(limit) or limit < 1):
        return reject(
            400,
            "1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to "
            "satisfy constraint: Member must have value greater than or equal to 1",
        )
    call = _new_call(call_id, model_id, model_name, s, limit, body, received, record)
    return await _run(request, wire, call, stream)


# ---- Ollama native /api/chat -------------------------------------------------------------

OLLAMA = _Ollama()


async def _ollama_native(request: web.Request) -> web.StreamResponse:
    wire = OLLAMA
    received, call_id, record = _begin(request, wire)
    if _invalid_key(request):
        return _reject(wire, record, call_id, 401, {"error": "unauthorized"})
    body = await _read_body(request)
    if not isinstance(body, dict):
        return _reject(wire, record, call_id, 400, {"error": "invalid request body"})
    model_name = body.get("model")
    record["model"] = model_name
    if not isinstance(model_name, str) or not model_name:
        return _reject(wire, record, call_id, 400, {"error": "model is required"})
    try:
        model_id, s = parse_provider_model(model_name)
    except ScenarioError as exc:
        return _reject(wire, record, call_id, 400, {"error": exc.message})
    # options.num_predict limits the output; -1 (infinite) and -2 (fill the context) do
    # not (ollama docs/modelfile.md, PARAMETER num_predict). Unknown fields are ignored
    # (Go's encoding/json), so a misplaced limit does nothing.
    options = body.get("options")
    limit = options.get("num_predict") if isinstance(options, dict) else None
    limit = limit if _is_int(limit) and limit > 0 else None
    call = _new_call(call_id, model_id, model_name, s, limit, body, received, record)
    # /api/chat streams unless "stream": false (ollama docs/api.md).
    return await _run(request, wire, call, body.get("stream", True) is not False)


# ---- routes ------------------------------------------------------------------------------


def add_routes(app: web.Application) -> None:
    """Mount every profile under /p/<profile>/ (and Vertex's root paths, see below)."""
    for name, profile in OPENAI_PROFILES.items():
        if name != "azure":
            root = f"/p/{name}/v1"
            app.router.add_post(f"{root}/chat/completions", _openai_handler(profile))
            app.router.add_get(f"{root}/models", _openai_listing(profile))

    azure = OPENAI_PROFILES["azure"]

    async def azure_chat(request: web.Request) -> web.StreamResponse:
        return await _openai_chat(request, azure, request.match_info["deployment"])

    # litellm's azure/ route calls {api_base}/openai/deployments/{model}/chat/completions
    # ?api-version=... with an api-key header (openai-python AzureOpenAI client).
    app.router.add_post("/p/azure/openai/deployments/{deployment:.+}/chat/completions", azure_chat)
    app.router.add_get("/p/azure/openai/models", _openai_listing(azure))

    async def gzip_chat(request: web.Request) -> web.StreamResponse:
        return await _chat(request, GZIP_OPENAI)

    app.router.add_post("/p/gzip/v1/chat/completions", gzip_chat)
    app.router.add_get("/p/gzip/v1/models", _gzip_models)

    app.router.add_post("/p/anthropic/v1/messages", _anthropic_chat)
    app.router.add_get("/p/anthropic/v1/models", _anthropic_models)

    async def gemini(request: web.Request) -> web.StreamResponse:
        return await _google_chat(request, vertex=False)

    async def vertex(request: web.Request) -> web.StreamResponse:
        return await _google_chat(request, vertex=True)

    # litellm's gemini/ route with api_base calls {api_base}/models/{model}:{method}
    # (litellm/llms/vertex_ai/vertex_llm_base.py _check_custom_proxy), with ?alt=sse.
    app.router.add_post("/p/gemini/v1beta/models/{tail:.+}", gemini)
    app.router.add_get("/p/gemini/v1beta/models", _gemini_models)
    # Vertex: litellm appends ":{method}" to an api_base with a path, so the api_base is the
    # model's resource URL; an api_base without a path gets the full default path grafted
    # on (same function), which the root routes serve.
    vertex_path = "/{version:v1|v1beta1}/projects/{project}/locations/{location}"
    vertex_path += "/publishers/google/models/{tail:.+}"
    app.router.add_post("/p/vertex" + vertex_path, vertex)
    app.router.add_post(vertex_path, vertex)
    app.router.add_post("/p/vertex/token", _vertex_token)

    async def converse(request: web.Request) -> web.StreamResponse:
        return await _bedrock_chat(request, stream=False)

    async def converse_stream(request: web.Request) -> web.StreamResponse:
        return await _bedrock_chat(request, stream=True)

    # litellm calls {api_base}/model/{quote(model_id, safe="")}/converse-stream
    # (litellm/llms/bedrock/chat/converse_handler.py, base_aws_llm.py encode_model_id).
    app.router.add_post("/p/bedrock/model/{model}/converse", converse)
    app.router.add_post("/p/bedrock/model/{model}/converse-stream", converse_stream)

    app.router.add_post("/p/ollama/api/chat", _ollama_native)
    app.router.add_get("/p/ollama/api/tags", _ollama_tags)
