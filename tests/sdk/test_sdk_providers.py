"""The published ``arguslm`` 0.2.0 SDK drives a live server and parses every response."""

import json

import pytest

pytestmark = pytest.mark.live


def test_the_sdk_manages_providers_and_models_end_to_end(live, llmsim):
    script = f"""
import json
from arguslm import ArgusLMClient
from arguslm.schemas import ProviderCreate, ProviderUpdate, ModelCreate, ModelUpdate

out = {{}}
with ArgusLMClient() as c:
    before = c.list_providers().total
    catalog = c.get_provider_catalog()
    out["catalog"] = [catalog.total, catalog.tested_count]
    creds = {{"base_url": "{llmsim}/v1", "api_key": "sk-sdk-secret"}}
    body = ProviderCreate(provider_type="custom_openai_compatible", display_name="Sim",
                          credentials=creds)
    out["test_new"] = c.test_provider_connection(body).success
    p = c.create_provider(body)
    out["base_url"] = p.base_url
    out["list"] = c.list_providers().total - before
    out["get"] = c.get_provider(p.id).display_name
    out["renamed"] = c.update_provider(p.id, ProviderUpdate(display_name="Sim 2")).display_name
    out["test"] = c.test_existing_provider(p.id).success
    r = c.refresh_provider_models(p.id)
    out["refresh"] = [r.success, r.models_discovered]
    models = c.list_models(provider_id=p.id, limit=100)
    out["models"] = [models.total, models.has_more, sorted(m.model_id for m in models.items)[:2]]
    new = ModelCreate(provider_account_id=p.id, model_id="llama3:8b", custom_name="L3")
    m = c.create_model(new)
    out["manual"] = [m.model_id, m.source, m.provider_name]
    out["got"] = c.get_model(m.id).custom_name
    u = c.update_model(m.id, ModelUpdate(enabled_for_monitoring=True))
    out["updated"] = [u.enabled_for_monitoring, u.provider_name]
    c.delete_provider(p.id)
    out["after_delete"] = c.list_providers().total - before
print(json.dumps(out))
"""
    out = json.loads(live.sdk(script).strip().splitlines()[-1])
    assert out["catalog"][1] == 16 and out["catalog"][0] > 60
    assert out["test_new"] is True and out["test"] is True
    assert out["base_url"] == f"{llmsim}/v1"
    assert out["list"] == 1 and out["get"] == "Sim" and out["renamed"] == "Sim 2"
    assert out["refresh"] == [True, 7]
    assert out["models"][0] == 7 and out["models"][1] is False
    assert out["manual"] == ["llama3:8b", "manual", "Sim 2"]
    assert out["got"] == "L3"
    assert out["updated"] == [True, "Sim 2"]
    assert out["after_delete"] == 0


def test_the_sdk_without_a_token_gets_an_authentication_error(live):
    script = """
from arguslm import ArgusLMClient, AuthenticationError
import os
url = os.environ["ARGUSLM_BASE_URL"].split("@")[1]
try:
    with ArgusLMClient(base_url="http://" + url) as c:
        c.list_providers()
except AuthenticationError as exc:
    print("401", exc)
"""
    assert live.sdk(script).startswith("401")
