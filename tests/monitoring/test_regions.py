"""Probe regions in one process: the eu region's shards are probed under ARGUSLM_REGION=eu.

Passes run against the simulator over real HTTP. django-q2 runs tasks inline (``sync_tasks``),
so a shard queued for another region reaches this process, which refuses it (wrong region)
until the test probes it as that region.
"""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from alerts.models import Incident
from arguslm import errors
from monitoring import regions, services
from monitoring.models import (
    CheckRollup,
    ModelStatus,
    MonitoringConfig,
    MonitoringRun,
    MonitoringShard,
    Region,
    RegionStatus,
    UptimeCheck,
)
from tests.factories import make_account, make_model, make_rule

pytestmark = pytest.mark.django_db(transaction=True)  # the shard writer is another thread

UP, DOWN, DEGRADED = "up", "down", "degraded"
DEAD = "http://127.0.0.1:9/v1"  # discard port: nothing listens


@pytest.mark.parametrize(
    ("statuses", "quorum", "expected"),
    [
        ([DOWN], None, DOWN),
        ([UP], None, UP),
        ([DOWN, UP], None, UP),  # a majority of 2 is 2
        ([DOWN, DOWN], None, DOWN),
        ([DOWN, UP], 1, DOWN),
        ([DOWN, DEGRADED], None, DEGRADED),
        ([DOWN, DOWN, UP], None, DOWN),
        ([DOWN, UP, UP], None, UP),
        ([DOWN, DEGRADED, UP], None, DEGRADED),
        ([DOWN, DOWN], 5, DOWN),  # a quorum above the regions that probed: all of them
        ([], None, UP),
    ],
)
def test_agreement(statuses, quorum, expected):
    assert regions.agree(statuses, quorum) == expected


def test_region_names_are_checked_before_any_regex():
    assert regions.clean_names(["eu", "us-east", "eu"], "probe_regions") == ["eu", "us-east"]
    for bad in (["EU"], ["-eu"], ["e" * 33], [1], "eu", ["a"] * 17):
        with pytest.raises(errors.Invalid, match="probe_regions"):
            regions.clean_names(bad, "probe_regions")


def live_region(name: str, *, ago: timedelta = timedelta(0)) -> Region:
    return Region.objects.create(name=name, last_seen_at=timezone.now() - ago)


def probe_as(region: str, run: MonitoringRun) -> int:
    """Probe the run's shards of ``region`` as a worker of that region would."""
    stored = 0
    with override_settings(ARGUSLM_REGION=region):
        for shard in run.shards.filter(region=region):
            stored += services.probe_shard(shard_id=shard.pk)
    return stored


def start() -> MonitoringRun:
    run = MonitoringRun.objects.create()
    services.start_pass(run_id=run.id)
    run.refresh_from_db()
    return run


@pytest.fixture
def fleet(llmsim):
    """Three models on one account; eu reaches the account at its own (dead) endpoint for one
    of them: a second account with a regional endpoint."""
    sim = make_account(credentials={"base_url": f"{llmsim}/v1", "api_key": "sk-a"})
    regional = make_account(
        credentials={"base_url": f"{llmsim}/v1", "api_key": "sk-b"},
        region_base_urls={"eu": DEAD},
    )
    return {
        "a": make_model(sim, model_id="sim/ttft=5/itl=1/n=3"),
        "b": make_model(sim, model_id="sim/ttft=5/itl=1/n=3/seed=2"),
        "eu-down": make_model(regional, model_id="sim/ttft=5/itl=1/n=3/seed=3"),
    }


def test_a_pass_probes_every_model_once_from_every_live_region(fleet, sync_tasks):
    live_region("eu")
    live_region("ap", ago=timedelta(minutes=5))  # stale: left out

    run = start()

    assert run.regions == ["default", "eu"]
    assert run.status == "running"  # eu's shard waits for an eu worker
    assert run.shards.get(region="eu").status == "queued"
    assert probe_as("eu", run) == 3
    run.refresh_from_db()
    assert run.status == "completed"
    assert (run.total, run.up, run.down) == (6, 5, 1)
    pairs = list(UptimeCheck.objects.values_list("model_id", "region"))
    assert sorted(pairs) == sorted((m.pk, r) for m in fleet.values() for r in ("default", "eu"))
    # Down from eu only: the agreement of two regions (a majority is 2) keeps it up, and the
    # region's own status says where it is down.
    down = fleet["eu-down"]
    assert ModelStatus.objects.get(model=down).status == UP
    assert dict(RegionStatus.objects.filter(model=down).values_list("region", "status")) == {
        "default": UP,
        "eu": DOWN,
    }
    # Rollups are kept per region.
    assert CheckRollup.objects.filter(model=down, resolution="hour").count() == 2


