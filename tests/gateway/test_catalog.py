"""The provider catalog: specs, credential validation and call targets."""

import json
import logging
import subprocess
import sys

import pytest

from arguslm.llm import catalog
from arguslm.llm.catalog import build_target, validate_credentials
from arguslm.llm.types import ErrorType, GatewayError

OPENAI_ROUTE = {
    "openai",
    "azure_openai",
    "groq",
    "together_ai",
    "openrouter",
    "mistral",
    "deepseek",
    "xai",
    "fireworks_ai",
    "lm_studio",
    "ollama",
    "custom_openai_compatible",
}
LITELLM_ROUTE = {"anthropic", "google_ai_studio", "google_vertex", "aws_bedrock"}
SERVICE_ACCOUNT = {"type": "service_account", "project_id": "p1", "private_key": "-----BEGIN..."}


def test_the_catalog_has_sixteen_tested_types_and_more_than_sixty_in_total():
    specs = catalog.all_specs()
    assert catalog.TESTED_COUNT == 16
    assert sum(s.tested for s in specs.values()) == 16
    assert {s.id for s in specs.values() if s.tested} == OPENAI_ROUTE | LITELLM_ROUTE
    assert len(specs) > 60


def test_tested_types_come_first_then_each_group_is_sorted_by_label():
    specs = list(catalog.all_specs().values())
    assert all(s.tested for s in specs[:16]) and not any(s.tested for s in specs[16:])
    for group in (specs[:16], specs[16:]):
        labels = [s.label.casefold() for s in group]
        assert labels == sorted(labels)


def test_untested_labels_follow_the_original_rule():
    assert catalog.untested_label("nvidia_nim") == "Nvidia Nim"
    assert catalog.untested_label("ai21") == "AI21"
    assert catalog.untested_label("text-completion-openai") == "Text-Completion-OpenAI"
    assert catalog.untested_label("vertex_ai_beta") == "Vertex AI Beta"
    assert catalog.get_spec("nvidia_nim").label == "Nvidia Nim"


def test_tested_labels_are_the_originals():
    assert catalog.get_spec("xai").label == "xAI (Grok)"
    assert catalog.get_spec("mistral").label == "Mistral AI"
    assert catalog.get_spec("custom_openai_compatible").label == "Custom OpenAI Compatible"


def test_an_untested_type_takes_a_key_and_an_optional_base_url_through_litellm():
    spec = catalog.get_spec("cerebras")
    assert not spec.tested and spec.requires_api_key
    assert spec.route == "litellm" and spec.discovery is None
    assert [(f["name"], f["required"]) for f in spec.fields] == [
        ("api_key", True),
        ("base_url", False),
    ]


def test_the_provider_list_is_read_without_importing_litellm():
    code = (
        "import sys; from arguslm.llm import catalog, discovery; "
        "n = len(catalog.all_specs()); print(n, 'litellm' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[0]) > 60
    assert out[1] == "False"


def test_an_unreadable_constants_file_leaves_only_the_tested_types(monkeypatch, tmp_path, caplog):
    broken = tmp_path / "constants.py"
    broken.write_text("LITELLM_CHAT_PROVIDERS = [\n")
    monkeypatch.setattr(catalog, "_litellm_constants_path", lambda: broken)
    catalog.litellm_chat_providers.cache_clear()
    catalog._catalog.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="arguslm.llm.catalog"):
            assert catalog.litellm_chat_providers() == ()
            assert len(catalog.all_specs()) == 16
        assert "Cannot read litellm's chat provider list" in caplog.text
    finally:
        monkeypatch.undo()
        catalog.litellm_chat_providers.cache_clear()
        catalog._catalog.cache_clear()


