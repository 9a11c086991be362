"""What monitoring's probes cost: a monthly estimate, this month's spend and the budget.

Prices come from the table litellm ships (``model_prices_and_context_window_backup.json``, the
one it uses itself with LITELLM_LOCAL_MODEL_COST_MAP), read as plain JSON from the installed
package: importing litellm costs ~4 s and ~170 MB, too much for a web process. A model is
priced by its litellm model string, else by that string without the provider prefix.
Self-hosted provider types and models the table does not know have no price: they count as
$0 and are flagged, so the totals are a lower bound when some models are unpriced.

Spend is computed from the stored checks' token counts: checks pruned by the retention setting
before the month ends are no longer counted.
"""

import functools
import importlib.util
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.core.cache import cache
from django.db.models import Count, Sum
from django.utils import timezone

from arguslm.llm import catalog
from monitoring import regions
from monitoring.models import MonitoringConfig, UptimeCheck
from monitoring.services import monitored_models
from providers.models import LLMModel

log = logging.getLogger(__name__)

PRICE_FILE = "model_prices_and_context_window_backup.json"
MINUTES_PER_MONTH = 30 * 24 * 60
# Servers the user runs: no per-token price, whatever the model happens to be called (a vLLM
# "openai/gpt-oss-20b" must not be priced as the hosted one).
SELF_HOSTED = frozenset({"custom_openai_compatible", "ollama", "lm_studio"})
# The page and the API show a summary at most this old (the month's spend reads every check
# of the month); a config change (budget, interval) shows at once: it is part of the key.
SUMMARY_TTL_S = 60


@dataclass(frozen=True)
class Price:
    """USD per token."""

    input: float
    output: float


def _price_path() -> Path | None:
    spec = importlib.util.find_spec("litellm")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / PRICE_FILE
    return path if path.is_file() else None


@functools.cache
def price_table() -> dict[str, Price]:
    """litellm's model name → its per-token prices (entries with both prices only)."""
    path = _price_path()
    try:
        raw = json.loads(path.read_text()) if path else {}
    except (OSError, ValueError) as exc:
        log.warning("Cannot read litellm's price table %s: %s", path, exc)
        raw = {}
    if not raw:
        log.warning("No litellm price table found: probe costs are unknown.")
    table = {}
    for name, entry in raw.items():
        if name == "sample_spec" or not isinstance(entry, dict):
            continue
        cost_in = entry.get("input_cost_per_token")
        cost_out = entry.get("output_cost_per_token")
        if isinstance(cost_in, int | float) and isinstance(cost_out, int | float):
            table[name] = Price(float(cost_in), float(cost_out))
    return table


def price_for(provider_type: str, model_id: str) -> Price | None:
    """The per-token price of a model of this provider type, or None when unknown."""
    if provider_type in SELF_HOSTED or not model_id:
        return None
    spec = catalog.get_spec(provider_type) or catalog.ProviderSpec(
        id=provider_type, label=provider_type, litellm_prefix=f"{provider_type}/"
    )
    name = catalog.litellm_model_string(spec, model_id)
    table = price_table()
    if name in table:
        return table[name]
    prefix = spec.litellm_prefix
    return table.get(name[len(prefix) :]) if prefix and name.startswith(prefix) else None


def format_usd(value: float | Decimal) -> str:
    """$12.34, or four decimals below a cent (a probe costs fractions of one)."""
    value = float(value)
    return f"${value:,.2f}" if value == 0 or abs(value) >= 0.01 else f"${value:.4f}"


# --- estimate -----------------------------------------------------------------------------------


