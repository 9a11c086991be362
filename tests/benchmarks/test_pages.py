"""The Benchmarks pages: every view anonymous and logged in, the start form's success and each
bad input, the run page in each state, the polling endpoint, cancel, re-run and delete. The task
queue is recorded, not run; results are written to the database directly."""

import json
import re

import pytest

from benchmarks.models import BenchmarkResult, BenchmarkRun
from tests.factories import make_account, make_benchmark_result, make_benchmark_run, make_model

pytestmark = pytest.mark.django_db

MISSING = "9b2f6c1e-7a44-4c39-9f0e-2d2f5a0c1b11"


@pytest.fixture
def queued(monkeypatch):
    """Record django-q2 enqueues instead of running the engine."""
    calls = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda func, *args, **kw: calls.append((func, args))
    )
    return calls


@pytest.fixture
def models():
    account = make_account(display_name="Simulator")
    return [
        make_model(account, model_id="sim/fast", custom_name="Fast"),
        make_model(account, model_id="sim/slow"),
    ]


def start_form(models, **overrides) -> dict:
    form = {
        "model_ids": [str(m.pk) for m in models],
        "prompt_pack": "health_check",
        "num_runs": "2",
        "max_tokens": "64",
        "concurrency": "1",
        "warmup_runs": "0",
        "name": "Smoke",
    }
    form.update(overrides)
    return form


# --- anonymous ----------------------------------------------------------------------------------

GETS = ["/benchmarks", "/benchmarks/{r}", "/benchmarks/{r}/progress"]
POSTS = ["/benchmarks/start", "/benchmarks/{r}/cancel", "/benchmarks/{r}/rerun"]


