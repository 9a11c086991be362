"""Tags: labels on models and provider accounts (``team:search``, ``env:prod``, ``critical``).

A model carries its own tags and its account's. Filters (``?tag=`` in the API, the pages'
tag filters) match models carrying every tag asked for, from either side. A tag is lower
case, up to 64 characters: a name, or ``key:value`` (letters, digits, ``_ . -`` and in the
value also ``/``); ``key:value`` tags also become Prometheus labels (``tag_<key>``).
"""

import re

from django.db.models import Q, QuerySet

MAX_LENGTH = 64
MAX_PER_OBJECT = 20
# Linear: no nested quantifiers; matched against at most MAX_LENGTH characters.
PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]*(:[a-z0-9_./-]+)?")


class TagError(ValueError):
    pass


def clean(name: str) -> str:
    """A tag as stored (trimmed, lower case), or TagError saying what is wrong."""
    if not isinstance(name, str):
        raise TagError("A tag is a string.")
    value = name.strip().lower()
    if not value:
        raise TagError("A tag may not be empty.")
    if len(value) > MAX_LENGTH:
        raise TagError(f"A tag is at most {MAX_LENGTH} characters ('{value[:20]}…').")
    if not PATTERN.fullmatch(value):
        raise TagError(
            f"'{value}' is not a tag: use a name or key:value of letters, digits, _ . - "
            "(e.g. env:prod, team:search, critical)."
        )
    return value


def clean_all(names) -> list[str]:
    """Tags as stored, without repeats, in order; TagError for a bad one or too many."""
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise TagError("Tags are a list of strings.")
    out: list[str] = []
    for name in names:
        value = clean(name)
        if value not in out:
            out.append(value)
    if len(out) > MAX_PER_OBJECT:
        raise TagError(f"At most {MAX_PER_OBJECT} tags.")
    return out


def split(text: str) -> list[str]:
    """The tags typed in a page's text input, comma or space separated (a tag holds neither),
    as given: ``clean_all`` judges them."""
    return [part for part in re.split(r"[\s,]+", text or "") if part]


def set_tags(obj, names) -> list[str]:
    """Replace the tags of a model or an account (creating new tags); returns them.

    A change is audited: tags choose what filters, pages and Prometheus joins (and so alert
    routes) see, and the M2M write sends no save signal that the audit log would catch.
    """
    from arguslm import audit
    from providers.models import Tag

    values = clean_all(names)
    before = list(obj.tags.values_list("name", flat=True))
    if sorted(before) == sorted(values):
        return values
    tags = [Tag.objects.get_or_create(name=value)[0] for value in values]
    obj.tags.set(tags)
    audit.record("updated", instance=obj, changes={"tags": {"old": before, "new": values}})
    return values


def filter_models(models: QuerySet, names) -> QuerySet:
    """Models carrying every tag of ``names``, their own or their account's (subqueries, so
    no row is repeated and counts stay right)."""
    from providers.models import LLMModel, ProviderAccount

    for name in clean_all(names):
        own = LLMModel.tags.through.objects.filter(tag__name=name).values("llmmodel_id")
        accounts = ProviderAccount.tags.through.objects.filter(tag__name=name)
        models = models.filter(
            Q(pk__in=own) | Q(provider_account_id__in=accounts.values("provideraccount_id"))
        )
    return models


def filter_accounts(accounts: QuerySet, names) -> QuerySet:
    from providers.models import ProviderAccount

    for name in clean_all(names):
        tagged = ProviderAccount.tags.through.objects.filter(tag__name=name)
        accounts = accounts.filter(pk__in=tagged.values("provideraccount_id"))
    return accounts


def key_value(name: str) -> tuple[str, str] | None:
    """("env", "prod") for "env:prod"; None for a plain tag."""
    key, sep, value = name.partition(":")
    return (key, value) if sep else None


def label_name(key: str) -> str:
    """The Prometheus label of a tag key: ``tag_`` + the key with ``.`` and ``-`` as ``_``.

    Keys are ``[a-z0-9][a-z0-9_.-]*``, so the result always matches ``[a-zA-Z_][a-zA-Z0-9_]*``
    (the prefix also covers a key starting with a digit) and never starts with ``__``, which
    Prometheus reserves.
    """
    return "tag_" + re.sub(r"[^a-z0-9_]", "_", key)


def labels(own, inherited) -> dict[str, str]:
    """A model's tags as Prometheus labels: ``{"tag_env": "prod", "tag_critical": "true"}``.

    ``own`` are the model's tag names, ``inherited`` its account's. A label takes the model's
    own value when both sides give one (a model may be ``env:staging`` on a prod account). On
    one side, a key tagged twice (``region:eu``, ``region:us``) gives its values sorted and
    comma-joined, since a series has one value per label; a plain tag gives "true", unless a
    key:value tag of the same side names that label.
    """
    out: dict[str, str] = {}
    for names in (own, inherited):
        values: dict[str, list[str]] = {}
        plain: set[str] = set()
        for name in sorted(names):
            pair = key_value(name)
            if pair is None:
                plain.add(label_name(name))
            else:
                values.setdefault(label_name(pair[0]), []).append(pair[1])
        side = {label: ",".join(found) for label, found in values.items()}
        side |= {label: "true" for label in plain if label not in side}
        for label in sorted(side):
            out.setdefault(label, side[label])
    return out
