"""The benchmark engine over real HTTP against the simulator (known TTFT and ITL)."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from benchmarks import engine, services
from benchmarks.models import BenchmarkResult, BenchmarkRun
from tests.factories import make_account, make_benchmark_run, make_model


@pytest.mark.django_db(transaction=True)
def test_statistics_match_the_scheduled_ttft_and_itl(llmsim):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    fast = make_model(account, model_id="sim/ttft=60/itl=5/n=21")
    slow = make_model(account, model_id="sim/ttft=200/itl=10/n=11")
    run = make_benchmark_run(fast, slow, status="pending", num_runs=4)

    assert engine.execute(run.id) == "completed"

    run.refresh_from_db()
    assert run.status == "completed" and run.completed_at and run.started_at
    results = services.results_of(run)
    assert len(results) == 8  # warm-ups are not stored
    assert sorted(r.seq for r in results) == list(range(1, 9))
    _, per_model = services.statistics_of(results)
    by_name = {row["model_name"]: row for row in per_model}
    f, s = by_name[fast.model_id], by_name[slow.model_id]
    assert (f["n"], f["errors"], s["n"], s["errors"]) == (4, 0, 4, 0)
    assert 60 <= f["ttft_ms"]["p50"] < 60 + 80
    assert 200 <= s["ttft_ms"]["p50"] < 200 + 80
    # decode: (n − 1) tokens over (n − 1) × itl  →  1000 / itl tokens per second
    assert f["tps_excluding_ttft"]["p50"] == pytest.approx(200, rel=0.15)
    assert s["tps_excluding_ttft"]["p50"] == pytest.approx(100, rel=0.15)
    assert all(r.output_tokens in (21, 11) and r.token_source == "usage" for r in results)


@pytest.mark.django_db(transaction=True)
def test_failed_requests_are_results_and_the_run_still_completes(llmsim):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    ok = make_model(account, model_id="sim/ttft=5/itl=1/n=3")
    bad = make_model(account, model_id="sim/status=500")
    run = make_benchmark_run(ok, bad, status="pending", num_runs=2, warmup_runs=0)
    assert engine.execute(run.id) == "completed"
    results = services.results_of(run)
    errors = [r for r in results if r.error_type]
    assert len(results) == 4 and len(errors) == 2
    assert {r.error_type for r in errors} == {"server_error"}
    assert all(r.model == bad for r in errors)
    pooled, _ = services.statistics_of(results)
    assert pooled["n"] == 2  # statistics skip failed samples


@pytest.mark.django_db(transaction=True)
def test_a_malformed_chunk_fails_its_sample_and_the_run_goes_on(llmsim):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    good = make_model(account, model_id="sim/ttft=5/itl=1/n=4")
    broken = make_model(account, model_id="sim/ttft=5/itl=1/n=4/bad=1")  # {"choices":[null]}
    run = make_benchmark_run(good, broken, status="pending", num_runs=2, warmup_runs=0)
    assert engine.execute(run.id) == "completed"
    results = services.results_of(run)
    assert len(results) == 4
    assert {(r.model_id, r.error_type) for r in results} == {
        (good.pk, None),
        (broken.pk, "stream_error"),
    }


@pytest.mark.django_db(transaction=True)
def test_warmups_run_before_the_measured_requests(llmsim):
    import httpx

    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    model = make_model(account, model_id="sim/ttft=30/itl=1/n=2/seed=77")
    run = make_benchmark_run(model, status="pending", num_runs=2, warmup_runs=2)
    engine.execute(run.id)
    log = httpx.get(f"{llmsim}/_sim/requests", params={"limit": 50}).json()["requests"]
    mine = sorted((r for r in log if r["model"] == model.model_id), key=lambda r: r["received_at"])
    assert len(mine) == 4
    first_saved = BenchmarkResult.objects.filter(run=run).order_by("seq").first().created_at
    assert mine[1]["received_at"] < first_saved.timestamp()  # both warm-ups came first


@pytest.mark.django_db
def test_a_claimed_run_is_not_executed_twice(llmsim):
    run = make_benchmark_run(make_model(), status="running")
    assert engine.execute(run.id) == "running"
    assert not BenchmarkResult.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_benchmark_within_seconds(llmsim):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    model = make_model(account, model_id="sim/ttft=10/itl=100/n=100")
    run = make_benchmark_run(model, status="pending", num_runs=5, warmup_runs=0, max_tokens=50)
    worker = threading.Thread(target=engine.execute, args=(run.id,))
    worker.start()
    deadline = time.monotonic() + 5
    while BenchmarkRun.objects.get(pk=run.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    services.cancel(run=run)
    started = time.monotonic()
    worker.join(timeout=10)
    assert not worker.is_alive() and time.monotonic() - started < 4
    run.refresh_from_db()
    assert run.status == "cancelled" and run.completed_at is not None


@pytest.mark.django_db
def test_a_run_whose_worker_died_is_marked_failed_with_a_reason():
    old = timezone.now() - timedelta(minutes=10)
    run = make_benchmark_run(make_model(), status="running", started_at=old, heartbeat_at=old)
    fresh = make_benchmark_run(
        make_model(), status="running", started_at=old, heartbeat_at=timezone.now()
    )
    assert engine.close_stale_runs() == 1
    run.refresh_from_db()
    fresh.refresh_from_db()
    assert run.status == "failed" and "stopped responding" in run.error
    assert fresh.status == "running"


@pytest.mark.django_db(transaction=True)
def test_a_multi_turn_pack_sends_each_turn_with_the_answers_so_far(llmsim):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    model = make_model(account, model_id="sim/ttft=5/itl=1/n=8")
    run = make_benchmark_run(model, status="pending", num_runs=2, prompt_pack="multi_turn")
    assert run.total_requests == 6  # 2 conversations × 3 turns

    assert engine.execute(run.id) == "completed"

    results = services.results_of(run)
    assert sorted(r.turn for r in results) == [1, 1, 2, 2, 3, 3]
    assert all(r.error_type is None for r in results)
    by_turn = {t: [r.input_tokens for r in results if r.turn == t] for t in (1, 2, 3)}
    # Each turn carries the conversation so far: the prompt grows by an answer and a question.
    assert min(by_turn[2]) > max(by_turn[1]) and min(by_turn[3]) > max(by_turn[2])
