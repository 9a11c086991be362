"""Provider accounts (with encrypted credentials) and the models they serve."""

import json
import uuid

from django.db import models
from encrypted_model_fields.fields import EncryptedTextField

from arguslm import errors, region_names
from arguslm.llm import catalog, egress
from providers import identity


class Tag(models.Model):
    """A label people put on models and accounts to find and group them: ``team:search``,
    ``env:prod``, ``region:eu``, ``tier:gold``, or a plain ``critical``. A model carries its
    own tags and its account's (providers.tags holds the rules and the filters)."""

    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProviderAccount(models.Model):
    """One account at one provider: its type, name and encrypted credentials."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider_type = models.CharField(max_length=50)
    display_name = models.CharField(max_length=255)
    # JSON of the credential dict, encrypted at rest; never returned by the API or pages.
    credentials_encrypted = EncryptedTextField(default="{}")
    enabled = models.BooleanField(default=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="accounts")
    # Probe regions (monitoring.regions) whose workers probe this account's models; empty:
    # every region. A model's own list, when set, replaces it.
    probe_regions = models.JSONField(default=list, blank=True)
    # A regional endpoint per probe region, {region: base URL}, for providers that serve each
    # region from its own host. The account's secrets are sent there: setting one on another
    # host asks for them again (secrets_to_reenter).
    region_base_urls = models.JSONField(default=dict, blank=True)
    is_demo = models.BooleanField(
        default=False, help_text="Created by ArgusLM for the local simulator."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.provider_type})"

    @property
    def credentials(self) -> dict:
        try:
            value = json.loads(self.credentials_encrypted or "{}")
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    @credentials.setter
    def credentials(self, value: dict) -> None:
        clean = {k: v for k, v in value.items() if v not in (None, "")}
        self.credentials_encrypted = json.dumps(clean, sort_keys=True)

    def secrets_to_reenter(self, patch: dict) -> list[str]:
        """The stored secrets this credentials patch must carry again.

        Secrets go only to the host they were entered for: a patch that points a URL field
        at another scheme, host or port (or clears it, back to the provider's default host)
        takes none of the stored secrets along. Otherwise anyone allowed to edit an account
        could send its key to a server of their choice and then press "Test connection".
        """
        spec = catalog.get_spec(self.provider_type)
        if spec is None:
            return []
        stored = self.credentials
        moved = any(
            f["kind"] == "url"
            and f["name"] in patch
            and catalog.origin(patch[f["name"]]) != catalog.origin(stored.get(f["name"]))
            for f in spec.fields
        )
        return self._secrets_not_in(patch) if moved else []

    def _secrets_not_in(self, patch: dict) -> list[str]:
        """The stored secrets that ``patch`` (a credentials patch) does not carry again."""
        spec = catalog.get_spec(self.provider_type)
        stored = self.credentials
        return [
            f["name"]
            for f in (spec.fields if spec else ())
            if f["kind"] in catalog.SECRET_KINDS
            and f["name"] in stored
            and patch.get(f["name"]) in (None, "")
        ]

    def region_urls_to_reenter(self, urls: dict, patch: dict | None = None) -> list[str]:
        """The stored secrets a write of these regional endpoints must carry again in
        ``patch`` (the credentials sent with it); call it before changing the account.

        A region's probes send the account's secrets to its endpoint: one on a host other
        than the account's own (its base URL, else the provider's default) and other than the
        region's stored endpoint is a new host, which gets no stored secret (as for
        secrets_to_reenter).
        """
        spec = catalog.get_spec(self.provider_type)
        own = catalog.origin(self.base_url or (spec.default_base_url if spec else None))
        stored = self.region_base_urls or {}
        moved = any(
            catalog.origin(url) not in (own, catalog.origin(stored.get(region)))
            for region, url in urls.items()
        )
        return self._secrets_not_in(patch or {}) if moved else []

    def set_region_base_urls(self, urls, *, patch: dict | None = None) -> None:
        """Replace the regional endpoints (not saved): Invalid when one is not valid, or
        moves to another host without the secrets in ``patch`` (the credentials sent with
        it)."""
        urls = clean_region_base_urls(urls, provider_type=self.provider_type)
        missing = self.region_urls_to_reenter(urls, patch)
        if missing:
            raise errors.Invalid(
                f"region_base_urls: {reenter_message(self.provider_type, missing)}"
            )
        self.region_base_urls = urls

    def merge_credentials(self, patch: dict) -> None:
        """Apply a partial update: a key set to None (or "") removes it, others are kept.
        Refused (Invalid) when it moves the account to another host without its secrets."""
        missing = self.secrets_to_reenter(patch)
        if missing:
            raise errors.Invalid(reenter_message(self.provider_type, missing))
        merged = self.credentials
        for key, value in patch.items():
            if value in (None, ""):
                merged.pop(key, None)
            else:
                merged[key] = value
        self.credentials = merged

    @property
    def base_url(self) -> str | None:
        return self.credentials.get("base_url")

    @property
    def region(self) -> str | None:
        return self.credentials.get("region")

    @property
    def credential_keys(self) -> list[str]:
        """Which credential keys are set (never their values)."""
        return sorted(self.credentials)


MAX_REGION_URLS = region_names.MAX_REGIONS


def clean_region_base_urls(value, *, provider_type: str) -> dict:
    """{region: base URL}, each an http(s) URL the network policy lets this provider type
    reach; Invalid naming the field (and the region) otherwise."""
    field = "region_base_urls"
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_REGION_URLS:
        raise errors.Invalid(f"{field}: an object of at most {MAX_REGION_URLS} region: URL pairs")
    clean = {}
    for region, url in value.items():
        if not region_names.is_name(region):
            raise errors.Invalid(region_names.not_a_name(field, region))
        where = f"{field}.{region}"
        # Length first: nothing parses a long string.
        if not isinstance(url, str) or len(url) > egress.MAX_URL_CHARS:
            raise errors.Invalid(f"{where}: a URL of at most {egress.MAX_URL_CHARS} characters")
        url = url.strip()
        # No whitespace or control character belongs in a URL (nor \x00 in PostgreSQL's jsonb).
        if any(c.isspace() or not c.isprintable() for c in url) or not catalog.is_http_url(url):
            raise errors.Invalid(
                f"{where}: must be an http(s) URL with a host, e.g. https://host/v1"
            )
        reason = egress.url_refusal(url, private=egress.private_allowed(provider_type))
        if reason:
            raise errors.Invalid(f"{where}: cannot be reached under the network policy: {reason}")
        clean[region] = url
    return dict(sorted(clean.items()))


def reenter_message(provider_type: str, names: list[str]) -> str:
    spec = catalog.get_spec(provider_type)
    labels = {f["name"]: f["label"] for f in spec.fields} if spec else {}
    what = ", ".join(labels.get(name, name) for name in names)
    return (
        f"The endpoint's host changed: enter the {what} again "
        "(stored secrets stay with the host they were entered for)."
    )


class LLMModelQuerySet(models.QuerySet):
    def monitored(self) -> "LLMModelQuerySet":
        """The models monitoring probes: monitoring switched on, on an enabled account.

        The one definition: passes, the dashboard and the pages all use it.
        """
        return self.filter(enabled_for_monitoring=True, provider_account__enabled=True)


class LLMModel(models.Model):
    """A model id served by one provider account, with its monitoring/benchmark switches."""

    class Source(models.TextChoices):
        DISCOVERED = "discovered"
        MANUAL = "manual"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider_account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="models"
    )
    model_id = models.CharField(max_length=255)
    custom_name = models.CharField(max_length=255, null=True, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    enabled_for_monitoring = models.BooleanField(default=False)
    enabled_for_benchmark = models.BooleanField(default=True)
    model_metadata = models.JSONField(default=dict, blank=True)
    # False when the provider's listing stopped including it (kept, with its history).
    available = models.BooleanField(default=True)
    # Optional per-model degraded thresholds (ms); None falls back to the monitoring config.
    degraded_ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    degraded_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    # Answer-check rules (arguslm.llm.answers) replacing the prompt pack's for this model;
    # None uses the pack's, [] checks nothing.
    answer_check = models.JSONField(null=True, blank=True)
    # Which model this is across providers (providers.identity); "" = suggested from the id.
    identity = models.CharField(max_length=100, blank=True, default="")
    tags = models.ManyToManyField(Tag, blank=True, related_name="models")
    # Probe regions for this model (empty: its account's).
    probe_regions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LLMModelQuerySet.as_manager()

    class Meta:
        verbose_name = "model"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_account", "model_id"], name="unique_model_id_per_account"
            )
        ]
        indexes = [
            # Monitoring passes select the monitored models of enabled accounts.
            models.Index(fields=["enabled_for_monitoring"], name="model_monitoring_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def identity_name(self) -> str:
        """The identity set by people, else the one its id suggests."""
        return self.identity or identity.suggest(self.model_id)

    @property
    def display_name(self) -> str:
        return self.custom_name or self.model_id
