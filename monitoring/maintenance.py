"""Maintenance windows: when they are active, and which models they cover.

A check probed while a window covers its model is stored with ``in_maintenance``: shown on
the model's history, but out of the rollups (so out of availability, percentiles, status pages
and SLOs) and out of alert evaluation. One query per pass loads the windows (there are few).
"""

from datetime import UTC, datetime, timedelta

# Cron expressions are evaluated by cronsim (https://github.com/cuu508/cronsim, the parser
# behind Healthchecks.io's cron checks): CronSim(expr, start) iterates fire times after start.
from cronsim import CronSim, CronSimError

from monitoring.models import MaintenanceWindow

# How far ahead two windows are compared for overlaps (a weekly one repeats within it).
OVERLAP_HORIZON = timedelta(days=14)
# At most this many cron starts are read per call, so that no save or pass can spin: more
# than the 21,600 a minutely cron has over the overlap check's 15 days.
MAX_CRON_STARTS = 50_000


def occurrences(window: MaintenanceWindow, since: datetime, until: datetime):
    """The (start, end) intervals of ``window`` that meet [since, until), in order."""
    if window.recurrence == MaintenanceWindow.Recurrence.ONCE:
        if window.starts_at < until and window.ends_at > since:
            yield window.starts_at, window.ends_at
        return
    if window.recurrence == MaintenanceWindow.Recurrence.CRON:
        yield from _cron_occurrences(window, since, until)
        return
    length = timedelta(minutes=window.duration_minutes)
    day = (since - length).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < until:
        if day.weekday() in window.weekdays:
            start = datetime.combine(day.date(), window.start_time, tzinfo=UTC)
            if start < until and start + length > since:
                yield start, start + length
        day += timedelta(days=1)


def _cron_occurrences(window: MaintenanceWindow, since: datetime, until: datetime):
    """Runs that overlap or touch are merged, so a minutely cron lasting 30 minutes is one
    interval: the overlap check then compares a few intervals, not thousands."""
    length = timedelta(minutes=window.duration_minutes)
    current = None
    # A run that started after ``since - length`` is still going at ``since``.
    for start in _cron_starts(window, since - length):
        if start >= until:
            break
        if current and start <= current[1]:
            current = (current[0], start + length)
            continue
        if current:
            yield current
        current = (start, start + length)
    if current:
        yield current


def _cron_starts(window: MaintenanceWindow, after: datetime):
    """The cron window's start times strictly after ``after`` (at most MAX_CRON_STARTS)."""
    fires = CronSim(window.cron, after.astimezone(UTC))
    for _ in range(MAX_CRON_STARTS):
        try:
            yield next(fires)
        except StopIteration:  # cronsim found no start in the next 50 years
            return


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` cannot drive a cron window, or None. cronsim raises the same error
    for bad syntax and for a day that no month has (``0 0 30 2 *``): the expression is well
    formed if it parses once its day of month, and once its month, is made ``*``."""
    fields = expression.split()
    if len(fields) != 5:
        return "Not a valid cron expression: it needs 5 fields (minute hour day month weekday)."
    now = datetime.now(UTC)
    try:
        if next(CronSim(expression, now), None):
            return None
    except CronSimError as error:
        for index in (2, 3):
            try:
                CronSim(" ".join([*fields[:index], "*", *fields[index + 1 :]]), now)
            except CronSimError:
                return f"Not a valid cron expression ({error})."
    return "This cron expression never fires."


def active(window: MaintenanceWindow, moment: datetime) -> bool:
    if window.recurrence == MaintenanceWindow.Recurrence.CRON:
        # Called for every window on every pass: one look-up, not a scan. Only a run that
        # started in (moment - duration, moment] covers ``moment``.
        length = timedelta(minutes=window.duration_minutes)
        start = next(_cron_starts(window, moment - length), None)
        return start is not None and start <= moment
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
    since, until = now - timedelta(days=1), now + OVERLAP_HORIZON
    if window.recurrence == MaintenanceWindow.Recurrence.ONCE:
        since, until = max(since, window.starts_at), window.ends_at
    mine = list(occurrences(window, since, until))
    others = MaintenanceWindow.objects.filter(
        account_id=window.account_id, model_id=window.model_id
    ).exclude(pk=window.pk)
    for other in others:
        if _meet(mine, occurrences(other, since, until)):
            return other
    return None


def _meet(mine, theirs) -> bool:
    """Whether two ordered interval sequences share a moment: one sweep that moves past
    whichever interval ends first (a cron window has thousands). ``theirs`` is read lazily,
    up to the first meeting."""
    mine, theirs = iter(mine), iter(theirs)
    a, b = next(mine, None), next(theirs, None)
    while a and b:
        if a[0] < b[1] and b[0] < a[1]:
            return True
        if a[1] <= b[1]:
            a = next(mine, None)
        else:
            b = next(theirs, None)
    return False


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