def test_a_quorum_of_one_makes_one_region_enough(fleet, sync_tasks):
    config = MonitoringConfig.get()
    config.down_quorum = 1
    config.save()
    live_region("eu")
    probe_as("eu", start())
    assert ModelStatus.objects.get(model=fleet["eu-down"]).status == DOWN


def test_models_and_accounts_limited_to_regions(fleet, sync_tasks):
    live_region("eu")
    fleet["a"].probe_regions = ["eu"]
    fleet["a"].save()
    account = fleet["eu-down"].provider_account
    account.probe_regions = ["default"]
    account.save()

    run = start()
    probe_as("eu", run)

    pairs = set(UptimeCheck.objects.values_list("model_id", "region"))
    assert pairs == {
        (fleet["a"].pk, "eu"),
        (fleet["b"].pk, "default"),
        (fleet["b"].pk, "eu"),
        (fleet["eu-down"].pk, "default"),
    }


def test_a_worker_of_another_region_refuses_the_shard(fleet, sync_tasks):
    live_region("eu")
    run = start()
    shard = run.shards.get(region="eu")
    assert services.probe_shard(shard_id=shard.pk) == 0  # this process is in "default"
    shard.refresh_from_db()
    assert shard.status == "queued"


def test_a_shard_whose_worker_is_gone_is_taken_over_and_finished(fleet, sync_tasks):
    """The worker died after storing one model's check: its lease runs out, the region's
    keeper queues the shard again, and the next worker probes only the models left."""
    live_region("eu")
    run = start()
    shard = run.shards.get(region="eu")
    done = fleet["a"]
    UptimeCheck.objects.create(
        model=done, run=run, region="eu", status=UP, created_at=timezone.now()
    )
    MonitoringShard.objects.filter(pk=shard.pk).update(
        status="running", worker="gone:1:x", lease_until=timezone.now() - timedelta(seconds=1)
    )

    # The keeper of a live eu cluster queues it again; inline, the eu task runs at once.
    with override_settings(ARGUSLM_REGION="eu"):
        assert regions.keep("eu", "eu-host:2") == 1

    shard.refresh_from_db()
    run.refresh_from_db()
    assert (shard.status, shard.attempts, shard.stored) == ("done", 1, 2)
    assert run.status == "completed"
    eu = UptimeCheck.objects.filter(run=run, region="eu")
    assert sorted(eu.values_list("model_id", flat=True)) == sorted(m.pk for m in fleet.values())


def test_a_worker_that_lost_its_lease_stores_nothing(fleet, sync_tasks):
    run = MonitoringRun.objects.create(status="running", shards_total=1, regions=["default"])
    shard = MonitoringShard.objects.create(
        run=run, region="default", model_ids=[str(fleet["a"].pk)], enqueued_at=timezone.now()
    )
    claimed = services.claim(shard.pk)
    assert claimed is not None and services.claim(shard.pk) is None  # one holder at a time
    MonitoringShard.objects.filter(pk=shard.pk).update(worker="someone-else")
    store = services._Store(claimed, MonitoringConfig.get())
    from arguslm.llm.types import Sample

    store.add(fleet["a"], Sample(ttft_ms=5, latency_ms=9), timezone.now())
    store.flush(last=True)
    assert store.lost
    assert not UptimeCheck.objects.exists()


def test_the_shards_of_a_region_whose_workers_are_gone_are_given_up(fleet, sync_tasks):
    eu = live_region("eu")
    run = start()
    assert run.status == "running"
    Region.objects.filter(pk=eu.pk).update(last_seen_at=timezone.now() - timedelta(minutes=1))

    assert regions.settle_stale_regions() == 1

    run.refresh_from_db()
    assert run.status == "completed"
    assert run.message == "Not probed from eu: the region's workers stopped."
    assert UptimeCheck.objects.filter(run=run, region="default").count() == 3
    listed = {r["name"]: (r["home"], r["live"]) for r in regions.listing()}
    assert listed == {"default": (True, False), "eu": (False, False)}  # no heartbeats here


