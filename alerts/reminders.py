"""Reminders and escalation: an open incident nobody has acknowledged does not go quiet.

Every minute (the ``alerts-remind`` schedule), each open incident that speaks for itself (not
held under a wider one) whose alerts are all unacknowledged:

- is escalated once, ``escalate_after_minutes`` after it opened: an "escalated" alert sent to
  the rule's escalation addresses;
- is reminded every ``remind_every_minutes`` after it opened (or after the last reminder): a
  "reminder" alert sent to the rule's usual channels.

Acknowledging any alert of the incident stops both.
"""

from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from alerts import notifications
from alerts.models import Alert, Incident


def remind_and_escalate(now=None) -> list[Alert]:
    now = now or timezone.now()
    acknowledged = Alert.objects.filter(incident=OuterRef("pk"), acknowledged=True)
    due = (
        Incident.objects.filter(resolved_at__isnull=True, parent__isnull=True)
        .exclude(Exists(acknowledged))
        .filter(rule__enabled=True)
        .select_related("rule", "model")
    )
    raised: list[Alert] = []
    for incident in due:
        rule, open_for = incident.rule, now - incident.opened_at
        minutes = int(open_for.total_seconds() // 60)
        if (
            rule.escalate_after_minutes
            and incident.escalated_at is None
            and open_for >= timedelta(minutes=rule.escalate_after_minutes)
        ):
            raised.append(
                _raise(
                    incident, Alert.Kind.ESCALATED, f"Escalated, unacknowledged for {minutes} min"
                )
            )
            Incident.objects.filter(pk=incident.pk).update(escalated_at=now)
        last = incident.reminded_at or incident.opened_at
        if rule.remind_every_minutes and now - last >= timedelta(minutes=rule.remind_every_minutes):
            raised.append(_raise(incident, Alert.Kind.REMINDER, f"Still open after {minutes} min"))
            Incident.objects.filter(pk=incident.pk).update(reminded_at=now)
    if raised:
        notifications.queue_for(raised)
    return raised


def _raise(incident: Incident, kind: str, prefix: str) -> Alert:
    return Alert.objects.create(
        rule=incident.rule,
        model=incident.model,
        incident=incident,
        kind=kind,
        message=f"{prefix}: {incident.summary}",
    )
