"""The provider catalog: which provider types exist, which credentials each takes, how to call them.

Sixteen provider types are hand-written and tested; every other chat provider litellm knows is
generated from litellm's own ``LITELLM_CHAT_PROVIDERS`` list. That list is read by parsing
``litellm/constants.py`` with ``ast`` instead of importing litellm, because importing it costs
~4 s and ~170 MB and the catalog is needed by every provider form and API call.

``build_target`` turns stored credentials into a ``CallTarget``: the exact litellm model string
and keyword arguments, plus, for providers that speak the OpenAI wire format, the base URL, key and
headers for streaming them directly through the ``openai`` SDK (the precise timing path).
"""

import ast
import dataclasses
import functools
import importlib.util
import json
import logging
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

from arguslm.llm import egress
from arguslm.llm.types import CallTarget, ErrorType, GatewayError

logger = logging.getLogger(__name__)

# Local servers usually need no key, but the openai SDK and litellm refuse an empty one, and
# without any key some clients send "Bearer None".
DUMMY_API_KEY = "not-needed"
AZURE_DEFAULT_API_VERSION = "2024-10-21"
VERTEX_DEFAULT_LOCATION = "us-central1"
# Validation demands a region for Bedrock; this only applies to accounts stored before that.
BEDROCK_DEFAULT_REGION = "us-east-1"
OLLAMA_DEFAULT_BASE_URL = "http://localhost:11434"

AWS_REGIONS: tuple[tuple[str, str], ...] = (
    ("us-east-1", "US East (N. Virginia)"),
    ("us-east-2", "US East (Ohio)"),
    ("us-west-1", "US West (N. California)"),
    ("us-west-2", "US West (Oregon)"),
    ("ca-central-1", "Canada (Central)"),
    ("ca-west-1", "Canada West (Calgary)"),
    ("sa-east-1", "South America (São Paulo)"),
    ("eu-west-1", "Europe (Ireland)"),
    ("eu-west-2", "Europe (London)"),
    ("eu-west-3", "Europe (Paris)"),
    ("eu-central-1", "Europe (Frankfurt)"),
    ("eu-central-2", "Europe (Zurich)"),
    ("eu-north-1", "Europe (Stockholm)"),
    ("eu-south-1", "Europe (Milan)"),
    ("eu-south-2", "Europe (Spain)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"),
    ("ap-northeast-2", "Asia Pacific (Seoul)"),
    ("ap-northeast-3", "Asia Pacific (Osaka)"),
    ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ("ap-southeast-2", "Asia Pacific (Sydney)"),
    ("ap-southeast-3", "Asia Pacific (Jakarta)"),
    ("ap-southeast-4", "Asia Pacific (Melbourne)"),
    ("ap-southeast-5", "Asia Pacific (Malaysia)"),
    ("ap-southeast-7", "Asia Pacific (Thailand)"),
    ("ap-south-1", "Asia Pacific (Mumbai)"),
    ("ap-south-2", "Asia Pacific (Hyderabad)"),
    ("ap-east-2", "Asia Pacific (Taipei)"),
    ("af-south-1", "Africa (Cape Town)"),
    ("me-south-1", "Middle East (Bahrain)"),
    ("me-central-1", "Middle East (UAE)"),
    ("il-central-1", "Israel (Tel Aviv)"),
    ("mx-central-1", "Mexico (Central)"),
)
# AWS opens regions faster than this list is updated: accept any well-formed region name.
_AWS_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")

FIELD_KINDS = ("secret", "text", "url", "select", "textarea")
# Fields that hold a secret: the textarea is the Vertex service-account JSON (a private key).
SECRET_KINDS = ("secret", "textarea")


def _field(
    name: str,
    label: str,
    kind: str,
    *,
    required: bool = False,
    help: str = "",
    options: tuple[tuple[str, str], ...] | None = None,
) -> dict:
    assert kind in FIELD_KINDS, kind
    return {
        "name": name,
        "label": label,
        "kind": kind,
        "required": required,
        "help": help,
        "options": [list(pair) for pair in options] if options else None,
    }


def _api_key(*, required: bool = True, label: str = "API Key", help: str = "") -> dict:
    return _field("api_key", label, "secret", required=required, help=help)


