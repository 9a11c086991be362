import logging

from django.apps import AppConfig

log = logging.getLogger(__name__)


class AlertsConfig(AppConfig):
    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from benchmarks.signals import run_finished
        from monitoring.signals import pass_completed

        pass_completed.connect(_queue_evaluation, dispatch_uid="alerts-evaluate-pass")
        run_finished.connect(_queue_benchmark_evaluation, dispatch_uid="alerts-evaluate-bench")


def _queue_evaluation(sender, run_id, **kwargs) -> None:
    """Evaluate the rules on a completed pass, queued so that it never slows the pass down, on
    the home region's queue (the last shard may finish on another region's worker)."""
    from django.conf import settings
    from django_q.tasks import async_task

    async_task(
        "alerts.tasks.evaluate_run",
        str(run_id),
        task_name=f"alerts-{run_id}",
        cluster=settings.ARGUSLM_HOME_QUEUE,
    )


def _queue_benchmark_evaluation(sender, run_id, status, **kwargs) -> None:
    """Judge a completed benchmark run against its saved benchmark's baseline, queued (the
    bootstrap takes a while). The run is stored by now: a queue that is down costs this one
    verdict, logged, and never fails the engine's task."""
    if status != "completed":
        return
    from django_q.tasks import async_task

    try:
        async_task(
            "alerts.tasks.evaluate_benchmark", str(run_id), task_name=f"alerts-bench-{run_id}"
        )
    except Exception:
        log.exception("Could not queue the regression check of benchmark run %s", run_id)
