"""benchmark_regression rules: judged when a run of a saved benchmark finishes.

Benchmarks announce finished runs (``benchmarks.signals.run_finished``); AlertsConfig.ready()
queues ``evaluate_benchmark`` for completed ones. Each rule watching the run's template gets a
verdict per model (``bench:<template id>:<model id>``) from ``benchmarks.saved.regressions``
and goes through the same streaks and incidents as every rule (alerts.evaluation.apply): a
model that stays slow keeps one open incident; a later run back within the threshold (or not
significantly different) resolves it.
"""

from django.db.models import Q

from alerts.evaluation import Verdict, apply
from alerts.models import REGRESSION_DEFAULTS, Alert, AlertRule, threshold_setting
from benchmarks import saved
from benchmarks.models import BenchmarkRun

SUBJECT_PREFIX = "bench:"


def subject(template_id, model_id) -> str:
    return f"{SUBJECT_PREFIX}{template_id}:{model_id}"


def evaluate_benchmark(run_id) -> list[Alert]:
    """Evaluate the benchmark_regression rules on one finished run; returns the alerts raised.

    Only a completed run of a template with a baseline (other than the baseline itself) is
    judged; anything else leaves every streak as it was."""
    run = BenchmarkRun.objects.select_related("template__baseline_run").filter(pk=run_id).first()
    if (
        run is None
        or run.status != BenchmarkRun.Status.COMPLETED
        or run.template is None
        or run.template.baseline_run_id in (None, run.pk)
    ):
        return []
    rules = AlertRule.objects.filter(
        enabled=True, rule_type=AlertRule.RuleType.BENCHMARK_REGRESSION
    ).filter(Q(target_template__isnull=True) | Q(target_template=run.template_id))
    raised: list[Alert] = []
    for rule in rules:
        config = rule.threshold_config or {}
        found = saved.regressions(
            run,
            metric=threshold_setting(config, "metric", REGRESSION_DEFAULTS),
            threshold_percent=float(
                threshold_setting(config, "threshold_percent", REGRESSION_DEFAULTS)
            ),
        )
        for regression in found:
            verdict = Verdict(
                subject(run.template_id, regression.model.pk),
                regression.model,
                regression.failing,
                regression.message,
            )
            if (alert := apply(rule, verdict)) is not None:
                raised.append(alert)
    if raised:
        from alerts import notifications

        notifications.queue_for(raised)
    return raised
