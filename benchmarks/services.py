"""Benchmark workflows: start, cancel, and the statistics of a run."""

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from arguslm import errors
from benchmarks import capacity, engine, live, stats
from benchmarks.models import BenchmarkResult, BenchmarkRun

ACTIVE = (BenchmarkRun.Status.PENDING, BenchmarkRun.Status.RUNNING)


class TooManyBenchmarks(errors.LimitReached):
    """More pending + running runs than MAX_ACTIVE_BENCHMARKS (a 429)."""


def start(*, data: dict, user=None) -> BenchmarkRun:
    """Store a pending run and hand it to the workers; TooManyBenchmarks when at the cap."""
    from django_q.tasks import async_task

    engine.close_stale_runs()  # a run whose worker died must not hold a slot
    # On SQLite the transaction takes the write lock first (IMMEDIATE), so two starts cannot
    # both pass the check; on PostgreSQL a race may let one extra run through.
    with transaction.atomic():
        _check_capacity()
        run = BenchmarkRun.objects.create(
            created_by=user if user is not None and user.is_authenticated else None, **data
        )
    try:
        async_task(
            "benchmarks.tasks.execute", str(run.id), task_name=f"benchmark-{run.id}", timeout=3600
        )
    except Exception as exc:  # the broker is down: say so, and leave no run pending forever
        run.status, run.completed_at = BenchmarkRun.Status.FAILED, timezone.now()
        run.error = f"Could not queue the benchmark: {type(exc).__name__}: {exc}"
        run.save()
        raise errors.Unavailable(run.error) from exc
    return run


def _check_capacity() -> None:
    limit = settings.MAX_ACTIVE_BENCHMARKS
    if limit <= 0:  # 0 turns the cap off
        return
    active = BenchmarkRun.objects.filter(status__in=ACTIVE).count()
    if active >= limit:
        are = "benchmark is" if active == 1 else "benchmarks are"
        raise TooManyBenchmarks(
            f"{active} {are} already pending or running; wait for one to finish or cancel one."
        )


def cancel(*, run: BenchmarkRun) -> BenchmarkRun:
    """Cancel a pending run at once; ask a running engine to stop (it does within ~1 s)."""
    now = timezone.now()
    if BenchmarkRun.objects.filter(pk=run.pk, status=BenchmarkRun.Status.PENDING).update(
        status=BenchmarkRun.Status.CANCELLED, completed_at=now, error="Cancelled by request."
    ):
        live.announce(run.pk)
    else:
        BenchmarkRun.objects.filter(pk=run.pk, status=BenchmarkRun.Status.RUNNING).update(
            cancel_requested=True
        )
    run.refresh_from_db()
    return run


def runs_with_counts():
    return BenchmarkRun.objects.annotate(result_count=Count("results"))


def matching_runs(runs, *, q: str = "", status: str = ""):
    """The runs a history filter selects: name contains ``q``, in ``status``."""
    if q:
        runs = runs.filter(name__icontains=q)
    if status:
        runs = runs.filter(status=status)
    return runs


def delete_runs(*, runs) -> tuple[int, int]:
    """Delete the finished runs among ``runs`` with their results: (deleted, kept). A saved
    benchmark's baseline run is kept (its comparisons need it; delete it on its own page);
    pending and running runs are never deleted (cancel them first)."""
    from benchmarks.models import BenchmarkTemplate

    finished = runs.filter(status__in=BenchmarkRun.TERMINAL)
    baselines = BenchmarkTemplate.objects.filter(baseline_run__isnull=False).values(
        "baseline_run_id"
    )
    kept = finished.filter(pk__in=baselines).count()
    with transaction.atomic():
        ids = list(finished.exclude(pk__in=baselines).values_list("pk", flat=True))
        BenchmarkRun.objects.filter(pk__in=ids).delete()
    return len(ids), kept


def results_of(run: BenchmarkRun) -> list[BenchmarkResult]:
    return list(run.results.select_related("model__provider_account").order_by("seq"))


def statistics_of(results: list[BenchmarkResult]) -> tuple[dict, list[dict]]:
    names = {r.model_id: r.model.display_name for r in results}
    return stats.pooled(results), stats.per_model(results, names)


def capacity_of(run: BenchmarkRun, results: list[BenchmarkResult]) -> list[capacity.Capacity]:
    """A sweep's per-model steps and max sustainable load, in the run's model order (empty
    for a fixed run)."""
    if run.profile == BenchmarkRun.Profile.FIXED:
        return []
    steps = list(run.steps.select_related("model").order_by("model_id", "index"))
    names = {s.model_id: s.model.display_name for s in steps}
    rank = {model_id: i for i, model_id in enumerate(run.model_ids)}
    found = capacity.capacities(run, steps, results, names)
    return sorted(found, key=lambda c: rank.get(c.model_id, len(rank)))
