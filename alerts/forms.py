"""The Alerts page's rule form: AlertRuleSerializer's rules, page-shaped input.

The page shows every rule type's fields at once; the payload keeps those of the chosen type
and clears the others, so that changing a rule's type leaves nothing of the old one behind.
"""

from alerts.models import REGRESSION_DEFAULTS, THRESHOLD_DEFAULTS, AlertRule
from alerts.serializers import AlertRuleSerializer
from arguslm.forms import SerializerForm, checkbox, text
from arguslm.pages import error_text

Type = AlertRule.RuleType

# The rule form: its fields, the defaults of a new rule, the threshold_config keys.
CHECKBOXES = ("enabled", "notify_in_app", "notify_email", "notify_webhook", "notify_apprise")
THRESHOLD_FIELDS = (
    "metric",
    "comparison",
    "threshold",
    "factor",
    "window_minutes",
    "baseline_hours",
    "min_samples",
)
TEXT_FIELDS = (
    "name",
    "rule_type",
    "target_model_id",
    "target_model_name",
    *THRESHOLD_FIELDS,
    "perf_target_model_id",
    "target_slo_id",
    "target_template_id",
    "regression_metric",
    "threshold_percent",
    "consecutive_failures",
    "consecutive_recoveries",
    "email_to",
    "webhook_url",
    "webhook_format",
    "remind_every_minutes",
    "escalate_after_minutes",
    "escalate_email_to",
    "apprise_urls",
)
NEW_RULE = {
    **dict.fromkeys(TEXT_FIELDS, ""),
    "rule_type": Type.ANY_MODEL_DOWN,
    **{name: str(value) for name, value in THRESHOLD_DEFAULTS.items()},
    "regression_metric": REGRESSION_DEFAULTS["metric"],
    "threshold_percent": str(REGRESSION_DEFAULTS["threshold_percent"]),
    "consecutive_failures": "1",
    "consecutive_recoveries": "1",
    "webhook_format": AlertRule.WebhookFormat.GENERIC,
    "enabled": True,
    "notify_in_app": True,
    "notify_email": False,
    "notify_webhook": False,
    "notify_apprise": False,
}
# The API's wording names API fields; where a field was left empty, say it in the form's terms.
EMPTY_FIELD_MESSAGES = {
    "target_model_id": "Choose the model to watch.",
    "target_model_name": "Enter a model name pattern, e.g. gpt-4o.",
    "webhook_url": "Enter the webhook URL, or turn webhook notifications off.",
    "apprise_urls": "Enter one or more Apprise URLs, or turn Apprise notifications off.",
}


