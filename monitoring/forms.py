"""The Monitoring page's settings form: MonitoringConfigSerializer's rules, page-shaped input."""

from django import forms

from arguslm.forms import SerializerForm, checkbox, text
from monitoring.serializers import (
    MaintenanceWindowSerializer,
    MonitoringConfigSerializer,
    SloSerializer,
)

INTERVAL_PRESETS = (1, 2, 5, 10, 15, 30, 60)
# The form's number fields: fieldset, label, help text and the browser-side bounds (the
# serializer holds the real limits).
NUMBER_FIELDS = {
    "retention_days": (
        "schedule",
        "Keep raw checks (days)",
        "1–3650. Hourly and daily summaries for charts are kept longer.",
        1,
        3650,
    ),
    "monthly_budget_usd": (
        "schedule",
        "Monthly probe budget (USD)",
        "Empty = none. Scheduled passes pause once this month's probe spend reaches it.",
        0,
        9_999_999_999,
    ),
    "degraded_ttft_ms": (
        "thresholds",
        "TTFT above (ms)",
        "Time to first token. Empty = off; a model's own threshold overrides it.",
        1,
        3_600_000,
    ),
    "degraded_latency_ms": (
        "thresholds",
        "Latency above (ms)",
        "End-to-end latency. Empty = off.",
        1,
        3_600_000,
    ),
    "timeout_seconds": (
        "probes",
        "Timeout (seconds)",
        "1–600. A probe that takes longer is down (timeout).",
        1,
        600,
    ),
    "max_tokens": ("probes", "Max tokens", "1–4096 output tokens per probe.", 1, 4096),
    "concurrency_per_account": (
        "probes",
        "Concurrency per account",
        "1–256 probes at once against one provider account.",
        1,
        256,
    ),
}
# Empty = threshold off, no budget.
OPTIONAL_FIELDS = ("degraded_ttft_ms", "degraded_latency_ms", "monthly_budget_usd")


class MonitoringSettingsForm(SerializerForm):
    """The interval is a preset or a custom number; an empty optional number means "none"."""

    serializer_class = MonitoringConfigSerializer
    error_fields = {"interval_minutes": "interval_custom"}

    enabled = checkbox()
    interval_choice = text()
    interval_custom = text()
    prompt_pack = text()
    retention_days = text()
    monthly_budget_usd = text()
    degraded_ttft_ms = text()
    degraded_latency_ms = text()
    timeout_seconds = text()
    max_tokens = text()
    concurrency_per_account = text()

    def payload(self) -> dict:
        form = self.cleaned_data
        custom = form["interval_choice"] == "custom"
        data = {
            "enabled": form["enabled"],
            "interval_minutes": form["interval_custom"] if custom else form["interval_choice"],
            "prompt_pack": form["prompt_pack"],
        }
        for name in NUMBER_FIELDS:
            value = form[name]
            data[name] = None if value == "" and name in OPTIONAL_FIELDS else value
        return data

    @staticmethod
    def values_for(config) -> dict:
        """The stored settings as the form's values (the shape of ``values()``)."""
        preset = config.interval_minutes in INTERVAL_PRESETS
        form = {
            "enabled": config.enabled,
            "interval_choice": str(config.interval_minutes) if preset else "custom",
            "interval_custom": "" if preset else str(config.interval_minutes),
            "prompt_pack": config.prompt_pack,
        }
        for name in NUMBER_FIELDS:
            value = getattr(config, name)
            form[name] = "" if value is None else str(value)
        return form


class MaintenanceForm(SerializerForm):
    """A new maintenance window: ``target`` is "account:<id>" or "model:<id>"; the one-off
    fields are local datetime inputs (read as UTC), the weekly ones weekday boxes. Only the
    chosen recurrence's fields are sent (all are on the page at once)."""

    serializer_class = MaintenanceWindowSerializer
    error_fields = {"account_id": "target", "model_id": "target"}

    name = text()
    target = text()
    recurrence = text()
    starts_at = text()
    ends_at = text()
    weekdays = forms.TypedMultipleChoiceField(
        choices=[(str(d), str(d)) for d in range(7)], coerce=int, required=False
    )
    start_time = text()
    duration_minutes = text()
    cron = text()

    def payload(self) -> dict:
        form = self.cleaned_data
        weekly = form["recurrence"] == "weekly"
        cron = form["recurrence"] == "cron"
        once = not (weekly or cron)
        return {
            "name": form["name"],
            **target_ids(form["target"]),
            "recurrence": form["recurrence"],
            "starts_at": _utc(form["starts_at"]) if once else None,
            "ends_at": _utc(form["ends_at"]) if once else None,
            "weekdays": form["weekdays"] if weekly else [],
            "start_time": (form["start_time"] or None) if weekly else None,
            "duration_minutes": (form["duration_minutes"] or None) if weekly or cron else None,
            "cron": form["cron"] if cron else "",
        }


def _utc(value: str) -> str | None:
    """A browser's datetime-local value (no zone) as UTC: the page says times are UTC."""
    return f"{value}Z" if value and not value.endswith("Z") else (value or None)


class SloForm(SerializerForm):
    """A new SLO: ``target`` is "account:<id>" or "model:<id>"; an empty target percentage
    leaves that objective out."""

    serializer_class = SloSerializer
    error_fields = {"account_id": "target", "model_id": "target"}

    name = text()
    target = text()
    availability_target = text()
    latency_metric = text()
    latency_target = text()
    latency_threshold_ms = text()
    period_days = text()

    def payload(self) -> dict:
        form = self.cleaned_data
        latency = bool(form["latency_target"])
        return {
            "name": form["name"],
            **target_ids(form["target"]),
            "availability_target": form["availability_target"] or None,
            "latency_metric": form["latency_metric"] if latency else "",
            "latency_target": form["latency_target"] or None,
            "latency_threshold_ms": (form["latency_threshold_ms"] or None) if latency else None,
            # Empty: the serializer's default period.
            **({"period_days": form["period_days"]} if form["period_days"] else {}),
        }


def target_ids(target: str) -> dict:
    """The target picker's "account:<id>" or "model:<id>" as the serializers' two fields
    (monitoring.pages.target_choices writes the options)."""
    kind, _, target_id = target.partition(":")
    return {
        "account_id": target_id if kind == "account" else None,
        "model_id": target_id if kind == "model" else None,
    }