def test_the_api_dict_has_the_original_keys_plus_fields_route_and_discovery():
    data = catalog.get_spec("aws_bedrock").to_dict()
    assert set(data) == {
        "id",
        "label",
        "tested",
        "requires_api_key",
        "requires_base_url",
        "requires_region",
        "show_org_fields",
        "default_base_url",
        "api_key_label",
        "base_url_label",
        "region_options",
        "fields",
        "route",
        "discovery",
    }
    assert data["requires_region"] and not data["requires_api_key"]
    assert data["api_key_label"] == "Bearer Token (from AWS Bedrock Console)"
    assert json.loads(json.dumps(data)) == data  # plain JSON, no tuples
    for f in data["fields"]:
        assert set(f) == {"name", "label", "kind", "required", "help", "options"}
        assert f["kind"] in ("secret", "text", "url", "select", "textarea")


def test_bedrock_offers_32_regions_with_human_labels():
    regions = catalog.get_spec("aws_bedrock").to_dict()["region_options"]
    assert len(regions) == 32
    assert ["us-east-1", "US East (N. Virginia)"] in regions
    assert all(value != label for value, label in regions)


@pytest.mark.parametrize(
    ("provider_type", "names"),
    [
        ("openai", ["api_key", "base_url", "organization_id", "project_id"]),
        ("azure_openai", ["api_key", "base_url", "api_version"]),
        (
            "aws_bedrock",
            [
                "region",
                "api_key",
                "aws_access_key_id",
                "aws_secret_access_key",
                "aws_session_token",
                "base_url",
            ],
        ),
        (
            "google_vertex",
            ["vertex_project", "vertex_location", "vertex_credentials", "base_url"],
        ),
        ("ollama", ["base_url", "api_key"]),
        ("anthropic", ["api_key", "base_url"]),
    ],
)
def test_each_type_lists_exactly_the_credential_keys_it_takes(provider_type, names):
    assert catalog.get_spec(provider_type).field_names() == names


def test_vertex_takes_a_service_account_instead_of_an_api_key():
    spec = catalog.get_spec("google_vertex")
    fields = {f["name"]: f for f in spec.fields}
    assert not spec.requires_api_key
    assert fields["vertex_credentials"]["kind"] == "textarea"
    assert fields["vertex_credentials"]["required"]


@pytest.mark.parametrize("provider_type", sorted(OPENAI_ROUTE))
def test_openai_wire_format_providers_are_streamed_directly(provider_type):
    assert catalog.get_spec(provider_type).route == "openai"


@pytest.mark.parametrize("provider_type", sorted(LITELLM_ROUTE))
def test_other_tested_providers_go_through_litellm(provider_type):
    assert catalog.get_spec(provider_type).route == "litellm"


# --- build_target -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider_type", "model_id", "expected"),
    [
        ("openai", "gpt-4o-mini", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5", "anthropic/claude-haiku-4-5"),
        ("google_ai_studio", "gemini-2.5-flash", "gemini/gemini-2.5-flash"),
        ("google_vertex", "gemini-2.5-flash", "vertex_ai/gemini-2.5-flash"),
        ("aws_bedrock", "amazon.nova-micro-v1:0", "bedrock/amazon.nova-micro-v1:0"),
        ("azure_openai", "my-deployment", "azure/my-deployment"),
        ("ollama", "llama3:8b", "ollama_chat/llama3:8b"),
        ("lm_studio", "qwen2.5-7b", "lm_studio/qwen2.5-7b"),
        ("custom_openai_compatible", "my-model", "openai/my-model"),
        ("groq", "llama-3.1-8b-instant", "groq/llama-3.1-8b-instant"),
        ("nvidia_nim", "meta/llama3-8b", "nvidia_nim/meta/llama3-8b"),
    ],
)
def test_the_litellm_model_string_gets_the_types_prefix(provider_type, model_id, expected):
    creds = {"api_key": "k", "base_url": "http://h:1/v1"}
    if provider_type == "google_vertex":
        creds = {"vertex_project": "p"}
    elif provider_type == "aws_bedrock":
        creds = {"region": "us-east-1", "api_key": "k"}
    assert build_target(provider_type, creds, model_id).litellm_model == expected


