"""Roles (arguslm.roles): every API operation, page action, the WebSocket and the admin, for
viewer, operator, admin and anonymous.

The tables here say what each role may do, independently of the code's own permission maps:
a write that lands in the wrong role, or a new page action without a permission, fails here.
"""

import asyncio
import re
import uuid

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from arguslm import roles, tokens
from tests.factories import make_benchmark_run, make_model

ROLES = (roles.VIEWER, roles.OPERATOR, roles.ADMIN)

# The API's writes an operator may make (an admin may make every write; a viewer none).
OPERATOR_API = {
    "api_v1_monitoring_run_create",
    "api_v1_benchmarks_create",
    "api_v1_benchmarks_cancel_create",
    "api_v1_benchmarks_destroy",
    "api_v1_benchmark_templates_create",
    "api_v1_benchmark_templates_partial_update",
    "api_v1_benchmark_templates_destroy",
    "api_v1_benchmark_templates_run_create",
    "api_v1_benchmark_templates_baseline_create",
    "api_v1_alerts_acknowledge_create",
    "api_v1_alerts_acknowledge_partial_update",
    "api_v1_alerts_acknowledge_all_create",
    "api_v1_alerts_rules_create",
    "api_v1_alerts_rules_partial_update",
    "api_v1_alerts_rules_destroy",
    "api_v1_alerts_rules_rotate_secret_create",
    "api_v1_alerts_rules_test_create",
    "api_v1_maintenance_windows_create",
    "api_v1_maintenance_windows_partial_update",
    "api_v1_maintenance_windows_destroy",
    "api_v1_slos_create",
    "api_v1_slos_partial_update",
    "api_v1_slos_destroy",
    "api_v1_monitoring_models_baseline_create",
}
# The page actions (URL names) an operator may post to; an admin may post to every one.
OPERATOR_PAGES = {
    "monitoring-run-now",
    "benchmark-start",
    "benchmark-cancel",
    "benchmark-rerun",
    "benchmark-delete",
    "benchmarks-delete-matching",
    "benchmark-template-save",
    "benchmark-template-run",
    "benchmark-template-delete",
    "benchmark-baseline",
    "alert-acknowledge",
    "alerts-acknowledge-all",
    "alert-rule-create",
    "alert-rule",
    "alert-rule-toggle",
    "alert-rule-test",
    "alert-rule-delete",
    "alert-rule-rotate-secret",
    "maintenance-add",
    "maintenance-delete",
    "slo-add",
    "slo-delete",
    "model-baseline-accept",
}
# Pages every signed-in user may post to: their own API tokens, and signing out.
ANYONE_POSTS = {"settings", "logout", "login"}


def operations() -> list[tuple[str, str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method.upper(), path, operation["operationId"])
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if method in ("get", "post", "patch", "delete")
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def user_with(role: str | None, name: str = ""):
    user = get_user_model().objects.create_user(name or f"u-{role}", password="pw-long-enough-1")
    if role:
        roles.assign(user, role)
    return user


def api_as(role: str) -> APIClient:
    client = APIClient()
    key = tokens.issue(user=user_with(role), name=role)[1]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def queued(monkeypatch):
    """No task leaves the process: a pass or benchmark request is accepted and nothing runs."""
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: "task-id")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_api_operation_follows_the_role(role, queued):
    client = api_as(role)
    wrong = []
    for method, path, operation_id in operations():
        response = client.generic(method, concrete(path), "{}", content_type="application/json")
        allowed = (
            method == "GET"
            or role == roles.ADMIN
            or (role == roles.OPERATOR and operation_id in OPERATOR_API)
        )
        if (response.status_code == 403) == allowed:
            wrong.append(f"{role} {method} {path}: {response.status_code}")
    assert wrong == []


@pytest.mark.django_db
def test_anonymous_callers_get_401_everywhere_in_the_api():
    client = APIClient()
    codes = {
        (method, path): client.generic(method, concrete(path)).status_code
        for method, path, _ in operations()
    }
    assert {key: code for key, code in codes.items() if code != 401} == {}


def page_actions() -> list[tuple[str, str]]:
    """(URL name, path) of every page URL of the project (not the API, admin or docs)."""
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and pattern.name:
                route = prefix + str(pattern.pattern)
                if not route.startswith(("api/", "admin/", "openapi", "docs", "redoc", "static")):
                    found.append((pattern.name, "/" + route))

    walk(get_resolver().url_patterns)
    return found


