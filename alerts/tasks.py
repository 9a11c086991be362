"""django-q2 task entry points for alerts."""

from alerts import evaluation, notifications, reminders


def evaluate_run(run_id: str) -> int:
    """Evaluate the rules after a monitoring pass (queued, so the pass is never slowed)."""
    return len(evaluation.evaluate_run(run_id))


def deliver_due() -> int:
    return notifications.deliver_due()


def remind_and_escalate() -> int:
    return len(reminders.remind_and_escalate())
