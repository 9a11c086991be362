"""Saved benchmarks (templates): their schedule, their baseline run, and regression verdicts.

A template stores the body of ``POST /api/v1/benchmarks`` (``spec``), checked by the same
serializer when it is saved and again when it starts: a model deleted or switched off since
must give a clear refusal, not a crashed worker. ``run_due`` (every minute, django-q2) starts
the templates whose cron time has come, one run at a time per template. Each new run of a
template is compared with its baseline run per model (benchmarks.compare): a change of a
metric's median that is significant, in the worse direction and at least a threshold is a
regression (the ``benchmark_regression`` alert rule reads ``regressions``).
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cronsim import CronSim
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from arguslm import errors
from arguslm.pages import error_text
from benchmarks import compare, engine, services
from benchmarks.compare import Difference
from benchmarks.models import BenchmarkRun, BenchmarkTemplate
from benchmarks.serializers import BenchmarkCreateSerializer
from providers.models import LLMModel

log = logging.getLogger(__name__)

# The metrics a regression can be judged on: the result field, and whether lower is worse.
METRICS = {
    "ttft": "ttft_ms",
    "latency": "latency_ms",
    "itl": "itl_mean_ms",
    "tps": "tps_excluding_ttft",
}
LABELS = {"ttft": "TTFT", "latency": "Latency", "itl": "ITL", "tps": "Decode speed"}
UNITS = {"ttft": "ms", "latency": "ms", "itl": "ms", "tps": "tok/s"}
# What a template's last run shows against its baseline (API and page).
SHOWN = ("ttft", "latency", "tps")
Q_MEDIAN = 50
# A completed run's results never change: its comparison with a baseline is kept this long.
COMPARISON_CACHE_S = 24 * 3600


class TemplateInvalid(errors.Invalid):
    """The saved settings no longer make a valid benchmark (a model deleted or switched off)."""


# --- saving -------------------------------------------------------------------------------------


def checked_spec(spec) -> tuple[dict, dict]:
    """``spec`` as it is stored (JSON, defaults filled in; ``name`` only when one was given)
    and BenchmarkCreateSerializer's errors ({} when it is valid)."""
    if not isinstance(spec, dict):
        return {}, {"non_field_errors": ["Expected a JSON object (a POST /benchmarks body)."]}
    serializer = BenchmarkCreateSerializer(data=spec)
    if not serializer.is_valid():
        return {}, serializer.errors
    stored = dict(serializer.data)
    if not (spec.get("name") or "").strip():
        stored.pop("name", None)  # runs take the template's name, not a frozen default
    return stored, {}


def next_fire(cron: str, after: datetime) -> datetime | None:
    """The first time strictly after ``after`` that ``cron`` (UTC) fires; None if never."""
    try:
        return next(CronSim(cron, after.astimezone(UTC)), None)
    except Exception:  # a malformed expression stored past the serializer (raw SQL, fixtures)
        log.warning("Saved benchmark cron %r cannot be read", cron)
        return None


def save(*, template: BenchmarkTemplate | None = None, user=None, **data) -> BenchmarkTemplate:
    """Create a template, or change ``template``; ``data`` is BenchmarkTemplateSerializer's
    validated data. The next run is worked out again from the cron: a paused template has
    none, and switching one back on never starts a run for the times it missed."""
    template = template or BenchmarkTemplate()
    if template._state.adding and user is not None and user.is_authenticated:
        template.created_by = user
    for name, value in data.items():
        setattr(template, name, value)
    template.next_run_at = (
        next_fire(template.cron, timezone.now()) if template.cron and template.enabled else None
    )
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:  # the name was taken between the check and the write
        raise errors.Conflict(
            f"A saved benchmark named “{template.name}” already exists."
        ) from None
    return template


def delete(*, template: BenchmarkTemplate) -> None:
    """Its runs stay in the history (their ``template`` becomes null)."""
    template.delete()


# --- starting -----------------------------------------------------------------------------------


def _run_data(template: BenchmarkTemplate) -> dict:
    spec = template.spec if isinstance(template.spec, dict) else {}
    serializer = BenchmarkCreateSerializer(data={**spec, "name": spec.get("name") or template.name})
    if not serializer.is_valid():
        raise TemplateInvalid(
            f"The saved benchmark “{template.name}” cannot start: "
            f"{error_text(serializer.errors)} Edit its settings or delete it."
        )
    return serializer.validated_data


def start(template: BenchmarkTemplate, *, triggered_by: str, user=None) -> BenchmarkRun:
    """Start a run of the template now (benchmarks.services.start: the same benchmark cap).

    TemplateInvalid when its settings are no longer valid (checked again: models may have
    been deleted or switched off since it was saved)."""
    data = _run_data(template)
    return services.start(
        data={**data, "template": template, "triggered_by": triggered_by}, user=user
    )


