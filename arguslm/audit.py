"""Audit log: who changed provider accounts, model switches, alert rules and monitoring settings
(and who logged in, or tested a provider connection: ``record()`` from providers.services).

Changes are captured with model signals, so the pages, the API, the admin and the worker all
go through one mechanism: ``pre_save`` reads the stored values, ``post_save``/``post_delete``
write an ``AuditEvent`` with the difference.

The actor comes from a context variable holding the current request (set by
``AuditMiddleware``). It is read only when a signal fires, not when the request arrives:
DRF authenticates API tokens inside the view, after every middleware has run, and then sets
``user`` and ``auth`` on the underlying HttpRequest. Outside a request (worker, management
commands) the actor is "system".

Secrets never enter the log: for a provider account's credentials only the names of the keys
added, removed or changed are recorded; an alert rule's webhook secret and webhook URL (Slack
and Discord URLs are bearer credentials) are recorded as ``{"changed": true}``.

Not covered: ``QuerySet.update()`` and ``bulk_update()`` send no signals. Code that changes
tracked fields that way records the change itself with ``record()``.

Logins are recorded too, from Django's ``user_logged_in`` and ``user_login_failed`` signals
(every login view sends them): the user name as typed and the client IP, never the password.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save
from django.http import HttpRequest, HttpResponse

from arguslm.llm.catalog import origin
from arguslm.models import AuditEvent
from arguslm.security import client_ip

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "arguslm_audit_request", default=None
)

CREDENTIALS_FIELD = "credentials_encrypted"


@dataclass(frozen=True)
class Tracked:
    """What is audited for one model."""

    exclude: frozenset[str] = frozenset({"id", "created_at", "updated_at"})
    only: tuple[str, ...] = ()  # when set, just these fields
    secret: frozenset[str] = frozenset()  # recorded as "changed", never by value
    updates_only: bool = False  # creations and deletions are not recorded
    fields_cache: dict = field(default_factory=dict, compare=False)

    def fields(self, model: type[models.Model]) -> list[models.Field]:
        if model not in self.fields_cache:
            self.fields_cache[model] = [
                f
                for f in model._meta.concrete_fields
                if (f.name in self.only if self.only else f.name not in self.exclude)
            ]
        return self.fields_cache[model]


TRACKED: dict[str, Tracked] = {
    "providers.ProviderAccount": Tracked(),
    # Discovery adds and retires models by the hundred: only the switches people flip matter.
    "providers.LLMModel": Tracked(
        only=("enabled_for_monitoring", "enabled_for_benchmark"), updates_only=True
    ),
    "alerts.AlertRule": Tracked(
        secret=frozenset({"webhook_secret", "webhook_url", "apprise_urls"})
    ),
    # Issued and revoked tokens; their use (last_used_at) is state, not configuration.
    "arguslm.ApiToken": Tracked(
        exclude=frozenset({"id", "created_at", "last_used_at"}), secret=frozenset({"digest"})
    ),
    # last_run_at moves on every pass: it is state, not configuration.
    "monitoring.MonitoringConfig": Tracked(
        exclude=frozenset({"id", "created_at", "updated_at", "last_run_at"})
    ),
}


# --- the acting user ------------------------------------------------------------------------


class AuditMiddleware:
    """Makes the current request visible to the audit signal receivers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def current_actor():
    """(user or None, label) of whoever is making the current change."""
    request = _request.get()
    if request is None:
        return None, "system"
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None, "anonymous"
    if getattr(request, "auth", None) is not None:  # DRF token authentication
        return user, f"api-token:{user.get_username()}"
    return user, user.get_username()


# --- recording ------------------------------------------------------------------------------


def record(
    action: str,
    *,
    instance: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_label: str = "",
    changes: dict | None = None,
    actor=None,
):
    """Append one audit event, attributed to ``actor`` (a user), else to the current actor."""
    if instance is not None:
        object_type = object_type or instance._meta.label_lower
        object_id = object_id or str(instance.pk)
        object_label = object_label or str(instance)
    actor, label = (actor, actor.get_username()) if actor is not None else current_actor()
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=label[:200],
        action=action,
        object_type=object_type,
        object_id=object_id[:64],
        object_label=object_label[:255],
        changes=changes or {},
    )


