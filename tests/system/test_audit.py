"""The audit log: changes from the API, the pages, the admin and the worker, who made them,
and that credential values never enter it."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from alerts.models import AlertRule
from arguslm.models import AuditEvent
from monitoring.models import MonitoringConfig
from tests.factories import make_account, make_model

pytestmark = pytest.mark.django_db

DEAD_URL = "http://127.0.0.1:9/v1"
KEY = "sk-audit-secret-value-42"


def events(**filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("at", "id"))


def only_event(**filters) -> AuditEvent:
    found = events(**filters)
    assert len(found) == 1, [(e.action, e.object_type, e.changes) for e in found]
    return found[0]


# --- provider accounts ----------------------------------------------------------------------


def test_an_account_created_through_the_api_is_logged_with_its_token_user(api):
    response = api.post(
        "/api/v1/providers",
        {
            "provider_type": "custom_openai_compatible",
            "display_name": "Team vLLM",
            "credentials": {"base_url": DEAD_URL, "api_key": KEY},
        },
        format="json",
    )
    assert response.status_code == 201
    event = only_event(object_type="providers.provideraccount")
    assert event.action == "created"
    assert event.actor.username == "alice"
    assert event.actor_label == "api-token:alice"
    assert event.object_id == response.json()["id"]
    assert event.object_label == "Team vLLM (custom_openai_compatible)"
    assert event.changes["display_name"] == "Team vLLM"
    assert event.changes["credentials"] == {
        "added": ["api_key", "base_url"],
        "removed": [],
        "changed": [],
        # Where the secrets go is recorded (the host, not the URL's path or query).
        "hosts": {"base_url": {"old": None, "new": "http://127.0.0.1:9"}},
    }
    assert KEY not in json.dumps(event.changes)


def test_credential_changes_record_key_names_and_never_values(api):
    account = make_account(
        provider_type="openai", credentials={"api_key": KEY, "organization_id": "org-1"}
    )
    response = api.patch(
        f"/api/v1/providers/{account.id}",
        {
            "display_name": "Renamed",
            "credentials": {"api_key": KEY + "-new", "organization_id": None, "project_id": "p"},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    event = only_event(object_id=str(account.id), action="updated")
    assert event.changes == {
        "display_name": {"old": "Test account", "new": "Renamed"},
        "credentials": {
            "added": ["project_id"],
            "removed": ["organization_id"],
            "changed": ["api_key"],
        },
    }
    assert KEY not in json.dumps(event.changes)


def test_removing_a_credential_from_the_page_is_logged_as_removed(logged_in):
    account = make_account(
        provider_type="openai",
        display_name="OpenAI",
        credentials={"api_key": KEY, "organization_id": "org-1"},
    )
    response = logged_in.post(
        f"/providers/{account.id}/edit",
        {"display_name": "OpenAI", "cred_api_key": "", "cred_organization_id": ""},
    )
    assert response.status_code == 302
    event = only_event(object_id=str(account.id), action="updated")
    assert event.actor_label == "alice"
    assert event.changes == {
        "credentials": {"added": [], "removed": ["organization_id"], "changed": []}
    }


def test_a_save_that_changes_nothing_is_not_logged(api):
    account = make_account()
    response = api.patch(
        f"/api/v1/providers/{account.id}", {"display_name": "Test account"}, format="json"
    )
    assert response.status_code == 200
    assert events(action="updated") == []


def test_toggling_an_account_on_the_page_is_logged(logged_in):
    account = make_account()
    logged_in.post(f"/providers/{account.id}/toggle", {"enabled": "false"})
    event = only_event(object_id=str(account.id), action="updated")
    assert (event.actor_label, event.changes) == ("alice", {"enabled": {"old": True, "new": False}})


def test_deleting_an_account_is_logged_but_its_models_are_not(api):
    account = make_account(display_name="Gone")
    make_model(account)
    assert api.delete(f"/api/v1/providers/{account.id}").status_code == 204
    event = only_event(action="deleted")
    assert (event.object_type, event.object_id) == ("providers.provideraccount", str(account.id))
    assert event.object_label == "Gone (custom_openai_compatible)"
    assert event.actor_label == "api-token:alice"


# --- model switches -------------------------------------------------------------------------


def test_model_switches_are_logged_from_the_api_and_the_page(api, logged_in):
    model = make_model(enabled_for_monitoring=False)
    assert events(object_type="providers.llmmodel") == []  # creation is not logged

    api.patch(f"/api/v1/models/{model.id}", {"enabled_for_monitoring": True}, format="json")
    logged_in.post(f"/models/{model.id}/toggle", {"field": "benchmark", "enabled": "false"})
    api.patch(f"/api/v1/models/{model.id}", {"custom_name": "Nice name"}, format="json")

    first, second = events(object_type="providers.llmmodel")
    assert first.actor_label == "api-token:alice"
    assert first.changes == {"enabled_for_monitoring": {"old": False, "new": True}}
    assert second.actor_label == "alice"
    assert second.changes == {"enabled_for_benchmark": {"old": True, "new": False}}


# --- alert rules and the monitoring config --------------------------------------------------


def test_alert_rules_are_logged_with_their_webhook_secrets_masked(api, logged_in):
    response = api.post(
        "/api/v1/alerts/rules",
        {
            "name": "Anything down",
            "rule_type": "any_model_down",
            "notify_webhook": True,
            "webhook_url": "https://hooks.slack.com/services/T000/B000/SECRETPART",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    rule = AlertRule.objects.get()
    created = only_event(object_type="alerts.alertrule", action="created")
    assert created.changes["name"] == "Anything down"
    assert created.changes["webhook_url"] == {"set": True}
    assert created.changes["webhook_secret"] == {"set": True}
    text = json.dumps(created.changes)
    assert "SECRETPART" not in text and rule.webhook_secret not in text

    api.patch(
        f"/api/v1/alerts/rules/{rule.id}",
        {"webhook_url": "https://hooks.slack.com/services/T000/B000/OTHER", "name": "Down"},
        format="json",
    )
    logged_in.post(f"/alerts/rules/{rule.id}/toggle", {"enabled": "false"})
    by_api, by_page = events(object_type="alerts.alertrule", action="updated")
    assert by_api.changes == {
        "name": {"old": "Anything down", "new": "Down"},
        "webhook_url": {"changed": True},
    }
    assert (by_page.actor_label, by_page.changes) == (
        "alice",
        {"enabled": {"old": True, "new": False}},
    )
    api.delete(f"/api/v1/alerts/rules/{rule.id}")
    assert only_event(object_type="alerts.alertrule", action="deleted").object_label == "Down"


def test_monitoring_config_changes_are_logged_but_pass_bookkeeping_is_not(api):
    config = MonitoringConfig.get()  # created outside a request: by "system"
    assert only_event(object_type="monitoring.monitoringconfig").actor_label == "system"
    response = api.patch(
        "/api/v1/monitoring/config",
        {"interval_minutes": 15, "degraded_ttft_ms": 800},
        format="json",
    )
    assert response.status_code == 200
    event = only_event(object_type="monitoring.monitoringconfig", action="updated")
    assert event.changes == {
        "interval_minutes": {"old": 5, "new": 15},
        "degraded_ttft_ms": {"old": None, "new": 800},
    }
    from django.utils import timezone

    config.refresh_from_db()
    config.last_run_at = timezone.now()
    config.save()  # what every monitoring pass does
    assert len(events(object_type="monitoring.monitoringconfig", action="updated")) == 1


# --- actors and the log itself --------------------------------------------------------------


def test_changes_outside_a_request_are_by_the_system():
    account = make_account()
    account.enabled = False
    account.save()
    assert {e.actor_label for e in events()} == {"system"}
    assert all(e.actor is None for e in events())


def test_the_session_user_is_recorded_for_api_calls_from_the_browser(logged_in):
    account = make_account()
    response = logged_in.patch(
        f"/api/v1/providers/{account.id}",
        data=json.dumps({"enabled": False}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert only_event(action="updated").actor_label == "alice"


def test_audit_events_cannot_be_changed_or_deleted():
    make_account()
    event = AuditEvent.objects.get()
    event.actor_label = "mallory"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


def test_the_admin_shows_the_log_read_only(client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-12345")
    client.force_login(root)
    account = make_account(display_name="Visible in admin")
    event = AuditEvent.objects.get()

    listing = client.get("/admin/arguslm/auditevent/")
    assert listing.status_code == 200
    assert "Visible in admin" in listing.content.decode()
    detail = client.get(f"/admin/arguslm/auditevent/{event.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()  # view-only, no form to submit
    assert client.get("/admin/arguslm/auditevent/add/").status_code == 403
    assert client.get(f"/admin/arguslm/auditevent/{event.pk}/delete/").status_code == 403
    response = client.post(f"/admin/arguslm/auditevent/{event.pk}/change/", {"actor_label": "x"})
    assert response.status_code == 403
    assert AuditEvent.objects.get().actor_label == "system"

    # Changes made in the admin are logged with the admin user.
    response = client.post(
        f"/admin/providers/provideraccount/{account.id}/change/",
        {
            "provider_type": "custom_openai_compatible",
            "display_name": "Renamed in admin",
            "enabled": "on",
            "models-TOTAL_FORMS": "0",
            "models-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = only_event(action="updated")
    assert (event.actor_label, event.changes["display_name"]["new"]) == (
        "root",
        "Renamed in admin",
    )


def test_the_audit_log_command_prints_recent_events(capsys):
    for i in range(3):
        make_account(display_name=f"Account {i}")
    call_command("audit_log", "--limit", "2")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert "system  created  providers.provideraccount" in lines[0]
    assert "'Account 2 (custom_openai_compatible)'" in lines[0]  # newest first
    assert "'Account 1 (custom_openai_compatible)'" in lines[1]


def test_the_audit_log_command_says_when_there_is_nothing(capsys):
    call_command("audit_log")
    assert capsys.readouterr().out.strip() == "No audit events yet."
