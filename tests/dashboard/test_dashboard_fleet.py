"""The dashboard at fleet scale: what needs attention, one row per account, one page of models
found by search and filters kept in the URL, at a cost that does not grow with the fleet."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alerts.models import AlertRule
from dashboard import fleet
from monitoring import sketch
from monitoring.models import Slo
from providers.models import LLMModel, ProviderAccount, Tag
from tests.dashboard.fleet_data import seed_fleet, state_of
from tests.factories import make_account, make_incident, make_model, store_checks, uptime_check

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    return NOW


@pytest.fixture
def client(client, user, frozen):
    client.force_login(user)
    return client


def get(client, url: str = "/dashboard", **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def rows(html: str) -> list[str]:
    """The model ids of the page's Models rows, in order."""
    return re.findall(r'data-model-row="([^"]+)"', html)


def links(html: str, rel: str) -> dict:
    """The query of the pager's ``rel`` (prev/next) link, parsed."""
    match = re.search(rf'<a class="button" href="([^"]+)" rel="{rel}">', html)
    assert match, f"no {rel} link"
    return parse_qs(urlsplit(unescape(match.group(1))).query)


# --- a constant cost ----------------------------------------------------------------------------


def count_queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


def test_the_dashboard_costs_as_many_queries_for_60_models_as_for_10(client):
    Slo.objects.create(name="Fleet", account=make_account(), availability_target=99.0)

    def measure() -> list[int]:
        client.get("/dashboard")  # the first request of a session loads more (the user, …)
        cache.clear()  # every settled hour read again
        page = count_queries(client, "/dashboard")
        filtered = count_queries(client, "/dashboard?q=shared&state=up&tag=env:prod&page=1")
        live = count_queries(client, "/dashboard/live?state=problem", HTTP_HX_REQUEST="true")
        again = count_queries(client, "/dashboard")  # the settled hours now come from the cache
        return [page, filtered, live, again]

    seed_fleet(10, accounts=5, history=10)
    few = measure()
    AlertRule.objects.all().delete()
    LLMModel.objects.all().delete()
    ProviderAccount.objects.exclude(slos__isnull=False).delete()
    Tag.objects.all().delete()
    seed_fleet(60, accounts=5, history=60)
    many = measure()
    assert few == many
    html = get(client)
    assert len(rows(html)) == 50  # one page
    assert "page 1 of 2" in html


def test_charts_and_the_comparison_ask_for_the_page_s_models_only(client):
    models = seed_fleet(60, accounts=5, history=0)["models"]
    html = get(client)
    shown = re.search(r'data-models="([^"]+)"', html).group(1).split()
    assert len(shown) == 50
    assert set(shown) <= {str(m.id) for m in models}
    comparison = re.search(r'data-comparison-url="([^"]+)"', html).group(1)
    assert parse_qs(urlsplit(unescape(comparison)).query)["model"] == shown
    body = get(client, reverse("dashboard-comparison") + "?" + unescape(comparison).split("?")[1])
    assert body.count('<tr class="no-data">') == 50


# --- filters and paging -------------------------------------------------------------------------


def test_each_filter_narrows_the_models_in_the_database(client):
    data = seed_fleet(120, accounts=4, history=0)
    models, accounts = data["models"], data["accounts"]
    html = get(client, q="m-001")  # m-0010 … m-0019
    assert sorted(rows(html)) == [f"m-{i:04d}" for i in range(10, 20)]
    html = get(client, account=str(accounts[1].pk))
    assert "30 models match the filters" in html
    html = get(client, state="down")
    down = [m.model_id for i, m in enumerate(models) if state_of(i) == "down"]
    assert sorted(rows(html)) == sorted(down)
    html = get(client, state="problem")
    problems = [m.model_id for i, m in enumerate(models) if state_of(i) in ("down", "degraded")]
    assert sorted(rows(html)) == sorted(problems)
    html = get(client, state="unknown")
    assert len(rows(html)) == sum(1 for i in range(120) if state_of(i) == "unknown")
    # a model's own tag, then an account's tag (accounts 1 and 3 are env:prod)
    html = get(client, tag="team:search")
    assert "24 models match the filters" in html
    html = get(client, tag="env:prod")
    assert "60 models match the filters" in html
    html = client.get("/dashboard?tag=env:prod&tag=team:search").content.decode()
    assert "12 models match the filters" in html
    assert '<span class="chip">team:search</span>' in html


