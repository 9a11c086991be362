"""The Providers and Models pages: every view anonymous and logged in, each action's success
and bad input. Connection tests and discovery talk to the LLM simulator over real HTTP."""

import pytest

from arguslm.models import AuditEvent
from providers import tags
from providers.models import LLMModel, ProviderAccount
from tests.factories import DEAD_URL, SECRET, make_account, make_model

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def sim_account(llmsim):
    return make_account(
        display_name="Sim", credentials={"base_url": f"{llmsim}/v1", "api_key": "sk-test"}
    )


def add_form(**overrides) -> dict:
    form = {
        "provider_type": "custom_openai_compatible",
        "display_name": "Team vLLM",
        "cred_base_url": DEAD_URL,
        "cred_api_key": "sk-test",
    }
    form.update(overrides)
    return form


# --- anonymous ----------------------------------------------------------------------------------

GET_PAGES = ["/providers", "/providers/fields?provider_type=openai", "/models"]
POSTS = [
    "/providers/test",
    "/providers/add",
    "/providers/{a}/test",
    "/providers/{a}/refresh",
    "/providers/{a}/toggle",
    "/providers/{a}/monitor",
    "/providers/{a}/edit",
    "/providers/{a}/delete",
    "/models/add",
    "/models/bulk",
    "/models/{m}/toggle",
    "/models/{m}/rename",
    "/models/{m}/delete",
]


@pytest.mark.parametrize("url", GET_PAGES)
def test_pages_redirect_anonymous_visitors_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")


