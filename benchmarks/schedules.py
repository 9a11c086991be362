"""Benchmarks' schedules, declared in code (reconciled by arguslm.schedules)."""

from arguslm.schedules import PREFIX, Declared


def schedules() -> list[Declared]:
    return [
        Declared(
            name=PREFIX + "benchmarks-close-stale", func="benchmarks.tasks.close_stale", minutes=1
        ),
        # Saved benchmarks with a cron: each minute starts those whose time has come.
        Declared(
            name=PREFIX + "benchmarks-run-due",
            func="benchmarks.tasks.run_due_templates",
            minutes=1,
        ),
    ]
