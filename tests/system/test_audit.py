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
    event = AuditEvent.objects.get(action="created")

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
    assert AuditEvent.objects.get(pk=event.pk).actor_label == "system"

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


# --- logins -----------------------------------------------------------------------------------

WRONG = "wrong-password-1234"


def no_password_in_the_log(*passwords: str) -> None:
    text = json.dumps([[e.object_label, e.changes] for e in AuditEvent.objects.all()])
    assert not [p for p in passwords if p in text]


def test_logins_are_logged_with_the_user_name_and_address_never_the_password(client, user):
    client.post("/login", {"username": "alice", "password": WRONG}, REMOTE_ADDR="10.3.3.3")
    client.post("/login", {"username": "mallory", "password": WRONG}, REMOTE_ADDR="10.3.3.4")
    failed = events(action="login_failed")
    assert [(e.object_label, e.changes, e.actor_label) for e in failed] == [
        ("alice", {"username": "alice", "ip": "10.3.3.3"}, "anonymous"),
        ("mallory", {"username": "mallory", "ip": "10.3.3.4"}, "anonymous"),
    ]
    response = client.post(
        "/login", {"username": "alice", "password": "pw-alice-123"}, REMOTE_ADDR="10.3.3.5"
    )
    assert response.status_code == 302
    success = only_event(action="logged_in")
    assert (success.actor, success.actor_label) == (user, "alice")
    assert (success.object_type, success.object_id) == ("auth.user", str(user.pk))
    assert success.changes == {"username": "alice", "ip": "10.3.3.5"}
    no_password_in_the_log(WRONG, "pw-alice-123")


def test_the_admin_login_is_logged_too(client):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-12345")
    for password in (WRONG, "pw-root-12345"):
        client.post(
            "/admin/login/", {"username": "root", "password": password}, REMOTE_ADDR="10.4.4.4"
        )
    assert [(e.action, e.changes) for e in events(object_type="auth.user")] == [
        ("login_failed", {"username": "root", "ip": "10.4.4.4"}),
        ("logged_in", {"username": "root", "ip": "10.4.4.4"}),
    ]
    no_password_in_the_log(WRONG, "pw-root-12345")


# --- connection tests -------------------------------------------------------------------------


@pytest.fixture
def gateway(monkeypatch):
    """The gateway's connection test, answering at once; records what it was given."""
    from arguslm.llm import connection

    given = []

    async def test_connection(provider_type, credentials):
        given.append(credentials)
        return {"success": True, "message": "Connected.", "details": {}}

    monkeypatch.setattr(connection, "test_connection", test_connection)
    return given


def test_a_saved_accounts_connection_test_is_logged_with_its_host(api, logged_in, gateway):
    account = make_account(credentials={"base_url": DEAD_URL, "api_key": KEY})
    assert api.post(f"/api/v1/providers/{account.id}/test").json()["success"] is True
    logged_in.post(f"/providers/{account.id}/test")
    tests = events(action="connection_tested")
    assert [e.actor_label for e in tests] == ["api-token:alice", "alice"]
    for event in tests:
        assert (event.object_id, event.object_label) == (str(account.id), str(account))
        assert event.changes == {
            "provider_type": "custom_openai_compatible",
            "host": "http://127.0.0.1:9",
            "saved": True,
            "success": True,
        }
    assert gateway == [{"base_url": DEAD_URL, "api_key": KEY}] * 2
    assert KEY not in json.dumps([e.changes for e in tests])


def test_an_unsaved_connection_test_is_logged_with_the_host_only(api, logged_in, gateway):
    secret_url = "https://user:url-secret@llm.example.com:8443/v1/url-secret?key=url-secret"
    body = {
        "provider_type": "custom_openai_compatible",
        "display_name": "Try",
        "credentials": {"base_url": secret_url, "api_key": KEY},
    }
    assert api.post("/api/v1/providers/test-connection", body, format="json").status_code == 200
    form = {"provider_type": "openai", "cred_api_key": KEY}  # no base URL: OpenAI's own
    assert logged_in.post("/providers/test", form, HTTP_HX_REQUEST="true").status_code == 200
    api_test, page_test = events(action="connection_tested")
    assert (api_test.object_id, api_test.object_label) == (
        "",
        "unsaved custom_openai_compatible account",
    )
    assert api_test.changes == {
        "provider_type": "custom_openai_compatible",
        "host": "https://llm.example.com:8443",
        "saved": False,
        "success": True,
    }
    assert (page_test.actor_label, page_test.changes["host"]) == ("alice", "https://api.openai.com")
    logged = json.dumps([[e.object_label, e.changes] for e in (api_test, page_test)])
    assert "url-secret" not in logged and KEY not in logged