def test_filters_and_paging_keep_each_other_in_links(client):
    data = seed_fleet(240, accounts=2, history=0)
    account = data["accounts"][0]
    params = {"q": "m-", "account": str(account.pk), "state": "up", "tag": "env:prod"}
    html = get(client, **params)
    matching = int(re.search(r"(\d+) models match the filters", html).group(1))
    assert matching > 50
    expected = {key: [value] for key, value in params.items()}
    assert links(html, "next") == expected | {"page": ["2"]}
    html = get(client, **params, page="2")
    assert links(html, "prev") == expected  # page 1 is the page without a number
    assert "page 2 of" in html
    # the form shows them, and the live refresh asks for the same filters and page
    assert 'name="q" value="m-"' in html
    assert f'<option value="{account.pk}" selected>' in html
    assert '<option value="up" selected>Up</option>' in html
    assert '<option value="env:prod" selected>env:prod</option>' in html
    live = unescape(re.search(r'id="dashboard-live"[^>]* hx-get="([^"]+)"', html).group(1))
    assert parse_qs(urlsplit(live).query) == expected | {"page": ["2"]}
    live_html = get(client, live.split("?")[0] + "?" + live.split("?")[1])
    assert rows(live_html) == rows(html)


def test_a_tag_chip_and_an_account_row_link_to_the_filtered_list(client):
    data = seed_fleet(20, accounts=2, history=0)
    html = get(client)
    assert 'href="?tag=team%3Asearch#models"' in html
    assert f'href="?account={data["accounts"][0].pk}#models"' in html
    assert f'href="?account={data["accounts"][0].pk}&amp;state=down#models"' in html


@pytest.mark.parametrize(
    ("params", "note"),
    [
        ({"account": "00000000-0000-0000-0000-000000000000"}, "no such account"),
        ({"account": "abc"}, "Ignored account='abc'"),
        ({"state": "sideways"}, "Ignored state='sideways'"),
        ({"tag": "Bad Tag!"}, "is not a tag"),
        ({"q": "x" * 500}, "Ignored q="),
        ({"page": "abc"}, None),
        ({"page": "9999"}, None),
        ({"page": "-1"}, None),
        ({"accounts": "everything"}, None),
    ],
)
def test_bad_parameters_are_ignored_with_a_note_never_a_500(client, params, note):
    seed_fleet(60, accounts=2, history=0)
    for url in ("/dashboard", "/dashboard/live"):
        response = client.get(url, params)
        assert response.status_code == 200
        html = unescape(response.content.decode())
        if note:
            assert note in html
            assert "60 models monitored" in html  # the bad filter is left out
        else:
            assert len(rows(html)) in (50, 10)  # page 1, or the last page


# --- what needs attention -----------------------------------------------------------------------


def test_needs_attention_lists_a_down_model_and_an_open_incident(client):
    account = make_account(display_name="Prod")
    broken = make_model(account, model_id="gpt-broken")
    fine = make_model(account, model_id="gpt-fine")
    store_checks(
        [
            uptime_check(fine, ago=timedelta(minutes=2)),
            uptime_check(broken, status="down", ago=timedelta(minutes=2)),
        ]
    )
    incident = make_incident(model=fine, summary="gpt-fine: TTFT p95 twice its baseline")
    html = get(client)
    section = html.split('data-testid="attention"')[1].split("</section>")[0]
    assert "Down or degraded" in section
    assert reverse("model-detail", args=[broken.id]) in section and "gpt-broken" in section
    assert '<span class="pill status-down">down</span>' in section
    assert "server_error" in section
    assert "Open incidents" in section and "TTFT p95 twice its baseline" in section
    assert reverse("model-detail", args=[fine.id]) in section
    assert "gpt-fine" not in section.split("Open incidents")[0]  # up: not a problem
    incident.resolved_at = NOW
    incident.save()
    store_checks([uptime_check(broken, ago=timedelta(minutes=1))])
    html = get(client)
    assert "all clear" in html.split('data-testid="attention"')[1].split("</section>")[0]


def test_needs_attention_shows_20_problems_and_links_the_rest(client):
    seed_fleet(400, accounts=4, history=0)
    problems = sum(1 for i in range(400) if state_of(i) in ("down", "degraded"))
    html = get(client)
    section = html.split('data-testid="attention"')[1].split("</section>")[0]
    down_part = section.split("Down or degraded")[1].split("attention-more")[0]
    assert down_part.count('class="attention-item"') == fleet.PROBLEMS_SHOWN
    # down first
    pills = re.findall(r'pill status-(down|degraded)">', down_part)
    assert pills == sorted(pills, key=lambda p: p != "down")
    assert f"and {problems - 20} more down or degraded" in section
    assert 'href="?state=problem#models"' in section


def test_needs_attention_names_changed_models_and_burning_slos(client):
    data = seed_fleet(30, accounts=3, history=30)
    Slo.objects.create(
        name="Account 01 availability", account=data["accounts"][0], availability_target=99.9
    )
    html = get(client)
    section = html.split('data-testid="attention"')[1].split("</section>")[0]
    assert '<span class="pill status-down">Changed</span>' in section
    assert "m answers unlike its baseline" in section
    assert "SLOs burning" in section and "Account 01 availability" in section


