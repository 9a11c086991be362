"""A filtered selection of models: what the Models and Monitoring pages filter by, and what a
bulk action applies to ("monitor all 214 matching").

One ``ModelFilter`` serves the list and the action, so the models a bulk action changes are
exactly the ones its page counted. The pages read it from the query string leniently (a bad
value is left out and named in ``problems``, so a shared link never fails); a bulk action
refuses a filter with problems (acting on more models than were meant would be worse than not
acting). The API builds the same filter from its validated body (providers.bulk).
"""

import re
import uuid
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.http import QueryDict

from providers import tags

YES_NO = {"yes": True, "no": False}
# Tags may be repeated (?tag=a&tag=b) or typed into one field, separated by spaces or commas.
TAG_SEPARATORS = re.compile(r"[\s,]+")
MAX_SEARCH = 255
TAG_OPTIONS = 200


def search(q: str) -> Q:
    """Models whose id, custom name or account's name contains ``q`` (case-insensitive): a
    search for an account's name lists all its models."""
    return (
        Q(model_id__icontains=q)
        | Q(custom_name__icontains=q)
        | Q(provider_account__display_name__icontains=q)
    )


def yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


@dataclass(frozen=True)
class ModelFilter:
    """Which models: a search, an account, the two switches and tags (every one, own or the
    account's). Empty fields do not filter."""

    q: str = ""
    account_id: uuid.UUID | None = None
    monitored: bool | None = None
    benchmark: bool | None = None
    tags: tuple[str, ...] = ()

    def apply(self, models: QuerySet) -> QuerySet:
        if self.account_id:
            models = models.filter(provider_account_id=self.account_id)
        if self.q:
            models = models.filter(search(self.q))
        if self.monitored is not None:
            models = models.filter(enabled_for_monitoring=self.monitored)
        if self.benchmark is not None:
            models = models.filter(enabled_for_benchmark=self.benchmark)
        if self.tags:
            models = tags.filter_models(models, self.tags)
        return models

    def params(self) -> dict:
        """The filter as the pages' query parameters (links, hidden inputs of bulk forms)."""
        return {
            "q": self.q,
            "account": str(self.account_id or ""),
            "monitored": yes_no(self.monitored),
            "benchmark": yes_no(self.benchmark),
            "tag": list(self.tags),
        }

    def describe(self) -> dict:
        """The filter as the API names it, without empty fields (the audit log records it)."""
        described = {
            "q": self.q,
            "provider_id": str(self.account_id or ""),
            "monitored": self.monitored,
            "benchmark": self.benchmark,
            "tag": list(self.tags),
        }
        return {k: v for k, v in described.items() if v not in ("", None, [])}

    @property
    def active(self) -> bool:
        return bool(self.describe())


def tag_values(values: list[str]) -> list[str]:
    """Tags as sent: repeated parameters, each possibly holding several (``env:prod team:x``)."""
    return [part for value in values for part in TAG_SEPARATORS.split(value) if part]


def read_tags(values: list[str], problems: dict) -> tuple[str, ...]:
    """The valid tags among ``values`` (each one checked, so one typo does not drop them all);
    the bad ones are named in ``problems["tag"]``."""
    found: list[str] = []
    bad: list[str] = []
    for value in tag_values(values):
        try:
            name = tags.clean(value)
        except tags.TagError as exc:
            bad.append(str(exc))
            continue
        if name not in found:
            found.append(name)
    if len(found) > tags.MAX_PER_OBJECT:
        bad.append(f"At most {tags.MAX_PER_OBJECT} tags.")
        found = found[: tags.MAX_PER_OBJECT]
    if bad:
        problems["tag"] = " ".join(bad)
    return tuple(found)


def read_account(params: QueryDict, problems: dict) -> uuid.UUID | None:
    """The ``account`` parameter (``provider``: the Models page's older name)."""
    value = params.get("account") or params.get("provider") or ""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        problems["account"] = "Not a provider account id."
        return None


def read_yes_no(params: QueryDict, name: str, problems: dict) -> bool | None:
    value = params.get(name, "")
    if value in YES_NO:
        return YES_NO[value]
    if value:
        problems[name] = "Use yes or no."
    return None


def from_params(params: QueryDict) -> tuple[ModelFilter, dict[str, str]]:
    """The filter a page's query string (or a bulk form's POST) asks for, and what was left
    out of it: ``{parameter: why}``."""
    problems: dict[str, str] = {}
    # A NUL cannot reach PostgreSQL (a 500, not an empty result).
    q = params.get("q", "").replace("\x00", "").strip()
    if len(q) > MAX_SEARCH:
        problems["q"] = f"A search is at most {MAX_SEARCH} characters."
        q = q[:MAX_SEARCH]
    selection = ModelFilter(
        q=q,
        account_id=read_account(params, problems),
        monitored=read_yes_no(params, "monitored", problems),
        benchmark=read_yes_no(params, "benchmark", problems),
        tags=read_tags(params.getlist("tag"), problems),
    )
    return selection, problems


def tag_options() -> list[str]:
    """Known tags, for the filters' suggestions (a datalist: any tag may still be typed)."""
    from providers.models import Tag

    return list(Tag.objects.order_by("name").values_list("name", flat=True)[:TAG_OPTIONS])
