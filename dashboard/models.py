"""Public status pages: what an owner chose to show anonymous visitors, and nothing else."""

import uuid

from django.core.cache import cache
from django.core.validators import RegexValidator
from django.db import models

from providers.models import LLMModel, ProviderAccount

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SLUG_MESSAGE = "Use lower-case letters, digits and single hyphens (e.g. “public-api”)."
# Public pages and badges are cached under this generation; any change of a status page
# bumps it, so what a visitor sees follows the owner's choice at once.
GENERATION_KEY = "status-pages:generation"


def generation() -> int:
    return cache.get_or_set(GENERATION_KEY, 1, timeout=None)


def forget_cached() -> None:
    """Drop every cached status page and badge (a new generation of cache keys)."""
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # not set yet (or evicted): the next generation starts afresh
        cache.set(GENERATION_KEY, generation() + 1, timeout=None)


class StatusPage(models.Model):
    """An opt-in public page at /status/<slug> listing chosen models and accounts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(SLUG_PATTERN, SLUG_MESSAGE)],
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    public = models.BooleanField(default=False)
    llm_models = models.ManyToManyField(LLMModel, blank=True, related_name="status_pages")
    # An account contributes its monitored models (those added later too).
    accounts = models.ManyToManyField(ProviderAccount, blank=True, related_name="status_pages")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        forget_cached()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        forget_cached()
        return result
