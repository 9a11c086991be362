"""The Benchmarks page's start form: BenchmarkCreateSerializer's rules, page-shaped input."""

from django import forms

from arguslm.forms import SerializerForm, text
from benchmarks.serializers import BenchmarkCreateSerializer

# The form's fields and the values a new form shows (the serializer holds the limits).
DEFAULTS = {
    "prompt_pack": "shakespeare",
    "num_runs": 3,
    "max_tokens": 200,
    "concurrency": 1,
    "warmup_runs": 1,
    "name": "",
}


class BenchmarkStartForm(SerializerForm):
    serializer_class = BenchmarkCreateSerializer

    prompt_pack = text()
    num_runs = text()
    max_tokens = text()
    concurrency = text()
    warmup_runs = text()
    name = text()
    # The ticked models' checkboxes: one ``model_ids`` value each.
    model_ids = forms.Field(required=False, widget=forms.MultipleHiddenInput)

    def add_field_error(self, key: str, detail) -> None:
        if key == "model_ids" and not self.cleaned_data["model_ids"]:
            detail = "Choose at least one model."
        super().add_field_error(key, detail)
