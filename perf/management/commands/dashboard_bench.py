"""Time the dashboard, its chart endpoints and the uptime API on the current database.

    ARGUSLM_DATA_DIR=/tmp/big manage.py migrate
    ARGUSLM_DATA_DIR=/tmp/big manage.py generate_history --models 200 --days 90
    ARGUSLM_DATA_DIR=/tmp/big manage.py dashboard_bench

Requests go through the whole Django stack in-process (middleware, auth, views, templates,
serialization): the time to the complete response, which bounds the time to first byte.
Prints p50/p95 per endpoint. Targets: page ≤ 300 ms p95, a 30-day chart of 20 models
≤ 150 ms p95, GET /api/v1/monitoring/uptime?limit=100 ≤ 50 ms p95.
"""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client

from arguslm.stats import percentile
from dashboard.queries import monitored_models
from monitoring.models import UptimeCheck

CHART = "/dashboard/chart.json"


class Command(BaseCommand):
    help = "Time the dashboard page and chart endpoints (p50/p95) on the current database."

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=40)

    def handle(self, *args, requests, **options):
        user, _ = get_user_model().objects.get_or_create(
            username="dashboard-bench", defaults={"is_staff": True}
        )
        client = Client()
        client.force_login(user)
        models = [str(m.id) for m in monitored_models()[:20]]
        checks = UptimeCheck.objects.count()
        self.stdout.write(
            f"{connection.vendor}: {len(monitored_models())} monitored models, {checks:,} checks"
        )
        twenty = "&".join(f"model={m}" for m in models)
        targets = [
            ("dashboard page", "/dashboard"),
            ("dashboard live partial", "/dashboard/live"),
        ]
        for metric in ("latency", "ttft", "tps", "availability"):
            targets.append(
                (
                    f"chart {metric} 30d × 20 models",
                    f"/dashboard/chart.json?metric={metric}&range=30d&{twenty}",
                )
            )
        targets += [
            ("chart latency 24h × all", "/dashboard/chart.json?metric=latency&range=24h"),
            ("chart latency 7d × 20 models", f"{CHART}?metric=latency&range=7d&{twenty}"),
            ("chart latency 90d × 20 models", f"{CHART}?metric=latency&range=90d&{twenty}"),
            ("comparison 30d", "/dashboard/comparison?range=30d"),
            ("GET /api/v1/monitoring/uptime?limit=100", "/api/v1/monitoring/uptime?limit=100"),
        ]
        for label, url in targets:
            client.get(url)  # warm caches (templates, connections)
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url} answered {response.status_code}")
            p50, p95 = percentile(times, 50), percentile(times, 95)
            self.stdout.write(f"  {label:<44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
