"""Bulk actions on a filtered selection of models: the service (counts, filters, audit), the
API's POST /api/v1/models/bulk (shape, 422s, roles) and the filter the pages read."""

import pytest
from django.http import QueryDict

from arguslm import errors, roles, tokens
from arguslm.models import AuditEvent
from providers import selection, services, tags
from providers.models import LLMModel
from tests.factories import make_account, make_model

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/bulk"


@pytest.fixture
def fleet():
    """Two accounts: prod (tagged env:prod) with gpt-a, gpt-b (monitored), llama; staging with
    gpt-c (tagged team:x)."""
    prod, staging = make_account(display_name="Prod"), make_account(display_name="Staging")
    tags.set_tags(prod, ["env:prod"])
    make_model(prod, model_id="gpt-a", enabled_for_monitoring=False)
    make_model(prod, model_id="gpt-b", enabled_for_monitoring=True)
    make_model(prod, model_id="llama", enabled_for_monitoring=False)
    tags.set_tags(make_model(staging, model_id="gpt-c", enabled_for_monitoring=False), ["team:x"])
    return prod, staging


def monitored() -> list[str]:
    return sorted(
        LLMModel.objects.filter(enabled_for_monitoring=True).values_list("model_id", flat=True)
    )


def run(action, tag=None, **filter_fields):
    chosen = selection.ModelFilter(**filter_fields)
    return services.bulk_update(
        models=chosen.apply(LLMModel.objects.all()),
        action=action,
        tag=tag,
        filters=chosen.describe(),
    )


# --- the service --------------------------------------------------------------------------------


def test_monitor_all_matching_changes_only_the_filtered_models_and_counts_them(fleet):
    result = run("monitor", q="gpt", tags=("env:prod",))
    assert (result.matched, result.changed) == (2, 1)
    assert monitored() == ["gpt-a", "gpt-b"]
    assert result.message == "Started monitoring 1 of 2 matching models (1 already monitored)."


def test_an_empty_filter_is_every_model(fleet):
    result = run("disable_benchmark")
    assert (result.matched, result.changed) == (4, 4)
    assert not LLMModel.objects.filter(enabled_for_benchmark=True).exists()
    assert run("disable_benchmark").changed == 0


def test_the_action_is_audited_once_with_its_filter_and_counts(fleet):
    prod, _ = fleet
    before = AuditEvent.objects.count()
    run("unmonitor", account_id=prod.pk, monitored=True)
    event = AuditEvent.objects.get(action="bulk_updated")
    assert event.object_type == "providers.llmmodel"
    assert event.changes == {
        "action": "unmonitor",
        "filter": {"provider_id": str(prod.pk), "monitored": True},
        "matched": 1,
        "changed": 1,
    }
    # One entry for the action, none per model (QuerySet.update sends no signals).
    assert AuditEvent.objects.count() == before + 1


def test_adding_a_tag_tags_the_matching_models_once(fleet):
    first = run("add_tag", tag=" Critical ", q="gpt")
    assert (first.matched, first.changed, first.tag) == (3, 3, "critical")
    again = run("add_tag", tag="critical")
    assert (again.matched, again.changed) == (4, 1)
    assert again.message == "Tagged 1 of 4 matching models with critical (3 already tagged)."
    assert tags.filter_models(LLMModel.objects.all(), ["critical"]).count() == 4
    removed = run("remove_tag", tag="critical", tags=("team:x",))
    assert (removed.matched, removed.changed) == (1, 1)
    assert tags.filter_models(LLMModel.objects.all(), ["critical"]).count() == 3


def test_a_model_with_the_most_tags_is_skipped_and_said_so(fleet):
    full = LLMModel.objects.get(model_id="llama")
    tags.set_tags(full, [f"t{i}" for i in range(tags.MAX_PER_OBJECT)])
    result = run("add_tag", tag="extra", tags=("env:prod",))
    assert (result.matched, result.changed, result.skipped) == (3, 2, 1)
    assert "1 not tagged: they have 20 tags already" in result.message
    assert full.tags.count() == tags.MAX_PER_OBJECT


@pytest.mark.parametrize(
    ("action", "tag", "says"),
    [
        ("explode", None, "Unknown action"),
        ("add_tag", None, "Give the tag"),
        ("add_tag", "A B", ""),
    ],
)
def test_a_bad_action_or_tag_is_refused_and_changes_nothing(fleet, action, tag, says):
    with pytest.raises(errors.Invalid, match=says):
        run(action, tag=tag)
    assert monitored() == ["gpt-b"]
    assert not AuditEvent.objects.filter(action="bulk_updated").exists()


def test_a_thousand_models_take_a_few_statements(django_assert_max_num_queries):
    account = make_account()
    LLMModel.objects.bulk_create(
        LLMModel(provider_account=account, model_id=f"m-{i}") for i in range(1000)
    )
    with django_assert_max_num_queries(12):
        assert run("monitor").changed == 1000
    with django_assert_max_num_queries(20):
        assert run("add_tag", tag="fleet").changed == 1000


# --- the pages' filter ---------------------------------------------------------------------------


