"""One incident per real outage, on real monitoring passes against the simulator: an account
whose models all fail pages once, every account failing is the probing host's network, and
what is still down when the wider incident recovers is released and alerted on its own."""

import pytest

from alerts.models import Alert, Incident, Notification
from monitoring import services
from monitoring.models import MonitoringRun
from tests.factories import make_account, make_model, make_rule

pytestmark = pytest.mark.django_db

HEALTHY, BROKEN = "sim/ttft=5/itl=1/n=3", "sim/status=500"


@pytest.fixture(autouse=True)
def inline_tasks(monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    # Notifications are queued as rows; delivery itself is not what is tested here.
    monkeypatch.setattr("alerts.notifications._start_delivery", lambda: None)


def monitor() -> None:
    run = MonitoringRun.objects.create()
    services.start_pass(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "completed"


def account(llmsim, name: str, broken: int, healthy: int = 0):
    acct = make_account(display_name=name, credentials={"base_url": f"{llmsim}/v1"})
    models = [make_model(acct, model_id=f"{BROKEN}/seed={i}") for i in range(broken)]
    models += [make_model(acct, model_id=f"{HEALTHY}/seed={i}") for i in range(healthy)]
    return acct, models


def fix(models) -> None:
    for model in models:
        model.model_id = model.model_id.replace(BROKEN, HEALTHY)
        model.save()


def test_an_account_whose_ten_models_fail_pages_once(llmsim):
    make_rule(notify_webhook=True, webhook_url="http://127.0.0.1:9/hook")
    _, models = account(llmsim, "OpenAI prod", broken=10)
    account(llmsim, "Other", broken=0, healthy=2)
    monitor()
    (fired,) = Alert.objects.all()
    assert fired.message == "OpenAI prod: 10 of 10 models down" and fired.model is None
    assert Notification.objects.count() == 1
    group = fired.incident
    assert group.subject.startswith("account:") and group.held.count() == 10
    assert all(not i.held.exists() for i in group.held.all())

    fix(models)
    monitor()
    recovered = Alert.objects.get(kind="recovered")
    assert recovered.incident == group and "10 of 10 models up again" in recovered.message
    assert Alert.objects.count() == 2 and Notification.objects.count() == 2
    assert not Incident.objects.filter(resolved_at__isnull=True).exists()


def test_a_few_models_down_in_a_large_account_alert_one_by_one(llmsim):
    make_rule()
    account(llmsim, "Big", broken=2, healthy=5)
    monitor()
    assert Alert.objects.count() == 2
    assert not Incident.objects.filter(subject__startswith="account:").exists()


def test_every_account_failing_is_one_network_incident(llmsim):
    make_rule()
    account(llmsim, "A", broken=3)
    account(llmsim, "B", broken=2)
    monitor()
    (fired,) = Alert.objects.all()
    assert fired.incident.subject == "network"
    assert "Probes cannot reach providers: all 2 accounts" in fired.message
    accounts = fired.incident.held.all()
    assert sorted(i.summary for i in accounts) == ["A: 3 of 3 models down", "B: 2 of 2 models down"]
    assert sum(i.held.count() for i in accounts) == 5


def test_what_is_still_down_when_the_account_recovers_is_released(llmsim):
    make_rule()
    _, models = account(llmsim, "Flaky provider", broken=4)
    account(llmsim, "Other", broken=0, healthy=2)
    monitor()
    assert Alert.objects.count() == 1
    fix(models[:3])  # one of four stays down: the account is no longer in outage
    monitor()
    messages = sorted(Alert.objects.values_list("kind", "message"))
    assert messages[0][0] == "fired" and "Flaky provider: 4 of 4 models down" in messages[0][1]
    assert ("recovered" in {kind for kind, _ in messages}) and len(messages) == 3
    released = Alert.objects.get(kind="fired", model=models[3])
    assert "still failing after" in released.message
    assert released.incident.parent is None and released.incident.resolved_at is None


def test_the_alerts_page_lists_the_account_incident_with_what_it_holds(llmsim, logged_in):
    make_rule()
    account(llmsim, "OpenAI prod", broken=3)
    account(llmsim, "Other", broken=0, healthy=2)
    monitor()
    html = logged_in.get("/alerts").content.decode()
    assert "Account “OpenAI prod”" in html and "holds 3" in html
    assert html.count('class="incident-open"') == 1  # the held ones are not listed one by one
