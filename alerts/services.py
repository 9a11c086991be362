"""Alert workflows shared by the page, the API and the admin."""

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from alerts.models import Alert, AlertEvent, AlertRule, new_webhook_secret


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
