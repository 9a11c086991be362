"""Planted webhook URLs, signing secrets and API tokens never leave the server in plain text:
not in any response, page, export, log line or database column (provider keys have their own
test in test_security.py).

Each secret is shown exactly once by design (a token's key, a rule's signing secret, when
created or rotated); those responses are the only ones left out of the search.
"""

import logging

import pytest
from django.apps import apps
from django.db import connection

from alerts.models import AlertRule, Notification
from tests.system.test_security import Leaks

URL_SECRET = "PLANTED-hook-0123456789abcdef"


def database_text() -> str:
    """Every value of every column of every table of the project's models, as stored."""
    chunks = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in apps.get_models():
            cursor.execute(f"SELECT * FROM {quote(model._meta.db_table)}")
            chunks.extend(" ".join(str(v) for v in row) for row in cursor.fetchall())
    return "\n".join(chunks)


@pytest.mark.django_db(transaction=True)
def test_planted_webhook_urls_signing_secrets_and_tokens_stay_secret(
    llmsim, api, user, client, caplog, capfd, sync_tasks
):
    caplog.set_level(logging.DEBUG)
    seen = Leaks()
    hook = f"{llmsim}/hooks/services/{URL_SECRET}"

    # A rule with a webhook (its URL holds the credential), created through the API: the
    # signing secret is in this one response.
    created = api.post(
        "/api/v1/alerts/rules",
        {
            "name": "Hook",
            "rule_type": "any_model_down",
            "notify_webhook": True,
            "webhook_url": hook,
            # Apprise URLs hold their services' tokens too: in the path, and as a password.
            "notify_apprise": True,
            "apprise_urls": (
                f"{hook.replace('http://', 'json://')}-apprise\n"
                f"{llmsim.replace('http://', f'json://user:{URL_SECRET}@')}/x"
            ),
        },
        format="json",
    )
    assert created.status_code == 201
    signing = created.json()["webhook_secret"]
    rule_id = created.json()["id"]
    seen.add("create response, URL only", created.content.decode().replace(signing, "<shown>"))

    # Everything else the API, the pages and the admin show about it.
    for path in (
        "/api/v1/alerts/rules",
        f"/api/v1/alerts/rules/{rule_id}",
        "/api/v1/alerts",
        "/api/v1/alerts/deliveries",
        "/api/v1/alerts/incidents",
    ):
        seen.response(f"API GET {path}", api.get(path))
    seen.response(
        "API PATCH rule",
        api.patch(f"/api/v1/alerts/rules/{rule_id}", {"name": "Hook 2"}, format="json"),
    )
    seen.response("API rule test", api.post(f"/api/v1/alerts/rules/{rule_id}/test"))
    assert Notification.objects.filter(channel="webhook").exists()  # the delivery was tried
    assert Notification.objects.filter(channel="apprise").exists()
    seen.response("API deliveries after the test", api.get("/api/v1/alerts/deliveries"))

    client.force_login(user)
    for path in ("/alerts", f"/alerts/rules/{rule_id}", "/alerts/deliveries", "/settings"):
        seen.response(f"page {path}", client.get(path))
    rule = AlertRule.objects.get(pk=rule_id)
    assert rule.webhook_url == hook and rule.webhook_secret == signing

    # An API token: its key is on the one page that creates it.
    page = client.post(
        "/settings", {"action": "create-token", "name": "CI", "scope": "read", "expires": "30"}
    ).content.decode()
    key = page.split('data-testid="new-token">')[1].split("<")[0]
    assert key.startswith("alm_")
    seen.response("page /settings after", client.get("/settings"))
    reader = api.__class__()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    seen.response("API with the new token", reader.get("/api/v1/alerts/rules"))

    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-12345")
    client.force_login(root)
    for path in (
        "/admin/alerts/alertrule/",
        f"/admin/alerts/alertrule/{rule_id}/change/",
        "/admin/alerts/notification/",
        *(
            f"/admin/alerts/notification/{pk}/change/"
            for pk in Notification.objects.values_list("pk", flat=True)
        ),
        "/admin/arguslm/apitoken/",
        "/admin/arguslm/auditevent/",
    ):
        seen.response(f"admin {path}", client.get(path))

    seen.add("database", database_text())
    for record in caplog.records:
        seen.add(f"log {record.name}", record.getMessage() + (record.exc_text or ""))
    out, err = capfd.readouterr()
    seen.add("stdout/stderr", out + err)

    assert len(seen.seen) > 30
    assert seen.found(URL_SECRET) == []
    assert seen.found(signing) == []
    assert seen.found(key) == []
