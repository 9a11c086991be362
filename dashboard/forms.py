"""The status page form: StatusPageSerializer's rules, page-shaped input."""

from django import forms

from arguslm.forms import SerializerForm, checkbox, text
from dashboard.models import StatusPage
from dashboard.serializers import StatusPageSerializer


class ManyValues(forms.Field):
    """Every value posted under the name (checkboxes); the serializer checks each."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        return [str(v) for v in value or []]


class StatusPageForm(SerializerForm):
    serializer_class = StatusPageSerializer

    slug = text()
    title = text()
    description = text()
    public = checkbox()
    model_ids = ManyValues(required=False)
    account_ids = ManyValues(required=False)

    @staticmethod
    def values_for(page: StatusPage | None) -> dict:
        """The form's values for an existing page (or a new one)."""
        if page is None:
            return {
                "slug": "",
                "title": "",
                "description": "",
                "public": False,
                "model_ids": [],
                "account_ids": [],
            }
        return {
            "slug": page.slug,
            "title": page.title,
            "description": page.description,
            "public": page.public,
            "model_ids": [str(pk) for pk in page.llm_models.values_list("pk", flat=True)],
            "account_ids": [str(pk) for pk in page.accounts.values_list("pk", flat=True)],
        }
