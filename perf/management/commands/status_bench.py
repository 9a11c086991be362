"""Time a public status page of 50 models with a year of daily history, uncached and cached,
and the budget and burn rates of a year-long SLO over the same 50 models.

    ARGUSLM_DATA_DIR=/tmp/status-bench manage.py migrate
    ARGUSLM_DATA_DIR=/tmp/status-bench manage.py status_bench

The first run writes its own history (a page never reads raw checks: a year of daily rollups
per model, and incidents), then requests /status/<slug> through the whole Django stack
anonymously. Uncached: the server cache is cleared before each request (the cost of the
first visitor in a minute). Prints p50/p95 and the queries of one uncached render. Target:
≤ 100 ms p95 at 50 models. The SLO (availability and TTFT, 365 days, the account's 50 models)
is computed as the SLOs page, the API and /metrics compute it (monitoring.slos.report).
"""

import random
import time
from datetime import timedelta

from django.core.cache import cache
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import AlertRule, Incident
from arguslm.asgi import freeze_startup_objects
from arguslm.stats import percentile
from dashboard import services
from dashboard.models import StatusPage
from monitoring import rollups, sketch, slos
from monitoring.models import CheckRollup, ModelStatus, Slo
from providers.models import LLMModel, ProviderAccount

SLUG = "status-bench"


class Command(BaseCommand):
    help = "Time a public status page of N models with a year of history (p50/p95, queries)."

    def add_arguments(self, parser):
        parser.add_argument("--models", type=int, default=50)
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--requests", type=int, default=40)

    def handle(self, *args, models, days, requests, **options):
        page = StatusPage.objects.filter(slug=SLUG).first() or self._history(models, days)
        freeze_startup_objects()  # as the web server does once it has started (arguslm.asgi)
        url = f"/status/{page.slug}"
        client = Client()
        client.get(url)  # warm templates and connections
        with CaptureQueriesContext(connection) as queries:
            cache.clear()
            client.get(url)
        shown = page.llm_models.count()
        self.stdout.write(
            f"{connection.vendor}: {shown} models, {CheckRollup.objects.count():,} rollups, "
            f"{Incident.objects.count():,} incidents; {len(queries)} queries per uncached render"
        )
        for label, clear in (("uncached", True), ("cached", False)):
            times = []
            for _ in range(requests):
                if clear:
                    cache.clear()
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url} answered {response.status_code}")
            p50, p95 = percentile(times, 50), percentile(times, 95)
            self.stdout.write(f"  {url} {label:<9} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
        self._slo(page, requests)

    def _slo(self, page: StatusPage, requests: int) -> None:
        account = page.llm_models.first().provider_account
        slo = Slo.objects.filter(account=account).first() or slos.save(
            name="Bench",
            account=account,
            availability_target=99.9,
            latency_metric="ttft",
            latency_target=95,
            latency_threshold_ms=300,
            period_days=365,
        )
        cache.clear()
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            report = slos.report(slo)
        first = (time.perf_counter() - started) * 1000
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            slos.report(slo)
            times.append((time.perf_counter() - started) * 1000)
        p50, p95 = percentile(times, 50), percentile(times, 95)
        left = ", ".join(
            f"{o.kind} {o.period.total:,} checks, {slos.budget_shown(o.budget_remaining)} left"
            for o in report.objectives
        )
        self.stdout.write(
            f"  SLO over {slo.period_days} days ({left}): {len(queries)} queries; first of the "
            f"day (settled days summed) {first:.0f} ms, then p50 {p50:.1f} ms   p95 {p95:.1f} ms"
        )

    def _history(self, count: int, days: int) -> StatusPage:
        rng = random.Random(1)
        now = timezone.now()
        account = ProviderAccount(provider_type="openai", display_name="Bench account")
        account.credentials = {"api_key": "sk-bench"}
        account.save()
        models = LLMModel.objects.bulk_create(
            LLMModel(provider_account=account, model_id=f"bench-{i}", enabled_for_monitoring=True)
            for i in range(count)
        )
        today = rollups.bucket_start(now, CheckRollup.Resolution.DAY)
        # A day's TTFT summaries: 288 checks around 150 ms, a few slow (a handful of shapes).
        days_ttft = []
        for _ in range(8):
            summary = sketch.empty()
            for _ in range(288):
                sketch.add(summary, rng.lognormvariate(5, 0.4))
            days_ttft.append(summary)
        rows = []
        for model in models:
            for day in range(days):
                down = rng.choice((0, 0, 0, 0, 1, 3))
                degraded = rng.choice((0, 0, 0, 2))
                rows.append(
                    CheckRollup(
                        model=model,
                        resolution=CheckRollup.Resolution.DAY,
                        bucket=today - timedelta(days=day),
                        n=288,
                        up=288 - down - degraded,
                        degraded=degraded,
                        down=down,
                        ttft=rng.choice(days_ttft),
                    )
                )
        CheckRollup.objects.bulk_create(rows, batch_size=5000)
        ModelStatus.objects.bulk_create(
            ModelStatus(model=m, status="up", checked_at=now, ttft_ms=100.0) for m in models
        )
        rule = AlertRule.objects.create(name="bench", rule_type=AlertRule.RuleType.ANY_MODEL_DOWN)
        opened = [
            (model, n, now - timedelta(days=rng.uniform(1, days)))
            for model in models
            for n in range(4)
        ]
        Incident.objects.bulk_create(
            Incident(
                rule=rule,
                model=model,
                subject=f"{model.pk}-{n}",
                summary="down",
                opened_at=at,
                resolved_at=at + timedelta(hours=rng.uniform(0.1, 6)),
            )
            for model, n, at in opened
        )
        return services.create_status_page(slug=SLUG, title="Bench", public=True, llm_models=models)