def _base_url(*, required: bool = False, label: str = "Base URL", help: str = "") -> dict:
    if not help and not required:
        help = "Leave empty to use the provider's public API."
    return _field("base_url", label, "url", required=required, help=help)


@dataclasses.dataclass(frozen=True)
class ProviderSpec:
    """One provider type: what the form collects and how the gateway reaches it."""

    id: str
    label: str
    tested: bool = True
    requires_api_key: bool = True
    requires_base_url: bool = False
    requires_region: bool = False
    show_org_fields: bool = False
    # Pre-filled in the form, and the real API base for direct (route "openai") calls and
    # discovery; never forced onto litellm, which knows its own defaults.
    default_base_url: str | None = None
    api_key_label: str | None = None
    base_url_label: str | None = None
    region_options: tuple[tuple[str, str], ...] = ()
    fields: tuple[dict, ...] = ()
    route: str = "litellm"
    discovery: str | None = None
    litellm_prefix: str = ""
    test_model: str | None = None

    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields]

    def to_dict(self) -> dict:
        """The API's catalog entry: the original's keys plus fields, route and discovery."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for internal in ("litellm_prefix", "test_model"):
            del data[internal]
        data["region_options"] = [list(pair) for pair in self.region_options]
        data["fields"] = [
            {**f, "options": [list(o) for o in f["options"]] if f["options"] else None}
            for f in self.fields
        ]
        return data


def _cloud(
    id: str,
    label: str,
    base: str,
    *,
    route: str = "openai",
    discovery: str | None = "openai",
    test_model: str | None = None,
) -> ProviderSpec:
    """A hosted provider that takes an API key and an optional base URL override."""
    return ProviderSpec(
        id=id,
        label=label,
        default_base_url=base,
        fields=(_api_key(), _base_url()),
        route=route,
        discovery=discovery,
        litellm_prefix=f"{id}/",
        test_model=test_model,
    )


_TESTED: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        id="openai",
        label="OpenAI",
        show_org_fields=True,
        default_base_url="https://api.openai.com/v1",
        fields=(
            _api_key(),
            _base_url(),
            _field("organization_id", "Organization ID", "text", help="Optional (org-...)."),
            _field("project_id", "Project ID", "text", help="Optional (proj_...)."),
        ),
        route="openai",
        discovery="openai",
        litellm_prefix="",
        test_model="gpt-4o-mini",
    ),
    _cloud(
        "anthropic",
        "Anthropic",
        "https://api.anthropic.com",
        route="litellm",
        discovery="anthropic",
        # The alias follows the newest Haiku, so the test does not break when a snapshot retires.
        test_model="claude-haiku-4-5",
    ),
    ProviderSpec(
        id="google_vertex",
        label="Google Vertex AI",
        requires_api_key=False,
        fields=(
            _field("vertex_project", "Project ID", "text", required=True, help="GCP project id."),
            _field(
                "vertex_location",
                "Location",
                "text",
                help=f"Vertex AI region; defaults to {VERTEX_DEFAULT_LOCATION}.",
            ),
            # Required so that calls never fall back to whatever Google credentials the server
            # process happens to have.
            _field(
                "vertex_credentials",
                "Service Account JSON",
                "textarea",
                required=True,
                help="Paste the service-account key file (JSON).",
            ),
            _base_url(
                label="API endpoint",
                help="Optional: a Private Service Connect endpoint or proxy. "
                "Leave empty for the location's endpoint.",
            ),
        ),
        route="litellm",
        discovery="static",
        litellm_prefix="vertex_ai/",
        test_model="gemini-2.5-flash-lite",
    ),
    ProviderSpec(
        id="google_ai_studio",
        label="Google AI Studio",
        # litellm treats a Gemini api_base as the versioned root (…/v1beta).
        default_base_url="https://generativelanguage.googleapis.com/v1beta",
        fields=(_api_key(), _base_url()),
        route="litellm",
        discovery="gemini",
        litellm_prefix="gemini/",
        test_model="gemini-flash-lite-latest",
    ),
    ProviderSpec(
        id="aws_bedrock",
        label="AWS Bedrock",
        # A bearer token OR an access key pair: neither alone is required (validate_credentials
        # demands one of the two).
        requires_api_key=False,
        requires_region=True,
        api_key_label="Bearer Token (from AWS Bedrock Console)",
        region_options=AWS_REGIONS,
        fields=(
            _field("region", "Region", "select", required=True, options=AWS_REGIONS),
            _api_key(
                required=False,
                label="Bearer Token (from AWS Bedrock Console)",
                help="Either this bearer token or an access key pair.",
            ),
            _field("aws_access_key_id", "AWS Access Key ID", "text"),
            _field("aws_secret_access_key", "AWS Secret Access Key", "secret"),
            _field(
                "aws_session_token", "AWS Session Token", "secret", help="Only for temporary keys."
            ),
            _base_url(
                label="Endpoint URL",
                help="Optional: a VPC endpoint or proxy. Leave empty for the region's endpoint.",
            ),
        ),
        route="litellm",
        discovery="bedrock",
        litellm_prefix="bedrock/",
        test_model="anthropic.claude-3-haiku-20240307-v1:0",
    ),
    ProviderSpec(
        id="azure_openai",
        label="Azure OpenAI",
        requires_base_url=True,
        base_url_label="Endpoint",
        fields=(
            _api_key(),
            _base_url(required=True, label="Endpoint", help="https://<resource>.openai.azure.com"),
            _field(
                "api_version",
                "API Version",
                "text",
                help=f"Defaults to {AZURE_DEFAULT_API_VERSION} (2024-09-01-preview or later: "
                "probes send max_completion_tokens and ask for usage in the stream). "
                "Models are deployment names.",
            ),
        ),
        # Azure speaks the OpenAI wire format at …/openai/deployments/<name>/chat/completions
        # with an api-version query parameter and an api-key header (Azure OpenAI REST
        # reference): streamed directly. (litellm fakes the stream of Azure o-series
        # deployments, `AzureOpenAIO1Config.should_fake_stream`, which would make TTFT equal
        # the whole latency.)
        route="openai",
        discovery="azure",
        litellm_prefix="azure/",
    ),
    ProviderSpec(
        id="ollama",
        label="Ollama",
        requires_api_key=False,
        requires_base_url=True,
        default_base_url=OLLAMA_DEFAULT_BASE_URL,
        base_url_label="Base URL",
        fields=(
            _base_url(required=True, help="The server root, e.g. http://localhost:11434"),
            _api_key(required=False, help="Only if a proxy in front of Ollama demands one."),
        ),
        # Ollama serves an OpenAI-compatible API under <base>/v1 with streaming usage, so it
        # gets the precise direct path; litellm's "ollama_chat/" (native /api/chat) is the
        # fallback model string.
        route="openai",
        discovery="ollama",
        litellm_prefix="ollama_chat/",
    ),
    ProviderSpec(
        id="lm_studio",
        label="LM Studio",
        requires_api_key=False,
        requires_base_url=True,
        default_base_url="http://localhost:1234/v1",
        base_url_label="Base URL",
        fields=(
            _base_url(
                required=True, help="The OpenAI-compatible root, e.g. http://localhost:1234/v1"
            ),
            _api_key(required=False),
        ),
        route="openai",
        discovery="openai",
        litellm_prefix="lm_studio/",
    ),
    _cloud(
        "openrouter",
        "OpenRouter",
        "https://openrouter.ai/api/v1",
        test_model="meta-llama/llama-3.1-8b-instruct",
    ),
    _cloud(
        "together_ai",
        "Together AI",
        "https://api.together.xyz/v1",
        discovery="together",
        test_model="meta-llama/Llama-3.2-3B-Instruct-Turbo",
    ),
    _cloud("groq", "Groq", "https://api.groq.com/openai/v1", test_model="llama-3.1-8b-instant"),
    # Mistral lists models at /v1/models; discovery falls back to a curated list when a custom
    # base URL offers no listing.
    _cloud("mistral", "Mistral AI", "https://api.mistral.ai/v1", test_model="mistral-small-latest"),
    _cloud("xai", "xAI (Grok)", "https://api.x.ai/v1", test_model="grok-3-mini"),
    _cloud(
        "fireworks_ai",
        "Fireworks AI",
        "https://api.fireworks.ai/inference/v1",
        test_model="accounts/fireworks/models/llama-v3p1-8b-instruct",
    ),
    _cloud("deepseek", "DeepSeek", "https://api.deepseek.com/v1", test_model="deepseek-chat"),
    ProviderSpec(
        id="custom_openai_compatible",
        label="Custom OpenAI Compatible",
        # vLLM, llama.cpp, TGI and most self-hosted servers run without a key.
        requires_api_key=False,
        requires_base_url=True,
        fields=(
            _base_url(required=True, help="The OpenAI-compatible root, e.g. http://host:8000/v1"),
            _api_key(required=False),
        ),
        route="openai",
        discovery="openai",
        litellm_prefix="openai/",
    ),
)

TESTED_COUNT = len(_TESTED)


def _litellm_constants_path() -> Path | None:
    spec = importlib.util.find_spec("litellm")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "constants.py"


@functools.cache
def litellm_chat_providers() -> tuple[str, ...]:
    """litellm's chat provider ids, in its order, without importing litellm (cached)."""
    try:
        path = _litellm_constants_path()
        if path is None:
            raise FileNotFoundError("litellm is not installed")
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            # The list is written ``LITELLM_CHAT_PROVIDERS: Final = [...]``; accept a plain
            # assignment too in case a release drops the annotation.
            if isinstance(node, ast.AnnAssign):
                targets, value = [node.target], node.value
            elif isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            else:
                continue
            if any(getattr(t, "id", None) == "LITELLM_CHAT_PROVIDERS" for t in targets):
                if not isinstance(value, ast.List | ast.Tuple):
                    raise ValueError("LITELLM_CHAT_PROVIDERS is not a list literal")
                ids = [
                    e.value
                    for e in value.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                ]
                return tuple(dict.fromkeys(ids))  # the list repeats some ids (e.g. baseten)
        raise ValueError("LITELLM_CHAT_PROVIDERS not found")
    except (OSError, SyntaxError, ValueError) as exc:
        logger.warning("Cannot read litellm's chat provider list (%s); catalog is tested-only", exc)
        return ()


