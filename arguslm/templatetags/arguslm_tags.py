"""Template filters shared by every page, and the one relative-time rule behind them.

``ago`` is the only place that says how long ago something happened; views that precompute
the text call the function, templates use the filters::

    {% load arguslm_tags %}
    {{ status.checked_at|ago }}        just now, 42 s ago, 5 min ago, 3 h ago, 2 d ago, or never
    {{ alert.created_at|ago_short }}   just now, 5m ago, 3h ago, 2d ago, or never

Durations and percentages have one rule each too: ``{{ run.duration_ms|duration_ms }}`` (840 ms,
12.5 s) and ``{{ card.availability|availability }}`` (100, 99.9, 87.5).
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


@register.filter("duration_ms")
def duration_ms(ms: float | None) -> str:
    """Milliseconds as text: "840 ms" under a second, else "12.5 s"; nothing when unknown."""
    if ms is None or ms == "":
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


@register.filter("availability")
def availability(ratio: float | None) -> str | None:
    """A ratio of checks up as a percentage: "100", "99.9", never rounded up to 100 when a
    check failed. None when there were no checks."""
    if ratio is None or ratio == "":
        return None
    if ratio >= 1:
        return "100"
    text = f"{ratio * 100:.1f}"
    return "99.9" if text == "100.0" else text
