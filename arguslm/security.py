"""Content-Security-Policy, and the login view that refuses brute force.

The other security headers (nosniff, Referrer-Policy, Cross-Origin-Opener-Policy, HSTS,
X-Frame-Options) come from Django's own middleware; see the "Security" section of settings.
"""

import ipaddress
import logging
import math
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from arguslm.models import LoginAttempt

log = logging.getLogger(__name__)

# --- Content-Security-Policy ----------------------------------------------------------------

# htmx 2 adds one inline <style> for its indicator classes when it starts. base.html cannot set
# htmx.config.includeIndicatorStyles = false before that, so the policy allows exactly that
# stylesheet by its hash (tests/system/test_security.py re-derives it from the vendored htmx).
HTMX_INDICATOR_STYLE_HASH = "'sha256-faU7yAF8NxuMTNEwVmBz+VcYeIoBQ2EMHW3WaVxCvnk='"


def build_policy(**overrides: str) -> str:
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": f"'self' {HTMX_INDICATOR_STYLE_HASH}",
        "img-src": "'self' data:",
        # 'self' covers WebSockets to this origin (ws: or wss:) in CSP Level 3 browsers; any
        # other host is refused, so injected script could not stream data out over one.
        "connect-src": "'self'",
        "font-src": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "object-src": "'none'",
        **overrides,
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CSP = build_policy()
# The API docs come from drf-spectacular's templates. Swagger UI is served as the "split" view
# (its init script is a separate same-origin file), so scripts stay 'self'; both templates carry
# an inline <style> block and ReDoc's styled-components inject more at run time, so these two
# pages (no user content, no secrets) allow inline styles. ReDoc's search runs in a Web Worker
# started from a blob: URL. ReDoc's template also links Google Fonts: deliberately not allowed
# (no third-party requests), so it falls back to local fonts.
DOCS_CSP = build_policy(**{"style-src": "'self' 'unsafe-inline'", "worker-src": "'self' blob:"})
DOCS_VIEWS = {"docs", "redoc"}


class ContentSecurityPolicyMiddleware:
    """Adds the Content-Security-Policy header (unless a view set its own)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        policy = DOCS_CSP if match is not None and match.url_name in DOCS_VIEWS else CSP
        response.headers.setdefault("Content-Security-Policy", policy)
        return response


# --- Login rate limiting --------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or the X-Forwarded-For entry the last trusted proxy
    added (with ``ARGUSLM_NUM_PROXIES`` proxies in front; entries left of it are spoofable)."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    if proxies > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if hops:
            address = hops[-min(proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


class LoginThrottle:
    """Failed logins within a sliding window, counted two ways:

    * per user name *and* client IP (``LOGIN_FAILURE_LIMIT``, 5): locks the one guessing, not
      the account. Counting per user name alone would let anyone lock out "admin" by typing it,
      and counting per IP alone would lock out everyone behind one proxy or office address;
    * per client IP (``LOGIN_IP_FAILURE_LIMIT``, 50), for every user name: a ceiling against
      trying a few passwords on many accounts from one address.

    Every POST stores a provisional attempt *before* the password is checked and counts the
    others: parallel guesses then see each other, so a burst cannot slip past the limit. The
    row stays if the login fails, is removed if the request is refused, and a successful login
    removes the rows of its user name from its address (only those: a valid account of one's
    own must not reset the counter for guessing others, nor someone's success elsewhere the
    counter of whoever guesses at their account).
    """

    def __init__(self, request: HttpRequest):
        self.ip = client_ip(request)
        # Usernames are compared case-insensitively here so that "Alice" and "alice" share a
        # counter, even where authentication itself is case-sensitive.
        self.username = request.POST.get("username", "").strip().lower()[:150]
        self.window = timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)
        self.attempt: LoginAttempt | None = None

    def retry_after(self, *, by_username: bool = True) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = timezone.now()
        recent = LoginAttempt.objects.filter(at__gt=now - self.window)
        if self.attempt is not None:
            recent = recent.exclude(pk=self.attempt.pk)
        counters = []  # (rows counted together, their limit)
        if self.ip is not None:  # an unreadable address shares no counter with others
            counters.append((recent.filter(ip=self.ip), settings.LOGIN_IP_FAILURE_LIMIT))
        if by_username:
            pair = recent.filter(username=self.username, ip=self.ip)
            counters.append((pair, settings.LOGIN_FAILURE_LIMIT))
        waits = [0.0]
        for rows, limit in counters:
            times = list(rows.order_by("-at").values_list("at", flat=True)[:limit])
            if len(times) >= limit:
                waits.append((times[-1] + self.window - now).total_seconds())
        return max(1, math.ceil(max(waits))) if max(waits) > 0 else 0

    def begin(self) -> int:
        """Record this attempt; returns the seconds to wait if it must be refused."""
        now = timezone.now()
        LoginAttempt.objects.filter(at__lte=now - self.window).delete()  # prune as we go
        self.attempt = LoginAttempt.objects.create(username=self.username, ip=self.ip, at=now)
        wait = self.retry_after()
        if wait:
            self.attempt.delete()  # refused attempts do not extend the lockout
            self.attempt = None
            log.warning(
                "Login refused (too many failures): user %r from %s", self.username, self.ip
            )
        return wait

    def succeeded(self) -> None:
        LoginAttempt.objects.filter(username=self.username, ip=self.ip).delete()


# A template file would belong to the pages; this one sentence stays beside its only caller.
_TOO_MANY_CARD = (
    '<div class="card login"><h1><span class="logo-mark">◉</span> ArgusLM</h1>'
    '<p class="error">Too many failed logins. For your account\'s safety, logging in is '
    "paused: try again in {{ minutes }} minute{{ minutes|pluralize }}.</p></div>"
)
_TOO_MANY = SimpleLazyObject(
    lambda: engines["django"].from_string(
        '{% extends "base.html" %}{% block title %}Too many failed logins{% endblock %}'
        f"{{% block public %}}{_TOO_MANY_CARD}{{% endblock %}}"
        f"{{% block content %}}{_TOO_MANY_CARD}{{% endblock %}}"
    )
)


def too_many_attempts(request: HttpRequest, wait: int) -> HttpResponse:
    """429 with a page that says why and for how long."""
    body = _TOO_MANY.render({"minutes": max(1, math.ceil(wait / 60))}, request)
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(wait)
    return response


class RateLimitedLoginView(LoginView):
    """Django's LoginView, refusing logins (429) after repeated failures."""

    redirect_authenticated_user = True

    def get(self, request, *args, **kwargs):
        wait = LoginThrottle(request).retry_after(by_username=False)
        if wait:
            return too_many_attempts(request, wait)
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        self.throttle = LoginThrottle(request)
        wait = self.throttle.begin()
        if wait:
            return too_many_attempts(request, wait)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        self.throttle.succeeded()
        return super().form_valid(form)


def rate_limited_login(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The same limits around another login view (the admin's): success is a logged-in user."""

    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            wait = LoginThrottle(request).retry_after(by_username=False)
            return too_many_attempts(request, wait) if wait else view(request, *args, **kwargs)
        throttle = LoginThrottle(request)
        wait = throttle.begin()
        if wait:
            return too_many_attempts(request, wait)
        before = request.user
        response = view(request, *args, **kwargs)
        # login() replaces request.user; a user who was already signed in does not count.
        if request.user is not before and request.user.is_authenticated:
            throttle.succeeded()
        return response

    return wrapped
