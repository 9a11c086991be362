"""Fingerprints and drift: baselines, model_changed alerts over real passes, re-acceptance."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertRule, Incident
from monitoring import drift, services
from monitoring.models import ModelBaseline, MonitoringRun, UptimeCheck
from tests.factories import SECRET, make_account, make_model, uptime_check

pytestmark = pytest.mark.django_db


def run_pass() -> MonitoringRun:
    run = MonitoringRun.objects.create()
    services.start_pass(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "completed"
    return run


@pytest.fixture
def rule():
    return AlertRule.objects.create(name="Changed", rule_type=AlertRule.RuleType.MODEL_CHANGED)


def test_checks_record_the_model_s_fingerprint(llmsim, sync_tasks):
    account = make_account(credentials={"base_url": f"{llmsim}/v1", "api_key": SECRET})
    model = make_model(account, model_id="sim/ttft=5/itl=1/answer=four/served=alt")
    run_pass()
    check = UptimeCheck.objects.get()
    assert check.served_model == "sim/ttft=5/itl=1/answer=four/served=alt-v2"
    assert (check.answer_chars, check.refusal) == (len("2 + 2 = 4"), False)
    assert check.answer_hash == drift.answers.answer_hash("2  +  2 = 4")  # normalised
    assert not ModelBaseline.objects.filter(model=model).exists()  # 1 answer: too few


def test_sampling_noise_raises_nothing_over_100_passes(llmsim, sync_tasks, rule):
    account = make_account(credentials={"base_url": f"{llmsim}/v1", "api_key": SECRET})
    model = make_model(account, model_id="sim/ttft=1/itl=0/answer=count/vary=3")
    for _ in range(100):
        run_pass()
    answers = set(UptimeCheck.objects.values_list("answer_hash", flat=True))
    assert len(answers) == 4  # the simulator's seeded variation: 0 to 3 tokens dropped
    assert ModelBaseline.objects.get(model=model).checks == drift.BASELINE_CHECKS
    assert not Alert.objects.exists()
    assert not Incident.objects.exists()


def test_a_new_returned_model_raises_one_alert_that_recovers_after_reacceptance(
    llmsim, sync_tasks, rule, api
):
    account = make_account(credentials={"base_url": f"{llmsim}/v1", "api_key": SECRET})
    model = make_model(account, model_id="sim/ttft=1/itl=0/answer=four")
    for _ in range(drift.BASELINE_CHECKS):
        run_pass()
    assert ModelBaseline.objects.get(model=model).served_models == [model.model_id]
    # The provider now serves another model behind the same name.
    model.model_id = "sim/ttft=1/itl=0/answer=four/served=alt"
    model.save()
    for _ in range(3):
        run_pass()
    fired = Alert.objects.get()
    assert fired.kind == "fired"
    assert "returned model: sim/ttft=1/itl=0/answer=four → sim/ttft=1/itl=0/answer=" in (
        fired.message
    )
    page = api.get(f"/api/v1/monitoring/models/{model.pk}/baseline").json()
    assert [c["what"] for c in page["changes"]] == ["returned model"]

    accepted = api.post(f"/api/v1/monitoring/models/{model.pk}/baseline")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["baseline"]["accepted_by"] == "alice"
    assert accepted.json()["changes"] == []
    run_pass()
    assert [a.kind for a in Alert.objects.order_by("created_at")] == ["fired", "recovered"]


def test_reacceptance_needs_enough_answers(api):
    model = make_model()
    response = api.post(f"/api/v1/monitoring/models/{model.pk}/baseline")
    assert response.status_code == 409
    assert "needs 10 answered checks" in response.json()["detail"]
    assert api.post(f"/api/v1/monitoring/models/{'0' * 8}/baseline").status_code == 422


def stored(model, answers: list[str], *, hours_ago: int) -> None:
    """Answered checks of the health_check pack, oldest first, ending ``hours_ago``."""
    run = MonitoringRun.objects.create(prompt_pack="health_check", status="completed")
    end = timezone.now() - timedelta(hours=hours_ago)
    for index, answer in enumerate(answers):
        check = uptime_check(model, run=run)
        check.created_at = end - timedelta(minutes=len(answers) - index)
        check.answer_hash = drift.answers.answer_hash(answer)
        check.answer_chars = len(answer)
        check.refusal = drift.answers.is_refusal(answer)
        check.save()


@pytest.mark.parametrize(
    ("later", "what"),
    [
        (["The answer is 4."] * 4 + ["2 + 2 = 4"] * 6, []),  # 6 of 10 known: noise
        (["The answer is 4."] * 6 + ["2 + 2 = 4"] * 4, ["answers"]),
        (["4"] * 10, ["answers", "answer length"]),
        (["I'm sorry, but I can't help with that."] * 10, ["answers", "answer length", "refusals"]),
    ],
)
def test_answers_that_move_away_from_the_baseline_are_changes(later, what):
    model = make_model()
    stored(model, ["2 + 2 = 4"] * 8 + ["2 + 2 equals 4"] * 2, hours_ago=2)
    baseline = drift.accept(model, pack="health_check")
    stored(model, later, hours_ago=0)
    latest = drift.answered(model.pk, "health_check", drift.WINDOW)
    assert [c.what for c in drift.changes(baseline, latest)] == what


def test_the_model_page_shows_the_change_and_accepts_the_new_answers(logged_in):
    model = make_model()
    stored(model, ["2 + 2 = 4"] * 10, hours_ago=2)
    drift.accept(model, pack="health_check")
    stored(model, ["4"] * 10, hours_ago=0)
    page = logged_in.get(f"/monitoring/models/{model.pk}").content.decode()
    assert "Changed since the baseline" in page and "10 of the last 10 new" in page
    response = logged_in.post(f"/monitoring/models/{model.pk}/baseline")
    assert response.status_code == 302
    page = logged_in.get(f"/monitoring/models/{model.pk}").content.decode()
    assert "the latest answers match the baseline" in page
    assert "accepted by alice" in page


def test_the_uptime_api_gives_each_check_s_fingerprint(llmsim, sync_tasks, api):
    account = make_account(credentials={"base_url": f"{llmsim}/v1", "api_key": SECRET})
    make_model(account, model_id="sim/ttft=1/itl=0/answer=refusal")
    run_pass()
    (check,) = api.get("/api/v1/monitoring/uptime").json()["items"]
    assert check["served_model"] == "sim/ttft=1/itl=0/answer=refusal"
    assert check["refusal"] is True
    assert check["answer_chars"] == len("I'm sorry, but I can't help with that request.")
    assert len(check["answer_hash"]) == 16 and check["system_fingerprint"] is None
