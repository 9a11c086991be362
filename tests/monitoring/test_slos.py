"""SLOs: budgets and burn rates against a hand computation, their alerts, the API and the page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from alerts import evaluation
from alerts.models import Alert, AlertRule, Incident
from monitoring import sketch, slos
from monitoring.models import CheckRollup, Slo
from tests.factories import (
    make_account,
    make_model,
    make_monitoring_run,
    store_checks,
    uptime_check,
)

pytestmark = pytest.mark.django_db

SLOS = "/api/v1/slos"
NOW = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)


def history(model):
    """Generated history of one model up to NOW (a Monday, 12:30 UTC):

    - every 10 min from Sun 29 Nov 00:00 to 7 Dec 06:20: down before the SLO's 7-day period
      (which starts 30 Nov 12:00), then up (TTFT 42 ms), except: down on 2 Dec at 10:00, 10:10
      and 10:20; TTFT 2,000 ms each day at 03:00; and 4 Dec 00:00–00:50 down but in
      maintenance (counted nowhere);
    - every minute from 06:31 to 12:30 (the alert windows): up, except TTFT 2,000 ms from 11:41
      to 11:50 and down from 12:21 to 12:30.
    """
    start = datetime(2026, 11, 30, 12, tzinfo=UTC)
    outage = {datetime(2026, 12, 2, 10, m, tzinfo=UTC) for m in (0, 10, 20)}
    checks = []
    moment = datetime(2026, 11, 29, tzinfo=UTC)
    while moment <= datetime(2026, 12, 7, 6, 20, tzinfo=UTC):
        maintenance = moment.date().isoformat() == "2026-12-04" and moment.hour == 0
        if moment < start or moment in outage or maintenance:
            check = uptime_check(model, status="down", in_maintenance=maintenance)
        elif moment.hour == 3 and moment.minute == 0:
            check = uptime_check(model, ttft_ms=2000.0)
        else:
            check = uptime_check(model)
        check.created_at = moment
        checks.append(check)
        moment += timedelta(minutes=10)
    moment = datetime(2026, 12, 7, 6, 31, tzinfo=UTC)
    while moment <= NOW:
        if moment.hour == 12 and moment.minute >= 21:
            check = uptime_check(model, status="down")
        elif moment.hour == 11 and 41 <= moment.minute <= 50:
            check = uptime_check(model, ttft_ms=2000.0)
        else:
            check = uptime_check(model)
        check.created_at = moment
        checks.append(check)
        moment += timedelta(minutes=1)
    store_checks(checks)


def test_budget_and_burn_rates_match_a_hand_computation():
    model = make_model()
    history(model)
    slo = Slo.objects.create(
        name="Chat",
        model=model,
        availability_target=99.0,
        latency_metric="ttft",
        latency_target=95.0,
        latency_threshold_ms=1000,
        period_days=7,
    )
    availability, latency = slos.report(slo, now=NOW).objectives

    # Period 30 Nov 12:00 → 7 Dec 12:30. 10-min checks 30 Nov 12:00 … 7 Dec 06:20: 975, less 6
    # in maintenance = 969; minute checks 06:31 … 12:30: 360. 1,329 checks, 13 down (3 + 10).
    assert (availability.period.total, availability.period.bad) == (1329, 13)
    # Budget: 1 % of 1,329 = 13.29 bad checks; 13 spent.
    assert availability.allowed_bad == pytest.approx(13.29)
    assert availability.budget_remaining == pytest.approx(1 - 13 / 13.29)
    assert availability.sli == pytest.approx(100 * 1316 / 1329)
    # Burn = bad share / 1 %: 5 min 5/5 → 100×; 30 min 10/30 → 33.3×; 1 h 10/60 → 16.7×;
    # 6 h 10/360 → 2.78×. Fast (1 h and 5 min ≥ 14.4×) fires; slow (6 h ≥ 6×) does not.
    rates = {w: availability.burn_rate(w) for w in slos.WINDOWS}
    assert rates == pytest.approx({"5m": 100, "30m": 100 / 3, "1h": 100 / 6, "6h": 100 / 36})
    assert [a.name for a in availability.firing] == ["fast"]

    # TTFT ≤ 1 s for 95 %: of the 1,316 successful checks, 7 at 03:00 (1–7 Dec) and 10 from
    # 11:41 are slow: 17 bad of 5 % × 1,316 = 65.8 allowed.
    assert (latency.period.total, latency.period.bad) == (1316, 17)
    assert latency.budget_remaining == pytest.approx(1 - 17 / 65.8)
    # 5 min: no successful check (None); 30 min: 0 of 20; 1 h 10 of 50 → 0.2 / 5 % = 4×;
    # 6 h: 10 of 350 → 0.571×.
    rates = {w: latency.burn_rate(w) for w in slos.WINDOWS}
    assert rates == pytest.approx({"5m": None, "30m": 0, "1h": 4, "6h": 10 / 350 / 0.05})
    assert latency.firing == []


def test_an_account_slo_counts_every_model_of_the_account():
    account = make_account()
    a, b = make_model(account, model_id="a"), make_model(account, model_id="b")
    make_model(model_id="elsewhere")  # another account's model: not counted
    now = timezone.now()
    store_checks(
        [uptime_check(a, ago=timedelta(minutes=m)) for m in range(1, 4)]
        + [uptime_check(b, status="down", ago=timedelta(minutes=m)) for m in range(1, 4)]
    )
    slo = Slo.objects.create(name="Prod", account=account, availability_target=50)
    (objective,) = slos.report(slo, now=now).objectives
    assert (objective.period.total, objective.period.bad) == (6, 3)
    assert objective.budget_remaining == pytest.approx(0.0)  # 50 % allowed bad, all spent
    assert objective.burn_rate("5m") == pytest.approx(1.0)


def test_two_regions_rollups_of_one_bucket_count_as_one_regions_would():
    """Rollups are one row per region and bucket: the period adds the rows' counts, and the
    latency counts of each row's summary add up to those of the merged summary."""
    account = make_account()
    regional, single = make_model(account, model_id="regional"), make_model(account, model_id="one")
    # (moment, TTFT ms or None for down): a settled day (cached), yesterday's day row, this hour.
    seen = {
        "default": [(NOW - timedelta(days=3), 100), (NOW - timedelta(hours=22), 1500)]
        + [(NOW - timedelta(minutes=m), ttft) for m, ttft in ((5, 900), (15, None))],
        "eu-west": [(NOW - timedelta(days=3, minutes=5), 2000), (NOW - timedelta(hours=22), 950)]
        + [(NOW - timedelta(minutes=m), ttft) for m, ttft in ((6, 800), (16, 1100), (20, None))],
    }

    def checks(model, region, rows):
        made = []
        for moment, ttft in rows:
            if ttft:
                check = uptime_check(model, region=region, ttft_ms=ttft)
            else:
                check = uptime_check(model, region=region, status="down")
            check.created_at = moment
            made.append(check)
        return made

    for region, rows in seen.items():
        store_checks(checks(regional, region, rows))
    store_checks(checks(single, "default", [row for rows in seen.values() for row in rows]))

    hour = CheckRollup.objects.filter(
        model=regional, resolution="hour", bucket__gte=NOW.replace(minute=0)
    )
    assert sorted(hour.values_list("region", "n")) == [("default", 2), ("eu-west", 3)]
    merged = sketch.empty()
    for row in hour:
        sketch.merge(merged, row.ttft)
    assert (
        sketch.count_at_most(merged, 1000)
        == 2
        == sum(sketch.count_at_most(row.ttft, 1000) for row in hour)
    )

    figures = {}
    for model in (regional, single):
        slo = Slo.objects.create(
            name=model.model_id,
            model=model,
            availability_target=90.0,
            latency_metric="ttft",
            latency_target=50.0,
            latency_threshold_ms=1000,
            period_days=7,
        )
        availability, latency = slos.report(slo, now=NOW).objectives
        figures[model.model_id] = (availability.period, latency.period)
    # 9 checks, 2 down; of the 7 that succeeded, TTFT ≤ 1 s: 100, 900, 950, 800.
    assert figures["regional"] == figures["one"]
    assert figures["regional"] == (slos.Tally(good=7, total=9), slos.Tally(good=4, total=7))


