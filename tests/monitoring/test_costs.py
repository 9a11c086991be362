"""Probe cost: prices from litellm's bundled table, the monthly estimate, this month's spend, the
optional budget that pauses scheduled passes, and where they show (API, Monitoring page)."""

import importlib.util
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from monitoring import costs, tasks
from monitoring.costs import Price
from monitoring.models import MonitoringConfig, MonitoringRun, UptimeCheck
from tests.factories import make_account, make_check, make_model

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # the page and API summary is cached for a minute
    yield
    cache.clear()


def table_price(name: str) -> Price:
    """The price as litellm's file states it, read here independently of monitoring.costs."""
    spec = importlib.util.find_spec("litellm")
    path = Path(next(iter(spec.submodule_search_locations))) / costs.PRICE_FILE
    entry = json.loads(path.read_text())[name]
    return Price(entry["input_cost_per_token"], entry["output_cost_per_token"])


@pytest.fixture
def gpt():
    """A priced model: OpenAI's gpt-4o-mini."""
    account = make_account(provider_type="openai", display_name="OpenAI", credentials={})
    return make_model(account, model_id="gpt-4o-mini")


@pytest.fixture
def sim():
    """An unpriced model: the simulator behind a custom OpenAI-compatible account."""
    return make_model(make_account(display_name="Simulator"), model_id="sim/n=3")


def check(model, at, tokens_in=None, tokens_out=None, status="up") -> UptimeCheck:
    """A row of this file's tables of checks: when, and the tokens it used."""
    return make_check(
        model, status=status, created_at=at, input_tokens=tokens_in, output_tokens=tokens_out
    )


def set_config(**fields) -> MonitoringConfig:
    config = MonitoringConfig.get()
    for name, value in fields.items():
        setattr(config, name, value)
    config.save()
    return config


# --- prices -------------------------------------------------------------------------------------


def test_prices_come_from_litellms_bundled_table():
    assert costs.price_for("openai", "gpt-4o-mini") == table_price("gpt-4o-mini")


def test_a_price_is_looked_up_by_the_full_string_then_without_the_provider_prefix(monkeypatch):
    table = {
        "groq/llama-x": Price(1e-6, 2e-6),
        "claude-y": Price(3e-6, 4e-6),
        "gpt-4o-mini": Price(5e-6, 6e-6),
        "mystery/thing": Price(7e-6, 8e-6),
    }
    monkeypatch.setattr(costs, "price_table", lambda: table)
    assert costs.price_for("groq", "llama-x") == table["groq/llama-x"]
    assert costs.price_for("groq", "groq/llama-x") == table["groq/llama-x"]  # already prefixed
    assert costs.price_for("anthropic", "claude-y") == table["claude-y"]  # prefix dropped
    assert costs.price_for("openai", "gpt-4o-mini") == table["gpt-4o-mini"]
    assert costs.price_for("mystery", "thing") == table["mystery/thing"]  # not in the catalog
    assert costs.price_for("groq", "unknown-model") is None


def test_self_hosted_models_have_no_price_whatever_their_name(monkeypatch):
    monkeypatch.setattr(costs, "price_table", lambda: {"gpt-4o-mini": Price(1, 1)})
    for provider_type in ("custom_openai_compatible", "ollama", "lm_studio"):
        assert costs.price_for(provider_type, "gpt-4o-mini") is None


