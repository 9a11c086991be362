"""Tags on models and accounts: the rules of a tag, and filters over both sides."""

import re

import pytest

from providers import tags
from providers.models import LLMModel
from tests.factories import make_account, make_model


@pytest.mark.django_db
def test_a_model_matches_its_own_tags_and_its_accounts():
    prod, staging = make_account(display_name="Prod"), make_account(display_name="Staging")
    tags.set_tags(prod, ["env:prod"])
    first = make_model(prod, model_id="m1")
    second = make_model(staging, model_id="m2")
    make_model(staging, model_id="m3")
    tags.set_tags(second, ["env:prod", "Team:X "])
    tags.set_tags(first, ["team:x"])

    def found(names):
        return sorted(m.model_id for m in tags.filter_models(LLMModel.objects.all(), names))

    assert found(["env:prod"]) == ["m1", "m2"]
    assert found(["env:prod", "team:x"]) == ["m1", "m2"]  # every tag, from either side
    assert found([]) == ["m1", "m2", "m3"]
    assert tags.filter_models(LLMModel.objects.all(), ["env:prod"]).count() == 2  # no repeats


@pytest.mark.parametrize("bad", ["", "Bad Tag!", "a" * 65, "env:", ":prod", "x:y:z!", 3])
def test_a_malformed_tag_is_refused_with_a_reason(bad):
    with pytest.raises(tags.TagError):
        tags.clean(bad)


def test_tags_are_cleaned_and_deduplicated():
    assert tags.clean_all([" Env:Prod", "env:prod", "critical", "region:eu-west/1"]) == [
        "env:prod",
        "critical",
        "region:eu-west/1",
    ]
    with pytest.raises(tags.TagError):
        tags.clean_all("env:prod")  # a string, not a list


def test_typed_tags_split_on_commas_and_spaces():
    assert tags.split(" env:prod, team:search  critical,,") == [
        "env:prod",
        "team:search",
        "critical",
    ]
    assert tags.split("") == []


def test_prometheus_labels_take_the_models_own_value_over_its_accounts():
    own = ["env:staging", "region:us", "region:eu", "critical"]
    inherited = ["env:prod", "team:infra", "cost-centre.id:42", "critical", "2fa"]
    assert tags.labels(own, inherited) == {
        "tag_env": "staging",
        "tag_region": "eu,us",
        "tag_critical": "true",
        "tag_team": "infra",
        "tag_cost_centre_id": "42",
        "tag_2fa": "true",
    }


def test_a_key_value_tag_names_its_label_over_a_plain_tag_of_the_same_side():
    assert tags.labels(["env", "env:prod"], []) == {"tag_env": "prod"}
    assert tags.labels(["env"], ["env:prod"]) == {"tag_env": "true"}  # the model's own wins


@pytest.mark.parametrize("key", ["env", "9lives", "a.b-c_d", "x" * 60])
def test_a_label_name_is_a_valid_prometheus_name_for_any_tag_key(key):
    name = tags.label_name(tags.clean(key))
    assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name) and not name.startswith("__")
