"""A whole monitoring pass over real HTTP against the simulator, and its guards."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import services
from monitoring.models import MonitoringConfig, MonitoringRun, UptimeCheck
from tests.factories import make_account, make_model

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_pass() -> MonitoringRun:
    run = MonitoringRun.objects.create()
    services.start_pass(run_id=run.id)
    run.refresh_from_db()
    return run


@pytest.mark.django_db(transaction=True)  # checks are written from the shard's writer thread
def test_a_pass_probes_every_monitored_model_and_classifies_each_check(llmsim, sync_tasks):
    config = MonitoringConfig.get()
    config.timeout_seconds = 1
    config.save()
    sim = make_account(credentials={"base_url": f"{llmsim}/v1", "api_key": "sk-test"})
    expected = {
        "sim/ttft=20/itl=2/n=5": ("up", None),
        "sim/ttft=400/itl=2/n=5": ("degraded", None),  # slower than its 150 ms threshold
        "sim/status=429": ("degraded", "rate_limited"),
        "sim/ttft=10/stall=0": ("down", "timeout"),
        "sim/status=401": ("down", "auth"),
        "sim/status=500": ("down", "server_error"),
    }
    for model_id in expected:
        make_model(sim, model_id=model_id, degraded_ttft_ms=150 if "ttft=400" in model_id else None)
    dead = make_account(credentials={"base_url": f"http://127.0.0.1:{closed_port()}/v1"})
    make_model(dead, model_id="anything")
    make_model(sim, model_id="sim/n=2/ttft=1", enabled_for_monitoring=False)
    make_model(
        make_account(enabled=False, credentials={"base_url": f"{llmsim}/v1"}), model_id="sim/n=2"
    )

    run = run_pass()

    assert run.status == "completed"
    assert (run.total, run.up, run.degraded, run.down) == (7, 1, 2, 4)
    checks = {c.model.model_id: c for c in UptimeCheck.objects.select_related("model")}
    assert set(checks) == {*expected, "anything"}
    for model_id, (status, error_type) in expected.items():
        assert (checks[model_id].status, checks[model_id].error_type) == (status, error_type), (
            model_id
        )
    assert (checks["anything"].status, checks["anything"].error_type) == ("down", "connection")
    up = checks["sim/ttft=20/itl=2/n=5"]
    assert up.output_tokens == 5 and up.token_source == "usage" and up.ttft_ms >= 20
    assert up.tps_excluding_ttft > 0 and up.run_id == run.id
    assert MonitoringConfig.get().last_run_at is not None


@pytest.mark.django_db(transaction=True)
def test_checks_are_stored_as_probes_complete_not_at_the_end_of_the_shard(llmsim, sync_tasks):
    """A worker killed mid-shard keeps what it finished: at most about a second of probes."""
    import threading
    import time

    sim = make_account(credentials={"base_url": f"{llmsim}/v1"})
    fast = make_model(sim, model_id="sim/ttft=10/itl=1/n=2")
    make_model(sim, model_id="sim/ttft=4000/itl=1/n=2")
    run = MonitoringRun.objects.create()
    worker = threading.Thread(target=services.start_pass, kwargs={"run_id": run.id})
    worker.start()
    try:
        seen = None
        deadline = time.monotonic() + 3  # the fast probe ends at once, the slow one after 4 s
        while seen is None and time.monotonic() < deadline:
            stored = list(UptimeCheck.objects.filter(run=run).values_list("model_id", flat=True))
            seen = stored or None
            time.sleep(0.05)
        assert seen == [fast.pk]
        midway = MonitoringRun.objects.get(pk=run.pk)
        assert (midway.status, midway.up, midway.shards_done) == ("running", 1, 0)
    finally:
        worker.join(timeout=30)
    run.refresh_from_db()
    assert (run.status, run.up, run.shards_done, run.checks.count()) == ("completed", 2, 1, 2)


@pytest.mark.django_db(transaction=True)  # checks are written from the shard's writer thread
def test_probes_run_concurrently_not_one_after_another(llmsim, sync_tasks):
    sim = make_account(credentials={"base_url": f"{llmsim}/v1"})
    for i in range(6):
        make_model(sim, model_id=f"sim/ttft=400/itl=1/n=2/seed={i}")
    run = run_pass()
    assert run.up == 6
    assert run.duration_ms < 6 * 400  # sequential probing would take at least 2.4 s


def test_a_pass_is_skipped_while_another_is_running(sync_tasks):
    busy = MonitoringRun.objects.create(status="running", heartbeat_at=timezone.now())
    run = run_pass()
    assert run.status == "skipped"
    assert str(busy.id) in run.message


def test_a_pass_left_behind_by_a_killed_worker_is_closed_and_the_next_one_runs(sync_tasks):
    old = timezone.now() - timedelta(hours=1)
    dead = MonitoringRun.objects.create(status="running", started_at=old, heartbeat_at=old)
    run = run_pass()
    dead.refresh_from_db()
    assert dead.status == "failed" and "stopped responding" in dead.message
    assert run.status == "completed"


def test_a_pass_with_no_monitored_models_completes_empty(sync_tasks):
    run = run_pass()
    assert (run.status, run.total) == ("completed", 0)


def test_retention_prunes_only_checks_older_than_the_setting(db):
    model = make_model()
    now = timezone.now()
    for days in (1, 29, 31, 40):
        UptimeCheck.objects.create(model=model, status="up", created_at=now - timedelta(days=days))
    assert services.prune_checks(now=now) == 2
    assert UptimeCheck.objects.count() == 2


def test_a_benchmark_only_pack_stored_past_the_api_is_not_probed_with(llmsim, sync_tasks):
    MonitoringConfig.objects.create(prompt_pack="long_32k")  # as the admin could store it
    make_model(make_account(credentials={"base_url": f"{llmsim}/v1"}), model_id="sim/n=2/ttft=1")

    run_pass()

    check = UptimeCheck.objects.get()
    assert check.status == "up" and check.input_tokens < 100  # health_check, not 32k tokens
