"""Public status pages and badges (no login), and the admins' page that manages them.

Public answers are cached for 60 s on the server (django cache, keyed by the status pages'
generation, so an owner's change shows at once) and by clients (Cache-Control public,
max-age=60): a page or badge hit repeatedly costs a cache read. They depend on nothing of
the visitor (no session, no CSRF token), so one cached copy serves everyone.
"""

import uuid

from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from arguslm import errors
from arguslm.pages import login_required_htmx, permission_required
from dashboard import badges, services, status
from dashboard.forms import StatusPageForm
from dashboard.models import StatusPage, generation
from providers.models import LLMModel

PUBLIC_SECONDS = 60
NOT_FOUND = "-"  # cached for a slug or badge that answers 404
BAD_WINDOW = "window must be one of: " + ", ".join(status.BADGE_WINDOWS) + "\n"


def _public(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=PUBLIC_SECONDS)
    return response


def _cached(key: str, build) -> str:
    """``build()`` once per generation and minute; ``None`` (not found) is cached too."""
    key = f"status:{generation()}:{key}"
    body = cache.get(key)
    if body is None:
        body = build()
        body = NOT_FOUND if body is None else body
        cache.set(key, body, PUBLIC_SECONDS)
    if body == NOT_FOUND:
        raise Http404("No such status page.")
    return body


def _render_public(slug: str) -> str | None:
    page = StatusPage.objects.filter(slug=slug, public=True).first()
    if page is None:
        return None
    context = {"page": {"title": page.title, "description": page.description}}
    return render_to_string("dashboard/status_public.html", {**context, **status.page_data(page)})


@require_GET
def status_page_public(request: HttpRequest, slug: str) -> HttpResponse:
    """The public page: 404 unless it exists and is public."""
    return _public(HttpResponse(_cached(f"page:{slug}", lambda: _render_public(slug))))


@require_GET
def badge(request: HttpRequest, model_id: uuid.UUID, kind: str) -> HttpResponse:
    """``uptime`` or ``ttft`` over ``?window=24h|7d|30d`` (default 24h; another window is a
    400 with a text body). 404 unless the model is on a public status page."""
    window = request.GET.get("window", "24h")
    if window not in status.BADGE_WINDOWS:
        return HttpResponse(BAD_WINDOW, status=400, content_type="text/plain; charset=utf-8")

    def build() -> str | None:
        if not status.is_public(model_id):
            return None
        figures = status.badge_figures(model_id, window)
        if kind == "uptime":
            return badges.uptime(figures["availability"], window)
        return badges.ttft(figures["ttft_p50"], window)

    svg = _cached(f"badge:{model_id}:{kind}:{window}", build)
    return _public(HttpResponse(svg, content_type="image/svg+xml; charset=utf-8"))


# --- managing the pages (signed in; writes need the admin's permissions) ------------------------


def _choices() -> dict:
    models = LLMModel.objects.select_related("provider_account").order_by(
        "provider_account__display_name", "provider_account_id", "model_id"
    )
    accounts = {}
    for model in models:
        accounts.setdefault(model.provider_account, []).append(model)
    return {"account_choices": list(accounts.items())}


def _form_page(request, template: str, form: dict, errors: dict, **extra) -> HttpResponse:
    context = {"page": "status-pages", "form": form, "errors": errors, **_choices(), **extra}
    return render(request, template, context)


def _list_context() -> dict:
    pages = StatusPage.objects.prefetch_related("llm_models", "accounts").order_by("slug")
    return {"status_pages": list(pages)}


@login_required_htmx
@require_GET
def status_pages(request: HttpRequest) -> HttpResponse:
    return _form_page(
        request,
        "dashboard/status_pages.html",
        StatusPageForm.values_for(None),
        {},
        **_list_context(),
    )


@login_required_htmx
@permission_required("dashboard.add_statuspage")
@require_POST
def status_page_create(request: HttpRequest) -> HttpResponse:
    form = StatusPageForm(request.POST)
    if form.is_valid():
        try:
            page = services.create_status_page(**form.validated_data)
        except errors.Invalid as exc:
            form.add_error("slug", exc.message)
        else:
            messages.success(request, f"Created status page “{page.title}”.")
            return redirect("status-pages")
    return _form_page(
        request, "dashboard/status_pages.html", form.values(), form.messages(), **_list_context()
    )


@login_required_htmx
@permission_required("dashboard.change_statuspage")
@require_http_methods(["GET", "POST"])
def status_page_edit(request: HttpRequest, page_id: uuid.UUID) -> HttpResponse:
    page = get_object_or_404(StatusPage, pk=page_id)
    if request.method == "GET":
        return _form_page(
            request,
            "dashboard/status_page_edit.html",
            StatusPageForm.values_for(page),
            {},
            status_page=page,
        )
    form = StatusPageForm(request.POST, instance=page)
    if form.is_valid():
        try:
            services.update_status_page(page=page, **form.validated_data)
        except errors.Invalid as exc:
            form.add_error("slug", exc.message)
        else:
            messages.success(request, f"Saved status page “{page.title}”.")
            return redirect("status-pages")
    page.refresh_from_db()
    return _form_page(
        request,
        "dashboard/status_page_edit.html",
        form.values(),
        form.messages(),
        status_page=page,
    )


@login_required_htmx
@permission_required("dashboard.delete_statuspage")
@require_POST
def status_page_delete(request: HttpRequest, page_id: uuid.UUID) -> HttpResponse:
    page = get_object_or_404(StatusPage, pk=page_id)
    services.delete_status_page(page=page)
    messages.success(request, f"Deleted status page “{page.title}”.")
    return redirect("status-pages")
