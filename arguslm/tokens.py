"""API tokens: issue, find by key, revoke. The one place that knows how a key is stored.

A key is ``alm_`` and 32 random bytes (URL-safe base64): long enough that a plain SHA-256
digest is a safe way to store it (no salt or slow hash needed: nothing to guess). Keys issued
by DRF's authtoken before (40 hex characters) were moved into the same table by their digest
(migration arguslm 0003), so they keep working. Issuing and revoking are in the audit log
(``arguslm.audit.TRACKED``), whichever way they happen (page, command, admin).
"""

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from arguslm.models import ApiToken

KEY_PREFIX = "alm_"
MAX_KEY_LENGTH = 200
# last_used_at is written at most this often per token (not on every request).
USE_RECORD_INTERVAL = timedelta(minutes=1)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue(
    *,
    user,
    name: str,
    scope: str = ApiToken.Scope.FULL,
    expires_in: timedelta | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``user``: (the stored token, its key). The key is not stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:12],
        digest=digest(key),
        scope=scope,
        expires_at=timezone.now() + expires_in if expires_in else None,
    )
    return token, key


def find(key: str | None) -> ApiToken | None:
    """The live token with this key (its user active, not expired), or None."""
    if not key or "\x00" in key or len(key) > MAX_KEY_LENGTH:
        return None  # never a token (and PostgreSQL refuses NUL in a query)
    token = ApiToken.objects.select_related("user").filter(digest=digest(key)).first()
    if token is None or token.expired or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > USE_RECORD_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke(*, user, token_id) -> bool:
    """Delete one of ``user``'s tokens; False if it is not theirs (or gone already)."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)
