"""A public status page in a real browser: an anonymous visitor, both themes, no JS errors."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from dashboard import services
from tests.browser.helpers import set_theme
from tests.factories import make_account, make_incident, make_model, store_checks, uptime_check

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_anonymous_visitor_sees_the_status_page_in_both_themes(live_server, page, shot):
    account = make_account(display_name="Production")
    models = [
        make_model(account, model_id=name) for name in ("gpt-4o", "claude-sonnet", "llama-70b")
    ]
    checks = []
    for index, model in enumerate(models):
        for day in range(0, 60, 1 + index):
            status = "down" if (day + index) % 17 == 0 else "degraded" if day % 11 == 0 else "up"
            checks.append(uptime_check(model, status=status, ago=timedelta(days=day, minutes=5)))
    store_checks(checks)
    make_incident(model=models[1], ago=timedelta(days=3), resolved_at=None)
    services.create_status_page(
        slug="acme",
        title="Acme AI status",
        description="Models behind the Acme API.",
        public=True,
        accounts=[account],
    )
    page.goto(f"{live_server.url}/status/acme")
    expect(page.get_by_role("heading", name="Acme AI status")).to_be_visible()
    expect(page.get_by_test_id("status-model")).to_have_count(3)
    for theme in ("dark", "light"):
        set_theme(page, theme)
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-theme", theme)
        shot(page, f"status-page-{theme}")
    assert page.errors == []