def monthly_estimate(
    *, now: datetime | None = None, config: MonitoringConfig | None = None
) -> dict:
    """Monthly cost of probing every monitored model at the current interval.

    Per model: price × the average input/output tokens per check over the last 24 h (failed
    checks count with the tokens they used, usually none) × checks in 30 days, one per pass
    from each live region that probes it.
    """
    now = now or timezone.now()
    config = config or MonitoringConfig.get()
    passes_per_month = MINUTES_PER_MONTH / config.interval_minutes
    live = regions.live(now=now)
    usage = {
        row["model_id"]: row
        for row in UptimeCheck.objects.filter(created_at__gte=now - timedelta(hours=24))
        .values("model_id")
        .annotate(n=Count("id"), tokens_in=Sum("input_tokens"), tokens_out=Sum("output_tokens"))
    }
    rows = []
    for model in monitored_models().order_by("provider_account__display_name", "model_id"):
        account = model.provider_account
        used = usage.get(model.pk, {})
        n = used.get("n", 0)
        avg_in = (used.get("tokens_in") or 0) / n if n else 0.0
        avg_out = (used.get("tokens_out") or 0) / n if n else 0.0
        price = price_for(account.provider_type, model.model_id)
        checks_per_month = passes_per_month * len(regions.allowed(model, live))
        usd = checks_per_month * (avg_in * price.input + avg_out * price.output) if price else 0.0
        rows.append(
            {
                "model_id": model.pk,
                "model": model.display_name,
                "provider": account.display_name,
                "priced": price is not None,
                "usd": usd,
                "checks_per_month": checks_per_month,
                "checks_24h": n,
                "avg_input": avg_in,
                "avg_output": avg_out,
            }
        )
    rows.sort(key=lambda r: -r["usd"])
    return {
        "total_usd": sum(r["usd"] for r in rows),
        "models": rows,
        "unpriced": sum(1 for r in rows if not r["priced"]),
    }


# --- spend and budget ---------------------------------------------------------------------------


def month_start(now: datetime) -> datetime:
    return timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_to_date(*, now: datetime | None = None) -> float:
    """USD spent on probes since the start of this month (unpriced models count $0)."""
    now = now or timezone.now()
    sums = list(
        UptimeCheck.objects.filter(created_at__gte=month_start(now))
        .values("model_id")
        .annotate(tokens_in=Sum("input_tokens"), tokens_out=Sum("output_tokens"))
    )
    models = LLMModel.objects.select_related("provider_account").in_bulk(
        [row["model_id"] for row in sums]
    )
    spent = 0.0
    for row in sums:
        model = models.get(row["model_id"])  # None: deleted meanwhile (its checks went too)
        price = price_for(model.provider_account.provider_type, model.model_id) if model else None
        if price is not None:
            spent += (row["tokens_in"] or 0) * price.input + (row["tokens_out"] or 0) * price.output
    return spent


def budget_pause_message(
    *, config: MonitoringConfig, now: datetime | None = None, spent: float | None = None
) -> str:
    """Why scheduled passes are paused ("" when they are not): the month's budget is spent."""
    budget = config.monthly_budget_usd
    if budget is None:
        return ""
    spent = month_to_date(now=now) if spent is None else spent
    if spent < float(budget):
        return ""
    return (
        f"Paused: monthly probe budget of {format_usd(budget)} reached ({format_usd(spent)} spent)"
    )


def summary(*, now: datetime | None = None, cached: bool = True) -> dict:
    """The estimate plus this month's spend and the budget (the page's card and the API)."""
    config = MonitoringConfig.get()
    key = f"arguslm:monitoring-cost:{config.pk}:{config.updated_at.isoformat()}"
    if cached and (hit := cache.get(key)) is not None:
        return hit
    spent = month_to_date(now=now)
    result = {
        **monthly_estimate(now=now, config=config),
        "interval_minutes": config.interval_minutes,
        "checks_per_month": MINUTES_PER_MONTH / config.interval_minutes,
        "month_to_date_usd": spent,
        "monthly_budget_usd": config.monthly_budget_usd,
        "budget_reached": bool(budget_pause_message(config=config, spent=spent)),
    }
    cache.set(key, result, SUMMARY_TTL_S)
    return result
