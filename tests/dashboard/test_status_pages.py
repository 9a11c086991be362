"""Public status pages and badges: opt-in, anonymous, nothing shown that was not chosen."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from arguslm import roles, tokens
from dashboard import services
from dashboard.models import StatusPage
from tests.factories import make_account, make_incident, make_model, store_checks, uptime_check

pytestmark = pytest.mark.django_db

PLANTED_URL = "https://planted-base-url.example.internal/v1"
PLANTED_ERROR = "planted-error-text-9911"


def admin_api() -> APIClient:
    user = get_user_model().objects.create_user("boss", password="pw-long-enough-1")
    roles.assign(user, roles.ADMIN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(user=user, name='t')[1]}")
    return client


def page_with(*, models=(), accounts=(), public=True, slug="public-api") -> StatusPage:
    return services.create_status_page(
        slug=slug, title="Our API", public=public, llm_models=models, accounts=accounts
    )


def test_an_anonymous_visitor_sees_the_chosen_models_and_nothing_else(client):
    secret_account = make_account(
        display_name="Prod gateway",
        provider_type="custom_openai_compatible",
        credentials={"base_url": PLANTED_URL, "api_key": "sk-planted-key"},
    )
    shown = make_model(secret_account, model_id="internal/gpt-x", custom_name="Chat model")
    hidden = make_model(secret_account, model_id="unchosen-model-7")
    store_checks(
        [
            uptime_check(shown, status="down", error_type="server_error", error=PLANTED_ERROR),
            uptime_check(hidden, status="up"),
        ]
    )
    make_incident(model=shown, summary=f"Model Chat model is down: {PLANTED_ERROR}")
    page_with(models=[shown])

    response = client.get("/status/public-api")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Chat model" in html and "Our API" in html and 'data-state="down"' in html
    assert "Down · opened" in html  # the incident, by kind and times only
    for planted in (
        PLANTED_URL,
        "planted-base-url",
        "sk-planted-key",
        "api_key",
        "custom_openai_compatible",
        PLANTED_ERROR,
        "server_error",
        "internal/gpt-x",
        "unchosen-model-7",
        "Prod gateway",
        str(shown.pk),
        "csrf",
    ):
        assert planted not in html, planted
    assert response["Cache-Control"] in ("public, max-age=60", "max-age=60, public")


def test_an_account_contributes_its_monitored_models_under_its_name(client):
    account = make_account(display_name="Shared account")
    make_model(account, model_id="watched")
    make_model(account, model_id="not-watched", enabled_for_monitoring=False)
    page_with(accounts=[account])
    html = client.get("/status/public-api").content.decode()
    assert "Shared account" in html and "watched" in html and "not-watched" not in html


def test_private_and_unknown_pages_are_404(client):
    page_with(models=[make_model()], public=False, slug="private")
    assert client.get("/status/private").status_code == 404
    assert client.get("/status/nope").status_code == 404


def test_making_a_page_private_takes_effect_at_once_despite_the_cache(client):
    page = page_with(models=[make_model()])
    assert client.get("/status/public-api").status_code == 200
    services.update_status_page(page=page, public=False)
    assert client.get("/status/public-api").status_code == 404


def test_a_cached_page_costs_no_query(client):
    page_with(models=[make_model()])
    client.get("/status/public-api")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/status/public-api").status_code == 200
    assert len(queries) == 0


def _page_queries(client, count: int, slug: str) -> int:
    account = make_account(display_name=f"acc-{slug}")
    models = [make_model(account, model_id=f"{slug}-{i}") for i in range(count)]
    store_checks([uptime_check(m, ago=timedelta(days=d)) for m in models for d in (0, 3)])
    for m in models[:3]:
        make_incident(model=m)
    page_with(models=models[: count // 2], accounts=[account], slug=slug)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(f"/status/{slug}").content.decode()
    assert html.count('data-testid="status-model"') == count
    return len(queries)


def test_queries_do_not_grow_with_the_number_of_models(client):
    assert _page_queries(client, 5, "five") == _page_queries(client, 50, "fifty")


def test_badges_match_a_hand_computation(client):
    model = make_model()
    store_checks(
        [
            uptime_check(model, status="up", ttft_ms=t, ago=timedelta(minutes=i))
            for i, t in enumerate([100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0])
        ]
        + [uptime_check(model, status="degraded", ttft_ms=900.0, ago=timedelta(minutes=8))]
        + [uptime_check(model, status="down", ago=timedelta(minutes=9))]
        + [uptime_check(model, status="down", ago=timedelta(minutes=10))]
    )
    page_with(models=[model])
    response = client.get(f"/badge/{model.pk}/uptime.svg")
    svg = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("image/svg+xml")
    assert "public" in response["Cache-Control"] and "max-age=60" in response["Cache-Control"]
    # 8 of 10 checks up or degraded: 80.00 %, below 90 %: red.
    assert "uptime 24h: 80.00%" in svg and 'fill="#e05d44"' in svg
    # TTFT of the 8 successful checks: 100..700, 900 → median ≈ 400-500 ms (sketch, 1 %).
    ttft = client.get(f"/badge/{model.pk}/ttft.svg?window=7d").content.decode()
    value = int(ttft.split("ttft p50 7d: ")[1].split(" ms")[0])
    assert 396 <= value <= 505 and 'fill="#4c1"' in ttft  # under 500 ms: bright green


def test_badges_are_404_unless_the_model_is_on_a_public_page(client):
    private = make_model()
    page_with(models=[private], public=False)
    assert client.get(f"/badge/{private.pk}/uptime.svg").status_code == 404
    assert client.get(f"/badge/{make_model().pk}/ttft.svg").status_code == 404


def test_a_bad_badge_window_is_a_400_with_a_text_body(client):
    model = make_model()
    page_with(models=[model])
    response = client.get(f"/badge/{model.pk}/uptime.svg?window=1y")
    assert response.status_code == 400 and b"window must be one of" in response.content


def test_the_api_refuses_bad_and_taken_slugs_with_422_naming_slug():
    api = admin_api()
    model = make_model()
    body = {"slug": "ok-slug", "title": "T", "public": True, "model_ids": [str(model.pk)]}
    created = api.post("/api/v1/status-pages", body, format="json")
    assert created.status_code == 201, created.content
    assert (
        created.json()["model_ids"] == [str(model.pk)]
        and created.json()["url"] == "/status/ok-slug"
    )
    for slug in ("ok-slug", "Bad Slug", "-edge", "a_b"):
        response = api.post("/api/v1/status-pages", {**body, "slug": slug}, format="json")
        assert response.status_code == 422, slug
        assert response.json()["detail"][0]["loc"] == ["body", "slug"], slug
    other = api.post("/api/v1/status-pages", {**body, "slug": "other"}, format="json").json()
    clash = api.patch(f"/api/v1/status-pages/{other['id']}", {"slug": "ok-slug"}, format="json")
    assert clash.status_code == 422 and clash.json()["detail"][0]["loc"] == ["body", "slug"]
    listed = api.get("/api/v1/status-pages").json()
    assert listed["total"] == 2 and {p["slug"] for p in listed["items"]} == {"ok-slug", "other"}
    assert api.delete(f"/api/v1/status-pages/{other['id']}").status_code == 204


def test_the_management_page_creates_a_page_through_the_form(client):
    user = get_user_model().objects.create_user("admin1", password="pw-long-enough-1")
    roles.assign(user, roles.ADMIN)
    client.force_login(user)
    model = make_model(custom_name="Picked")
    assert "Picked" in client.get("/status-pages").content.decode()
    bad = client.post("/status-pages/new", {"slug": "No Good", "title": "T"})
    assert bad.status_code == 200 and "lower-case letters" in bad.content.decode()
    response = client.post(
        "/status-pages/new",
        {"slug": "mine", "title": "Mine", "public": "on", "model_ids": [str(model.pk)]},
    )
    assert response.status_code == 302
    page = StatusPage.objects.get(slug="mine")
    assert page.public and list(page.llm_models.all()) == [model]
    assert "Picked" in client.get("/status/mine").content.decode()
