"""Provider workflows that call out or span models: discovery merge, tests, deletion, demo,
bulk actions on a filtered selection of models."""

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from django.db import IntegrityError, transaction
from django.db.models import Count, ProtectedError, QuerySet
from django.utils import timezone

from arguslm import audit, errors, region_names
from arguslm.llm import catalog, connection, discovery
from arguslm.llm.types import GatewayError
from providers import tags as tag_rules
from providers.models import LLMModel, ProviderAccount, Tag

DEMO_NAME = "Local simulator"
DEMO_MONITORED = ["fast-small", "balanced-medium", "slow-large", "reasoner", "flaky"]
# Something for the tag filters and the Prometheus tag labels to show: the account's env and
# region, teams and tiers on the monitored models.
DEMO_ACCOUNT_TAGS = ["env:staging", "region:local"]
DEMO_MODEL_TAGS = {
    "fast-small": ["team:search", "tier:gold"],
    "balanced-medium": ["team:search", "critical"],
    "slow-large": ["team:research"],
    "reasoner": ["team:research", "tier:gold"],
    "flaky": ["team:platform"],
}


@dataclass
class RefreshResult:
    """What a discovery merge changed."""

    discovered: int
    added: int
    updated: int
    unavailable: int

    @property
    def message(self) -> str:
        return (
            f"Discovered {self.discovered} models: {self.added} new, {self.updated} updated, "
            f"{self.unavailable} no longer listed."
        )


@dataclass
class Created:
    """A new account, and what discovering its models found (or why it could not)."""

    account: ProviderAccount
    refresh: RefreshResult | None = None
    discovery_error: str | None = None


def create_account(
    *,
    provider_type: str,
    display_name: str,
    credentials: dict,
    enabled: bool = True,
    discover_models: bool = True,
    tags: list[str] | None = None,
    probe_regions: list[str] | None = None,
    region_base_urls: dict | None = None,
) -> Created:
    """Store a new account (credentials encrypted) with its tags, probe regions and regional
    endpoints, then discover its models once.

    Validation is the serializers' (ProviderCreateSerializer), shared by the page and the API;
    a failed discovery keeps the account and says why (models can be added by hand).
    """
    account = ProviderAccount(
        provider_type=provider_type,
        display_name=display_name,
        enabled=enabled,
        probe_regions=region_names.clean_names(probe_regions, "probe_regions"),
    )
    account.credentials = credentials
    # Its secrets are entered with these endpoints: nothing to enter again.
    account.set_region_base_urls(region_base_urls, patch=credentials)
    with transaction.atomic():
        account.save()
        if tags:
            tag_rules.set_tags(account, tags)
    created = Created(account)
    if discover_models:
        try:
            created.refresh = refresh_models(account=account)
        except GatewayError as exc:
            created.discovery_error = exc.message
    return created


def update_account(
    *,
    account: ProviderAccount,
    display_name: str | None = None,
    enabled: bool | None = None,
    credentials: dict | None = None,
    tags: list[str] | None = None,
    probe_regions: list[str] | None = None,
    region_base_urls: dict | None = None,
) -> ProviderAccount:
    """Rename, enable or disable, patch the credentials, replace the tags, the probe regions
    and the regional endpoints (``None`` leaves a part as it is; a credential set to None or
    "" is removed; ``[]`` or ``{}`` removes them all). Validation is
    ProviderUpdateSerializer's; the hosts the secrets may go to are the account's rule
    (Invalid when a URL moves them without the secrets)."""
    if display_name is not None:
        account.display_name = display_name
    if enabled is not None:
        account.enabled = enabled
    if probe_regions is not None:
        account.probe_regions = region_names.clean_names(probe_regions, "probe_regions")
    if region_base_urls is not None:
        # Before the credentials change: both are checked against the hosts stored now.
        account.set_region_base_urls(region_base_urls, patch=credentials)
    if credentials is not None:
        account.merge_credentials(credentials)
    with transaction.atomic():
        account.save()
        if tags is not None:
            tag_rules.set_tags(account, tags)
    return account


def duplicate_model_message(model_id: str) -> str:
    return f"Model '{model_id}' already exists for this provider account"


