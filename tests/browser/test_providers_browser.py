"""Add a provider in a real browser, then choose models to monitor (htmx and providers.js)."""

import pytest
from playwright.sync_api import expect

from providers.models import LLMModel, ProviderAccount
from tests.browser.helpers import log_in, shoot_both_themes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_adding_the_simulator_and_monitoring_two_models(page, live_server, llmsim, shot):
    base = live_server.url
    log_in(page, base)

    page.goto(f"{base}/providers")
    expect(page.get_by_role("heading", name="No provider accounts yet")).to_be_visible()
    # The search box (providers.js) picks the first matching type; htmx loads its fields.
    page.fill("[data-provider-search]", "custom openai")
    expect(page.locator("#provider-type")).to_have_value("custom_openai_compatible")
    base_url = page.locator("#add-fields input[name=cred_base_url]")
    expect(base_url).to_be_visible()
    expect(page.locator("[data-provider-search-status]")).to_contain_text("matching")

    # Bad input: the page explains next to the field and nothing is stored.
    base_url.fill("")
    page.get_by_role("button", name="Add provider", exact=True).click()
    expect(page.locator(".add-provider .field-error")).to_have_text("Base URL is required.")
    assert not ProviderAccount.objects.exists()
    shoot_both_themes(page, shot, "providers-bad-input")

    page.fill("input[name=display_name]", "Simulator")
    base_url.fill(f"{llmsim}/v1")
    page.fill("#add-fields input[name=cred_api_key]", "sk-test")
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#add-test-result [data-testid=test-result]")
    expect(result).to_contain_text("Success")
    expect(result).to_contain_text("model(s) available")
    shot(page, "providers-add-form")

    page.get_by_role("button", name="Add provider", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Added “Simulator”. Discovered")
    account = ProviderAccount.objects.get()
    assert account.credentials == {"base_url": f"{llmsim}/v1", "api_key": "sk-test"}
    assert account.models.filter(model_id="fast-small").exists()
    card = page.locator(f"#provider-{account.pk}")
    expect(card).to_contain_text("Custom OpenAI Compatible")
    expect(card).to_contain_text(f"0/{account.models.count()}")

    # The edit form never shows the stored key, only that one is set.
    card.locator("summary", has_text="Edit").click()
    key_input = card.locator("input[name=cred_api_key]")
    expect(key_input).to_have_value("")
    expect(key_input).to_have_attribute("placeholder", "set — leave empty to keep")
    assert "sk-test" not in page.content()
    # A bad edit is explained inside the re-rendered card and changes nothing.
    card.locator("input[name=cred_base_url]").fill("not a url")
    card.get_by_role("button", name="Save changes").click()
    expect(card.locator(".field-error")).to_contain_text("must be an http(s) URL")
    expect(card.locator("[data-testid=notice]")).to_contain_text("Not saved")
    shoot_both_themes(page, shot, "providers-edit-error")
    account.refresh_from_db()
    assert account.credentials == {"base_url": f"{llmsim}/v1", "api_key": "sk-test"}
    card.get_by_role("button", name="Test connection").click()
    expect(card.locator("[data-testid=test-result]")).to_contain_text("Success")
    shoot_both_themes(page, shot, "providers")

    page.goto(f"{base}/models")
    for model_id in ("fast-small", "reasoner"):
        row = page.locator(f'tr[data-model-id="{model_id}"]')
        row.get_by_test_id("monitor-toggle").click()
        # The row is re-rendered by the server with the new state.
        expect(row.get_by_test_id("monitor-toggle")).to_have_attribute("aria-checked", "true")
    expect(page.get_by_test_id("match-count")).to_contain_text("models")
    shoot_both_themes(page, shot, "models")

    monitored = LLMModel.objects.filter(enabled_for_monitoring=True)
    assert sorted(monitored.values_list("model_id", flat=True)) == ["fast-small", "reasoner"]
    assert page.errors == []


def test_the_models_search_and_rename_work_in_the_browser(page, live_server, shot):
    account = ProviderAccount.objects.create(
        provider_type="ollama", display_name="Workstation", credentials_encrypted="{}"
    )
    for model_id in ("llama3:8b", "qwen2:7b", "mistral:7b"):
        LLMModel.objects.create(provider_account=account, model_id=model_id)
    base = live_server.url
    log_in(page, base)

    page.goto(f"{base}/models")
    page.fill("input[name=q]", "qwen")
    expect(page.locator("tr.model-row")).to_have_count(1)
    assert "q=qwen" in page.url

    row = page.locator('tr[data-model-id="qwen2:7b"]')
    row.locator("summary", has_text="Rename").click()
    row.locator("input[name=custom_name]").fill("Qwen 2")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".model-name")).to_have_text("Qwen 2")
    assert LLMModel.objects.get(model_id="qwen2:7b").custom_name == "Qwen 2"

    row.locator("summary", has_text="Delete").click()
    expect(row.get_by_role("button", name="Yes, delete")).to_be_visible()
    shot(page, "models-row-actions")
    row.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted “Qwen 2”.")
    assert not LLMModel.objects.filter(model_id="qwen2:7b").exists()
    assert page.errors == []