def _record_failure(template: BenchmarkTemplate, message: str) -> BenchmarkRun:
    """A scheduled start that was refused, kept as a failed run: nobody was there to see it,
    and the template's last run should say why nothing ran."""
    spec = template.spec if isinstance(template.spec, dict) else {}
    now = timezone.now()
    ids = spec.get("model_ids")
    return BenchmarkRun.objects.create(
        name=spec.get("name") or template.name,
        status=BenchmarkRun.Status.FAILED,
        model_ids=[str(i) for i in ids] if isinstance(ids, list) else [],
        prompt_pack=str(spec.get("prompt_pack") or "")[:100],
        template=template,
        triggered_by="schedule",
        started_at=now,
        completed_at=now,
        error=message,
    )


def run_due(now: datetime | None = None) -> list[BenchmarkRun]:
    """Start every enabled template whose cron time has come; returns the runs started.

    A template whose previous run is still pending or running is skipped this time (one
    benchmark hour does not pile up behind another). Its next time is claimed with a
    conditional update first, so two overlapping passes start it once. At the benchmark cap
    it is tried again the next minute; a start refused for its settings is recorded as a
    failed run."""
    now = now or timezone.now()
    engine.close_stale_runs()  # a run whose worker died must not hold its template back
    due = BenchmarkTemplate.objects.filter(enabled=True).exclude(cron="")
    due = due.filter(Q(next_run_at__lte=now) | Q(next_run_at__isnull=True))
    started = []
    for template in due:
        upcoming = next_fire(template.cron, now)
        was = template.next_run_at
        claimed = BenchmarkTemplate.objects.filter(pk=template.pk, next_run_at=was).update(
            next_run_at=upcoming
        )
        if not claimed or was is None:  # taken by another pass, or just scheduled
            continue
        if template.runs.filter(status__in=services.ACTIVE).exists():
            log.warning("Saved benchmark %s: its last run is still going; skipped", template.name)
            continue
        try:
            started.append(start(template, triggered_by="schedule"))
        except services.TooManyBenchmarks:
            log.warning("Saved benchmark %s: at the benchmark cap; retried", template.name)
            BenchmarkTemplate.objects.filter(pk=template.pk, next_run_at=upcoming).update(
                next_run_at=was
            )
        except TemplateInvalid as exc:
            log.warning("%s", exc.message)
            _record_failure(template, exc.message)
        except errors.DomainError as exc:  # the queue is down: services.start recorded it
            log.warning("Saved benchmark %s: %s", template.name, exc.message)
    return started


# --- the baseline -------------------------------------------------------------------------------


def baseline_problem(template: BenchmarkTemplate, run: BenchmarkRun) -> str | None:
    """Why ``run`` cannot be the template's baseline, or None."""
    if run.template_id != template.pk:
        return (
            f"The run “{run.name}” was not started from the saved benchmark “{template.name}”: "
            "a baseline must be one of its own runs."
        )
    if run.status != BenchmarkRun.Status.COMPLETED:
        return f"Only a completed run can be the baseline (this one is {run.status})."
    return None


def set_baseline(template: BenchmarkTemplate, run: BenchmarkRun) -> BenchmarkTemplate:
    """New runs of the template are compared with ``run`` from now on."""
    if problem := baseline_problem(template, run):
        if run.template_id != template.pk:
            raise errors.Invalid(problem)
        raise errors.Conflict(problem)
    template.baseline_run = run
    template.save(update_fields=["baseline_run", "updated_at"])
    return template


# --- comparing with the baseline ----------------------------------------------------------------
# One comparison for the page, the API and the alerts: benchmarks.compare.compare_runs (per
# model, and per load level of two sweeps).


def model_label(model) -> str:
    """ "GPT-4o mini (OpenAI prod)": a model with its provider account."""
    return f"{model.display_name} ({model.provider_account.display_name})"


@dataclass(frozen=True)
class Regression:
    """One model's verdict on one metric: its change against the baseline, and whether it
    is a regression (significant, worse, and at least the threshold)."""

    model: object
    metric: str
    difference: Difference
    failing: bool
    message: str


def _baseline_of(run: BenchmarkRun) -> BenchmarkRun | None:
    """The baseline a completed templated run is judged against (None: nothing to judge)."""
    template = run.template
    baseline = template.baseline_run if template is not None else None
    if baseline is None or baseline.pk == run.pk or run.status != BenchmarkRun.Status.COMPLETED:
        return None
    return baseline


