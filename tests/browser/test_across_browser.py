"""Models across providers in a real browser: three providers of one model, ranked."""

import pytest
from playwright.sync_api import expect

from monitoring.models import MonitoringConfig
from providers.services import update_model
from tests.browser.helpers import log_in, run_pass, shoot_both_themes
from tests.factories import SECRET, make_account, make_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_providers_of_one_model_are_ranked_and_exported(
    live_server, page, shot, llmsim, sync_tasks
):
    config = MonitoringConfig.get()
    config.prompt_pack = "arithmetic"
    config.save()
    credentials = {"base_url": f"{llmsim}/v1", "api_key": SECRET}
    for account, model_id in (
        ("Groq", "sim/ttft=40/itl=2/answer=four"),
        ("Together", "sim/ttft=90/itl=3/answer=four"),
        ("Local Ollama", "sim/ttft=15/itl=8/answer=five"),
    ):
        model = make_model(
            make_account(display_name=account, credentials=credentials), model_id=model_id
        )
        update_model(model=model, identity="llama-3.1-8b")
    for _ in range(3):
        run_pass()

    log_in(page, live_server.url, role="viewer")
    page.goto(f"{live_server.url}/across")
    members = page.get_by_test_id("identity-member")
    expect(members).to_have_count(3)
    expect(members.first).to_contain_text("Groq")
    expect(members.last).to_contain_text("Local Ollama")
    shoot_both_themes(page, shot, "across")
    with page.expect_download() as download:
        page.get_by_role("link", name="LiteLLM router config").click()
    assert download.value.suggested_filename == "llama-3.1-8b-litellm.yaml"
    assert page.errors == []
