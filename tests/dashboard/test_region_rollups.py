"""Every page that reads rollups reads one figure per model and bucket when several regions
probed it: a bucket has a row per region, whose counts add up and whose summaries merge."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from dashboard import across, fleet, queries, status
from dashboard import services as dashboard_services
from monitoring.models import CheckRollup
from tests.factories import make_account, make_model, store_checks, uptime_check

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
HOUR = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)


def store_in(region: str, model, *statuses: str, ttft: float, latency: float) -> None:
    """Checks of ``model`` from ``region``, stored as that region's shard stores them, in the
    10:00 hour."""
    store_checks(
        [
            uptime_check(
                model,
                status=state,
                ago=timedelta(hours=2, minutes=20 - i),
                region=region,
                **({} if state == "down" else {"ttft_ms": ttft, "latency_ms": latency}),
            )
            for i, state in enumerate(statuses)
        ]
    )


@pytest.fixture
def model():
    """Three checks up from the home region, fast; three up and one down from "eu", slow."""
    model = make_model(make_account(display_name="Acme"), model_id="m-1")
    store_in("default", model, "up", "up", "up", ttft=100, latency=100)
    store_in("eu", model, "up", "up", "up", "down", ttft=900, latency=1000)
    hour_rows = CheckRollup.objects.filter(model=model, resolution="hour", bucket=HOUR)
    assert sorted(hour_rows.values_list("region", "n")) == [("default", 3), ("eu", 4)]
    return model


def test_a_chart_has_one_availability_point_per_bucket_counting_every_region(model):
    chart = queries.chart(metric="availability", range_key="24h", model_ids=[model.id])
    assert chart["series"][0]["points"] == [[HOUR.isoformat(), round(600 / 7, 2), None, 7]]
    assert chart["samples"] == 7


def test_a_chart_s_percentiles_come_from_the_regions_merged_summaries(model):
    chart = queries.chart(metric="ttft", range_key="24h", model_ids=[model.id])
    [(bucket, p50, p95, n)] = chart["series"][0]["points"]
    assert (bucket, n) == (HOUR.isoformat(), 6)
    # Three at 100 ms and three at 900 ms: neither region's median is the hour's.
    assert p50 == pytest.approx(500, rel=0.01)
    assert p95 == pytest.approx(900, rel=0.01)


def test_the_day_charts_merge_the_regions_day_rows_too(model):
    points = queries.chart(metric="latency", range_key="30d", model_ids=[model.id])["series"][0][
        "points"
    ]
    assert [(p[0], p[3]) for p in points] == [(HOUR.replace(hour=0).isoformat(), 6)]


def test_the_model_page_s_status_history_has_one_cell_per_hour_with_every_region(model):
    timeline = queries.model_detail(model=model)["timeline"]
    assert timeline == [(HOUR, 7, 6, 0, 1)]


def test_the_model_page_shows_the_regions_checks_in_one_hour_cell(client, user, model):
    client.force_login(user)
    html = client.get(f"/monitoring/models/{model.id}").content.decode()
    assert "10:00 — 7 checks, 1 down" in html


def test_the_dashboard_row_counts_every_region_and_merges_the_latency_median(model):
    [row] = fleet.page_rows(list(fleet.filtered_models(fleet.Filters())), NOW)
    assert (row["availability"], row["availability_n"]) == (6 / 7, 7)
    # One sparkline point for the hour: the median of 100, 100, 100, 1000, 1000, 1000 (the
    # home region's p50 is 100, eu's 1000: neither is the hour's).
    [(bucket, p50)] = row["sparkline"]
    assert bucket == HOUR.isoformat()
    assert p50 == pytest.approx(550, rel=0.02)


def test_a_public_status_page_s_day_bar_counts_every_region(model):
    page = dashboard_services.create_status_page(
        slug="ours", title="Ours", public=True, llm_models=[model], accounts=[]
    )
    [group] = status.page_data(page)["groups"]
    [row] = group["models"]
    assert row["availability"] == pytest.approx(6 / 7)
    assert "2026-03-10: 85.7 % of 7 checks, down" in row["bars"]


def test_the_readers_that_sum_or_merge_already_count_every_region(model):
    since = NOW - timedelta(hours=24)
    assert queries.availability_totals([model.id], since)[model.id] == (6 / 7, 7)
    [compared] = queries.comparison(range_key="24h", model_ids=[model.id])
    assert compared["n"] == 6
    assert compared["latency_p50"] == pytest.approx(550, rel=0.02)
    badge = status.badge_figures(model.id, "24h")
    assert (badge["n"], badge["availability"]) == (7, pytest.approx(6 / 7))
    assert badge["ttft_p50"] == pytest.approx(500, rel=0.01)
    [summary] = fleet.account_summaries(now=NOW, accounts=[model.provider_account])
    assert (summary["checks"], summary["availability"]) == (7, pytest.approx(6 / 7))
    assert summary["ttft_p95"] == pytest.approx(900, rel=0.01)


def test_across_providers_counts_every_region_of_each_provider(model):
    twin = make_model(make_account(display_name="Other"), model_id="m-1")
    store_in("default", twin, "up", ttft=50, latency=60)
    [group] = across.identities()
    figures = {m["model"].pk: m for m in group["members"]}
    assert figures[model.pk]["checks"] == 7
    assert figures[model.pk]["availability"] == pytest.approx(6 / 7)
    assert figures[model.pk]["ttft_p95"] == pytest.approx(900, rel=0.01)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan without statistics")
def test_a_page_s_rollups_are_looked_up_per_model_in_the_unique_index():
    models = [make_model(model_id=f"m-{i}") for i in range(3)]
    rows = queries.rollup_rows([m.id for m in models], "hour", NOW - timedelta(hours=24))
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(step[-1]) for step in cursor.fetchall())
    # Not the (resolution, bucket) index: that reads every model's rows of the range, per term.
    assert plan.count("(model_id=? AND resolution=? AND bucket>?)") == 3, plan