@pytest.mark.parametrize(
    ("provider_type", "model_id"),
    [
        ("anthropic", "anthropic/claude-haiku-4-5"),
        ("ollama", "ollama_chat/llama3:8b"),
        ("groq", "groq/llama-3.1-8b-instant"),
        ("custom_openai_compatible", "openai/my-model"),
    ],
)
def test_the_prefix_is_never_doubled(provider_type, model_id):
    creds = {"api_key": "k", "base_url": "http://h:1"}
    target = build_target(provider_type, creds, model_id)
    assert target.litellm_model == model_id


def test_the_direct_route_keeps_the_providers_own_model_id():
    target = build_target("openrouter", {"api_key": "k"}, "openai/gpt-4o")
    assert target.model_id == "openai/gpt-4o"
    assert target.litellm_model == "openrouter/openai/gpt-4o"


@pytest.mark.parametrize("provider_type", ["ollama", "lm_studio", "custom_openai_compatible"])
def test_a_local_server_without_a_key_gets_the_dummy_key(provider_type):
    target = build_target(provider_type, {"base_url": "http://localhost:9999/v1"}, "m")
    assert target.api_key == "not-needed"
    assert target.litellm_kwargs["api_key"] == "not-needed"


def test_a_local_server_with_a_key_uses_it():
    target = build_target("lm_studio", {"base_url": "http://h:1/v1", "api_key": " sk-1 "}, "m")
    assert target.api_key == "sk-1"
    assert target.litellm_kwargs == {"api_key": "sk-1", "api_base": "http://h:1/v1"}


def test_cloud_default_base_urls_are_never_forced_on_litellm():
    target = build_target("anthropic", {"api_key": "sk-ant"}, "claude-haiku-4-5")
    assert target.litellm_kwargs == {"api_key": "sk-ant"}
    assert target.base_url is None and target.route == "litellm"


@pytest.mark.parametrize(
    ("provider_type", "base"),
    [
        ("openai", "https://api.openai.com/v1"),
        ("groq", "https://api.groq.com/openai/v1"),
        ("together_ai", "https://api.together.xyz/v1"),
        ("openrouter", "https://openrouter.ai/api/v1"),
        ("mistral", "https://api.mistral.ai/v1"),
        ("deepseek", "https://api.deepseek.com/v1"),
        ("xai", "https://api.x.ai/v1"),
        ("fireworks_ai", "https://api.fireworks.ai/inference/v1"),
    ],
)
def test_the_direct_route_uses_the_providers_real_api_base(provider_type, base):
    target = build_target(provider_type, {"api_key": "k"}, "m")
    assert (target.route, target.base_url, target.api_key, target.model_id) == (
        "openai",
        base,
        "k",
        "m",
    )
    assert "api_base" not in target.litellm_kwargs


def test_a_custom_base_url_overrides_the_default_for_the_direct_route():
    target = build_target("groq", {"api_key": "k", "base_url": "https://proxy.example/v1/"}, "m")
    assert target.base_url == "https://proxy.example/v1"
    assert target.litellm_kwargs["api_base"] == "https://proxy.example/v1"


@pytest.mark.parametrize("base", ["http://gpu:11434", "http://gpu:11434/", "http://gpu:11434/v1"])
def test_ollama_is_streamed_through_its_openai_compatible_v1_endpoint(base):
    target = build_target("ollama", {"base_url": base}, "llama3:8b")
    assert target.base_url == "http://gpu:11434/v1"
    assert target.model_id == "llama3:8b"
    # litellm's ollama_chat route wants the server root.
    assert target.litellm_kwargs == {"api_base": "http://gpu:11434", "api_key": "not-needed"}


