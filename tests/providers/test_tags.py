"""Tags on models and accounts: the rules of a tag, and filters over both sides."""

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
