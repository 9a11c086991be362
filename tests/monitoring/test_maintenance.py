"""Maintenance windows: when they are active, what they do to a real pass, and bad input."""

from datetime import UTC, datetime, time, timedelta
from time import perf_counter

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


def cron(**kw) -> MaintenanceWindow:
    defaults = {"name": "Cron", "recurrence": "cron", "cron": "30 1 * * 1-5"}
    return MaintenanceWindow(**{"duration_minutes": 60, **defaults, **kw})


def test_a_cron_window_is_active_from_each_firing_for_its_duration():
    window = cron()
    monday = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday
    assert maintenance.active(window, monday.replace(hour=1, minute=30))
    assert maintenance.active(window, monday.replace(hour=1, minute=45))
    assert not maintenance.active(window, monday.replace(hour=1, minute=29, second=59))
    assert not maintenance.active(window, monday.replace(hour=2, minute=30))  # ends exclusive
    assert not maintenance.active(window, monday.replace(hour=2, minute=31))
    assert not maintenance.active(window, monday + timedelta(days=5, hours=1, minutes=45))  # Sat
    week = list(maintenance.occurrences(window, monday + timedelta(hours=2), monday + timedelta(7)))
    assert [start for start, _ in week] == [
        monday + timedelta(days=day, hours=1, minutes=30) for day in range(5)
    ]  # Monday's started before ``since`` and is still running
    assert all(end - start == timedelta(hours=1) for start, end in week)


def test_a_minutely_cron_window_is_one_interval_and_quick_to_check():
    window = cron(cron="* * * * *", duration_minutes=30)
    since = datetime(2026, 12, 7, 12, tzinfo=UTC)
    started = perf_counter()
    (interval,) = maintenance.occurrences(window, since, since + maintenance.OVERLAP_HORIZON)
    assert perf_counter() - started < 2
    assert interval == (since - timedelta(minutes=29), since + timedelta(days=14, minutes=29))
    assert maintenance.active(window, since)


def test_a_cron_window_covers_its_model_while_it_runs():
    """covered() is what a pass asks before storing a check with ``in_maintenance``."""
    model = make_model()
    cron(model=model).save()
    monday = datetime(2026, 12, 7, tzinfo=UTC)
    assert maintenance.covered([model], monday.replace(hour=1, minute=45)) == {model.pk}
    assert maintenance.covered([model], monday.replace(hour=3)) == set()


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
        ({"recurrence": "cron", "duration_minutes": 60}, "cron"),
        ({"recurrence": "cron", "cron": "0 3 * * 1"}, "duration_minutes"),
        (
            {"recurrence": "cron", "cron": "0 3 * * 1", "duration_minutes": 10081},
            "duration_minutes",
        ),
        ({"recurrence": "cron", "cron": "x" * 101, "duration_minutes": 60}, "cron"),
    ],
)
def test_bad_windows_are_a_422_naming_the_field(api, body, field):
    model = make_model()
    response = api.post(WINDOWS, {"name": "w", "model_id": str(model.pk), **body}, format="json")
    assert response.status_code == 422
    assert ["body", field] in [entry["loc"][:2] for entry in response.json()["detail"]]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "Not a valid cron expression (Bad minute)."),
        ("0 0 * *", "Not a valid cron expression: it needs 5 fields"),
        ("0 0 0 * * *", "Not a valid cron expression: it needs 5 fields"),  # no seconds
        ("0 0 30 2 *", "This cron expression never fires."),
    ],
)
def test_a_cron_expression_that_is_malformed_or_never_fires_is_a_422(api, expression, message):
    model = make_model()
    body = {"name": "w", "model_id": str(model.pk), "recurrence": "cron", "duration_minutes": 60}
    response = api.post(WINDOWS, {**body, "cron": expression}, format="json")
    assert response.status_code == 422
    (entry,) = response.json()["detail"]
    assert entry["loc"][:2] == ["body", "cron"] and entry["msg"].startswith(message)


