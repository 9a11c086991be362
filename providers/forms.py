"""The Providers and Models pages' forms: the API serializers' rules, page-shaped input.

A provider type's credential fields come from the catalog (``cred_<name>`` inputs); secrets
(and the service-account JSON, which holds a private key) are taken as typed, never stripped.
Tags and probe regions are one text input each, comma or space separated (the serializers'
list form); regional endpoints are one per line, ``<region> <URL>``.
"""

from arguslm.forms import SerializerForm, checkbox, text
from arguslm.llm import catalog
from providers import tags as tag_rules
from providers.models import MAX_REGION_URLS
from providers.serializers import (
    ModelCreateSerializer,
    ModelUpdateSerializer,
    ProviderCreateSerializer,
    ProviderUpdateSerializer,
)


def region_urls(text: str) -> dict:
    """The regional endpoints typed one per line, ``<region> <URL>``, as given (the serializer
    judges them). Past the most an account may have, the extra lines make it refuse them."""
    urls = {}
    for line in (text or "").splitlines()[: MAX_REGION_URLS + 1]:
        region, _, url = line.strip().partition(" ")
        if region:
            urls[region] = url.strip()
    return urls


class CredentialFields(SerializerForm):
    """A form with the credential inputs of one provider type (``spec``)."""

    def __init__(self, data=None, *, spec: catalog.ProviderSpec | None, **kwargs):
        super().__init__(data, **kwargs)
        self.spec = spec
        for f in spec.fields if spec else ():
            secret = f["kind"] in catalog.SECRET_KINDS
            self.fields[f"cred_{f['name']}"] = text(strip=not secret)
            if secret:
                self.fields[f"remove_{f['name']}"] = checkbox()

    def add_field_error(self, key: str, detail) -> None:
        if key == "credentials" and isinstance(detail, dict):
            for name, problems in detail.items():
                super().add_field_error(f"cred_{name}", problems)
        else:
            super().add_field_error(key, detail)


class AccountAddForm(CredentialFields):
    """The Add form; blank credential fields are left out. ``default_name`` stands in for an
    empty name (the type's label when adding; any name for a connection test)."""

    serializer_class = ProviderCreateSerializer

    provider_type = text()
    display_name = text()
    tags = text()

    def __init__(self, data=None, *, default_name: str | None = None, **kwargs):
        spec = catalog.get_spec((data or {}).get("provider_type", ""))
        super().__init__(data, spec=spec, **kwargs)
        self.default_name = default_name or (spec.label if spec else "")

    def payload(self) -> dict:
        credentials = {}
        for f in self.spec.fields if self.spec else ():
            value = self.cleaned_data[f"cred_{f['name']}"]
            if value.strip():
                credentials[f["name"]] = value
        return {
            "provider_type": self.cleaned_data["provider_type"],
            "display_name": self.cleaned_data["display_name"] or self.default_name,
            "credentials": credentials,
            "enabled": True,
            "tags": tag_rules.split(self.cleaned_data["tags"]),
        }

    def add_field_error(self, key: str, detail) -> None:
        if key == "provider_type" and not self.cleaned_data["provider_type"]:
            detail = "Choose a provider type."
        super().add_field_error(key, detail)


class AccountEditForm(CredentialFields):
    """The Edit form as a merge patch: an empty secret is kept, "remove" deletes it, other
    fields are replaced (empty clears them)."""

    serializer_class = ProviderUpdateSerializer

    display_name = text(strip=False)
    tags = text()
    probe_regions = text()
    region_base_urls = text()

    def __init__(self, data=None, *, account, **kwargs):
        spec = catalog.get_spec(account.provider_type)
        super().__init__(data, spec=spec, context={"account": account}, **kwargs)

    def payload(self) -> dict:
        data = {"display_name": self.cleaned_data["display_name"]}
        if "tags" in self.data:  # a form without the input leaves the tags alone
            data["tags"] = tag_rules.split(self.cleaned_data["tags"])
        if "probe_regions" in self.data:
            data["probe_regions"] = tag_rules.split(self.cleaned_data["probe_regions"])
        if "region_base_urls" in self.data:
            data["region_base_urls"] = region_urls(self.cleaned_data["region_base_urls"])
        if self.spec is None:
            return data
        patch: dict = {}
        for f in self.spec.fields:
            name = f["name"]
            value = self.cleaned_data[f"cred_{name}"]
            if f["kind"] in catalog.SECRET_KINDS:
                if self.cleaned_data[f"remove_{name}"]:
                    patch[name] = None
                elif value.strip():
                    patch[name] = value
            else:
                patch[name] = value or None
        return {**data, "credentials": patch}


class ModelAddForm(SerializerForm):
    serializer_class = ModelCreateSerializer

    provider_account_id = text()
    model_id = text(strip=False)
    custom_name = text(strip=False)
    enabled_for_monitoring = checkbox()
    enabled_for_benchmark = checkbox()


class ModelRenameForm(SerializerForm):
    serializer_class = ModelUpdateSerializer

    custom_name = text(strip=False)


class ModelTagsForm(SerializerForm):
    """The model page's tags input: the model's own tags (its account's are set on the
    Providers page); empty removes them."""

    serializer_class = ModelUpdateSerializer

    tags = text()

    def payload(self) -> dict:
        return {"tags": tag_rules.split(self.cleaned_data["tags"])}
