"""Tiny builders for test data (no fixtures files).

Each builds one row with plain defaults; every field can be given by keyword. ``ago`` (a
timedelta) dates a row that long before now.
"""

import uuid
from datetime import timedelta

from django.utils import timezone

from alerts.models import Alert, AlertRule, Incident
from benchmarks.models import BenchmarkResult, BenchmarkRun
from monitoring import rollups
from monitoring.models import MonitoringRun, UptimeCheck
from providers.models import LLMModel, ProviderAccount

# Nothing listens on the discard port: connections are refused at once.
DEAD_URL = "http://127.0.0.1:9/v1"
# The default account's API key: no response, page or log may show it.
SECRET = "sk-test-very-secret-4711"


def make_account(**kw) -> ProviderAccount:
    credentials = kw.pop("credentials", {"base_url": DEAD_URL, "api_key": SECRET})
    defaults = {"provider_type": "custom_openai_compatible", "display_name": "Test account"}
    account = ProviderAccount(**{**defaults, **kw})
    account.credentials = credentials
    account.save()
    return account


def make_model(account: ProviderAccount | None = None, **kw) -> LLMModel:
    account = account or make_account()
    defaults = {"model_id": "sim/n=3", "enabled_for_monitoring": True}
    return LLMModel.objects.create(provider_account=account, **{**defaults, **kw})


# --- monitoring ---------------------------------------------------------------------------------

# What a successful request measured (a check or a benchmark result), and why a failed one
# failed.
MEASURED = {
    "ttft_ms": 42.0,
    "ttfat_ms": 42.0,
    "latency_ms": 120.0,
    "tps": 100.0,
    "tps_excluding_ttft": 150.0,
    "output_tokens": 12,
    "token_source": "usage",
}
SERVER_ERROR = {"error_type": "server_error", "error": "HTTP 500 from the provider"}


def make_monitoring_run(*, ago: timedelta | None = None, **kw) -> MonitoringRun:
    """A monitoring pass, queued unless a ``status`` is given; a running one started and beat
    now (unless given). ``ago`` dates its creation (set on insert) that long before now."""
    if kw.get("status") == MonitoringRun.Status.RUNNING:
        kw = {"started_at": timezone.now(), "heartbeat_at": timezone.now(), **kw}
    run = MonitoringRun.objects.create(**kw)
    if ago is not None:
        MonitoringRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - ago)
        run.refresh_from_db()
    return run


def uptime_check(model: LLMModel, *, status="up", ago=timedelta(0), **kw) -> UptimeCheck:
    """One check of ``model``, not saved (``make_check`` saves one, ``store_checks`` many).

    An ``up`` or ``degraded`` check measured ``MEASURED``, a ``down`` one failed with HTTP 500;
    given an ``error_type``, it measured nothing else.
    """
    if "error_type" in kw:
        defaults = {}
    else:
        defaults = SERVER_ERROR if status == UptimeCheck.Status.DOWN else MEASURED
    fields = {"created_at": timezone.now() - ago, **defaults, **kw}
    return UptimeCheck(model=model, status=status, **fields)


def make_check(model: LLMModel, **kw) -> UptimeCheck:
    """One saved check row (no rollups: ``store_checks`` stores checks as a pass does)."""
    check = uptime_check(model, **kw)
    check.save()
    return check


def store_checks(checks: list[UptimeCheck]) -> list[UptimeCheck]:
    """Store checks as a pass does: the rows, their rollups, latest statuses and counts."""
    UptimeCheck.objects.bulk_create(checks)
    rollups.record(checks)
    return checks


# --- benchmarks ---------------------------------------------------------------------------------


def make_benchmark_run(*models: LLMModel, **kw) -> BenchmarkRun:
    """A benchmark run of ``models``, completed unless a ``status`` is given; a started run has a
    ``started_at``, a finished one a ``completed_at`` (now, unless given)."""
    fields = {
        "name": "Run",
        "status": BenchmarkRun.Status.COMPLETED,
        "model_ids": [str(m.pk) for m in models],
        "prompt_pack": "health_check",
        **kw,
    }
    if fields["status"] != BenchmarkRun.Status.PENDING:
        fields.setdefault("started_at", timezone.now())
    if fields["status"] in BenchmarkRun.TERMINAL:
        fields.setdefault("completed_at", timezone.now())
    return BenchmarkRun.objects.create(**fields)


def make_benchmark_result(model: LLMModel, *, run: BenchmarkRun | None = None, **kw):
    """One request of ``model``: by default the first of a completed run of its own (benchmark
    history, which must be kept). It measured ``MEASURED``; given an ``error_type``, nothing."""
    run = run or make_benchmark_run(model, name="history")
    defaults = {"seq": 1, **({} if "error_type" in kw else MEASURED)}
    return BenchmarkResult.objects.create(run=run, model=model, **{**defaults, **kw})


# --- alerts -------------------------------------------------------------------------------------


def make_rule(**kw) -> AlertRule:
    defaults = {"name": "Any model down", "rule_type": AlertRule.RuleType.ANY_MODEL_DOWN}
    return AlertRule.objects.create(**{**defaults, **kw})


def make_incident(rule: AlertRule | None = None, *, ago=timedelta(0), **kw) -> Incident:
    """An open incident of ``rule`` (a new one if None), opened ``ago``; its subject is its
    ``model``'s id, or unique."""
    model = kw.get("model")
    defaults = {
        "subject": str(model.pk) if model else str(uuid.uuid4()),
        "summary": "down",
        "opened_at": timezone.now() - ago,
    }
    return Incident.objects.create(rule=rule or make_rule(), **{**defaults, **kw})


def make_alert(rule: AlertRule | None = None, *, ago: timedelta | None = None, **kw) -> Alert:
    """A fired alert of ``rule`` (a new one if None), created ``ago`` (now if None)."""
    defaults = {"message": "Model gpt-x is down: HTTP 500"}
    alert = Alert.objects.create(rule=rule or make_rule(), **{**defaults, **kw})
    if ago is not None:  # created_at is set on insert
        Alert.objects.filter(pk=alert.pk).update(created_at=timezone.now() - ago)
        alert.refresh_from_db()
    return alert
