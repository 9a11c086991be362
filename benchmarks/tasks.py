"""django-q2 task entry points for benchmarks."""

from benchmarks import engine


def execute(run_id: str) -> str:
    return engine.execute(run_id)


def close_stale() -> int:
    return engine.close_stale_runs()
