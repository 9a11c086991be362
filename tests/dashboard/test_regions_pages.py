"""Probe regions on the dashboard and the model page: which regions are live, what is down
where, and a model's figures from each region; nothing of it with a single region."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from monitoring.models import RegionStatus
from tests.dashboard.regions_data import LIVE, seed_regions, store
from tests.factories import make_model, store_checks, uptime_check

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)


@pytest.fixture
def client(client, user):
    client.force_login(user)
    return client


def get(client, url: str, **headers) -> str:
    response = client.get(url, **headers)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def region_row(html: str, name: str) -> str:
    match = re.search(rf'<tr data-region="{name}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {name}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def model_row(html: str, model_id: str) -> str:
    match = re.search(rf'data-model-row="{model_id}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {model_id}"
    return match.group(1)


def test_one_region_shows_no_regions_panel_and_no_by_region_table(client):
    model = make_model()
    store_checks([uptime_check(model)])
    html = get(client, "/dashboard")
    assert 'id="regions"' not in html and "down in" not in html
    assert 'data-testid="by-region"' not in get(client, reverse("model-detail", args=[model.id]))


def test_the_dashboard_lists_each_region_live_or_stale_with_the_models_down_there(client):
    seed_regions()
    html = get(client, "/dashboard")
    assert '<h2 id="regions-title">Regions</h2>' in html
    assert region_row(html, "default") == "default (home) live last heartbeat just now 3 1"
    assert region_row(html, "eu") == "eu live last heartbeat just now 3 2"
    assert region_row(html, "ap") == "ap stale last heartbeat 3 min ago 3 0"
    assert re.search(r'data-region="ap">.*?<span class="pill status-degraded">stale', html, re.S)
    # The live refresh re-renders the panel.
    live = get(client, reverse("dashboard-live"), HTTP_HX_REQUEST="true")
    assert region_row(live, "ap") == region_row(html, "ap")


def test_a_model_up_by_agreement_but_down_in_a_region_says_where(client):
    seed_regions()
    html = get(client, "/dashboard")
    flaky = model_row(html, "flaky")
    assert 'class="pill status-up"' in flaky
    assert re.search(r"<span [^>]*data-down-in>down in eu</span>", flaky)
    # Agreed down: its state says it all. Up everywhere: nothing to say. A stale region's
    # old checks are not news.
    assert "down in" not in model_row(html, "broken")
    assert "down in" not in model_row(html, "steady")
    assert 'class="pill status-down"' in model_row(html, "broken")


def test_a_stale_region_s_old_down_checks_make_no_note(client):
    models = seed_regions()["models"]
    RegionStatus.objects.filter(model=models["steady"], region="ap").update(status="down")
    html = get(client, "/dashboard")
    assert "down in" not in model_row(html, "steady")
    assert region_row(html, "ap").endswith("3 1")


def test_regions_cost_the_dashboard_as_many_queries_for_many_models_as_for_few(client):
    seed_regions()

    def count(url, **headers) -> int:
        with CaptureQueriesContext(connection) as ctx:
            get(client, url, **headers)
        return len(ctx.captured_queries)

    urls = [("/dashboard", {}), (reverse("dashboard-live"), {"HTTP_HX_REQUEST": "true"})]
    get(client, "/dashboard")  # the session's first request loads more
    few = [count(url, **headers) for url, headers in urls]
    for i in range(12):
        model = make_model(model_id=f"more-{i}")
        for region in LIVE:
            status = "down" if region == "eu" and i % 2 else "up"
            store(region, [uptime_check(model, status=status, region=region)], LIVE)
    many = [count(url, **headers) for url, headers in urls]
    assert few == many
    html = get(client, "/dashboard")
    assert region_row(html, "eu").endswith("15 8")
    assert html.count("down in eu") == 1 + 6


def test_the_model_page_has_a_by_region_table(client):
    models = seed_regions()["models"]
    html = get(client, reverse("model-detail", args=[models["flaky"].id]))
    assert '<h2 id="by-region-title">By region</h2>' in html
    assert re.findall(r'<tr data-region="([a-z]+)">', html) == ["ap", "default", "eu"]
    default, eu, ap = (region_row(html, name) for name in ("default", "eu", "ap"))
    # Region, status, checked, TTFT, latency, tok/s, availability (checks), TTFT p50 · p95, error.
    assert default == "default up 1 min ago 120 ms 520 ms 150.0 100 % 6 checks 146 · 167 ms —"
    assert eu == (
        "eu down 1 min ago — — — 83.3 % 6 checks 369 · 388 ms "
        "server_error HTTP 500 from the provider"
    )
    assert ap.startswith("ap (stale) up 10 min ago 610 ms 1,010 ms")
    for th in re.findall(r"<th[^>]*>", html.split('id="by-region"')[1].split("</table>")[0]):
        assert "scope=" in th


def test_anonymous_visitors_are_sent_to_log_in(client):
    client.logout()
    models = seed_regions()["models"]
    for url in ("/dashboard", reverse("model-detail", args=[models["flaky"].id])):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"]


def test_the_seed_stores_each_region_s_latest_check_as_its_shard_does():
    seed = seed_regions()
    rows = RegionStatus.objects.filter(model=seed["models"]["flaky"]).order_by("region")
    assert [(r.region, r.status) for r in rows] == [("ap", "up"), ("default", "up"), ("eu", "down")]
    assert rows[0].checked_at == NOW - timedelta(minutes=10)
