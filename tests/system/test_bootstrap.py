from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management import CommandError, call_command

from alerts.models import AlertRule
from arguslm import tokens
from benchmarks.models import BenchmarkTemplate
from providers import tags
from providers.models import ProviderAccount

pytestmark = pytest.mark.django_db


def bootstrap() -> str:
    out = StringIO()
    call_command("bootstrap", stdout=out)
    return out.getvalue()


def test_the_first_run_creates_an_admin_and_prints_its_password_and_token_once(monkeypatch):
    monkeypatch.setenv("ARGUSLM_ADMIN_PASSWORD", "chosen-pw-123")
    first = bootstrap()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("chosen-pw-123")
    assert "chosen-pw-123" in first
    key = first.split("API token: ")[1].split()[0]
    assert tokens.find(key).user == admin and admin.api_tokens.get().scope == "full"
    second = bootstrap()
    assert "password" not in second and get_user_model().objects.count() == 1


def test_the_generated_admin_password_passes_the_password_validators(monkeypatch):
    monkeypatch.delenv("ARGUSLM_ADMIN_PASSWORD", raising=False)
    password = bootstrap().split("password:")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password(password)
    validate_password(password, admin)  # raises ValidationError if not


@pytest.mark.parametrize("weak", ["admin", "password1234", "123456789012", "admin@localhost1"])
def test_a_weak_chosen_admin_password_is_refused_before_any_user_exists(monkeypatch, weak):
    monkeypatch.setenv("ARGUSLM_ADMIN_PASSWORD", weak)
    with pytest.raises(CommandError, match="ARGUSLM_ADMIN_PASSWORD is refused: "):
        bootstrap()
    assert not get_user_model().objects.exists()


def test_the_demo_account_and_rule_are_created_once(settings):
    settings.DEMO, settings.LLMSIM_URL = True, "http://127.0.0.1:8100"
    bootstrap()
    bootstrap()
    account = ProviderAccount.objects.get(is_demo=True)
    assert account.display_name == "Local simulator"
    assert account.base_url == "http://127.0.0.1:8100/v1"
    assert account.models.filter(enabled_for_monitoring=True).count() == 5
    assert list(account.tags.values_list("name", flat=True)) == ["env:staging", "region:local"]
    assert tags.filter_models(account.models.all(), ["team:search"]).count() == 2
    assert AlertRule.objects.filter(rule_type="any_model_down").count() == 1
    nightly = BenchmarkTemplate.objects.get()  # a saved benchmark, its baseline yet to choose
    assert (nightly.name, nightly.cron, len(nightly.spec["model_ids"])) == (
        "Demo nightly",
        "0 3 * * *",
        2,
    )
    assert nightly.next_run_at is not None and nightly.baseline_run is None
    assert AlertRule.objects.filter(rule_type="benchmark_regression").count() == 1


def test_no_demo_data_when_the_demo_is_off(settings):
    settings.DEMO = False
    bootstrap()
    assert not ProviderAccount.objects.exists()