def test_azure_passes_the_api_version_defaulting_to_2024_10_21():
    creds = {"api_key": "az", "base_url": "https://r.openai.azure.com"}
    target = build_target("azure_openai", creds, "prod-gpt4o")
    assert target.litellm_kwargs == {
        "api_key": "az",
        "api_base": "https://r.openai.azure.com",
        "api_version": "2024-10-21",
    }
    custom = build_target("azure_openai", {**creds, "api_version": "2025-01-01-preview"}, "d")
    assert custom.litellm_kwargs["api_version"] == "2025-01-01-preview"
    assert custom.query == {"api-version": "2025-01-01-preview"}


def test_azure_is_streamed_directly_at_the_deployment_with_an_api_key_header():
    creds = {"api_key": "az-key", "base_url": "https://r.openai.azure.com/openai/"}
    target = build_target("azure_openai", creds, "prod-o4-mini")
    assert target.route == "openai"
    assert target.base_url == "https://r.openai.azure.com/openai/deployments/prod-o4-mini"
    assert target.query == {"api-version": "2024-10-21"}
    assert target.headers == {"api-key": "az-key"} and target.api_key is None


def test_bedrock_with_a_bearer_token_passes_it_as_the_api_key():
    target = build_target("aws_bedrock", {"region": "eu-west-1", "api_key": "ABSK-1"}, "m")
    assert target.litellm_kwargs == {"aws_region_name": "eu-west-1", "api_key": "ABSK-1"}


def test_bedrock_with_an_access_key_pair_passes_the_keys_and_session_token():
    creds = {
        "region": "us-west-2",
        "aws_access_key_id": "AKIA1",
        "aws_secret_access_key": "s3cr3t",
        "aws_session_token": "tok",
    }
    assert build_target("aws_bedrock", creds, "m").litellm_kwargs == {
        "aws_region_name": "us-west-2",
        "aws_access_key_id": "AKIA1",
        "aws_secret_access_key": "s3cr3t",
        "aws_session_token": "tok",
    }
    creds.pop("aws_session_token")
    assert "aws_session_token" not in build_target("aws_bedrock", creds, "m").litellm_kwargs


@pytest.mark.parametrize("stored", [SERVICE_ACCOUNT, json.dumps(SERVICE_ACCOUNT)])
def test_vertex_passes_project_location_and_service_account(stored):
    creds = {"vertex_project": "p1", "vertex_credentials": stored}
    kwargs = build_target("google_vertex", creds, "gemini-2.5-flash").litellm_kwargs
    assert kwargs["vertex_project"] == "p1"
    assert kwargs["vertex_location"] == "us-central1"
    assert json.loads(kwargs["vertex_credentials"]) == SERVICE_ACCOUNT
    assert "api_key" not in kwargs


def test_openai_organization_and_project_become_headers():
    creds = {"api_key": "sk", "organization_id": "org-1", "project_id": "proj_1"}
    target = build_target("openai", creds, "gpt-4o-mini")
    assert target.headers == {"OpenAI-Organization": "org-1", "OpenAI-Project": "proj_1"}
    assert target.litellm_kwargs == {
        "api_key": "sk",
        "organization": "org-1",
        "extra_headers": {"OpenAI-Project": "proj_1"},
    }


def test_none_and_blank_values_are_never_passed_on():
    creds = {"api_key": "sk", "base_url": "", "organization_id": None, "project_id": "  "}
    target = build_target("openai", creds, "gpt-4o-mini")
    assert target.litellm_kwargs == {"api_key": "sk"}
    assert target.headers == {}


def test_a_custom_endpoint_without_a_base_url_cannot_be_called():
    with pytest.raises(GatewayError) as err:
        build_target("custom_openai_compatible", {}, "m")
    assert err.value.error_type == ErrorType.BAD_REQUEST


