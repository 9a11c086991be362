"""The Settings page: create an API token (shown once), see it listed, revoke it."""

import pytest
from playwright.sync_api import expect

from arguslm import tokens
from tests.browser.helpers import log_in, shoot_both_themes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_token_is_created_shown_once_listed_and_revoked(page, live_server, shot):
    base = live_server.url
    log_in(page, base)
    page.goto(f"{base}/settings")
    page.get_by_label("Name").fill("Grafana")
    page.get_by_label("Scope").select_option("metrics")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_test_id("new-token").inner_text().strip()
    assert tokens.find(key).scope == "metrics"
    expect(page.get_by_test_id("token-row")).to_have_count(1)
    shoot_both_themes(page, shot, "settings-tokens")

    page.goto(f"{base}/settings")
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    assert key not in page.content()
    page.get_by_role("button", name="Revoke Grafana").click()
    expect(page.get_by_test_id("token-row")).to_have_count(0)
    assert tokens.find(key) is None
    assert page.errors == []
