"""API tokens: stored as digests, named, scoped, expiring, revocable, shown once."""

import base64
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from arguslm import tokens
from arguslm.models import ApiToken, AuditEvent


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_key_is_shown_once_and_stored_only_as_its_digest(user):
    token, key = tokens.issue(user=user, name="CI")
    assert key.startswith("alm_") and len(key) > 40
    assert token.prefix == key[:12] and token.digest == tokens.digest(key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM arguslm_apitoken")
        row = " ".join(str(value) for value in cursor.fetchone())
    assert key not in row and key[12:] not in row
    assert tokens.find(key) == token
    assert (
        tokens.find(key + "x") is None and tokens.find("") is None and tokens.find("a\x00") is None
    )


def test_an_expired_token_or_one_of_an_inactive_user_does_not_work(user):
    token, key = tokens.issue(user=user, name="short", expires_in=timedelta(days=1))
    assert client_with(key).get("/api/v1/providers").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client_with(key).get("/api/v1/providers").status_code == 401
    _, other = tokens.issue(user=user, name="other")
    user.is_active = False
    user.save()
    assert client_with(other).get("/api/v1/providers").status_code == 401


def test_use_is_recorded_at_most_once_a_minute(user):
    token, key = tokens.issue(user=user, name="CI")
    assert token.last_used_at is None
    client = client_with(key)
    client.get("/api/v1/providers")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    client.get("/api/v1/providers")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first


@pytest.mark.parametrize(
    ("scope", "read", "write", "metrics"),
    [("full", 200, 201, 200), ("read", 200, 403, 200), ("metrics", 403, 403, 200)],
)
def test_a_scope_limits_what_a_token_may_do(user, scope, read, write, metrics):
    _, key = tokens.issue(user=user, name=scope, scope=scope)
    client = client_with(key)
    assert client.get("/api/v1/providers").status_code == read
    body = {"name": "r", "rule_type": "any_model_down"}
    response = client.post("/api/v1/alerts/rules", body, format="json")
    assert response.status_code == write
    if write == 403:
        assert f"scope ({scope})" in response.json()["detail"]
    assert client.get("/metrics").status_code == metrics


def test_the_sdk_basic_auth_form_carries_a_token(user):
    _, key = tokens.issue(user=user, name="sdk")
    basic = base64.b64encode(f"token:{key}".encode()).decode()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {basic}")
    assert client.get("/api/v1/providers").status_code == 200


def test_the_websocket_takes_full_and_read_tokens_only(user):
    from arguslm.auth import user_for_token

    scopes = (ApiToken.Scope.FULL, ApiToken.Scope.READ)
    for scope, works in (("full", True), ("read", True), ("metrics", False)):
        _, key = tokens.issue(user=user, name=scope, scope=scope)
        assert (user_for_token(key, scopes=scopes) == user) is works


def test_the_settings_page_creates_lists_and_revokes_tokens(logged_in, user):
    response = logged_in.post(
        "/settings",
        {"action": "create-token", "name": "Grafana", "scope": "metrics", "expires": "30"},
    )
    body = response.content.decode()
    token = user.api_tokens.get()
    key = body.split('data-testid="new-token">')[1].split("<")[0]
    assert tokens.find(key) == token and token.scope == "metrics"
    assert token.expires_at - timezone.now() > timedelta(days=29)
    listed = logged_in.get("/settings").content.decode()
    assert "Grafana" in listed and token.prefix in listed and key not in listed

    response = logged_in.post("/settings", {"action": "revoke-token", "token_id": token.pk})
    assert response.status_code == 302 and not ApiToken.objects.exists()
    assert tokens.find(key) is None
    actions = list(
        AuditEvent.objects.filter(object_type="arguslm.apitoken").values_list("action", flat=True)
    )
    assert sorted(actions) == ["created", "deleted"]


def test_nobody_revokes_another_users_token(logged_in, django_user_model):
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-12345")
    token, _ = tokens.issue(user=bob, name="bob's")
    logged_in.post("/settings", {"action": "revoke-token", "token_id": token.pk})
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_a_token_needs_a_name(logged_in, user):
    body = logged_in.post(
        "/settings", {"action": "create-token", "name": " ", "scope": "full", "expires": "never"}
    ).content.decode()
    assert "Not created" in body and not user.api_tokens.exists()


def test_drf_create_token_still_prints_a_working_token(user):
    out = StringIO()
    call_command("drf_create_token", "alice", stdout=out)
    key = out.getvalue().split("Generated token ")[1].split()[0]
    assert tokens.find(key).user == user
    call_command("drf_create_token", "alice", "-r", stdout=StringIO())
    assert tokens.find(key) is None and user.api_tokens.count() == 1


@pytest.mark.django_db(transaction=True)  # SQLite's schema editor cannot run in a transaction
def test_keys_issued_before_named_tokens_keep_working_and_leave_no_plain_copy(user):
    """The migration moves DRF authtoken's plain keys into digests and drops its table."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("arguslm.migrations.0003_api_tokens")
    old_key = "0123456789abcdef0123456789abcdef01234567"
    with connection.schema_editor() as editor:
        editor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "user_id integer NOT NULL, created timestamp with time zone NOT NULL)"
            if connection.vendor == "postgresql"
            else "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "user_id integer NOT NULL, created datetime NOT NULL)"
        )
        editor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)", [old_key, user.pk, timezone.now()]
        )
        migration.move_old_tokens(apps, editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    assert tokens.find(old_key).user == user
