"""Model discovery over real HTTP: the LLM simulator, plus a tiny canned server for odd replies."""

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from arguslm.llm import discovery
from arguslm.llm.discovery import discover
from arguslm.llm.types import ErrorType, GatewayError

SIM_MODELS = {
    "fast-small",
    "balanced-medium",
    "slow-large",
    "reasoner",
    "flaky",
    "rate-limited",
    "down",
}


@pytest.fixture(scope="module")
def sim():
    """The project's LLM simulator for this module; its root URL without a trailing /v1."""
    from arguslm.llmsim.server import start_in_thread

    url, stop = start_in_thread(host="127.0.0.1", port=0, seed=0)
    root = url.rstrip("/")
    yield root.removesuffix("/v1")
    stop()


class _Canned(BaseHTTPRequestHandler):
    """Answers each path with whatever the test put in ``server.routes``."""

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        self.server.requests.append((self.path, dict(self.headers)))
        status, body, content_type, extra = self.server.routes.get(
            path, (404, {"error": {"message": "no route"}}, "application/json", {})
        )
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def canned_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.routes, server.requests = {}, []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def canned(canned_server):
    """Set ``routes[path] = (status, body, content_type, headers)``; read ``requests``."""
    canned_server.routes.clear()
    canned_server.requests.clear()
    canned_server.base = f"http://127.0.0.1:{canned_server.server_port}"
    return canned_server


def route(status, body, content_type="application/json", headers=None):
    return (status, body, content_type, headers or {})


def run_discover(provider_type, credentials, **kw):
    return asyncio.run(discover(provider_type, credentials, **kw))


def discover_error(provider_type, credentials, **kw) -> GatewayError:
    with pytest.raises(GatewayError) as err:
        run_discover(provider_type, credentials, **kw)
    return err.value


# --- against the simulator ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "provider_type", ["openai", "custom_openai_compatible", "groq", "lm_studio"]
)
def test_openai_compatible_listings_return_the_simulators_models(sim, provider_type):
    models = run_discover(provider_type, {"api_key": "sk-test", "base_url": f"{sim}/v1"})
    assert {m.model_id for m in models} == SIM_MODELS
    assert all(m.metadata.get("owned_by") is not None for m in models)


def test_togethers_bare_json_array_is_understood(sim):
    models = run_discover("together_ai", {"api_key": "k", "base_url": f"{sim}/together/v1"})
    assert {m.model_id for m in models} >= {"fast-small", "reasoner"}


def test_ollama_tags_become_models_with_their_details(sim):
    models = run_discover("ollama", {"base_url": sim})
    ids = {m.model_id for m in models}
    assert "fast-small:latest" in ids
    assert all(":" in i for i in ids)
    assert all("digest" in m.metadata or "size" in m.metadata for m in models)


def test_ollama_accepts_the_v1_url_people_paste(sim):
    assert run_discover("ollama", {"base_url": f"{sim}/v1"})


def test_anthropic_discovery_reads_every_page(sim, monkeypatch):
    monkeypatch.setattr(discovery, "ANTHROPIC_PAGE_LIMIT", 5)
    models = run_discover("anthropic", {"api_key": "sk-ant-test", "base_url": sim})
    assert len(models) == 32
    assert len({m.model_id for m in models}) == 32


def test_anthropic_discovery_with_the_default_page_size(sim):
    models = run_discover("anthropic", {"api_key": "sk-ant-test", "base_url": sim})
    assert len(models) == 32
    assert all(m.display_name for m in models)


def test_gemini_discovery_follows_page_tokens_and_keeps_only_generate_content_models(sim):
    models = run_discover("google_ai_studio", {"api_key": "AIza-test", "base_url": sim})
    assert len(models) == 5
    for m in models:
        assert not m.model_id.startswith("models/")
        assert "generateContent" in m.metadata["supportedGenerationMethods"]


def test_gemini_accepts_a_versioned_base_url_as_litellm_does(sim):
    models = run_discover("google_ai_studio", {"api_key": "AIza-test", "base_url": f"{sim}/v1beta"})
    assert len(models) == 5


@pytest.mark.parametrize(
    ("provider_type", "base", "path", "headers"),
    [
        ("openai", "/v1", "/v1/models", {"Authorization": "Bearer {key}"}),
        ("together_ai", "/together/v1", "/together/v1/models", {"Authorization": "Bearer {key}"}),
        (
            "anthropic",
            "",
            "/v1/models",
            {"x-api-key": "{key}", "anthropic-version": "2023-06-01"},
        ),
        ("google_ai_studio", "", "/v1beta/models", {"x-goog-api-key": "{key}"}),
        ("ollama", "", "/api/tags", {"Authorization": "Bearer {key}"}),
    ],
)
def test_a_rejected_key_is_an_auth_error_with_the_providers_message_and_without_the_key(
    sim, provider_type, base, path, headers
):
    key = "invalid-key-0123456789"
    raw = httpx.get(sim + path, headers={k: v.format(key=key) for k, v in headers.items()})
    assert raw.status_code == 401
    error_body = raw.json()["error"]  # Ollama's is a bare string
    provider_message = error_body["message"] if isinstance(error_body, dict) else error_body

    error = discover_error(provider_type, {"api_key": key, "base_url": sim + base})
    assert error.error_type == ErrorType.AUTH
    assert error.status == 401
    assert provider_message.replace(key, "***") in error.message
    assert key not in error.message