def test_the_pages_filter_reads_every_field_and_names_what_it_left_out():
    account = "3f2b6c1e-7a44-4c39-9f0e-2d2f5a0c1b11"
    chosen, problems = selection.from_params(
        QueryDict(f"q=+gpt+&account={account}&monitored=yes&benchmark=no&tag=env:prod,team:x")
    )
    assert chosen.q == "gpt" and str(chosen.account_id) == account
    assert (chosen.monitored, chosen.benchmark) == (True, False)
    assert chosen.tags == ("env:prod", "team:x") and problems == {}
    assert chosen.params()["tag"] == ["env:prod", "team:x"]

    chosen, problems = selection.from_params(
        QueryDict("provider=nope&monitored=maybe&tag=ok&tag=bad!&q=%00x")
    )
    assert chosen == selection.ModelFilter(q="x", tags=("ok",))
    assert set(problems) == {"account", "monitored", "tag"}
    # The Models page's older parameter name still works.
    chosen, _ = selection.from_params(QueryDict(f"provider={account}"))
    assert str(chosen.account_id) == account


# --- the API ------------------------------------------------------------------------------------


def test_the_api_applies_the_action_to_the_filter_and_answers_the_counts(api, fleet):
    prod, _ = fleet
    body = {
        "filter": {"provider_id": str(prod.pk), "tag": ["env:prod"], "monitored": False},
        "action": "monitor",
    }
    response = api.post(URL, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "action": "monitor",
        "matched": 2,
        "changed": 2,
        "skipped": 0,
        "message": "Started monitoring 2 of 2 matching models.",
    }
    assert monitored() == ["gpt-a", "gpt-b", "llama"]
    event = AuditEvent.objects.get(action="bulk_updated")
    assert event.actor_label == "api-token:alice"
    assert event.changes["filter"] == body["filter"]


def test_the_api_tags_models_by_search(api, fleet):
    body = {"filter": {"q": "GPT"}, "action": "add_tag", "tag": "Team:Search"}
    response = api.post(URL, body, format="json")
    assert response.json()["changed"] == 3
    assert tags.filter_models(LLMModel.objects.all(), ["team:search"]).count() == 3


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"action": "monitor"}, ["body", "filter"]),
        ({"filter": {}, "action": "explode"}, ["body", "action"]),
        ({"filter": {}}, ["body", "action"]),
        (
            {"filter": {"provider_id": "nope"}, "action": "monitor"},
            ["body", "filter", "provider_id"],
        ),
        (
            {
                "filter": {"provider_id": "3f2b6c1e-7a44-4c39-9f0e-2d2f5a0c1b11"},
                "action": "monitor",
            },
            ["body", "filter", "provider_id"],
        ),
        ({"filter": {"tag": "env:prod"}, "action": "monitor"}, ["body", "filter", "tag"]),
        ({"filter": {"tag": ["Bad Tag!"]}, "action": "monitor"}, ["body", "filter", "tag"]),
        (
            {"filter": {"monitored": "sometimes"}, "action": "monitor"},
            ["body", "filter", "monitored"],
        ),
        ({"filter": {"q": "x" * 300}, "action": "monitor"}, ["body", "filter", "q"]),
        ({"filter": {}, "action": "add_tag"}, ["body", "tag"]),
        ({"filter": {}, "action": "add_tag", "tag": "a b"}, ["body", "tag"]),
        ({"filter": {}, "action": "monitor", "tag": "x"}, ["body", "tag"]),
        ({"filter": [], "action": "monitor"}, ["body", "filter"]),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(api, fleet, body, loc):
    response = api.post(URL, body, format="json")
    assert response.status_code == 422, response.content
    assert loc in [entry["loc"] for entry in response.json()["detail"]]
    assert monitored() == ["gpt-b"]
    assert not AuditEvent.objects.filter(action="bulk_updated").exists()


@pytest.mark.parametrize(("role", "status"), [(roles.VIEWER, 403), (roles.OPERATOR, 403)])
def test_only_those_who_may_change_models_may_act_in_bulk(fleet, role, status):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    user = get_user_model().objects.create_user(f"u-{role}", password="pw-long-enough-1")
    roles.assign(user, role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(user=user, name='t')[1]}")
    response = client.post(URL, {"filter": {}, "action": "monitor"}, format="json")
    assert response.status_code == status
    assert "providers.change_llmmodel" in response.json()["detail"]
    assert monitored() == ["gpt-b"]


def test_anonymous_callers_get_401(anon, fleet):
    assert anon.post(URL, {"filter": {}, "action": "monitor"}, format="json").status_code == 401


def test_the_admin_actions_go_through_the_same_service(admin_client, fleet):
    chosen = LLMModel.objects.filter(model_id__in=["gpt-a", "llama"])
    response = admin_client.post(
        "/admin/providers/llmmodel/",
        {
            "action": "monitor",
            "_selected_action": [str(pk) for pk in chosen.values_list("pk", flat=True)],
        },
        follow=True,
    )
    assert "Started monitoring 2 of 2 matching models." in response.content.decode()
    assert monitored() == ["gpt-a", "gpt-b", "llama"]
    event = AuditEvent.objects.get(action="bulk_updated")
    assert event.changes["filter"] == {"admin_selection": 2}
