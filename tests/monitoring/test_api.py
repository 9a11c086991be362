"""The monitoring API: config, schedule reconciliation, runs, uptime history, exports."""

import csv
import io
import json
import warnings
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_q.models import Schedule
from rest_framework.test import APIClient

from arguslm import roles, tokens
from monitoring import exports
from monitoring.models import MonitoringConfig, MonitoringRun, Region
from tests.factories import (
    make_account,
    make_model,
    make_monitoring_run,
    store_checks,
    uptime_check,
)

pytestmark = pytest.mark.django_db
BASE = "/api/v1/monitoring"


def test_every_endpoint_needs_authentication(anon):
    for path in ("config", "uptime", "uptime/export", "prompt-packs", "runs"):
        assert anon.get(f"{BASE}/{path}").status_code == 401
    assert anon.post(f"{BASE}/run").status_code == 401
    assert anon.get("/api/v1/regions").status_code == 401


def test_the_config_is_created_with_defaults(api):
    data = api.get(f"{BASE}/config").json()
    assert data["interval_minutes"] == 5 and data["prompt_pack"] == "health_check"
    assert data["enabled"] is True and data["last_run_at"] is None
    assert data["degraded_ttft_ms"] is None and data["retention_days"] == 30
    assert data["down_quorum"] is None  # a majority of the regions


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"interval_minutes": 0}, "interval_minutes"),
        ({"interval_minutes": -5}, "interval_minutes"),
        ({"interval_minutes": "often"}, "interval_minutes"),
        ({"prompt_pack": "nope"}, "prompt_pack"),
        ({"prompt_pack": "long_32k"}, "prompt_pack"),
        ({"prompt_pack": "multi_turn"}, "prompt_pack"),
        ({"enabled": "maybe"}, "enabled"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"timeout_seconds": 10_000}, "timeout_seconds"),
        ({"degraded_ttft_ms": -1}, "degraded_ttft_ms"),
        ({"down_quorum": 0}, "down_quorum"),
        ({"down_quorum": 65}, "down_quorum"),
        ({"down_quorum": 1.5}, "down_quorum"),
        ({"down_quorum": "two"}, "down_quorum"),
        ({"down_quorum": True}, "down_quorum"),
        ({"down_quorum": [2]}, "down_quorum"),
    ],
)
def test_bad_config_values_are_422_naming_the_field(api, body, field):
    response = api.patch(f"{BASE}/config", body, format="json")
    assert response.status_code == 422
    assert [field] == response.json()["detail"][0]["loc"][1:]


def test_the_down_quorum_is_set_and_cleared_back_to_a_majority(api):
    response = api.patch(f"{BASE}/config", {"down_quorum": 2}, format="json")
    assert response.status_code == 200 and response.json()["down_quorum"] == 2
    assert MonitoringConfig.get().down_quorum == 2
    assert api.patch(f"{BASE}/config", {"down_quorum": 64}, format="json").status_code == 200
    response = api.patch(f"{BASE}/config", {"down_quorum": None}, format="json")
    assert response.json()["down_quorum"] is None
    assert MonitoringConfig.get().down_quorum is None


def test_changing_the_config_reconciles_the_schedule(api):
    api.patch(f"{BASE}/config", {"interval_minutes": 7}, format="json")
    schedule = Schedule.objects.get(name="arguslm.monitoring-pass")
    assert schedule.minutes == 7
    assert schedule.func == "monitoring.tasks.scheduled_pass"
    assert schedule.next_run <= timezone.now() + timedelta(seconds=5)  # first pass soon

    api.patch(f"{BASE}/config", {"enabled": False}, format="json")
    assert not Schedule.objects.filter(name="arguslm.monitoring-pass").exists()
    assert Schedule.objects.filter(name="arguslm.monitoring-prune").exists()

    api.patch(f"{BASE}/config", {"enabled": True, "interval_minutes": 2}, format="json")
    assert Schedule.objects.get(name="arguslm.monitoring-pass").minutes == 2


