"""API limits: per-user rate limits, a 429 for limits on concurrent work, the body size limit.

Rate limits apply only to the endpoints that call providers (paid tokens) or queue heavy work;
a viewset names them per action in ``throttle_scopes`` and the rates come from
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``ARGUSLM_THROTTLE_<SCOPE>``). The throttles count
requests in the default cache: shared through Redis, per process in the embedded default.

The pages' actions that do the same work count against the same limits, per user
(``rate_limited``): a quota is one, whichever way it is spent.

Request bodies are limited to DATA_UPLOAD_MAX_MEMORY_SIZE (``ARGUSLM_MAX_BODY_BYTES``) twice:
``BodyLimitMiddleware`` refuses a larger body before Django reads it (ASGI), and reading
``request.body`` refuses it with RequestDataTooBig (a 413 in arguslm.api) wherever the request
did not come through that middleware (tests, a WSGI server).
"""

import json
from functools import wraps
from types import SimpleNamespace

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from rest_framework import exceptions, status
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from arguslm.pages import redirect_back

# What a scope limits, for the 429 message.
SCOPE_LABELS = {
    "monitoring_run": "monitoring runs",
    "benchmark_start": "benchmark starts",
    "connection_test": "connection tests",
    "model_refresh": "model refreshes",
    "rule_test": "alert rule tests",
}


class LimitReached(exceptions.APIException):
    """A 429 for a limit that is not a request rate (e.g. concurrent benchmarks)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too many requests."
    default_code = "limit_reached"


class UserScopedRateThrottle(ScopedRateThrottle):
    """DRF's ScopedRateThrottle (keyed per user, per client IP when anonymous) reading its rate
    when the request comes in: DRF copies the rates into a class attribute at import time, which
    settings overrides never reach."""

    def get_rate(self) -> str:
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        if self.scope not in rates:
            raise ImproperlyConfigured(f"No throttle rate for scope '{self.scope}'.")
        return rates[self.scope]


def limit_message(scope: str) -> str:
    rate = (api_settings.DEFAULT_THROTTLE_RATES or {}).get(scope)
    return f"Too many {SCOPE_LABELS.get(scope, 'requests')}: the limit is {rate}."


def rate_limited(scope: str):
    """A page action limited like the API's action of the same ``scope`` (and counted with it):
    beyond the rate, a 429 for htmx, else a message on the page the form was posted from."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            throttle = UserScopedRateThrottle()
            if throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):
                return view(request, *args, **kwargs)
            wait = max(1, int(throttle.wait() or 1))
            text = f"{limit_message(scope)} Try again in {wait} s."
            if getattr(request, "htmx", False):
                return HttpResponse(text, status=429, headers={"Retry-After": str(wait)})
            messages.error(request, text)
            return redirect_back(request, "dashboard")

        return wrapped

    return decorator


class ThrottledActionsMixin:
    """Viewset mixin: rate-limit the actions named in ``throttle_scopes`` ({action: scope})."""

    throttle_scopes: dict[str, str] = {}

    def get_throttles(self) -> list:
        throttles = list(super().get_throttles())
        scope = self.throttle_scopes.get(getattr(self, "action", None) or "")
        if scope:
            self.throttle_scope = scope  # read by the throttle
            throttles.append(UserScopedRateThrottle())
        return throttles

    def throttled(self, request, wait: float | None):
        # Throttled appends "Expected available in N seconds."; the handler adds Retry-After.
        raise exceptions.Throttled(wait, detail=limit_message(getattr(self, "throttle_scope", "")))


# --- request body size --------------------------------------------------------------------


def body_too_large(limit: int) -> str:
    """The 413's detail, the same wherever the limit is enforced."""
    return f"Request body exceeds {limit} bytes."


class BodyLimitMiddleware:
    """ASGI middleware: a request body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused with the
    API's 413 before Django reads it.

    Django's ASGI handler reads the whole body (spooling it to a temporary file) before any
    Django middleware runs, and checks the limit only when a view parses the body. Here a
    declared ``Content-Length`` over the limit is refused without reading anything, and any
    other body (chunked, or longer than declared) is read only up to the limit, then handed on
    as it came. (daphne itself buffers a request before calling the application: the proxy's
    ``client_max_body_size`` is what stops a huge body at the edge, see README "Operations".)
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if scope["type"] != "http" or limit is None:
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            return await _refuse(send, limit)
        received, size = [], 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break  # http.disconnect: let Django see it
            size += len(message.get("body", b""))
            if size > limit:
                return await _refuse(send, limit)
            if not message.get("more_body", False):
                break

        async def replay():
            return received.pop(0) if received else await receive()

        return await self.app(scope, replay, send)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # read it, within the limit
    return None


async def _refuse(send, limit: int) -> None:
    body = json.dumps({"detail": body_too_large(limit)}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is not read
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
