"""Model discovery: ask a provider account which models it can call.

One adapter per API family (chosen by the catalog's ``ProviderSpec.discovery``). Every failure
raises a classified ``GatewayError`` (the original returned an empty list for a bad key or a dead
server, which the UI reported as "0 models discovered"); an empty but successful listing is [].

Error messages are built from the request URL without its query string and never from request
headers, and any credential value that a provider echoes back is masked, so a message can be shown
to users and stored as it is.
"""

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from arguslm.llm import catalog, egress, wire
from arguslm.llm.types import ErrorType, GatewayError, error_type_for_status

logger = logging.getLogger(__name__)

# Listings mix chat models with embedding, speech, image and moderation models that cannot answer
# a chat prompt; importing them would only produce failing probes. Matched case-insensitively
# against the model id (and an Azure deployment's model name).
NON_CHAT_MARKERS = (
    "embed",
    "whisper",
    "tts",
    "dall-e",
    "moderation",
    "transcribe",
    "image",
    "rerank",
)
# Together labels each entry with a ``type``; these types are not chat models.
NON_CHAT_TYPES = frozenset({"embedding", "image", "audio", "moderation", "rerank", "transcribe"})

ANTHROPIC_VERSION = "2023-06-01"
ANTHROPIC_PAGE_LIMIT = 100
# Listing deployments was removed from the Azure OpenAI data-plane API after this version
# (newer versions answer 404), so discovery pins it whatever version the account calls with.
AZURE_DEPLOYMENTS_API_VERSION = "2023-03-15-preview"
# A provider whose cursor never advances must not keep us looping.
MAX_PAGES = 50
MAX_MESSAGE = 300
# A listing of thousands of models is well under 1 MiB (OpenRouter's is ~0.5 MiB).
MAX_LISTING_BYTES = 4 * 1024 * 1024
MAX_ERROR_BYTES = 64 * 1024  # an error body is a message: its first 64 KiB are read
# The largest public listings hold a few hundred models (OpenRouter ~500, Bedrock ~100);
# a listing of more entries than this is refused rather than stored as models to monitor.
MAX_MODELS = 5000
# LLMModel.model_id's column: a longer id could not be stored (and is no real model's).
MAX_MODEL_ID_CHARS = 255

# Curated lists where the provider offers no listing API usable with the stored credentials.
MISTRAL_MODELS = (
    "mistral-large-latest",
    "mistral-medium-latest",
    "mistral-small-latest",
    "magistral-medium-latest",
    "magistral-small-latest",
    "codestral-latest",
    "ministral-8b-latest",
    "ministral-3b-latest",
    "open-mistral-nemo",
)
VERTEX_MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash-001",
    "gemini-2.0-flash-lite-001",
    "claude-opus-4-1@20250805",
    "claude-sonnet-4-5@20250929",
    "claude-sonnet-4@20250514",
    "claude-haiku-4-5@20251001",
    # litellm routes Vertex partner models by their publisher prefix.
    "meta/llama-4-maverick-17b-128e-instruct-maas",
    "meta/llama-3.3-70b-instruct-maas",
)


@dataclass
class DiscoveredModel:
    """One model a provider account offers."""

    model_id: str
    display_name: str | None = None
    metadata: dict = field(default_factory=dict)


def is_non_chat(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in NON_CHAT_MARKERS)


def public_url(url: str) -> str:
    """The URL without credentials, query string or fragment: safe for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # a malformed port: still never echo the userinfo
        netloc = host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _provider_message(body: Any) -> str | None:
    """The human message from an error body, in the shapes providers use."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):  # OpenAI, Anthropic, Gemini, Azure
        message = error.get("message")
        if isinstance(message, str) and message.strip():
            return message.strip()
    if isinstance(error, str) and error.strip():  # Ollama
        return error.strip()
    for key in ("message", "Message", "detail"):  # AWS, FastAPI-style proxies
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