@pytest.mark.parametrize("url", POSTS)
def test_actions_redirect_anonymous_visitors_and_change_nothing(client, url):
    account = make_account()
    model = make_model(account)
    response = client.post(url.format(a=account.pk, m=model.pk), {"enabled": "0"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")
    assert ProviderAccount.objects.get().enabled
    assert LLMModel.objects.count() == 1


def test_the_sidebar_links_both_pages(logged_in):
    body = logged_in.get("/providers").content.decode()
    assert 'href="/providers"' in body
    assert 'href="/models"' in body


# --- providers page -----------------------------------------------------------------------------


def test_the_providers_page_lists_accounts_without_their_secrets(logged_in):
    account = make_account(display_name="My vLLM")
    make_model(account, model_id="a", enabled_for_monitoring=True)
    make_model(account, model_id="b", enabled_for_monitoring=False)
    demo = make_account(display_name="Local simulator", is_demo=True, credentials={})
    response = logged_in.get("/providers")
    assert response.status_code == 200
    body = response.content.decode()
    assert "My vLLM" in body and "Custom OpenAI Compatible" in body
    assert DEAD_URL in body
    assert "1/2" in body and "0/0" in body
    assert "Local simulator" in body and f"provider-{demo.pk}" in body
    assert "API Key" in body and "Base URL" in body
    assert SECRET not in body
    assert "set — leave empty to keep" in body


def test_an_account_without_base_url_shows_default(logged_in):
    make_account(provider_type="openai", credentials={"api_key": SECRET})
    body = logged_in.get("/providers").content.decode()
    assert ">default<" in body
    assert SECRET not in body


def test_the_type_select_lists_tested_types_before_the_others(logged_in):
    body = logged_in.get("/providers").content.decode()
    tested, other = body.index('<optgroup label="Tested">'), body.index("Other (via litellm)")
    assert tested < body.index('value="custom_openai_compatible"') < other
    assert body.index('value="aws_bedrock"') < other
    assert "js/providers.js" in body
    assert "<script>" not in body and "onclick" not in body


def test_the_fields_partial_renders_the_types_credentials(logged_in):
    response = logged_in.get("/providers/fields?provider_type=aws_bedrock")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="cred_region"' in body and "us-east-1" in body
    assert 'name="cred_aws_secret_access_key"' in body and 'type="password"' in body


def test_the_fields_partial_prefills_local_servers_and_hints_cloud_defaults(logged_in):
    ollama = logged_in.get("/providers/fields?provider_type=ollama").content.decode()
    assert 'value="http://localhost:11434"' in ollama
    openai = logged_in.get("/providers/fields?provider_type=openai").content.decode()
    assert 'placeholder="https://api.openai.com/v1"' in openai
    assert 'value="https://api.openai.com/v1"' not in openai


def test_the_fields_partial_asks_for_a_type_when_it_is_unknown(logged_in):
    body = logged_in.get("/providers/fields?provider_type=nope").content.decode()
    assert "Choose a provider type" in body


def test_testing_an_unsaved_form_reports_success(logged_in, llmsim):
    form = add_form(cred_base_url=f"{llmsim}/v1", display_name="")
    response = logged_in.post("/providers/test", form, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Success" in body and "Connected" in body and "latency" in body
    assert ProviderAccount.objects.count() == 0


def test_testing_an_unsaved_form_reports_a_refused_connection(logged_in):
    body = logged_in.post("/providers/test", add_form(), **HTMX).content.decode()
    assert "Failed" in body and "Connection test failed" in body


def test_testing_an_unsaved_form_lists_its_problems(logged_in):
    response = logged_in.post("/providers/test", add_form(cred_base_url=""), **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Failed" in body and "Base URL is required." in body


def test_adding_a_provider_discovers_its_models(logged_in, llmsim):
    form = add_form(cred_base_url=f"{llmsim}/v1")
    response = logged_in.post("/providers/add", form, follow=True)
    account = ProviderAccount.objects.get()
    assert account.display_name == "Team vLLM"
    assert account.credentials == {"base_url": f"{llmsim}/v1", "api_key": "sk-test"}
    assert account.models.filter(model_id="fast-small", source="discovered").exists()
    assert response.redirect_chain[0][0] == f"/providers#provider-{account.pk}"
    body = response.content.decode()
    assert "Added “Team vLLM”. Discovered" in body
    assert "sk-test" not in body


def test_adding_a_provider_keeps_it_when_discovery_fails(logged_in):
    response = logged_in.post("/providers/add", add_form(), follow=True)
    assert ProviderAccount.objects.count() == 1
    assert "but model discovery failed" in response.content.decode()


def test_adding_a_provider_without_a_name_uses_the_type_label(logged_in):
    logged_in.post("/providers/add", add_form(display_name="  "))
    assert ProviderAccount.objects.get().display_name == "Custom OpenAI Compatible"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (add_form(cred_base_url=""), "Base URL is required."),
        (add_form(cred_base_url="ftp://x"), "must be an http(s) URL"),
        (add_form(provider_type=""), "Choose a provider type."),
        (add_form(provider_type="nope"), "Unknown provider type"),
        (
            {"provider_type": "aws_bedrock", "display_name": "B", "cred_region": "us-east-1"},
            "Provide a Bedrock bearer token",
        ),
    ],
)
def test_adding_a_provider_with_bad_input_explains_and_stores_nothing(logged_in, form, message):
    response = logged_in.post("/providers/add", form)
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    assert ProviderAccount.objects.count() == 0
    assert "sk-test" not in body  # a typed secret is not echoed back


def test_testing_a_stored_account_shows_the_result(logged_in, sim_account):
    response = logged_in.post(f"/providers/{sim_account.pk}/test", **HTMX)
    body = response.content.decode()
    assert "Success" in body and "model(s) available" in body


def test_testing_a_stored_account_without_htmx_redirects_with_a_message(logged_in):
    account = make_account(display_name="My vLLM")
    response = logged_in.post(f"/providers/{account.pk}/test", follow=True)
    assert response.redirect_chain[-1][0] == "/providers"
    assert "My vLLM: Connection test failed" in response.content.decode()


def test_refreshing_models_reports_what_changed(logged_in, sim_account):
    response = logged_in.post(f"/providers/{sim_account.pk}/refresh", **HTMX)
    body = response.content.decode()
    assert "Discovered" in body and "new" in body
    assert sim_account.models.filter(model_id="reasoner").exists()
    assert f'id="provider-{sim_account.pk}"' in body  # the whole card is re-rendered


def test_refreshing_models_shows_the_gateway_error(logged_in):
    account = make_account()
    body = logged_in.post(f"/providers/{account.pk}/refresh", **HTMX).content.decode()
    assert "Model discovery failed:" in body
    assert SECRET not in body


def test_an_unknown_account_is_a_404(logged_in):
    response = logged_in.post("/providers/00000000-0000-0000-0000-000000000000/refresh", **HTMX)
    assert response.status_code == 404


def test_the_enabled_toggle_disables_and_enables(logged_in):
    account = make_account()
    body = logged_in.post(
        f"/providers/{account.pk}/toggle", {"enabled": "0"}, **HTMX
    ).content.decode()
    account.refresh_from_db()
    assert not account.enabled and "Disabled" in body
    logged_in.post(f"/providers/{account.pk}/toggle", {"enabled": "1"}, **HTMX)
    account.refresh_from_db()
    assert account.enabled


def test_monitor_all_and_stop_monitoring_all(logged_in):
    account = make_account()
    other = make_account(display_name="Other")
    for model_id in ("a", "b", "c"):
        make_model(account, model_id=model_id, enabled_for_monitoring=False)
    make_model(other, model_id="x", enabled_for_monitoring=False)
    body = logged_in.post(
        f"/providers/{account.pk}/monitor", {"enabled": "1"}, **HTMX
    ).content.decode()
    assert "Monitoring 3 model(s)." in body and "3/3" in body
    assert not other.models.get().enabled_for_monitoring
    logged_in.post(f"/providers/{account.pk}/monitor", {"enabled": "0"}, **HTMX)
    assert not account.models.filter(enabled_for_monitoring=True).exists()


def edit(client, account, **fields):
    form = {"display_name": account.display_name, "cred_base_url": account.base_url or ""}
    form.update(fields)
    return client.post(f"/providers/{account.pk}/edit", form, **HTMX)


def test_editing_with_an_empty_secret_keeps_the_stored_one(logged_in):
    account = make_account()
    body = edit(logged_in, account, display_name="Renamed", cred_api_key="").content.decode()
    account.refresh_from_db()
    assert account.display_name == "Renamed"
    assert account.credentials["api_key"] == SECRET
    assert "Saved." in body and SECRET not in body


def test_editing_replaces_a_secret_and_a_url(logged_in):
    account = make_account()
    edit(logged_in, account, cred_api_key="sk-new", cred_base_url="http://gpu:8000/v1")
    account.refresh_from_db()
    assert account.credentials == {"api_key": "sk-new", "base_url": "http://gpu:8000/v1"}


def test_editing_the_url_to_another_host_asks_for_the_secret_again(logged_in):
    account = make_account()
    response = edit(logged_in, account, cred_base_url="http://attacker.example:8000/v1")
    body = response.content.decode()
    assert response.status_code == 200 and "Not saved" in body
    assert "host changed: enter the API Key again" in body
    account.refresh_from_db()
    assert account.credentials == {"base_url": DEAD_URL, "api_key": SECRET}


def test_editing_can_remove_a_secret(logged_in):
    account = make_account()
    edit(logged_in, account, remove_api_key="1")
    account.refresh_from_db()
    assert account.credentials == {"base_url": DEAD_URL}


def test_editing_clears_an_optional_plain_field(logged_in):
    account = make_account(
        provider_type="openai",
        credentials={"api_key": SECRET, "organization_id": "org-1", "project_id": "proj_1"},
    )
    body = logged_in.get("/providers").content.decode()
    assert 'value="org-1"' in body  # non-secret fields are shown pre-filled
    edit(logged_in, account, cred_organization_id="", cred_project_id="proj_2")
    account.refresh_from_db()
    assert account.credentials == {"api_key": SECRET, "project_id": "proj_2"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cred_base_url": "not a url"}, "must be an http(s) URL"),
        ({"cred_base_url": ""}, "Base URL is required."),
        ({"display_name": "  "}, "may not be blank"),
    ],
)
def test_editing_with_bad_input_explains_and_keeps_everything(logged_in, fields, message):
    account = make_account(display_name="My vLLM")
    response = edit(logged_in, account, cred_api_key="sk-other", **fields)
    body = response.content.decode()
    assert response.status_code == 200  # htmx swaps only 2xx bodies
    assert message in body and "Not saved" in body
    assert '<details class="panel" open>' in body
    account.refresh_from_db()
    assert account.display_name == "My vLLM"
    assert account.credentials == {"base_url": DEAD_URL, "api_key": SECRET}
    assert "sk-other" not in body and SECRET not in body


def test_editing_a_bedrock_account_cannot_remove_its_only_key(logged_in):
    account = make_account(
        provider_type="aws_bedrock", credentials={"region": "us-east-1", "api_key": SECRET}
    )
    body = logged_in.post(
        f"/providers/{account.pk}/edit",
        {"display_name": "B", "cred_region": "us-east-1", "remove_api_key": "1"},
        **HTMX,
    ).content.decode()
    assert "Provide a Bedrock bearer token" in body
    account.refresh_from_db()
    assert account.credentials["api_key"] == SECRET


def test_deleting_an_account_removes_it_and_its_models(logged_in):
    account = make_account(display_name="My vLLM")
    make_model(account)
    response = logged_in.post(f"/providers/{account.pk}/delete", **HTMX)
    assert "Deleted “My vLLM” and its models." in response.content.decode()
    assert not ProviderAccount.objects.exists() and not LLMModel.objects.exists()


def test_deleting_without_htmx_redirects_with_a_message(logged_in):
    account = make_account(display_name="My vLLM")
    response = logged_in.post(f"/providers/{account.pk}/delete", follow=True)
    assert "Deleted “My vLLM”" in response.content.decode()
    assert not ProviderAccount.objects.exists()


# --- models page --------------------------------------------------------------------------------


def test_the_models_page_lists_models_with_their_switches(logged_in):
    account = make_account()
    make_model(account, model_id="llama3:8b", custom_name="Llama", enabled_for_monitoring=True)
    make_model(
        account,
        model_id="old-model",
        source="discovered",
        available=False,
        enabled_for_monitoring=False,
    )
    response = logged_in.get("/models")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Llama" in body and "llama3:8b" in body
    assert "no longer listed" in body and "discovered" in body
    assert 'data-testid="match-count"><strong>2</strong> models<' in body
    assert body.count('aria-checked="true"') == 3  # monitoring of one, benchmark of both


def test_the_models_page_searches_ids_and_custom_names(logged_in):
    account = make_account()
    make_model(account, model_id="gpt-4o", custom_name="Flagship")
    make_model(account, model_id="qwen2:7b")
    body = logged_in.get("/models?q=flag").content.decode()
    assert "gpt-4o" in body and "qwen2:7b" not in body
    body = logged_in.get("/models?q=QWEN").content.decode()
    assert "qwen2:7b" in body and "gpt-4o" not in body
    assert "No models match" in logged_in.get("/models?q=zzz").content.decode()


def test_the_models_page_filters_by_provider(logged_in):
    one, two = make_account(display_name="One"), make_account(display_name="Two")
    make_model(one, model_id="from-one")
    make_model(two, model_id="from-two")
    body = logged_in.get(f"/models?provider={two.pk}").content.decode()
    assert "from-two" in body and "from-one" not in body
    # A malformed filter is ignored, not a 500.
    assert logged_in.get("/models?provider=nope&page=abc").status_code == 200


def test_the_models_page_paginates_by_25(logged_in):
    account = make_account()
    for i in range(30):
        make_model(account, model_id=f"model-{i:02d}")
    first = logged_in.get("/models").content.decode()
    # quoted, so a random UUID in the page ("model-25b3…") cannot match
    assert "1–25 of 30" in first and '"model-24"' in first and '"model-25"' not in first
    assert 'href="/models?page=2"' in first
    second = logged_in.get("/models?page=2").content.decode()
    assert "26–30 of 30" in second and "model-29" in second
    assert 'href="/models"' in second and 'rel="prev"' in second
    filtered = logged_in.get(f"/models?provider={account.pk}&q=model").content.decode()
    # The filters survive paging: the next-page link keeps both of them.
    assert f'href="/models?q=model&amp;account={account.pk}&amp;page=2"' in filtered


def test_filters_and_paging_keep_each_other_in_every_link(logged_in):
    account = make_account()
    tags.set_tags(account, ["env:prod"])
    for i in range(60):
        make_model(account, model_id=f"model-{i:02d}", enabled_for_monitoring=i % 2 == 0)
    query = f"q=model&account={account.pk}&monitored=no&benchmark=yes&tag=env:prod"
    body = logged_in.get(f"/models?{query}").content.decode()
    assert 'data-testid="match-count"><strong>30</strong> models match these filters' in body
    kept = f"q=model&amp;account={account.pk}&amp;monitored=no&amp;benchmark=yes&amp;tag=env%3Aprod"
    assert f'href="/models?{kept}&amp;page=2"' in body
    second = logged_in.get(f"/models?{query}&page=2").content.decode()
    assert f'href="/models?{kept}"' in second and "26–30 of 30" in second
    # The form shows the filters it applied, and the bulk forms carry them.
    assert 'name="tag" value="env:prod"' in body
    assert '<option value="no" selected>Off</option>' in body
    # (stop monitoring and offering for benchmarks are not offered: nothing to change)
    assert body.count('<input type="hidden" name="tag" value="env:prod">') == 3
    assert body.count('<input type="hidden" name="count" value="30">') == 3


@pytest.mark.parametrize(
    "query",
    [
        "provider=nope&page=abc",
        "account=00000000-0000-0000-0000-000000000000&page=-1",
        "monitored=maybe&benchmark=2",
        "tag=Bad%20Tag!&tag=" + "x" * 300,
        "q=%00" + "y" * 400,
        "page=99999999999999999999",
        "tag=" + "+".join(f"t{i}" for i in range(40)),
    ],
)
def test_bad_filter_values_are_left_out_and_named_never_a_500(logged_in, query):
    make_model(make_account(), model_id="kept")
    response = logged_in.get(f"/models?{query}")
    assert response.status_code == 200
    assert "kept" in response.content.decode() or "No models match" in response.content.decode()


def test_a_bad_tag_in_the_filter_is_named_above_the_list(logged_in):
    make_model(make_account(), model_id="kept")
    body = logged_in.get("/models?tag=Bad!").content.decode()
    assert 'data-testid="filter-problems"' in body and "&#x27;bad!&#x27; is not a tag" in body
    assert "kept" in body


def test_an_htmx_search_returns_only_the_table(logged_in):
    make_model(make_account(), model_id="gpt-4o")
    response = logged_in.get("/models?q=gpt", HTTP_HX_TARGET="models-table", **HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card table-card" id="models-table"')
    assert "gpt-4o" in body and "<html" not in body
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(
    ("field", "flag"),
    [("monitoring", "enabled_for_monitoring"), ("benchmark", "enabled_for_benchmark")],
)
def test_the_switches_set_the_posted_state_and_rerender_the_row(logged_in, field, flag):
    model = make_model(make_account(), enabled_for_benchmark=False, enabled_for_monitoring=False)
    url = f"/models/{model.pk}/toggle"
    body = logged_in.post(url, {"field": field, "enabled": "1"}, **HTMX).content.decode()
    model.refresh_from_db()
    assert getattr(model, flag) is True
    assert body.lstrip().startswith(f'<tr id="model-{model.pk}"')
    logged_in.post(url, {"field": field, "enabled": "0"}, **HTMX)
    model.refresh_from_db()
    assert getattr(model, flag) is False


def test_an_unknown_switch_changes_nothing(logged_in):
    model = make_model(make_account())
    body = logged_in.post(
        f"/models/{model.pk}/toggle", {"field": "available", "enabled": "0"}, **HTMX
    ).content.decode()
    assert "Unknown switch." in body
    model.refresh_from_db()
    assert model.available


def test_a_switch_without_htmx_redirects_back(logged_in):
    model = make_model(make_account(), enabled_for_monitoring=False)
    response = logged_in.post(
        f"/models/{model.pk}/toggle",
        {"field": "monitoring", "enabled": "1"},
        HTTP_REFERER="http://testserver/models?q=m",
    )
    assert response["Location"] == "http://testserver/models?q=m"
    model.refresh_from_db()
    assert model.enabled_for_monitoring


def test_renaming_sets_and_a_blank_name_clears(logged_in):
    model = make_model(make_account(), model_id="claude-3-5-haiku@20241022")
    url = f"/models/{model.pk}/rename"
    body = logged_in.post(url, {"custom_name": " Haiku "}, **HTMX).content.decode()
    model.refresh_from_db()
    assert model.custom_name == "Haiku" and "Haiku" in body
    logged_in.post(url, {"custom_name": "  "}, **HTMX)
    model.refresh_from_db()
    assert model.custom_name is None


def test_renaming_with_a_too_long_name_explains_and_keeps_the_old_one(logged_in):
    model = make_model(make_account(), custom_name="Keep")
    body = logged_in.post(
        f"/models/{model.pk}/rename", {"custom_name": "x" * 300}, **HTMX
    ).content.decode()
    assert "Not renamed" in body and "255" in body
    model.refresh_from_db()
    assert model.custom_name == "Keep"


def test_deleting_a_model(logged_in):
    model = make_model(make_account(), custom_name="Gone")
    body = logged_in.post(f"/models/{model.pk}/delete", **HTMX).content.decode()
    assert "Deleted “Gone”." in body
    assert not LLMModel.objects.exists()


def bulk(client, action: str, **fields):
    return client.post("/models/bulk", {"action": action, **fields}, follow=True)


def test_monitor_all_matching_applies_to_the_filtered_models_only(logged_in):
    account, other = make_account(display_name="My vLLM"), make_account(display_name="Other")
    make_model(account, model_id="gpt-a", enabled_for_monitoring=False)
    make_model(account, model_id="gpt-b", enabled_for_monitoring=False)
    make_model(account, model_id="llama", enabled_for_monitoring=False)
    make_model(other, model_id="gpt-x", enabled_for_monitoring=False)
    response = bulk(logged_in, "monitor", account=str(account.pk), q="gpt", count="2")
    html = response.content.decode()
    assert "Started monitoring 2 of 2 matching models." in html
    # Back on the page with the same filters.
    assert response.redirect_chain[-1][0] == f"/models?q=gpt&account={account.pk}"
    on = LLMModel.objects.filter(enabled_for_monitoring=True).values_list("model_id", flat=True)
    assert sorted(on) == ["gpt-a", "gpt-b"]
    event = AuditEvent.objects.get(action="bulk_updated")
    assert event.actor_label == "alice"
    assert event.changes["filter"] == {"q": "gpt", "provider_id": str(account.pk)}


def test_the_page_offers_each_bulk_action_with_the_count_in_its_confirmation(logged_in):
    account = make_account()
    for i in range(3):
        make_model(account, model_id=f"m-{i}", enabled_for_monitoring=False)
    body = logged_in.get(f"/models?account={account.pk}").content.decode()
    assert "All 3 matching:" in body and "Monitor all 3 matching models?" in body
    assert "Stop monitoring all 3 matching models?" in body
    assert "Withdraw all 3 matching models from benchmarks?" in body
    assert "Add this tag to all 3 matching models?" in body
    # Under "monitoring off", stopping monitoring could change nothing: not offered.
    body = logged_in.get("/models?monitored=no&benchmark=yes").content.decode()
    assert 'data-testid="bulk-monitor"' in body and 'data-testid="bulk-unmonitor"' not in body
    assert 'data-testid="bulk-enable_benchmark"' not in body


def test_tagging_all_matching_models_from_the_page(logged_in):
    account = make_account()
    make_model(account, model_id="a")
    make_model(account, model_id="b")
    html = bulk(logged_in, "add_tag", new_tag="Team:Search", count="2").content.decode()
    assert "Tagged 2 of 2 matching models with team:search." in html
    assert tags.filter_models(LLMModel.objects.all(), ["team:search"]).count() == 2
    body = logged_in.get("/models?tag=team:search").content.decode()
    assert 'class="tag-chip" href="/models?tag=team%3Asearch"' in body


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"action": "explode"}, "Unknown action"),
        ({"action": "add_tag", "new_tag": ""}, "Give the tag"),
        ({"action": "add_tag", "new_tag": "Not a tag!"}, "is not a tag"),
        ({"action": "monitor", "tag": "bad!"}, "Nothing changed"),  # a bad filter tag
        ({"action": "monitor", "account": "nope"}, "Not a provider account id"),
        ({"action": "monitor", "monitored": "maybe"}, "Use yes or no"),
        ({"action": "monitor", "count": "7"}, "1 models match now, not 7 as confirmed"),
    ],
)
def test_a_bulk_action_with_bad_input_changes_nothing_and_explains(logged_in, fields, says):
    make_model(make_account(), enabled_for_monitoring=False)
    response = logged_in.post("/models/bulk", fields, follow=True)
    assert response.status_code == 200
    assert says in response.content.decode()
    assert not LLMModel.objects.filter(enabled_for_monitoring=True).exists()
    assert not LLMModel.tags.through.objects.exists()


