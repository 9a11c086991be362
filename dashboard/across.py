"""Models across providers: each identity (providers.identity) that two or more monitored
models share, its providers ranked by what ArgusLM measured of them over the last 7 days.

Per model: availability ((up + degraded) / checks, metrics.md) and TTFT and tok/s p50/p95
from the hourly rollups' merged summaries; the answer-check pass rate (answered checks
that were not ``bad_answer``); and fingerprint agreement, the share of its last 10 answers
equal to the answer most of the identity's providers give most often (the same open model at
temperature 0 should answer alike: one that does not may be quantised differently or another
model). Ranked by availability (to 0.1 %), then pass rate, then TTFT p50.

``litellm_config`` turns a ranking into a LiteLLM router configuration: one deployment per
provider, and the fallback order of the ranking. Keys and addresses stay placeholders
(``os.environ/…``): nothing secret leaves ArgusLM.
"""

import re
from collections import Counter, defaultdict
from datetime import timedelta

import yaml
from django.db.models import Count, Q
from django.utils import timezone

from arguslm.llm import catalog
from monitoring import drift, sketch
from monitoring.models import CheckRollup, MonitoringConfig, UptimeCheck
from providers.models import LLMModel

WINDOW = timedelta(days=7)


def identities(*, now=None) -> list[dict]:
    """[{identity, members: [figures of each model, ranked]}], identities by name."""
    now = now or timezone.now()
    groups = defaultdict(list)
    for model in LLMModel.objects.monitored().select_related("provider_account"):
        groups[model.identity_name].append(model)
    groups = {name: members for name, members in groups.items() if len(members) > 1}
    ids = [m.pk for members in groups.values() for m in members]
    figures = _figures(ids, now - WINDOW)
    pack = MonitoringConfig.get().prompt_pack
    out = []
    for name in sorted(groups):
        members = [{"model": m, **figures[m.pk]} for m in groups[name]]
        _agreement(members, pack)
        members.sort(key=_rank)
        out.append({"identity": name, "members": members})
    return out


def identity(name: str, *, now=None) -> dict | None:
    """One identity's ranking, or None when fewer than two monitored models share it."""
    return next((g for g in identities(now=now) if g["identity"] == name), None)


def _figures(ids: list, since) -> dict:
    figures = defaultdict(lambda: {"n": 0, "ok": 0, "ttft": sketch.empty(), "tps": sketch.empty()})
    for model_id, n, up, degraded, ttft, tps in CheckRollup.objects.filter(
        resolution=CheckRollup.Resolution.HOUR, bucket__gte=since, model_id__in=ids
    ).values_list("model_id", "n", "up", "degraded", "ttft", "tps"):
        row = figures[model_id]
        row["n"] += n
        row["ok"] += up + degraded
        sketch.merge(row["ttft"], ttft)
        sketch.merge(row["tps"], tps)
    answers = {
        row["model_id"]: row
        for row in UptimeCheck.objects.filter(
            model_id__in=ids, created_at__gte=since, in_maintenance=False
        )
        .exclude(answer_hash="")
        .values("model_id")
        .annotate(answered=Count("pk"), bad=Count("pk", filter=Q(error_type="bad_answer")))
    }
    out = {}
    for model_id in ids:
        row = figures[model_id]
        checked = answers.get(model_id)
        out[model_id] = {
            "checks": row["n"],
            "availability": row["ok"] / row["n"] if row["n"] else None,
            "ttft_p50": sketch.quantile(row["ttft"], 0.5),
            "ttft_p95": sketch.quantile(row["ttft"], 0.95),
            "tps_p50": sketch.quantile(row["tps"], 0.5),
            "tps_p95": sketch.quantile(row["tps"], 0.95),
            "answer_pass_rate": (1 - checked["bad"] / checked["answered"] if checked else None),
        }
    return out


def _agreement(members: list[dict], pack: str) -> None:
    """Each member's share of recent answers equal to the identity's usual answer."""
    recent = {m["model"].pk: drift.answered(m["model"].pk, pack, drift.WINDOW) for m in members}
    usual = Counter(
        Counter(c.answer_hash for c in checks).most_common(1)[0][0]
        for checks in recent.values()
        if checks
    )
    reference = usual.most_common(1)[0][0] if usual else None
    for member in members:
        checks = recent[member["model"].pk]
        member["agreement"] = (
            sum(c.answer_hash == reference for c in checks) / len(checks) if checks else None
        )


def _rank(member: dict) -> tuple:
    availability = member["availability"]
    passing = member["answer_pass_rate"]
    ttft = member["ttft_p50"]
    return (
        -round(availability, 3) if availability is not None else 1,
        -passing if passing is not None else 0,
        ttft if ttft is not None else float("inf"),
    )


def litellm_config(group: dict) -> str:
    """A LiteLLM router config (YAML) for one identity: its deployments, and fallbacks in the
    ranking's order (the best first)."""
    names, deployments = [], []
    for member in group["members"]:
        model = member["model"]
        account = model.provider_account
        spec = catalog.get_spec(account.provider_type)
        env = _env_name(account.display_name or account.provider_type)
        name = f"{group['identity']}@{_slug(account.display_name or account.provider_type)}"
        if name in names:  # two accounts of one name
            name, env = f"{name}-{str(account.pk)[:6]}", f"{env}_{str(account.pk)[:6].upper()}"
        params = {
            "model": f"{spec.litellm_prefix if spec else ''}{model.model_id}",
            "api_key": f"os.environ/{env}_API_KEY",
        }
        if (account.credentials or {}).get("base_url"):
            params["api_base"] = f"os.environ/{env}_API_BASE"
        names.append(name)
        deployments.append({"model_name": name, "litellm_params": params})
    # LiteLLM's proxy config: model_list deployments, and router_settings.fallbacks from one
    # model_name to the next ones in order (docs.litellm.ai/docs/proxy/reliability).
    config = {
        "model_list": deployments,
        "router_settings": {"fallbacks": [{names[0]: names[1:]}]},
    }
    header = (
        f"# LiteLLM router config for {group['identity']}, from ArgusLM's ranking of the last "
        f"{WINDOW.days} days:\n# {', '.join(names)}. Set the os.environ/ variables.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "account"


def _env_name(text: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")[:40] or "ACCOUNT"