@pytest.mark.parametrize("url", GETS)
def test_pages_redirect_anonymous_visitors_to_login(client, models, url):
    run = make_benchmark_run(*models)
    response = client.get(url.format(r=run.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")


@pytest.mark.parametrize("url", POSTS)
def test_actions_redirect_anonymous_visitors_and_change_nothing(client, models, queued, url):
    run = make_benchmark_run(*models, status=BenchmarkRun.Status.RUNNING)
    response = client.post(url.format(r=run.pk), start_form(models))
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")
    run.refresh_from_db()
    assert not run.cancel_requested and run.status == BenchmarkRun.Status.RUNNING
    assert BenchmarkRun.objects.count() == 1
    assert queued == []


def test_an_anonymous_delete_is_redirected_and_deletes_nothing(client, models):
    run = make_benchmark_run(*models)
    response = client.post(f"/benchmarks/{run.pk}/delete")
    assert response["Location"].startswith("/login?next=")
    assert BenchmarkRun.objects.filter(pk=run.pk).exists()


def test_the_sidebar_links_the_benchmarks_page(logged_in):
    body = logged_in.get("/dashboard").content.decode()
    assert 'href="/benchmarks"' in body


def test_an_unknown_run_is_a_404(logged_in):
    assert logged_in.get(f"/benchmarks/{MISSING}").status_code == 404
    assert logged_in.get(f"/benchmarks/{MISSING}/progress").status_code == 404
    assert logged_in.post(f"/benchmarks/{MISSING}/cancel").status_code == 404


# --- benchmarks page ----------------------------------------------------------------------------


def test_the_form_offers_benchmark_models_of_enabled_accounts_grouped_by_account(logged_in, models):
    other = make_account(display_name="Team vLLM")
    make_model(other, model_id="llama-3-8b")
    make_model(other, model_id="not-offered", enabled_for_benchmark=False)
    off = make_account(display_name="Switched off", enabled=False)
    make_model(off, model_id="hidden-model")

    response = logged_in.get("/benchmarks")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Simulator" in body and "Team vLLM" in body
    assert "Fast" in body and "sim/fast" in body and "sim/slow" in body and "llama-3-8b" in body
    assert "not-offered" not in body and "hidden-model" not in body
    assert "Switched off" not in body
    assert body.count('name="model_ids"') == 3
    assert "Shakespeare (≈150 tokens)" in body
    assert "Liveness (minimal cost) (≈2 tokens)" in body
    for name, value in [("num_runs", 3), ("max_tokens", 200), ("concurrency", 1)]:
        assert re.search(rf'name="{name}" min="\d+" max="\d+" value="{value}"', body)
    assert 'name="warmup_runs" min="0" max="5" value="1"' in body
    assert "0 selected" in body


def test_without_benchmark_models_the_form_explains_where_to_enable_them(logged_in):
    body = logged_in.get("/benchmarks").content.decode()
    assert "No model is offered for benchmarks yet" in body
    assert "No benchmarks yet" in body


def test_the_history_lists_runs_with_status_link_date_counts_and_pack(logged_in, models):
    done = make_benchmark_run(*models, name="Done run", num_runs=2, prompt_pack="shakespeare")
    make_benchmark_result(models[0], run=done, seq=1)
    make_benchmark_result(models[1], run=done, seq=2)
    failed = {"status": BenchmarkRun.Status.FAILED, "error": "Engine error"}
    make_benchmark_run(*models, name="Failed run", **failed)
    make_benchmark_run(models[0], name="Queued run", status=BenchmarkRun.Status.PENDING, num_runs=2)

    body = logged_in.get("/benchmarks").content.decode()
    assert 'class="pill run-status status-completed"' in body
    assert 'class="pill run-status status-failed"' in body
    assert 'class="pill run-status status-pending"' in body
    assert f'href="/benchmarks/{done.pk}">Done run</a>' in body
    assert f"{done.created_at:%Y-%m-%d %H:%M}" in body
    assert "2 / 4" in body and "0 / 2" in body
    assert "Shakespeare" in body
    # A live run makes the table refresh itself.
    assert 'hx-trigger="every 3s"' in body


def test_the_history_does_not_poll_when_every_run_is_finished(logged_in, models):
    make_benchmark_run(*models)
    assert "every 3s" not in logged_in.get("/benchmarks").content.decode()


def test_the_history_shows_twenty_runs_per_page(logged_in, models):
    for i in range(23):
        make_benchmark_run(*models, name=f"Run {i:02d}")
    first = logged_in.get("/benchmarks").content.decode()
    assert first.count('class="run-row"') == 20
    assert "1–20 of 23" in first and 'href="/benchmarks?page=2#history"' in first
    second = logged_in.get("/benchmarks?page=2").content.decode()
    assert second.count('class="run-row"') == 3
    assert "Run 00" in second and "Run 22" not in second


def test_htmx_refreshes_only_the_history_table(logged_in, models):
    make_benchmark_run(*models, status=BenchmarkRun.Status.RUNNING)
    response = logged_in.get(
        "/benchmarks", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="benchmarks-history"
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="benchmarks-history"')
    assert "New benchmark" not in body
    assert "HX-Target" in response["Vary"]


def test_the_history_filters_by_name_and_status_and_keeps_them_in_page_links(logged_in, models):
    for i in range(25):
        make_benchmark_run(*models, name=f"Nightly {i:02d}")
    make_benchmark_run(*models, name="Nightly failed", status=BenchmarkRun.Status.FAILED)
    make_benchmark_run(*models, name="Ad hoc")
    body = logged_in.get("/benchmarks?q=nightly&status=completed").content.decode()
    assert 'data-testid="match-count">25 runs match the filters' in body
    assert "Nightly failed" not in body and "Ad hoc" not in body
    assert 'href="/benchmarks?q=nightly&amp;status=completed&amp;page=2#history"' in body
    assert "Nightly failed" in logged_in.get("/benchmarks?status=failed").content.decode()
    # Junk filter values are ignored, never a 500.
    assert logged_in.get("/benchmarks?status=exploded&q=%00&page=x").status_code == 200


def test_deleting_all_matching_finished_runs_keeps_live_runs_and_baselines(logged_in, models):
    from benchmarks.models import BenchmarkTemplate

    old = [make_benchmark_run(*models, name=f"Old {i}") for i in range(3)]
    live = make_benchmark_run(*models, name="Old live", status=BenchmarkRun.Status.RUNNING)
    kept = make_benchmark_run(*models, name="Other")
    make_benchmark_result(models[0], run=old[0], seq=1)
    BenchmarkTemplate.objects.create(
        name="Nightly", spec={"model_ids": [str(models[0].pk)]}, baseline_run=old[2]
    )
    body = logged_in.get("/benchmarks?q=old").content.decode()
    assert "Delete all 3 matching finished runs and their results?" in body
    response = logged_in.post(
        "/benchmarks/delete-matching", {"q": "old", "count": "3"}, follow=True
    )
    html = response.content.decode()
    assert "Deleted 2 runs and their results. Kept 1: the baseline of a saved benchmark." in html
    assert response.redirect_chain[-1][0] == "/benchmarks?q=old#history"
    left = set(BenchmarkRun.objects.values_list("name", flat=True))
    assert left == {"Old 2", "Old live", "Other"}
    assert live.pk and kept.pk
    # A stale count changes nothing.
    response = logged_in.post("/benchmarks/delete-matching", {"count": "9"}, follow=True)
    assert "2 finished runs match now, not 9 as confirmed" in response.content.decode()
    assert BenchmarkRun.objects.count() == 3


# --- starting a run -----------------------------------------------------------------------------


def test_starting_a_benchmark_stores_it_queues_it_and_opens_its_page(
    logged_in, user, models, queued
):
    response = logged_in.post("/benchmarks/start", start_form(models))
    run = BenchmarkRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/benchmarks/{run.pk}"
    assert run.name == "Smoke" and run.status == BenchmarkRun.Status.PENDING
    assert run.model_ids == [str(m.pk) for m in models]
    assert (run.prompt_pack, run.num_runs, run.max_tokens) == ("health_check", 2, 64)
    assert (run.concurrency, run.warmup_runs, run.created_by) == (1, 0, user)
    assert queued == [("benchmarks.tasks.execute", (str(run.pk),))]
    page = logged_in.get(response["Location"]).content.decode()
    assert "Started “Smoke”." in page


def test_a_blank_name_gets_a_dated_default(logged_in, models, queued):
    logged_in.post("/benchmarks/start", start_form(models, name="  "))
    assert BenchmarkRun.objects.get().name.startswith("Benchmark 20")


BAD_INPUTS = [
    ({"model_ids": []}, "Choose at least one model."),
    ({"prompt_pack": "poetry"}, "Unknown prompt pack &#x27;poetry&#x27;"),
    ({"num_runs": "0"}, "Ensure this value is greater than or equal to 1."),
    ({"num_runs": "11"}, "Ensure this value is less than or equal to 10."),
    ({"max_tokens": "0"}, "Ensure this value is greater than or equal to 1."),
    ({"max_tokens": "4097"}, "Ensure this value is less than or equal to 4096."),
    ({"concurrency": "11"}, "Ensure this value is less than or equal to 10."),
    ({"warmup_runs": "6"}, "Ensure this value is less than or equal to 5."),
    ({"warmup_runs": "-1"}, "Ensure this value is greater than or equal to 0."),
    ({"num_runs": "three"}, "A valid integer is required."),
    ({"model_ids": ["not-a-uuid"]}, "Must be a valid UUID."),
    ({"model_ids": [MISSING]}, f"{MISSING} does not exist."),
    ({"name": "x" * 256}, "Ensure this field has no more than 255 characters."),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUTS)
def test_bad_input_is_explained_and_starts_nothing(logged_in, models, queued, overrides, message):
    response = logged_in.post("/benchmarks/start", start_form(models, **overrides))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Not started: fix the highlighted fields." in body
    assert message in body
    assert 'aria-invalid="true"' in body or "model-ids-error" in body
    assert not BenchmarkRun.objects.exists()
    assert queued == []


def test_a_model_switched_off_for_benchmarks_is_refused(logged_in, models, queued):
    models[1].enabled_for_benchmark = False
    models[1].save()
    body = logged_in.post("/benchmarks/start", start_form(models)).content.decode()
    assert "sim/slow" in body and "is not enabled for benchmarks" in body
    assert not BenchmarkRun.objects.exists()


def test_a_model_of_a_disabled_account_is_refused(logged_in, models, queued):
    account = models[0].provider_account
    account.enabled = False
    account.save()
    body = logged_in.post("/benchmarks/start", start_form(models)).content.decode()
    assert "belongs to a disabled provider account" in body
    assert not BenchmarkRun.objects.exists()


def test_a_rejected_form_keeps_what_was_typed_and_chosen(logged_in, models, queued):
    form = start_form(models[:1], num_runs="99", max_tokens="321", name="Keep me")
    body = logged_in.post("/benchmarks/start", form).content.decode()
    assert f'value="{models[0].pk}" checked' in body
    assert f'value="{models[1].pk}">' in body
    assert 'value="321"' in body and 'value="Keep me"' in body and 'value="99"' in body
    assert '<option value="health_check" selected>' in body


# --- run page -----------------------------------------------------------------------------------


def test_a_finished_run_shows_settings_statistics_charts_and_every_sample(logged_in, models):
    run = make_benchmark_run(*models, prompt_pack="shakespeare", max_tokens=128)
    make_benchmark_result(models[0], run=run, seq=1, ttft_ms=51.0)
    make_benchmark_result(models[1], run=run, seq=2, token_source="estimate")
    make_benchmark_result(models[0], run=run, seq=3, ttft_ms=53.0)
    make_benchmark_result(
        models[1], run=run, seq=4, error_type="timeout", error="No token within 60 s."
    )

    response = logged_in.get(f"/benchmarks/{run.pk}")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="run-status" data-run-status>completed<' in body
    assert "Shakespeare (≈150 tokens)" in body
    assert "<dt>Max tokens</dt><dd>128</dd>" in body
    # Statistics: one row per model; Fast's TTFT p50 is the median of 51 and 53.
    assert body.count('class="stats-row"') == 2
    assert "52.0" in body
    assert "time to first token-bearing chunk" in body
    assert "tok/s = decode speed excluding TTFT" in body
    assert 'title="End-to-end throughput: output tokens / (latency / 1000), TTFT included"' in body
    # Every sample, the failed one with its error.
    assert body.count('class="sample-row') == 4
    assert "timeout" in body and "No token within 60 s." in body
    assert "estimate" in body
    # Chart data for the page's JS, and the vendored Chart.js.
    data = json.loads(re.search(r'id="chart-data" type="application/json">(.*?)</script>', body)[1])
    assert [m["name"] for m in data["models"]] == ["Fast", "sim/slow"]
    assert [s["v"] for s in data["models"][0]["ttft"]] == [51.0, 53.0]
    assert len(data["models"][1]["tps"]) == 1
    assert "vendor/chart.js/dist/chart.umd.js" in body
    # Exports through the API, which the session authenticates.
    for query in ("format=json", "format=csv&amp;table=results", "format=csv&amp;table=statistics"):
        assert f"/api/v1/benchmarks/{run.pk}/export?{query}" in body
    assert f'action="/benchmarks/{run.pk}/delete"' in body
    assert f'action="/benchmarks/{run.pk}/cancel"' not in body
    assert "data-live" not in body


def test_the_pages_have_no_executable_inline_script(logged_in, models):
    run = make_benchmark_run(*models)
    make_benchmark_result(models[0], run=run, seq=1)
    for url in ("/benchmarks", f"/benchmarks/{run.pk}"):
        body = logged_in.get(url).content.decode()
        for tag in re.findall(r"<script[^>]*>", body):
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert not re.search(r"\son[a-z]+=", body)


def test_a_live_run_shows_progress_and_its_results_so_far(logged_in, models):
    run = make_benchmark_run(*models, status=BenchmarkRun.Status.RUNNING, num_runs=2)
    make_benchmark_result(models[0], run=run, seq=1)
    body = logged_in.get(f"/benchmarks/{run.pk}").content.decode()
    assert "data-live" in body
    assert f'data-stream-path="/api/v1/benchmarks/{run.pk}/stream"' in body
    assert f'data-progress-url="/benchmarks/{run.pk}/progress"' in body
    assert 'data-last-seq="1"' in body
    assert "1 / 4" in body and 'max="4" value="1"' in body
    assert body.count('class="sample-row') == 1
    assert f'action="/benchmarks/{run.pk}/cancel"' in body
    assert f'action="/benchmarks/{run.pk}/delete"' not in body
    assert "chart.umd.js" not in body


def test_a_failed_run_shows_its_error(logged_in, models):
    run = make_benchmark_run(*models, status=BenchmarkRun.Status.FAILED, error="Engine error: boom")
    body = logged_in.get(f"/benchmarks/{run.pk}").content.decode()
    assert "status-failed" in body
    assert "Engine error: boom" in body
    assert "This run saved no measured request." in body


def test_the_progress_endpoint_returns_the_results_after_a_seq(logged_in, models):
    run = make_benchmark_run(*models, status=BenchmarkRun.Status.RUNNING, num_runs=2)
    for seq in (1, 2, 3):
        make_benchmark_result(models[seq % 2], run=run, seq=seq)
    data = logged_in.get(f"/benchmarks/{run.pk}/progress?after=1").json()
    assert data["status"] == "running" and data["finished"] is False
    assert (data["completed"], data["total"]) == (3, 4)
    assert [r["seq"] for r in data["results"]] == [2, 3]
    assert data["results"][0]["model_name"] == "Fast"
    assert set(data["results"][0]) >= {"ttft_ms", "tps_excluding_ttft", "total_latency_ms"}

    run.status = BenchmarkRun.Status.COMPLETED
    run.save()
    data = logged_in.get(f"/benchmarks/{run.pk}/progress?after=junk").json()
    assert data["finished"] is True and len(data["results"]) == 3


# --- cancel, re-run, delete ---------------------------------------------------------------------


def test_cancelling_a_pending_run_stops_it_at_once(logged_in, models):
    run = make_benchmark_run(*models, status=BenchmarkRun.Status.PENDING)
    response = logged_in.post(f"/benchmarks/{run.pk}/cancel", follow=True)
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.CANCELLED
    assert "Benchmark cancelled." in response.content.decode()


def test_cancelling_a_running_run_asks_the_engine_to_stop(logged_in, models):
    run = make_benchmark_run(*models, status=BenchmarkRun.Status.RUNNING)
    response = logged_in.post(f"/benchmarks/{run.pk}/cancel", follow=True)
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.RUNNING and run.cancel_requested
    body = response.content.decode()
    assert "Cancel requested" in body and "Cancelling…" in body


def test_cancelling_a_finished_run_is_refused(logged_in, models):
    run = make_benchmark_run(*models)
    response = logged_in.post(f"/benchmarks/{run.pk}/cancel", follow=True)
    assert "already finished (completed)" in response.content.decode()
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.COMPLETED


def test_a_rerun_starts_a_new_run_with_the_same_models_and_settings(logged_in, models, queued):
    old = make_benchmark_run(*models, concurrency=2, warmup_runs=0)
    response = logged_in.post(f"/benchmarks/{old.pk}/rerun")
    new = BenchmarkRun.objects.exclude(pk=old.pk).get()
    assert response["Location"] == f"/benchmarks/{new.pk}"
    assert new.status == BenchmarkRun.Status.PENDING and new.name == old.name
    for field in ("model_ids", "prompt_pack", "num_runs", "max_tokens", "concurrency"):
        assert getattr(new, field) == getattr(old, field)
    assert new.warmup_runs == 0
    assert queued == [("benchmarks.tasks.execute", (str(new.pk),))]


def test_a_rerun_whose_models_are_no_longer_offered_is_refused(logged_in, models, queued):
    old = make_benchmark_run(*models)
    models[0].enabled_for_benchmark = False
    models[0].save()
    response = logged_in.post(f"/benchmarks/{old.pk}/rerun", follow=True)
    assert "Cannot re-run:" in response.content.decode()
    assert BenchmarkRun.objects.count() == 1
    assert queued == []


def test_deleting_a_finished_run_removes_it_and_its_results(logged_in, models):
    run = make_benchmark_run(*models, name="Old run")
    make_benchmark_result(models[0], run=run, seq=1)
    response = logged_in.post(f"/benchmarks/{run.pk}/delete", follow=True)
    assert response.redirect_chain[-1][0] == "/benchmarks"
    assert "Deleted “Old run” and its results." in response.content.decode()
    assert not BenchmarkRun.objects.exists() and not BenchmarkResult.objects.exists()


def test_deleting_a_live_run_is_refused(logged_in, models):
    run = make_benchmark_run(*models, status=BenchmarkRun.Status.RUNNING)
    response = logged_in.post(f"/benchmarks/{run.pk}/delete", follow=True)
    assert "Cancel the benchmark before deleting it (it is running)." in response.content.decode()
    assert BenchmarkRun.objects.filter(pk=run.pk).exists()


def test_page_actions_only_accept_post(logged_in, models):
    run = make_benchmark_run(*models)
    for action in ("cancel", "rerun", "delete"):
        assert logged_in.get(f"/benchmarks/{run.pk}/{action}").status_code == 405
    assert logged_in.get("/benchmarks/start").status_code == 405
