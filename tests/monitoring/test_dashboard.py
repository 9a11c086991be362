"""The dashboard, its live partials, the chart JSON and the model page.

Time is frozen at NOW; checks are hand-made and turned into rollups by monitoring.rollups, so
every chart point below is written out by hand (percentiles of rollup ranges are read back from
the same quantile summary the rollups keep, within 1 % of the true sample value).
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arguslm.stats import percentile
from benchmarks.models import BenchmarkRun
from dashboard.queries import METRICS, RANGES
from dashboard.views import sparkline
from monitoring import sketch
from monitoring.models import MonitoringConfig, MonitoringRun
from providers.models import LLMModel, ProviderAccount
from tests.factories import (
    make_account,
    make_alert,
    make_benchmark_result,
    make_benchmark_run,
    make_model,
    store_checks,
    uptime_check,
)

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


def at(text: str) -> datetime:
    """ "12:28" → that time on NOW's day; "2026-02-20 08:00" → that moment (UTC)."""
    if len(text) == 5:
        hour, minute = map(int, text.split(":"))
        return NOW.replace(hour=hour, minute=minute)
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def check(model, when: str, status="up", latency=None, ttft=None, tps=None, error_type=None):
    """A row of this file's tables of checks: only what is given was measured."""
    return uptime_check(
        model,
        status=status,
        created_at=at(when),
        latency_ms=latency,
        ttft_ms=ttft,
        tps_excluding_ttft=tps,
        error_type=error_type,
        error=f"{error_type} happened" if error_type else None,
    )


@pytest.fixture
def data(frozen):
    """Two monitored models on two accounts, and one model that is not monitored."""
    fast = make_model(make_account(display_name="Acct 1"), model_id="fast")
    slow = make_model(make_account(display_name="Acct 2"), model_id="slow")
    idle = make_model(fast.provider_account, model_id="idle", enabled_for_monitoring=False)
    store_checks(
        [
            check(fast, "12:28", latency=400, ttft=100, tps=50),
            check(fast, "12:29", status="down", error_type="server_error"),
            check(fast, "12:10", latency=800, ttft=300, tps=30),
            check(fast, "09:40", status="degraded", error_type="rate_limited"),
            check(fast, "09:20", latency=500, ttft=120, tps=40),
            check(fast, "2026-03-07 15:00", latency=1000, ttft=200, tps=20),
            check(fast, "2026-02-20 08:00", latency=700, ttft=150, tps=25),
            check(fast, "2026-01-15 08:00", latency=900, ttft=250, tps=35),
            check(slow, "12:26", latency=2000, ttft=900, tps=10),
            check(idle, "11:00", latency=300, ttft=90, tps=60),
        ]
    )
    return {"fast": fast, "slow": slow, "idle": idle}


# --- access -------------------------------------------------------------------------------------


def test_every_page_and_endpoint_sends_an_anonymous_visitor_to_the_login_form(anon, data):
    urls = [
        reverse("dashboard"),
        reverse("dashboard-live"),
        reverse("dashboard-comparison"),
        reverse("dashboard-chart") + "?metric=latency&range=24h",
        reverse("model-detail", args=[data["fast"].id]),
    ]
    for url in urls:
        response = anon.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login?next="), url
    response = anon.post(reverse("dashboard-demo"))
    assert response.status_code == 302 and response["Location"].startswith("/login")
    assert not ProviderAccount.objects.filter(is_demo=True).exists()


