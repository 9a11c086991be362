"""Saved benchmarks over real HTTP against the simulator: the schedule starts them unattended,
and a benchmark_regression rule alerts once on a slowed model, recovers when it is fast again,
and stays quiet over 20 runs of an unchanged one."""

from datetime import timedelta

import pytest

from alerts.models import Alert, AlertRule, Incident
from benchmarks import engine, saved
from benchmarks.models import BenchmarkRun, BenchmarkTemplate
from benchmarks.saved_api import BenchmarkTemplateSerializer
from tests.factories import make_account, make_benchmark_run, make_model

# 200 ms to the first token, then 300: far beyond a busy machine's few tens of ms of noise.
FAST, SLOW = "sim/ttft=200/itl=5/n=10", "sim/ttft=300/itl=5/n=10"


def save_template(model, *, name="Nightly", cron="", **spec) -> BenchmarkTemplate:
    """Through the API's serializer, as every path saves one."""
    body = {
        "model_ids": [str(model.pk)],
        "prompt_pack": "health_check",
        "num_runs": 10,
        "concurrency": 4,
        "warmup_runs": 1,
        **spec,
    }
    serializer = BenchmarkTemplateSerializer(data={"name": name, "cron": cron, "spec": body})
    assert serializer.is_valid(), serializer.errors
    return saved.save(**serializer.validated_data)


@pytest.fixture
def queued(monkeypatch):
    """Record django-q2 enqueues instead of running the engine (the test runs it)."""
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: calls.append(a) or "id")
    return calls


def regression_rule(**config) -> AlertRule:
    return AlertRule.objects.create(
        name="Slower than the baseline",
        rule_type=AlertRule.RuleType.BENCHMARK_REGRESSION,
        threshold_config={"metric": "ttft", "threshold_percent": 10, **config},
    )


def run_now(template: BenchmarkTemplate) -> BenchmarkRun:
    """Start a run of the template; with sync_tasks the worker's path runs inline (the engine,
    then the alerts' evaluation of the finished run)."""
    run = saved.start(template, triggered_by="user")
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.COMPLETED, run.error
    return run


# --- the schedule ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_benchmark_starts_once_skips_while_running_and_runs_unattended(llmsim, queued):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    model = make_model(account, model_id="sim/ttft=5/itl=1/n=3")
    template = save_template(model, cron="* * * * *", num_runs=2, concurrency=1)
    due = template.next_run_at
    assert due is not None and due.second == 0

    assert saved.run_due(due - timedelta(seconds=1)) == []  # not yet
    started = saved.run_due(due)
    assert len(started) == 1
    run = started[0]
    assert (run.template_id, run.triggered_by, run.name) == (template.pk, "schedule", "Nightly")
    template.refresh_from_db()
    assert template.next_run_at == due + timedelta(minutes=1)

    # Its run is still pending: the next minute starts nothing, and moves on.
    assert saved.run_due(due + timedelta(minutes=1)) == []
    template.refresh_from_db()
    assert template.next_run_at == due + timedelta(minutes=2)
    assert BenchmarkRun.objects.count() == 1

    assert engine.execute(run.id) == "completed"
    run.refresh_from_db()
    assert run.results.count() == 2 and run.template == template
    assert len(saved.run_due(due + timedelta(minutes=2))) == 1  # done: the next one starts


@pytest.mark.django_db
def test_a_template_without_a_next_run_gets_one_and_a_paused_one_never_starts(queued):
    model = make_model()
    template = save_template(model, cron="0 3 * * *")
    BenchmarkTemplate.objects.filter(pk=template.pk).update(next_run_at=None)
    assert saved.run_due() == []
    template.refresh_from_db()
    assert (template.next_run_at.hour, template.next_run_at.minute) == (3, 0)

    paused = saved.save(template=template, enabled=False)
    assert paused.next_run_at is None
    assert saved.run_due(template.created_at + timedelta(days=2)) == []
    assert queued == []


@pytest.mark.django_db
def test_a_scheduled_start_whose_model_was_switched_off_is_recorded_as_a_failed_run(queued):
    model = make_model(custom_name="Fast one")
    template = save_template(model, cron="* * * * *")
    model.enabled_for_benchmark = False
    model.save()
    assert saved.run_due(template.next_run_at) == []
    failed = BenchmarkRun.objects.get()
    assert (failed.status, failed.template, failed.triggered_by) == ("failed", template, "schedule")
    assert "cannot start" in failed.error and "not enabled for benchmarks" in failed.error
    assert queued == []


@pytest.mark.django_db
def test_a_scheduled_start_at_the_benchmark_cap_is_tried_again_the_next_minute(queued, settings):
    settings.MAX_ACTIVE_BENCHMARKS = 1
    model = make_model()
    template = save_template(model, cron="0 3 * * *")
    due = template.next_run_at
    make_benchmark_run(model, status=BenchmarkRun.Status.RUNNING, heartbeat_at=due)
    assert saved.run_due(due) == []
    template.refresh_from_db()
    assert template.next_run_at == due  # still due


