"""Is B really different from A, or is it noise? Bootstrap confidence intervals.

``difference(a, b)`` is the relative change of a percentile from sample A (the baseline) to
sample B: ``p(B) / p(A) - 1``, with a percentile-bootstrap interval. Both samples are
resampled with replacement ``resamples`` times; the interval holds the middle ``confidence``
share of the resampled changes. Seeded, so the same samples always give the same interval.
The change is significant when the interval leaves out 0 (docs/metrics.md, "Comparing runs").

``compare_runs(baseline, run)`` applies it to two runs, per model (and load level of a sweep)
and per metric of ``METRICS``, each with whether it got significantly worse;
``compare_pair`` / ``compare_models`` compare one model with another, in one run or two.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from arguslm import errors
from arguslm.stats import percentile
from benchmarks.models import BenchmarkResult, BenchmarkRun
from benchmarks.stats import is_failed
from providers.models import LLMModel

RESAMPLES = 2000
CONFIDENCE = 0.95
MIN_SAMPLES = 5  # fewer successful requests on either side: no interval


@dataclass(frozen=True)
class Difference:
    baseline: float  # the percentile of A
    value: float  # the percentile of B
    change: float  # value / baseline - 1
    low: float  # the interval of the change
    high: float
    n_baseline: int
    n: int

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        """``+18 % [+12, +25]``: the change and its interval, in percent."""
        return f"{_pct(self.change)} % [{_pct(self.low)}, {_pct(self.high)}]"

    def as_dict(self) -> dict:
        return {
            "baseline": round(self.baseline, 3),
            "value": round(self.value, 3),
            "change_percent": round(self.change * 100, 2),
            "ci_low_percent": round(self.low * 100, 2),
            "ci_high_percent": round(self.high * 100, 2),
            "significant": self.significant,
            "n_baseline": self.n_baseline,
            "n": self.n,
            "text": str(self),
        }


def _pct(ratio: float) -> str:
    value = ratio * 100
    return f"{value:+.0f}" if abs(value) >= 10 else f"{value:+.1f}"


def _resampled_percentile(ordered: list[float], q: float, rng: random.Random) -> float:
    """The q-th percentile of one resample (with replacement) of sorted values, drawn directly.

    Percentiles interpolate between the order statistics k and k + 1 of the resample. Drawing
    a value uniformly from n sorted values is taking index floor(U × n), which keeps order,
    so those two order statistics are the values at the k-th and (k + 1)-th smallest of n
    uniform draws: the k-th is Beta(k, n − k + 1), and the next one is the smallest of the
    n − k draws above it. Two draws instead of n and a sort: the same distribution as
    resampling, in constant time (2000 resamples of 500 requests: ~15 ms, not 0.3 s).
    """
    n = len(ordered)
    position = (n - 1) * q / 100
    k = math.floor(position) + 1  # the lower order statistic, counted from 1
    fraction = position - (k - 1)
    u = rng.betavariate(k, n - k + 1)
    low = ordered[min(int(u * n), n - 1)]
    if fraction == 0 or k >= n:
        return low
    above = u + (1 - u) * rng.betavariate(1, n - k)
    return low + (ordered[min(int(above * n), n - 1)] - low) * fraction


def difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    q: float = 50,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Difference | None:
    """The change of the q-th percentile from A to B with its interval; None when either
    side has fewer than MIN_SAMPLES values or A's percentile is 0."""
    a = sorted(v for v in a if v is not None and math.isfinite(v))
    b = sorted(v for v in b if v is not None and math.isfinite(v))
    if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES:
        return None
    base, value = percentile(a, q), percentile(b, q)
    if not base:
        return None
    rng = random.Random(seed)
    changes = []
    for _ in range(resamples):
        ra = _resampled_percentile(a, q, rng)
        rb = _resampled_percentile(b, q, rng)
        if ra:
            changes.append(rb / ra - 1)
    tail = (1 - confidence) / 2 * 100
    return Difference(
        baseline=base,
        value=value,
        change=value / base - 1,
        low=percentile(changes, tail),
        high=percentile(changes, 100 - tail),
        n_baseline=len(a),
        n=len(b),
    )


# --- comparing runs -----------------------------------------------------------------------------
#
# The service the compare API, the compare page and the regression alerts share. The results of
# a run are read once per side, with only the fields compared; a comparison is made of frozen
# dataclasses, each with ``as_dict()`` (the API's shape).