def add_model(
    *,
    account_id,
    model_id: str,
    custom_name: str | None = None,
    metadata: dict | None = None,
    enabled_for_monitoring: bool = True,
    enabled_for_benchmark: bool = True,
    tags: list[str] | None = None,
    probe_regions: list[str] | None = None,
) -> LLMModel:
    """Add a model by hand (``source=manual``), with its own tags and probe regions; Conflict
    if the account already has that id."""
    probe_regions = region_names.clean_names(probe_regions, "probe_regions")
    if LLMModel.objects.filter(provider_account_id=account_id, model_id=model_id).exists():
        raise errors.Conflict(duplicate_model_message(model_id))
    try:
        with transaction.atomic():  # its own savepoint: a duplicate keeps the caller's open
            model = LLMModel.objects.create(
                provider_account_id=account_id,
                model_id=model_id,
                custom_name=custom_name,
                source=LLMModel.Source.MANUAL,
                model_metadata=metadata or {},
                enabled_for_monitoring=enabled_for_monitoring,
                enabled_for_benchmark=enabled_for_benchmark,
                probe_regions=probe_regions,
            )
            if tags:
                tag_rules.set_tags(model, tags)
            return model
    except IntegrityError:  # a concurrent request added the same id first
        raise errors.Conflict(duplicate_model_message(model_id)) from None


UNSET = object()


def update_model(
    *,
    model: LLMModel,
    custom_name=UNSET,
    enabled_for_monitoring: bool | None = None,
    enabled_for_benchmark: bool | None = None,
    answer_check=UNSET,
    identity: str | None = None,
    tags: list[str] | None = None,
    probe_regions: list[str] | None = None,
) -> LLMModel:
    """Rename (``None`` or "" clears the name), switch monitoring or benchmarks on or off, set
    the answer check (``None``: the prompt pack's), the identity (""; the suggested one), the
    model's own tags (``[]``: none; its account's stay) or its probe regions (``[]``: its
    account's); what is not given stays as it is."""
    fields = []
    if probe_regions is not None:
        model.probe_regions = region_names.clean_names(probe_regions, "probe_regions")
        fields.append("probe_regions")
    if custom_name is not UNSET:
        model.custom_name = custom_name or None
        fields.append("custom_name")
    if answer_check is not UNSET:
        model.answer_check = answer_check
        fields.append("answer_check")
    if identity is not None:  # "" goes back to the suggestion
        model.identity = identity
        fields.append("identity")
    for flag, value in (
        ("enabled_for_monitoring", enabled_for_monitoring),
        ("enabled_for_benchmark", enabled_for_benchmark),
    ):
        if value is not None:
            setattr(model, flag, value)
            fields.append(flag)
    with transaction.atomic():
        model.save(update_fields=[*fields, "updated_at"])
        if tags is not None:
            tag_rules.set_tags(model, tags)
    return model


def refresh_models(*, account: ProviderAccount) -> RefreshResult:
    """Discover the account's models and merge them (raises GatewayError on failure).

    New ids are added (``source=discovered``); known ones get fresh metadata and are marked
    available; ids no longer listed are marked unavailable, never deleted (history stays).
    """
    found = asyncio.run(discovery.discover(account.provider_type, account.credentials))
    by_id = {m.model_id: m for m in found}
    added = updated = 0
    with transaction.atomic():
        existing = {m.model_id: m for m in account.models.select_for_update()}
        for model_id, item in by_id.items():
            model = existing.get(model_id)
            if model is None:
                LLMModel.objects.create(
                    provider_account=account,
                    model_id=model_id,
                    source=LLMModel.Source.DISCOVERED,
                    model_metadata=item.metadata,
                )
                added += 1
            elif model.model_metadata != item.metadata or not model.available:
                model.model_metadata = item.metadata
                model.available = True
                model.save(update_fields=["model_metadata", "available", "updated_at"])
                updated += 1
        gone = [
            m.pk
            for m in existing.values()
            if m.model_id not in by_id and m.source == LLMModel.Source.DISCOVERED and m.available
        ]
        # QuerySet.update() skips auto_now: set updated_at explicitly.
        LLMModel.objects.filter(pk__in=gone).update(available=False, updated_at=timezone.now())
    return RefreshResult(len(found), added, updated, len(gone))


def test_connection(
    *, provider_type: str, credentials: dict, account: ProviderAccount | None = None
) -> dict:
    """``{success, message, details}`` for the cheapest real check of these credentials, those
    of ``account`` or unsaved ones (None).

    A test sends the credentials to a host, so it is audited: who tested which type against
    which host (the origin only: a URL may carry a secret in its path), never the credentials.
    """
    result = asyncio.run(connection.test_connection(provider_type, credentials))
    spec = catalog.get_spec(provider_type)
    base_url = credentials.get("base_url") or (spec.default_base_url if spec else None)
    audit.record(
        "connection_tested",
        instance=account,
        object_type="providers.provideraccount",
        object_label="" if account else f"unsaved {provider_type} account",
        changes={
            "provider_type": provider_type,
            "host": catalog.origin(base_url),  # None: the provider's regional endpoint
            "saved": account is not None,
            "success": result["success"],
        },
    )
    return result


