"""Models across providers: identities from model ids, ranked providers over real passes,
and the LiteLLM router config."""

import pytest
import yaml

from monitoring import services
from monitoring.models import MonitoringConfig, MonitoringRun
from providers.identity import suggest
from tests.factories import SECRET, make_account, make_model


@pytest.mark.parametrize(
    ("model_id", "identity"),
    [
        ("llama-3.1-8b-instant", "llama-3.1-8b"),  # Groq
        ("meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", "llama-3.1-8b"),  # Together
        ("accounts/fireworks/models/llama-v3p1-8b-instruct", "llama-3.1-8b"),  # Fireworks
        ("meta-llama/llama-3.1-8b-instruct", "llama-3.1-8b"),  # OpenRouter
        ("llama3.1:8b", "llama-3.1-8b"),  # Ollama
        ("mixtral-8x7b-32768", "mixtral-8x7b"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b"),
        ("Qwen/Qwen2.5-72B-Instruct", "qwen-2.5-72b"),
        ("qwen2.5:72b", "qwen-2.5-72b"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("x" * 10_000, "x" * 100),  # capped
    ],
)
def test_a_model_id_suggests_its_identity(model_id, identity):
    assert suggest(model_id) == identity


def run_pass():
    run = MonitoringRun.objects.create()
    services.start_pass(run_id=run.id)


@pytest.mark.django_db
def test_providers_of_one_identity_are_ranked_by_measured_figures(llmsim, sync_tasks, api):
    config = MonitoringConfig.get()
    config.prompt_pack = "arithmetic"
    config.save()
    credentials = {"base_url": f"{llmsim}/v1", "api_key": SECRET}
    slow = make_model(
        make_account(display_name="Slow cloud", credentials=credentials),
        model_id="sim/ttft=120/itl=1/answer=four",
    )
    fast = make_model(
        make_account(display_name="Fast cloud", credentials=credentials),
        model_id="sim/ttft=5/itl=1/answer=four",
    )
    wrong = make_model(
        make_account(display_name="Quantised cloud", credentials=credentials),
        model_id="sim/ttft=5/itl=1/answer=five",
    )
    for model in (slow, fast, wrong):
        response = api.patch(
            f"/api/v1/models/{model.pk}", {"identity": "Llama-3.1-8B"}, format="json"
        )
        assert response.json()["identity"] == "llama-3.1-8b"
    for _ in range(3):
        run_pass()

    (group,) = api.get("/api/v1/identities").json()
    assert group["identity"] == "llama-3.1-8b"
    ranked = group["members"]
    assert [m["account_name"] for m in ranked] == ["Fast cloud", "Slow cloud", "Quantised cloud"]
    assert ranked[0]["ttft_p50"] < ranked[1]["ttft_p50"]
    assert [m["availability"] for m in ranked] == [1.0, 1.0, 1.0]
    assert [m["answer_pass_rate"] for m in ranked] == [1.0, 1.0, 0.0]
    assert [m["agreement"] for m in ranked] == [1.0, 1.0, 0.0]

    response = api.get("/api/v1/identities/llama-3.1-8b/litellm-config")
    assert response["Content-Type"].startswith("application/yaml")
    text = response.content.decode()
    assert SECRET not in text and llmsim not in text
    config = yaml.safe_load(text)
    names = [d["model_name"] for d in config["model_list"]]
    assert names == [
        "llama-3.1-8b@fast-cloud",
        "llama-3.1-8b@slow-cloud",
        "llama-3.1-8b@quantised-cloud",
    ]
    assert config["model_list"][0]["litellm_params"] == {
        "model": "openai/sim/ttft=5/itl=1/answer=four",  # litellm's OpenAI prefix
        "api_key": "os.environ/FAST_CLOUD_API_KEY",
        "api_base": "os.environ/FAST_CLOUD_API_BASE",
    }
    assert config["router_settings"]["fallbacks"] == [{names[0]: names[1:]}]
    assert api.get("/api/v1/identities/gpt-9").status_code == 404


@pytest.mark.django_db
def test_an_identity_is_set_from_the_model_page_and_refused_when_malformed(logged_in, api):
    model = make_model(model_id="llama3.1:8b")
    assert api.get(f"/api/v1/models/{model.pk}").json()["identity_source"] == "suggested"
    bad = api.patch(f"/api/v1/models/{model.pk}", {"identity": "llama 3/8b"}, format="json")
    assert bad.status_code == 422
    logged_in.post(f"/monitoring/models/{model.pk}/identity", {"identity": "my-llama"})
    model.refresh_from_db()
    assert model.identity_name == "my-llama"
    page = logged_in.get(f"/monitoring/models/{model.pk}").content.decode()
    assert "set by people" in page
    logged_in.post(f"/monitoring/models/{model.pk}/identity", {"identity": ""})
    model.refresh_from_db()
    assert model.identity_name == "llama-3.1-8b"
    assert logged_in.get("/across").status_code == 200