def test_a_pass_asked_for_behind_a_dead_worker_waits_and_then_runs(fleet, sync_tasks):
    live_region("eu")
    held = start()
    MonitoringShard.objects.filter(run=held, region="eu").update(
        status="running", worker="gone:1:x", lease_until=timezone.now() - timedelta(seconds=1)
    )

    waiting = start()
    assert waiting.status == "queued"
    assert waiting.waiting
    assert waiting.message == f"Waiting for pass {held.id}, whose worker stopped: it starts next."

    # An eu worker takes the shard over; the held pass closes and the waiting one starts.
    with override_settings(ARGUSLM_REGION="eu"):
        regions.keep("eu", "eu-host:2")
    held.refresh_from_db()
    waiting.refresh_from_db()
    assert held.status == "completed"
    assert waiting.status == "running" and waiting.regions == ["default", "eu"]


def test_a_pass_behind_a_live_worker_is_still_skipped(fleet, sync_tasks):
    live_region("eu")
    start()  # eu's shard is queued, not yet late
    assert start().status == "skipped"


def test_one_region_failing_everything_is_one_regional_incident(llmsim, sync_tasks):
    make_rule()
    sim = make_account(
        credentials={"base_url": f"{llmsim}/v1", "api_key": "sk-a"},
        region_base_urls={"eu": DEAD},
    )
    models = [make_model(sim, model_id=f"sim/ttft=5/itl=1/n=3/seed={i}") for i in range(3)]
    live_region("eu")

    for _ in range(2):
        probe_as("eu", start())

    open_incidents = Incident.objects.filter(resolved_at__isnull=True)
    assert list(open_incidents.values_list("subject", flat=True)) == ["region:eu"]
    assert "Probes from region eu fail: 3 of 3 models down there" in open_incidents[0].summary
    assert not Incident.objects.filter(subject__in=[str(m.pk) for m in models]).exists()


def test_a_pass_behind_a_waiting_pass_is_skipped(fleet, sync_tasks):
    live_region("eu")
    held = start()
    MonitoringShard.objects.filter(run=held, region="eu").update(
        status="running", worker="gone:1:x", lease_until=timezone.now() - timedelta(seconds=1)
    )
    waiting = start()
    third = start()
    assert third.status == "skipped"
    assert third.message == f"Skipped: pass {waiting.id} was already waiting to start."


def test_a_batch_the_database_refused_is_stored_with_the_next_one(fleet, monkeypatch):
    from django.db import OperationalError

    from arguslm.llm.types import Sample

    run = MonitoringRun.objects.create(status="running", shards_total=1, regions=["default"])
    shard = MonitoringShard.objects.create(
        run=run, region="default", model_ids=[str(fleet["a"].pk)], enqueued_at=timezone.now()
    )
    store = services._Store(services.claim(shard.pk), MonitoringConfig.get())
    store.add(fleet["a"], Sample(ttft_ms=5, latency_ms=9), timezone.now())
    real_bulk_create = UptimeCheck.objects.bulk_create
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_bulk_create(*args, **kwargs)

    monkeypatch.setattr(UptimeCheck.objects, "bulk_create", fails_once)
    store.flush()
    assert not UptimeCheck.objects.exists() and len(store.pending) == 1
    store.add(fleet["b"], Sample(ttft_ms=6, latency_ms=9), timezone.now())
    store.flush(last=True)
    assert UptimeCheck.objects.count() == 2
    run.refresh_from_db()
    assert (run.up, run.shards_done) == (2, 1)


def test_a_queued_shard_is_queued_again_only_once_its_region_s_queue_is_empty(fleet, sync_tasks):
    from django_q.brokers import get_broker

    live_region("eu")
    run = start()
    shard = run.shards.get(region="eu")
    late = timezone.now() - regions.QUEUED_LEASE - timedelta(seconds=1)
    MonitoringShard.objects.filter(pk=shard.pk).update(enqueued_at=late)
    broker = get_broker(regions.queue("eu"))
    broker.enqueue("another task, still waiting for an eu worker")
    try:
        assert regions.requeue_orphans("eu") == 0  # its task may be waiting too
    finally:
        broker.delete_queue()
    assert regions.requeue_orphans("eu") == 1  # nothing waits: its task was lost
    shard.refresh_from_db()
    assert shard.status == "queued" and shard.enqueued_at > late


def test_a_pass_behind_a_shard_being_taken_over_waits_too(fleet, sync_tasks):
    live_region("eu")
    held = start()
    # The keeper queued it again after its worker died: not yet claimed by the next one.
    MonitoringShard.objects.filter(run=held, region="eu").update(status="queued", attempts=1)
    assert start().status == "queued"
