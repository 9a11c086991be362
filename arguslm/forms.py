"""The base of the pages' forms: the rules are the API serializers', stated once.

A page form reads the POST (Django form fields: text stripped, checkboxes as booleans) and
turns it into the serializer's input (``payload``); ``clean()`` runs the serializer, so the
page and the API accept and refuse the same input, in the same words. Serializer errors land
on the form field that shows them, or at the top of the form (``non_field_errors``).
"""

from datetime import timedelta

from django import forms
from rest_framework import serializers

from arguslm.models import ApiToken
from arguslm.pages import error_text


class SerializerForm(forms.Form):
    serializer_class: type[serializers.Serializer]
    # A serializer error key → the form field that shows it, where the names differ.
    error_fields: dict[str, str] = {}

    def __init__(self, data=None, *, instance=None, partial=False, context=None, **kwargs):
        super().__init__(data, **kwargs)
        self.instance, self.partial, self.context = instance, partial, context or {}
        self.serializer = None

    def payload(self) -> dict:
        """The serializer's input, from ``cleaned_data``."""
        return dict(self.cleaned_data)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        self.serializer = self.serializer_class(
            self.instance, data=self.payload(), partial=self.partial, context=self.context
        )
        if not self.serializer.is_valid():
            for key, detail in self.serializer.errors.items():
                self.add_field_error(key, detail)
        return cleaned

    def add_field_error(self, key: str, detail) -> None:
        field = self.error_fields.get(key, key)
        self.add_error(field if field in self.fields else None, error_text(detail))

    @property
    def validated_data(self) -> dict:
        return self.serializer.validated_data

    def messages(self) -> dict[str, str]:
        """The errors for the templates: {field: message}, "form" for the top of the form."""
        return {
            ("form" if name == forms.forms.NON_FIELD_ERRORS else name): " ".join(errors)
            for name, errors in self.errors.items()
        }

    def values(self) -> dict:
        """The submitted values, for showing the form again as it was sent."""
        cleaned = getattr(self, "cleaned_data", {})
        return {name: cleaned.get(name, self[name].value()) for name in self.fields}


def text(**kwargs) -> forms.CharField:
    """A text input the serializer validates: optional here, stripped."""
    return forms.CharField(required=False, **kwargs)


def checkbox() -> forms.BooleanField:
    """A checkbox: absent from the POST means False (not "use the default")."""
    return forms.BooleanField(required=False)


class TokenForm(forms.Form):
    """A new API token on the Settings page."""

    EXPIRY = {"never": None, "30": 30, "90": 90, "365": 365}
    EXPIRY_LABELS = [("never", "Never"), ("30", "In 30 days"), ("90", "In 90 days")]

    name = forms.CharField(max_length=100, strip=True)
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.FULL)
    expires = forms.ChoiceField(
        choices=[
            ("never", "Never"),
            ("30", "In 30 days"),
            ("90", "In 90 days"),
            ("365", "In a year"),
        ],
        initial="90",
    )

    def expires_in(self) -> timedelta | None:
        days = self.EXPIRY[self.cleaned_data["expires"]]
        return timedelta(days=days) if days else None
