"""Saved benchmarks on the Benchmarks pages: saving the start form's settings as a template,
the saved section's verdicts, running and deleting one, and a run made its template's baseline.
The task queue is recorded, not run; results are written to the database directly."""

import pytest

from benchmarks import saved
from benchmarks.models import BenchmarkRun, BenchmarkTemplate
from tests.benchmarks.test_saved_api import body, finished_run
from tests.factories import make_account, make_benchmark_run, make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """Record django-q2 enqueues instead of running the engine."""
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **k: calls.append(func))
    return calls


@pytest.fixture
def model():
    return make_model(make_account(display_name="Sim prod"), model_id="sim/a", custom_name="A")


def save_form(model, **overrides) -> dict:
    form = {
        "model_ids": [str(model.pk)],
        "prompt_pack": "health_check",
        "num_runs": "5",
        "max_tokens": "64",
        "concurrency": "1",
        "warmup_runs": "0",
        "name": "",
        "template_name": "Nightly",
        "cron": "0 3 * * *",
    }
    form.update(overrides)
    return form


def test_the_start_form_s_settings_are_saved_as_a_template(logged_in, model):
    response = logged_in.post("/benchmarks/templates", save_form(model))
    assert response.status_code == 302 and response["Location"] == "/benchmarks"
    tpl = BenchmarkTemplate.objects.get()
    assert (tpl.name, tpl.cron, tpl.spec["num_runs"], tpl.spec["max_tokens"]) == (
        "Nightly",
        "0 3 * * *",
        5,
        64,
    )
    assert "name" not in tpl.spec  # its runs take the template's name
    page = logged_in.get("/benchmarks").content.decode()
    assert "Saved “Nightly”. Next run:" in page
    assert "<code>0 3 * * *</code>" in page and "never run" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cron": "0 0 30 2 *"}, "This cron expression never fires."),
        ({"template_name": ""}, "Name the saved benchmark."),
        ({"model_ids": []}, "Choose at least one model."),
        ({"num_runs": "0"}, "greater than or equal to 1"),
    ],
)
def test_bad_input_is_explained_and_saves_nothing(logged_in, model, overrides, message):
    response = logged_in.post("/benchmarks/templates", save_form(model, **overrides))
    html = response.content.decode()
    assert response.status_code == 200 and not BenchmarkTemplate.objects.exists()
    assert "Not saved:" in html and message in html
    assert '<details class="save-template" open>' in html


def test_the_saved_section_shows_the_last_run_s_verdict_and_runs_or_deletes(
    logged_in, model, queued
):
    tpl = saved.save(name="Nightly", spec=body(model)["spec"])
    saved.set_baseline(tpl, finished_run(tpl, model, [200, 198, 202, 201, 199, 200, 203, 197]))
    last = finished_run(tpl, model, [236, 234, 238, 237, 235, 236, 239, 233])
    html = logged_in.get("/benchmarks").content.decode()
    assert '<span class="change-worse">TTFT p50 +18 % [' in html
    assert f"/benchmarks/compare?a={tpl.baseline_run_id}&amp;b={last.pk}" in html

    response = logged_in.post(f"/benchmarks/templates/{tpl.pk}/run")
    new = BenchmarkRun.objects.get(status="pending")
    assert response["Location"] == f"/benchmarks/{new.pk}" and new.template == tpl
    assert "no significant change" not in html

    logged_in.post(f"/benchmarks/templates/{tpl.pk}/delete")
    assert not BenchmarkTemplate.objects.exists() and BenchmarkRun.objects.count() == 3


def test_an_unchanged_last_run_reads_no_significant_change(logged_in, model):
    tpl = saved.save(name="Nightly", spec=body(model)["spec"])
    saved.set_baseline(tpl, finished_run(tpl, model, [200, 198, 202, 201, 199, 200, 203, 197]))
    finished_run(tpl, model, [201, 197, 203, 200, 199, 198, 202, 200])
    assert "no significant change" in logged_in.get("/benchmarks").content.decode()


def test_a_completed_run_of_a_template_can_be_made_its_baseline_from_its_page(logged_in, model):
    tpl = saved.save(name="Nightly", spec=body(model)["spec"])
    run = finished_run(tpl, model, [200] * 5)
    html = logged_in.get(f"/benchmarks/{run.pk}").content.decode()
    assert "Use as baseline" in html and "which has no baseline yet" in html
    response = logged_in.post(f"/benchmarks/{run.pk}/baseline")
    assert response["Location"] == f"/benchmarks/{run.pk}"
    tpl.refresh_from_db()
    assert tpl.baseline_run == run
    html = logged_in.get(f"/benchmarks/{run.pk}").content.decode()
    assert "this run is its baseline" in html and "Use as baseline" not in html


def test_a_run_without_a_template_offers_no_baseline(logged_in, model):
    run = make_benchmark_run(model)
    assert "Use as baseline" not in logged_in.get(f"/benchmarks/{run.pk}").content.decode()
    response = logged_in.post(f"/benchmarks/{run.pk}/baseline", follow=True)
    assert "not started from a saved benchmark" in response.content.decode()
