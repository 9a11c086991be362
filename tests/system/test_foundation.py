import base64
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from arguslm.envconf import env_bool, persistent_secret
from arguslm.keys import CANARY, verify_encryption_key
from arguslm.models import EncryptionCanary


def test_root_answers_ok_for_api_clients(client):
    response = client.get("/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_root_redirects_a_browser_to_the_dashboard(client):
    response = client.get("/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard"


def test_health_is_public(client):
    response = client.get("/health")
    assert response.json() == {"status": "healthy"}


@pytest.mark.django_db
def test_ready_is_503_until_a_worker_heartbeat_exists(client):
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "worker": "no heartbeat yet"}


@pytest.mark.django_db
def test_ready_is_200_after_the_heartbeat_task_ran(client):
    from arguslm.tasks import heartbeat

    heartbeat()
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


@pytest.mark.django_db
def test_docs_and_schema_are_public_and_need_no_cdn(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    body = docs.content.decode()
    assert "swagger-ui" in body
    assert "cdn." not in body and "jsdelivr" not in body
    schema = client.get("/openapi.json")  # JSON without asking (tools fetch it plainly)
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert client.get("/openapi.yaml").content.startswith(b"openapi: 3.")
    assert client.get("/redoc").status_code == 200


def test_litellm_is_not_imported_when_django_starts():
    code = (
        "import django, os, sys;"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'arguslm.settings');"
        "django.setup();"
        "from django.urls import resolve; resolve('/health');"
        "import arguslm.asgi;"
        "print('litellm' in sys.modules, os.environ.get('LITELLM_LOCAL_MODEL_COST_MAP'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_a_sqlite_database_url_gets_the_embedded_defaults_settings(tmp_path):
    """WAL, a busy timeout and immediate transactions for any SQLite database: without them a
    worker and a web server sharing the file fail with "database is locked"."""
    code = (
        "import django, os;"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'arguslm.settings');"
        "django.setup();"
        "from django.db import connection;"
        "cursor = connection.cursor();"
        "print(cursor.execute('PRAGMA journal_mode').fetchone()[0],"
        " cursor.execute('PRAGMA busy_timeout').fetchone()[0],"
        " connection.settings_dict['OPTIONS']['transaction_mode'])"
    )
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["wal", "20000", "IMMEDIATE"]


def test_env_bool_rejects_anything_but_true_or_false(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be true or false"):
        env_bool("X_FLAG", True)
    monkeypatch.setenv("X_FLAG", "false")
    assert env_bool("X_FLAG", True) is False


def test_a_generated_secret_is_kept_with_mode_600(tmp_path, monkeypatch):
    monkeypatch.delenv("SOME_SECRET", raising=False)
    path = tmp_path / "secret"
    first = persistent_secret("SOME_SECRET", path, kind="fernet")
    assert persistent_secret("SOME_SECRET", path, kind="fernet") == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(base64.urlsafe_b64decode(first)) == 32


def test_a_secret_can_come_from_a_file(tmp_path, monkeypatch):
    (tmp_path / "s").write_text("from-file\n")
    monkeypatch.setenv("OTHER_SECRET_FILE", str(tmp_path / "s"))
    assert persistent_secret("OTHER_SECRET", tmp_path / "unused", kind="django") == "from-file"


@pytest.mark.django_db
def test_the_encryption_canary_detects_a_wrong_key():
    verify_encryption_key()
    assert EncryptionCanary.objects.get().value == CANARY
    # Simulate a database written with another key: the stored ciphertext no longer decrypts.
    from cryptography.fernet import Fernet

    foreign = Fernet(Fernet.generate_key()).encrypt(CANARY.encode()).decode()
    EncryptionCanary.objects.all().delete()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO arguslm_encryptioncanary (value, created_at) VALUES (%s, %s)",
            [foreign, "2026-01-01 00:00:00"],
        )
    with pytest.raises(ImproperlyConfigured, match="does not decrypt"):
        verify_encryption_key()