# The original ArgusLM's words (its SDK users see them in a 409).
ACCOUNT_HAS_HISTORY = "Cannot delete provider with models that have benchmark history"
MODEL_HAS_HISTORY = "Cannot delete a model that has benchmark history"


def delete_account(*, account: ProviderAccount) -> None:
    """Delete an account with its models; refused (Conflict) while benchmark results refer to
    any of them: the database refuses it (BenchmarkResult.model is PROTECT, the one protected
    relation of a model), before anything is deleted."""
    try:
        with transaction.atomic():
            account.delete()
    except ProtectedError:
        raise errors.Conflict(ACCOUNT_HAS_HISTORY) from None


def delete_model(*, model: LLMModel) -> None:
    """Delete a model; refused (Conflict) while benchmark results refer to it (see above)."""
    try:
        with transaction.atomic():
            model.delete()
    except ProtectedError:
        raise errors.Conflict(MODEL_HAS_HISTORY) from None


def ensure_demo_provider(*, base_url: str) -> ProviderAccount:
    """Create the "Local simulator" account once, with its models (tagged) and monitoring
    on."""
    existing = ProviderAccount.objects.filter(is_demo=True).first()
    if existing is not None:
        return existing
    account = ProviderAccount(
        provider_type="custom_openai_compatible", display_name=DEMO_NAME, is_demo=True
    )
    account.credentials = {"base_url": base_url.rstrip("/") + "/v1", "api_key": "not-needed"}
    account.save()
    tag_rules.set_tags(account, DEMO_ACCOUNT_TAGS)
    for model_id in [*DEMO_MONITORED, "rate-limited", "down"]:
        model = LLMModel.objects.create(
            provider_account=account,
            model_id=model_id,
            source=LLMModel.Source.MANUAL,
            enabled_for_monitoring=model_id in DEMO_MONITORED,
            model_metadata={"note": "Scripted model of the built-in LLM simulator."},
        )
        if model_id in DEMO_MODEL_TAGS:
            tag_rules.set_tags(model, DEMO_MODEL_TAGS[model_id])
    return account


def set_flags_for_account(*, account: ProviderAccount, **flags: bool) -> int:
    """Set enabled_for_monitoring / enabled_for_benchmark on every model of an account.

    One UPDATE (no per-model signals), so the change is recorded in the audit log here.
    """
    count = account.models.update(**flags, updated_at=timezone.now())
    audit.record(
        "updated",
        instance=account,
        changes={
            f"all models: {name}": {"new": value, "models": count} for name, value in flags.items()
        },
    )
    return count


# --- bulk actions on a filtered selection -------------------------------------------------------


class BulkAction(StrEnum):
    MONITOR = "monitor"
    UNMONITOR = "unmonitor"
    ENABLE_BENCHMARK = "enable_benchmark"
    DISABLE_BENCHMARK = "disable_benchmark"
    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"


# action → (switch, value) for the switch actions
SWITCHES = {
    BulkAction.MONITOR: ("enabled_for_monitoring", True),
    BulkAction.UNMONITOR: ("enabled_for_monitoring", False),
    BulkAction.ENABLE_BENCHMARK: ("enabled_for_benchmark", True),
    BulkAction.DISABLE_BENCHMARK: ("enabled_for_benchmark", False),
}
# How the result reads: what was done to "{of}" (e.g. "180 of 214 matching models"), and what
# the unchanged rest already were.
DONE = {
    BulkAction.MONITOR: ("Started monitoring {of}", "already monitored"),
    BulkAction.UNMONITOR: ("Stopped monitoring {of}", "already not monitored"),
    BulkAction.ENABLE_BENCHMARK: ("Offered {of} for benchmarks", "already offered"),
    BulkAction.DISABLE_BENCHMARK: ("Withdrew {of} from benchmarks", "already not offered"),
    BulkAction.ADD_TAG: ("Tagged {of} with {tag}", "already tagged"),
    BulkAction.REMOVE_TAG: ("Removed {tag} from {of}", "without it"),
}