def test_an_htmx_poll_after_the_session_ended_sends_the_whole_page_to_login(anon, data):
    response = anon.get(
        reverse("dashboard-live"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="/dashboard"
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login?next=%2Fdashboard"


# --- pages --------------------------------------------------------------------------------------


def test_the_dashboard_shows_status_cards_model_rows_trends_comparison_and_activity(client, data):
    MonitoringRun.objects.create(status="completed", up=1, degraded=0, down=1, finished_at=NOW)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    # status cards: 2 monitored, 1 up (slow), 1 down (fast: its latest check failed)
    assert "Monitored models" in html and "Health" in html and "Last pass" in html
    assert '<span class="status-up">1</span><span class="stat-of muted"> / 2 up</span>' in html
    # one row per monitored model, with its status class and a link to its page
    assert html.count('data-model-row="') == 2
    assert 'class="model-row state-down"' in html
    assert 'class="model-row state-up"' in html
    assert reverse("model-detail", args=[data["fast"].id]) in html
    assert 'data-model-row="idle"' not in html
    # fast over 24 h: 09:20 up, 09:40 degraded, 12:10 up, 12:28 up, 12:29 down → 4 of 5
    assert "80.0 %" in html and "5 checks" in html
    assert '<polyline class="spark-line"' in html
    assert "server_error" in html
    # trends: a range selector and one chart per metric, each with its definition
    for key in RANGES:
        assert f'data-range-option="{key}"' in html
    for key, info in METRICS.items():
        assert f'data-trend="{key}"' in html
        assert f'title="{info["definition"]}"' in html
    assert "Performance by model" in html and "Recent activity" in html
    assert "Monitoring pass completed: 1 up, 0 degraded, 1 down" in html
    assert "Use the local simulator" not in html


def test_the_live_partial_rerenders_the_models_and_swaps_activity_out_of_band(client, data):
    response = client.get(reverse("dashboard-live"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.count('data-model-row="') == 2
    assert '<div id="dashboard-models" hx-swap-oob="true">' in html
    assert 'id="dashboard-activity"' in html and 'hx-swap-oob="true"' in html


def test_the_same_model_on_two_accounts_is_compared_side_by_side(client, data):
    make_model(data["slow"].provider_account, model_id="fast")
    html = client.get(reverse("dashboard")).content.decode()
    assert "Same model across providers" in html
    assert "<h3><code>fast</code></h3>" in html


def test_the_comparison_follows_the_range(client, data):
    html = client.get(reverse("dashboard-comparison") + "?range=24h").content.decode()
    assert "last 24h (hourly rollups)" in html
    # fast over 24 h: latency 500, 800, 400 → p50 500 (as read back from the summary, ±1 %)
    summary = sketch.empty()
    for value in (500, 800, 400):
        sketch.add(summary, value)
    p50 = sketch.quantile(summary, 0.5)
    assert p50 == pytest.approx(500, rel=0.01)
    row = html.split(reverse("model-detail", args=[data["fast"].id]))[1].split("</tr>")[0]
    assert f"{p50:.0f} <small" in row
    html = client.get(reverse("dashboard-comparison") + "?range=5m").content.decode()
    assert "since 12:00" in html


def test_a_stale_monitoring_schedule_is_flagged(client, data):
    config = MonitoringConfig.get()
    config.last_run_at = NOW - timedelta(minutes=40)
    config.save()
    html = client.get(reverse("dashboard")).content.decode()
    assert "Stale:" in html and "last pass 40 min ago, expected every 5 min" in html


def test_the_model_page_shows_figures_history_errors_and_benchmarks(client, data):
    fast = data["fast"]
    run = make_benchmark_run(fast, name="Nightly")
    make_benchmark_result(fast, run=run, ttft_ms=111, latency_ms=555)
    response = client.get(reverse("model-detail", args=[fast.id]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>fast" in html and 'class="pill status-down"' in html
    # availability 24 h: 4 of 5; 7 d adds the 03-07 check: 5 of 6
    assert "80.0<small> %</small>" in html and "83.3 %" in html
    # the status history: hourly cells, coloured by their worst check
    cell = 'class="tl-cell st-{}" role="cell" title="{}"'
    assert cell.format("down", "Tue 10 Mar 12:00 — 3 checks, 1 down") in html
    assert cell.format("degraded", "Tue 10 Mar 09:00 — 2 checks, 0 down, 1 degraded") in html
    assert cell.format("up", "Sat 07 Mar 15:00 — 1 check, 0 down") in html
    assert html.count("tl-cell st-") == 7 * 24
    # errors by type and the latest errors
    assert "server_error" in html and "rate_limited" in html and "server_error happened" in html
    assert reverse("benchmark-detail", args=[run.id]) in html and "Nightly" in html
    assert 'data-model="' + str(fast.id) + '"' in html


def test_an_unknown_model_page_is_a_404(client, data):
    response = client.get("/monitoring/models/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404


# --- first run ----------------------------------------------------------------------------------


def test_with_no_provider_the_dashboard_offers_a_guided_start(client):
    html = client.get(reverse("dashboard")).content.decode()
    assert "Add a provider" in html and reverse("providers") in html
    assert "Use the local simulator" in html and reverse("dashboard-demo") in html
    assert "make run" in html
    assert "data-trends" not in html


def test_using_the_local_simulator_creates_the_demo_account_once(client, monkeypatch, settings):
    settings.LLMSIM_URL = "http://127.0.0.1:8100"
    passes = []
    monkeypatch.setattr("monitoring.services.request_pass", lambda **kw: passes.append(kw))
    response = client.post(reverse("dashboard-demo"), follow=True)
    assert response.redirect_chain == [(reverse("dashboard"), 302)]
    account = ProviderAccount.objects.get(is_demo=True)
    assert account.credentials["base_url"] == "http://127.0.0.1:8100/v1"
    assert account.models.filter(enabled_for_monitoring=True).count() == 5
    assert len(passes) == 1
    html = response.content.decode()
    assert "Added “Local simulator” with 5 monitored models" in html
    assert html.count('data-model-row="') == 5
    client.post(reverse("dashboard-demo"))
    assert ProviderAccount.objects.filter(is_demo=True).count() == 1
    assert len(passes) == 1


def test_an_account_without_monitored_models_asks_to_choose_models(client):
    make_model(model_id="m", enabled_for_monitoring=False)
    html = client.get(reverse("dashboard")).content.decode()
    assert "No model is monitored yet" in html and "Use the local simulator" not in html


# --- chart JSON ---------------------------------------------------------------------------------


def summary_points(buckets: list) -> list:
    """[(bucket, [values])] → the rollup points [iso, p50, p95, n] read from a summary."""
    points = []
    for bucket, values in buckets:
        summary = sketch.empty()
        for value in values:
            sketch.add(summary, value)
        p50, p95 = sketch.quantile(summary, 0.5), sketch.quantile(summary, 0.95)
        # the summary reads back within 1 % of the exact, interpolated percentile
        assert p50 == pytest.approx(percentile(values, 50), rel=0.01)
        points.append([at(bucket).isoformat(), round(p50, 2), round(p95, 2), len(values)])
    return points


def raw_points(rows: list) -> list:
    return [[at(when).isoformat(), float(value), None, 1] for when, value in rows]


def availability_points(rows: list) -> list:
    return [[at(when).isoformat(), value, None, n] for when, value, n in rows]


DAY_10, DAY_07 = "2026-03-10 00:00", "2026-03-07 00:00"
# per metric: the fast model's raw values (5m / 1h) and bucketed values (24h … 90d)
VALUES = {
    "latency": {
        "5m": [("12:28", 400)],
        "1h": [("12:10", 800), ("12:28", 400)],
        "24h": [("09:00", [500]), ("12:00", [800, 400])],
        "7d": [("2026-03-07 15:00", [1000]), ("09:00", [500]), ("12:00", [800, 400])],
        "30d": [("2026-02-20 00:00", [700]), (DAY_07, [1000]), (DAY_10, [500, 800, 400])],
        "90d": [
            ("2026-01-15 00:00", [900]),
            ("2026-02-20 00:00", [700]),
            (DAY_07, [1000]),
            (DAY_10, [500, 800, 400]),
        ],
    },
    "ttft": {
        "5m": [("12:28", 100)],
        "1h": [("12:10", 300), ("12:28", 100)],
        "24h": [("09:00", [120]), ("12:00", [300, 100])],
        "7d": [("2026-03-07 15:00", [200]), ("09:00", [120]), ("12:00", [300, 100])],
        "30d": [("2026-02-20 00:00", [150]), (DAY_07, [200]), (DAY_10, [120, 300, 100])],
        "90d": [
            ("2026-01-15 00:00", [250]),
            ("2026-02-20 00:00", [150]),
            (DAY_07, [200]),
            (DAY_10, [120, 300, 100]),
        ],
    },
    "tps": {
        "5m": [("12:28", 50)],
        "1h": [("12:10", 30), ("12:28", 50)],
        "24h": [("09:00", [40]), ("12:00", [30, 50])],
        "7d": [("2026-03-07 15:00", [20]), ("09:00", [40]), ("12:00", [30, 50])],
        "30d": [("2026-02-20 00:00", [25]), (DAY_07, [20]), (DAY_10, [40, 30, 50])],
        "90d": [
            ("2026-01-15 00:00", [35]),
            ("2026-02-20 00:00", [25]),
            (DAY_07, [20]),
            (DAY_10, [40, 30, 50]),
        ],
    },
}
SLOW_VALUES = {"latency": 2000, "ttft": 900, "tps": 10}
# availability: (bucket, % of up + degraded, checks)
AVAILABILITY = {
    "5m": [("12:28", 100.0, 1), ("12:29", 0.0, 1)],  # 1-minute buckets
    "1h": [("12:10", 100.0, 1), ("12:25", 50.0, 2)],  # 5-minute buckets
    "24h": [("09:00", 100.0, 2), ("12:00", 66.67, 3)],
    "7d": [("2026-03-07 15:00", 100.0, 1), ("09:00", 100.0, 2), ("12:00", 66.67, 3)],
    "30d": [("2026-02-20 00:00", 100.0, 1), (DAY_07, 100.0, 1), (DAY_10, 80.0, 5)],
    "90d": [
        ("2026-01-15 00:00", 100.0, 1),
        ("2026-02-20 00:00", 100.0, 1),
        (DAY_07, 100.0, 1),
        (DAY_10, 80.0, 5),
    ],
}
SLOW_AVAILABILITY = {
    "5m": [("12:26", 100.0, 1)],
    "1h": [("12:25", 100.0, 1)],
    "24h": [("12:00", 100.0, 1)],
    "7d": [("12:00", 100.0, 1)],
    "30d": [(DAY_10, 100.0, 1)],
    "90d": [(DAY_10, 100.0, 1)],
}


@pytest.mark.parametrize("range_key", list(RANGES))
@pytest.mark.parametrize("metric", list(METRICS))
def test_the_chart_endpoint_returns_each_models_series(client, data, metric, range_key):
    response = client.get(reverse("dashboard-chart"), {"metric": metric, "range": range_key})
    assert response.status_code == 200
    body = response.json()
    span, source, step = RANGES[range_key]
    raw = source == "raw"
    if metric == "availability":
        fast = availability_points(AVAILABILITY[range_key])
        slow = availability_points(SLOW_AVAILABILITY[range_key])
    elif raw:
        fast = raw_points(VALUES[metric][range_key])
        slow = raw_points([("12:26", SLOW_VALUES[metric])])
    else:
        fast = summary_points(VALUES[metric][range_key])
        bucket = "12:00" if source == "hour" else DAY_10
        slow = summary_points([(bucket, [SLOW_VALUES[metric]])])
    assert body == {
        "metric": metric,
        "range": range_key,
        "since": (NOW - span).isoformat(),
        "until": NOW.isoformat(),
        "unit": METRICS[metric]["unit"],
        "label": METRICS[metric]["label"],
        "definition": METRICS[metric]["definition"],
        "step_seconds": int(step.total_seconds()),
        "source": "raw checks" if raw else {"hour": "hourly", "day": "daily"}[source] + " rollups",
        "samples": sum(p[3] for p in fast + slow),
        "series": [
            {"model_id": str(data["fast"].id), "name": "fast · Acct 1", "points": fast},
            {"model_id": str(data["slow"].id), "name": "slow · Acct 2", "points": slow},
        ],
    }


def test_the_chart_endpoint_filters_to_the_requested_models(client, data):
    idle = data["idle"]  # not monitored, but its page still charts its history
    body = client.get(
        reverse("dashboard-chart"), {"metric": "latency", "range": "24h", "model": str(idle.id)}
    ).json()
    assert [s["model_id"] for s in body["series"]] == [str(idle.id)]
    assert body["series"][0]["points"] == summary_points([("11:00", [300])])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"metric": "speed", "range": "24h"}, "Unknown metric 'speed'"),
        ({"range": "24h"}, "Unknown metric ''"),
        ({"metric": "latency", "range": "2d"}, "Unknown range '2d'"),
        ({"metric": "latency", "range": "24h", "model": "nope"}, "model's UUID"),
    ],
)
def test_the_chart_endpoint_rejects_bad_parameters_with_a_message(client, query, message):
    response = client.get(reverse("dashboard-chart"), query)
    assert response.status_code == 400
    assert message in response.json()["detail"]


# --- a constant number of queries ---------------------------------------------------------------


def populate(count: int) -> list[LLMModel]:
    """``count`` monitored models on two accounts, each with a day of hourly checks."""
    accounts = [make_account(display_name=f"Acct {i}") for i in range(2)]
    models = [
        make_model(accounts[i % 2], model_id=f"model-{i // 2}") for i in range(count)
    ]  # the same model ids on both accounts: "across providers" groups fill too
    checks = [
        check(
            model,
            (NOW - timedelta(hours=h, minutes=5)).strftime("%Y-%m-%d %H:%M"),
            status="down" if h == 3 else "up",
            latency=300 + h,
            ttft=100,
            tps=40,
            error_type="server_error" if h == 3 else None,
        )
        for model in models
        for h in range(24)
    ]
    store_checks(checks)
    make_benchmark_result(models[0], ttft_ms=1, latency_ms=2)
    make_alert(model=models[0], message="model-0 is down")
    MonitoringRun.objects.create(status="completed", up=count, finished_at=NOW)
    MonitoringConfig.get()
    return models


def count_queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


URLS = [
    ("dashboard", {}),
    ("dashboard-live", {"HTTP_HX_REQUEST": "true"}),
    ("dashboard-comparison", {"HTTP_HX_REQUEST": "true"}),
]


def test_the_dashboard_and_its_partials_use_as_many_queries_for_20_models_as_for_2(client):
    few = populate(2)
    counts_few = [count_queries(client, reverse(name), **headers) for name, headers in URLS]
    detail_few = count_queries(client, reverse("model-detail", args=[few[0].id]))
    BenchmarkRun.objects.all().delete()  # benchmark history protects its models
    LLMModel.objects.all().delete()
    many = populate(20)
    counts_many = [count_queries(client, reverse(name), **headers) for name, headers in URLS]
    detail_many = count_queries(client, reverse("model-detail", args=[many[0].id]))
    assert counts_few == counts_many
    assert detail_few == detail_many
    html = client.get(reverse("dashboard")).content.decode()
    assert html.count('data-model-row="') == 20


@pytest.mark.parametrize("range_key", ["1h", "24h", "30d"])
def test_the_chart_endpoint_uses_as_many_queries_for_20_models_as_for_2(client, range_key):
    url = reverse("dashboard-chart") + f"?range={range_key}&metric="
    populate(2)
    few = [count_queries(client, url + metric) for metric in METRICS]
    BenchmarkRun.objects.all().delete()  # benchmark history protects its models
    LLMModel.objects.all().delete()
    populate(20)
    many = [count_queries(client, url + metric) for metric in METRICS]
    assert few == many
    body = client.get(url + "latency").json()
    assert len(body["series"]) == 20 and all(s["points"] for s in body["series"])


# --- the sparkline ------------------------------------------------------------------------------


def test_the_sparkline_spans_24_hours_and_breaks_where_an_hour_is_missing():
    since = NOW - timedelta(hours=24)
    points = [
        ((since + timedelta(hours=h)).replace(minute=0).isoformat(), 100.0 + h)
        for h in (1, 2, 3, 10, 11)
    ]
    points.insert(3, ((since + timedelta(hours=5)).replace(minute=0).isoformat(), None))
    spark = sparkline(points, since=since, until=NOW)
    assert len(spark["lines"]) == 2  # 1–3 h, then 10–11 h
    assert (spark["low"], spark["high"], spark["last"]) == (101.0, 111.0, 111.0)
    first_x = float(spark["lines"][0].split(",")[0])
    assert 0 < first_x < 10  # an hour's point sits at its middle: (30 + 60) min of 24 h
    assert sparkline([(NOW.isoformat(), None)], since=since, until=NOW) is None