def untested_label(provider_id: str) -> str:
    """The original's label rule: ``nvidia_nim`` → "Nvidia Nim", ``ai21`` → "AI21"."""
    return provider_id.replace("_", " ").title().replace("Ai", "AI").replace("Openai", "OpenAI")


def _untested_spec(provider_id: str) -> ProviderSpec:
    return ProviderSpec(
        id=provider_id,
        label=untested_label(provider_id),
        tested=False,
        requires_api_key=True,
        fields=(_api_key(), _base_url()),
        route="litellm",
        discovery=None,
        litellm_prefix=f"{provider_id}/",
    )


@functools.cache
def _catalog() -> dict[str, ProviderSpec]:
    specs = {s.id: s for s in _TESTED}
    for pid in litellm_chat_providers():
        specs.setdefault(pid, _untested_spec(pid))
    ordered = sorted(specs.values(), key=lambda s: (not s.tested, s.label.casefold(), s.id))
    return {s.id: s for s in ordered}


def all_specs() -> dict[str, ProviderSpec]:
    """Every provider type: tested first, then by label."""
    return dict(_catalog())


def get_spec(provider_type: str) -> ProviderSpec | None:
    return _catalog().get(provider_type)


def connection_test_model(provider_type: str) -> str | None:
    """A cheap current model for a 1-token test; None where listing models is the test."""
    spec = get_spec(provider_type)
    return spec.test_model if spec else None


