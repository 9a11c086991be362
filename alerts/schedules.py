"""Alerts' schedules, declared in code (reconciled by arguslm.schedules)."""

from arguslm.schedules import PREFIX, Declared


def schedules() -> list[Declared]:
    # Retries with back-off come due here; fresh notifications are also queued at once.
    return [
        Declared(name=PREFIX + "alerts-deliver", func="alerts.tasks.deliver_due", minutes=1),
        # Open, unacknowledged incidents: reminders and escalation (alerts.reminders).
        Declared(name=PREFIX + "alerts-remind", func="alerts.tasks.remind_and_escalate", minutes=1),
    ]