def test_a_100_percent_target_has_no_budget_and_burns_endlessly_on_one_bad_check(api):
    model = make_model()
    store_checks([uptime_check(model, status="down", ago=timedelta(minutes=1))])
    slo = Slo.objects.create(name="Perfect", model=model, availability_target=100)
    (objective,) = slos.report(slo).objectives
    assert objective.burn_rate("5m") == float("inf")
    assert [a.name for a in objective.firing] == ["fast", "slow"]
    status = api.get(f"{SLOS}/{slo.pk}").json()["status"]
    assert status["budget_remaining"] is None  # JSON has no infinity
    assert status["objectives"][0]["burn_rates"]["5m"] is None
    assert status["objectives"][0]["alerts"] == ["fast", "slow"]


def test_a_burn_rate_rule_opens_one_incident_per_slo_and_resolves_it():
    model = make_model()
    store_checks(
        [uptime_check(model, ago=timedelta(minutes=m)) for m in range(11, 60)]
        + [
            uptime_check(model, status="down", ago=timedelta(seconds=30 + 60 * m))
            for m in range(10)
        ]
    )
    slo = Slo.objects.create(name="Chat", model=model, availability_target=99.0)
    rule = AlertRule.objects.create(
        name="SLO burn", rule_type=AlertRule.RuleType.SLO_BURN_RATE, target_slo=slo
    )
    raised = evaluation.evaluate_run(make_monitoring_run().id)
    assert [a.kind for a in raised] == ["fired"]
    assert "SLO “Chat”: availability burning its budget" in raised[0].message
    assert "(fast burn)" in raised[0].message
    assert evaluation.evaluate_run(make_monitoring_run().id) == []  # still one incident
    incident = Incident.objects.get(rule=rule)
    assert incident.subject == f"slo:{slo.pk}" and incident.model == model

    model.uptime_checks.filter(status="down").delete()  # the burning stops
    raised = evaluation.evaluate_run(make_monitoring_run().id)
    assert [a.kind for a in raised] == ["recovered"]
    assert Alert.objects.count() == 2
    incident.refresh_from_db()
    assert incident.resolved_at is not None