# --- transport failures ------------------------------------------------------------------------


def test_a_refused_connection_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = discover_error("ollama", {"base_url": f"http://127.0.0.1:{port}"})
    assert error.error_type == ErrorType.CONNECTION
    assert error.message.startswith(f"Cannot connect to http://127.0.0.1:{port}/api/tags")


def test_a_server_that_never_answers_is_a_timeout():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # the kernel completes the handshake; nobody ever replies
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        error = discover_error("custom_openai_compatible", {"base_url": base}, timeout=0.3)
    assert error.error_type == ErrorType.TIMEOUT
    assert "Timed out after 0.3 s" in error.message


def test_credentials_in_the_base_url_never_reach_the_message():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = discover_error(
        "custom_openai_compatible", {"base_url": f"http://user:hunter2@127.0.0.1:{port}/v1?k=s"}
    )
    assert "hunter2" not in error.message and "k=s" not in error.message


# --- unsupported and static --------------------------------------------------------------------


@pytest.mark.parametrize("provider_type", ["cerebras", "no-such-type"])
def test_types_without_discovery_are_a_bad_request(provider_type):
    error = discover_error(provider_type, {"api_key": "k"})
    assert error.error_type == ErrorType.BAD_REQUEST
    assert error.message == (
        f"Model discovery is not supported for provider type {provider_type}; add models manually."
    )


def test_vertex_gets_the_curated_list_without_any_request():
    models = run_discover("google_vertex", {"vertex_project": "p"})
    assert "gemini-2.5-flash" in {m.model_id for m in models}
    assert all(m.metadata == {"curated": True} for m in models)


def test_a_missing_key_is_an_auth_error_before_any_request():
    error = discover_error("anthropic", {})
    assert error.error_type == ErrorType.AUTH


# --- odd replies (canned server) ---------------------------------------------------------------


def test_an_empty_listing_is_a_success(canned):
    canned.routes["/v1/models"] = route(200, {"object": "list", "data": []})
    assert run_discover("openai", {"api_key": "sk", "base_url": f"{canned.base}/v1"}) == []


def test_non_chat_models_are_left_out(canned):
    ids = ["gpt-4o", "text-embedding-3-small", "whisper-1", "tts-1", "dall-e-3", "gpt-image-1"]
    canned.routes["/v1/models"] = route(200, {"data": [{"id": i} for i in ids]})
    models = run_discover("openai", {"api_key": "sk", "base_url": f"{canned.base}/v1"})
    assert [m.model_id for m in models] == ["gpt-4o"]


def test_ids_too_long_to_store_are_left_out(canned):
    ids = ["gpt-4o", "x" * 256, "y" * 255]
    canned.routes["/v1/models"] = route(200, {"data": [{"id": i} for i in ids]})
    models = run_discover("openai", {"api_key": "sk", "base_url": f"{canned.base}/v1"})
    assert [m.model_id for m in models] == ["gpt-4o", "y" * 255]


def test_an_html_page_is_an_unknown_error_naming_the_problem(canned):
    canned.routes["/v1/models"] = route(200, b"<html>login</html>", "text/html")
    error = discover_error("openai", {"api_key": "sk", "base_url": f"{canned.base}/v1"})
    assert error.error_type == ErrorType.UNKNOWN
    assert "did not return JSON" in error.message and "text/html" in error.message


def test_an_unexpected_json_shape_is_an_unknown_error(canned):
    canned.routes["/api/tags"] = route(200, {"tags": []})
    error = discover_error("ollama", {"base_url": canned.base})
    assert error.error_type == ErrorType.UNKNOWN
    assert "expected a JSON object with a 'models' list" in error.message


def test_an_ollama_error_body_is_surfaced_with_its_status(canned):
    canned.routes["/api/tags"] = route(500, {"error": "model store is corrupt"})
    error = discover_error("ollama", {"base_url": canned.base})
    assert error.error_type == ErrorType.SERVER_ERROR
    assert error.message == f"model store is corrupt (HTTP 500 from {canned.base}/api/tags)"