# --- validation ---------------------------------------------------------------------------------


def _text(credentials: dict, key: str) -> str | None:
    """A credential as a stripped string; blank and non-string values count as absent."""
    value = credentials.get(key)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _present(credentials: dict, key: str) -> bool:
    value = credentials.get(key)
    if isinstance(value, str):
        return bool(value.strip())
    return value not in (None, {}, [])


def origin(url: object) -> str | None:
    """``scheme://host[:port]`` of a URL: where its requests go, and the part that may be shown
    (Slack and Discord keep their secret in the path). None for no URL; the default port of
    the scheme is left out, so ``https://x`` and ``https://x:443`` are the same origin."""
    if not isinstance(url, str) or not url.strip():
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # e.g. a port out of range
        return INVALID_URL
    if not parts.hostname:
        return INVALID_URL
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port and port != default else "")


INVALID_URL = "(invalid URL)"


def is_http_url(value: str) -> bool:
    if len(value) > egress.MAX_URL_CHARS:  # cap, then parse
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an invalid port or IPv6 literal
        return False


def parse_service_account(value: object) -> dict | None:
    """The Vertex service-account JSON as a dict (it may be stored as text or as an object)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def validate_credentials(provider_type: str, credentials: dict) -> dict[str, str]:
    """Every problem with these credentials as {field: message}; an empty dict means valid."""
    spec = get_spec(provider_type)
    if spec is None:
        return {"provider_type": f"Unknown provider type '{provider_type}'."}
    if not isinstance(credentials, dict):
        return {"credentials": "Credentials must be a JSON object."}

    errors: dict[str, str] = {}
    private = egress.private_allowed(spec.id)
    fields = {f["name"]: f for f in spec.fields}
    accepted = ", ".join(fields)
    for key in credentials:
        if key not in fields:
            errors[key] = (
                f"Unknown credential field '{key}' for {spec.label} (accepted: {accepted})."
            )

    for name, fdef in fields.items():
        value = credentials.get(name)
        if not _present(credentials, name):
            if fdef["required"]:
                errors[name] = f"{fdef['label']} is required."
            continue
        if name == "vertex_credentials":
            account = parse_service_account(value)
            if account is None:
                errors[name] = "Service Account JSON must be a JSON object (the key file)."
            elif isinstance(account.get("token_uri"), str) and (
                reason := egress.url_refusal(account["token_uri"], private=private)
            ):
                # google-auth posts a signed assertion to the token_uri the key file names.
                errors[name] = f"Its token_uri cannot be reached under the network policy: {reason}"
            continue
        if not isinstance(value, str):
            errors[name] = f"{fdef['label']} must be a string."
            continue
        if fdef["kind"] == "url" and len(value) > egress.MAX_URL_CHARS:
            errors[name] = f"{fdef['label']} is longer than {egress.MAX_URL_CHARS} characters."
        elif fdef["kind"] == "url" and not is_http_url(value.strip()):
            errors[name] = (
                f"{fdef['label']} must be an http(s) URL with a host, e.g. https://host/v1."
            )
        elif fdef["kind"] == "url" and (
            reason := egress.url_refusal(value.strip(), private=private)
        ):
            errors[name] = f"{fdef['label']} cannot be reached under the network policy: {reason}"
        elif name == "region" and (len(value) > 40 or not _AWS_REGION_RE.match(value.strip())):
            errors[name] = f"'{value[:40]}' is not an AWS region name such as us-east-1."

    if spec.id == "aws_bedrock":
        has_pair = _present(credentials, "aws_access_key_id") or _present(
            credentials, "aws_secret_access_key"
        )
        if not _present(credentials, "api_key") and not has_pair:
            errors.setdefault(
                "api_key",
                "Provide a Bedrock bearer token, or an AWS access key ID and secret access key.",
            )
        elif has_pair:
            for key, other in (
                ("aws_access_key_id", "AWS Secret Access Key"),
                ("aws_secret_access_key", "AWS Access Key ID"),
            ):
                if not _present(credentials, key):
                    label = fields[key]["label"]
                    errors.setdefault(key, f"{label} is required together with the {other}.")
        if _present(credentials, "aws_session_token") and not has_pair:
            errors.setdefault(
                "aws_session_token", "A session token needs an access key ID and secret key."
            )
    return errors


# --- call targets -------------------------------------------------------------------------------


def _strip_suffix(url: str, suffix: str) -> str:
    url = url.rstrip("/")
    return url[: -len(suffix)] if url.endswith(suffix) else url


def ollama_root(base_url: str | None) -> str:
    """Ollama's server root; people often paste the OpenAI-compatible …/v1 URL instead."""
    return _strip_suffix(base_url or OLLAMA_DEFAULT_BASE_URL, "/v1")


