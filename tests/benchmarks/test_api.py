"""The /api/v1/benchmarks endpoints: start, list, detail, results, statistics, exports, cancel and
delete, in the wire format the ``arguslm`` SDK requires (original-arguslm.md §1.6, §3.8, §6, §7.4;
metrics.md). The engine is tested elsewhere: here the task queue is recorded, not run, and
results are written to the database directly."""

import csv
import io
import json
import re
import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from benchmarks.models import BenchmarkResult, BenchmarkRun
from providers.models import LLMModel
from tests.factories import make_account, make_benchmark_result, make_benchmark_run, make_model

pytestmark = pytest.mark.django_db

BASE = "/api/v1/benchmarks"
MISSING = "9b2f6c1e-7a44-4c39-9f0e-2d2f5a0c1b11"
ORIGINAL_RESULT_KEYS = [
    "model_name",
    "provider",
    "ttft_ms",
    "tps",
    "tps_excluding_ttft",
    "total_latency_ms",
    "input_tokens",
    "output_tokens",
    "error",
    "timestamp",
]
# BenchmarkRunResponse fields the SDK requires present and non-null (§7.4).
SDK_RUN_REQUIRED = [
    "id",
    "name",
    "status",
    "model_ids",
    "prompt_pack",
    "triggered_by",
    "started_at",
    "created_at",
    "updated_at",
    "result_count",
]
SDK_RESULT_NUMBERS = ["ttft_ms", "tps", "tps_excluding_ttft", "total_latency_ms"]
SDK_RESULT_INTS = ["input_tokens", "output_tokens"]
STAT_KEYS = ["ttft_p50", "ttft_p95", "ttft_p99", "tps_p50", "tps_p95", "tps_p99"]
METRICS = ["ttft_ms", "latency_ms", "tps", "tps_excluding_ttft"]
SUMMARY_KEYS = ["p50", "p95", "p99", "mean", "min", "max"]


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Record django-q2 enqueues instead of running the engine."""
    calls = []

    def fake_async_task(func, *args, **kwargs):
        calls.append((func, args, kwargs))
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", fake_async_task)
    return calls


@pytest.fixture
def model():
    return make_model(model_id="fast-small", custom_name="Fast small")


def ok_result(run, model, seq, *, ttft, tps, latency=1000.0, out=50, inp=12, **kw):
    return make_benchmark_result(
        model,
        run=run,
        seq=seq,
        ttft_ms=ttft,
        ttfat_ms=ttft,
        latency_ms=latency,
        tps=tps,
        tps_excluding_ttft=kw.pop("tps_ex", tps * 1.25),
        tpot_ms=kw.pop("tpot", 20.0),
        input_tokens=inp,
        output_tokens=out,
        token_source="usage",
        chunks=out,
        **kw,
    )


TIMED_OUT = {"error_type": "timeout", "error": "Timed out after 60 s"}


def scored_run(model_a, model_b) -> BenchmarkRun:
    """Model A: four successes (ttft 100..400, tps 10..40) and a stream error that kept a
    partial TTFT; model B: two failures only."""
    run = make_benchmark_run(model_a, model_b, prompt_pack="synthetic_short")
    for i, (ttft, tps) in enumerate([(300, 30), (100, 10), (400, 40), (200, 20)], start=1):
        ok_result(run, model_a, i, ttft=float(ttft), tps=float(tps), latency=ttft * 5.0)
    make_benchmark_result(
        model_a,
        run=run,
        seq=5,
        error_type="stream_error",
        error="Connection reset after the first byte",
        ttft_ms=5.0,
        chunks=1,
    )
    make_benchmark_result(model_b, run=run, seq=6, **TIMED_OUT)
    make_benchmark_result(
        model_b,
        run=run,
        seq=7,
        error_type="empty_response",
        error="The response completed without any generated tokens.",
        input_tokens=12,
        output_tokens=0,
        token_source="estimate",
    )
    return run


def two_models():
    account = make_account(display_name="Sim", provider_type="openai")
    model_a = make_model(account, model_id="fast-small", custom_name="Fast small")
    model_b = make_model(account, model_id="slow-large")
    return model_a, model_b


def locs(response) -> list[list]:
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    for item in detail:
        assert set(item) >= {"type", "loc", "msg"}
        assert isinstance(item["msg"], str) and item["msg"]
    return [item["loc"] for item in detail]


def messages(response) -> str:
    return " ".join(item["msg"] for item in response.json()["detail"])


def iso(value: datetime) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- authentication -------------------------------------------------------------------------


def test_every_benchmark_endpoint_answers_401_to_anonymous_callers(anon, model, queued):
    run = make_benchmark_run(model)
    pending = make_benchmark_run(status=BenchmarkRun.Status.PENDING)
    body = {"model_ids": [str(model.id)], "prompt_pack": "synthetic_short"}
    calls = [
        anon.post(BASE, body, format="json"),
        anon.get(BASE),
        anon.get(f"{BASE}/{run.id}"),
        anon.get(f"{BASE}/{run.id}/results"),
        anon.get(f"{BASE}/{run.id}/export"),
        anon.get(f"{BASE}/{run.id}/export?format=csv"),
        anon.post(f"{BASE}/{pending.id}/cancel"),
        anon.delete(f"{BASE}/{run.id}"),
    ]
    assert [r.status_code for r in calls] == [401] * len(calls)
    assert all("detail" in r.json() for r in calls)
    assert queued == []
    assert BenchmarkRun.objects.count() == 2
    assert BenchmarkRun.objects.get(pk=pending.pk).status == BenchmarkRun.Status.PENDING


# --- POST /benchmarks -----------------------------------------------------------------------


def test_starting_a_benchmark_answers_202_pending_and_queues_the_run_id(api, model, queued):
    response = api.post(
        BASE, {"model_ids": [str(model.id)], "prompt_pack": "synthetic_short"}, format="json"
    )
    assert response.status_code == 202
    data = response.json()
    assert set(data) == {"id", "status", "message"}
    assert data["status"] == "pending" and data["message"] == "Benchmark run started"
    run = BenchmarkRun.objects.get(pk=data["id"])
    assert str(uuid.UUID(data["id"])) == data["id"]
    assert run.status == BenchmarkRun.Status.PENDING and run.triggered_by == "user"
    assert run.created_by.username == "alice"
    assert len(queued) == 1
    func, args, _kwargs = queued[0]
    assert func == "benchmarks.tasks.execute" and args == (data["id"],)


def test_a_started_benchmark_gets_the_documented_defaults(api, model, queued):
    before = timezone.now().replace(second=0, microsecond=0)
    data = api.post(
        BASE, {"model_ids": [str(model.id)], "prompt_pack": "health_check"}, format="json"
    ).json()
    after = timezone.now()
    run = BenchmarkRun.objects.get(pk=data["id"])
    assert re.fullmatch(r"Benchmark \d{4}-\d{2}-\d{2} \d{2}:\d{2}", run.name)
    stamp = datetime.strptime(run.name, "Benchmark %Y-%m-%d %H:%M").replace(tzinfo=before.tzinfo)
    assert before <= stamp <= after  # UTC, to the minute
    assert (run.max_tokens, run.num_runs, run.concurrency, run.warmup_runs) == (200, 3, 1, 1)
    assert run.model_ids == [str(model.id)] and run.prompt_pack == "health_check"
    assert run.started_at is None and run.completed_at is None


def test_a_started_benchmark_keeps_every_given_setting_and_the_model_order(api, queued):
    account = make_account()
    first = make_model(account, model_id="a")
    second = make_model(account, model_id="b")
    body = {
        "model_ids": [str(second.id), str(first.id).upper()],
        "prompt_pack": "reasoning",
        "name": "  Nightly  ",
        "max_tokens": 4096,
        "num_runs": 10,
        "concurrency": 10,
        "warmup_runs": 0,
        "unknown_field": "ignored",
    }
    response = api.post(BASE, body, format="json")
    assert response.status_code == 202
    run = BenchmarkRun.objects.get(pk=response.json()["id"])
    assert run.name == "Nightly"
    assert run.model_ids == [str(second.id), str(first.id)]  # canonical strings, in order
    assert (run.max_tokens, run.num_runs, run.concurrency, run.warmup_runs) == (4096, 10, 10, 0)
    assert run.prompt_pack == "reasoning"


@pytest.mark.parametrize("name", [None, "", "   "])
def test_a_null_or_blank_name_gets_the_default_name(api, model, queued, name):
    body = {"model_ids": [str(model.id)], "prompt_pack": "synthetic_short", "name": name}
    response = api.post(BASE, body, format="json")
    assert response.status_code == 202
    assert BenchmarkRun.objects.get(pk=response.json()["id"]).name.startswith("Benchmark 20")


def test_the_sdk_request_shape_with_every_key_present_is_accepted(api, model, queued):
    body = {
        "model_ids": [str(model.id)],
        "prompt_pack": "synthetic_short",
        "name": None,
        "max_tokens": 1,
        "num_runs": 1,
    }
    response = api.post(BASE, body, format="json")
    assert response.status_code == 202
    run = BenchmarkRun.objects.get(pk=response.json()["id"])
    assert (run.max_tokens, run.num_runs, run.warmup_runs) == (1, 1, 1)


def _bad_body_cases():
    """(case id, edit(body, ctx) -> body, expected loc, fragment of the message or None)."""

    def set_(key, value):
        return lambda body, ctx: {**body, key: value(ctx) if callable(value) else value}

    def drop(key):
        return lambda body, ctx: {k: v for k, v in body.items() if k != key}

    ids = ["body", "model_ids"]
    return [
        ("model_ids missing", drop("model_ids"), ids, "required"),
        ("model_ids empty", set_("model_ids", []), ids, None),
        ("model_ids null", set_("model_ids", None), ids, None),
        ("model_ids a string", set_("model_ids", lambda c: c["ok"]), ids, None),
        ("model_ids an object", set_("model_ids", {"id": "x"}), ids, None),
        ("model_ids bad uuid", set_("model_ids", ["not-a-uuid"]), [*ids, 0], "UUID"),
        (
            "model_ids second bad uuid",
            set_("model_ids", lambda c: [c["ok"], "1234"]),
            [*ids, 1],
            "UUID",
        ),
        (
            "model_ids duplicated",
            set_("model_ids", lambda c: [c["ok"], c["ok"]]),
            ids,
            "Duplicate",
        ),
        ("model_ids unknown", set_("model_ids", [MISSING]), ids, MISSING),
        (
            "model not enabled for benchmark",
            set_("model_ids", lambda c: [c["ok"], c["not_benchmarked"]]),
            ids,
            "not enabled for benchmarks",
        ),
        (
            "model of a disabled account",
            set_("model_ids", lambda c: [c["disabled_account"]]),
            ids,
            "disabled provider account",
        ),
        ("prompt_pack missing", drop("prompt_pack"), ["body", "prompt_pack"], "required"),
        ("prompt_pack unknown", set_("prompt_pack", "nope"), ["body", "prompt_pack"], "nope"),
        ("prompt_pack null", set_("prompt_pack", None), ["body", "prompt_pack"], None),
        ("max_tokens 0", set_("max_tokens", 0), ["body", "max_tokens"], None),
        ("max_tokens 4097", set_("max_tokens", 4097), ["body", "max_tokens"], None),
        ("max_tokens text", set_("max_tokens", "x"), ["body", "max_tokens"], None),
        ("max_tokens fraction", set_("max_tokens", 2.5), ["body", "max_tokens"], None),
        ("num_runs 0", set_("num_runs", 0), ["body", "num_runs"], None),
        ("num_runs 11", set_("num_runs", 11), ["body", "num_runs"], None),
        ("concurrency 0", set_("concurrency", 0), ["body", "concurrency"], None),
        ("concurrency 11", set_("concurrency", 11), ["body", "concurrency"], None),
        ("warmup_runs -1", set_("warmup_runs", -1), ["body", "warmup_runs"], None),
        ("warmup_runs 6", set_("warmup_runs", 6), ["body", "warmup_runs"], None),
        ("name too long", set_("name", "x" * 256), ["body", "name"], None),
        ("unknown profile", set_("profile", "spike"), ["body", "profile"], None),
        ("load on a fixed run", set_("load", {"max": 4}), ["body", "load"], "fixed run"),
        ("sweep without load", set_("profile", "rate_sweep"), ["body", "load"], "needs a load"),
        *[
            (f"sweep {name}", sweep(load), ["body", "load", *key], fragment)
            for name, load, key, fragment in [
                ("without steps", {"max": 4}, ["step_seconds"], "step_requests"),
                (
                    "both levels and max",
                    {"levels": [1], "max": 4, "step_requests": 9},
                    ["max"],
                    "not both",
                ),
                ("falling levels", {"levels": [4, 2], "step_requests": 9}, ["levels"], "increase"),
                ("fractional streams", {"levels": [1.5], "step_requests": 9}, ["levels"], "whole"),
                ("above the stream cap", {"max": 512, "step_requests": 512}, ["levels"], "256"),
                (
                    "too few requests",
                    {"max": 8, "step_requests": 4},
                    ["step_requests"],
                    "at least 8",
                ),
                (
                    "arrivals",
                    {"max": 2, "step_requests": 4, "arrivals": "poisson"},
                    ["arrivals"],
                    "rate sweeps",
                ),
                (
                    "17 levels",
                    {"levels": list(range(1, 18)), "step_requests": 20},
                    ["levels"],
                    None,
                ),
                ("step too long", {"max": 2, "step_seconds": 601}, ["step_seconds"], None),
                ("too long in all", {"max": 64, "step_seconds": 600}, [], "3,000 s"),
            ]
        ],
        (
            "rate above the pacing limit",
            sweep({"max": 400, "step_seconds": 5}, "rate_sweep"),
            ["body", "load", "levels"],
            "paces",
        ),
        (
            "rate sweep too many requests",
            sweep({"levels": [50, 100], "step_seconds": 300}, "rate_sweep"),
            ["body", "load"],
            "20,000",
        ),
        (
            "slo on a fixed run",
            set_("slo", {"metric": "ttft", "max_ms": 500}),
            ["body", "slo"],
            "sweep",
        ),
        (
            "slo without a metric",
            sweep({"max": 2, "step_requests": 4}, slo={"max_ms": 5}),
            ["body", "slo", "metric"],
            "required",
        ),
        (
            "slo unknown metric",
            sweep({"max": 2, "step_requests": 4}, slo={"metric": "tps", "max_ms": 5}),
            ["body", "slo", "metric"],
            None,
        ),
        (
            "slo without max_ms",
            sweep({"max": 2, "step_requests": 4}, slo={"metric": "ttft"}),
            ["body", "slo", "max_ms"],
            None,
        ),
        (
            "slo bad percentile",
            sweep(
                {"max": 2, "step_requests": 4},
                slo={"metric": "ttft", "max_ms": 5, "percentile": 90},
            ),
            ["body", "slo", "percentile"],
            None,
        ),
        (
            "slo error rate",
            sweep(
                {"max": 2, "step_requests": 4},
                slo={"metric": "ttft", "max_ms": 5, "max_error_rate": 101},
            ),
            ["body", "slo", "max_error_rate"],
            None,
        ),
    ]


def sweep(load, profile="concurrency_sweep", slo=None):
    def edit(body, ctx):
        return {**body, "profile": profile, "load": load, **({"slo": slo} if slo else {})}

    return edit


BAD_BODIES = _bad_body_cases()


@pytest.mark.parametrize(
    ("edit", "loc", "fragment"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_every_bad_field_of_a_start_request_is_a_422_naming_it(api, queued, edit, loc, fragment):
    account = make_account()
    ctx = {
        "ok": str(make_model(account, model_id="ok").id),
        "not_benchmarked": str(make_model(account, model_id="off", enabled_for_benchmark=False).id),
        "disabled_account": str(
            make_model(make_account(enabled=False, display_name="Off"), model_id="x").id
        ),
    }
    body = edit({"model_ids": [ctx["ok"]], "prompt_pack": "synthetic_short"}, ctx)
    response = api.post(BASE, body, format="json")
    assert response.status_code == 422, response.content
    assert loc in locs(response)
    if fragment:
        assert fragment in messages(response)
    assert BenchmarkRun.objects.count() == 0
    assert queued == []


def test_several_bad_fields_are_all_named_at_once(api, queued):
    body = {"model_ids": [], "prompt_pack": "nope", "max_tokens": 0, "num_runs": 99}
    response = api.post(BASE, body, format="json")
    assert response.status_code == 422
    assert sorted(loc[1] for loc in locs(response)) == [
        "max_tokens",
        "model_ids",
        "num_runs",
        "prompt_pack",
    ]


@pytest.mark.parametrize("raw", ['{"model_ids": [', "not json", '{"a": 1,}'])
def test_a_malformed_json_body_is_a_422(api, queued, raw):
    response = api.post(BASE, raw, content_type="application/json")
    assert response.status_code == 422
    assert locs(response) == [["body"]]
    assert "Malformed JSON" in messages(response)
    assert queued == []


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "42", "null"])
def test_a_json_body_that_is_not_an_object_is_a_422(api, queued, raw):
    response = api.post(BASE, raw, content_type="application/json")
    assert response.status_code == 422
    locs(response)
    assert BenchmarkRun.objects.count() == 0


# --- GET /benchmarks ------------------------------------------------------------------------


def test_an_empty_list_has_total_zero_and_the_default_paging(api):
    response = api.get(BASE)
    assert response.status_code == 200
    assert response.json() == {"runs": [], "total": 0, "page": 1, "per_page": 20}


def test_the_list_is_newest_first_and_paginated_with_the_total(api):
    base = timezone.now() - timedelta(hours=1)
    runs = []
    for i in range(5):
        run = make_benchmark_run(name=f"run {i}")
        BenchmarkRun.objects.filter(pk=run.pk).update(created_at=base + timedelta(minutes=i))
        runs.append(run)
    newest_first = [f"run {i}" for i in reversed(range(5))]
    data = api.get(BASE).json()
    assert [r["name"] for r in data["runs"]] == newest_first and data["total"] == 5
    data = api.get(BASE, {"page": 2, "per_page": 2}).json()
    assert [r["name"] for r in data["runs"]] == newest_first[2:4]
    assert (data["total"], data["page"], data["per_page"]) == (5, 2, 2)
    data = api.get(BASE, {"page": 3, "per_page": 2}).json()
    assert [r["name"] for r in data["runs"]] == newest_first[4:]
    data = api.get(BASE, {"page": 4, "per_page": 2}).json()
    assert data["runs"] == [] and data["total"] == 5
    # The frontend's `limit` is ignored, as in the original.
    assert len(api.get(BASE, {"limit": 1}).json()["runs"]) == 5


def test_the_list_filters_by_status_and_counts_only_matches(api):
    make_benchmark_run(name="done")
    make_benchmark_run(name="busy", status=BenchmarkRun.Status.RUNNING, heartbeat_at=timezone.now())
    make_benchmark_run(name="waiting", status=BenchmarkRun.Status.PENDING)
    make_benchmark_run(name="stopped", status=BenchmarkRun.Status.CANCELLED)
    for status, names in [
        ("running", ["busy"]),
        ("pending", ["waiting"]),
        ("completed", ["done"]),
        ("cancelled", ["stopped"]),
        ("failed", []),
    ]:
        data = api.get(BASE, {"status": status}).json()
        assert [r["name"] for r in data["runs"]] == names and data["total"] == len(names)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "x"}, "page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"per_page": "many"}, "per_page"),
        ({"status": "bogus"}, "status"),
    ],
)
def test_a_bad_list_query_is_a_422_naming_the_parameter(api, query, field):
    response = api.get(BASE, query)
    assert response.status_code == 422
    assert locs(response) == [["query", field]]


def test_a_page_number_beyond_a_million_is_a_422_not_a_500(api):
    make_benchmark_run()
    assert api.get(BASE, {"page": 1_000_000}).json()["runs"] == []
    response = api.get(BASE, {"page": 10**20})  # its OFFSET would overflow the database
    assert response.status_code == 422
    assert locs(response) == [["query", "page"]]


def test_listed_runs_carry_every_field_the_sdk_requires(api, model):
    pending = make_benchmark_run(model, name="waiting", status=BenchmarkRun.Status.PENDING)
    done = make_benchmark_run(model, name="done")
    ok_result(done, model, 1, ttft=100.0, tps=10.0)
    make_benchmark_result(model, run=done, seq=2, **TIMED_OUT)
    runs = {r["name"]: r for r in api.get(BASE).json()["runs"]}
    for run in runs.values():
        for key in SDK_RUN_REQUIRED:
            assert run[key] is not None, key
        assert isinstance(run["result_count"], int)
        assert all(isinstance(i, str) for i in run["model_ids"])
        for key in ("started_at", "created_at", "updated_at"):
            iso(run[key])
    assert runs["done"]["result_count"] == 2 and runs["waiting"]["result_count"] == 0
    assert runs["done"]["completed_at"] is not None and runs["waiting"]["completed_at"] is None
    # Before a worker picks it up, a run's started_at is its creation time.
    assert iso(runs["waiting"]["started_at"]) == pending.created_at
    assert runs["waiting"]["model_ids"] == [str(model.id)]
    assert runs["done"]["total_requests"] == 3 and runs["done"]["triggered_by"] == "user"


def test_listing_closes_a_running_run_whose_worker_stopped_heartbeating(api):
    run = make_benchmark_run(
        status=BenchmarkRun.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    data = api.get(BASE).json()
    assert data["runs"][0]["status"] == "failed" and data["runs"][0]["completed_at"]
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.FAILED and "stopped responding" in run.error


# --- GET /benchmarks/{id} -------------------------------------------------------------------


def test_the_detail_has_the_run_its_results_and_pooled_statistics(api):
    model_a, model_b = two_models()
    run = scored_run(model_a, model_b)
    response = api.get(f"{BASE}/{run.id}")
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == str(run.id) and data["status"] == "completed"
    assert data["result_count"] == 7 and len(data["results"]) == 7
    assert [r["seq"] for r in data["results"]] == list(range(1, 8))
    for key in SDK_RUN_REQUIRED:
        assert data[key] is not None, key
    # Pooled over model A's four successes only (NumPy's linear interpolation).
    stats = data["statistics"]
    expected = {
        "ttft_p50": 250.0,
        "ttft_p95": 385.0,
        "ttft_p99": 397.0,
        "tps_p50": 25.0,
        "tps_p95": 38.5,
        "tps_p99": 39.7,
    }
    for key, value in expected.items():
        assert isinstance(stats[key], float)
        assert stats[key] == pytest.approx(value), key


def test_statistics_are_all_zero_floats_without_results(api):
    run = make_benchmark_run()
    data = api.get(f"{BASE}/{run.id}").json()
    assert data["results"] == [] and data["result_count"] == 0
    for key in STAT_KEYS:
        assert data["statistics"][key] == 0.0 and isinstance(data["statistics"][key], float)
    assert data["model_statistics"] == []


def test_statistics_are_all_zero_floats_when_every_request_failed(api, model):
    run = make_benchmark_run(model)
    make_benchmark_result(model, run=run, seq=1, **TIMED_OUT)
    make_benchmark_result(model, run=run, seq=2, error_type="auth", error="HTTP 401: bad key")
    data = api.get(f"{BASE}/{run.id}").json()
    assert [data["statistics"][key] for key in STAT_KEYS] == [0.0] * 6
    (row,) = data["model_statistics"]
    assert (row["n"], row["errors"]) == (0, 2)
    for metric in METRICS:
        assert all(row[metric][k] is None for k in SUMMARY_KEYS)


def test_one_successful_result_is_every_percentile(api, model):
    run = make_benchmark_run(model)
    ok_result(run, model, 1, ttft=123.0, tps=45.5)
    stats = api.get(f"{BASE}/{run.id}").json()["statistics"]
    assert [stats[k] for k in STAT_KEYS] == [123.0] * 3 + [45.5] * 3


def test_a_result_with_an_error_but_no_error_type_counts_as_failed(api, model):
    run = make_benchmark_run(model)
    ok_result(run, model, 1, ttft=100.0, tps=10.0)
    ok_result(run, model, 2, ttft=900.0, tps=90.0, error="Provider said no")
    data = api.get(f"{BASE}/{run.id}").json()
    assert [data["statistics"][k] for k in STAT_KEYS] == [100.0] * 3 + [10.0] * 3
    assert (data["model_statistics"][0]["n"], data["model_statistics"][0]["errors"]) == (1, 1)
    failed = data["results"][1]
    assert [failed[k] for k in [*SDK_RESULT_NUMBERS, *SDK_RESULT_INTS]] == [0] * 6


def test_a_success_without_a_ttft_counts_for_tps_but_not_for_ttft(api, model):
    run = make_benchmark_run(model)
    ok_result(run, model, 1, ttft=100.0, tps=10.0)
    ok_result(run, model, 2, ttft=None, tps=30.0)  # a non-streamed response
    data = api.get(f"{BASE}/{run.id}").json()
    stats = data["statistics"]
    assert (stats["ttft_p50"], stats["tps_p50"]) == (100.0, 20.0)
    assert data["results"][1]["ttft_ms"] == 0.0 and data["results"][1]["tps"] == 30.0


def test_model_statistics_summarise_each_model_over_its_successes(api):
    model_a, model_b = two_models()
    run = scored_run(model_a, model_b)
    rows = {row["model_id"]: row for row in api.get(f"{BASE}/{run.id}").json()["model_statistics"]}
    assert set(rows) == {str(model_a.id), str(model_b.id)}
    a, b = rows[str(model_a.id)], rows[str(model_b.id)]
    assert (a["model_name"], a["n"], a["errors"]) == ("Fast small", 4, 1)
    assert (b["model_name"], b["n"], b["errors"]) == ("slow-large", 0, 2)
    expected_a = {
        "ttft_ms": {"p50": 250, "p95": 385, "p99": 397, "mean": 250, "min": 100, "max": 400},
        "latency_ms": {
            "p50": 1250,
            "p95": 1925,
            "p99": 1985,
            "mean": 1250,
            "min": 500,
            "max": 2000,
        },
        "tps": {"p50": 25, "p95": 38.5, "p99": 39.7, "mean": 25, "min": 10, "max": 40},
        "tps_excluding_ttft": {
            "p50": 31.25,
            "p95": 48.125,
            "p99": 49.625,
            "mean": 31.25,
            "min": 12.5,
            "max": 50,
        },
    }
    for metric, summary in expected_a.items():
        for key, value in summary.items():
            assert a[metric][key] == pytest.approx(value), (metric, key)
        assert a[metric]["n"] == 4
    for metric in METRICS:
        assert [b[metric][k] for k in SUMMARY_KEYS] == [None] * 6


def test_failed_results_report_zero_numbers_and_their_error(api):
    model_a, model_b = two_models()
    run = scored_run(model_a, model_b)
    results = {r["seq"]: r for r in api.get(f"{BASE}/{run.id}").json()["results"]}
    for seq in (5, 6, 7):  # a partial TTFT, no numbers at all, an empty response
        failed = results[seq]
        assert failed["error"] and failed["error_type"]
        for key in SDK_RESULT_NUMBERS:
            assert failed[key] == 0 and isinstance(failed[key], float), (seq, key)
        for key in SDK_RESULT_INTS:
            assert failed[key] == 0 and isinstance(failed[key], int), (seq, key)
    assert results[5]["error_type"] == "stream_error"
    assert results[6]["model_name"] == "slow-large"


def test_successful_results_carry_their_measurements(api, model):
    run = make_benchmark_run(model)
    stored = ok_result(run, model, 1, ttft=120.5, tps=33.25, latency=1500.0, out=48, inp=9)
    (result,) = api.get(f"{BASE}/{run.id}").json()["results"]
    assert result["id"] == str(stored.id) and result["model_id"] == str(model.id)
    assert result["model_name"] == "Fast small"
    assert (result["ttft_ms"], result["tps"], result["total_latency_ms"]) == (120.5, 33.25, 1500.0)
    assert result["tps_excluding_ttft"] == pytest.approx(33.25 * 1.25)
    assert (result["input_tokens"], result["output_tokens"]) == (9, 48)
    assert result["error"] is None and result["estimated_cost"] is None
    assert result["token_source"] == "usage"


def test_an_unknown_run_is_a_404_and_a_malformed_id_a_422(api):
    response = api.get(f"{BASE}/{MISSING}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Benchmark run {MISSING} not found"}
    response = api.get(f"{BASE}/not-a-uuid")
    assert response.status_code == 422
    assert locs(response)[0][0] == "path"


# --- GET /benchmarks/{id}/results -----------------------------------------------------------


def test_the_results_endpoint_lists_results_in_order_with_the_total(api):
    model_a, model_b = two_models()
    run = scored_run(model_a, model_b)
    other = make_benchmark_run()
    ok_result(other, model_a, 1, ttft=1.0, tps=1.0)
    response = api.get(f"{BASE}/{run.id}/results")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"results", "total"} and data["total"] == 7
    assert [r["seq"] for r in data["results"]] == list(range(1, 8))
    assert data["results"] == api.get(f"{BASE}/{run.id}").json()["results"]
    empty = make_benchmark_run()
    assert api.get(f"{BASE}/{empty.id}/results").json() == {"results": [], "total": 0}


def test_the_results_of_an_unknown_run_are_a_404_and_of_a_malformed_id_a_422(api):
    assert api.get(f"{BASE}/{MISSING}/results").status_code == 404
    assert api.get(f"{BASE}/123/results").status_code == 422


# --- GET /benchmarks/{id}/export ------------------------------------------------------------


def test_the_json_export_has_the_originals_fields_and_the_statistics(api):
    model_a, model_b = two_models()
    run = scored_run(model_a, model_b)
    response = api.get(f"{BASE}/{run.id}/export", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="benchmark_{run.id}.json"'
    assert response.content.decode().startswith('{\n  "run_id"')  # 2-space indent
    data = json.loads(response.content)
    assert data["run_id"] == str(run.id) and data["run_name"] == "Run"
    assert data["prompt_pack"] == "synthetic_short"
    assert iso(data["started_at"]) == run.started_at
    assert iso(data["completed_at"]) == run.completed_at
    detail = api.get(f"{BASE}/{run.id}").json()
    assert data["statistics"] == detail["statistics"]
    assert data["model_statistics"] == detail["model_statistics"]
    assert len(data["results"]) == 7
    first, failed = data["results"][0], data["results"][4]
    assert set(ORIGINAL_RESULT_KEYS) <= set(first)
    assert first["model_name"] == "Fast small" and first["provider"] == "openai"
    assert (first["ttft_ms"], first["tps"], first["total_latency_ms"]) == (300.0, 30.0, 1500.0)
    assert (first["input_tokens"], first["output_tokens"], first["error"]) == (12, 50, None)
    stored = BenchmarkResult.objects.get(run=run, seq=1)
    assert iso(first["timestamp"]) == stored.created_at
    assert failed["error"] == "Connection reset after the first byte"
    assert [failed[k] for k in [*SDK_RESULT_NUMBERS, *SDK_RESULT_INTS]] == [0] * 6


def test_the_json_export_is_the_default_and_a_pending_run_has_no_completed_at(api):
    run = make_benchmark_run(status=BenchmarkRun.Status.PENDING)
    response = api.get(f"{BASE}/{run.id}/export")
    assert response.status_code == 200
    data = json.loads(response.content)
    assert data["completed_at"] is None and data["results"] == []
    assert iso(data["started_at"]) == run.created_at
    assert [data["statistics"][k] for k in STAT_KEYS] == [0.0] * 6


def test_the_csv_export_starts_with_the_originals_columns(api):
    model_a, model_b = two_models()
    run = scored_run(model_a, model_b)
    response = api.get(f"{BASE}/{run.id}/export", {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="benchmark_{run.id}.csv"'
    text = response.content.decode()
    assert text.endswith("\r\n") and "\r\n" in text.split("\r\n", 1)[0] + "\r\n"
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][: len(ORIGINAL_RESULT_KEYS)] == ORIGINAL_RESULT_KEYS
    assert len(rows) == 8
    records = list(csv.DictReader(io.StringIO(text)))
    first, failed = records[0], records[4]
    assert (first["model_name"], first["provider"]) == ("Fast small", "openai")
    assert float(first["ttft_ms"]) == 300.0 and int(first["output_tokens"]) == 50
    assert first["error"] == ""
    assert failed["error"] == "Connection reset after the first byte"
    assert [float(failed[k]) for k in SDK_RESULT_NUMBERS] == [0.0] * 4
    assert [failed[k] for k in SDK_RESULT_INTS] == ["0", "0"]
    iso(first["timestamp"])


def test_the_csv_statistics_table_has_one_row_per_model(api):
    model_a, model_b = two_models()
    run = scored_run(model_a, model_b)
    response = api.get(f"{BASE}/{run.id}/export", {"format": "csv", "table": "statistics"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="benchmark_{run.id}_statistics.csv"'
    )
    records = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_id = {r["model_id"]: r for r in records}
    assert set(by_id) == {str(model_a.id), str(model_b.id)}
    a, b = by_id[str(model_a.id)], by_id[str(model_b.id)]
    assert (a["model_name"], a["n"], a["errors"]) == ("Fast small", "4", "1")
    assert float(a["ttft_ms_p50"]) == 250.0 and float(a["ttft_ms_p95"]) == 385.0
    assert float(a["tps_p99"]) == pytest.approx(39.7)
    assert float(a["latency_ms_max"]) == 2000.0
    assert (b["n"], b["errors"], b["ttft_ms_p50"], b["tps_mean"]) == ("0", "2", "", "")


@pytest.mark.parametrize(
    ("query", "field"),
    [({"format": "xml"}, "format"), ({"format": "csv", "table": "bogus"}, "table")],
)
def test_an_unknown_export_format_or_table_is_a_422(api, query, field):
    run = make_benchmark_run()
    response = api.get(f"{BASE}/{run.id}/export", query)
    assert response.status_code == 422
    assert locs(response) == [["query", field]]


@pytest.mark.parametrize("accept", ["text/csv", "application/xml", "text/csv, */*;q=0.1"])
def test_an_accept_header_never_causes_a_406_on_exports(api, model, accept):
    run = make_benchmark_run(model)
    ok_result(run, model, 1, ttft=100.0, tps=10.0)
    url = f"{BASE}/{run.id}/export"
    response = api.get(url, {"format": "csv"}, HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert api.get(url, {"format": "json"}, HTTP_ACCEPT=accept).status_code == 200
    missing = api.get(f"{BASE}/{MISSING}/export", {"format": "csv"}, HTTP_ACCEPT=accept)
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]


def test_exporting_an_unknown_run_is_a_404_and_a_malformed_id_a_422(api):
    assert api.get(f"{BASE}/{MISSING}/export", {"format": "csv"}).status_code == 404
    assert api.get(f"{BASE}/nope/export").status_code == 422


# --- POST /benchmarks/{id}/cancel -----------------------------------------------------------


def test_cancelling_a_pending_run_cancels_it_at_once(api):
    run = make_benchmark_run(status=BenchmarkRun.Status.PENDING)
    response = api.post(f"{BASE}/{run.id}/cancel")
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == str(run.id) and data["status"] == "cancelled"
    assert data["completed_at"] is not None and isinstance(data["result_count"], int)
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.CANCELLED and run.completed_at is not None
    assert run.error == "Cancelled by request."


def test_cancelling_a_running_run_asks_the_engine_to_stop(api):
    run = make_benchmark_run(status=BenchmarkRun.Status.RUNNING, heartbeat_at=timezone.now())
    response = api.post(f"{BASE}/{run.id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    run.refresh_from_db()
    assert run.cancel_requested is True
    assert run.status == BenchmarkRun.Status.RUNNING and run.completed_at is None


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_cancelling_a_finished_run_is_a_409(api, status):
    run = make_benchmark_run(status=status)
    response = api.post(f"{BASE}/{run.id}/cancel")
    assert response.status_code == 409
    assert status in response.json()["detail"]
    run.refresh_from_db()
    assert run.status == status and run.cancel_requested is False


def test_cancelling_an_unknown_run_is_a_404_and_a_malformed_id_a_422(api):
    assert api.post(f"{BASE}/{MISSING}/cancel").status_code == 404
    assert api.post(f"{BASE}/xyz/cancel").status_code == 422


# --- DELETE /benchmarks/{id} ----------------------------------------------------------------


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_deleting_a_finished_run_removes_it_and_its_results(api, status):
    model_a, model_b = two_models()
    run = scored_run(model_a, model_b)
    BenchmarkRun.objects.filter(pk=run.pk).update(status=status)
    kept = make_benchmark_run(name="kept")
    ok_result(kept, model_a, 1, ttft=1.0, tps=1.0)
    response = api.delete(f"{BASE}/{run.id}")
    assert response.status_code == 204 and response.content == b""
    assert not BenchmarkRun.objects.filter(pk=run.pk).exists()
    assert not BenchmarkResult.objects.filter(run_id=run.pk).exists()
    assert BenchmarkResult.objects.filter(run=kept).count() == 1
    assert LLMModel.objects.count() == 2
    assert api.get(f"{BASE}/{run.id}").status_code == 404


@pytest.mark.parametrize("status", ["pending", "running"])
def test_deleting_an_unfinished_run_is_a_409(api, status):
    run = make_benchmark_run(status=status, heartbeat_at=timezone.now())
    response = api.delete(f"{BASE}/{run.id}")
    assert response.status_code == 409
    assert "Cancel" in response.json()["detail"]
    assert BenchmarkRun.objects.filter(pk=run.pk, status=status).exists()


def test_deleting_an_unknown_run_is_a_404_and_a_malformed_id_a_422(api):
    response = api.delete(f"{BASE}/{MISSING}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Benchmark run {MISSING} not found"}
    assert api.delete(f"{BASE}/bad-id").status_code == 422
