"""Helpers shared by the pages of every app (no app imports here: every app may use them)."""

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url


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
