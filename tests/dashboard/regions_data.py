"""Three probe regions for the pages' tests: "default" (home) and "eu" live, "ap" stale (its
workers last beat 3 minutes ago).

Three monitored models of one account, each checked hourly over the last 6 hours from every
region, stored as the regions' shards store them (rollups and latest status per region, the
agreement of the live regions as each model's status):

- ``steady``: up everywhere;
- ``flaky``: up from default, down from eu in its latest check (agreed up: one of two);
- ``broken``: down from default and eu in their latest checks (agreed down).

"ap" stopped during the pass before the latest one (which says so) and saw every model up;
the latest pass, a minute ago, probed from default and eu.
"""

from datetime import timedelta

from django.utils import timezone

from monitoring import rollups
from monitoring.models import MonitoringConfig, MonitoringRun, Region, UptimeCheck
from tests.factories import make_account, make_model, uptime_check

LIVE = ["default", "eu"]
TTFT = {"default": 120.0, "eu": 340.0, "ap": 610.0}
# The latest status of each model from each region.
LATEST = {
    "steady": {"default": "up", "eu": "up", "ap": "up"},
    "flaky": {"default": "up", "eu": "down", "ap": "up"},
    "broken": {"default": "down", "eu": "down", "ap": "up"},
}


def store(region: str, checks: list[UptimeCheck], regions: list[str]) -> None:
    """A batch of one region's checks, as its shard stores it in a pass of ``regions``."""
    UptimeCheck.objects.bulk_create(checks)
    rollups.record(checks, region=region, regions=regions)


def seed_regions(*, now=None) -> dict:
    now = now or timezone.now()
    Region.objects.bulk_create(
        [
            Region(name="default", last_seen_at=now - timedelta(seconds=2), last_worker="w1:11"),
            Region(name="eu", last_seen_at=now - timedelta(seconds=4), last_worker="w2:22"),
            Region(name="ap", last_seen_at=now - timedelta(minutes=3), last_worker="w3:33"),
        ]
    )
    account = make_account(display_name="Acme Cloud")
    models = {name: make_model(account, model_id=name) for name in LATEST}
    # "ap" probed up to 10 minutes ago, in passes of the three regions.
    for region, end, regions in (("ap", 10, [*LIVE, "ap"]), ("default", 1, LIVE), ("eu", 1, LIVE)):
        for hours in range(5, -1, -1):  # oldest first; the last batch is the latest check
            checks = []
            for name, model in models.items():
                status = LATEST[name][region] if hours == 0 else "up"
                ttft = TTFT[region] + 10 * hours
                measured = {"ttft_ms": ttft, "latency_ms": ttft + 400}
                if status == "down":
                    measured = {}
                checks.append(
                    uptime_check(
                        model,
                        status=status,
                        ago=timedelta(hours=hours, minutes=end),
                        region=region,
                        **measured,
                    )
                )
            store(region, checks, regions)
    for ago, regions, down, message in (
        (5, sorted([*LIVE, "ap"]), 1, "Not probed from ap: the region's workers stopped."),
        (1, LIVE, 1, ""),
    ):
        run = MonitoringRun.objects.create(
            status=MonitoringRun.Status.COMPLETED,
            started_at=now - timedelta(minutes=ago, seconds=20),
            finished_at=now - timedelta(minutes=ago),
            regions=regions,
            total=len(models),
            up=len(models) - down,
            down=down,
            message=message,
        )
        started = now - timedelta(minutes=ago)  # created_at is set on insert
        MonitoringRun.objects.filter(pk=run.pk).update(created_at=started)
    MonitoringConfig.objects.filter(pk=MonitoringConfig.get().pk).update(
        last_run_at=now - timedelta(minutes=1)
    )
    return {"account": account, "models": models}