def test_a_shorter_interval_brings_the_next_pass_forward(api):
    # Saving the config reconciles the schedules (from any path): the next pass is due one
    # interval after the last one.
    MonitoringConfig.objects.create(interval_minutes=60, last_run_at=timezone.now())
    first = Schedule.objects.get(name="arguslm.monitoring-pass").next_run
    api.patch(f"{BASE}/config", {"interval_minutes": 1}, format="json")
    second = Schedule.objects.get(name="arguslm.monitoring-pass").next_run
    assert second < first and second <= timezone.now() + timedelta(minutes=1, seconds=5)


def test_run_queues_a_stored_pass(api, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: queued.append(a))
    response = api.post(f"{BASE}/run")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "queued" and body["message"]
    run = MonitoringRun.objects.get(pk=body["run_id"])
    assert run.status == "queued" and run.trigger == "manual"
    assert queued == [("monitoring.tasks.start_pass", body["run_id"])]
    detail = api.get(f"{BASE}/runs/{body['run_id']}").json()
    assert detail["status"] == "queued" and detail["total"] == 0
    assert api.get(f"{BASE}/runs").json()["total"] == 1


def test_a_run_lists_the_regions_it_probes_from(api):
    run = make_monitoring_run(status="completed", regions=["default", "eu-west"])
    assert api.get(f"{BASE}/runs/{run.pk}").json()["regions"] == ["default", "eu-west"]
    assert api.get(f"{BASE}/runs").json()["items"][0]["regions"] == ["default", "eu-west"]


def test_run_lookups_reject_bad_ids(api):
    assert api.get(f"{BASE}/runs/not-a-uuid").status_code == 422
    missing = api.get(f"{BASE}/runs/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    assert api.get(f"{BASE}/runs?status=bogus").status_code == 422


def _checks():
    """Model A: up a minute ago, down two minutes ago; model B (not monitored): rate limited
    two days ago. Stored as a pass stores them: rollups, latest status, counts."""
    account = make_account(display_name="Acct")
    a = make_model(account, model_id="a-model", custom_name="Model A")
    b = make_model(account, model_id="b-model", enabled_for_monitoring=False)
    measured = {"ttft_ms": 100, "latency_ms": 300, "tps": 50.0, "output_tokens": 10}
    store_checks(
        [
            uptime_check(a, ago=timedelta(minutes=1), token_source="usage", **measured),
            uptime_check(
                a, status="down", ago=timedelta(minutes=2), error_type="timeout", error="Timed out"
            ),
            uptime_check(b, status="degraded", ago=timedelta(days=2), error_type="rate_limited"),
        ]
    )
    return a, b, timezone.now()


def test_uptime_history_filters_and_pages_newest_first(api):
    _, b, now = _checks()
    data = api.get(f"{BASE}/uptime").json()
    assert data["total"] == 3 and data["limit"] == 100 and data["offset"] == 0
    assert [i["status"] for i in data["items"]] == ["up", "down", "degraded"]
    first = data["items"][0]
    assert first["model_name"] == "Model A" and first["provider_type"] == "custom_openai_compatible"
    assert first["ttft_ms"] == 100 and first["token_source"] == "usage"
    assert api.get(f"{BASE}/uptime?model_id={b.id}").json()["total"] == 1
    assert api.get(f"{BASE}/uptime?status=down").json()["total"] == 1
    since = (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert api.get(f"{BASE}/uptime", {"since": since}).json()["total"] == 2
    assert api.get(f"{BASE}/uptime?enabled_only=true").json()["total"] == 2
    page = api.get(f"{BASE}/uptime?limit=1&offset=1").json()
    assert page["total"] == 3 and [i["status"] for i in page["items"]] == ["down"]


def test_the_uptime_total_comes_from_the_kept_counts_not_a_count_of_the_checks(api):
    _checks()
    with CaptureQueriesContext(connection) as queries:
        assert api.get(f"{BASE}/uptime", {"status": "down"}).json()["total"] == 1
    sqls = [q["sql"] for q in queries]
    assert not [sql for sql in sqls if "COUNT(" in sql.upper() and "uptimecheck" in sql], sqls
    assert [sql for sql in sqls if "SUM(" in sql.upper() and "checkcount" in sql], sqls


def _regional_checks():
    """Model A probed from the home region (up, then down) and from eu-west (down)."""
    a = make_model(make_account(display_name="Acct"), model_id="a-model")
    store_checks(
        [
            uptime_check(a, ago=timedelta(minutes=1)),
            uptime_check(a, status="down", ago=timedelta(minutes=6)),
        ]
    )
    store_checks([uptime_check(a, status="down", ago=timedelta(minutes=2), region="eu-west")])
    return a


def test_each_check_says_which_region_it_was_probed_from(api):
    _regional_checks()
    items = api.get(f"{BASE}/uptime").json()["items"]
    assert [(i["status"], i["region"]) for i in items] == [
        ("up", "default"),
        ("down", "eu-west"),
        ("down", "default"),
    ]


def test_the_uptime_history_filters_by_region_and_counts_that_regions_checks(api):
    a = _regional_checks()
    data = api.get(f"{BASE}/uptime", {"region": "eu-west"}).json()
    assert data["total"] == 1 and [i["region"] for i in data["items"]] == ["eu-west"]
    data = api.get(f"{BASE}/uptime", {"region": "default", "status": "down"}).json()
    assert data["total"] == 1 and data["items"][0]["region"] == "default"
    data = api.get(f"{BASE}/uptime", {"region": "default", "model_id": str(a.pk)}).json()
    assert data["total"] == 2
    # A well-formed name no worker has used matches nothing.
    assert api.get(f"{BASE}/uptime", {"region": "mars-1"}).json() == {
        "items": [],
        "total": 0,
        "limit": 100,
        "offset": 0,
    }
    assert api.get(f"{BASE}/uptime").json()["total"] == 3  # every region: the kept counts
    assert api.get(f"{BASE}/uptime", {"region": ""}).json()["total"] == 3  # blank: no filter


@pytest.mark.parametrize("region", ["EU", "eu west", "-eu", "e" * 33, "x" * 5000])
def test_a_malformed_region_filter_is_a_422_naming_it(api, region):
    response = api.get(f"{BASE}/uptime", {"region": region})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["query", "region"]]
    response = api.get(f"{BASE}/uptime/export", {"region": region})
    assert response.status_code == 422


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=10001",
        "offset=-1",
        "status=sideways",
        "since=yesterday",
        "model_id=123",
        "enabled_only=perhaps",
    ],
)
def test_bad_uptime_queries_are_422(api, query):
    assert api.get(f"{BASE}/uptime?{query}").status_code == 422


