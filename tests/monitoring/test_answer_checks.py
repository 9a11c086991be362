"""Answer checks: rules, then real passes against the simulator's scripted answers, and the API."""

import time

import pytest

from arguslm.llm import answers
from arguslm.llm.prompts import get_pack
from monitoring import services
from monitoring.models import MonitoringConfig, MonitoringRun, UptimeCheck
from tests.factories import SECRET, make_account, make_model

ARITHMETIC = list(get_pack("arithmetic").answer_check)
JSON_ANSWER = list(get_pack("json_answer").answer_check)


@pytest.mark.parametrize(
    ("rules", "answer", "reason"),
    [
        (ARITHMETIC, "2 + 2 = 4", None),
        (ARITHMETIC, "Four.", None),
        (ARITHMETIC, "2 + 2 = 5", "the answer does not match"),
        (ARITHMETIC, "I’m sorry, but I can’t help with that.", "the answer is a refusal"),
        (JSON_ANSWER, '{"status": "ok", "items": [1, 2, 3]}', None),
        (JSON_ANSWER, '```json\n{"status": "ok", "items": []}\n```', None),
        (JSON_ANSWER, '{"status": "ok", "items": [1, 2, 3]', "the answer: not JSON"),
        (JSON_ANSWER, '{"status": "down", "items": []}', "does not fit the schema ('ok' was"),
        (JSON_ANSWER, "[" * 100_000, "the answer: not JSON"),
        ([{"kind": "contains", "text": "PARIS"}], "It is Paris.", None),
        ([{"kind": "contains", "text": "PARIS", "case_sensitive": True}], "Paris", "contain"),
        ([], "", None),
    ],
)
def test_rules_pass_and_fail_with_a_reason(rules, answer, reason):
    assert answers.problems(rules) == []
    found = answers.failure(rules, answer)
    assert found == reason if reason is None else reason in found


WEATHER = list(get_pack("tool_call").answer_check)


@pytest.mark.parametrize(
    ("answer", "tool", "reason"),
    [
        ('{"city": "Paris"}', "get_weather", None),
        ("It is sunny in Paris.", None, "answered in text instead of calling get_weather"),
        ('{"city": "Paris"}', "get_time", "the model called get_time, not get_weather"),
        ('{"town": "Paris"}', "get_weather", "the get_weather call's arguments: JSON that does"),
        ('{"city": "Paris"', "get_weather", "the get_weather call's arguments: not JSON"),
    ],
)
def test_a_tool_call_rule_wants_the_call_with_fitting_arguments(answer, tool, reason):
    found = answers.failure(WEATHER, answer, tool)
    assert found == reason if reason is None else reason in found


def test_a_pattern_that_backtracks_in_python_runs_in_linear_time():
    rules = [{"kind": "regex", "pattern": "^(a+)+$"}]
    answer = "a" * 30_000 + "!"  # Python's re would take longer than the universe's age
    started = time.perf_counter()
    assert answers.failure(rules, answer) is not None
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ({"kind": "regex"}, "a list of rules"),
        ([{"kind": "regex", "pattern": "(a)\\1"}], "not an RE2 pattern: invalid escape"),
        ([{"kind": "regex", "pattern": "x" * 1001}], "1 to 1000 characters"),
        ([{"kind": "json", "schema": {"type": "string", "pattern": "a+"}}], "may not use pattern"),
        ([{"kind": "json", "schema": {"type": 7}}], "not a valid JSON Schema"),
        ([{"kind": "contains", "text": "x", "regex": "y"}], "unknown keys regex"),
        ([{"kind": "sentiment"}], "kind must be one of"),
        ([{"kind": "not_refusal"}] * 11, "At most 10 rules"),
    ],
)
def test_bad_rules_are_named(rules, problem):
    assert problem in " ".join(answers.problems(rules))


# --- real passes ----------------------------------------------------------------------------------


def run_pass(pack: str) -> MonitoringRun:
    config = MonitoringConfig.get()
    config.prompt_pack = pack
    config.save()
    run = MonitoringRun.objects.create()
    services.start_pass(run_id=run.id)
    run.refresh_from_db()
    assert (run.status, run.prompt_pack) == ("completed", pack)
    return run


