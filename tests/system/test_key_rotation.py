"""Credential key rotation: several keys in ARGUSLM_ENCRYPTION_KEY, and the command that
re-encrypts everything with the first one."""

import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db.models import TextField
from django.db.models.functions import Cast
from encrypted_model_fields import fields as encrypted_fields

from arguslm.keys import CANARY, verify_encryption_key
from arguslm.models import AuditEvent, EncryptionCanary
from providers.models import ProviderAccount
from tests.factories import make_account

pytestmark = pytest.mark.django_db

OLD, NEW, STRANGER = (Fernet.generate_key().decode() for _ in range(3))
CREDENTIALS = {"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-rotate-me"}


@pytest.fixture
def use_keys(monkeypatch):
    """``use_keys(a, b, …)``: run with ARGUSLM_ENCRYPTION_KEY=a,b,… from now on.

    The fields build their MultiFernet once at import, so the test swaps it together with the
    setting the command reads.
    """

    def switch(*keys: str) -> None:
        monkeypatch.setattr(settings, "FIELD_ENCRYPTION_KEY", list(keys), raising=False)
        monkeypatch.setattr(encrypted_fields, "CRYPTER", MultiFernet([Fernet(k) for k in keys]))

    return switch


def raw_values() -> list[bytes]:
    """Every stored ciphertext: provider credentials and the canary."""
    values = []
    for model, field in ((ProviderAccount, "credentials_encrypted"), (EncryptionCanary, "value")):
        rows = model.objects.annotate(raw=Cast(field, TextField())).values_list("raw", flat=True)
        values += [v.encode() for v in rows]
    return values


@pytest.fixture
def written_with_old_key(use_keys):
    use_keys(OLD)
    EncryptionCanary.objects.all().delete()  # the test database's canary used another key
    EncryptionCanary.objects.create(value=CANARY)
    accounts = [make_account(credentials={**CREDENTIALS, "api_key": f"sk-{i}"}) for i in range(3)]
    use_keys(NEW, OLD)
    return accounts


def test_a_comma_separated_key_becomes_a_list_of_keys_and_a_single_key_stays_a_string():
    code = (
        "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'arguslm.settings';"
        "from django.conf import settings as s; print(json.dumps(s.FIELD_ENCRYPTION_KEY))"
    )

    def key_setting(value: str) -> str:
        env = {**os.environ, "ARGUSLM_ENCRYPTION_KEY": value}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr[-1000:]
        return out.stdout.strip()

    assert key_setting(f"{NEW}, {OLD}") == f'["{NEW}", "{OLD}"]'
    assert key_setting(NEW) == f'"{NEW}"'


def test_every_key_decrypts_and_the_first_encrypts(written_with_old_key):
    account = ProviderAccount.objects.get(pk=written_with_old_key[0].pk)
    assert account.credentials["api_key"] == "sk-0"  # old key, still readable
    verify_encryption_key()
    account.credentials = {**CREDENTIALS, "api_key": "sk-fresh"}
    account.save()
    raw = ProviderAccount.objects.annotate(raw=Cast("credentials_encrypted", TextField()))
    token = raw.get(pk=account.pk).raw.encode()
    assert b"sk-fresh" in Fernet(NEW).decrypt(token)


def test_check_reports_the_values_that_still_need_an_old_key(written_with_old_key, capsys):
    with pytest.raises(CommandError, match="4 value"):
        call_command("rotate_encryption_key", "--check")
    assert "4 encrypted value(s): 0 use the first key, 4 still need an older key" in (
        capsys.readouterr().out
    )


def test_rotation_re_encrypts_everything_with_the_first_key(written_with_old_key, capsys):
    call_command("rotate_encryption_key")
    assert "Re-encrypted 4 of 4 encrypted value(s)" in capsys.readouterr().out
    plain = [Fernet(NEW).decrypt(token).decode() for token in raw_values()]
    assert [json.loads(p)["api_key"] for p in plain[:3]] == ["sk-0", "sk-1", "sk-2"]
    assert plain[3] == CANARY

    call_command("rotate_encryption_key", "--check")
    assert "the others can be removed" in capsys.readouterr().out
    event = AuditEvent.objects.get(action="key_rotated")
    assert (event.actor_label, event.changes) == (
        "system",
        {"re_encrypted": 4, "already_current": 0},
    )


def test_after_rotation_the_old_key_can_be_dropped(written_with_old_key, use_keys):
    call_command("rotate_encryption_key")
    use_keys(NEW)
    verify_encryption_key()
    secrets = sorted(a.credentials["api_key"] for a in ProviderAccount.objects.all())
    assert secrets == ["sk-0", "sk-1", "sk-2"]
    # Rotation is not an edit: the accounts' own history is untouched.
    assert not AuditEvent.objects.filter(action="updated").exists()


def test_rotation_is_idempotent(written_with_old_key, capsys):
    call_command("rotate_encryption_key")
    before = raw_values()
    call_command("rotate_encryption_key")
    assert "Re-encrypted 0 of 4 encrypted value(s) with the first key (4 already used it)" in (
        capsys.readouterr().out
    )
    assert raw_values() == before


def test_values_no_configured_key_can_read_stop_the_rotation_before_any_change(
    written_with_old_key, use_keys
):
    use_keys(STRANGER)
    make_account(credentials={**CREDENTIALS, "api_key": "sk-stranger"})
    use_keys(NEW, OLD)
    before = raw_values()
    with pytest.raises(CommandError, match=r"1 value.*decrypt with none of the configured keys"):
        call_command("rotate_encryption_key")
    assert raw_values() == before


def test_without_the_old_key_start_up_refuses_and_explains_how_to_rotate(
    written_with_old_key, use_keys
):
    use_keys(NEW)
    with pytest.raises(ImproperlyConfigured) as err:
        verify_encryption_key()
    message = str(err.value)
    assert "ARGUSLM_ENCRYPTION_KEY=<new key>,<old key>" in message
    assert "rotate_encryption_key" in message


class FakeCluster:
    """Stands in for django-q2's Cluster (the real one installs signal handlers and forks)."""

    started = 0

    def start(self):
        FakeCluster.started += 1


@pytest.fixture
def fake_cluster(monkeypatch):
    from django_q.management.commands import qcluster

    FakeCluster.started = 0
    monkeypatch.setattr(qcluster, "Cluster", FakeCluster)
    return FakeCluster


def test_the_worker_command_is_the_one_that_checks_the_key():
    from django.core.management import get_commands

    assert get_commands()["qcluster"] == "arguslm"


def test_the_worker_cluster_refuses_to_start_with_a_wrong_key(
    written_with_old_key, use_keys, fake_cluster
):
    use_keys(NEW)
    with pytest.raises(CommandError, match="The worker cluster did not start") as err:
        call_command("qcluster")
    assert "ARGUSLM_ENCRYPTION_KEY=<new key>,<old key>" in str(err.value)
    assert fake_cluster.started == 0


def test_the_worker_cluster_starts_with_a_key_that_decrypts(
    written_with_old_key, use_keys, fake_cluster
):
    use_keys(NEW, OLD)
    call_command("qcluster")
    assert fake_cluster.started == 1
