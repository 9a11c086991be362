"""django-q2 task entry points for monitoring (a few lines each; the work is in services)."""

from django.utils import timezone

from monitoring import costs, services
from monitoring.models import MonitoringConfig, MonitoringRun


def scheduled_pass() -> str:
    """The schedule's tick: start a pass unless monitoring is disabled or its budget spent."""
    config = MonitoringConfig.get()
    if not config.enabled:
        return "monitoring disabled"
    if paused := costs.budget_pause_message(config=config):
        # Recorded like an overlap skip, so the passes list says why nothing ran.
        MonitoringRun.objects.create(
            trigger=MonitoringRun.Trigger.SCHEDULE,
            status=MonitoringRun.Status.SKIPPED,
            prompt_pack=config.prompt_pack,
            finished_at=timezone.now(),
            message=paused,
        )
        return MonitoringRun.Status.SKIPPED
    run = MonitoringRun.objects.create(trigger=MonitoringRun.Trigger.SCHEDULE)
    return services.start_pass(run_id=run.id).status


def start_pass(run_id: str) -> str:
    return services.start_pass(run_id=run_id).status


def probe_shard(shard_id: str) -> int:
    return services.probe_shard(shard_id=shard_id)


def prune() -> int:
    return services.prune_checks()
