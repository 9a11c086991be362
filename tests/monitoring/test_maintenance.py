"""Maintenance windows: when they are active, what they do to a real pass, and bad input."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert
from monitoring import maintenance, services
from monitoring.models import CheckRollup, MaintenanceWindow, MonitoringRun, UptimeCheck
from tests.factories import make_account, make_model, make_rule

pytestmark = pytest.mark.django_db

WINDOWS = "/api/v1/maintenance-windows"
BROKEN = "sim/status=500"


def weekly(**kw) -> MaintenanceWindow:
    defaults = {"name": "Weekly", "recurrence": "weekly", "weekdays": [0], "start_time": time(2)}
    return MaintenanceWindow(**{"duration_minutes": 120, **defaults, **kw})


def test_a_weekly_window_is_active_on_its_days_and_hours_only():
    window = weekly(weekdays=[0, 6], start_time=time(23), duration_minutes=120)
    monday = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday
    assert maintenance.active(window, monday.replace(hour=0, minute=30))  # Sunday 23:00 + 2 h
    assert maintenance.active(window, monday.replace(hour=23, minute=59))
    assert not maintenance.active(window, monday.replace(hour=1, minute=0))
    assert not maintenance.active(window, monday + timedelta(days=2, hours=23, minutes=30))


def test_a_pass_in_maintenance_is_stored_but_counts_for_nothing(llmsim, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    make_rule()
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    model = make_model(account, model_id=BROKEN)
    now = timezone.now()
    MaintenanceWindow.objects.create(
        name="Upgrade",
        account=account,
        recurrence="once",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=1),
    )
    run = MonitoringRun.objects.create()
    services.start_pass(run_id=run.id)
    check = UptimeCheck.objects.get(model=model)
    assert check.status == "down" and check.in_maintenance
    assert not Alert.objects.exists()
    assert not CheckRollup.objects.filter(model=model).exists()  # out of availability


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "recurrence": "once",
                "starts_at": "2026-12-07T10:00Z",
                "ends_at": "2026-12-07T09:00Z",
            },
            "ends_at",
        ),
        ({"recurrence": "once", "starts_at": "2026-12-07T10:00Z"}, "ends_at"),
        ({"recurrence": "weekly", "start_time": "02:00", "duration_minutes": 60}, "weekdays"),
        (
            {
                "recurrence": "weekly",
                "weekdays": [7],
                "start_time": "02:00",
                "duration_minutes": 60,
            },
            "weekdays",
        ),
        (
            {"recurrence": "weekly", "weekdays": [1], "start_time": "02:00", "duration_minutes": 0},
            "duration_minutes",
        ),
        ({"recurrence": "sometimes"}, "recurrence"),
    ],
)
def test_bad_windows_are_a_422_naming_the_field(api, body, field):
    model = make_model()
    response = api.post(WINDOWS, {"name": "w", "model_id": str(model.pk), **body}, format="json")
    assert response.status_code == 422
    assert ["body", field] in [entry["loc"][:2] for entry in response.json()["detail"]]


def test_a_window_needs_exactly_one_target(api):
    model = make_model()
    body = {
        "name": "w",
        "recurrence": "once",
        "starts_at": "2026-12-07T10:00Z",
        "ends_at": "2026-12-07T11:00Z",
    }
    both = {**body, "model_id": str(model.pk), "account_id": str(model.provider_account_id)}
    for payload in (body, both):
        response = api.post(WINDOWS, payload, format="json")
        assert response.status_code == 422
        assert ["body", "account_id"] in [e["loc"][:2] for e in response.json()["detail"]]


def test_overlapping_windows_of_one_target_are_refused(api):
    model = make_model()
    soon = timezone.now() + timedelta(days=1)
    once = {
        "name": "first",
        "model_id": str(model.pk),
        "recurrence": "once",
        "starts_at": soon.isoformat(),
        "ends_at": (soon + timedelta(hours=2)).isoformat(),
    }
    assert api.post(WINDOWS, once, format="json").status_code == 201
    clash = {
        **once,
        "name": "second",
        "starts_at": (soon + timedelta(hours=1)).isoformat(),
        "ends_at": (soon + timedelta(hours=3)).isoformat(),
    }
    response = api.post(WINDOWS, clash, format="json")
    assert response.status_code == 422 and "Overlaps" in response.content.decode()
    weekly_clash = {
        "name": "weekly",
        "model_id": str(model.pk),
        "recurrence": "weekly",
        "weekdays": [soon.weekday()],
        "start_time": soon.strftime("%H:%M"),
        "duration_minutes": 30,
    }
    assert api.post(WINDOWS, weekly_clash, format="json").status_code == 422
    other = make_model(model_id="other")
    assert api.post(WINDOWS, {**clash, "model_id": str(other.pk)}, format="json").status_code == 201


def test_the_monitoring_page_adds_lists_and_removes_a_window(logged_in):
    account = make_account(display_name="Acme")
    response = logged_in.post(
        "/monitoring/maintenance",
        {
            "name": "Nightly",
            "target": f"account:{account.pk}",
            "recurrence": "weekly",
            "weekdays": ["0", "2"],
            "start_time": "02:00",
            "duration_minutes": "90",
        },
    )
    assert response.status_code == 302
    window = MaintenanceWindow.objects.get()
    assert window.account == account and window.weekdays == [0, 2]
    html = logged_in.get("/monitoring").content.decode()
    assert "Nightly" in html and "Mon, Wed 02:00 UTC for 90 min" in html
    bad = logged_in.post("/monitoring/maintenance", {"name": "x", "recurrence": "once"})
    assert bad.status_code == 200 and "Not added" in bad.content.decode()
    logged_in.post(f"/monitoring/maintenance/{window.pk}/delete")
    assert not MaintenanceWindow.objects.exists()


def test_the_uptime_api_says_which_checks_were_in_maintenance(api):
    from monitoring.models import UptimeCheck as Check

    model = make_model()
    Check.objects.create(model=model, status="down", created_at=timezone.now(), in_maintenance=True)
    (item,) = api.get("/api/v1/monitoring/uptime").json()["items"]
    assert item["in_maintenance"] is True and item["status"] == "down"
