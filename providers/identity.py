"""Which model a model id names, across providers: "the same model" gets one identity.

Providers name one open model many ways: ``llama-3.1-8b-instant`` (Groq),
``meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo`` (Together),
``accounts/fireworks/models/llama-v3p1-8b-instruct`` (Fireworks),
``meta-llama/llama-3.1-8b-instruct`` (OpenRouter), ``llama3.1:8b`` (Ollama). litellm's model
metadata keys each provider's name separately and carries no shared identity, so ``suggest``
reads the name: family, version and size give ``llama-3.1-8b`` for all five. A name without a
size (``gpt-4o-mini``) is its own identity, its date suffix dropped. People correct a
suggestion by setting ``LLMModel.identity``.

The id comes from a provider's listing: it is capped before any pattern reads it, and the
patterns are single character classes and digit runs (linear time).
"""

import re

FAMILIES = (
    "llama",
    "mistral",
    "mixtral",
    "codestral",
    "qwen",
    "qwq",
    "gemma",
    "phi",
    "deepseek",
    "granite",
    "command",
    "olmo",
    "yi",
    "falcon",
)
MAX_ID_CHARS = 255
IDENTITY_PATTERN = re.compile(r"[a-z0-9][a-z0-9.\-]{0,99}")  # what people may set
_TOKENS = re.compile(r"[a-z]+|\d+(?:\.\d+)?(?:x\d+)?[a-z]?")
_SIZE = re.compile(r"\d+(?:\.\d+)?(?:x\d+)?[bm]")
_VERSION = re.compile(r"\d{1,2}(?:\.\d{1,2})?")  # 3.1, 2.5, 3 (not a context length: 32768)
_FIREWORKS_VERSION = re.compile(r"v(\d+)p(\d+)")  # llama-v3p1 is Llama 3.1
_DATE = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")  # gpt-4o-2024-08-06, -0613


def suggest(model_id: str) -> str:
    """The identity a model id most likely names (lower case, ``[a-z0-9.-]``)."""
    name = model_id[:MAX_ID_CHARS].lower().rsplit("/", 1)[-1]
    name, _, tag = name.partition(":")  # Ollama's tag: llama3.1:8b
    name = _FIREWORKS_VERSION.sub(r"\1.\2", name.replace("_", "-"))
    tokens = _TOKENS.findall(f"{name} {'' if tag == 'latest' else tag}")
    family = next((t for t in tokens if t in FAMILIES), None)
    size = next((t for t in tokens if _SIZE.fullmatch(t)), None)
    if family and size:
        start = tokens.index(family) + 1
        version = next(
            (
                t
                for previous, t in zip(tokens[start - 1 :], tokens[start:], strict=False)
                if _VERSION.fullmatch(t) and previous != "v"  # v0.3 is a revision
            ),
            None,
        )
        return "-".join(part for part in (family, version, size) if part)
    plain = re.sub(r"[^a-z0-9.\-]+", "-", name).strip("-.")
    return _DATE.sub("", plain)[:100] or "unknown"
