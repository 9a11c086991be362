"""Tags in the Django admin: a Tag list to search, tags picked on models and accounts."""

import pytest
from django.contrib.auth import get_user_model

from providers import tags
from providers.models import Tag
from tests.factories import make_account, make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client):
    user = get_user_model().objects.create_superuser("root", "r@example.com", "pw-root-12345")
    client.force_login(user)
    return client


def test_the_tag_list_searches_names_and_counts_models_and_accounts(root):
    account = make_account()
    tags.set_tags(account, ["env:prod"])
    tags.set_tags(make_model(account, model_id="a"), ["env:prod", "team:x"])
    tags.set_tags(make_model(account, model_id="b"), ["env:prod"])
    html = root.get("/admin/providers/tag/", {"q": "env"}).content.decode()
    assert "env:prod" in html and "team:x" not in html
    assert '<td class="field-model_count">2</td><td class="field-account_count">1</td>' in html


def test_a_tag_typed_in_the_admin_follows_the_tag_rules(root):
    response = root.post("/admin/providers/tag/add/", {"name": "Bad Tag!"})
    assert response.status_code == 200 and "is not a tag" in response.content.decode()
    root.post("/admin/providers/tag/add/", {"name": " Tier:Gold "})
    assert list(Tag.objects.values_list("name", flat=True)) == ["tier:gold"]


def test_models_and_accounts_pick_their_tags_in_a_filter_box(root):
    model = make_model(make_account())
    for url in (
        f"/admin/providers/llmmodel/{model.pk}/change/",
        f"/admin/providers/provideraccount/{model.provider_account.pk}/change/",
    ):
        html = root.get(url).content.decode()
        assert 'name="tags"' in html and "selectfilter" in html.lower(), url


def test_the_model_list_filters_by_tag(root):
    account = make_account()
    tags.set_tags(make_model(account, model_id="tagged"), ["env:prod"])
    make_model(account, model_id="plain")
    tag = Tag.objects.get(name="env:prod")
    html = root.get("/admin/providers/llmmodel/", {"tags__id__exact": tag.pk}).content.decode()
    assert "tagged" in html and ">plain<" not in html
