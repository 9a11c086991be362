"""Template filters shared by every page, and the one relative-time rule behind them.

``ago`` is the only place that says how long ago something happened; views that precompute
the text call the function, templates use the filters::

    {% load arguslm_tags %}
    {{ status.checked_at|ago }}        just now, 42 s ago, 5 min ago, 3 h ago, 2 d ago, or never
    {{ alert.created_at|ago_short }}   just now, 5m ago, 3h ago, 2d ago, or never
"""

from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()

# Younger than this (or in the future: clocks drift) reads "just now".
JUST_NOW_SECONDS = 5
# (seconds in the unit, long suffix, short suffix), largest first. The short form has no
# seconds: under a minute it says "just now".
UNITS = (
    (86400, " d", "d"),
    (3600, " h", "h"),
    (60, " min", "m"),
    (1, " s", None),
)


def ago(moment: datetime | None, now: datetime | None = None, *, short: bool = False) -> str:
    """How long ago ``moment`` was, in its largest whole unit, rounded down.

    Long form: "just now" (under 5 s or in the future), "42 s ago", "5 min ago", "3 h ago",
    "2 d ago". Short form: "just now" (under a minute), "5m ago", "3h ago", "2d ago". Days are
    the largest unit. ``None`` (never happened) reads "never". ``now`` defaults to the current
    time."""
    if moment is None:
        return "never"
    if now is None:
        now = timezone.now()
    seconds = int((now - moment).total_seconds())
    if seconds >= JUST_NOW_SECONDS:
        for size, long_unit, short_unit in UNITS:
            unit = short_unit if short else long_unit
            if unit is not None and seconds >= size:
                return f"{seconds // size}{unit} ago"
    return "just now"


def _ago_filter(value, now, short: bool) -> str:
    # A missing variable reaches a filter as "" (string_if_invalid): it never happened.
    if value is None or value == "":
        return ago(None)
    try:
        return ago(value, now or None, short=short)
    except (TypeError, ValueError):
        # Not a datetime, or naive against aware: filters fail silently (like timesince).
        return ""


@register.filter("ago")
def ago_filter(value, now=None) -> str:
    """``{{ moment|ago }}`` or ``{{ moment|ago:now }}``: the long form of ``ago``."""
    return _ago_filter(value, now, short=False)


@register.filter("ago_short")
def ago_short_filter(value, now=None) -> str:
    """``{{ moment|ago_short }}`` or ``{{ moment|ago_short:now }}``: the short form of ``ago``."""
    return _ago_filter(value, now, short=True)
