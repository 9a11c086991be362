"""Benchmarks' schedules, declared in code (reconciled by arguslm.schedules)."""

from arguslm.schedules import PREFIX, Declared


def schedules() -> list[Declared]:
    return [
        Declared(
            name=PREFIX + "benchmarks-close-stale", func="benchmarks.tasks.close_stale", minutes=1
        )
    ]