def test_the_json_export_includes_the_measurements(api):
    _checks()
    response = api.get(f"{BASE}/uptime/export?format=json")
    assert response["Content-Disposition"] == 'attachment; filename="uptime_history.json"'
    data = json.loads(b"".join(response.streaming_content))
    assert len(data["checks"]) == 3
    first = data["checks"][0]
    assert (first["model_name"], first["provider"], first["status"]) == (
        "Model A",
        "custom_openai_compatible",
        "up",
    )
    assert first["ttft_ms"] == 100 and first["tps"] == 50.0 and first["output_tokens"] == 10


def test_the_csv_export_filters_by_model_and_date(api):
    a, _, now = _checks()
    start = (now - timedelta(hours=1)).isoformat()
    response = api.get(
        f"{BASE}/uptime/export",
        {"format": "csv", "model_id": str(a.id), "start_date": start},
        HTTP_ACCEPT="text/csv",
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:6] == ["model_name", "provider", "status", "latency_ms", "error", "timestamp"]
    assert [r[2] for r in rows[1:]] == ["up", "down"]
    assert rows[2][4] == "Timed out" and rows[1][3] == "300.0"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_under_asgi_the_export_streams_batch_by_batch_the_same_bytes_as_wsgi(
    api, token, monkeypatch, fmt
):
    """daphne serves ASGI: a synchronous iterator would be read whole into memory there
    before the first byte is sent. The export hands ASGI an async iterator, one batch each."""
    monkeypatch.setattr(exports, "BATCH_SIZE", 2)
    model = make_model(make_account(), custom_name="Model A")
    store_checks([uptime_check(model, ago=timedelta(minutes=i)) for i in range(5)])
    url = f"{BASE}/uptime/export?format={fmt}"

    wsgi = api.get(url)
    assert wsgi.streaming and not wsgi.is_async
    wsgi_body = b"".join(wsgi.streaming_content)

    async def over_asgi():
        response = await AsyncClient().get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and response.is_async
        with warnings.catch_warnings():
            # "StreamingHttpResponse must consume synchronous iterators …" would be an error.
            warnings.simplefilter("error")
            return [part async for part in aiter(response)]  # as daphne's handler reads it

    parts = async_to_sync(over_asgi)()
    assert len(parts) == 1 + 3 + (fmt == "json")  # opening, 5 rows in 3 batches, closing
    assert b"".join(parts) == wsgi_body
    assert wsgi_body.count(b"Model A") == 5