def _plain(value):
    """A JSON-comparable form of a field value (UUIDs and datetimes as strings)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _credential_dict(value) -> dict:
    try:
        parsed = json.loads(value or "{}")
    except (TypeError, ValueError):  # unreadable (wrong key): no keys known
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _credential_changes(old: str | None, new: str | None) -> dict | None:
    """Which credential keys were added, removed or changed: names only, never values."""
    before, after = _credential_dict(old), _credential_dict(new)
    diff: dict = {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": sorted(k for k in before.keys() & after.keys() if before[k] != after[k]),
    }
    # Where requests (and so the secrets) go is not a secret: record a host change in full.
    hosts = {
        key: {"old": origin(before.get(key)), "new": origin(after.get(key))}
        for key in (*diff["added"], *diff["removed"], *diff["changed"])
        if key == "base_url"
    }
    if hosts:
        diff["hosts"] = hosts
    return diff if any(diff.values()) else None


def _current(f: models.Field, instance: models.Model):
    value = getattr(instance, f.attname)
    if f.attname == CREDENTIALS_FIELD:
        return value
    try:
        return _plain(f.to_python(value))
    except Exception:  # an invalid in-memory value: it will fail to save anyway
        return _plain(str(value))


def _diff(spec: Tracked, fields: list[models.Field], old: dict | None, new: dict) -> dict:
    changes: dict = {}
    for f in fields:
        before = old.get(f.attname) if old is not None else None
        after = new[f.attname]
        if f.attname == CREDENTIALS_FIELD:
            creds = _credential_changes(before, after)
            if creds:
                changes["credentials"] = creds
        elif old is None:
            changes[f.name] = {"set": after not in (None, "")} if f.name in spec.secret else after
        elif before != after:
            changes[f.name] = (
                {"changed": True}
                if f.name in spec.secret
                else {
                    "old": before,
                    "new": after,
                }
            )
    return changes


def _spec(sender) -> Tracked:
    return TRACKED[sender._meta.label]


def _before_save(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance._state.adding:
        return
    fields = _spec(sender).fields(sender)
    if update_fields is not None:
        fields = [f for f in fields if f.name in update_fields or f.attname in update_fields]
    if not fields:
        instance._audit_old = None
        return
    # Reading through values() runs the fields' converters, so credentials come back decrypted.
    row = sender._base_manager.filter(pk=instance.pk).values(*(f.attname for f in fields)).first()
    if row is not None:
        row = {
            name: value if name == CREDENTIALS_FIELD else _plain(value)
            for name, value in row.items()
        }
    instance._audit_old = (fields, row)


def _after_save(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    spec = _spec(sender)
    if created:
        if spec.updates_only:
            return
        fields = spec.fields(sender)
        new = {f.attname: _current(f, instance) for f in fields}
        record("created", instance=instance, changes=_diff(spec, fields, None, new))
        return
    captured = instance.__dict__.pop("_audit_old", None)
    if not captured or captured[1] is None:
        return  # nothing tracked was saved, or the row was not there before
    fields, old = captured
    new = {f.attname: _current(f, instance) for f in fields}
    changes = _diff(spec, fields, old, new)
    if changes:
        record("updated", instance=instance, changes=changes)


def _after_delete(sender, instance, **kwargs):
    if not _spec(sender).updates_only:
        record("deleted", instance=instance)


def _logged_in(sender, request, user, **kwargs):
    record(
        "logged_in",
        instance=user,
        object_label=user.get_username(),
        changes={"username": user.get_username(), "ip": _ip(request)},
        actor=user,
    )


def _login_failed(sender, credentials, request=None, **kwargs):
    # Django masks the password in ``credentials`` already; only the user name is kept.
    username = str(credentials.get(get_user_model().USERNAME_FIELD, ""))[:150]
    record(
        "login_failed",
        object_type="auth.user",
        object_label=username,
        changes={"username": username, "ip": _ip(request)},
    )


def _ip(request) -> str | None:
    return client_ip(request) if request is not None else None


def connect_receivers() -> None:
    """Connect the receivers for every tracked model (lazily: the apps may not be loaded), and
    for logins."""
    for label in TRACKED:
        uid = f"arguslm-audit-{label}"
        pre_save.connect(_before_save, sender=label, dispatch_uid=uid, weak=False)
        post_save.connect(_after_save, sender=label, dispatch_uid=uid, weak=False)
        post_delete.connect(_after_delete, sender=label, dispatch_uid=uid, weak=False)
    user_logged_in.connect(_logged_in, dispatch_uid="arguslm-audit-login")
    user_login_failed.connect(_login_failed, dispatch_uid="arguslm-audit-login-failed")