def litellm_model_string(spec: ProviderSpec, model_id: str) -> str:
    prefix = spec.litellm_prefix
    # Never doubled: a model entered as "groq/llama-3.1-8b-instant" is already litellm-shaped.
    return model_id if model_id.startswith(prefix) else prefix + model_id


def build_target(provider_type: str, credentials: dict, model_id: str) -> CallTarget:
    """How to call ``model_id`` of an account of ``provider_type`` with these credentials."""
    if not provider_type:
        raise GatewayError(ErrorType.BAD_REQUEST, "Provider type is missing.")
    if not model_id or not model_id.strip():
        raise GatewayError(ErrorType.BAD_REQUEST, "Model id is missing.")
    # A type litellm dropped in an upgrade still gets the generic "<type>/<model>" treatment.
    spec = get_spec(provider_type) or _untested_spec(provider_type)
    creds = credentials if isinstance(credentials, dict) else {}
    api_key = _text(creds, "api_key")
    base_url = _text(creds, "base_url")
    base_url = base_url.rstrip("/") if base_url else None
    kwargs: dict = {}
    headers: dict = {}

    if spec.id == "aws_bedrock":
        kwargs["aws_region_name"] = _text(creds, "region") or BEDROCK_DEFAULT_REGION
        key_id = _text(creds, "aws_access_key_id")
        secret = _text(creds, "aws_secret_access_key")
        # A bearer token wins when both styles are stored, as it does inside litellm.
        if api_key:
            kwargs["api_key"] = api_key
        elif key_id and secret:
            kwargs["aws_access_key_id"] = key_id
            kwargs["aws_secret_access_key"] = secret
            if token := _text(creds, "aws_session_token"):
                kwargs["aws_session_token"] = token
        if base_url:
            kwargs["api_base"] = base_url
    elif spec.id == "google_vertex":
        if project := _text(creds, "vertex_project"):
            kwargs["vertex_project"] = project
        kwargs["vertex_location"] = _text(creds, "vertex_location") or VERTEX_DEFAULT_LOCATION
        account = parse_service_account(creds.get("vertex_credentials"))
        if account is not None:
            kwargs["vertex_credentials"] = json.dumps(account)
        if base_url:
            kwargs["api_base"] = base_url
    else:
        if api_key:
            kwargs["api_key"] = api_key
        if base_url:
            # litellm's ollama_chat route appends /api/chat to the server root.
            kwargs["api_base"] = ollama_root(base_url) if spec.id == "ollama" else base_url
            if not api_key:
                kwargs["api_key"] = DUMMY_API_KEY

    if spec.id == "azure_openai":
        kwargs["api_version"] = _text(creds, "api_version") or AZURE_DEFAULT_API_VERSION
    if spec.id == "openai":
        if org := _text(creds, "organization_id"):
            kwargs["organization"] = org
            headers["OpenAI-Organization"] = org
        if project := _text(creds, "project_id"):
            kwargs["extra_headers"] = {"OpenAI-Project": project}
            headers["OpenAI-Project"] = project

    target_base: str | None = None
    target_key: str | None = None
    query: dict = {}
    if spec.id == "azure_openai":
        if not base_url:
            raise GatewayError(ErrorType.BAD_REQUEST, f"{spec.label} needs an endpoint.")
        # Deployment names are letters, digits, "-", "_" and "."; anything else is escaped.
        deployment = quote(model_id.strip(), safe="/=,:")
        target_base = f"{_strip_suffix(base_url, '/openai')}/openai/deployments/{deployment}"
        query = {"api-version": kwargs["api_version"]}
        if api_key:
            headers["api-key"] = api_key
    elif spec.route == "openai":
        if spec.id == "ollama":
            target_base = ollama_root(base_url) + "/v1"
        else:
            target_base = base_url or spec.default_base_url
        if not target_base:
            raise GatewayError(ErrorType.BAD_REQUEST, f"{spec.label} needs a base URL.")
        target_key = api_key or DUMMY_API_KEY

    return CallTarget(
        provider_type=spec.id,
        # The provider's own id: never the litellm prefix (OpenRouter's "openai/gpt-4o" or a
        # vLLM "openai/gpt-oss-20b" are real ids, so nothing is stripped either).
        model_id=model_id,
        route=spec.route,
        litellm_model=litellm_model_string(spec, model_id),
        base_url=target_base,
        api_key=target_key,
        headers=headers,
        litellm_kwargs=kwargs,
        query=query,
    )
