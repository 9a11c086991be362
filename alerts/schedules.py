"""Alerts' schedules, declared in code (reconciled by arguslm.schedules)."""

from arguslm.schedules import PREFIX, Declared


def schedules() -> list[Declared]:
    # Retries with back-off come due here; fresh notifications are also queued at once.
    return [Declared(name=PREFIX + "alerts-deliver", func="alerts.tasks.deliver_due", minutes=1)]
