"""django-q2 task entry points for benchmarks."""

from benchmarks import engine, saved


def execute(run_id: str) -> str:
    return engine.execute(run_id)


def close_stale() -> int:
    return engine.close_stale_runs()


def run_due_templates() -> int:
    """Start the saved benchmarks whose cron time has come (benchmarks.saved.run_due)."""
    return len(saved.run_due())
