"""API authentication: session, ``Bearer``/``Token`` tokens, and HTTP Basic carrying a token.

The published ``arguslm`` SDK can carry credentials only as userinfo in its base URL
(``http://token:<TOKEN>@host:8000``), which httpx and websockets send as HTTP Basic. So Basic
is accepted when its password is an API token; user passwords are never accepted over Basic.

A request without a token is one a browser may send on its own (a cookie, or nothing at all
when the API is open): it must pass the CSRF check to change anything. Token requests are
exempt: another site cannot make a browser send a token.
"""

import base64
import binascii

from asgiref.sync import sync_to_async
from channels.auth import AuthMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions, permissions

from arguslm import tokens
from arguslm.models import ApiToken


def user_for_token(key: str | None, *, scopes=tuple(ApiToken.Scope)):
    """The active user owning live API token ``key`` of one of ``scopes``, or None."""
    token = tokens.find(key)
    return token.user if token is not None and token.scope in scopes else None


def token_from_authorization(header: str) -> str | None:
    """The API token inside an ``Authorization`` header value (Bearer, Token or Basic)."""
    parts = header.split()
    if len(parts) != 2:
        return None
    scheme, value = parts[0].lower(), parts[1]
    if scheme in ("bearer", "token"):
        return value
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` or DRF's ``Authorization: Token <token>``."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.lower().startswith(("bearer ", "token ")):
            return None
        token = tokens.find(token_from_authorization(header))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or expired API token.")
        return (token.user, token)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BasicTokenAuthentication(authentication.BaseAuthentication):
    """HTTP Basic whose password is an API token (any user name), as the SDK sends it."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.lower().startswith("basic "):
            return None
        token = tokens.find(token_from_authorization(header))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid API token in HTTP Basic credentials.")
        return (token.user, token)


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication (CSRF-checked for a signed-in user), which also checks
    CSRF for an anonymous request when the API is open (``ARGUSLM_API_AUTH=false``).

    DRF checks CSRF only once a session user is found, so on an open API any website could
    make its visitors' browsers start runs or change accounts. With the API closed an
    anonymous request is refused (401) before it can act, and keeps that answer.
    """

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is None and not settings.API_AUTH:
            self.enforce_csrf(request)  # safe methods pass; others need the CSRF token
        return found


class TokenScope(permissions.BasePermission):
    """A token's scope limits what its user may do through it: a read token reads, a metrics
    token only scrapes ``/metrics`` (not an API view), a full token does what its user may."""

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken) or token.scope == ApiToken.Scope.FULL:
            return True
        if token.scope == ApiToken.Scope.READ and request.method in permissions.SAFE_METHODS:
            return True
        self.message = f"This API token's scope ({token.scope}) does not allow this request."
        return False


class ActionPermission(permissions.BasePermission):
    """Writes need the permission that the view names for the action (``action_permissions``,
    see arguslm.roles); an action it does not name is for superusers only. Reads need none.
    With ``ARGUSLM_API_AUTH=false`` an anonymous caller may do everything (the open mode)."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        action = getattr(view, "action", "")  # a plain APIView has none: superusers only
        if action is None or request.method.lower() not in view.http_method_names:
            return True  # a method the viewset does not route: its 405 follows
        if not settings.API_AUTH and not request.user.is_authenticated:
            return True
        perm = getattr(view, "action_permissions", {}).get(action)
        allowed = request.user.is_superuser if perm is None else request.user.has_perm(perm)
        if not allowed:
            needs = perm or "superuser"
            self.message = f"Your role does not allow this (it needs the {needs} permission)."
        return allowed


class TokenAuthMiddleware(AuthMiddleware):
    """Channels auth: the session user, else the user of a token in the Authorization header."""

    async def resolve_scope(self, scope):
        await super().resolve_scope(scope)
        user = scope["user"]._wrapped if hasattr(scope["user"], "_wrapped") else None
        if user is not None and not isinstance(user, AnonymousUser):
            return
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                key = token_from_authorization(value.decode("latin-1"))
                # The WebSocket streams benchmark progress: reading, so full or read tokens.
                scopes = (ApiToken.Scope.FULL, ApiToken.Scope.READ)
                found = await sync_to_async(user_for_token)(key, scopes=scopes)
                if found is not None:
                    scope["user"]._wrapped = found
                return


class BrowserOriginValidator(OriginValidator):
    """Reject cross-site browser WebSockets; allow clients that send no Origin (SDK, CLI).

    Channels' own validator refuses a missing Origin, which would lock out the ``arguslm``
    SDK's ``websockets`` client. Origin checks exist to stop cross-site use of a browser's
    cookies; a client without an Origin header is not a browser page.
    """

    def __init__(self, application):
        from django.conf import settings

        super().__init__(application, settings.ALLOWED_HOSTS)

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)
