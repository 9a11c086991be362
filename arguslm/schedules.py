"""Schedules are declared here, in code, and reconciled into django-q2.

``manage.py reconcile_schedules`` (run by ``make run`` before the cluster starts, and by any
change to the monitoring config) makes django-q2's Schedule table match ``declared()``:
missing schedules are created, changed ones updated, stale ``arguslm.*`` ones deleted.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

PREFIX = "arguslm."


@dataclass(frozen=True)
class Declared:
    """One schedule as the code wants it."""

    name: str
    func: str
    minutes: int
    next_run: datetime | None = None  # None: keep the stored next run, or now for a new one


def declared() -> list[Declared]:
    """Every schedule the project wants right now (some depend on stored settings)."""
    items = [Declared(name=PREFIX + "heartbeat", func="arguslm.tasks.heartbeat", minutes=1)]
    for provider in _providers():
        items.extend(provider())
    return items


def _providers():
    """Apps that declare schedules expose ``schedules()`` in their ``schedules`` module."""
    from importlib import import_module

    found = []
    for app in ("monitoring", "benchmarks", "alerts"):
        try:
            module = import_module(f"{app}.schedules")
        except ModuleNotFoundError:
            continue
        found.append(module.schedules)
    return found


@transaction.atomic
def reconcile() -> dict[str, list[str]]:
    """Make django-q2's schedules match ``declared()``; returns what changed."""
    from django_q.models import Schedule

    wanted = {d.name: d for d in declared()}
    changes: dict[str, list[str]] = {"created": [], "updated": [], "deleted": []}
    existing = {s.name: s for s in Schedule.objects.filter(name__startswith=PREFIX)}
    for name, item in wanted.items():
        schedule = existing.get(name)
        if schedule is None:
            Schedule.objects.create(
                name=name,
                func=item.func,
                schedule_type=Schedule.MINUTES,
                minutes=item.minutes,
                repeats=-1,
                next_run=item.next_run or timezone.now(),
            )
            changes["created"].append(name)
            continue
        fields = {"func": item.func, "minutes": item.minutes, "schedule_type": Schedule.MINUTES}
        dirty = [k for k, v in fields.items() if getattr(schedule, k) != v]
        # Only ever move the next run earlier (a shorter interval takes effect at once);
        # django-q2 itself advances it after each run.
        if item.next_run is not None and (
            schedule.next_run is None or schedule.next_run > item.next_run
        ):
            dirty.append("next_run")
            schedule.next_run = item.next_run
        if dirty:
            for key in dirty:
                if key in fields:
                    setattr(schedule, key, fields[key])
            schedule.repeats = -1
            schedule.save()
            changes["updated"].append(name)
    for name, schedule in existing.items():
        if name not in wanted:
            schedule.delete()
            changes["deleted"].append(name)
    return changes
