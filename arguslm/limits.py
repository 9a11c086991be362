"""API limits: per-user rate limits and a 429 for limits on concurrent work.

Rate limits apply only to the endpoints that call providers (paid tokens) or queue heavy work;
a viewset names them per action in ``throttle_scopes`` and the rates come from
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``ARGUSLM_THROTTLE_<SCOPE>``). The throttles count
requests in the default cache: shared through Redis, per process in the embedded default.

The pages' actions that do the same work count against the same limits, per user
(``rate_limited``): a quota is one, whichever way it is spent.

Request bodies need nothing here: DRF's JSONParser reads ``request.body``, which refuses more
than DATA_UPLOAD_MAX_MEMORY_SIZE with RequestDataTooBig (a 413, see arguslm.api).
"""

from functools import wraps
from types import SimpleNamespace

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