# --- accounts -----------------------------------------------------------------------------------


def test_each_account_counts_its_models_by_state_with_availability_and_ttft(client):
    prod = make_account(display_name="Prod")
    other = make_account(display_name="Other")
    a = make_model(prod, model_id="a")
    b = make_model(prod, model_id="b")
    make_model(prod, model_id="never-checked")
    c = make_model(other, model_id="c")
    checks = []
    for hours, ttft in enumerate((100.0, 200.0, 300.0, 400.0)):
        checks.append(uptime_check(a, ago=timedelta(hours=3 * hours + 1), ttft_ms=ttft))
    checks.append(uptime_check(b, status="down", ago=timedelta(minutes=5)))
    checks.append(uptime_check(c, status="degraded", ago=timedelta(minutes=5), ttft_ms=900.0))
    checks.append(uptime_check(c, ago=timedelta(hours=30), ttft_ms=5.0))  # outside 24 h
    store_checks(checks)
    rows_ = {
        row["account"].display_name: row
        for row in fleet.account_summaries(now=NOW, accounts=[prod, other])
    }
    expected = sketch.empty()
    for value in (100.0, 200.0, 300.0, 400.0):
        sketch.add(expected, value)
    assert rows_["Prod"]["states"] == {"up": 1, "degraded": 0, "down": 1, "unknown": 1}
    assert rows_["Prod"]["availability"] == pytest.approx(4 / 5)
    assert rows_["Prod"]["checks"] == 5
    assert rows_["Prod"]["ttft_p50"] == pytest.approx(sketch.quantile(expected, 0.5))
    assert rows_["Prod"]["ttft_p95"] == pytest.approx(sketch.quantile(expected, 0.95))
    assert rows_["Other"]["states"] == {"up": 0, "degraded": 1, "down": 0, "unknown": 0}
    assert rows_["Other"]["availability"] == 1.0 and rows_["Other"]["checks"] == 1
    # its one check is of the hour in progress: counted, but TTFT waits for the hour to settle
    assert rows_["Other"]["ttft_p50"] is None
    later = fleet.account_summaries(now=NOW + timedelta(minutes=50), accounts=[other])[0]
    assert later["ttft_p50"] == pytest.approx(900, rel=0.01)
    # the second view reads the settled hours from the cache: the same figures
    again = {
        row["account"].display_name: row
        for row in fleet.account_summaries(now=NOW, accounts=[prod, other])
    }
    assert again == rows_
    html = get(client)
    assert "Accounts" in html and "80.0 %" in html


def test_accounts_with_problems_come_first_and_the_list_is_capped(client, monkeypatch):
    monkeypatch.setattr(fleet, "ACCOUNTS_SHOWN", 3)
    seed_fleet(40, accounts=8, history=0)
    html = get(client)
    section = html.split('id="accounts"')[1].split("</section>")[0]
    assert section.count('<th scope="row"') == 3
    assert "Show all 8 accounts" in section
    html = get(client, accounts="all")
    assert html.split('id="accounts"')[1].split("</section>")[0].count('<th scope="row"') == 8


def test_the_accounts_window_slides_with_the_hour_and_reads_the_live_hours_every_time(client):
    account = make_account(display_name="Prod")
    model = make_model(account, model_id="a")
    store_checks(
        [
            uptime_check(model, ago=timedelta(hours=23)),  # 03-09 13:30, the oldest hour
            uptime_check(model, ago=timedelta(hours=2)),  # settled: from the cache next time
        ]
    )

    def checks(now) -> int:
        return fleet.account_summaries(now=now, accounts=[account])[0]["checks"]

    assert checks(NOW) == 2
    store_checks([uptime_check(model, status="down", ago=timedelta(minutes=2))])  # this hour
    assert checks(NOW) == 3
    summary = fleet.account_summaries(now=NOW, accounts=[account])[0]
    assert summary["availability"] == pytest.approx(2 / 3)
    # An hour later the oldest hour has left the window; the hour that was live has settled.
    assert checks(NOW + timedelta(hours=1)) == 2


def test_the_live_refresh_keeps_every_account_listed_once_asked(client, monkeypatch):
    monkeypatch.setattr(fleet, "ACCOUNTS_SHOWN", 3)
    seed_fleet(40, accounts=8, history=0)
    html = get(client, accounts="all", state="down")
    live = unescape(re.search(r'id="dashboard-live"[^>]* hx-get="([^"]+)"', html).group(1))
    assert live == "/dashboard/live?state=down&accounts=all"
    assert get(client, live).count('<th scope="row"') == 8
    html = get(client)
    assert 'hx-get="/dashboard/live"' in html
