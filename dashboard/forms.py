"""The status page form (StatusPageSerializer's rules, page-shaped input) and the dashboard's
model filters."""

from django import forms

from arguslm.forms import SerializerForm, checkbox, text
from dashboard.fleet import STATE_FILTERS, Filters
from dashboard.models import StatusPage
from dashboard.serializers import StatusPageSerializer
from providers import tags as tag_rules
from providers.models import ProviderAccount


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


class DashboardFilterForm(forms.Form):
    """The dashboard's Models filters, read from the URL (a GET form: every view can be
    linked to). A value that makes no sense is dropped with a note saying so, never a 500:
    the page still shows every model that the other filters allow."""

    q = forms.CharField(required=False, max_length=200)
    account = forms.UUIDField(required=False)
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *STATE_FILTERS.items()])
    tag = ManyValues(required=False)

    def __init__(self, data, *, accounts: list[ProviderAccount]):
        super().__init__(data)
        self.accounts = {account.pk: account for account in accounts}

    def filters(self) -> tuple[Filters, list[str]]:
        """The valid filters, and a note for each one left out."""
        self.is_valid()
        notes = []
        cleaned = self.cleaned_data
        for name in ("q", "account", "state"):
            if name in self.errors:
                shown = str(self.data.get(name, ""))[:40]
                notes.append(f"Ignored {name}={shown!r}: {' '.join(self.errors[name])}")
        account = self.accounts.get(cleaned.get("account"))
        if cleaned.get("account") and account is None:
            notes.append("Ignored the account filter: no such account.")
        tags = []
        for name in self.data.getlist("tag") if hasattr(self.data, "getlist") else []:
            if not name.strip():
                continue
            try:
                value = tag_rules.clean(name)
            except tag_rules.TagError as error:
                notes.append(f"Ignored a tag filter: {error}")
                continue
            if value not in tags:
                tags.append(value)
        if len(tags) > tag_rules.MAX_PER_OBJECT:
            notes.append(f"Only the first {tag_rules.MAX_PER_OBJECT} tags filter the models.")
            tags = tags[: tag_rules.MAX_PER_OBJECT]
        return (
            Filters(
                q=cleaned.get("q", "").strip() if "q" not in self.errors else "",
                account=account,
                state=cleaned.get("state", "") if "state" not in self.errors else "",
                tags=tags,
            ),
            notes,
        )
