"""Template context shared by every page."""

from django.urls import NoReverseMatch, reverse

NAV = [
    ("dashboard", "Dashboard"),
    ("providers", "Providers"),
    ("models", "Models"),
    ("benchmarks", "Benchmarks"),
    ("monitoring", "Monitoring"),
    ("alerts", "Alerts"),
    ("slos", "SLOs"),
    ("across", "Across providers"),
    ("status-pages", "Status pages"),
]


def _routable(name: str) -> bool:
    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True


def nav(request) -> dict:
    return {"nav_items": [(name, label) for name, label in NAV if _routable(name)]}
