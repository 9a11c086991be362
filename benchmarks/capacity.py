"""What a sweep found: per-step figures, and the largest step that meets the stated SLO.

A step's figures come from its successful requests (docs/metrics.md, "Load profiles and
capacity"): throughput is requests (and output tokens) completed per second of the step's
duration, from its first request sent to its last one finished; TTFT, ITL (each request's
mean inter-token gap) and end-to-end latency are given as p50/p95/p99 over the step's
requests. A step meets the SLO when the chosen percentile of the chosen metric is at most
``max_ms`` and its error rate at most ``max_error_rate`` percent. The capacity is the last
step of the run of passing steps from the first: load beyond a breaking step that happens to
pass again is not sustainable.
"""

from dataclasses import dataclass, field

from arguslm.stats import percentile
from benchmarks.stats import is_failed

METRICS = {"ttft": "ttft_ms", "itl": "itl_mean_ms", "latency": "latency_ms"}
LABELS = {"ttft": "TTFT", "itl": "ITL", "latency": "Latency"}
PERCENTILES = (50, 95, 99)
DEFAULT_MAX_ERROR_RATE = 1.0


class SloError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Slo:
    metric: str
    percentile: int
    max_ms: float
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE

    def __str__(self) -> str:
        return (
            f"{LABELS[self.metric]} p{self.percentile} ≤ {self.max_ms:g} ms and errors "
            f"≤ {self.max_error_rate:g} %"
        )

    def as_dict(self) -> dict:
        return {
            "metric": self.metric,
            "percentile": self.percentile,
            "max_ms": self.max_ms,
            "max_error_rate": self.max_error_rate,
        }


def parse_slo(spec: dict | None) -> Slo | None:
    """The Slo a benchmark request states (None: no verdict asked), or SloError."""
    if not spec:
        return None
    metric = spec.get("metric")
    if metric is None:
        raise SloError("slo.metric", f"An SLO needs a metric: one of {', '.join(METRICS)}.")
    if metric not in METRICS:
        raise SloError("slo.metric", f"Unknown metric '{metric}': one of {', '.join(METRICS)}.")
    pct = spec.get("percentile", 95)
    if pct not in PERCENTILES:
        raise SloError("slo.percentile", "The percentile is 50, 95 or 99.")
    limit = spec.get("max_ms")
    if limit is None or limit <= 0:
        raise SloError("slo.max_ms", "An SLO needs max_ms, a positive number of milliseconds.")
    errors = spec.get("max_error_rate", DEFAULT_MAX_ERROR_RATE)
    if errors is None or not 0 <= errors <= 100:
        raise SloError("slo.max_error_rate", "max_error_rate is a percentage from 0 to 100.")
    return Slo(metric=metric, percentile=pct, max_ms=float(limit), max_error_rate=float(errors))


@dataclass
class StepFigures:
    index: int
    level: float
    sent: int
    ok: int
    errors: int
    duration_s: float
    requests_per_s: float | None
    output_tokens_per_s: float | None
    error_rate: float | None  # percent of the step's requests
    # p50/p95/p99 (ms) of each metric over the step's successful requests.
    percentiles: dict = field(default_factory=dict)
    late_p95_ms: float | None = None  # rate sweeps: how late requests left (pacing)
    meets_slo: bool | None = None  # None: no SLO, or no request finished

    def value(self, metric: str, pct: int) -> float | None:
        return self.percentiles.get(metric, {}).get(f"p{pct}")

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "level": self.level,
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "error_rate": _round(self.error_rate),
            "duration_s": _round(self.duration_s),
            "requests_per_s": _round(self.requests_per_s),
            "output_tokens_per_s": _round(self.output_tokens_per_s),
            **{
                f"{metric}_ms": {k: _round(v) for k, v in values.items()}
                for metric, values in self.percentiles.items()
            },
            "late_p95_ms": _round(self.late_p95_ms),
            "meets_slo": self.meets_slo,
        }


@dataclass
class Capacity:
    """A model's sweep: its steps, and the largest sustainable level (None: no step met
    the SLO, or no SLO was stated)."""

    model_id: str
    model_name: str
    steps: list[StepFigures]
    sustainable: float | None
    verdict: str

    def as_dict(self) -> dict:
        return {
            "model_id": self.model_id,
            "model_name": self.model_name,
            "max_sustainable": self.sustainable,
            "verdict": self.verdict,
            "steps": [s.as_dict() for s in self.steps],
        }


def _round(value):
    return round(value, 3) if isinstance(value, float) else value


def step_figures(step, results, *, rate: bool) -> StepFigures:
    """One step's figures from its stored window (BenchmarkStep) and its results."""
    ok = [r for r in results if not is_failed(r)]
    duration_s = step.duration_ms / 1000
    tokens = sum(r.output_tokens or 0 for r in ok)
    if rate:
        # Completions between the first and the last: n finishes span n − 1 gaps.
        span_s = (step.finish_span_ms or 0) / 1000
        scale = (len(results) - 1) / len(results) if len(results) > 1 else 0
        window = span_s / scale if scale and span_s > 0 else 0
    else:
        # C streams busy from the first send to the last finish.
        window = duration_s
    per_s = (lambda n: n / window) if window > 0 else (lambda n: None)
    figures = StepFigures(
        index=step.index,
        level=step.level,
        sent=step.sent,
        ok=len(ok),
        errors=len(results) - len(ok),
        duration_s=duration_s,
        requests_per_s=per_s(len(ok)),
        output_tokens_per_s=per_s(tokens),
        error_rate=100 * (len(results) - len(ok)) / len(results) if results else None,
    )
    for metric, name in METRICS.items():
        values = [getattr(r, name) for r in ok if getattr(r, name) is not None]
        figures.percentiles[metric] = {f"p{p}": percentile(values, p) for p in PERCENTILES}
    if rate:
        figures.late_p95_ms = percentile([r.queue_ms for r in results], 95)
    return figures


def judge(figures: StepFigures, slo: Slo | None) -> None:
    if slo is None or figures.error_rate is None:
        return
    value = figures.value(slo.metric, slo.percentile)
    errors_ok = figures.error_rate <= slo.max_error_rate
    figures.meets_slo = errors_ok and value is not None and value <= slo.max_ms


def sustainable(steps: list[StepFigures]) -> float | None:
    """The last level of the leading run of steps that met the SLO."""
    best = None
    for step in steps:
        if not step.meets_slo:
            break
        best = step.level
    return best


def capacities(run, steps, results, names: dict) -> list[Capacity]:
    """Every model's sweep: steps (BenchmarkStep rows) and results of ``run``."""
    slo = parse_slo(run.slo)
    rate = run.profile == "rate_sweep"
    unit = "requests/s" if rate else "concurrent streams"
    by_step: dict = {}
    for r in results:
        by_step.setdefault((r.model_id, r.step), []).append(r)
    per_model: dict = {}
    for step in steps:
        figures = step_figures(step, by_step.get((step.model_id, step.index), []), rate=rate)
        judge(figures, slo)
        per_model.setdefault(step.model_id, []).append(figures)
    out = []
    for model_id, figures in per_model.items():
        best = sustainable(figures) if slo else None
        if slo is None:
            verdict = "No SLO stated."
        elif best is None:
            verdict = f"No step met the SLO ({slo})."
        elif best == figures[-1].level and len(figures) == len(run.load["levels"]):
            verdict = f"Every step met the SLO: at least {best:g} {unit}."
        else:
            verdict = f"Max sustainable: {best:g} {unit} ({slo})."
        name = names.get(model_id, str(model_id))
        out.append(Capacity(str(model_id), name, figures, best, verdict))
    return out
