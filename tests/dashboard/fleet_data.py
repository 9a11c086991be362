"""A fleet of monitored models for the dashboard's tests, made fast (bulk inserts).

``seed_fleet(count)`` spreads ``count`` monitored models over ``accounts`` accounts. Model
``i`` has the latest status of ``state_of(i)``; the first ``history`` models also have 24 h of
hourly checks (rollups: availability, sparklines, the accounts' TTFT). The first two
model ids of each account are served by every account ("across providers"). Accounts carry
``env:prod`` or ``env:staging`` (alternating); every 5th model carries ``team:search``. A pass
completed 3 minutes ago, and one model has an open "model changed" incident.
"""

import math
from datetime import timedelta

from django.utils import timezone

from alerts.models import AlertRule
from monitoring.models import ModelStatus, MonitoringConfig, MonitoringRun
from providers.models import LLMModel, Tag
from tests.factories import make_account, make_incident, make_rule, store_checks, uptime_check


def state_of(i: int) -> str:
    if i % 29 == 3:
        return "unknown"
    if i % 13 == 5:
        return "down"
    if i % 17 == 7:
        return "degraded"
    return "up"


def ttft_of(i: int) -> float:
    return 150.0 + (i * 53) % 900


def model_name(i: int, accounts: int) -> str:
    if i < 2 * accounts:
        return f"a-shared-{i // accounts}"
    return f"m-{i:04d}"


def seed_fleet(count: int, *, accounts: int = 10, history: int = 60, now=None) -> dict:
    now = now or timezone.now()
    prod, staging = Tag.objects.create(name="env:prod"), Tag.objects.create(name="env:staging")
    search = Tag.objects.create(name="team:search")
    owners = []
    for a in range(accounts):
        account = make_account(display_name=f"Account {a + 1:02d}")
        account.tags.set([prod if a % 2 == 0 else staging])
        owners.append(account)
    models = [
        LLMModel(
            provider_account=owners[i % accounts],
            model_id=model_name(i, accounts),
            enabled_for_monitoring=True,
        )
        for i in range(count)
    ]
    LLMModel.objects.bulk_create(models)
    LLMModel.tags.through.objects.bulk_create(
        [
            LLMModel.tags.through(llmmodel_id=m.id, tag_id=search.id)
            for i, m in enumerate(models)
            if i % 5 == 0
        ]
    )
    checks = []
    for i, model in enumerate(models[:history]):
        state = state_of(i)
        if state == "unknown":
            continue
        for hours in range(23, 0, -1):
            checks.append(
                uptime_check(
                    model,
                    ago=timedelta(hours=hours, minutes=5),
                    ttft_ms=ttft_of(i) * (1 + 0.2 * math.sin(hours / 4)),
                    latency_ms=3 * ttft_of(i) * (1 + 0.15 * math.sin(hours / 3)),
                )
            )
        checks.append(uptime_check(model, status=state, ago=timedelta(minutes=3)))
    store_checks(checks)
    ModelStatus.objects.bulk_create(
        [
            ModelStatus(
                model=model,
                status=state_of(i),
                checked_at=now - timedelta(minutes=3),
                ttft_ms=ttft_of(i) if state_of(i) != "down" else None,
                latency_ms=3 * ttft_of(i) if state_of(i) != "down" else None,
                tps_excluding_ttft=40.0 + i % 90 if state_of(i) != "down" else None,
                error_type="server_error" if state_of(i) == "down" else None,
                error="HTTP 500: upstream error" if state_of(i) == "down" else None,
            )
            for i, model in enumerate(models)
            if i >= history and state_of(i) != "unknown"
        ]
    )
    states = [state_of(i) for i in range(count)]
    MonitoringRun.objects.create(
        status=MonitoringRun.Status.COMPLETED,
        up=states.count("up"),
        degraded=states.count("degraded"),
        down=states.count("down"),
        started_at=now - timedelta(minutes=4),
        finished_at=now - timedelta(minutes=3),
    )
    MonitoringConfig.objects.filter(pk=MonitoringConfig.get().pk).update(
        last_run_at=now - timedelta(minutes=4)
    )
    changed = make_incident(
        make_rule(name="Answers changed", rule_type=AlertRule.RuleType.MODEL_CHANGED),
        model=models[1],
        summary="m answers unlike its baseline",
    )
    return {"accounts": owners, "models": models, "changed": changed}
