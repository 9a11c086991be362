"""The one relative-time rule (arguslm_tags.ago) in its long and short forms, and its filters."""

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from arguslm.templatetags.arguslm_tags import ago, availability, duration_ms

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)

CASES = [
    # age (None: never happened), long form, short form
    (None, "never", "never"),
    (timedelta(0), "just now", "just now"),
    (timedelta(seconds=4.9), "just now", "just now"),
    (timedelta(seconds=5), "5 s ago", "just now"),
    (timedelta(seconds=30), "30 s ago", "just now"),
    (timedelta(seconds=59), "59 s ago", "just now"),
    (timedelta(seconds=60), "1 min ago", "1m ago"),
    (timedelta(seconds=90), "1 min ago", "1m ago"),
    (timedelta(minutes=59, seconds=59), "59 min ago", "59m ago"),
    (timedelta(hours=2), "2 h ago", "2h ago"),
    (timedelta(hours=23, minutes=59), "23 h ago", "23h ago"),
    (timedelta(days=3), "3 d ago", "3d ago"),
    (timedelta(days=30), "30 d ago", "30d ago"),
    # In the future (clock drift): never "-3 s ago".
    (-timedelta(seconds=3), "just now", "just now"),
    (-timedelta(hours=2), "just now", "just now"),
]


@pytest.mark.parametrize(("age", "long", "short"), CASES)
def test_ago(age, long, short):
    moment = None if age is None else NOW - age
    assert ago(moment, NOW) == long
    assert ago(moment, NOW, short=True) == short


def test_ago_defaults_to_the_current_time():
    assert ago(timezone.now() - timedelta(minutes=5)) == "5 min ago"
    assert ago(timezone.now() - timedelta(minutes=5), short=True) == "5m ago"


def render(source: str, **context) -> str:
    return Template("{% load arguslm_tags %}" + source).render(Context(context))


@pytest.mark.parametrize(("age", "long", "short"), CASES)
def test_filters_with_now(age, long, short):
    moment = None if age is None else NOW - age
    assert render("{{ t|ago:now }}", t=moment, now=NOW) == long
    assert render("{{ t|ago_short:now }}", t=moment, now=NOW) == short


def test_filters_without_now():
    moment = timezone.now() - timedelta(hours=3)
    assert render("{{ t|ago }} / {{ t|ago_short }}", t=moment) == "3 h ago / 3h ago"


def test_filters_fail_silently():
    # A missing variable never happened; anything that is not a moment renders nothing.
    assert render("{{ missing|ago }}|{{ missing|ago_short }}") == "never|never"
    assert render("{{ t|ago }}|{{ t|ago_short }}", t="yesterday") == "|"
    naive = datetime(2026, 3, 10, 12, 0)
    assert render("{{ t|ago:now }}", t=naive, now=NOW) == ""


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, ""),
        (0, "0 ms"),
        (840.4, "840 ms"),
        (999.4, "999 ms"),
        (1000, "1.0 s"),
        (12_540, "12.5 s"),
    ],
)
def test_durations_read_in_ms_under_a_second_and_in_seconds_beyond(ms, text):
    assert duration_ms(ms) == text
    assert Template("{% load arguslm_tags %}{{ v|duration_ms }}").render(Context({"v": ms})) == text


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(None, None), (1, "100"), (0.9999, "99.9"), (0.99999, "99.9"), (0.875, "87.5"), (0, "0.0")],
)
def test_availability_is_never_rounded_up_to_100_while_a_check_failed(ratio, text):
    assert availability(ratio) == text
