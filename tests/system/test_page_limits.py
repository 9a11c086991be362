"""Page actions count against the API's rate limits: one quota, whichever way it is spent."""

import pytest

from tests.factories import make_rule


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                **rates,
            },
        }

    return set_rates


def test_a_rule_test_is_limited_across_the_page_and_the_api(logged_in, api, rates, sync_tasks):
    rates(rule_test="2/hour")
    rule = make_rule(name="Relay?")
    assert logged_in.post(f"/alerts/rules/{rule.pk}/test").status_code == 302
    assert api.post(f"/api/v1/alerts/rules/{rule.pk}/test").status_code == 202
    response = api.post(f"/api/v1/alerts/rules/{rule.pk}/test")
    assert response.status_code == 429 and "alert rule tests" in response.json()["detail"]
    page = logged_in.post(f"/alerts/rules/{rule.pk}/test", follow=True)
    assert "Too many alert rule tests: the limit is 2/hour." in page.content.decode()
    htmx = logged_in.post(f"/alerts/rules/{rule.pk}/test", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 429 and int(htmx["Retry-After"]) > 0


def test_the_run_now_button_counts_against_the_monitoring_run_limit(logged_in, rates, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: "task-id")
    rates(monitoring_run="1/min")
    logged_in.post("/monitoring/run-now")
    page = logged_in.post("/monitoring/run-now", follow=True).content.decode()
    assert "Too many monitoring runs" in page
