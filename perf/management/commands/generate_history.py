"""Fill the database with realistic monitoring history (for benchmarks and demos).

    manage.py generate_history --models 200 --days 90 --interval 5
    manage.py generate_history --models 1000 --days 90 --raw-days 30

200 models × 90 days at a 5-minute interval is 5.2 M checks. Raw checks, their hourly and
daily rollups and each model's latest status are written in bulk. Deterministic (seeded).
``--raw-days`` keeps raw checks for the last days only, as the retention prune does (30 days
by default): older days exist as rollups alone, and the run writes a third of the rows.
"""

import math
import random
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from monitoring import rollups, sketch
from monitoring.models import CheckCount, CheckRollup, ModelStatus, UptimeCheck
from providers.models import LLMModel, ProviderAccount

EMPTY = {
    f.attname: f.get_default()
    for f in UptimeCheck._meta.concrete_fields
    if f.attname not in ("id", "model_id", "created_at")
}
ERRORS = [
    ("timeout", "Timed out: no first token within 30 s."),
    ("server_error", "HTTP 500: upstream error"),
    ("connection", "Cannot connect to https://api.example: connection refused"),
]


class Command(BaseCommand):
    help = "Generate realistic monitoring history: models, checks, rollups."

    def add_arguments(self, parser):
        parser.add_argument("--models", type=int, default=200)
        parser.add_argument("--accounts", type=int, default=10)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--interval", type=int, default=5, help="minutes between checks")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--batch", type=int, default=5000)
        parser.add_argument(
            "--raw-days",
            type=int,
            default=None,
            help="store raw checks for the last N days only (rollups cover every day)",
        )

    def handle(self, *args, models, accounts, days, interval, seed, batch, raw_days, **options):
        rng = random.Random(seed)
        started = time.monotonic()
        llm_models = self._models(models, accounts, rng)
        end = datetime.now(tz=UTC).replace(second=0, microsecond=0)
        start = end - timedelta(days=days)
        steps = days * 24 * 60 // interval
        raw_since = end - timedelta(days=raw_days) if raw_days is not None else start
        total = stored = 0
        for index, model in enumerate(llm_models):
            stored += self._history(model, start, steps, interval, rng, batch, raw_since)
            total += steps
            if (index + 1) % 10 == 0:
                rate = total / (time.monotonic() - started)
                self.stdout.write(
                    f"  {index + 1}/{len(llm_models)} models, {total:,} checks ({rate:,.0f}/s)"
                )
        self.stdout.write(
            f"Generated {total:,} checks for {len(llm_models)} models ({stored:,} stored as raw "
            f"checks, all in rollups) in {time.monotonic() - started:.0f} s"
        )

    def _models(self, count: int, account_count: int, rng) -> list[LLMModel]:
        created = []
        with transaction.atomic():
            accounts = []
            for i in range(account_count):
                account = ProviderAccount(
                    provider_type="custom_openai_compatible",
                    display_name=f"Generated account {i + 1}",
                )
                account.credentials = {"base_url": "http://127.0.0.1:8100/v1"}
                account.save()
                accounts.append(account)
            for i in range(count):
                created.append(
                    LLMModel(
                        provider_account=accounts[i % account_count],
                        model_id=f"gen-model-{i + 1:04d}",
                        source="manual",
                        enabled_for_monitoring=True,
                    )
                )
            LLMModel.objects.bulk_create(created)
        return created

    def _history(self, model, start, steps, interval, rng, batch, raw_since) -> int:
        base_ttft = rng.uniform(120, 1500)
        decode = rng.uniform(20, 180)  # tokens per second
        outage_at = rng.randrange(steps) if rng.random() < 0.5 else -1
        outage_len = rng.randint(2, 30)
        buffer, rows, counts, stored = [], {}, defaultdict(int), 0
        check = None
        for step in range(steps):
            at = start + timedelta(minutes=step * interval)
            diurnal = 1 + 0.25 * math.sin((at.hour + at.minute / 60) / 24 * 2 * math.pi)
            roll = rng.random()
            check = SimpleNamespace(**EMPTY, model_id=model.id, created_at=at)
            if outage_at <= step < outage_at + outage_len or roll < 0.01:
                kind, message = ERRORS[rng.randrange(len(ERRORS))]
                check.status, check.error_type, check.error = "down", kind, message
            elif roll < 0.02:
                check.status, check.error_type = "degraded", "rate_limited"
                check.error = "HTTP 429: rate limited (Retry-After: 7)"
            else:
                tokens = rng.randint(20, 60)
                ttft = base_ttft * diurnal * rng.lognormvariate(0, 0.25)
                decode_ms = (tokens - 1) / (decode / diurnal) * 1000 * rng.lognormvariate(0, 0.1)
                check.status = "up"
                check.ttft_ms = check.ttfat_ms = ttft
                check.latency_ms = ttft + decode_ms
                check.output_tokens, check.input_tokens, check.token_source = tokens, 24, "usage"
                check.tps = tokens / (check.latency_ms / 1000)
                check.tps_excluding_ttft = (tokens - 1) / (decode_ms / 1000)
                check.tpot_ms = decode_ms / (tokens - 1)
                check.chunks = tokens
            if at >= raw_since:
                buffer.append(check)
                counts[(model.id, check.status)] += 1
            for resolution in CheckRollup.Resolution.values:
                key = (resolution, rollups.bucket_start(at, resolution))
                if key not in rows:
                    rows[key] = rollups.new_rollup(model.id, *key)
                rollups.add_check(rows[key], check)
            if len(buffer) >= batch:
                stored += len(buffer)
                self._insert(buffer)
                buffer = []
        stored += len(buffer)
        self._insert(buffer)
        for row in rows.values():
            row.latency_p50 = sketch.quantile(row.latency, 0.5)
        CheckRollup.objects.bulk_create(rows.values(), batch_size=2000)
        CheckCount.add(counts)
        ModelStatus.objects.update_or_create(
            model_id=model.id,
            defaults={
                "status": check.status,
                "checked_at": check.created_at,
                "ttft_ms": check.ttft_ms,
                "latency_ms": check.latency_ms,
                "tps_excluding_ttft": check.tps_excluding_ttft,
                "error_type": check.error_type,
                "error": check.error,
            },
        )
        return stored

    def _insert(self, checks: list[UptimeCheck]) -> None:
        """executemany of plain tuples: ~10× faster than bulk_create for millions of rows."""
        if not checks:
            return
        fields = [f for f in UptimeCheck._meta.concrete_fields]
        table = UptimeCheck._meta.db_table
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {quote(table)} ({columns}) VALUES ({marks})"
        values = []
        for check in checks:
            check.id = uuid.uuid4()
            values.append(
                tuple(f.get_db_prep_save(getattr(check, f.attname), connection) for f in fields)
            )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, values)