def test_a_non_json_error_gives_the_status_and_reason(canned):
    canned.routes["/v1/models"] = route(502, b"upstream down", "text/plain")
    error = discover_error("openai", {"api_key": "sk", "base_url": f"{canned.base}/v1"})
    assert error.error_type == ErrorType.SERVER_ERROR
    assert error.message == f"Bad Gateway (HTTP 502 from {canned.base}/v1/models)"


def test_a_rate_limit_is_classified(canned):
    canned.routes["/v1/models"] = route(429, {"error": {"message": "slow down"}})
    error = discover_error("groq", {"api_key": "gsk", "base_url": f"{canned.base}/v1"})
    assert error.error_type == ErrorType.RATE_LIMITED


def test_a_key_echoed_by_the_provider_is_masked(canned):
    key = "sk-live-abcdef123456"
    canned.routes["/v1/models"] = route(401, {"error": {"message": f"Bad key {key}"}})
    error = discover_error("openai", {"api_key": key, "base_url": f"{canned.base}/v1"})
    assert error.message.startswith("Bad key *** (HTTP 401")


def test_redirects_are_not_followed_with_the_key(canned):
    canned.routes["/v1/models"] = route(301, b"", "text/plain", {"Location": "http://elsewhere/v1"})
    error = discover_error("openai", {"api_key": "sk", "base_url": f"{canned.base}/v1"})
    assert "redirected to http://elsewhere/v1" in error.message
    assert len(canned.requests) == 1


def test_mistral_falls_back_to_the_curated_list_when_there_is_no_listing(canned):
    models = run_discover("mistral", {"api_key": "k", "base_url": f"{canned.base}/gateway"})
    assert "mistral-small-latest" in {m.model_id for m in models}


def test_mistral_models_without_chat_capability_are_left_out(canned):
    data = [
        {"id": "mistral-small-latest", "capabilities": {"completion_chat": True}},
        {"id": "mistral-ocr-latest", "capabilities": {"completion_chat": False}},
    ]
    canned.routes["/v1/models"] = route(200, {"data": data})
    models = run_discover("mistral", {"api_key": "k", "base_url": f"{canned.base}/v1"})
    assert [m.model_id for m in models] == ["mistral-small-latest"]


def test_azure_lists_deployments_by_name(canned):
    data = [
        {"id": "prod-4o", "model": "gpt-4o", "status": "succeeded", "object": "deployment"},
        {"id": "vectors", "model": "text-embedding-3-large", "status": "succeeded"},
    ]
    canned.routes["/openai/deployments"] = route(200, {"data": data, "object": "list"})
    creds = {"api_key": "az-key-123456", "base_url": canned.base, "api_version": "2024-10-21"}
    models = run_discover("azure_openai", creds)
    assert [(m.model_id, m.metadata["model"]) for m in models] == [("prod-4o", "gpt-4o")]
    path, headers = canned.requests[0]
    assert path == "/openai/deployments?api-version=2023-03-15-preview"
    assert headers["api-key"] == "az-key-123456"


BEDROCK_BODY = {
    "modelSummaries": [
        {
            "modelId": "amazon.nova-micro-v1:0",
            "modelName": "Nova Micro",
            "providerName": "Amazon",
            "outputModalities": ["TEXT"],
            "inferenceTypesSupported": ["ON_DEMAND"],
        },
        {"modelId": "amazon.titan-image-generator-v2:0", "outputModalities": ["IMAGE"]},
    ]
}


@pytest.fixture
def bedrock(canned, monkeypatch):
    canned.routes["/bedrock/us-west-2/foundation-models"] = route(200, BEDROCK_BODY)
    monkeypatch.setattr(discovery, "bedrock_endpoint", lambda r: f"{canned.base}/bedrock/{r}")
    return canned


def test_bedrock_lists_text_models_with_a_bearer_token(bedrock):
    models = run_discover("aws_bedrock", {"region": "us-west-2", "api_key": "ABSK-token"})
    assert [(m.model_id, m.display_name) for m in models] == [
        ("amazon.nova-micro-v1:0", "Nova Micro")
    ]
    assert models[0].metadata["owned_by"] == "amazon"
    path, headers = bedrock.requests[0]
    assert path.endswith("?byOutputModality=TEXT")
    assert headers["Authorization"] == "Bearer ABSK-token"


def test_bedrock_signs_with_the_stored_key_pair_only(bedrock, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENT")
    pytest.importorskip("botocore")
    creds = {"region": "us-west-2", "aws_access_key_id": "AKIASTORED", "aws_secret_access_key": "s"}
    assert len(run_discover("aws_bedrock", creds)) == 1
    authorization = bedrock.requests[0][1]["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIASTORED/")
    assert "/us-west-2/bedrock/aws4_request" in authorization


def test_bedrock_without_stored_credentials_is_an_auth_error():
    error = discover_error("aws_bedrock", {"region": "us-east-1"})
    assert error.error_type == ErrorType.AUTH
