"""Saved benchmarks in the API (/api/v1/benchmark-templates) and the admin: every rule of a
template, starting one, its baseline and how its last run compares. The task queue is recorded,
not run; results are written to the database directly."""

import json

import pytest

from benchmarks import saved
from benchmarks.models import BenchmarkRun, BenchmarkTemplate
from tests.factories import make_account, make_benchmark_result, make_benchmark_run, make_model

pytestmark = pytest.mark.django_db

BASE = "/api/v1/benchmark-templates"
MISSING = "9b2f6c1e-7a44-4c39-9f0e-2d2f5a0c1b11"


@pytest.fixture
def queued(monkeypatch):
    """Record django-q2 enqueues instead of running the engine."""
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **k: calls.append(func))
    return calls


@pytest.fixture
def model():
    return make_model(make_account(display_name="Sim prod"), model_id="sim/a", custom_name="A")


def body(model, **overrides) -> dict:
    spec = {"model_ids": [str(model.pk)], "prompt_pack": "health_check", "num_runs": 8}
    return {"name": "Nightly", "cron": "0 3 * * *", "spec": spec, **overrides}


def locs(response) -> list:
    return [e["loc"] for e in response.json()["detail"]]


def messages(response) -> str:
    return " ".join(e["msg"] for e in response.json()["detail"])


def finished_run(template, model, ttfts, **kw) -> BenchmarkRun:
    run = make_benchmark_run(model, template=template, name=template.name, **kw)
    for seq, ttft in enumerate(ttfts, start=1):
        make_benchmark_result(model, run=run, seq=seq, ttft_ms=float(ttft))
    return run


# --- the API ------------------------------------------------------------------------------------


def test_every_endpoint_answers_401_to_anonymous_callers(anon, model, queued):
    tpl = saved.save(name="Nightly", spec=body(model)["spec"])
    calls = [
        anon.get(BASE),
        anon.post(BASE, body(model), format="json"),
        anon.get(f"{BASE}/{tpl.pk}"),
        anon.patch(f"{BASE}/{tpl.pk}", {"cron": ""}, format="json"),
        anon.delete(f"{BASE}/{tpl.pk}"),
        anon.post(f"{BASE}/{tpl.pk}/run"),
        anon.post(f"{BASE}/{tpl.pk}/baseline", {"run_id": MISSING}, format="json"),
    ]
    assert [r.status_code for r in calls] == [401] * len(calls)
    assert queued == [] and BenchmarkTemplate.objects.count() == 1


def test_creating_a_template_stores_its_checked_spec_and_its_next_run(api, model):
    response = api.post(BASE, body(model), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["spec"] == {
        "model_ids": [str(model.pk)],
        "prompt_pack": "health_check",
        "max_tokens": 200,
        "num_runs": 8,
        "concurrency": 1,
        "warmup_runs": 1,
        "profile": "fixed",
        "load": None,
        "slo": None,
    }
    assert data["next_run_at"].endswith("T03:00:00Z")
    assert (data["baseline_run_id"], data["last_run"], data["comparison"]) == (None, None, None)
    assert BenchmarkTemplate.objects.get().created_by.username == "alice"


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("0 0 30 2 *", "never fires"),
        ("61 * * * *", "Not a valid cron expression"),
        ("0 3 * *", "needs 5 fields"),
    ],
)
def test_a_bad_cron_is_a_422_naming_it(api, model, cron, fragment):
    response = api.post(BASE, body(model, cron=cron), format="json")
    assert response.status_code == 422
    assert locs(response) == [["body", "cron"]] and fragment in messages(response)


def test_an_unknown_model_in_the_spec_is_a_422_naming_the_spec_s_field(api, model):
    spec = {**body(model)["spec"], "model_ids": [MISSING], "num_runs": 0}
    response = api.post(BASE, body(model, spec=spec), format="json")
    assert response.status_code == 422
    assert sorted(locs(response)) == [["body", "spec", "model_ids"], ["body", "spec", "num_runs"]]
    assert f"{MISSING} does not exist" in messages(response)


def test_a_spec_that_is_not_an_object_is_a_422(api, model):
    response = api.post(BASE, body(model, spec=["x"]), format="json")
    assert response.status_code == 422 and locs(response) == [["body", "spec"]]


def test_a_taken_name_is_a_422_naming_it(api, model):
    assert api.post(BASE, body(model), format="json").status_code == 201
    response = api.post(BASE, body(model, name=" Nightly "), format="json")
    assert response.status_code == 422 and locs(response) == [["body", "name"]]
    assert "already exists" in messages(response)
    other = api.post(BASE, body(model, name="Other"), format="json").json()
    rename = api.patch(f"{BASE}/{other['id']}", {"name": "Nightly"}, format="json")
    assert rename.status_code == 422 and locs(rename) == [["body", "name"]]


def test_clearing_the_cron_or_pausing_clears_the_next_run(api, model):
    created = api.post(BASE, body(model), format="json").json()
    manual = api.patch(f"{BASE}/{created['id']}", {"cron": ""}, format="json").json()
    assert (manual["cron"], manual["next_run_at"]) == ("", None)
    again = api.patch(f"{BASE}/{created['id']}", {"cron": "*/5 * * * *"}, format="json").json()
    assert again["next_run_at"] is not None
    paused = api.patch(f"{BASE}/{created['id']}", {"enabled": False}, format="json").json()
    assert paused["next_run_at"] is None


