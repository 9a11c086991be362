"""Rules fire and recover on real monitoring passes against the simulator."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, Incident
from monitoring import services
from monitoring.models import MonitoringRun, UptimeCheck
from tests.factories import make_account, make_model, make_rule

pytestmark = pytest.mark.django_db

HEALTHY, BROKEN, SLOW = "sim/ttft=5/itl=1/n=3", "sim/status=500", "sim/ttft=300/itl=1/n=3"


@pytest.fixture(autouse=True)
def inline_tasks(monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def sim(llmsim):
    return make_account(credentials={"base_url": f"{llmsim}/v1"})


def monitor() -> MonitoringRun:
    run = MonitoringRun.objects.create()
    services.start_pass(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "completed"
    return run


def set_model(model, model_id):
    model.model_id = model_id
    model.save()


def test_an_outage_raises_one_alert_however_long_it_lasts_and_recovery_closes_it(sim):
    r = make_rule()
    model = make_model(sim, model_id=BROKEN)
    monitor()
    fired = Alert.objects.get()
    assert fired.kind == "fired" and fired.model == model and "is down" in fired.message
    fired.acknowledged = True
    fired.save()
    monitor()
    monitor()
    assert Alert.objects.count() == 1  # acknowledged or not, still one alert
    assert Incident.objects.get().is_open

    set_model(model, HEALTHY)
    monitor()
    recovered = Alert.objects.filter(kind="recovered").get()
    assert recovered.incident == fired.incident and "Recovered after" in recovered.message
    incident = Incident.objects.get()
    assert not incident.is_open
    assert [e.event for e in incident.events.all()] == ["opened", "resolved"]
    assert r.states.get().ok_streak == 1


def test_a_new_outage_after_recovery_opens_a_new_incident(sim):
    make_rule()
    model = make_model(sim, model_id=BROKEN)
    monitor()
    set_model(model, HEALTHY)
    monitor()
    set_model(model, BROKEN)
    monitor()
    assert Incident.objects.count() == 2
    assert list(Alert.objects.order_by("created_at").values_list("kind", flat=True)) == [
        "fired",
        "recovered",
        "fired",
    ]


def test_specific_model_down_watches_only_its_target(sim):
    target = make_model(sim, model_id=f"{BROKEN}/seed=1")
    make_model(sim, model_id=f"{BROKEN}/seed=2")
    make_rule(rule_type="specific_model_down", target_model=target)
    monitor()
    assert list(Alert.objects.values_list("model", flat=True)) == [target.id]


def test_unavailable_everywhere_fires_only_when_every_deployment_is_down(sim, llmsim):
    other = make_account(credentials={"base_url": f"{llmsim}/v1"}, display_name="Second")
    a = make_model(sim, model_id=f"{BROKEN}/seed=31")
    b = make_model(other, model_id=f"{HEALTHY}/seed=31")
    make_rule(rule_type="model_unavailable_everywhere", target_model_name="seed=31")
    monitor()
    assert not Alert.objects.exists()  # one deployment still up

    set_model(b, f"{BROKEN}/seed=31")
    monitor()
    alert = Alert.objects.get()
    assert alert.model is None and "unavailable across all 2" in alert.message

    set_model(a, f"{HEALTHY}/seed=31")
    monitor()
    assert Alert.objects.filter(kind="recovered").count() == 1


def test_consecutive_check_settings_suppress_flapping(sim):
    make_rule(consecutive_failures=2, consecutive_recoveries=2)
    model = make_model(sim, model_id=BROKEN)
    for model_id in (BROKEN, HEALTHY, BROKEN, HEALTHY):
        set_model(model, model_id)
        monitor()
    assert not Alert.objects.exists()
    set_model(model, BROKEN)
    monitor()
    monitor()
    assert Alert.objects.get().kind == "fired"
    set_model(model, HEALTHY)
    monitor()
    assert Incident.objects.get().is_open  # one healthy pass is not enough
    monitor()
    assert not Incident.objects.get().is_open


def test_the_flaky_demo_model_is_tamed_by_consecutive_failures(sim):
    make_rule(consecutive_failures=3)
    make_model(sim, model_id="flaky/ttft=5/itl=1/n=2")
    for _ in range(8):
        monitor()
    statuses = list(UptimeCheck.objects.order_by("created_at").values_list("status", flat=True))
    assert "down" in statuses and "up" in statuses
    longest = max(
        len(run) for run in "".join("d" if s == "down" else "u" for s in statuses).split("u")
    )
    assert Alert.objects.exists() == (longest >= 3)


def test_performance_degradation_against_an_absolute_latency(sim):
    make_rule(
        rule_type="performance_degradation",
        threshold_config={
            "metric": "latency",
            "comparison": "absolute",
            "threshold": 150,
            "min_samples": 1,
            "window_minutes": 60,
        },
    )
    model = make_model(sim, model_id=SLOW)
    monitor()
    alert = Alert.objects.get()
    assert "LATENCY" in alert.message and "past 150 ms" in alert.message
    set_model(model, HEALTHY)
    monitor()  # window median of [slow, fast] is still above the threshold
    assert Alert.objects.count() == 1
    monitor()  # median of [slow, fast, fast] is fast
    assert Alert.objects.filter(kind="recovered").exists()


def test_performance_degradation_against_the_models_own_baseline(sim):
    model = make_model(sim, model_id=SLOW)
    past = timezone.now() - timedelta(hours=2)
    UptimeCheck.objects.bulk_create(
        [
            UptimeCheck(
                model=model,
                status="up",
                ttft_ms=40,
                latency_ms=60,
                created_at=past + timedelta(minutes=i),
            )
            for i in range(10)
        ]
    )
    make_rule(
        rule_type="performance_degradation",
        threshold_config={
            "metric": "ttft",
            "comparison": "baseline",
            "factor": 2,
            "min_samples": 1,
            "window_minutes": 5,
        },
    )
    monitor()
    assert "past 80 ms" in Alert.objects.get().message


def test_performance_degradation_on_error_rate(sim):
    make_rule(
        rule_type="performance_degradation",
        threshold_config={
            "metric": "error_rate",
            "threshold": 0.5,
            "min_samples": 2,
            "window_minutes": 60,
        },
    )
    make_model(sim, model_id=BROKEN)
    monitor()
    assert not Alert.objects.exists()  # one sample is not enough evidence
    monitor()
    assert "error rate 100%" in Alert.objects.get().message


def test_disabled_rules_are_not_evaluated(sim):
    make_rule(enabled=False)
    make_model(sim, model_id=BROKEN)
    monitor()
    assert not Alert.objects.exists()


def test_evaluation_is_queued_after_the_pass_not_run_inside_it(sim, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: queued.append(a))
    make_rule()
    make_model(sim, model_id=BROKEN)
    run = MonitoringRun.objects.create()
    services.start_pass(run_id=run.id)
    ((name, shard_id),) = queued
    assert name == "monitoring.tasks.probe_shard"
    services.probe_shard(shard_id=shard_id)
    assert queued[-1] == ("alerts.tasks.evaluate_run", str(run.id))
    assert not Alert.objects.exists()  # the pass itself raised nothing
