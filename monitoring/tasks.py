"""django-q2 task entry points for monitoring (a few lines each; the work is in services)."""

from monitoring import services
from monitoring.models import MonitoringConfig, MonitoringRun


def scheduled_pass() -> str:
    """The schedule's tick: start a pass unless monitoring is disabled."""
    if not MonitoringConfig.get().enabled:
        return "monitoring disabled"
    run = MonitoringRun.objects.create(trigger=MonitoringRun.Trigger.SCHEDULE)
    return services.start_pass(run_id=run.id).status


def start_pass(run_id: str) -> str:
    return services.start_pass(run_id=run_id).status


def probe_shard(run_id: str, model_ids: list[str]) -> int:
    return services.probe_shard(run_id=run_id, model_ids=model_ids)


def prune() -> int:
    return services.prune_checks()
