"""Tags on the pages: the model page's tags form (own tags; the account's shown muted) and the
tags input of the Providers page's add and edit forms."""

import pytest
from django.contrib.auth import get_user_model

from arguslm import roles
from providers import tags
from providers.models import ProviderAccount
from tests.factories import DEAD_URL, make_account, make_model

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def model():
    account = make_account(display_name="Prod")
    tags.set_tags(account, ["env:prod"])
    model = make_model(account, model_id="m1")
    tags.set_tags(model, ["team:search"])
    return model


def own(obj) -> list[str]:
    return sorted(obj.tags.values_list("name", flat=True))


def signed_in(client, role: str):
    user = get_user_model().objects.create_user(f"u-{role}", password="pw-long-enough-1")
    roles.assign(user, role)
    client.force_login(user)
    return client


# --- the model page -----------------------------------------------------------------------------


def test_the_model_page_shows_own_and_account_tags_and_the_form(logged_in, model):
    html = logged_in.get(f"/monitoring/models/{model.pk}").content.decode()
    assert '<li class="chip tag-chip">team:search</li>' in html
    assert 'class="chip tag-chip inherited" title="From the account Prod">env:prod' in html
    assert f'action="/models/{model.pk}/tags"' in html
    assert 'name="tags"' in html and 'value="team:search"' in html


def test_a_viewer_sees_the_tags_but_not_the_form(client, model):
    html = signed_in(client, roles.VIEWER).get(f"/monitoring/models/{model.pk}").content.decode()
    assert "team:search" in html and "env:prod" in html
    assert f"/models/{model.pk}/tags" not in html


def test_saving_tags_replaces_the_models_own_and_redirects_with_a_message(logged_in, model):
    response = logged_in.post(
        f"/models/{model.pk}/tags", {"tags": "Team:Ads  critical, tier:gold,"}, follow=True
    )
    assert response.redirect_chain == [(f"/monitoring/models/{model.pk}#tags", 302)]
    assert own(model) == ["critical", "team:ads", "tier:gold"]
    assert own(model.provider_account) == ["env:prod"]  # the account's are set elsewhere
    assert "Tags of “m1”: team:ads, critical, tier:gold." in response.content.decode()


def test_an_empty_field_removes_the_models_own_tags(logged_in, model):
    response = logged_in.post(f"/models/{model.pk}/tags", {"tags": " "})
    assert response.status_code == 302
    assert own(model) == []


def test_a_bad_tag_is_shown_on_the_field_and_nothing_changes(logged_in, model):
    response = logged_in.post(f"/models/{model.pk}/tags", {"tags": "team:ads Bad!tag"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "&#x27;bad!tag&#x27; is not a tag" in html
    assert 'id="model-tags-error"' in html and 'aria-invalid="true"' in html
    assert 'value="team:ads Bad!tag"' in html  # the form as sent
    assert own(model) == ["team:search"]


@pytest.mark.parametrize("role", [roles.VIEWER, roles.OPERATOR])
def test_only_those_who_may_change_models_may_set_their_tags(client, model, role):
    response = signed_in(client, role).post(f"/models/{model.pk}/tags", {"tags": "x"})
    assert response.status_code == 403
    assert own(model) == ["team:search"]


def test_anonymous_visitors_are_sent_to_log_in_and_change_nothing(client, model):
    response = client.post(f"/models/{model.pk}/tags", {"tags": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")
    assert own(model) == ["team:search"]


def test_tags_of_an_unknown_model_are_a_404(logged_in):
    missing = "9b2f6c1e-7a44-4c39-9f0e-2d2f5a0c1b11"
    assert logged_in.post(f"/models/{missing}/tags", {"tags": "x"}).status_code == 404


# --- the Providers page -------------------------------------------------------------------------


def test_the_providers_page_shows_each_accounts_tags(logged_in, model):
    html = logged_in.get("/providers").content.decode()
    assert '<li class="chip tag-chip">env:prod</li>' in html
    assert 'name="tags" value="env:prod"' in html


def test_adding_a_provider_with_tags(logged_in):
    form = {
        "provider_type": "custom_openai_compatible",
        "display_name": "Team vLLM",
        "cred_base_url": DEAD_URL,
        "tags": "env:staging region:eu",
    }
    assert logged_in.post("/providers/add", form).status_code == 302
    assert own(ProviderAccount.objects.get(display_name="Team vLLM")) == [
        "env:staging",
        "region:eu",
    ]


def test_adding_a_provider_with_a_bad_tag_explains_on_the_field(logged_in):
    form = {"provider_type": "custom_openai_compatible", "cred_base_url": DEAD_URL, "tags": "a:"}
    html = logged_in.post("/providers/add", form).content.decode()
    assert "&#x27;a:&#x27; is not a tag" in html and 'aria-invalid="true"' in html
    assert not ProviderAccount.objects.exists()


def edit(client, account, **fields):
    form = {"display_name": account.display_name, "cred_base_url": DEAD_URL, **fields}
    return client.post(f"/providers/{account.pk}/edit", form, **HTMX)


def test_editing_an_account_sets_and_clears_its_tags(logged_in, model):
    account = model.provider_account
    html = edit(logged_in, account, tags="env:prod, tier:gold").content.decode()
    assert own(account) == ["env:prod", "tier:gold"]
    assert '<li class="chip tag-chip">tier:gold</li>' in html
    edit(logged_in, account, tags="")
    assert own(account) == []


def test_an_edit_form_without_the_tags_input_keeps_them(logged_in, model):
    edit(logged_in, model.provider_account)
    assert own(model.provider_account) == ["env:prod"]


def test_editing_with_a_bad_tag_shows_it_on_the_field_and_keeps_everything(logged_in, model):
    account = model.provider_account
    html = edit(logged_in, account, display_name="Renamed", tags="ok BAD TAG:").content.decode()
    assert "&#x27;tag:&#x27; is not a tag" in html
    assert 'value="ok BAD TAG:"' in html
    account.refresh_from_db()
    assert account.display_name == "Prod" and own(account) == ["env:prod"]
