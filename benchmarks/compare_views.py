"""The compare page: a baseline run (A) against a run (B), or one model against another, each
metric's change with its interval and a verdict (benchmarks.compare holds the rules).

GET only: the form at the top submits the page again with its choices
(``?a=<run>&b=<run>[&model_a=&model_b=][&percentile=]``), so a comparison is a link to share.
Bad parameters re-render the form with a message (status 200, the pages' form convention),
never a 500.
"""

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from arguslm.llm.prompts import BY_ID
from arguslm.pages import login_required_htmx
from benchmarks import compare
from benchmarks.models import BenchmarkRun
from providers.models import LLMModel

RECENT_RUNS = 50  # completed runs offered in the form's selects, newest first
PERCENTILES = [(50, "p50 (median)"), (95, "p95"), (99, "p99")]
# The verdict of a metric as the page says it: the words are the label (screen readers), the
# class only colours it.
VERDICTS = {
    "worse": ("worse", "status-down"),
    "better": ("better", "status-up"),
    "unchanged": ("no significant change", "status-unknown"),
    "unknown": ("too few requests", "status-unknown"),
}
LEVEL_UNITS = {
    BenchmarkRun.Profile.CONCURRENCY_SWEEP: "concurrent streams",
    BenchmarkRun.Profile.RATE_SWEEP: "requests/s",
}


class CompareForm(forms.Form):
    a = forms.UUIDField(required=False, label="Baseline run (A)")
    b = forms.UUIDField(required=False, label="Run (B)")
    model_a = forms.UUIDField(required=False, label="Model of A")
    model_b = forms.UUIDField(required=False, label="Model of B")
    percentile = forms.TypedChoiceField(
        choices=PERCENTILES, coerce=int, required=False, empty_value=50, label="Percentile"
    )

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("model_a")) != bool(cleaned.get("model_b")):
            raise forms.ValidationError("Choose a model on both sides, or on neither.")
        return cleaned

    def problems(self) -> list[str]:
        """Each error as a sentence naming its field (the form-wide one as it is)."""
        found = []
        for name, errors in self.errors.items():
            text = " ".join(errors)
            found.append(f"{self.fields[name].label}: {text}" if name in self.fields else text)
        return found


def _recent_runs(*chosen: BenchmarkRun | None) -> list[BenchmarkRun]:
    """The completed runs the selects offer, and the chosen ones if they are not among them."""
    runs = list(
        BenchmarkRun.objects.filter(status=BenchmarkRun.Status.COMPLETED)
        .only("id", "name", "created_at")
        .order_by("-created_at")[:RECENT_RUNS]
    )
    ids = {run.pk for run in runs}
    return runs + [run for run in chosen if run is not None and run.pk not in ids]


def _models_of(*runs: BenchmarkRun | None) -> list[list[tuple[str, str]]]:
    """(id, name) of each run's models, for the model selects (one query for both)."""
    ids = {str(i) for run in runs if run for i in run.model_ids}
    names = {
        str(m.pk): m.display_name
        for m in LLMModel.objects.filter(pk__in=ids).only("model_id", "custom_name")
    }
    return [
        [(str(i), names.get(str(i), f"deleted model {i}")) for i in (run.model_ids if run else [])]
        for run in runs
    ]


def _run_facts(run: BenchmarkRun) -> dict:
    pack = BY_ID.get(run.prompt_pack)
    return {
        "run": run,
        "pack": pack.name if pack else run.prompt_pack,
        "profile": run.get_profile_display(),
        "levels": ", ".join(f"{v:g}" for v in (run.load or {}).get("levels") or []),
    }


def _table(row: compare.Row, sweep: str | None) -> dict:
    """One row of the comparison as the page shows it: a title and one line per metric."""
    same = row.baseline_model.id == row.model.id
    title = row.model.name if same else f"{row.baseline_model.name} → {row.model.name}"
    c = row.comparison
    lines = [
        {
            "change": change,
            "verdict": VERDICTS[change.verdict][0],
            "css": VERDICTS[change.verdict][1],
        }
        for change in c.metrics
    ]
    level = ""
    if row.level is not None:
        level = f"{row.level:g} {LEVEL_UNITS.get(sweep, '')}".strip()
    return {"title": title, "level": level, "comparison": c, "lines": lines}


@login_required_htmx
@require_GET
def benchmark_compare(request: HttpRequest) -> HttpResponse:
    form = CompareForm(request.GET)
    problems, comparison = [], None
    baseline = run = None
    if not form.is_valid():
        problems = form.problems()
    else:
        data = form.cleaned_data
        found = BenchmarkRun.objects.in_bulk([i for i in (data["a"], data["b"]) if i])
        baseline, run = found.get(data["a"]), found.get(data["b"])
        for key, chosen in (("a", baseline), ("b", run)):
            if data[key] and chosen is None:
                problems.append(f"{form.fields[key].label}: run {data[key]} not found.")
        if baseline and run and not problems:
            try:
                if data["model_a"]:
                    comparison = compare.compare_pair(
                        baseline, data["model_a"], run, data["model_b"], q=data["percentile"]
                    )
                else:
                    comparison = compare.compare_runs(baseline, run, q=data["percentile"])
            except compare.ModelNotInRun as exc:
                problems.append(exc.message)
    models_a, models_b = _models_of(baseline, run)
    context = {
        "page": "benchmarks",
        "recent": _recent_runs(baseline, run),
        "models_a": models_a,
        "models_b": models_b,
        "percentiles": PERCENTILES,
        # What was sent, shown as sent (a bad value stays visible next to its message).
        "chosen": {name: request.GET.get(name, "") for name in form.fields},
        "problems": problems,
        "comparison": comparison,
    }
    if comparison:
        context.update(
            facts=[_run_facts(comparison.baseline_run), _run_facts(comparison.run)],
            tables=[_table(row, comparison.sweep) for row in comparison.rows],
            interval_percent=round(comparison.confidence * 100),
        )
    return render(request, "benchmarks/compare.html", context)