def test_a_burn_rate_rule_gives_no_verdict_without_checks():
    Slo.objects.create(name="Quiet", model=make_model(), availability_target=99.0)
    AlertRule.objects.create(name="SLO burn", rule_type=AlertRule.RuleType.SLO_BURN_RATE)
    assert evaluation.evaluate_run(make_monitoring_run().id) == []
    assert not Incident.objects.exists()


# --- the API -------------------------------------------------------------------------------------


def test_the_api_creates_reads_changes_and_deletes_an_slo(api):
    model = make_model()
    store_checks([uptime_check(model, ago=timedelta(minutes=m)) for m in range(1, 5)])
    body = {
        "name": "Chat",
        "model_id": str(model.pk),
        "availability_target": 99.5,
        "latency_metric": "ttft",
        "latency_target": 95,
        "latency_threshold_ms": 1500,
    }
    created = api.post(SLOS, body, format="json")
    assert created.status_code == 201, created.json()
    slo = created.json()
    assert slo["period_days"] == 30
    assert slo["status"]["budget_remaining"] == 1.0
    assert [o["objective"] for o in slo["status"]["objectives"]] == ["availability", "ttft"]
    first = slo["status"]["objectives"][0]
    assert (first["checks"], first["bad"], first["sli"]) == (4, 0, 100.0)
    assert first["burn_rates"] == {"5m": 0.0, "30m": 0.0, "1h": 0.0, "6h": 0.0}

    listed = api.get(SLOS).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == slo["id"]
    changed = api.patch(f"{SLOS}/{slo['id']}", {"availability_target": 99.9}, format="json")
    assert changed.status_code == 200 and changed.json()["availability_target"] == 99.9
    # Leaving out the latency objective clears all three of its fields together.
    cleared = api.patch(
        f"{SLOS}/{slo['id']}",
        {"latency_target": None, "latency_metric": None, "latency_threshold_ms": None},
        format="json",
    )
    assert cleared.status_code == 200, cleared.json()
    assert [o["objective"] for o in cleared.json()["status"]["objectives"]] == ["availability"]
    assert api.delete(f"{SLOS}/{slo['id']}").status_code == 204
    assert not Slo.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"availability_target": 0}, "availability_target"),
        ({"availability_target": 100.01}, "availability_target"),
        ({"availability_target": -5}, "availability_target"),
        ({"availability_target": None}, "availability_target"),  # no objective left
        ({"latency_target": 95}, "latency_metric"),
        ({"latency_target": 95, "latency_metric": "ttft"}, "latency_threshold_ms"),
        ({"latency_threshold_ms": 900}, "latency_target"),
        (
            {"latency_target": 120, "latency_metric": "ttft", "latency_threshold_ms": 9},
            "latency_target",
        ),
        ({"period_days": 0}, "period_days"),
        ({"period_days": 366}, "period_days"),
        ({"model_id": None}, "account_id"),  # no target
        ({"account_id": "00000000-0000-0000-0000-000000000001"}, "account_id"),
        ({"latency_metric": "tps", "latency_target": 95}, "latency_metric"),
    ],
)
def test_bad_slos_are_422_naming_the_field(api, change, field):
    model = make_model()
    body = {"name": "Chat", "model_id": str(model.pk), "availability_target": 99.5, **change}
    response = api.post(SLOS, body, format="json")
    assert response.status_code == 422, response.json()
    assert field in [error["loc"][-1] for error in response.json()["detail"]], response.json()
    assert not Slo.objects.exists()


