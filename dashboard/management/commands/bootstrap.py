import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from arguslm import tokens
from arguslm.keys import verify_encryption_key


class Command(BaseCommand):
    help = (
        "First-run set-up: check the encryption key, create the admin user and an API token "
        "(printed once), and the demo simulator provider unless ARGUSLM_DEMO=false."
    )

    def handle(self, *args, **options):
        verify_encryption_key()
        User = get_user_model()
        if not User.objects.filter(is_superuser=True).exists():
            chosen = os.environ.get("ARGUSLM_ADMIN_PASSWORD")
            if chosen:  # held to the same password validators as every other password
                try:
                    validate_password(chosen, User(username="admin", email="admin@localhost"))
                except ValidationError as exc:
                    message = " ".join(exc.messages)
                    raise CommandError(f"ARGUSLM_ADMIN_PASSWORD is refused: {message}") from None
            # 16 random URL-safe characters: long enough, and never common or all digits.
            password = chosen or secrets.token_urlsafe(12)
            user = User.objects.create_superuser("admin", "admin@localhost", password)
            _, key = tokens.issue(user=user, name="Created at first start")
            bar = "=" * 64
            self.stdout.write(
                f"\n{bar}\n ArgusLM admin created (shown once, keep it safe):\n"
                f"   user:      admin\n   password:  {password}\n   API token: {key}\n"
                f" Try: curl -H 'Authorization: Bearer {key}' "
                f"http://127.0.0.1:8000/api/v1/providers\n{bar}\n"
            )
        self._demo()

    def _demo(self) -> None:
        from django.conf import settings

        if not settings.DEMO:
            return
        from alerts.models import AlertRule
        from monitoring import slos
        from providers.models import ProviderAccount
        from providers.services import ensure_demo_provider

        first_time = not ProviderAccount.objects.filter(is_demo=True).exists()
        account = ensure_demo_provider(base_url=settings.LLMSIM_URL)
        if first_time:
            AlertRule.objects.get_or_create(
                name="Any monitored model down",
                defaults={
                    "rule_type": AlertRule.RuleType.ANY_MODEL_DOWN,
                    "consecutive_failures": 2,
                },
            )
            slos.save(name="Demo availability", account=account, availability_target=99.0)
            AlertRule.objects.get_or_create(
                name="SLO burning fast",
                defaults={"rule_type": AlertRule.RuleType.SLO_BURN_RATE},
            )
            self._demo_nightly(account)
        self.stdout.write(f"Demo provider ready: {account.display_name} ({settings.LLMSIM_URL})")

    def _demo_nightly(self, account) -> None:
        """A saved benchmark of two simulated models at 03:00 UTC, and a rule that alerts when
        one gets slower than its baseline (which has to be chosen: a run must exist first)."""
        from alerts.models import AlertRule
        from benchmarks import saved
        from benchmarks.models import BenchmarkTemplate

        if BenchmarkTemplate.objects.filter(name="Demo nightly").exists():
            return
        models = account.models.filter(model_id__in=("fast-small", "balanced-medium"))
        spec, _ = saved.checked_spec(
            {
                "model_ids": [str(m.pk) for m in models.order_by("model_id")],
                "prompt_pack": "shakespeare",
                "num_runs": 10,
                "concurrency": 2,
            }
        )
        saved.save(name="Demo nightly", spec=spec, cron="0 3 * * *")
        AlertRule.objects.get_or_create(
            name="Nightly benchmark slower",
            defaults={
                "rule_type": AlertRule.RuleType.BENCHMARK_REGRESSION,
                "threshold_config": {"metric": "ttft", "threshold_percent": 10},
            },
        )
