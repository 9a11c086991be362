"""Time the dashboard, its chart endpoints and the uptime API on the current database.

    ARGUSLM_DATA_DIR=/tmp/big manage.py migrate
    ARGUSLM_DATA_DIR=/tmp/big manage.py generate_history --models 1000 --days 90 --raw-days 30
    ARGUSLM_DATA_DIR=/tmp/big manage.py dashboard_bench [--pages-only]

Requests go through the whole Django stack in-process (middleware, auth, views, templates,
serialization): the time to the complete response, which bounds the time to first byte.
Prints p50/p95 per endpoint, and each page's HTML size. Targets at 1,000 monitored models:
page ≤ 300 ms p95 and ≤ 300 KB, whichever filter or page is shown; a 30-day chart of 20
models ≤ 150 ms p95; GET /api/v1/monitoring/uptime?limit=100 ≤ 50 ms p95.

The dashboard's account summaries merge each settled hour's rollups once and cache them
(dashboard.fleet): the warm-up request pays for that, and ``first view, cache empty`` prints
what it costs.
"""

import time

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client

from arguslm.stats import percentile
from dashboard import fleet
from dashboard.queries import monitored_models
from monitoring.models import CheckRollup, UptimeCheck
from providers.models import ProviderAccount

CHART = "/dashboard/chart.json"
PAGE_TARGET_MS, PAGE_TARGET_KB = 300, 300


class Command(BaseCommand):
    help = "Time the dashboard page and chart endpoints (p50/p95) on the current database."

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=40)
        parser.add_argument(
            "--pages-only", action="store_true", help="the dashboard's pages, no chart endpoints"
        )

    def handle(self, *args, requests, pages_only, **options):
        user, _ = get_user_model().objects.get_or_create(
            username="dashboard-bench", defaults={"is_staff": True, "is_superuser": True}
        )
        client = Client()
        client.force_login(user)
        monitored = monitored_models()
        models = [str(m.id) for m in monitored[:20]]
        page_models = [str(m.id) for m in fleet.filtered_models(fleet.Filters())[: fleet.PER_PAGE]]
        account = ProviderAccount.objects.order_by("display_name").first()
        checks = UptimeCheck.objects.count()
        rollups = CheckRollup.objects.count()
        self.stdout.write(
            f"{connection.vendor}: {monitored.count()} monitored models, "
            f"{ProviderAccount.objects.count()} accounts, {checks:,} checks, {rollups:,} rollups"
        )

        cache.clear()
        started = time.perf_counter()
        response = client.get("/dashboard")
        cold = (time.perf_counter() - started) * 1000
        self.stdout.write(
            f"  {'first view, cache empty':<44} {cold:7.1f} ms   "
            f"{len(response.content) / 1024:6.1f} KB"
        )

        pages = [
            ("dashboard page", "/dashboard"),
            ("dashboard page 10", "/dashboard?page=10"),
            ("dashboard down or degraded", "/dashboard?state=problem"),
            ("dashboard one account", f"/dashboard?account={account.pk if account else ''}"),
            ("dashboard search", "/dashboard?q=model-01"),
            ("dashboard live partial", "/dashboard/live"),
        ]
        page_query = "&".join(f"model={m}" for m in page_models)
        twenty = "&".join(f"model={m}" for m in models)
        endpoints = [
            (
                "chart latency 24h × the page's models",
                f"{CHART}?metric=latency&range=24h&{page_query}",
            ),
            ("comparison 24h × the page's models", f"/dashboard/comparison?range=24h&{page_query}"),
        ]
        if not pages_only:
            for metric in ("latency", "ttft", "tps", "availability"):
                endpoints.append(
                    (
                        f"chart {metric} 30d × 20 models",
                        f"{CHART}?metric={metric}&range=30d&{twenty}",
                    )
                )
            endpoints += [
                ("chart latency 7d × 20 models", f"{CHART}?metric=latency&range=7d&{twenty}"),
                ("chart latency 90d × 20 models", f"{CHART}?metric=latency&range=90d&{twenty}"),
                ("GET /api/v1/monitoring/uptime?limit=100", "/api/v1/monitoring/uptime?limit=100"),
            ]
        for label, url in pages + endpoints:
            client.get(url)  # warm caches (templates, connections, settled hours)
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url} answered {response.status_code}")
            p50, p95 = percentile(times, 50), percentile(times, 95)
            line = f"  {label:<44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms"
            if (label, url) in pages:
                size = len(response.content) / 1024
                ok = p95 <= PAGE_TARGET_MS and size <= PAGE_TARGET_KB
                line += f"   {size:6.1f} KB   {'ok' if ok else 'OVER TARGET'}"
            self.stdout.write(line)