@pytest.mark.django_db
def test_a_wrong_answer_is_degraded_bad_answer_in_the_next_pass(llmsim, sync_tasks):
    account = make_account(credentials={"base_url": f"{llmsim}/v1", "api_key": SECRET})
    right = make_model(account, model_id="sim/ttft=5/itl=1/answer=four")
    wrong = make_model(account, model_id="sim/ttft=5/itl=1/answer=five")
    refusing = make_model(account, model_id="sim/ttft=5/itl=1/answer=refusal")
    broken = make_model(account, model_id="sim/ttft=5/itl=1/answer=brokenjson")
    run_pass("arithmetic")
    checks = {c.model_id: c for c in UptimeCheck.objects.all()}
    assert (checks[right.pk].status, checks[right.pk].error_type) == ("up", None)
    assert checks[right.pk].answer_excerpt == "2 + 2 = 4"
    assert (checks[wrong.pk].status, checks[wrong.pk].error_type) == ("degraded", "bad_answer")
    assert checks[wrong.pk].error.startswith("the answer does not match")
    assert checks[wrong.pk].answer_excerpt == "2 + 2 = 5"
    assert checks[wrong.pk].ttft_ms is not None  # it answered: the timings are kept
    assert checks[refusing.pk].error == "the answer is a refusal"

    UptimeCheck.objects.all().delete()
    run_pass("json_answer")
    check = UptimeCheck.objects.get(model=broken)
    assert (check.status, check.error_type) == ("degraded", "bad_answer")
    assert "not JSON" in check.error


@pytest.mark.django_db
def test_the_tool_call_pack_sends_its_tool_and_checks_the_call(llmsim, sync_tasks):
    account = make_account(credentials={"base_url": f"{llmsim}/v1", "api_key": SECRET})
    calling = make_model(account, model_id="sim/ttft=5/itl=1/answer=weather/tool=1")
    texting = make_model(account, model_id="sim/ttft=5/itl=1/answer=four")
    run_pass("tool_call")
    checks = {c.model_id: c for c in UptimeCheck.objects.all()}
    # The simulator calls the first function the request offers: get_weather was sent.
    assert (checks[calling.pk].status, checks[calling.pk].error) == ("up", None)
    assert checks[calling.pk].answer_excerpt == '{"city": "Paris"}'
    assert checks[texting.pk].status == "degraded"
    assert checks[texting.pk].error == ("the model answered in text instead of calling get_weather")


@pytest.mark.django_db
def test_a_model_s_own_check_replaces_the_pack_s(llmsim, sync_tasks, api):
    account = make_account(credentials={"base_url": f"{llmsim}/v1", "api_key": SECRET})
    model = make_model(account, model_id="sim/ttft=5/itl=1/answer=five")
    rules = [{"kind": "contains", "text": "= 5"}]
    response = api.patch(f"/api/v1/models/{model.pk}", {"answer_check": rules}, format="json")
    assert response.status_code == 200 and response.json()["answer_check"] == rules
    run_pass("arithmetic")
    assert UptimeCheck.objects.get().status == "up"


@pytest.mark.django_db
def test_the_api_refuses_a_bad_answer_check_and_lists_the_packs_checks(api):
    model = make_model()
    bad = [{"kind": "regex", "pattern": "(?<=a)b"}]  # a look-behind: not RE2
    response = api.patch(f"/api/v1/models/{model.pk}", {"answer_check": bad}, format="json")
    assert response.status_code == 422
    assert "not an RE2 pattern" in str(response.json())
    model.refresh_from_db()
    assert model.answer_check is None
    packs = {p["id"]: p for p in api.get("/api/v1/monitoring/prompt-packs").json()}
    assert packs["arithmetic"]["answer_check"] == ARITHMETIC
    assert packs["health_check"]["answer_check"] == []
    assert packs["tool_call"]["tools"][0]["function"]["name"] == "get_weather"
