"""System endpoints and the pages that belong to no domain app (settings)."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from arguslm import tokens
from arguslm.forms import TokenForm
from arguslm.models import Heartbeat
from arguslm.pages import login_required_htmx

WORKER_HEARTBEAT = "qcluster"
WORKER_STALE_AFTER = timedelta(minutes=3)


@require_GET
def root(request: HttpRequest) -> HttpResponse:
    """``{"status": "ok"}`` for API clients; a browser asking for HTML goes to the dashboard."""
    accept = request.headers.get("Accept", "")
    if "text/html" in accept:
        return redirect("dashboard")
    return JsonResponse({"status": "ok"})


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the web process answers."""
    return JsonResponse({"status": "healthy"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database (and Redis, when configured) answers and a worker has shown a
    heartbeat recently."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready", never a 500
        checks["database"] = f"error: {type(exc).__name__}"
        return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
    if settings.REDIS_URL:
        # The broker of every queued pass and benchmark: down means nothing new can start.
        # Listed only when it fails, so a healthy answer keeps its usual keys.
        queue = _redis_check(settings.REDIS_URL)
        if queue != "ok":
            checks["queue"] = queue

    beat = Heartbeat.objects.filter(name=WORKER_HEARTBEAT).first()
    if beat is None:
        checks["worker"] = "no heartbeat yet"
    elif timezone.now() - beat.seen_at > WORKER_STALE_AFTER:
        checks["worker"] = f"stale: last seen {beat.seen_at.isoformat()}"
    else:
        checks["worker"] = "ok"
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


def _redis_check(url: str) -> str:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"error: {type(exc).__name__}"
    finally:
        client.close()
    return "ok"


@login_required_htmx
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    """Appearance and the user's API tokens: named, scoped, expiring, revocable; a new key is
    shown in full on the one response that creates it."""
    form, new_key = TokenForm(), None
    if request.method == "POST" and request.POST.get("action") == "create-token":
        form = TokenForm(request.POST)
        if form.is_valid():
            _, new_key = tokens.issue(
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_in=form.expires_in(),
            )
            form = TokenForm()
    elif request.method == "POST" and request.POST.get("action") == "revoke-token":
        token_id = request.POST.get("token_id", "")
        if token_id.isdigit() and tokens.revoke(user=request.user, token_id=int(token_id)):
            messages.success(request, "Token revoked: it no longer works.")
        else:
            messages.error(request, "No such token.")
        return redirect("settings")
    context = {
        "page": "settings",
        "tokens": request.user.api_tokens.all(),
        "form": form,
        "new_key": new_key,
    }
    return render(request, "settings.html", context)
