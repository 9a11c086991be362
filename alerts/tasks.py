"""django-q2 task entry points for alerts."""

from alerts import evaluation, notifications, regressions, reminders


def evaluate_run(run_id: str) -> int:
    """Evaluate the rules after a monitoring pass (queued, so the pass is never slowed)."""
    return len(evaluation.evaluate_run(run_id))


def deliver_due() -> int:
    return notifications.deliver_due()


def remind_and_escalate() -> int:
    return len(reminders.remind_and_escalate())


def evaluate_benchmark(run_id: str) -> int:
    """Evaluate the benchmark_regression rules after a benchmark run (alerts.regressions)."""
    return len(regressions.evaluate_benchmark(run_id))