def test_connection_test_models_exist_where_no_listing_is_the_check():
    assert catalog.connection_test_model("openai") == "gpt-4o-mini"
    assert catalog.connection_test_model("groq") == "llama-3.1-8b-instant"
    assert catalog.connection_test_model("aws_bedrock") == "anthropic.claude-3-haiku-20240307-v1:0"
    for listing_is_the_check in ("ollama", "lm_studio", "custom_openai_compatible", "cerebras"):
        assert catalog.connection_test_model(listing_is_the_check) is None
    assert catalog.connection_test_model("no-such-type") is None


# --- validate_credentials -----------------------------------------------------------------------


def test_valid_credentials_produce_no_errors():
    assert validate_credentials("openai", {"api_key": "sk", "organization_id": "org"}) == {}
    assert validate_credentials("ollama", {"base_url": "http://localhost:11434"}) == {}
    assert validate_credentials("cerebras", {"api_key": "k"}) == {}
    vertex = {"vertex_project": "p", "vertex_credentials": json.dumps(SERVICE_ACCOUNT)}
    assert validate_credentials("google_vertex", vertex) == {}


def test_an_unknown_provider_type_is_rejected():
    assert validate_credentials("nope", {}) == {"provider_type": "Unknown provider type 'nope'."}


def test_a_missing_api_key_is_reported():
    assert validate_credentials("anthropic", {"api_key": "  "}) == {
        "api_key": "API Key is required."
    }


def test_a_missing_required_base_url_is_reported():
    errors = validate_credentials("azure_openai", {"api_key": "k"})
    assert errors == {"base_url": "Endpoint is required."}


@pytest.mark.parametrize("bad", ["localhost:11434", "ftp://host/", "http://", "http://h:port"])
def test_a_base_url_must_be_an_http_url_with_a_host(bad):
    errors = validate_credentials("ollama", {"base_url": bad})
    assert "must be an http(s) URL with a host" in errors["base_url"]


def test_unknown_credential_keys_are_rejected_by_name():
    errors = validate_credentials("anthropic", {"api_key": "k", "region": "x", "token": "y"})
    assert set(errors) == {"region", "token"}
    assert "Unknown credential field 'region' for Anthropic" in errors["region"]
    assert "accepted: api_key, base_url" in errors["token"]


def test_bedrock_needs_a_bearer_token_or_a_key_pair():
    errors = validate_credentials("aws_bedrock", {"region": "us-east-1"})
    assert errors == {
        "api_key": "Provide a Bedrock bearer token, or an AWS access key ID and secret access key."
    }
    assert validate_credentials("aws_bedrock", {"region": "us-east-1", "api_key": "t"}) == {}
    pair = {"region": "us-east-1", "aws_access_key_id": "A", "aws_secret_access_key": "S"}
    assert validate_credentials("aws_bedrock", pair) == {}


def test_bedrock_rejects_half_a_key_pair_and_a_missing_region():
    errors = validate_credentials("aws_bedrock", {"aws_access_key_id": "AKIA"})
    assert errors["region"] == "Region is required."
    assert "required together with" in errors["aws_secret_access_key"]


def test_bedrock_rejects_a_malformed_region():
    errors = validate_credentials("aws_bedrock", {"region": "Frankfurt", "api_key": "t"})
    assert "not an AWS region name" in errors["region"]


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '"a string"', 42])
def test_vertex_credentials_must_be_a_json_object(bad):
    errors = validate_credentials(
        "google_vertex", {"vertex_project": "p", "vertex_credentials": bad}
    )
    assert errors == {
        "vertex_credentials": "Service Account JSON must be a JSON object (the key file)."
    }


def test_vertex_requires_a_project_and_a_service_account():
    errors = validate_credentials("google_vertex", {"vertex_credentials": {}})
    assert errors == {
        "vertex_project": "Project ID is required.",
        "vertex_credentials": "Service Account JSON is required.",
    }


def test_a_non_string_value_is_rejected():
    assert validate_credentials("groq", {"api_key": 123}) == {
        "api_key": "API Key must be a string."
    }