def test_exports_end_with_the_region_and_filter_by_it(api):
    _regional_checks()
    response = api.get(f"{BASE}/uptime/export", {"format": "csv"}, HTTP_ACCEPT="text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][-3:] == ["provider_name", "model_id", "region"]  # added at the end
    assert rows[0][:6] == ["model_name", "provider", "status", "latency_ms", "error", "timestamp"]
    assert [(r[2], r[-1]) for r in rows[1:]] == [
        ("up", "default"),
        ("down", "eu-west"),
        ("down", "default"),
    ]
    response = api.get(f"{BASE}/uptime/export", {"format": "json", "region": "eu-west"})
    checks = json.loads(b"".join(response.streaming_content))["checks"]
    assert [(c["status"], c["region"]) for c in checks] == [("down", "eu-west")]


@pytest.mark.parametrize(
    "query", ["format=xml", "start_date=nope", "end_date=2026-01-01&start_date=2026-02-01"]
)
def test_bad_export_queries_are_422(api, query):
    assert api.get(f"{BASE}/uptime/export?{query}").status_code == 422


def test_prompt_packs_are_a_bare_array_with_the_liveness_pack(api):
    packs = api.get(f"{BASE}/prompt-packs").json()
    # 7 original, liveness, 3 checked, 3 long-context, multi-turn
    assert isinstance(packs, list) and len(packs) == 15
    assert {"id", "name", "prompt", "expected_tokens"} <= set(packs[0])
    assert "liveness" in {p["id"] for p in packs}
    by_id = {p["id"]: p for p in packs}
    assert not by_id["health_check"]["benchmark_only"]
    assert by_id["long_8k"]["benchmark_only"] and by_id["long_8k"]["context_tokens"] == 8000
    assert len(by_id["long_32k"]["prompt"]) < 200  # the listing carries no 32k-token document
    assert [len(c) for c in by_id["multi_turn"]["conversations"]] == [3, 3, 3]


def test_monitoring_refuses_a_benchmark_only_pack_and_says_why(api):
    response = api.patch(f"{BASE}/config", {"prompt_pack": "long_1k"}, format="json")

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"][1:] == ["prompt_pack"]
    assert "for benchmarks only" in error["msg"]
    assert MonitoringConfig.get().prompt_pack == "health_check"


# --- regions ------------------------------------------------------------------------------------


def test_the_home_region_is_listed_before_any_worker_has_beaten(api):
    assert api.get("/api/v1/regions").json() == [
        {"name": "default", "home": True, "live": False, "last_seen_at": None, "last_worker": ""}
    ]


def test_regions_are_listed_with_their_heartbeats_for_any_reader(db, settings):
    settings.ARGUSLM_HOME_REGION = "eu-west"
    now = timezone.now()
    Region.objects.create(
        name="eu-west", last_seen_at=now - timedelta(seconds=4), last_worker="a:1"
    )
    Region.objects.create(
        name="ap-south", last_seen_at=now - timedelta(minutes=5), last_worker="b:2"
    )
    viewer = get_user_model().objects.create_user("viewer", password="pw-long-enough-1")
    roles.assign(viewer, roles.VIEWER)
    key = tokens.issue(user=viewer, name="read", scope="read")[1]
    response = APIClient().get("/api/v1/regions", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert [(r["name"], r["home"], r["live"], r["last_worker"]) for r in response.json()] == [
        ("ap-south", False, False, "b:2"),  # silent for 5 min: stale
        ("eu-west", True, True, "a:1"),
    ]
    seen = response.json()[1]["last_seen_at"]
    assert parse_datetime(seen) == now - timedelta(seconds=4)