def test_a_viewer_sees_no_bulk_actions_and_may_not_post_them(client):
    from django.contrib.auth import get_user_model

    from arguslm import roles

    viewer = get_user_model().objects.create_user("vera", password="pw-long-enough-1")
    roles.assign(viewer, roles.VIEWER)
    client.force_login(viewer)
    make_model(make_account(), enabled_for_monitoring=False)
    assert 'data-testid="bulk-actions"' not in client.get("/models").content.decode()
    assert client.post("/models/bulk", {"action": "monitor"}).status_code == 403
    assert not LLMModel.objects.filter(enabled_for_monitoring=True).exists()


@pytest.mark.parametrize(
    "model_id",
    [
        "llama3:8b",
        "anthropic.claude-3-haiku-20240307-v1:0",
        "meta-llama/llama-3-8b-instruct",
        "claude-3-5-haiku@20241022",
    ],
)
def test_adding_a_manual_model_accepts_real_ids(logged_in, model_id):
    account = make_account()
    response = logged_in.post(
        "/models/add",
        {"provider_account_id": str(account.pk), "model_id": model_id, "custom_name": ""},
        follow=True,
    )
    model = LLMModel.objects.get()
    assert model.model_id == model_id and model.source == "manual"
    assert model.custom_name is None
    # Unchecked boxes are off (the benchmark default does not sneak back in).
    assert not model.enabled_for_monitoring and not model.enabled_for_benchmark
    assert f"Added model “{model_id}”." in response.content.decode()


