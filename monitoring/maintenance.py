"""Maintenance windows: when they are active, and which models they cover.

A check probed while a window covers its model is stored with ``in_maintenance``: shown on
the model's history, but out of the rollups (so out of availability, percentiles, status pages
and SLOs) and out of alert evaluation. One query per pass loads the windows (there are few).
"""

from datetime import UTC, datetime, timedelta

from monitoring.models import MaintenanceWindow

# How far ahead two windows are compared for overlaps (a weekly one repeats within it).
OVERLAP_HORIZON = timedelta(days=14)


def occurrences(window: MaintenanceWindow, since: datetime, until: datetime):
    """The (start, end) intervals of ``window`` that meet [since, until)."""
    if window.recurrence == MaintenanceWindow.Recurrence.ONCE:
        if window.starts_at < until and window.ends_at > since:
            yield window.starts_at, window.ends_at
        return
    length = timedelta(minutes=window.duration_minutes)
    day = (since - length).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < until:
        if day.weekday() in window.weekdays:
            start = datetime.combine(day.date(), window.start_time, tzinfo=UTC)
            if start < until and start + length > since:
                yield start, start + length
        day += timedelta(days=1)


def active(window: MaintenanceWindow, moment: datetime) -> bool:
    return any(occurrences(window, moment, moment + timedelta(microseconds=1)))


def covered(models, moment: datetime) -> set:
    """The ids of ``models`` under an active window at ``moment``."""
    windows = [w for w in MaintenanceWindow.objects.all() if active(w, moment)]
    if not windows:
        return set()
    model_ids = {w.model_id for w in windows if w.model_id}
    account_ids = {w.account_id for w in windows if w.account_id}
    return {m.pk for m in models if m.pk in model_ids or m.provider_account_id in account_ids}


def overlapping(window: MaintenanceWindow, now: datetime) -> MaintenanceWindow | None:
    """Another window of the same account or model whose time meets this one's (within the
    next two weeks, or the one-off window's own span)."""
    since = now - timedelta(days=1)
    until = max(now + OVERLAP_HORIZON, window.ends_at or now)
    mine = list(occurrences(window, since, until))
    others = MaintenanceWindow.objects.filter(
        account_id=window.account_id, model_id=window.model_id
    ).exclude(pk=window.pk)
    for other in others:
        for start, end in occurrences(other, since, until):
            if any(start < my_end and my_start < end for my_start, my_end in mine):
                return other
    return None


def save(*, window: MaintenanceWindow | None = None, **data) -> MaintenanceWindow:
    """Create a window, or change ``window``; ``data`` is MaintenanceWindowSerializer's
    validated data (the rules: one target, coherent times, no overlap)."""
    window = window or MaintenanceWindow()
    for field, value in data.items():
        setattr(window, field, value)
    window.save()
    return window


def delete(*, window: MaintenanceWindow) -> None:
    window.delete()