@dataclass
class BulkResult:
    """What a bulk action did: how many models matched, how many it changed (the others were
    already so), and how many it could not change (a model already has the most tags)."""

    action: str
    matched: int
    changed: int
    skipped: int = 0
    tag: str = ""

    @property
    def message(self) -> str:
        done, rest = DONE[BulkAction(self.action)]
        of = f"{self.changed} of {self.matched} matching model{'' if self.matched == 1 else 's'}"
        text = done.format(of=of, tag=self.tag)
        unchanged = self.matched - self.changed - self.skipped
        if unchanged:
            text += f" ({unchanged} {rest})"
        if self.skipped:
            text += (
                f"; {self.skipped} not tagged: they have {tag_rules.MAX_PER_OBJECT} tags already"
            )
        return text + "."


def bulk_update(
    *, models: QuerySet, action: str, tag: str | None = None, filters: dict | None = None
) -> BulkResult:
    """Apply one action to every model of ``models`` (a filtered selection: the Models and
    Monitoring pages' filters, the API's ``filter``): switch monitoring or benchmarks on or
    off, add or remove a tag. A few statements whatever the number of models.

    The pages, the API and the admin call this one function. ``QuerySet.update()`` sends no
    signals, so instead of one audit entry per model the action is recorded once, with its
    filter (``filters``, as the API names it) and its counts.
    """
    try:
        action = BulkAction(action)
    except ValueError:
        choices = ", ".join(a.value for a in BulkAction)
        raise errors.Invalid(f"Unknown action '{action}': use one of {choices}.") from None
    name = ""
    if action in (BulkAction.ADD_TAG, BulkAction.REMOVE_TAG):
        if not tag:
            raise errors.Invalid("Give the tag to add or remove.")
        try:
            name = tag_rules.clean(tag)
        except tag_rules.TagError as exc:
            raise errors.Invalid(str(exc)) from None
    # Ids first: the filters' subqueries (tags, search) are read once, and the writes below
    # touch the rows by primary key only.
    with transaction.atomic():
        ids = list(models.order_by().values_list("pk", flat=True))
        if action in SWITCHES:
            field, value = SWITCHES[action]
            result = BulkResult(action, len(ids), _set_switch(ids, field, value))
        elif action == BulkAction.ADD_TAG:
            changed, skipped = _add_tag(ids, name)
            result = BulkResult(action, len(ids), changed, skipped, tag=name)
        else:
            result = BulkResult(action, len(ids), _remove_tag(ids, name), tag=name)
        audit.record(
            "bulk_updated",
            object_type="providers.llmmodel",
            object_label=f"{len(ids)} matching models",
            changes={
                "action": action.value,
                **({"tag": name} if name else {}),
                "filter": filters or {},
                "matched": result.matched,
                "changed": result.changed,
                **({"skipped": result.skipped} if result.skipped else {}),
            },
        )
    return result


# SQLite allows 32,766 parameters per statement (999 before 3.32): write in chunks of this.
BULK_CHUNK = 500


def _chunks(ids: list) -> list[list]:
    return [ids[i : i + BULK_CHUNK] for i in range(0, len(ids), BULK_CHUNK)]


def _set_switch(ids: list, field: str, value: bool) -> int:
    now = timezone.now()  # QuerySet.update() skips auto_now
    return sum(
        LLMModel.objects.filter(pk__in=chunk)
        .exclude(**{field: value})
        .update(**{field: value, "updated_at": now})
        for chunk in _chunks(ids)
    )


def _add_tag(ids: list, name: str) -> tuple[int, int]:
    """(tagged, skipped): models that have the most tags already are left as they are."""
    tag = Tag.objects.get_or_create(name=name)[0]
    through = LLMModel.tags.through
    tagged = skipped = 0
    for chunk in _chunks(ids):
        links = through.objects.filter(llmmodel_id__in=chunk)
        has = set(links.filter(tag=tag).values_list("llmmodel_id", flat=True))
        full = set(
            links.values("llmmodel_id")
            .annotate(n=Count("id"))
            .filter(n__gte=tag_rules.MAX_PER_OBJECT)
            .values_list("llmmodel_id", flat=True)
        )
        todo = [pk for pk in chunk if pk not in has and pk not in full]
        skipped += len(full - has)
        through.objects.bulk_create(
            [through(llmmodel_id=pk, tag_id=tag.pk) for pk in todo], ignore_conflicts=True
        )
        tagged += len(todo)
    return tagged, skipped


def _remove_tag(ids: list, name: str) -> int:
    through = LLMModel.tags.through
    return sum(
        through.objects.filter(tag__name=name, llmmodel_id__in=chunk).delete()[0]
        for chunk in _chunks(ids)
    )