def test_adding_a_manual_model_with_both_switches_on(logged_in):
    account = make_account()
    logged_in.post(
        "/models/add",
        {
            "provider_account_id": str(account.pk),
            "model_id": "gpt-4o",
            "custom_name": "Four-oh",
            "enabled_for_monitoring": "1",
            "enabled_for_benchmark": "1",
        },
    )
    model = LLMModel.objects.get()
    assert model.custom_name == "Four-oh"
    assert model.enabled_for_monitoring and model.enabled_for_benchmark


def test_adding_a_duplicate_model_says_it_already_exists(logged_in):
    account = make_account()
    make_model(account, model_id="llama3:8b", custom_name="Original")
    response = logged_in.post(
        "/models/add",
        {"provider_account_id": str(account.pk), "model_id": "llama3:8b", "custom_name": "New"},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert LLMModel.objects.get().custom_name == "Original"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"model_id": "has space"}, "may not be empty or contain whitespace"),
        ({"model_id": ""}, "may not be blank"),
        ({"model_id": "m", "provider_account_id": ""}, "Must be a valid UUID"),
        (
            {"model_id": "m", "provider_account_id": "00000000-0000-0000-0000-000000000000"},
            "does not exist",
        ),
    ],
)
def test_adding_a_manual_model_with_bad_input_explains(logged_in, form, message):
    account = make_account()
    data = {"provider_account_id": str(account.pk), "custom_name": "Kept", **form}
    response = logged_in.post("/models/add", data)
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    assert 'value="Kept"' in body  # what was typed is not lost
    assert not LLMModel.objects.exists()


def test_the_models_page_costs_the_same_queries_at_ten_or_three_hundred_models(logged_in):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account = make_account()
    tags.set_tags(account, ["env:prod"])

    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            body = logged_in.get("/models?tag=env:prod").content
        return len(captured), len(body)

    LLMModel.objects.bulk_create(
        LLMModel(provider_account=account, model_id=f"a-{i}") for i in range(10)
    )
    queries()  # warm: one-time queries (session, content types) do not count
    few, few_size = queries()
    LLMModel.objects.bulk_create(
        LLMModel(provider_account=account, model_id=f"b-{i}") for i in range(290)
    )
    many, many_size = queries()
    assert many == few
    assert many_size < few_size * 3  # one page of 25 rows, not 300