def fill(route: str) -> str:
    return re.sub(r"<(?:\w+:)?\w+>", lambda _: str(uuid.uuid4()), route)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_page_action_follows_the_role(client, role, queued):
    client.force_login(user_with(role))
    wrong = []
    for name, route in page_actions():
        if name in ANYONE_POSTS:
            continue
        status = client.post(fill(route)).status_code
        if status == 405:
            continue  # a page that takes no POST: nothing to guard
        allowed = role == roles.ADMIN or (role == roles.OPERATOR and name in OPERATOR_PAGES)
        if (status == 403) == allowed:
            wrong.append(f"{role} POST {name}: {status}")
    assert wrong == []


@pytest.mark.django_db
def test_every_page_action_names_its_permission(client, queued):
    """A page view that takes a POST carries ``required_permission`` (arguslm.pages)."""
    root = get_user_model().objects.create_superuser("root", "r@example.com", "pw-long-enough-1")
    client.force_login(root)
    resolver = get_resolver()
    missing = []
    for name, route in page_actions():
        if name in ANYONE_POSTS:
            continue
        path = fill(route)
        takes_post = client.post(path).status_code != 405
        if takes_post and not hasattr(resolver.resolve(path).func, "required_permission"):
            missing.append(name)
    assert missing == []


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in_by_every_page_action(client):
    for name, route in page_actions():
        if name in ANYONE_POSTS:
            continue
        response = client.post(fill(route))
        assert response.status_code in (302, 405), (name, response.status_code)
        if response.status_code == 302:
            assert response["Location"].startswith("/login"), name


@pytest.mark.django_db
def test_a_viewer_sees_no_action_it_cannot_take(client):
    make_model(enabled_for_monitoring=True)
    client.force_login(user_with(roles.VIEWER))
    for page in ("/providers", "/models", "/monitoring", "/benchmarks", "/alerts"):
        html = client.get(page).content.decode()
        posts = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]*)"', html)
        assert [action for action in posts if "logout" not in action] == [], page


@pytest.mark.django_db
def test_an_operator_sees_the_run_and_benchmark_actions_but_not_the_credentials(client):
    make_model(enabled_for_monitoring=True)
    client.force_login(user_with(roles.OPERATOR))
    assert "Run now" in client.get("/monitoring").content.decode()
    providers = client.get("/providers").content.decode()
    assert "Test connection" not in providers and "Add provider" not in providers


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("role", "first"), [(None, "error"), (roles.VIEWER, "progress")])
def test_the_benchmark_websocket_is_for_signed_in_users(role, first):
    import arguslm.asgi  # checks the encryption key outside the event loop

    run = make_benchmark_run(make_model())
    headers = []
    if role:
        key = tokens.issue(user=user_with(role), name="ws")[1]
        headers = [(b"authorization", f"Bearer {key}".encode())]

    async def first_message():
        comm = WebsocketCommunicator(
            arguslm.asgi.application, f"/api/v1/benchmarks/{run.id}/stream", headers=headers
        )
        await comm.connect()
        message = await comm.receive_json_from(timeout=10)
        await comm.disconnect()
        return message

    assert asyncio.run(first_message())["type"] == first


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "status"), [(roles.VIEWER, 403), (roles.OPERATOR, 403), (roles.ADMIN, 200)]
)
def test_the_admin_follows_the_role_too(client, role, status):
    user = user_with(role)
    user.is_staff = True
    user.save()
    client.force_login(user)
    assert client.get("/admin/providers/provideraccount/add/").status_code == status


@pytest.mark.django_db
def test_a_new_user_starts_as_viewer_and_a_superuser_needs_no_role():
    assert roles.role_of(get_user_model().objects.create_user("new")) == roles.VIEWER
    boss = get_user_model().objects.create_superuser("boss", "b@example.com", "pw-long-enough-1")
    assert roles.role_of(boss) == roles.ADMIN and not boss.groups.exists()


@pytest.mark.django_db
def test_users_from_before_roles_keep_working_after_the_upgrade():
    users = get_user_model().objects
    staff = users.create_user("staff", is_staff=True)
    plain = users.create_user("plain")
    Group.objects.all().delete()  # as before roles existed
    roles.sync_groups()
    assert roles.role_of(staff) == roles.ADMIN and roles.role_of(plain) == roles.OPERATOR
    roles.sync_groups()  # later migrations assign nobody again
    newcomer = users.create_user("later")
    roles.sync_groups()
    assert roles.role_of(newcomer) == roles.VIEWER


def test_the_role_tables_name_real_operations_and_pages():
    assert {operation_id for _, _, operation_id in operations()} >= OPERATOR_API
    assert {name for name, _ in page_actions()} >= OPERATOR_PAGES


@pytest.mark.django_db
def test_set_role_gives_a_user_exactly_one_role():
    from io import StringIO

    from django.core.management import call_command

    user = user_with(roles.VIEWER, "carol")
    call_command("set_role", "carol", "operator", stdout=StringIO())
    assert roles.role_of(user) == roles.OPERATOR
    assert user.groups.count() == 1