def test_an_slo_of_both_an_account_and_a_model_is_refused(api):
    model = make_model()
    body = {
        "name": "Both",
        "model_id": str(model.pk),
        "account_id": str(model.provider_account_id),
        "availability_target": 99,
    }
    response = api.post(SLOS, body, format="json")
    assert response.status_code == 422
    assert not Slo.objects.exists()


def test_a_100_percent_target_is_accepted(api):
    body = {"name": "Perfect", "model_id": str(make_model().pk), "availability_target": 100}
    assert api.post(SLOS, body, format="json").status_code == 201


# --- the page ------------------------------------------------------------------------------------


def test_the_page_adds_shows_and_removes_an_slo(logged_in):
    model = make_model()
    store_checks(
        [uptime_check(model, ago=timedelta(minutes=m)) for m in range(2, 10)]
        + [uptime_check(model, status="down", ago=timedelta(seconds=30))]
    )
    response = logged_in.post(
        "/slos/add",
        {
            "name": "Chat",
            "target": f"model:{model.pk}",
            "availability_target": "90",
            "latency_metric": "ttft",
            "latency_target": "",
            "latency_threshold_ms": "1500",  # ignored without latency_target
            "period_days": "30",
        },
    )
    assert response.status_code == 302
    slo = Slo.objects.get()
    assert (slo.latency_target, slo.latency_threshold_ms, slo.latency_metric) == (None, None, "")
    page = logged_in.get("/slos").content.decode()
    # 1 down of 9 against a 10 % budget of 0.9 checks: overspent; 5 min 1 of 4 → 2.5×.
    assert "Chat" in page and "Budget spent" in page and "2.5×" in page
    assert logged_in.post(f"/slos/{slo.pk}/delete").status_code == 302
    assert not Slo.objects.exists()


def test_the_page_shows_why_an_slo_was_not_added(logged_in):
    model = make_model()
    response = logged_in.post(
        "/slos/add",
        {"name": "Chat", "target": f"model:{model.pk}", "availability_target": "0"},
    )
    assert response.status_code == 200
    assert "must be a percentage above 0 and at most 100" in response.content.decode()
    assert not Slo.objects.exists()


# --- the dashboard card and /metrics ----------------------------------------------------------


def test_the_dashboard_card_and_metrics_show_the_same_figures(logged_in, api):
    from tests.system.test_metrics import scrape, value

    model = make_model()
    store_checks(
        [uptime_check(model, ago=timedelta(minutes=m)) for m in range(2, 10)]
        + [uptime_check(model, status="down", ago=timedelta(seconds=30))]
    )
    slo = Slo.objects.create(name="Chat", model=model, availability_target=80)
    card = logged_in.get("/dashboard").content.decode()
    # 1 bad of 9 against 20 % × 9 = 1.8 allowed: 44 % left. 5 min: 1 of 4 → 1.25×.
    assert '0</a><span class="stat-of muted"> / 1 within budget' not in card
    assert '1</a><span class="stat-of muted"> / 1 within budget' in card
    assert "lowest: Chat, 44 % left" in card
    samples = scrape(api)
    labels = {"slo_id": str(slo.pk), "slo": "Chat", "objective": "availability"}
    assert value(samples, "arguslm_slo_objective_ratio", **labels) == pytest.approx(0.8)
    assert value(samples, "arguslm_slo_sli_ratio", **labels) == pytest.approx(8 / 9)
    remaining = value(samples, "arguslm_slo_error_budget_remaining_ratio", **labels)
    assert remaining == pytest.approx(1 - 1 / 1.8)
    assert value(samples, "arguslm_slo_burn_rate", **labels, window="5m") == pytest.approx(1.25)
    assert value(samples, "arguslm_slo_burn_alert", **labels, alert="fast") == 0.0


def test_the_admin_holds_slos_to_the_same_rules():
    from django.contrib.admin.sites import site

    form_class = site._registry[Slo].get_form(request=None)
    model = make_model()
    form = form_class(data={"name": "Chat", "model": model.pk, "availability_target": "0"})
    assert not form.is_valid()
    assert "at most 100" in form.errors["availability_target"][0]