def test_running_a_template_now_starts_a_linked_run(api, model, queued):
    tpl = saved.save(name="Nightly", spec=body(model)["spec"])
    response = api.post(f"{BASE}/{tpl.pk}/run")
    assert response.status_code == 202
    run = BenchmarkRun.objects.get(pk=response.json()["id"])
    assert (run.template, run.triggered_by, run.name, run.num_runs) == (tpl, "user", "Nightly", 8)
    assert queued == ["benchmarks.tasks.execute"]
    assert api.get(f"{BASE}/{tpl.pk}").json()["last_run"]["id"] == str(run.pk)


def test_running_a_template_whose_model_was_switched_off_is_a_422(api, model, queued):
    tpl = saved.save(name="Nightly", spec=body(model)["spec"])
    model.enabled_for_benchmark = False
    model.save()
    response = api.post(f"{BASE}/{tpl.pk}/run")
    # A service's errors.Invalid is answered like every 422 (it used to be a bare list).
    assert response.status_code == 422 and locs(response) == [["body"]]
    assert "cannot start" in messages(response)
    assert "not enabled for benchmarks" in messages(response)
    assert queued == [] and not BenchmarkRun.objects.exists()


def test_running_a_template_at_the_benchmark_cap_is_a_429(api, model, queued, settings):
    settings.MAX_ACTIVE_BENCHMARKS = 1
    tpl = saved.save(name="Nightly", spec=body(model)["spec"])
    make_benchmark_run(model, status=BenchmarkRun.Status.PENDING)
    response = api.post(f"{BASE}/{tpl.pk}/run")
    assert response.status_code == 429 and "already pending or running" in response.json()["detail"]


def test_the_baseline_must_be_a_completed_run_of_the_template(api, model):
    tpl = saved.save(name="Nightly", spec=body(model)["spec"])
    other = saved.save(name="Other", spec=body(model)["spec"])
    url = f"{BASE}/{tpl.pk}/baseline"
    theirs = make_benchmark_run(model, template=other)
    response = api.post(url, {"run_id": str(theirs.pk)}, format="json")
    assert response.status_code == 422
    assert "not started from the saved benchmark" in messages(response)
    running = make_benchmark_run(model, template=tpl, status="running")
    assert api.post(url, {"run_id": str(running.pk)}, format="json").status_code == 409
    missing = api.post(url, {"run_id": MISSING}, format="json")
    assert missing.status_code == 422 and locs(missing) == [["body", "run_id"]]
    mine = make_benchmark_run(model, template=tpl)
    response = api.post(url, {"run_id": str(mine.pk)}, format="json")
    assert response.status_code == 200 and response.json()["baseline_run_id"] == str(mine.pk)


def test_the_last_run_is_compared_with_the_baseline_per_model(api, model):
    tpl = saved.save(name="Nightly", spec=body(model)["spec"])
    base = finished_run(tpl, model, [200, 198, 202, 201, 199, 200, 203, 197])
    saved.set_baseline(tpl, base)
    data = api.get(f"{BASE}/{tpl.pk}").json()
    assert data["last_run"]["id"] == str(base.pk) and data["comparison"] is None  # the baseline
    last = finished_run(tpl, model, [236, 234, 238, 237, 235, 236, 239, 233])
    data = api.get(BASE).json()[0]
    assert data["last_run"]["id"] == str(last.pk)
    [row] = data["comparison"]
    assert (row["model_id"], row["model_name"], row["level"]) == (str(model.pk), "A", None)
    ttft = row["ttft"]
    assert ttft["change_percent"] == 18.0 and ttft["significant"] and ttft["worse"]
    assert ttft["text"].startswith("+18 % [")
    assert row["latency"]["significant"] is False  # make_benchmark_result's fixed 120 ms


def test_deleting_a_template_keeps_its_runs(api, model):
    tpl = saved.save(name="Nightly", spec=body(model)["spec"])
    run = make_benchmark_run(model, template=tpl)
    assert api.delete(f"{BASE}/{tpl.pk}").status_code == 204
    run.refresh_from_db()
    assert run.template is None and not BenchmarkTemplate.objects.exists()


def test_an_unknown_template_is_a_404_and_a_malformed_id_a_422(api):
    assert api.get(f"{BASE}/{MISSING}").status_code == 404
    assert api.post(f"{BASE}/{MISSING}/run").status_code == 404
    assert api.get(f"{BASE}/not-a-uuid").status_code == 422


# --- the admin ----------------------------------------------------------------------------------


def admin_form(model, **overrides) -> dict:
    spec = json.dumps({"model_ids": [str(model.pk)], "prompt_pack": "health_check"})
    return {"name": "Nightly", "spec": spec, "cron": "0 3 * * *", "enabled": "on", **overrides}


def test_the_admin_saves_a_template_through_the_same_rules(client, model):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "r@x.org", "pw-root-12345")
    client.force_login(root)
    url = "/admin/benchmarks/benchmarktemplate/add/"
    assert client.get(url).status_code == 200
    refused = client.post(url, admin_form(model, cron="0 0 30 2 *"))
    assert refused.status_code == 200 and "never fires" in refused.content.decode()
    assert client.post(url, admin_form(model)).status_code == 302
    tpl = BenchmarkTemplate.objects.get()
    assert tpl.next_run_at is not None and tpl.spec["num_runs"] == 3 and tpl.created_by == root

    other = make_benchmark_run(model)  # not one of its runs
    change = f"/admin/benchmarks/benchmarktemplate/{tpl.pk}/change/"
    response = client.post(change, admin_form(model, baseline_run=str(other.pk)))
    assert response.status_code == 200 and "a baseline must be one of its own runs" in (
        response.content.decode()
    )
