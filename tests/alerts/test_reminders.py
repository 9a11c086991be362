"""Reminders and escalation of open, unacknowledged incidents (alerts.reminders)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import reminders
from alerts.models import Alert, Notification
from tests.factories import make_alert, make_incident, make_model, make_rule

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture(autouse=True)
def _no_worker(monkeypatch):
    monkeypatch.setattr("alerts.notifications._start_delivery", lambda: None)


def open_incident(ago_minutes: int, **rule_fields):
    rule = make_rule(notify_email=True, email_to="ops@example.com", **rule_fields)
    incident = make_incident(rule, model=make_model(), ago=timedelta(minutes=ago_minutes))
    make_alert(rule, model=incident.model, incident=incident)
    return incident


def kinds() -> list[str]:
    return sorted(Alert.objects.values_list("kind", flat=True))


def test_an_unacknowledged_incident_is_reminded_every_n_minutes():
    incident = open_incident(0, remind_every_minutes=15)
    now = incident.opened_at + timedelta(minutes=31)
    (reminder,) = reminders.remind_and_escalate(now)
    assert reminder.kind == "reminder" and reminder.message.startswith("Still open after 31 min")
    assert Notification.objects.get(alert=reminder).target == "ops@example.com"
    assert reminders.remind_and_escalate(now + timedelta(minutes=14)) == []
    assert len(reminders.remind_and_escalate(now + timedelta(minutes=15))) == 1
    incident.refresh_from_db()
    assert incident.reminded_at == now + timedelta(minutes=15)


def test_escalation_goes_once_to_its_own_addresses():
    open_incident(60, escalate_after_minutes=45, escalate_email_to="lead@example.com")
    (escalated,) = reminders.remind_and_escalate(NOW)
    assert escalated.kind == "escalated"
    (notification,) = Notification.objects.filter(alert=escalated)
    assert notification.target == "lead@example.com"
    assert reminders.remind_and_escalate(NOW + timedelta(hours=1)) == []


def test_acknowledging_stops_both():
    incident = open_incident(
        60, remind_every_minutes=5, escalate_after_minutes=1, escalate_email_to="lead@example.com"
    )
    incident.alerts.update(acknowledged=True)
    assert reminders.remind_and_escalate(NOW) == []
    assert kinds() == ["fired"]


def test_nothing_is_due_too_early_or_for_a_resolved_or_held_incident():
    open_incident(
        3, remind_every_minutes=5, escalate_after_minutes=10, escalate_email_to="lead@example.com"
    )
    resolved = open_incident(60, remind_every_minutes=5)
    resolved.resolved_at = NOW
    resolved.save()
    held = open_incident(60, remind_every_minutes=5)
    held.parent = open_incident(60)
    held.save()
    assert reminders.remind_and_escalate(NOW) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"remind_every_minutes": 1}, "remind_every_minutes"),
        ({"escalate_after_minutes": 0}, "escalate_after_minutes"),
        ({"escalate_after_minutes": 30}, "escalate_email_to"),
        (
            {"escalate_after_minutes": 30, "escalate_email_to": "not an address"},
            "escalate_email_to",
        ),
    ],
)
def test_bad_reminder_settings_are_a_422_naming_the_field(api, body, field):
    response = api.post(
        "/api/v1/alerts/rules", {"name": "r", "rule_type": "any_model_down", **body}, format="json"
    )
    assert response.status_code == 422
    assert [field] in [entry["loc"][1:] for entry in response.json()["detail"]]
