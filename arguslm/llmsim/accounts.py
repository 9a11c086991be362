"""One account per tested provider type, pointed at that provider's strict simulator profile.

The tests (tests/gateway/test_provider_rules.py) and ``manage.py provider_bench`` use the same
cases: each is what a new user would enter for that provider type, with the simulator's base URL
in place of the provider's, and the ground truth the profile schedules for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class StrictCase:
    """A provider account and model, and what the simulator will send for it."""

    label: str
    provider_type: str
    credentials: dict
    model_id: str
    ttft_ms: float  # scheduled time of the first token-bearing chunk the client can see
    ttfat_ms: float  # ... of the first answer chunk
    output_tokens: int  # the truth: what was generated (reasoning included)
    token_source: str = "usage"


def service_account(sim: str) -> dict:
    """A Vertex service-account key whose token endpoint is the simulator's."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "sim-project",
        "private_key_id": "sim-key-1",
        "private_key": pem,
        "client_email": "prober@sim-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{sim}/p/vertex/token",
    }


def strict_cases(
    sim: str, *, ttft: float = 120, itl: float = 10, n: int = 12, reasoning: int = 6
) -> list[StrictCase]:
    """Every tested provider type (and its reasoning variants) at its strict profile."""
    s = f"ttft={ttft:g}/itl={itl:g}/n={n}"
    thinking = reasoning * itl  # reasoning tokens take their slots before the answer

    def case(label, ptype, creds, model, *, hidden=0, shown=0, source="usage"):
        first = ttft + (hidden if hidden else 0)
        return StrictCase(
            label,
            ptype,
            creds,
            model,
            ttft_ms=first,
            ttfat_ms=first + (thinking if shown else 0),
            output_tokens=n + (reasoning if hidden or shown else 0),
            token_source=source,
        )

    def openai_like(profile: str, key: str | None = "sk-sim-key-0001") -> dict:
        creds = {"base_url": f"{sim}/p/{profile}/v1"}
        if key:
            creds["api_key"] = key
        return creds

    vertex = {
        "vertex_project": "sim-project",
        "vertex_location": "us-central1",
        "vertex_credentials": json.dumps(service_account(sim)),
        "base_url": sim,
    }
    r = f"reasoning={reasoning}"
    return [
        case("OpenAI", "openai", openai_like("openai"), f"gpt-4o-mini/{s}"),
        case(
            "OpenAI o4-mini", "openai", openai_like("openai"), f"o4-mini/{s}/{r}", hidden=thinking
        ),
        case(
            "OpenAI gpt-5-mini",
            "openai",
            openai_like("openai"),
            f"gpt-5-mini/{s}/{r}",
            hidden=thinking,
        ),
        case(
            "Azure OpenAI",
            "azure_openai",
            {"api_key": "azure-sim-key", "base_url": f"{sim}/p/azure", "api_version": "2024-10-21"},
            f"gpt-4o-mini/{s}",
        ),
        case(
            "Azure o4-mini",
            "azure_openai",
            {"api_key": "azure-sim-key", "base_url": f"{sim}/p/azure", "api_version": "2024-10-21"},
            f"o4-mini/{s}/{r}",
            hidden=thinking,
        ),
        case(
            "Anthropic",
            "anthropic",
            {"api_key": "sk-ant-sim-0001", "base_url": f"{sim}/p/anthropic"},
            f"claude-haiku-4-5/{s}",
        ),
        case(
            "Google AI Studio",
            "google_ai_studio",
            {"api_key": "gemini-sim-key", "base_url": f"{sim}/p/gemini/v1beta"},
            f"gemini-2.5-flash/{s}",
        ),
        case(
            "Gemini thinking",
            "google_ai_studio",
            {"api_key": "gemini-sim-key", "base_url": f"{sim}/p/gemini/v1beta"},
            f"gemini-2.5-pro/{s}/{r}",
            shown=thinking,
        ),
        case("Google Vertex AI", "google_vertex", vertex, f"gemini-2.5-flash/{s}"),
        case(
            "AWS Bedrock",
            "aws_bedrock",
            {"region": "us-east-1", "api_key": "bedrock-sim-token", "base_url": f"{sim}/p/bedrock"},
            "sim," + s.replace("/", ","),
        ),
        case("Ollama", "ollama", {"base_url": f"{sim}/p/ollama"}, f"llama3.2/{s}"),
        case("LM Studio", "lm_studio", openai_like("lm_studio", None), f"qwen3-4b/{s}"),
        case(
            "OpenRouter",
            "openrouter",
            openai_like("openrouter"),
            f"meta-llama/llama-3.1-8b-instruct/{s}/comments=2",
        ),
        case("Together AI", "together_ai", openai_like("together"), f"meta-llama/Llama-3.2-3B/{s}"),
        case("Groq", "groq", openai_like("groq"), f"llama-3.1-8b-instant/{s}"),
        case("Mistral AI", "mistral", openai_like("mistral"), f"mistral-small-latest/{s}"),
        case("xAI", "xai", openai_like("xai"), f"grok-3/{s}"),
        case(
            "Fireworks AI",
            "fireworks_ai",
            openai_like("fireworks"),
            f"accounts/fireworks/models/llama-v3p1-8b-instruct/{s}",
        ),
        case("DeepSeek", "deepseek", openai_like("deepseek"), f"deepseek-chat/{s}"),
        case(
            "DeepSeek reasoner",
            "deepseek",
            openai_like("deepseek"),
            f"deepseek-reasoner/{s}/{r}",
            shown=thinking,
        ),
        case(
            "llama.cpp (custom)",
            "custom_openai_compatible",
            openai_like("custom", None),
            f"gemma-3-270m/{s}",
            source="estimate",
        ),
        case(
            "gzip proxy (custom)",
            "custom_openai_compatible",
            openai_like("gzip", None),
            f"sim/{s}",
        ),
    ]
