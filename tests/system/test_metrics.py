"""/metrics: access, the Prometheus text format, exact figures, escaping, constant queries."""

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.models import OrmQ
from prometheus_client.parser import text_string_to_metric_families

from arguslm.models import Heartbeat
from monitoring import rollups, sketch
from monitoring.models import MonitoringConfig, Region, UptimeCheck
from providers import tags
from providers.models import LLMModel
from tests.factories import (
    make_account,
    make_benchmark_run,
    make_model,
    make_monitoring_run,
    store_checks,
    uptime_check,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"
FAST = {"provider": "custom_openai_compatible", "account": "Acct 1", "model": "fast"}
SLOW = {"provider": "openai", "account": "Acct 2", "model": "slow"}
FRESH = {"provider": "openai", "account": "Acct 2", "model": "fresh"}


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    return NOW


def check(model, minutes_ago: float, status="up", ttft=None, latency=None, tps=None, error=None):
    """A row of this file's tables of checks: only what is given was measured."""
    return uptime_check(
        model,
        status=status,
        ago=timedelta(minutes=minutes_ago),
        ttft_ms=ttft,
        latency_ms=latency,
        tps_excluding_ttft=tps,
        error_type=error,
    )


def scrape(client) -> dict:
    """{(sample name, frozenset of labels): value} of a successful scrape."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def value(samples: dict, name: str, **labels):
    return samples.get((name, frozenset(labels.items())))


def names(samples: dict) -> set[str]:
    return {name for name, _ in samples}


def models_labelled(samples: dict, name: str) -> set[str]:
    return {dict(labels)["model"] for n, labels in samples if n == name}


@pytest.fixture
def data():
    """Three monitored models (checked up, checked down, never checked), one unmonitored."""
    fast = make_model(make_account(display_name="Acct 1"), model_id="fast")
    acct2 = make_account(display_name="Acct 2", provider_type="openai")
    slow = make_model(acct2, model_id="slow")
    make_model(acct2, model_id="fresh")
    idle = make_model(acct2, model_id="idle", enabled_for_monitoring=False)
    store_checks(
        [
            check(fast, 2, ttft=100, latency=400, tps=50),  # latest
            check(fast, 20, ttft=300, latency=800, tps=30),
            check(fast, 50, status="degraded", error="rate_limited"),
            check(fast, 100, ttft=1000, latency=3000, tps=5),  # 10:50: before the 1h window
            check(fast, 23.5 * 60, status="down", error="server_error"),  # in the 24 h
            check(fast, 3 * 24 * 60, status="down", error="timeout"),  # only in the total
            check(slow, 5, status="down", latency=30000, error="timeout"),
            check(idle, 5, ttft=90, latency=300, tps=60),
        ]
    )
    MonitoringConfig.objects.create(interval_minutes=10, enabled=False)
    make_monitoring_run(
        ago=timedelta(hours=1),
        status="completed",
        started_at=NOW - timedelta(hours=1),
        finished_at=NOW - timedelta(minutes=59),
        up=9,
        down=0,
    )
    make_monitoring_run(
        ago=timedelta(minutes=3),
        status="completed",
        started_at=NOW - timedelta(minutes=3),
        finished_at=NOW - timedelta(seconds=150),
        total=3,
        up=1,
        degraded=1,
        down=1,
    )
    make_monitoring_run(status="running")  # not completed: ignored
    Heartbeat.objects.create(name="qcluster", seen_at=NOW - timedelta(seconds=42))
    Heartbeat.objects.create(name="something-else", seen_at=NOW - timedelta(days=1))
    for status in ("running", "running", "completed", "pending"):
        make_benchmark_run(name=status, status=status)
    for lock in (NOW - timedelta(seconds=5), NOW):
        OrmQ.objects.create(key="arguslm", payload="waiting", lock=lock)
    OrmQ.objects.create(key="arguslm", payload="held by a worker", lock=NOW + timedelta(hours=1))
    OrmQ.objects.create(key="other-cluster", payload="not ours", lock=NOW)
    return {"fast": fast, "slow": slow}


# --- access -------------------------------------------------------------------------------------


def test_an_anonymous_scrape_is_refused_with_a_json_401(anon):
    response = anon.get("/metrics")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_token_is_refused(anon):
    response = anon.get("/metrics", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or expired API token."}


def test_a_bearer_token_gets_the_prometheus_text_format(api):
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE arguslm_queue_depth gauge" in response.content.decode()


@pytest.mark.parametrize("scheme", ["Token", "Basic"])
def test_token_and_basic_with_a_token_are_accepted_too(anon, token, scheme):
    credentials = token if scheme == "Token" else base64.b64encode(f"x:{token}".encode()).decode()
    response = anon.get("/metrics", HTTP_AUTHORIZATION=f"{scheme} {credentials}")
    assert response.status_code == 200


def test_the_token_of_an_inactive_user_is_refused(anon, user, token):
    user.is_active = False
    user.save()
    response = anon.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_public_mode_serves_anonymous_scrapers(anon, settings):
    settings.METRICS_PUBLIC = True
    response = anon.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")


def test_only_get_is_allowed(api):
    assert api.post("/metrics").status_code == 405


# --- figures ------------------------------------------------------------------------------------


def test_the_latest_check_of_each_monitored_model_is_exported_in_seconds(api, data):
    samples = scrape(api)
    assert value(samples, "arguslm_model_up", **FAST) == 1.0
    assert value(samples, "arguslm_model_up", **SLOW) == 0.0
    assert (
        value(samples, "arguslm_model_last_check_timestamp_seconds", **FAST)
        == (NOW - timedelta(minutes=2)).timestamp()
    )
    assert value(samples, "arguslm_model_ttft_seconds", **FAST) == 0.1
    assert value(samples, "arguslm_model_latency_seconds", **FAST) == 0.4
    assert value(samples, "arguslm_model_output_tokens_per_second", **FAST) == 50
    # A failed latest check measured nothing; a model never checked has no status yet.
    assert models_labelled(samples, "arguslm_model_up") == {"fast", "slow"}
    assert models_labelled(samples, "arguslm_model_latency_seconds") == {"fast"}


def test_degraded_is_a_half(api, data):
    store_checks([check(data["fast"], 1, status="degraded", ttft=5000, latency=9000, tps=1)])
    samples = scrape(api)
    assert value(samples, "arguslm_model_up", **FAST) == 0.5
    assert value(samples, "arguslm_model_ttft_seconds", **FAST) == 5.0


def test_quantiles_merge_the_current_and_the_previous_hour_of_successful_checks(api, data):
    samples = scrape(api)
    # fast: 12:28 and 12:10 are in; 11:40 was rate limited; 10:50 is before the window.
    in_window = {
        "arguslm_model_ttft_window_seconds": ([100, 300], 1e-3),
        "arguslm_model_latency_window_seconds": ([400, 800], 1e-3),
        "arguslm_model_output_tokens_per_second_window": ([50, 30], 1),
    }
    for name, (values, scale) in in_window.items():
        summary = sketch.empty()
        for v in values:
            sketch.add(summary, v)
        for q in ("0.5", "0.95", "0.99"):
            got = value(samples, name, **FAST, quantile=q, window="1h")
            assert got == pytest.approx(sketch.quantile(summary, float(q)) * scale), (name, q)
    assert value(
        samples, "arguslm_model_latency_window_seconds", **FAST, quantile="0.99", window="1h"
    ) == pytest.approx(0.8, rel=0.01)
    assert models_labelled(samples, "arguslm_model_ttft_window_seconds") == {"fast"}


def test_availability_and_check_counts_come_from_the_rollups(api, data):
    samples = scrape(api)
    # 24 h: up 12:28, 12:10, 10:50, degraded 11:40, down yesterday 13:00.
    assert value(samples, "arguslm_model_availability_ratio", **FAST, window="24h") == 0.8
    assert value(samples, "arguslm_model_availability_ratio", **SLOW, window="24h") == 0.0
    assert models_labelled(samples, "arguslm_model_availability_ratio") == {"fast", "slow"}
    counts = {
        status: value(samples, "arguslm_model_checks_total", **FAST, status=status)
        for status in ("up", "degraded", "down")
    }
    assert counts == {"up": 3, "degraded": 1, "down": 2}
    # A model never checked starts its counters at zero.
    assert value(samples, "arguslm_model_checks_total", **FRESH, status="up") == 0


def test_an_unmonitored_model_has_no_series(api, data):
    samples = scrape(api)
    assert not any(dict(labels).get("model") == "idle" for _, labels in samples)


def test_worker_health_comes_from_the_last_completed_pass_heartbeat_and_queue(api, data):
    samples = scrape(api)
    assert value(samples, "arguslm_monitoring_last_pass_duration_seconds") == 30
    assert (
        value(samples, "arguslm_monitoring_last_pass_timestamp_seconds")
        == (NOW - timedelta(seconds=150)).timestamp()
    )
    assert value(samples, "arguslm_monitoring_last_pass_age_seconds") == 150
    assert {
        status: value(samples, "arguslm_monitoring_pass_models", status=status)
        for status in ("up", "degraded", "down")
    } == {"up": 1, "degraded": 1, "down": 1}
    assert value(samples, "arguslm_worker_heartbeat_age_seconds") == 42
    assert value(samples, "arguslm_benchmarks_running") == 2
    if not settings.REDIS_URL:
        assert value(samples, "arguslm_queue_depth") == 2  # waiting, not held, this cluster
    assert value(samples, "arguslm_monitoring_enabled") == 0
    assert value(samples, "arguslm_monitoring_interval_seconds") == 600


def test_queue_depth_counts_the_tasks_waiting_in_the_redis_broker(api, data):
    """With Redis as broker the ORM rows are not the queue: the broker's list is."""
    if not settings.REDIS_URL:
        pytest.skip("the broker is the database here (the test above covers it)")
    from django_q.brokers import get_broker

    broker = get_broker()
    broker.purge_queue()
    try:
        for n in range(3):
            broker.enqueue(f"waiting task {n}")
        assert value(scrape(api), "arguslm_queue_depth") == 3
    finally:
        broker.purge_queue()


def test_an_empty_install_exports_no_pass_and_no_heartbeat_figures(api):
    samples = scrape(api)
    assert names(samples) == {
        "arguslm_monitoring_enabled",
        "arguslm_monitoring_interval_seconds",
        "arguslm_benchmarks_running",
        "arguslm_queue_depth",
        "arguslm_region_live",  # the home region, no worker seen yet
    }
    assert value(samples, "arguslm_monitoring_interval_seconds") == 300
    assert value(samples, "arguslm_region_live", region="default") == 0
    assert not MonitoringConfig.objects.exists()  # a scrape never writes


# --- labels -------------------------------------------------------------------------------------


def test_odd_model_ids_and_account_names_are_escaped_and_round_trip(api):
    odd = 'say "hi"\\ to\nモデル ✓'
    account = make_account(display_name='Team "α"\\', provider_type="custom")
    store_checks([check(make_model(account, model_id=odd), 1, ttft=100, latency=200, tps=10)])
    response = api.get("/metrics")
    text = response.content.decode()
    assert 'model="say \\"hi\\"\\\\ to\\nモデル ✓"' in text
    assert 'account="Team \\"α\\"\\\\"' in text
    samples = scrape(api)
    labels = {"provider": "custom", "account": 'Team "α"\\', "model": odd}
    assert value(samples, "arguslm_model_up", **labels) == 1.0
    assert value(samples, "arguslm_model_region_up", **labels, region="default") == 1.0


def test_accounts_sharing_a_name_get_distinct_series(api):
    first = make_account(display_name="Prod")
    second = make_account(display_name="Prod")
    store_checks(
        [check(make_model(first, model_id="m"), 1), check(make_model(second, model_id="m"), 1)]
    )
    samples = scrape(api)
    accounts = {dict(labels)["account"] for n, labels in samples if n == "arguslm_model_up"}
    assert accounts == {f"Prod ({str(first.id)[:8]})", f"Prod ({str(second.id)[:8]})"}


# --- regions ------------------------------------------------------------------------------------

REGIONS = ["default", "eu-west", "us-east"]


def store_from(region: str, model, status="up", **measured) -> None:
    """One check of ``model`` from ``region``, stored as that region's shard of a pass probing
    from REGIONS stores it (its region's status, then the regions' agreement)."""
    checks = [
        uptime_check(model, status=status, ago=timedelta(minutes=1), region=region, **measured)
    ]
    UptimeCheck.objects.bulk_create(checks)
    rollups.record(checks, regions=REGIONS)


def test_each_regions_latest_check_is_a_series_beside_the_agreed_status(api):
    fast = make_model(make_account(display_name="Acct 1"), model_id="fast")
    store_from("default", fast, ttft_ms=100, latency_ms=400)
    store_from("eu-west", fast, "down", error_type="timeout")
    store_from("us-east", fast, ttft_ms=2500, latency_ms=9000)
    samples = scrape(api)
    # The model's own series stay the regions' agreement: one down of three is not down.
    assert value(samples, "arguslm_model_up", **FAST) == 1.0
    ups = {r: value(samples, "arguslm_model_region_up", **FAST, region=r) for r in REGIONS}
    assert ups == {"default": 1.0, "eu-west": 0.0, "us-east": 1.0}
    ttfts = {
        r: value(samples, "arguslm_model_region_ttft_seconds", **FAST, region=r) for r in REGIONS
    }
    assert ttfts == {"default": 0.1, "eu-west": None, "us-east": 2.5}  # a failed check: absent
    assert value(samples, "arguslm_model_region_latency_seconds", **FAST, region="us-east") == 9.0
    assert (
        value(
            samples, "arguslm_model_region_last_check_timestamp_seconds", **FAST, region="eu-west"
        )
        == (NOW - timedelta(minutes=1)).timestamp()
    )


def test_a_region_no_longer_probing_a_model_has_no_series_for_it(api):
    fast = make_model(make_account(display_name="Acct 1"), model_id="fast")
    for region in REGIONS:
        store_from(region, fast)
    fast.provider_account.probe_regions = ["default", "eu-west"]
    fast.provider_account.save()
    regions_of = lambda: {  # noqa: E731
        dict(labels)["region"] for n, labels in scrape(api) if n == "arguslm_model_region_up"
    }
    assert regions_of() == {"default", "eu-west"}  # the account's regions
    fast.probe_regions = ["us-east"]
    fast.save()
    assert regions_of() == {"us-east"}  # the model's own list replaces its account's
    fast.enabled_for_monitoring = False
    fast.save()
    assert regions_of() == set()


def test_each_region_says_whether_a_worker_of_it_is_live(api, settings):
    settings.ARGUSLM_HOME_REGION = "eu-west"
    Region.objects.create(
        name="eu-west", last_seen_at=NOW - timedelta(seconds=3), last_worker="a:1"
    )
    Region.objects.create(name="us-east", last_seen_at=NOW - timedelta(minutes=10))
    samples = scrape(api)
    assert value(samples, "arguslm_region_live", region="eu-west") == 1
    assert value(samples, "arguslm_region_live", region="us-east") == 0
    assert value(samples, "arguslm_region_last_seen_age_seconds", region="us-east") == 600
    assert (
        value(samples, "arguslm_region_last_seen_timestamp_seconds", region="eu-west")
        == (NOW - timedelta(seconds=3)).timestamp()
    )
    assert value(samples, "arguslm_region_live", region="default") is None  # not a region here


# --- tags ---------------------------------------------------------------------------------------


def tag_series(samples: dict) -> dict[str, dict]:
    """{model: labels} of the arguslm_model_tags series (each valued 1)."""
    found = {}
    for (name, labels), sample_value in samples.items():
        if name == "arguslm_model_tags":
            assert sample_value == 1.0
            found[dict(labels)["model"]] = dict(labels)
    return found


def test_tags_are_an_info_series_with_the_models_own_over_its_accounts(api, data):
    acct2 = data["slow"].provider_account
    tags.set_tags(acct2, ["env:prod", "team:infra", "critical", "cost-centre.id:42"])
    tags.set_tags(data["slow"], ["env:staging", "region:us", "region:eu", "9lives"])
    series = tag_series(scrape(api))
    assert set(series) == {"fast", "slow", "fresh"}  # every monitored model, tagged or not
    assert series["fast"] == {
        "model_id": str(data["fast"].pk),
        "provider": "custom_openai_compatible",
        "account": "Acct 1",
        "model": "fast",
    }
    assert series["slow"] == {
        "model_id": str(data["slow"].pk),
        **SLOW,
        "tag_env": "staging",  # its own, over the account's env:prod
        "tag_region": "eu,us",  # one key tagged twice: both values
        "tag_9lives": "true",  # a plain tag; the prefix makes a leading digit a valid name
        "tag_team": "infra",
        "tag_critical": "true",
        "tag_cost_centre_id": "42",  # . and - become _
    }
    assert series["fresh"] == {
        "model_id": str(data["slow"].provider_account.models.get(model_id="fresh").pk),
        **FRESH,
        "tag_env": "prod",
        "tag_team": "infra",
        "tag_critical": "true",
        "tag_cost_centre_id": "42",
    }


def test_the_tags_series_escapes_its_model_and_account_labels(api):
    odd = 'say "hi"\\ to\nモデル'
    account = make_account(display_name='Team "α"\\', provider_type="custom")
    tags.set_tags(account, ["env:prod"])
    make_model(account, model_id=odd)
    text = api.get("/metrics").content.decode()
    line = next(x for x in text.splitlines() if x.startswith("arguslm_model_tags{"))
    assert 'account="Team \\"α\\"\\\\"' in line and 'model="say \\"hi\\"\\\\ to\\nモデル"' in line
    assert 'tag_env="prod"' in line and line.endswith(" 1.0")
    assert "# TYPE arguslm_model_tags gauge" in text
    (labels,) = tag_series(scrape(api)).values()
    assert labels["account"] == 'Team "α"\\' and labels["model"] == odd


def test_an_unmonitored_model_and_a_disabled_account_have_no_tags_series(api, data):
    idle = LLMModel.objects.get(model_id="idle")
    tags.set_tags(idle, ["env:prod"])
    off = make_account(display_name="Off", enabled=False)
    tags.set_tags(make_model(off, model_id="off"), ["env:prod"])
    assert {"idle", "off"}.isdisjoint(tag_series(scrape(api)))


# --- cost ---------------------------------------------------------------------------------------


def make_fleet(size: int) -> None:
    account = make_account(display_name=f"Fleet {size}")
    tags.set_tags(account, ["env:prod"])
    checks = []
    for i in range(size):
        model = make_model(account, model_id=f"m{i}")
        tags.set_tags(model, [f"team:t{i}", "critical"])
        checks += [check(model, 1, ttft=100, latency=200, tps=10), check(model, 26 * 60)]
    store_checks(checks)


def queries_for_a_scrape(api) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/metrics").status_code == 200
    return len(queries)


def test_a_scrape_costs_the_same_queries_for_2_and_20_models(api, data):
    make_fleet(2)
    queries_for_a_scrape(api)  # records the token's first use (at most once a minute)
    small = queries_for_a_scrape(api)
    make_fleet(20)
    assert queries_for_a_scrape(api) == small
    # One of them lists the SLOs (each SLO adds three); two read the models' and accounts' tags,
    # two the regions' statuses and heartbeats.
    assert small <= 15


# --- the sample Grafana dashboard ---------------------------------------------------------------


def panels(items: list[dict]):
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def test_the_grafana_dashboard_uses_only_metrics_the_endpoint_emits(api, data):
    dashboard = json.loads(DASHBOARD.read_text())
    emitted = names(scrape(api))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    charted = 0
    for panel in panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\barguslm_[a-z0-9_]+", target["expr"]))
            assert used, (panel["title"], target["expr"])
            assert used <= emitted, (panel["title"], used - emitted)
            charted += 1
    assert charted >= 8
    for variable in variables.values():
        if variable["type"] == "query":
            assert set(re.findall(r"\barguslm_[a-z0-9_]+", variable["query"]["query"])) <= emitted