class _Session:
    """One discovery run: an httpx client, the secret values to mask in messages, and the
    deadline of the whole run (every page of a paginated listing included)."""

    def __init__(
        self, client: httpx.AsyncClient, secrets: list[str], timeout: float, *, private: bool
    ):
        self.client = client
        # Very short values would mask ordinary words; real keys are long.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
        self.timeout = timeout
        self.deadline = asyncio.get_running_loop().time() + timeout
        self.private = private
        self.entries = 0  # listing entries read so far, over all pages

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def fail(self, error_type: ErrorType, message: str, status: int | None = None) -> GatewayError:
        return GatewayError(error_type, self.mask(message), status=status)

    def count(self, items: list, url: str) -> list:
        """The entries of one listing page, once the run's total is within MAX_MODELS."""
        self.entries += len(items)
        if self.entries > MAX_MODELS:
            raise self.fail(
                ErrorType.UNKNOWN,
                f"{public_url(url)} lists more than {MAX_MODELS:,} models, more than ArgusLM "
                "imports: add the models to monitor by hand.",
            )
        return items

    async def get_json(self, url: str, *, headers: dict | None = None, params: dict | None = None):
        if reason := egress.url_refusal(url, private=self.private):
            raise self.fail(ErrorType.CONNECTION, f"Refused by the network policy: {reason}")
        shown = public_url(url)
        request_headers = {"Accept-Encoding": wire.JSON_ACCEPT_ENCODING, **(headers or {})}
        try:
            # Every page within the run's deadline (a server dripping bytes cannot hold us),
            # the body bounded and decoded before it is parsed (wire.py).
            async with asyncio.timeout_at(self.deadline):
                async with self.client.stream(
                    "GET", url, headers=request_headers, params=params
                ) as response:
                    if response.status_code >= 300:
                        raw = await wire.read_body(response, limit=MAX_ERROR_BYTES, truncate=True)
                    else:
                        raw = await wire.read_body(response, limit=MAX_LISTING_BYTES)
        except TimeoutError:
            raise self.fail(
                ErrorType.TIMEOUT, f"Timed out after {self.timeout:g} s waiting for {shown}"
            ) from None
        except wire.BodyError as exc:
            raise self.fail(ErrorType.UNKNOWN, f"{shown}: {exc}") from None
        except httpx.TimeoutException as exc:
            phase = "connecting to" if isinstance(exc, httpx.ConnectTimeout) else "waiting for"
            raise self.fail(
                ErrorType.TIMEOUT, f"Timed out after {self.timeout:g} s {phase} {shown}"
            ) from None
        except httpx.ConnectError as exc:
            raise self.fail(
                ErrorType.CONNECTION, f"Cannot connect to {shown}: {_reason(exc)}"
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise self.fail(ErrorType.BAD_REQUEST, f"Invalid URL {shown}: {exc}") from None
        except httpx.TransportError as exc:  # dropped connection, protocol violation, proxy error
            raise self.fail(
                ErrorType.CONNECTION, f"Connection to {shown} failed: {_reason(exc)}"
            ) from None

        status = response.status_code
        if status >= 300:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            detail = _provider_message(body)
            if detail is None and 300 <= status < 400:
                # Redirects are not followed: custom auth headers would travel to another host.
                location = public_url(response.headers.get("location", "")[:2000]) or "elsewhere"
                detail = f"redirected to {location}; use the final address as base URL"
            # Masked before truncation, so that a cut can never leave half a key behind.
            detail = self.mask(detail or response.reason_phrase or "error")[:MAX_MESSAGE]
            raise self.fail(
                error_type_for_status(status), f"{detail} (HTTP {status} from {shown})", status
            )
        try:
            return json.loads(raw)
        except ValueError:
            kind = response.headers.get("content-type", "unknown content type").split(";")[0]
            raise self.fail(
                ErrorType.UNKNOWN, f"{shown} did not return JSON (HTTP {status}, {kind[:60]})"
            ) from None

    def shape_error(self, url: str, expected: str) -> GatewayError:
        return self.fail(
            ErrorType.UNKNOWN, f"Unexpected response from {public_url(url)}: expected {expected}"
        )

    def list_field(self, body: Any, key: str, url: str) -> list:
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise self.shape_error(url, f"a JSON object with a '{key}' list")
        return items


def _text(credentials: dict, key: str) -> str | None:
    value = credentials.get(key)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _base(spec: catalog.ProviderSpec, credentials: dict) -> str:
    base = _text(credentials, "base_url") or spec.default_base_url
    if not base:
        raise GatewayError(ErrorType.BAD_REQUEST, f"{spec.label} needs a base URL.")
    if len(base) > egress.MAX_URL_CHARS:  # before any parsing (stored before the cap existed)
        raise GatewayError(
            ErrorType.BAD_REQUEST, f"The base URL is longer than {egress.MAX_URL_CHARS} characters."
        )
    if not catalog.is_http_url(base):
        # Not echoed: a malformed URL may still carry user:password.
        raise GatewayError(ErrorType.BAD_REQUEST, "The base URL is not an http(s) URL with a host.")
    return base.rstrip("/")


def _require_key(spec: catalog.ProviderSpec, credentials: dict) -> str:
    key = _text(credentials, "api_key")
    if not key:
        raise GatewayError(
            ErrorType.AUTH, f"No API key is configured for this {spec.label} account."
        )
    return key


def _collect(models: list[DiscoveredModel]) -> list[DiscoveredModel]:
    """Drop repeated ids (aliases, pages that overlap), keeping the first, and ids too long
    to store."""
    seen: dict[str, DiscoveredModel] = {}
    for model in models:
        if len(model.model_id) > MAX_MODEL_ID_CHARS:
            logger.warning("Skipping a model id of %d characters", len(model.model_id))
            continue
        seen.setdefault(model.model_id, model)
    return list(seen.values())


def _static(ids: tuple[str, ...]) -> list[DiscoveredModel]:
    return [DiscoveredModel(model_id=i, metadata={"curated": True}) for i in ids]


async def _openai_compatible(s: _Session, spec: catalog.ProviderSpec, creds: dict):
    """GET <base>/models: OpenAI's ``{"data": [...]}`` or Together's bare JSON array."""
    url = _base(spec, creds) + "/models"
    key = _require_key(spec, creds) if spec.requires_api_key else _text(creds, "api_key")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if spec.id == "openai":
        if org := _text(creds, "organization_id"):
            headers["OpenAI-Organization"] = org
        if project := _text(creds, "project_id"):
            headers["OpenAI-Project"] = project
    try:
        body = await s.get_json(url, headers=headers)
    except GatewayError as exc:
        # A gateway in front of Mistral may not offer a listing; the curated list still helps.
        if spec.id == "mistral" and exc.status in (404, 405):
            return _static(MISTRAL_MODELS)
        raise
    items = body if isinstance(body, list) else body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise s.shape_error(url, "a JSON object with a 'data' list, or a JSON array")
    s.count(items, url)

    models = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            logger.warning("Skipping malformed model entry from %s", public_url(url))
            continue
        capabilities = item.get("capabilities")
        if (
            is_non_chat(item["id"])
            or item.get("type") in NON_CHAT_TYPES
            # Mistral marks its non-chat models this way.
            or (isinstance(capabilities, dict) and capabilities.get("completion_chat") is False)
        ):
            continue
        name = item.get("display_name") or item.get("name")
        models.append(
            DiscoveredModel(
                model_id=item["id"],
                display_name=name if isinstance(name, str) and name != item["id"] else None,
                metadata={k: v for k, v in item.items() if k not in ("id", "object")},
            )
        )
    return _collect(models)


async def _ollama(s: _Session, spec: catalog.ProviderSpec, creds: dict):
    url = catalog.ollama_root(_base(spec, creds)) + "/api/tags"
    key = _text(creds, "api_key")  # only set when a proxy in front of Ollama wants one
    body = await s.get_json(url, headers={"Authorization": f"Bearer {key}"} if key else None)
    models = []
    for item in s.count(s.list_field(body, "models", url), url):
        if not isinstance(item, dict):
            continue
        name = item.get("name") or item.get("model")
        if not isinstance(name, str) or is_non_chat(name):
            continue
        details = item.get("details") if isinstance(item.get("details"), dict) else {}
        metadata = {k: item[k] for k in ("size", "digest", "modified_at") if k in item}
        metadata.update(details)
        models.append(DiscoveredModel(model_id=name, metadata=metadata))
    return _collect(models)


async def _anthropic(s: _Session, spec: catalog.ProviderSpec, creds: dict):
    base = _strip_version(_base(spec, creds))
    url = base + "/v1/models"
    headers = {"x-api-key": _require_key(spec, creds), "anthropic-version": ANTHROPIC_VERSION}
    params: dict = {"limit": ANTHROPIC_PAGE_LIMIT}
    models = []
    for _ in range(MAX_PAGES):
        body = await s.get_json(url, headers=headers, params=params)
        items = s.count(s.list_field(body, "data", url), url)
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                name = item.get("display_name")
                models.append(
                    DiscoveredModel(
                        model_id=item["id"],
                        display_name=name if isinstance(name, str) else None,
                        metadata={k: v for k, v in item.items() if k not in ("id", "type")},
                    )
                )
        if not body.get("has_more"):
            return _collect(models)
        last = body.get("last_id") or (items[-1].get("id") if items else None)
        if not last or last == params.get("after_id"):
            raise s.shape_error(url, "'last_id' to advance while 'has_more' is true")
        params["after_id"] = last
    raise s.fail(ErrorType.UNKNOWN, f"{public_url(url)} returned more than {MAX_PAGES} pages")


# /v1, /v1beta, /v1beta1, /v1alpha. Written so that no two branches can match the same digits:
# the search stays linear in the URL's length (``/v\d+(?:alpha|beta)?\d*$`` was quadratic).
_VERSION_SEGMENT = re.compile(r"/v\d+(?:(?:alpha|beta)\d*)?$")


def _strip_version(base: str) -> str:
    return _VERSION_SEGMENT.sub("", base)


async def _gemini(s: _Session, spec: catalog.ProviderSpec, creds: dict):
    base = _base(spec, creds)
    # litellm's Gemini api_base already ends in a version (…/v1beta); a bare host gets v1beta.
    url = base + "/models" if _VERSION_SEGMENT.search(base) else base + "/v1beta/models"
    headers = {"x-goog-api-key": _require_key(spec, creds)}
    # No pageSize: the default (50) needs one or two pages and keeps the request minimal.
    params: dict = {}
    models = []
    for _ in range(MAX_PAGES):
        body = await s.get_json(url, headers=headers, params=params)
        # Gemini omits "models" entirely on an empty page.
        items = s.count(s.list_field(body, "models", url) if body != {} else [], url)
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                continue
            methods = item.get("supportedGenerationMethods") or []
            model_id = item["name"].removeprefix("models/")
            if "generateContent" not in methods or is_non_chat(model_id):
                continue
            name = item.get("displayName")
            models.append(
                DiscoveredModel(
                    model_id=model_id,
                    display_name=name if isinstance(name, str) else None,
                    metadata={k: v for k, v in item.items() if k not in ("name", "displayName")},
                )
            )
        token = body.get("nextPageToken")
        if not token:
            return _collect(models)
        if token == params.get("pageToken"):
            raise s.shape_error(url, "'nextPageToken' to change between pages")
        params["pageToken"] = token
    raise s.fail(ErrorType.UNKNOWN, f"{public_url(url)} returned more than {MAX_PAGES} pages")


async def _azure(s: _Session, spec: catalog.ProviderSpec, creds: dict):
    """The account's deployments: Azure calls models by deployment name, not by model name."""
    base = _base(spec, creds)
    base = base[: -len("/openai")] if base.endswith("/openai") else base
    url = base + "/openai/deployments"
    headers = {"api-key": _require_key(spec, creds)}
    body = await s.get_json(
        url, headers=headers, params={"api-version": AZURE_DEPLOYMENTS_API_VERSION}
    )
    models = []
    for item in s.count(s.list_field(body, "data", url), url):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        base_model = item.get("model") if isinstance(item.get("model"), str) else ""
        if is_non_chat(item["id"]) or is_non_chat(base_model):
            continue
        metadata = {k: v for k, v in item.items() if k not in ("id", "object")}
        models.append(DiscoveredModel(model_id=item["id"], metadata=metadata))
    return _collect(models)


def bedrock_endpoint(region: str) -> str:
    """The Bedrock control-plane endpoint (a function so tests can point it elsewhere)."""
    return f"https://bedrock.{region}.amazonaws.com"


def _sigv4_headers(url: str, region: str, key_id: str, secret: str, token: str | None) -> dict:
    try:  # botocore ships with boto3; only access-key signing needs it
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        raise GatewayError(
            ErrorType.BAD_REQUEST,
            "Bedrock discovery needs boto3 to sign requests with an access key pair "
            "(pip install boto3), or use a Bedrock API key (bearer token) instead.",
        ) from None
    request = AWSRequest(method="GET", url=url)
    # Only the stored keys: never the server's ambient AWS credentials.
    SigV4Auth(Credentials(key_id, secret, token), "bedrock", region).add_auth(request)
    return dict(request.headers.items())


async def _bedrock(s: _Session, spec: catalog.ProviderSpec, creds: dict):
    """ListFoundationModels over its REST form, signed with the stored credentials only."""
    region = _text(creds, "region") or catalog.BEDROCK_DEFAULT_REGION
    # The query is part of the SigV4 signature, so the URL is built once and sent verbatim.
    url = f"{bedrock_endpoint(region)}/foundation-models?{urlencode({'byOutputModality': 'TEXT'})}"
    token = _text(creds, "api_key")
    key_id, secret = _text(creds, "aws_access_key_id"), _text(creds, "aws_secret_access_key")
    if token:
        headers = {"Authorization": f"Bearer {token}"}
    elif key_id and secret:
        session = _text(creds, "aws_session_token")
        headers = _sigv4_headers(url, region, key_id, secret, session)
    else:
        raise GatewayError(
            ErrorType.AUTH, "No Bedrock bearer token or AWS access key pair is configured."
        )
    body = await s.get_json(url, headers=headers)
    models = []
    for item in s.count(s.list_field(body, "modelSummaries", url), url):
        if not isinstance(item, dict) or not isinstance(item.get("modelId"), str):
            continue
        if "TEXT" not in (item.get("outputModalities") or []):
            continue
        lifecycle = item.get("modelLifecycle")
        metadata = {
            "model_name": item.get("modelName"),
            "provider_name": item.get("providerName"),
            "owned_by": item["modelId"].split(".", 1)[0],
            "input_modalities": item.get("inputModalities"),
            "output_modalities": item.get("outputModalities"),
            "inference_types_supported": item.get("inferenceTypesSupported"),
            "customizations_supported": item.get("customizationsSupported"),
            "response_streaming_supported": item.get("responseStreamingSupported"),
            "lifecycle_status": lifecycle.get("status") if isinstance(lifecycle, dict) else None,
        }
        name = item.get("modelName")
        models.append(
            DiscoveredModel(
                model_id=item["modelId"],
                display_name=name if isinstance(name, str) else None,
                metadata={k: v for k, v in metadata.items() if v is not None},
            )
        )
    return _collect(models)


async def _static_family(s: _Session, spec: catalog.ProviderSpec, creds: dict):
    if spec.id == "google_vertex":
        return _static(VERTEX_MODELS)
    if spec.id == "mistral":
        return _static(MISTRAL_MODELS)
    raise GatewayError(ErrorType.BAD_REQUEST, f"No curated model list for {spec.id}.")


_ADAPTERS = {
    "openai": _openai_compatible,
    "together": _openai_compatible,
    "ollama": _ollama,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "azure": _azure,
    "bedrock": _bedrock,
    "static": _static_family,
}


async def discover(
    provider_type: str, credentials: dict, *, timeout: float = 30.0
) -> list[DiscoveredModel]:
    """The chat models this account offers; raises a classified ``GatewayError`` on failure."""
    spec = catalog.get_spec(provider_type)
    adapter = _ADAPTERS.get(spec.discovery) if spec and spec.discovery else None
    if spec is None or adapter is None:
        raise GatewayError(
            ErrorType.BAD_REQUEST,
            f"Model discovery is not supported for provider type {provider_type}; "
            "add models manually.",
        )
    creds = credentials if isinstance(credentials, dict) else {}
    secret_names = {f["name"] for f in spec.fields if f["kind"] in ("secret", "textarea")}
    secrets = [v for k, v in creds.items() if k in secret_names and isinstance(v, str)]
    # follow_redirects=False: custom auth headers (x-api-key, api-key) would be re-sent to
    # whatever host a redirect names. The transport connects under the network policy.
    private = egress.private_allowed(spec.id)
    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, transport=egress.Transport(private=private)
    ) as client:
        session = _Session(client, secrets, timeout, private=private)
        try:
            return await adapter(session, spec, creds)
        except GatewayError as exc:
            raise session.fail(exc.error_type, exc.message, exc.status) from None
        except Exception as exc:
            # A bug or an odd payload must still reach the caller as a classified failure.
            logger.exception("Model discovery for %s failed unexpectedly", provider_type)
            raise session.fail(
                ErrorType.UNKNOWN, f"Model discovery failed: {type(exc).__name__}: {exc}"
            ) from exc