def regressions(run: BenchmarkRun, *, metric: str, threshold_percent: float) -> list[Regression]:
    """Each model's verdict on ``metric`` (its median) against the template's baseline run.

    Empty unless ``run`` is a completed run of a template with a baseline (and not the
    baseline itself); a model with too few successful requests on either side has no
    verdict (benchmarks.compare.MIN_SAMPLES). In a sweep, a model regresses when any load
    level does; the message names the worst level."""
    baseline = _baseline_of(run)
    if baseline is None:
        return []
    field, label, unit = METRICS[metric], LABELS[metric], UNITS[metric]
    rows: dict = {}
    for row in compare.compare_runs(baseline, run, q=Q_MEDIAN).rows:
        change = row.comparison.metric(field)
        if change.difference is None:
            continue
        failing = change.worse and abs(change.difference.change) * 100 >= threshold_percent
        # Per model: a failing level before any other, then the largest change for the worse.
        rank = (failing, change.difference.change * (1 if change.metric.higher_is_worse else -1))
        if row.model.id not in rows or rank > rows[row.model.id][0]:
            rows[row.model.id] = (rank, row, change)
    models = LLMModel.objects.select_related("provider_account").in_bulk(list(rows))
    out = []
    for model_id, ((failing, _), row, change) in rows.items():
        model, diff = models.get(uuid.UUID(model_id)), change.difference
        if model is None:
            continue
        at = f" at {row.level:g} {_unit(run)}" if row.level is not None else ""
        message = (
            f"{model_label(model)}: {label} p50 {diff}{at} vs baseline run “{baseline.name}” of "
            f"{baseline.created_at:%Y-%m-%d} ({diff.baseline:.0f} → {diff.value:.0f} {unit})"
        )
        if not diff.significant:
            message += ", not a significant change"
        elif not change.worse:
            message += ", an improvement"
        elif not failing:
            message += f", under the {threshold_percent:g} % threshold"
        out.append(Regression(model, metric, diff, failing, message))
    return out


def _unit(run: BenchmarkRun) -> str:
    return "req/s" if run.profile == BenchmarkRun.Profile.RATE_SWEEP else "streams"


def comparison(baseline: BenchmarkRun, run: BenchmarkRun) -> list[dict]:
    """Per model (and load level) of ``run`` also in ``baseline``: the change of each SHOWN
    metric's median (``Difference.as_dict()`` with ``worse``, or None with too few samples).
    Cached: a finished run's results do not change."""
    key = f"bench-compare:{baseline.pk}:{run.pk}"
    if (cached := cache.get(key)) is not None:
        return cached
    rows = []
    for row in compare.compare_runs(baseline, run, q=Q_MEDIAN).rows:
        out = {"model_id": row.model.id, "model_name": row.model.name, "level": row.level}
        for metric in SHOWN:
            change = row.comparison.metric(METRICS[metric])
            diff = change.difference
            out[metric] = None if diff is None else {**diff.as_dict(), "worse": change.worse}
        rows.append(out)
    if run.is_finished:
        cache.set(key, rows, COMPARISON_CACHE_S)
    return rows


def verdict_lines(rows: list[dict]) -> list[dict]:
    """The page's reading of a comparison: per model, its significant changes ("TTFT p50
    +18 % [+12, +25]", marked worse or better), or that nothing changed significantly."""
    lines = []
    for row in rows:
        changes = [
            {"text": f"{LABELS[m]} p50 {row[m]['text']}", "worse": row[m]["worse"]}
            for m in SHOWN
            if row[m] is not None and row[m]["significant"]
        ]
        name = row["model_name"]
        if row.get("level") is not None:
            name = f"{name} at {row['level']:g}"
        lines.append({"model_name": name, "changes": changes})
    return lines


# --- what the API and the page show of a template -----------------------------------------------


@dataclass
class Summary:
    template: BenchmarkTemplate
    last_run: BenchmarkRun | None
    comparison: list[dict] | None  # None: no baseline, no finished last run, or it is the baseline

    @property
    def verdict(self) -> list[dict]:
        return verdict_lines(self.comparison or [])


def summaries(templates) -> list[Summary]:
    """Each template with its newest run and, when that run completed and is not the baseline,
    its comparison with the baseline."""
    templates = list(templates)
    newest: dict = {}
    runs = BenchmarkRun.objects.filter(template__in=templates).order_by(
        "template_id", "-created_at"
    )
    for run in runs.only(
        "id", "name", "status", "template_id", "created_at", "completed_at", "error"
    ):
        newest.setdefault(run.template_id, run)
    out = []
    for template in templates:
        last = newest.get(template.pk)
        baseline = template.baseline_run
        compared = None
        if (
            last is not None
            and baseline is not None
            and last.pk != baseline.pk
            and last.status == BenchmarkRun.Status.COMPLETED
        ):
            compared = comparison(baseline, last)
        out.append(Summary(template, last, compared))
    return out
