"""Each invariant holds whichever way a change arrives: the page, the API, the admin, a shell.

The rules live in the models and services (issue "One write path"); these tests drive every
path against the same rule.
"""

import pytest
from django.contrib.auth import get_user_model
from django.db.models import ProtectedError
from django.test import Client
from django_q.models import Schedule

from alerts.models import AlertEvent
from benchmarks.models import BenchmarkResult
from monitoring.models import MonitoringConfig
from providers.models import LLMModel, ProviderAccount
from tests.factories import (
    make_account,
    make_alert,
    make_benchmark_result,
    make_incident,
    make_model,
    make_rule,
)

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def admin_client():
    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-12345")
    client = Client()
    client.force_login(root)
    return client


def pass_minutes() -> int | None:
    schedule = Schedule.objects.filter(name="arguslm.monitoring-pass").first()
    return schedule.minutes if schedule else None


# --- monitoring settings reconcile the schedules -------------------------------------------


def test_the_api_page_admin_and_shell_all_make_the_schedule_follow_the_settings(
    api, logged_in, admin_client
):
    api.patch("/api/v1/monitoring/config", {"interval_minutes": 7}, format="json")
    assert pass_minutes() == 7

    form = {
        "enabled": "1",
        "interval_choice": "custom",
        "interval_custom": "9",
        "prompt_pack": "health_check",
        "degraded_ttft_ms": "",
        "degraded_latency_ms": "",
        "max_tokens": "32",
        "timeout_seconds": "20",
        "concurrency_per_account": "4",
        "retention_days": "14",
    }
    logged_in.post("/monitoring/settings", form)
    assert pass_minutes() == 9

    config = MonitoringConfig.get()
    url = f"/admin/monitoring/monitoringconfig/{config.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    data = {
        key: value
        for key, value in page.context["adminform"].form.initial.items()
        if value is not None
    }
    data.update(interval_minutes=11, enabled="on")
    data.pop("last_run_at", None)
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert pass_minutes() == 11

    config = MonitoringConfig.get()
    config.enabled = False
    config.save()  # a shell or a worker
    assert pass_minutes() is None


# --- benchmark history is never lost --------------------------------------------------------


def _with_history() -> LLMModel:
    model = make_model(make_account(), model_id="kept-model")
    make_benchmark_result(model)
    return model


def test_a_model_with_benchmark_history_survives_every_delete_path(api, logged_in, admin_client):
    model = _with_history()

    response = api.delete(f"/api/v1/models/{model.pk}")
    assert response.status_code == 409
    assert response.json() == {"detail": "Cannot delete a model that has benchmark history"}

    body = logged_in.post(f"/models/{model.pk}/delete", **HTMX).content.decode()
    assert "Cannot delete a model that has benchmark history" in body

    page = admin_client.post(f"/admin/providers/llmmodel/{model.pk}/delete/", {"post": "yes"})
    assert page.status_code == 200 and "protected" in page.content.decode().lower()
    admin_client.post(
        "/admin/providers/llmmodel/",
        {"action": "delete_selected", "_selected_action": [str(model.pk)], "post": "yes"},
    )

    with pytest.raises(ProtectedError):
        LLMModel.objects.get(pk=model.pk).delete()

    assert LLMModel.objects.filter(pk=model.pk).exists()
    assert BenchmarkResult.objects.filter(model=model).count() == 1


def test_an_account_whose_models_have_history_survives_every_delete_path(
    api, logged_in, admin_client
):
    account = _with_history().provider_account

    response = api.delete(f"/api/v1/providers/{account.pk}")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Cannot delete provider with models that have benchmark history"
    }
    body = logged_in.post(f"/providers/{account.pk}/delete", **HTMX).content.decode()
    assert "Cannot delete provider with models that have benchmark history" in body
    admin_client.post(f"/admin/providers/provideraccount/{account.pk}/delete/", {"post": "yes"})
    with pytest.raises(ProtectedError):
        ProviderAccount.objects.get(pk=account.pk).delete()

    assert ProviderAccount.objects.filter(pk=account.pk).exists()
    assert BenchmarkResult.objects.count() == 1


def test_without_history_each_path_deletes(api, logged_in, admin_client):
    models = [make_model(make_account(), model_id=f"m{i}") for i in range(3)]
    assert api.delete(f"/api/v1/models/{models[0].pk}").status_code == 204
    logged_in.post(f"/models/{models[1].pk}/delete", **HTMX)
    admin_client.post(f"/admin/providers/llmmodel/{models[2].pk}/delete/", {"post": "yes"})
    assert not LLMModel.objects.exists()


# --- creating an account ---------------------------------------------------------------------


def test_the_page_and_the_api_create_accounts_through_one_service(api, logged_in, llmsim):
    credentials = {"base_url": f"{llmsim}/v1"}
    logged_in.post(
        "/providers/add",
        {
            "provider_type": "custom_openai_compatible",
            "display_name": "Page",
            "cred_base_url": credentials["base_url"],
        },
    )
    api.post(
        "/api/v1/providers",
        {
            "provider_type": "custom_openai_compatible",
            "display_name": "API",
            "credentials": credentials,
            "discover_models": True,
        },
        format="json",
    )
    plain = api.post(
        "/api/v1/providers",
        {"provider_type": "custom_openai_compatible", "display_name": "Plain", "credentials": {}},
        format="json",
    )
    assert plain.status_code == 422  # the same validation: a base URL is required

    def discovered(name):
        account = ProviderAccount.objects.get(display_name=name)
        return set(account.models.filter(source="discovered").values_list("model_id", flat=True))

    assert discovered("Page") == discovered("API") != set()


# --- acknowledging alerts ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["api", "api-all", "page", "page-all", "admin"])
def test_acknowledging_is_the_same_from_every_path(path, api, logged_in, admin_client):
    rule = make_rule()
    first, second = (make_alert(rule, incident=make_incident(rule)) for _ in range(2))
    if path == "api":
        api.post(f"/api/v1/alerts/{first.pk}/acknowledge")
        api.post(f"/api/v1/alerts/{first.pk}/acknowledge")  # twice: one event
    elif path == "api-all":
        api.post("/api/v1/alerts/acknowledge-all")
    elif path == "page":
        logged_in.post(f"/alerts/{first.pk}/acknowledge")
    elif path == "page-all":
        logged_in.post("/alerts/acknowledge-all")
    else:
        admin_client.post(
            "/admin/alerts/alert/",
            {"action": "acknowledge", "_selected_action": [str(first.pk)]},
        )
    everyone = path.endswith("-all")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.acknowledged and first.acknowledged_at
    assert second.acknowledged is everyone
    events = AlertEvent.objects.filter(event=AlertEvent.Event.ACKNOWLEDGED)
    assert events.count() == (2 if everyone else 1)
    assert all(e.detail.startswith("by ") for e in events)
