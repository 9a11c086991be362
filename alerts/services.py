"""Alert workflows shared by the page, the API and the admin."""

from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from alerts.models import Alert, AlertEvent, AlertRule, new_webhook_secret
from providers import tags as tag_rules
from providers.models import LLMModel


def matching(
    alerts: QuerySet,
    *,
    rule_id=None,
    acknowledged: bool | None = None,
    since: datetime | None = None,
    q: str = "",
    tags=(),
) -> QuerySet:
    """The alerts a filter selects: the alert history lists them, and "Acknowledge all N
    matching" acknowledges them. ``q`` searches the message and the model's id and name;
    ``tags`` keeps alerts of models carrying every tag (own or their account's)."""
    if rule_id:
        alerts = alerts.filter(rule_id=rule_id)
    if acknowledged is not None:
        alerts = alerts.filter(acknowledged=acknowledged)
    if since is not None:
        alerts = alerts.filter(created_at__gte=since)
    if q:
        alerts = alerts.filter(
            Q(message__icontains=q)
            | Q(model__model_id__icontains=q)
            | Q(model__custom_name__icontains=q)
        )
    if tags:
        tagged = tag_rules.filter_models(LLMModel.objects.all(), tags)
        alerts = alerts.filter(model_id__in=tagged.values("pk"))
    return alerts


def acknowledge(*, alerts: QuerySet, by: str = "") -> int:
    """Acknowledge the unacknowledged alerts among ``alerts``; returns how many.

    Each incident they belong to records one "acknowledged" event (``by`` names who). Of two
    concurrent acknowledgements of the same alert, only one counts it and records the event.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            alerts.filter(acknowledged=False)
            .select_for_update()
            .values_list("pk", "incident_id")
            .order_by()
        )
        count = Alert.objects.filter(pk__in=[pk for pk, _ in rows], acknowledged=False).update(
            acknowledged=True, acknowledged_at=now
        )
        incidents = sorted({incident for _, incident in rows if incident}, key=str)
        AlertEvent.objects.bulk_create(
            AlertEvent(incident_id=incident, event=AlertEvent.Event.ACKNOWLEDGED, detail=by)
            for incident in incidents
        )
    return count


def acknowledged_by(user) -> str:
    """How the incident history names who acknowledged."""
    return f"by {user.get_username()}" if user is not None and user.is_authenticated else ""


def rotate_webhook_secret(*, rule: AlertRule) -> AlertRule:
    """Give the rule a new signing secret (the old one stops verifying at once)."""
    rule.webhook_secret = new_webhook_secret()
    rule.save(update_fields=["webhook_secret", "updated_at"])
    return rule