class ModelNotInRun(errors.Invalid):
    """A model asked for is not one of its run's models; ``argument`` names which one."""

    def __init__(self, message: str, *, argument: str):
        super().__init__(message)
        self.argument = argument


@dataclass(frozen=True)
class Metric:
    """A per-request field compared, and which way is worse."""

    field: str
    label: str
    unit: str
    higher_is_worse: bool


METRICS = (
    Metric("ttft_ms", "TTFT", "ms", higher_is_worse=True),
    Metric("latency_ms", "Latency", "ms", higher_is_worse=True),
    Metric("itl_mean_ms", "ITL", "ms", higher_is_worse=True),
    Metric("tps_excluding_ttft", "Output tok/s", "tok/s", higher_is_worse=False),
)
# What a comparison reads of each result (is_failed needs error_type and error).
RESULT_FIELDS = ("model", "step", "error_type", "error", *(m.field for m in METRICS))


@dataclass(frozen=True)
class MetricChange:
    """One metric's change from the baseline, and whether it is a significant regression.

    ``worse`` and ``better`` read the interval, not the point change: a change is worse when
    its whole interval lies on the metric's bad side of 0."""

    metric: Metric
    difference: Difference | None  # None: fewer than MIN_SAMPLES values on a side

    @property
    def worse(self) -> bool:
        d = self.difference
        return d is not None and (d.low > 0 if self.metric.higher_is_worse else d.high < 0)

    @property
    def better(self) -> bool:
        d = self.difference
        return d is not None and (d.high < 0 if self.metric.higher_is_worse else d.low > 0)

    @property
    def verdict(self) -> str:
        """ "worse", "better", "unchanged" (the interval holds 0) or "unknown" (no interval)."""
        if self.difference is None:
            return "unknown"
        return "worse" if self.worse else "better" if self.better else "unchanged"

    def as_dict(self) -> dict:
        return {
            "label": self.metric.label,
            "unit": self.metric.unit,
            "higher_is_worse": self.metric.higher_is_worse,
            "difference": self.difference.as_dict() if self.difference else None,
            "worse": self.worse,
            "better": self.better,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Comparison:
    """Two sets of requests: each metric's change, and the failed requests on each side."""

    metrics: tuple[MetricChange, ...]  # in METRICS order
    n_baseline: int  # successful requests
    n: int
    errors_baseline: int  # failed requests
    errors: int

    @property
    def worse(self) -> bool:
        """Any metric significantly worse."""
        return any(change.worse for change in self.metrics)

    def metric(self, field: str) -> MetricChange:
        return next(change for change in self.metrics if change.metric.field == field)

    @property
    def error_rate_baseline(self) -> float | None:
        return _rate(self.errors_baseline, self.n_baseline)

    @property
    def error_rate(self) -> float | None:
        return _rate(self.errors, self.n)

    def as_dict(self) -> dict:
        return {
            "n_baseline": self.n_baseline,
            "n": self.n,
            "errors_baseline": self.errors_baseline,
            "errors": self.errors,
            "error_rate_baseline_percent": _round_percent(self.error_rate_baseline),
            "error_rate_percent": _round_percent(self.error_rate),
            "metrics": {change.metric.field: change.as_dict() for change in self.metrics},
            "worse": self.worse,
        }


def _rate(errors_: int, ok: int) -> float | None:
    """Failed / all requests; None without requests."""
    return errors_ / (errors_ + ok) if errors_ + ok else None


def _round_percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 2)


def compare(a_results, b_results, *, q: float = 50) -> Comparison:
    """Each metric's change of the q-th percentile from results A (the baseline) to B, over
    successful requests (failed ones are counted apart: they have no timings)."""
    ok_a = [r for r in a_results if not is_failed(r)]
    ok_b = [r for r in b_results if not is_failed(r)]
    return Comparison(
        metrics=tuple(
            MetricChange(
                metric,
                difference(
                    [getattr(r, metric.field) for r in ok_a],
                    [getattr(r, metric.field) for r in ok_b],
                    q=q,
                ),
            )
            for metric in METRICS
        ),
        n_baseline=len(ok_a),
        n=len(ok_b),
        errors_baseline=len(a_results) - len(ok_a),
        errors=len(b_results) - len(ok_b),
    )


