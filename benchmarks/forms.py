"""The Benchmarks page's start form: BenchmarkCreateSerializer's rules, page-shaped input.

The sweep settings arrive as flat fields (``load_levels`` "1, 2, 4, 8", ``slo_max_ms``…) and
go to the serializer as its nested ``load`` and ``slo``; its errors come back on the fields.
"""

from django import forms

from arguslm.forms import SerializerForm, text
from arguslm.pages import error_text
from benchmarks.serializers import BenchmarkCreateSerializer

# The form's fields and the values a new form shows (the serializer holds the limits).
DEFAULTS = {
    "prompt_pack": "shakespeare",
    "num_runs": 3,
    "max_tokens": 200,
    "concurrency": 1,
    "warmup_runs": 1,
    "name": "",
    "profile": "fixed",
    "load_levels": "",
    "step_seconds": "",
    "step_requests": "",
    "arrivals": "constant",
    "slo_metric": "ttft",
    "slo_percentile": "95",
    "slo_max_ms": "",
    "slo_max_error_rate": "1",
}
# Nested serializer keys → the flat fields that show their errors.
NESTED_FIELDS = {
    "load": {
        "levels": "load_levels",
        "max": "load_levels",
        "step_seconds": "step_seconds",
        "step_requests": "step_requests",
        "arrivals": "arrivals",
    },
    "slo": {
        "metric": "slo_metric",
        "percentile": "slo_percentile",
        "max_ms": "slo_max_ms",
        "max_error_rate": "slo_max_error_rate",
    },
}
SPEC_FIELDS = ("prompt_pack", "max_tokens", "num_runs", "concurrency", "warmup_runs", "profile")


class RunSettingsForm(SerializerForm):
    """The fields of one run's settings, shared by the start form and "Save as template"."""

    prompt_pack = text()
    num_runs = text()
    max_tokens = text()
    concurrency = text()
    warmup_runs = text()
    name = text()
    # The ticked models' checkboxes: one ``model_ids`` value each.
    model_ids = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    profile = text()
    load_levels = text()
    step_seconds = text()
    step_requests = text()
    arrivals = text()
    slo_metric = text()
    slo_percentile = text()
    slo_max_ms = text()
    slo_max_error_rate = text()

    def run_spec(self) -> dict:
        """The POST /api/v1/benchmarks body these fields stand for."""
        form = self.cleaned_data
        spec = {key: form[key] for key in SPEC_FIELDS if form[key] != ""}
        spec["model_ids"] = form["model_ids"] or []
        if form["name"]:
            spec["name"] = form["name"]
        if spec.get("profile", "fixed") == "fixed":
            return spec
        levels = [v.strip() for v in form["load_levels"].replace(";", ",").split(",")]
        load = {"levels": [v for v in levels if v]}
        for key in ("step_seconds", "step_requests"):
            if form[key]:
                load[key] = form[key]
        if spec["profile"] == "rate_sweep" and form["arrivals"]:
            load["arrivals"] = form["arrivals"]
        spec["load"] = load
        if form["slo_max_ms"]:
            spec["slo"] = {
                "metric": form["slo_metric"],
                "percentile": form["slo_percentile"] or 95,
                "max_ms": form["slo_max_ms"],
                "max_error_rate": form["slo_max_error_rate"] or 1,
            }
        return spec

    def add_field_error(self, key: str, detail) -> None:
        if key == "model_ids" and not self.cleaned_data["model_ids"]:
            detail = "Choose at least one model."
        nested = NESTED_FIELDS.get(key)
        if nested and isinstance(detail, dict):
            for sub, problems in detail.items():
                self.add_error(nested.get(sub), error_text(problems))
            return
        if nested:
            key = next(iter(nested.values()))
        super().add_field_error(key, detail)


class BenchmarkStartForm(RunSettingsForm):
    serializer_class = BenchmarkCreateSerializer

    def payload(self) -> dict:
        return self.run_spec()


def shown(values: dict) -> dict:
    """A submitted form's run settings, to show it again as it was sent."""
    fields = (*DEFAULTS, "model_ids")
    return {**DEFAULTS, **{k: values[k] for k in fields if k in values}} | {
        "model_ids": values.get("model_ids") or []
    }