class AlertRuleForm(SerializerForm):
    serializer_class = AlertRuleSerializer

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update({name: text() for name in TEXT_FIELDS})
        self.fields.update({name: checkbox() for name in CHECKBOXES})

    def payload(self) -> dict:
        form = self.cleaned_data
        kind = form["rule_type"]
        payload = {
            "name": form["name"],
            "rule_type": kind,
            "enabled": form["enabled"],
            "target_model_id": None,
            "target_model_name": None,
            "target_slo_id": None,
            "target_template_id": None,
            "threshold_config": None,
            "consecutive_failures": form["consecutive_failures"] or 1,
            "consecutive_recoveries": form["consecutive_recoveries"] or 1,
            "notify_in_app": form["notify_in_app"],
            "notify_email": form["notify_email"],
            "email_to": form["email_to"],
            "remind_every_minutes": form["remind_every_minutes"] or None,
            "escalate_after_minutes": form["escalate_after_minutes"] or None,
            "escalate_email_to": form["escalate_email_to"],
            "notify_webhook": form["notify_webhook"],
            "webhook_format": form["webhook_format"] or AlertRule.WebhookFormat.GENERIC,
            "notify_apprise": form["notify_apprise"],
        }
        # The stored URL is never shown: empty keeps it while webhooks stay on; turning
        # webhooks off forgets it.
        if not form["notify_webhook"]:
            payload["webhook_url"] = None
        elif form["webhook_url"] or self.instance is None or not self.instance.webhook_url:
            payload["webhook_url"] = form["webhook_url"] or None
        # The same for the Apprise URLs.
        if not form["notify_apprise"]:
            payload["apprise_urls"] = None
        elif form["apprise_urls"] or self.instance is None or not self.instance.apprise_urls:
            payload["apprise_urls"] = form["apprise_urls"] or None
        if kind == Type.SPECIFIC_MODEL_DOWN:
            payload["target_model_id"] = form["target_model_id"] or None
        elif kind == Type.MODEL_UNAVAILABLE_EVERYWHERE:
            payload["target_model_name"] = form["target_model_name"] or None
        elif kind == Type.SLO_BURN_RATE:
            payload["target_slo_id"] = form["target_slo_id"] or None
        elif kind == Type.BENCHMARK_REGRESSION:
            payload["target_template_id"] = form["target_template_id"] or None
            payload["threshold_config"] = {
                key: value
                for key, value in (
                    ("metric", form["regression_metric"]),
                    ("threshold_percent", form["threshold_percent"]),
                )
                if value != ""
            }
        elif kind == Type.PERFORMANCE_DEGRADATION:
            # The evaluator scopes the rule by its target_model (not threshold_config's copy).
            payload["target_model_id"] = form["perf_target_model_id"] or None
            unused = ("factor", "baseline_hours") if form["comparison"] != "baseline" else ()
            payload["threshold_config"] = {
                key: form[key] for key in THRESHOLD_FIELDS if form[key] != "" and key not in unused
            }
        return payload

    def add_field_error(self, key: str, detail) -> None:
        performance = self.cleaned_data["rule_type"] == Type.PERFORMANCE_DEGRADATION
        regression = self.cleaned_data["rule_type"] == Type.BENCHMARK_REGRESSION
        if key == "threshold_config" and isinstance(detail, dict):
            for sub, problems in detail.items():
                name = "perf_target_model_id" if sub == "target_model_id" else sub
                if regression and sub == "metric":
                    name = "regression_metric"
                self.add_error(name if name in self.fields else None, error_text(problems))
            return
        if key == "target_model_id" and performance:
            key = "perf_target_model_id"
        elif key in EMPTY_FIELD_MESSAGES and not self.cleaned_data.get(key):
            detail = EMPTY_FIELD_MESSAGES[key]
        super().add_field_error(key, detail)

    @staticmethod
    def values_for(rule: AlertRule) -> dict:
        """A stored rule as the form's values (the shape of ``values()``)."""
        is_perf = rule.rule_type == Type.PERFORMANCE_DEGRADATION
        is_regression = rule.rule_type == Type.BENCHMARK_REGRESSION
        # The two kinds of threshold_config show in different fields.
        stored = rule.threshold_config or {}
        config = {**NEW_RULE, **({} if is_regression else stored)}
        regression = {**REGRESSION_DEFAULTS, **(stored if is_regression else {})}
        model_id = str(rule.target_model_id) if rule.target_model_id else ""
        form = {
            **{
                name: "" if config.get(name) is None else str(config[name])
                for name in THRESHOLD_FIELDS
            },
            "name": rule.name,
            "rule_type": rule.rule_type,
            "target_model_id": "" if is_perf else model_id,
            "perf_target_model_id": model_id if is_perf else "",
            "target_model_name": rule.target_model_name or "",
            "target_slo_id": str(rule.target_slo_id or ""),
            "target_template_id": str(rule.target_template_id or ""),
            "regression_metric": str(regression["metric"]),
            "threshold_percent": f"{float(regression['threshold_percent']):g}",
            "consecutive_failures": str(rule.consecutive_failures),
            "consecutive_recoveries": str(rule.consecutive_recoveries),
            "email_to": rule.email_to,
            "webhook_url": "",
            "webhook_format": rule.webhook_format,
            "remind_every_minutes": str(rule.remind_every_minutes or ""),
            "escalate_after_minutes": str(rule.escalate_after_minutes or ""),
            "escalate_email_to": rule.escalate_email_to,
            "apprise_urls": "",
        }
        form.update({name: getattr(rule, name) for name in CHECKBOXES})
        return form
