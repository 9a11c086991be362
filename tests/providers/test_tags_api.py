"""Tags in the API: written on accounts and models, read back (a model with its account's too),
``?tag=`` on the models, providers and uptime lists, and the 422s that name the field."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arguslm.models import AuditEvent
from providers import tags
from providers.models import Tag
from tests.factories import DEAD_URL, make_account, make_model, store_checks, uptime_check

pytestmark = pytest.mark.django_db


def locs(response) -> list[list]:
    assert response.status_code == 422, response.content
    return [entry["loc"] for entry in response.json()["detail"]]


@pytest.fixture
def fleet():
    """Prod (env:prod) with m1 (team:search) and m2; Staging (env:staging) with m3 (team:search,
    env:prod) and m4."""
    prod = make_account(display_name="Prod")
    staging = make_account(display_name="Staging")
    tags.set_tags(prod, ["env:prod"])
    tags.set_tags(staging, ["env:staging"])
    models = {
        "m1": make_model(prod, model_id="m1"),
        "m2": make_model(prod, model_id="m2"),
        "m3": make_model(staging, model_id="m3"),
        "m4": make_model(staging, model_id="m4"),
    }
    tags.set_tags(models["m1"], ["team:search"])
    tags.set_tags(models["m3"], ["team:search", "env:prod"])
    return {"prod": prod, "staging": staging, **models}


# --- writing and reading ------------------------------------------------------------------------


def test_an_account_is_created_and_patched_with_tags_and_lists_them(api):
    body = {
        "provider_type": "custom_openai_compatible",
        "display_name": "Team vLLM",
        "credentials": {"base_url": DEAD_URL},
        "tags": [" Env:Prod", "team:search", "env:prod"],
    }
    created = api.post("/api/v1/providers", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["tags"] == ["env:prod", "team:search"]
    url = f"/api/v1/providers/{created.json()['id']}"
    patched = api.patch(url, {"tags": ["tier:gold"]}, format="json")
    assert patched.json()["tags"] == ["tier:gold"]
    assert api.patch(url, {"display_name": "Renamed"}, format="json").json()["tags"] == [
        "tier:gold"
    ]  # a patch without tags keeps them
    assert api.patch(url, {"tags": []}, format="json").json()["tags"] == []
    assert api.get(url).json()["tags"] == []


def test_a_model_lists_its_own_tags_and_its_accounts(api, fleet):
    got = api.get(f"/api/v1/models/{fleet['m3'].pk}").json()
    assert got["tags"] == ["env:prod", "team:search"]
    assert got["account_tags"] == ["env:staging"]
    patched = api.patch(
        f"/api/v1/models/{fleet['m3'].pk}", {"tags": ["critical"]}, format="json"
    ).json()
    assert patched["tags"] == ["critical"] and patched["account_tags"] == ["env:staging"]
    assert set(fleet["m3"].tags.values_list("name", flat=True)) == {"critical"}


def test_a_manual_model_may_be_created_with_tags(api, fleet):
    body = {"provider_account_id": str(fleet["prod"].pk), "model_id": "m5", "tags": ["team:ml"]}
    created = api.post("/api/v1/models", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["tags"] == ["team:ml"]
    assert created.json()["account_tags"] == ["env:prod"]


def test_changing_tags_is_audited_and_setting_the_same_ones_is_not(api, fleet):
    url = f"/api/v1/models/{fleet['m1'].pk}"
    AuditEvent.objects.all().delete()
    api.patch(url, {"tags": ["team:ads"]}, format="json")
    api.patch(url, {"tags": ["team:ads"]}, format="json")
    events = AuditEvent.objects.filter(object_id=str(fleet["m1"].pk))
    assert [e.changes for e in events] == [{"tags": {"old": ["team:search"], "new": ["team:ads"]}}]
    assert events[0].actor_label == "api-token:alice"


@pytest.mark.parametrize(
    "value",
    [["Bad Tag!"], ["env:"], "env:prod", [None], ["a" * 65], [f"t{i}" for i in range(21)]],
)
def test_a_bad_tag_is_a_422_naming_tags_and_changes_nothing(api, fleet, value):
    model_url = f"/api/v1/models/{fleet['m1'].pk}"
    account_url = f"/api/v1/providers/{fleet['prod'].pk}"
    for url in (model_url, account_url):
        response = api.patch(url, {"tags": value}, format="json")
        assert all(loc[:2] == ["body", "tags"] for loc in locs(response))
    assert api.get(model_url).json()["tags"] == ["team:search"]
    assert api.get(account_url).json()["tags"] == ["env:prod"]
    assert not Tag.objects.filter(name__startswith="t1").exists()


# --- filters ------------------------------------------------------------------------------------


def model_ids(api, query: str) -> list[str]:
    response = api.get(f"/api/v1/models?{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == len(body["items"])
    return sorted(item["model_id"] for item in body["items"])


def test_the_models_list_filters_by_every_tag_given_own_or_accounts(api, fleet):
    assert model_ids(api, "tag=env:prod") == ["m1", "m2", "m3"]
    assert model_ids(api, "tag=env:prod&tag=team:search") == ["m1", "m3"]
    assert model_ids(api, "tag=env:staging&tag=team:search") == ["m3"]
    assert model_ids(api, "tag=ENV:Staging") == ["m3", "m4"]  # cleaned like a written tag
    assert model_ids(api, "tag=nobody:here") == []
    assert model_ids(api, "tag=") == ["m1", "m2", "m3", "m4"]  # blank: no filter
    assert model_ids(api, f"tag=env:prod&provider_id={fleet['staging'].pk}") == ["m3"]


def test_the_providers_list_filters_by_the_accounts_own_tags(api, fleet):
    def names(query):
        body = api.get(f"/api/v1/providers?{query}").json()
        assert body["total"] == len(body["providers"])
        return [p["display_name"] for p in body["providers"]]

    assert names("tag=env:prod") == ["Prod"]
    assert names("tag=team:search") == []  # a model's tag is not its account's
    assert names("") == ["Prod", "Staging"]


def test_uptime_checks_filter_by_the_tags_of_their_models(api, fleet):
    store_checks(
        [
            uptime_check(fleet[m], ago=timedelta(minutes=i))
            for i, m in enumerate(fleet)
            if m[0] == "m"
        ]
        + [uptime_check(fleet["m4"], status="down", ago=timedelta(minutes=9))]
    )

    def checked(query):
        body = api.get(f"/api/v1/monitoring/uptime?{query}").json()
        assert body["total"] == len(body["items"]), body
        return sorted(item["model_id"] for item in body["items"])

    ids = {str(fleet[m].pk): m for m in ("m1", "m2", "m3", "m4")}
    assert sorted(ids[i] for i in checked("tag=env:prod")) == ["m1", "m2", "m3"]
    assert sorted(ids[i] for i in checked("tag=env:staging&status=down")) == ["m4"]
    since = "2000-01-01T00:00:00Z"  # counted on the rows, not the kept counts
    assert sorted(ids[i] for i in checked(f"tag=team:search&since={since}")) == ["m1", "m3"]


@pytest.mark.parametrize(
    "url", ["/api/v1/models", "/api/v1/providers", "/api/v1/monitoring/uptime"]
)
@pytest.mark.parametrize("query", ["tag=Bad Tag!", "tag=env:", "tag=x&tag=:y"])
def test_a_malformed_tag_filter_is_a_422_naming_tag(api, url, query):
    assert ["query", "tag"] in locs(api.get(f"{url}?{query}"))


# --- cost ---------------------------------------------------------------------------------------


def queries_for(api, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get(url).status_code == 200
    return len(queries)


def add_tagged(count: int, offset: int) -> None:
    account = make_account(display_name=f"Fleet {offset}")
    tags.set_tags(account, ["env:prod", "region:eu"])
    for i in range(offset, offset + count):
        tags.set_tags(make_model(account, model_id=f"x{i}"), [f"team:t{i}", "critical"])


@pytest.mark.parametrize(
    "url", ["/api/v1/models?limit=500", "/api/v1/models?tag=env:prod", "/api/v1/providers"]
)
def test_lists_read_tags_in_a_fixed_number_of_queries(api, url):
    add_tagged(2, 0)
    queries_for(api, url)  # records the token's first use (at most once a minute)
    few = queries_for(api, url)
    add_tagged(30, 100)
    add_tagged(3, 200)
    assert queries_for(api, url) == few
