"""Helpers shared by the pages of every app (no app imports here: every app may use them)."""

import uuid
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def login_required_htmx(view):
    """``login_required``; but an htmx request whose session ended (a poll, the bell) sends the
    whole page to the login form, and back to this page after it, instead of swapping the login
    form into one part of the page."""
    protected = login_required(view)

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            back = request.htmx.current_url_abs_path or resolve_url("dashboard")
            login = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': back})}"
            return HttpResponse(status=204, headers={"HX-Redirect": login})
        return protected(request, *args, **kwargs)

    return wrapped


def permission_required(perm: str):
    """The view needs this permission (arguslm.roles); anyone else gets 403. Put it under
    ``login_required_htmx``, so that a visitor who is not signed in is sent to log in first.
    The view keeps ``required_permission``, which the role matrix test reads."""

    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.has_perm(perm):
                raise PermissionDenied(f"Your role does not allow this (it needs {perm}).")
            return view(request, *args, **kwargs)

        wrapped.required_permission = perm
        return wrapped

    return decorator


def redirect_back(request: HttpRequest, default: str) -> HttpResponse:
    """Redirect to the page the form was posted from (so its filters stay), else to the URL
    name ``default``. Only a page of this site counts: the Referer is the client's word."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(referer)
    return redirect(default)


def parse_bool(value: str | None) -> bool:
    """A posted checkbox or switch: absent or anything but on/true/1/yes is False."""
    return (value or "").lower() in ("1", "true", "on", "yes")


def uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return None


def error_text(value) -> str:
    """A serializer's error detail (a message, a list, or a dict of them) as one line."""
    if isinstance(value, dict):
        return " ".join(error_text(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(error_text(v) for v in value)
    return str(value)


def count_holds(request: HttpRequest, count: int, noun: str = "models") -> bool:
    """Whether a bulk action's selection still holds the number of items its confirmation
    named (the form posts it as ``count``); if not, say so and change nothing: items were
    added or changed meanwhile, and the person should look again."""
    from django.contrib import messages

    shown = request.POST.get("count", "")
    if shown.isdigit() and int(shown) != count:
        messages.warning(
            request,
            f"Nothing changed: {count} {noun} match now, not {shown} as confirmed. "
            "Check the list and confirm again.",
        )
        return False
    return True


def hidden_fields(filters: dict) -> list[tuple[str, str]]:
    """The active filters as (name, value) pairs, for the hidden inputs of a form that acts on
    the filtered selection (a list value repeats its name, as in ``paginate``'s links)."""
    pairs = []
    for name, value in filters.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item not in ("", None):
                pairs.append((name, str(item)))
    return pairs


def paginate(request: HttpRequest, items, per_page: int, filters: dict) -> dict:
    """One page of ``items`` and links that keep the page's filters in the URL.

    ``filters`` holds the active filters (empty values are left out of the links; a list
    value repeats its key: ``?tag=a&tag=b``). Returns ``page_obj``, ``prev_url``,
    ``next_url``, ``page_url`` (a function of the page number), ``query`` (the filters alone,
    for links that keep them) and ``filtered``."""
    from django.core.paginator import Paginator

    page = Paginator(items, per_page).get_page(request.GET.get("page"))
    active = {k: v for k, v in filters.items() if v not in ("", None, [], ())}
    query = urlencode(active, doseq=True)

    def page_url(number: int) -> str:
        extra = urlencode({"page": number}) if number > 1 else ""
        joined = "&".join(part for part in (query, extra) if part)
        return f"{request.path}?{joined}" if joined else request.path

    return {
        "page_obj": page,
        "prev_url": page_url(page.previous_page_number()) if page.has_previous() else "",
        "next_url": page_url(page.next_page_number()) if page.has_next() else "",
        "page_url": page_url,
        "query": query,
        "filtered": bool(active),
    }