@dataclass(frozen=True)
class ModelRef:
    id: str  # the LLMModel's UUID
    name: str

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Row:
    """One model of the baseline against one model of the run (the same one when comparing
    runs), at one load level of a sweep (``level`` None: all of the model's requests)."""

    baseline_model: ModelRef
    model: ModelRef
    level: float | None
    comparison: Comparison

    @property
    def worse(self) -> bool:
        return self.comparison.worse

    def as_dict(self) -> dict:
        return {
            "baseline_model": self.baseline_model.as_dict(),
            "model": self.model.as_dict(),
            "level": self.level,
            **self.comparison.as_dict(),
        }


@dataclass(frozen=True)
class Unmatched:
    """A model of only one of the two runs ("baseline" or "run"): nothing to compare it with."""

    model: ModelRef
    side: str

    def as_dict(self) -> dict:
        return {**self.model.as_dict(), "side": self.side}


@dataclass(frozen=True)
class RunComparison:
    """A baseline run against a run: one row per compared model (and level), and what was
    left out.

    ``sweep`` is the runs' profile when rows are per load level, else None. ``notes`` say in
    words where the runs differ in a way that makes the comparison less like for like (other
    prompt pack, levels of one run only, ...)."""

    baseline_run: BenchmarkRun
    run: BenchmarkRun
    q: float
    rows: tuple[Row, ...]
    unmatched: tuple[Unmatched, ...] = ()
    notes: tuple[str, ...] = ()
    sweep: str | None = None
    confidence: float = CONFIDENCE
    resamples: int = RESAMPLES
    min_samples: int = MIN_SAMPLES

    @property
    def worse(self) -> bool:
        """Any metric of any row significantly worse."""
        return any(row.worse for row in self.rows)

    def as_dict(self) -> dict:
        return {
            "baseline": _run_dict(self.baseline_run),
            "run": _run_dict(self.run),
            "percentile": self.q,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "min_samples": self.min_samples,
            "sweep": self.sweep,
            "rows": [row.as_dict() for row in self.rows],
            "unmatched": [item.as_dict() for item in self.unmatched],
            "notes": list(self.notes),
            "worse": self.worse,
        }


def _run_dict(run: BenchmarkRun) -> dict:
    return {"id": str(run.id), "name": run.name, "profile": run.profile}


def compare_runs(baseline: BenchmarkRun, run: BenchmarkRun, *, q: float = 50) -> RunComparison:
    """Every model of both runs (matched by model id), baseline → run.

    Rows follow the run's model order; in two sweeps of the same profile there is one row per
    model and load level of both runs, else one per model over all its requests. Models of one
    run only are ``unmatched``. A regression check reads, per row, ``row.model`` and for each
    ``change`` in ``row.comparison.metrics``: ``change.metric.field``, ``change.difference``
    (a Difference, or None with too few samples) and ``change.worse`` (significant and on the
    metric's bad side); ``RunComparison.worse`` says whether any is.

    Two queries for the results (one per run) and one for the model names."""
    ids_a, ids_b = [str(i) for i in baseline.model_ids], [str(i) for i in run.model_ids]
    names = _model_names({*ids_a, *ids_b})
    common = [i for i in ids_b if i in set(ids_a)]
    pairs = [(i, i) for i in common]
    unmatched = tuple(
        [Unmatched(ModelRef(i, names[i]), "baseline") for i in ids_a if i not in common]
        + [Unmatched(ModelRef(i, names[i]), "run") for i in ids_b if i not in common]
    )
    return replace(_compare(baseline, run, pairs, names, q=q), unmatched=unmatched)


def compare_pair(
    baseline: BenchmarkRun,
    baseline_model,
    run: BenchmarkRun,
    model,
    *,
    q: float = 50,
) -> RunComparison:
    """One model of the baseline run against one model of the run ("model A vs model B", in
    one run or across two); a model is an LLMModel or its id. ModelNotInRun when a model is
    not one of its run's models (``argument`` is "baseline_model" or "model")."""
    a, b = str(getattr(baseline_model, "pk", baseline_model)), str(getattr(model, "pk", model))
    for argument, model_id, of in (("baseline_model", a, baseline), ("model", b, run)):
        if model_id not in {str(i) for i in of.model_ids}:
            raise ModelNotInRun(
                f"Model {model_id} is not one of the models of “{of.name}”.", argument=argument
            )
    return _compare(baseline, run, [(a, b)], _model_names({a, b}), q=q)


