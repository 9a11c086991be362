"""Monitoring's schedules, declared in code (reconciled by arguslm.schedules)."""

from datetime import timedelta

from django.utils import timezone

from arguslm.schedules import PREFIX, Declared
from monitoring.models import MonitoringConfig


def schedules() -> list[Declared]:
    config = MonitoringConfig.get()
    items = [
        Declared(name=PREFIX + "monitoring-prune", func="monitoring.tasks.prune", minutes=60 * 24)
    ]
    if config.enabled:
        now = timezone.now()
        # The first pass runs right away, not one interval after start; after a config
        # change the next pass is due one interval after the last one (or now).
        due = (
            now
            if config.last_run_at is None
            else max(now, config.last_run_at + timedelta(minutes=config.interval_minutes))
        )
        items.append(
            Declared(
                name=PREFIX + "monitoring-pass",
                func="monitoring.tasks.scheduled_pass",
                minutes=config.interval_minutes,
                next_run=due,
            )
        )
    return items
