from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from monitoring.signals import pass_completed

        pass_completed.connect(_queue_evaluation, dispatch_uid="alerts-evaluate-pass")


def _queue_evaluation(sender, run_id, **kwargs) -> None:
    """Evaluate the rules on a completed pass, queued so that it never slows the pass down."""
    from django_q.tasks import async_task

    async_task("alerts.tasks.evaluate_run", str(run_id), task_name=f"alerts-{run_id}")