def test_reading_the_price_table_does_not_import_litellm(tmp_path):
    """Importing litellm costs seconds and ~170 MB: the web process must not do it for prices."""
    code = (
        "import sys, django; django.setup()\n"
        "from monitoring import costs\n"
        "assert costs.price_table(), 'empty price table'\n"
        "assert costs.price_for('openai', 'gpt-4o-mini') is not None\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "arguslm.settings",
        "ARGUSLM_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_usd_amounts_keep_fractions_of_a_cent():
    assert costs.format_usd(1234.5) == "$1,234.50"
    assert costs.format_usd(Decimal("10")) == "$10.00"
    assert costs.format_usd(0.0123) == "$0.01"
    assert costs.format_usd(0.00345) == "$0.0034"
    assert costs.format_usd(0) == "$0.00"


# --- monthly estimate ---------------------------------------------------------------------------


def test_the_estimate_is_price_times_average_tokens_times_checks_per_month(gpt, sim):
    set_config(interval_minutes=5)
    price = table_price("gpt-4o-mini")
    recent = NOW - timedelta(hours=1)
    check(gpt, recent, 20, 100)
    check(gpt, recent, 30, 50)
    check(gpt, recent, status="down")  # a failed probe used no tokens, but it is a check
    check(gpt, NOW - timedelta(hours=25), 100_000, 100_000)  # older than 24 h: ignored
    check(sim, recent, 40, 60)
    unmonitored = make_model(gpt.provider_account, model_id="gpt-4o", enabled_for_monitoring=False)
    check(unmonitored, recent, 1000, 1000)

    estimate = costs.monthly_estimate(now=NOW)

    per_check = 50 / 3 * price.input + 150 / 3 * price.output
    rows = {row["model"]: row for row in estimate["models"]}
    assert set(rows) == {"gpt-4o-mini", "sim/n=3"}
    assert rows["gpt-4o-mini"] == {
        "model_id": gpt.pk,
        "model": "gpt-4o-mini",
        "provider": "OpenAI",
        "priced": True,
        "usd": pytest.approx(8640 * per_check, rel=1e-12),
        "checks_per_month": 8640,
        "checks_24h": 3,
        "avg_input": pytest.approx(50 / 3),
        "avg_output": pytest.approx(50.0),
    }
    assert rows["sim/n=3"]["priced"] is False and rows["sim/n=3"]["usd"] == 0
    assert (rows["sim/n=3"]["avg_input"], rows["sim/n=3"]["avg_output"]) == (40, 60)
    assert estimate["total_usd"] == pytest.approx(8640 * per_check, rel=1e-12)
    assert estimate["unpriced"] == 1
    assert [row["model"] for row in estimate["models"]] == ["gpt-4o-mini", "sim/n=3"]


def test_the_estimate_follows_the_interval(gpt):
    check(gpt, NOW - timedelta(minutes=5), 10, 10)
    set_config(interval_minutes=60)
    hourly = costs.monthly_estimate(now=NOW)
    set_config(interval_minutes=1)
    every_minute = costs.monthly_estimate(now=NOW)
    assert hourly["models"][0]["checks_per_month"] == 720
    assert every_minute["total_usd"] == pytest.approx(60 * hourly["total_usd"])


def test_a_model_without_recent_checks_is_estimated_at_zero(gpt):
    estimate = costs.monthly_estimate(now=NOW)
    assert estimate["models"][0]["checks_24h"] == 0
    assert estimate["models"][0]["usd"] == 0 and estimate["models"][0]["priced"] is True


# --- spend and budget ---------------------------------------------------------------------------


def test_this_months_spend_sums_every_check_of_the_month(gpt, sim):
    price = table_price("gpt-4o-mini")
    check(gpt, datetime(2026, 3, 1, tzinfo=UTC), 1000, 2000)
    check(gpt, NOW, 3000, 4000)
    check(gpt, datetime(2026, 2, 28, 23, 59, tzinfo=UTC), 10**6, 10**6)  # last month
    check(sim, NOW, 10**6, 10**6)  # no price
    gpt.enabled_for_monitoring = False  # spend counts checks already made, monitored or not
    gpt.save()

    spent = costs.month_to_date(now=NOW)

    assert spent == pytest.approx(4000 * price.input + 6000 * price.output, rel=1e-12)


def budget_reached(gpt) -> tuple[MonitoringConfig, float]:
    """A budget of $0.01 and this month's checks costing more than that."""
    check(gpt, timezone.now(), 100_000, 100_000)
    config = set_config(monthly_budget_usd=Decimal("0.01"))
    price = table_price("gpt-4o-mini")
    return config, 100_000 * (price.input + price.output)


def test_a_scheduled_pass_is_skipped_once_the_budget_is_spent(gpt, sync_tasks):
    config, spent = budget_reached(gpt)
    assert spent > 0.01

    assert tasks.scheduled_pass() == "skipped"

    run = MonitoringRun.objects.get()
    assert (run.status, run.trigger, run.started_at) == ("skipped", "schedule", None)
    assert run.finished_at is not None
    assert run.message == (
        f"Paused: monthly probe budget of $0.01 reached ({costs.format_usd(spent)} spent)"
    )
    assert costs.budget_pause_message(config=config).startswith("Paused: monthly probe budget")


def test_a_scheduled_pass_runs_under_the_budget_or_without_one(gpt, sync_tasks):
    gpt.enabled_for_monitoring = False  # nothing to probe: the pass completes at once
    gpt.save()
    check(gpt, timezone.now(), 1000, 1000)
    set_config(monthly_budget_usd=Decimal("100"))
    assert tasks.scheduled_pass() == "completed"
    set_config(monthly_budget_usd=None)
    assert tasks.scheduled_pass() == "completed"
    assert not MonitoringRun.objects.filter(status="skipped").exists()


def test_a_manual_run_is_still_allowed_over_the_budget(gpt, api, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: "task-id")
    budget_reached(gpt)
    response = api.post("/api/v1/monitoring/run")
    assert response.status_code == 200 and response.json()["status"] == "queued"


# --- API ----------------------------------------------------------------------------------------


def test_the_cost_endpoint_needs_authentication(anon):
    assert anon.get("/api/v1/monitoring/cost").status_code == 401


def test_the_cost_endpoint_returns_the_estimate_spend_and_budget(api, gpt, sim):
    set_config(monthly_budget_usd=Decimal("25.50"), interval_minutes=10)
    check(gpt, timezone.now(), 100, 200)

    data = api.get("/api/v1/monitoring/cost").json()

    price = table_price("gpt-4o-mini")
    assert set(data) == {
        "total_usd",
        "unpriced",
        "interval_minutes",
        "checks_per_month",
        "month_to_date_usd",
        "monthly_budget_usd",
        "budget_reached",
        "models",
    }
    assert data["total_usd"] == pytest.approx(4320 * (100 * price.input + 200 * price.output))
    assert data["month_to_date_usd"] == pytest.approx(100 * price.input + 200 * price.output)
    assert (data["unpriced"], data["interval_minutes"], data["checks_per_month"]) == (1, 10, 4320)
    assert data["monthly_budget_usd"] == 25.5 and data["budget_reached"] is False
    assert [m["model"] for m in data["models"]] == ["gpt-4o-mini", "sim/n=3"]
    assert data["models"][0]["model_id"] == str(gpt.pk)
    assert set(data["models"][0]) == {
        "model_id",
        "model",
        "provider",
        "priced",
        "usd",
        "checks_per_month",
        "checks_24h",
        "avg_input",
        "avg_output",
    }


def test_the_budget_is_set_and_cleared_through_the_config(api):
    response = api.patch("/api/v1/monitoring/config", {"monthly_budget_usd": 12.5}, format="json")
    assert response.status_code == 200 and response.json()["monthly_budget_usd"] == 12.5
    assert MonitoringConfig.get().monthly_budget_usd == Decimal("12.50")
    assert api.get("/api/v1/monitoring/config").json()["monthly_budget_usd"] == 12.5

    response = api.patch("/api/v1/monitoring/config", {"monthly_budget_usd": None}, format="json")
    assert response.status_code == 200 and response.json()["monthly_budget_usd"] is None


@pytest.mark.parametrize("value", [-1, -0.01, "lots", 1.234, 10**12])
def test_a_bad_budget_is_a_422_naming_the_field(api, value):
    response = api.patch("/api/v1/monitoring/config", {"monthly_budget_usd": value}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "monthly_budget_usd"]


# --- Monitoring page ----------------------------------------------------------------------------


def test_the_monitoring_page_shows_the_cost_card(logged_in, gpt, sim):
    check(gpt, timezone.now(), 100, 200)
    html = logged_in.get(reverse("monitoring")).content.decode()
    assert 'id="monitoring-cost"' in html and 'data-testid="cost-total"' in html
    assert "1 monitored model with no price" in html
    assert 'data-testid="budget-banner"' not in html


def test_the_monitoring_page_warns_when_the_budget_is_reached(logged_in, gpt):
    budget_reached(gpt)
    html = logged_in.get(reverse("monitoring")).content.decode()
    assert 'data-testid="budget-banner"' in html
    assert "budget reached — scheduled monitoring paused" in html


def test_the_cost_card_re_renders_alone_for_htmx(logged_in, gpt):
    response = logged_in.get(
        reverse("monitoring"), headers={"HX-Request": "true", "HX-Target": "monitoring-cost"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card mon-cost" id="monitoring-cost"')


def test_the_settings_form_sets_the_budget(logged_in):
    form = {
        "enabled": "1",
        "interval_choice": "5",
        "interval_custom": "",
        "prompt_pack": "health_check",
        "retention_days": "30",
        "degraded_ttft_ms": "",
        "degraded_latency_ms": "",
        "timeout_seconds": "30",
        "max_tokens": "100",
        "concurrency_per_account": "8",
        "monthly_budget_usd": "40",
    }
    logged_in.post(reverse("monitoring-save"), form)
    assert MonitoringConfig.get().monthly_budget_usd == Decimal("40")
    logged_in.post(reverse("monitoring-save"), {**form, "monthly_budget_usd": ""})
    assert MonitoringConfig.get().monthly_budget_usd is None