# --- the baseline ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_a_completed_run_of_the_template_can_be_its_baseline():
    model = make_model()
    template, other = save_template(model), save_template(model, name="Other")
    mine = make_benchmark_run(model, template=template)
    theirs = make_benchmark_run(model, template=other)
    running = make_benchmark_run(model, template=template, status="running")
    with pytest.raises(saved.errors.Invalid, match="not started from the saved benchmark"):
        saved.set_baseline(template, theirs)
    with pytest.raises(saved.errors.Conflict, match="completed"):
        saved.set_baseline(template, running)
    assert saved.set_baseline(template, mine).baseline_run == mine


# --- regressions ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_slowed_model_raises_one_regression_alert_with_its_interval_then_recovers(
    llmsim, sync_tasks
):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"}, display_name="Sim prod")
    model = make_model(account, model_id=FAST, custom_name="Fast model")
    regression_rule()
    template = save_template(model)
    baseline = run_now(template)
    assert not Alert.objects.exists()  # no baseline yet: nothing to judge
    saved.set_baseline(template, baseline)

    model.model_id = SLOW  # the same model, 100 ms slower to its first token
    model.save()
    run_now(template)
    alert = Alert.objects.get()
    assert alert.kind == "fired" and alert.model == model
    assert alert.message.startswith("Fast model (Sim prod): TTFT p50 +")
    assert f"vs baseline run “Nightly” of {baseline.created_at:%Y-%m-%d}" in alert.message
    change = saved.regressions(
        BenchmarkRun.objects.filter(template=template).first(), metric="ttft", threshold_percent=10
    )[0].difference
    assert str(change) in alert.message  # "+45 % [+41, +49]"
    assert 0.2 < change.low <= change.change <= change.high < 0.8  # 200 → 300 ms: +50 %

    run_now(template)  # still slow: the same incident, no second alert
    assert Alert.objects.count() == 1
    assert Incident.objects.get().is_open

    model.model_id = FAST
    model.save()
    run_now(template)
    recovered = Alert.objects.filter(kind="recovered").get()
    assert "Fast model (Sim prod): TTFT p50" in recovered.message
    assert not Incident.objects.get().is_open


@pytest.mark.django_db(transaction=True)
def test_an_unchanged_model_raises_no_regression_alert_over_20_runs(llmsim, sync_tasks):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    # 8 requests per run, all at once: about 6 s for the 21 runs. The threshold is above this
    # machine's run-to-run spread: with four test suites sharing its two cores, every run of
    # the unchanged model read +11 to +15 % (a 40 ms TTFT even "+101 % [+24, +175]"). The
    # interval covers the spread within runs, not between them (README).
    model = make_model(account, model_id="sim/ttft=200/itl=2/n=5")
    regression_rule(threshold_percent=25)
    template = save_template(model, num_runs=8, concurrency=8)
    saved.set_baseline(template, run_now(template))
    changes = []
    for _ in range(20):
        run = run_now(template)
        changes += saved.regressions(run, metric="ttft", threshold_percent=25)
    assert len(changes) == 20
    assert [str(c.difference) for c in changes if c.failing] == []
    assert not Alert.objects.exists() and not Incident.objects.exists()


@pytest.mark.django_db
def test_a_run_is_judged_only_against_another_completed_run_of_its_template():
    model = make_model()
    template = save_template(model)
    baseline = make_benchmark_run(model, template=template)
    assert saved.regressions(baseline, metric="ttft", threshold_percent=10) == []  # no baseline
    saved.set_baseline(template, baseline)
    assert saved.regressions(baseline, metric="ttft", threshold_percent=10) == []  # itself
    failed = make_benchmark_run(model, template=template, status="failed")
    assert saved.regressions(failed, metric="ttft", threshold_percent=10) == []


@pytest.mark.django_db(transaction=True)
def test_a_saved_sweep_is_judged_per_load_level(llmsim, sync_tasks):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    model = make_model(account, model_id="sim/ttft=60/itl=2/n=5/cap=2/over=40")
    regression_rule()
    template = save_template(
        model, profile="concurrency_sweep", load={"levels": [1, 2, 4], "step_requests": 8}
    )
    saved.set_baseline(template, run_now(template))
    # The endpoint now slows beyond one stream: steps 1 and 2 as before, step 4 … slower still.
    model.model_id = "sim/ttft=60/itl=2/n=5/cap=1/over=40"
    model.save()
    run = run_now(template)

    [row] = [r for r in saved.regressions(run, metric="ttft", threshold_percent=10)]
    assert row.failing
    # The worst level: at 4 streams the baseline was past its own capacity too.
    assert " at 2 streams vs baseline run " in row.message
    alert = Alert.objects.get()
    assert alert.message == row.message
    levels = [r["level"] for r in saved.comparison(template.baseline_run, run)]
    assert levels == [1, 2, 4]