def compare_models(run: BenchmarkRun, model_a, model_b, *, q: float = 50) -> RunComparison:
    """Model A (the baseline) against model B within one run."""
    return compare_pair(run, model_a, run, model_b, q=q)


def _compare(
    baseline: BenchmarkRun, run: BenchmarkRun, pairs: list, names: dict, *, q: float
) -> RunComparison:
    """Rows for (baseline model id, model id) pairs, per level where the loads match."""
    levels, notes = _matched_levels(baseline, run)
    by_a = _results(baseline, {a for a, _ in pairs})
    by_b = _results(run, {b for _, b in pairs})
    rows = []
    for a, b in pairs:
        ref_a, ref_b = ModelRef(a, names[a]), ModelRef(b, names[b])
        if levels is None:
            rows.append(Row(ref_a, ref_b, None, compare(_all(by_a, a), _all(by_b, b), q=q)))
            continue
        for level, step_a, step_b in levels:
            found_a, found_b = by_a.get((a, step_a), []), by_b.get((b, step_b), [])
            rows.append(Row(ref_a, ref_b, level, compare(found_a, found_b, q=q)))
    return RunComparison(
        baseline_run=baseline,
        run=run,
        q=q,
        rows=tuple(rows),
        notes=tuple(notes),
        sweep=run.profile if levels is not None else None,
    )


def _results(run: BenchmarkRun, model_ids: set) -> dict:
    """The run's results of these models, by (model id, step): one query."""
    grouped: dict = {}
    # Not run.results: the related manager would set .run on each row, loading run_id one
    # row at a time (a deferred field).
    results = (
        BenchmarkResult.objects.filter(run=run, model_id__in=model_ids)
        .only(*RESULT_FIELDS)
        .order_by("seq")
    )
    for result in results:
        grouped.setdefault((str(result.model_id), result.step), []).append(result)
    return grouped


def _all(grouped: dict, model_id: str) -> list:
    return [r for (m, _), items in grouped.items() if m == model_id for r in items]


def _model_names(ids: set) -> dict:
    """Model id → display name; a deleted model is named by its id."""
    found = {
        str(m.pk): m.display_name
        for m in LLMModel.objects.filter(pk__in=ids).only("model_id", "custom_name")
    }
    return {i: found.get(i, f"deleted model {i}") for i in ids}


def _levels_of(run: BenchmarkRun) -> list:
    return list((run.load or {}).get("levels") or [])


def _matched_levels(baseline: BenchmarkRun, run: BenchmarkRun) -> tuple[list | None, list[str]]:
    """(level, baseline step, run step) for each load level both sweeps ran, in the run's
    order; None when the rows pool every request of a model (two fixed runs, or loads that do
    not match). Notes say what differs between the runs' settings."""
    notes = []
    if baseline.prompt_pack != run.prompt_pack:
        notes.append(f"Different prompt packs: {baseline.prompt_pack} → {run.prompt_pack}.")
    if baseline.max_tokens != run.max_tokens:
        notes.append(f"Different max tokens: {baseline.max_tokens} → {run.max_tokens}.")
    fixed = BenchmarkRun.Profile.FIXED
    if baseline.profile == fixed and run.profile == fixed:
        if baseline.concurrency != run.concurrency:
            notes.append(f"Different concurrency: {baseline.concurrency} → {run.concurrency}.")
        return None, notes
    if baseline.profile != run.profile:
        notes.append(
            f"The runs apply load differently ({baseline.profile} → {run.profile}): each "
            "model's requests are compared over all load levels together."
        )
        return None, notes
    levels_a, levels_b = _levels_of(baseline), _levels_of(run)
    matched = [
        (level, levels_a.index(level), step)
        for step, level in enumerate(levels_b)
        if level in levels_a
    ]
    only_a = [f"{v:g}" for v in levels_a if v not in levels_b]
    only_b = [f"{v:g}" for v in levels_b if v not in levels_a]
    if only_a:
        notes.append(f"Levels of the baseline only, not compared: {', '.join(only_a)}.")
    if only_b:
        notes.append(f"Levels of the run only, not compared: {', '.join(only_b)}.")
    if not matched:
        notes.append("The sweeps share no load level: requests are compared over all levels.")
        return None, notes
    return matched, notes