def test_a_cron_window_is_created_and_read_back(api):
    model = make_model()
    body = {
        "name": "Nightly",
        "model_id": str(model.pk),
        "recurrence": "cron",
        "cron": "30 1 * * 1-5",
        "duration_minutes": 60,
    }
    response = api.post(WINDOWS, body, format="json")
    assert response.status_code == 201
    assert response.json()["cron"] == "30 1 * * 1-5"
    assert response.json()["active"] is maintenance.active(
        MaintenanceWindow.objects.get(), timezone.now()
    )
    (item,) = api.get(WINDOWS).json()["items"]
    assert item["recurrence"] == "cron" and item["duration_minutes"] == 60


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


def test_a_cron_window_may_not_overlap_a_weekly_one_of_its_model(api):
    model = make_model()
    weekly_body = {
        "name": "weekly",
        "model_id": str(model.pk),
        "recurrence": "weekly",
        "weekdays": [0],
        "start_time": "02:00",
        "duration_minutes": 120,
    }
    assert api.post(WINDOWS, weekly_body, format="json").status_code == 201
    body = {"name": "cron", "model_id": str(model.pk), "recurrence": "cron"}
    clash = api.post(WINDOWS, {**body, "cron": "0 3 * * 1", "duration_minutes": 30}, format="json")
    assert clash.status_code == 422
    assert clash.json()["detail"][0]["loc"][:2] == ["body", "cron"]
    assert "Overlaps the maintenance window “weekly”" in clash.json()["detail"][0]["msg"]
    # Every minute: 20,000 starts in the two weeks compared, merged into one interval.
    started = perf_counter()
    busy = api.post(WINDOWS, {**body, "cron": "* * * * *", "duration_minutes": 1}, format="json")
    assert busy.status_code == 422 and perf_counter() - started < 2
    after = {**body, "cron": "0 4 * * 1", "duration_minutes": 30}
    assert api.post(WINDOWS, after, format="json").status_code == 201


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


def test_the_monitoring_page_adds_a_cron_window(logged_in):
    model = make_model()
    response = logged_in.post(
        "/monitoring/maintenance",
        {
            "name": "Weeknights",
            "target": f"model:{model.pk}",
            "recurrence": "cron",
            "starts_at": "2026-12-07T10:00",  # another recurrence's input: not sent
            "cron": "30 1 * * 1-5",
            "duration_minutes": "60",
        },
    )
    assert response.status_code == 302
    window = MaintenanceWindow.objects.get()
    assert window.cron == "30 1 * * 1-5" and window.starts_at is None
    html = logged_in.get("/monitoring").content.decode()
    assert "Cron 30 1 * * 1-5 UTC for 60 min" in html
    bad = logged_in.post(
        "/monitoring/maintenance",
        {"name": "x", "target": f"model:{model.pk}", "recurrence": "cron", "cron": "0 0 30 2 *"},
    )
    html = bad.content.decode()
    assert "never fires" in html and '<option value="cron" selected>' in html


def test_the_uptime_api_says_which_checks_were_in_maintenance(api):
    from monitoring.models import UptimeCheck as Check

    model = make_model()
    Check.objects.create(model=model, status="down", created_at=timezone.now(), in_maintenance=True)
    (item,) = api.get("/api/v1/monitoring/uptime").json()["items"]
    assert item["in_maintenance"] is True and item["status"] == "down"


def test_the_admin_holds_windows_to_the_api_rules():
    from monitoring.admin import MaintenanceWindowAdminForm

    model = make_model()
    base = {"name": "Nightly", "model": model.pk, "recurrence": "cron", "weekdays": "[]"}
    never = MaintenanceWindowAdminForm(data={**base, "cron": "0 0 30 2 *", "duration_minutes": 60})
    assert not never.is_valid()
    assert never.errors["cron"] == ["This cron expression never fires."]
    nightly = MaintenanceWindowAdminForm(data={**base, "cron": "0 2 * * *", "duration_minutes": 60})
    assert nightly.is_valid(), nightly.errors
    assert nightly.save().cron == "0 2 * * *"
