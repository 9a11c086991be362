"""The Monitoring page: every view anonymous and logged in, the settings form (success, the
schedule following it, each bad input), Run now and the live pass partial in each state, the
model switches, the checks table's filters and pages, and the stale-pass warning. The task
queue is recorded, not run; checks are written to the database directly."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from monitoring.models import ModelStatus, MonitoringConfig, MonitoringRun
from providers import tags
from providers.models import LLMModel
from tests.factories import make_account, make_check, make_model, make_monitoring_run

pytestmark = pytest.mark.django_db

PASS_SCHEDULE = "arguslm.monitoring-pass"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def queued(monkeypatch):
    """Record django-q2 enqueues instead of running a pass."""
    calls = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda func, *args, **kw: calls.append((func, args))
    )
    return calls


@pytest.fixture
def model():
    return make_model(make_account(display_name="Simulator"), model_id="fast-small")


def settings_form(**overrides) -> dict:
    form = {
        "enabled": "1",
        "interval_choice": "15",
        "interval_custom": "",
        "prompt_pack": "liveness",
        "degraded_ttft_ms": "800",
        "degraded_latency_ms": "",
        "max_tokens": "32",
        "timeout_seconds": "20",
        "concurrency_per_account": "4",
        "retention_days": "14",
    }
    form.update(overrides)
    return form


def rows(response) -> list[str]:
    """The statuses of the checks table's rows, top to bottom."""
    return re.findall(
        r'data-testid="check-row" data-model-id="[^"]*" data-status="(\w+)"',
        (response.content.decode()),
    )


# --- anonymous ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/monitoring", "/monitoring/live"])
def test_pages_redirect_anonymous_visitors_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")


def test_actions_redirect_anonymous_visitors_and_change_nothing(client, model, queued):
    model.enabled_for_monitoring = False
    model.save()
    posts = [
        ("/monitoring/settings", settings_form(interval_choice="1")),
        ("/monitoring/run-now", {}),
        (f"/monitoring/toggle/{model.pk}", {"enabled": "1"}),
        ("/monitoring/bulk", {"action": "monitor"}),
    ]
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login?next="), url
    model.refresh_from_db()
    assert not model.enabled_for_monitoring
    assert MonitoringConfig.get().interval_minutes == 5
    assert not MonitoringRun.objects.exists()
    assert queued == []


# --- the page -----------------------------------------------------------------------------------


def test_the_page_shows_the_settings_the_passes_the_models_and_the_checks(logged_in, model):
    make_check(model)
    response = logged_in.get("/monitoring")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="/monitoring" class="active">Monitoring</a>' in html
    assert "Health Check (≈30 tokens)" in html
    assert 'value="long_32k"' not in html and 'value="multi_turn"' not in html  # benchmarks only
    assert '<option value="5" selected>Every 5 min</option>' in html
    assert "No pass has run yet" in html
    assert 'data-model-id="fast-small"' in html
    assert rows(response) == ["up"]
    assert "/api/v1/monitoring/uptime/export?format=json" in html
    assert "/api/v1/monitoring/uptime/export?format=csv" in html
    assert "<script>" not in html and "onclick" not in html


def test_an_interval_outside_the_presets_shows_as_custom(logged_in):
    MonitoringConfig.objects.create(interval_minutes=7)
    html = logged_in.get("/monitoring").content.decode()
    assert '<option value="custom" selected>' in html
    assert 'name="interval_custom" min="1" max="10080" step="1" value="7"' in html


# --- settings -----------------------------------------------------------------------------------


def test_saving_the_settings_stores_them_and_the_schedule_follows_the_interval(logged_in):
    response = logged_in.post("/monitoring/settings", settings_form())
    assert response.status_code == 302
    assert response["Location"] == "/monitoring#config"
    config = MonitoringConfig.get()
    assert (config.enabled, config.interval_minutes, config.prompt_pack) == (True, 15, "liveness")
    assert (config.degraded_ttft_ms, config.degraded_latency_ms) == (800, None)
    assert (config.max_tokens, config.timeout_seconds) == (32, 20)
    assert (config.concurrency_per_account, config.retention_days) == (4, 14)
    assert Schedule.objects.get(name=PASS_SCHEDULE).minutes == 15
    page = logged_in.get(response["Location"]).content.decode()
    assert "Saved. A pass runs every 15 min." in page

    logged_in.post(
        "/monitoring/settings", settings_form(interval_choice="custom", interval_custom="3")
    )
    assert MonitoringConfig.get().interval_minutes == 3
    assert Schedule.objects.get(name=PASS_SCHEDULE).minutes == 3


def test_switching_monitoring_off_removes_the_pass_schedule(logged_in):
    logged_in.post("/monitoring/settings", settings_form())
    assert Schedule.objects.filter(name=PASS_SCHEDULE).exists()
    form = settings_form()
    del form["enabled"]  # an unchecked box is absent from the POST
    response = logged_in.post("/monitoring/settings", form)
    assert response.status_code == 302
    assert MonitoringConfig.get().enabled is False
    assert not Schedule.objects.filter(name=PASS_SCHEDULE).exists()
    assert "Monitoring is off" in logged_in.get("/monitoring").content.decode()


def test_an_empty_threshold_switches_it_off(logged_in):
    MonitoringConfig.objects.create(degraded_ttft_ms=500, degraded_latency_ms=900)
    logged_in.post("/monitoring/settings", settings_form(degraded_ttft_ms=""))
    config = MonitoringConfig.get()
    assert (config.degraded_ttft_ms, config.degraded_latency_ms) == (None, None)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"interval_choice": "custom", "interval_custom": "0"}, "interval_minutes", "greater than"),
        ({"interval_choice": "custom", "interval_custom": ""}, "interval_minutes", "valid integer"),
        ({"prompt_pack": "nope"}, "prompt_pack", "Unknown prompt pack"),
        ({"prompt_pack": "long_8k"}, "prompt_pack", "for benchmarks only"),
        ({"degraded_ttft_ms": "-5"}, "degraded_ttft_ms", "greater than"),
        ({"degraded_latency_ms": "fast"}, "degraded_latency_ms", "valid integer"),
        ({"timeout_seconds": "601"}, "timeout_seconds", "less than"),
        ({"max_tokens": ""}, "max_tokens", "valid integer"),
    ],
)
def test_each_bad_input_is_explained_next_to_its_field_and_nothing_is_stored(
    logged_in, overrides, field, message
):
    before = MonitoringConfig.get()
    schedule_before = list(Schedule.objects.filter(name=PASS_SCHEDULE).values())
    response = logged_in.post("/monitoring/settings", settings_form(**overrides))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Not saved: fix the highlighted fields." in html
    error = re.search(rf'data-testid="error-{field}">([^<]*)<', html)
    assert error and message in error.group(1)
    # The form keeps what was typed.
    typed_pack = overrides.get("prompt_pack")  # not in the select: nothing to keep selected
    assert 'value="liveness" selected' in html or typed_pack in ("nope", "long_8k")
    after = MonitoringConfig.get()
    assert (after.interval_minutes, after.prompt_pack, after.updated_at) == (
        before.interval_minutes,
        before.prompt_pack,
        before.updated_at,
    )
    assert list(Schedule.objects.filter(name=PASS_SCHEDULE).values()) == schedule_before


# --- run now and the live pass ------------------------------------------------------------------


def test_run_now_queues_a_manual_pass_and_follows_it(logged_in, queued):
    response = logged_in.post("/monitoring/run-now")
    run = MonitoringRun.objects.get()
    assert (run.trigger, run.status) == ("manual", "queued")
    assert queued == [("monitoring.tasks.start_pass", (str(run.id),))]
    assert response.status_code == 302
    assert response["Location"] == f"/monitoring?run={run.pk}#monitoring-runs"
    page = logged_in.get(response["Location"]).content.decode()
    assert "Pass queued" in page
    assert f'hx-get="/monitoring/live?run={run.pk}" hx-trigger="every 2s"' in page


def test_run_now_with_htmx_answers_with_the_polling_passes_card(logged_in, queued):
    response = logged_in.post("/monitoring/run-now", **HTMX)
    run = MonitoringRun.objects.get()
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card mon-runs" id="monitoring-runs"')
    assert f'hx-get="/monitoring/live?run={run.pk}" hx-trigger="every 2s"' in html
    assert 'data-testid="run-status">queued<' in html
    assert "Pass queued." in html
    assert "HX-Trigger" not in response


def test_run_now_explains_when_the_queue_is_down(logged_in, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("django_q.tasks.async_task", broken)
    response = logged_in.post("/monitoring/run-now", follow=True)
    html = response.content.decode()
    assert "Could not start a pass: Could not queue the pass: ConnectionError" in html
    run = MonitoringRun.objects.get()
    assert run.status == "failed"
    assert 'data-testid="run-status">failed<' in html

    response = logged_in.post("/monitoring/run-now", **HTMX)
    assert 'data-testid="run-notice">Could not start a pass' in response.content.decode()


@pytest.mark.parametrize(
    ("status", "live", "expected"),
    [
        ("queued", True, ["Waiting for a worker"]),
        ("running", True, ["2 of 3 probed", 'data-testid="count-up">1<', "running for"]),
        ("completed", False, ['data-testid="count-down">1<', 'data-testid="run-duration">4.0 s<']),
        ("failed", False, ["worker running this pass stopped"]),
        ("skipped", False, ["Skipped: pass 1234 was still running."]),
    ],
)
def test_the_live_partial_renders_each_status_and_polls_only_while_live(
    logged_in, status, live, expected
):
    now = timezone.now()
    fields = {"status": status, "trigger": "manual", "total": 3}
    started = status not in ("queued", "skipped")  # a skipped pass never started
    if started:
        fields.update(started_at=now - timedelta(seconds=4), heartbeat_at=now)
    if status in ("running", "completed"):
        fields.update(up=1, degraded=0, down=1)
    if status in ("completed", "failed", "skipped"):
        fields["finished_at"] = now
    if status == "failed":
        fields["message"] = "Closed: the worker running this pass stopped responding."
    if status == "skipped":
        fields["message"] = "Skipped: pass 1234 was still running."
    run = MonitoringRun.objects.create(**fields)

    response = logged_in.get(f"/monitoring/live?run={run.pk}", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-testid="run-status">{status}<' in html
    for text in expected:
        assert text in html
    assert ('data-testid="count-total"' in html) is started  # no counts before it starts
    assert ('hx-trigger="every 2s"' in html) is live
    # The response that sees the pass finished tells the other sections to refresh.
    assert (response.get("HX-Trigger") == "monitoring-pass-finished") is not live
    assert f'data-run-id="{run.pk}"' in html  # and it is in the recent passes table


def test_a_pass_queued_for_long_hints_at_the_worker(logged_in):
    make_monitoring_run(ago=timedelta(minutes=2))
    html = logged_in.get("/monitoring/live", **HTMX).content.decode()
    assert "Still waiting for a worker — is the worker (qcluster) running?" in html


# --- model switches -----------------------------------------------------------------------------


def test_the_switch_sets_monitoring_explicitly_on_or_off(logged_in, model):
    model.enabled_for_monitoring = False
    model.save()
    for posted, expected in (("1", True), ("1", True), ("0", False), ("0", False)):
        response = logged_in.post(f"/monitoring/toggle/{model.pk}", {"enabled": posted})
        assert response.status_code == 302
        model.refresh_from_db()
        assert model.enabled_for_monitoring is expected


def test_the_switch_with_htmx_returns_the_model_and_the_accounts_new_count(logged_in, model):
    make_model(model.provider_account, model_id="other", enabled_for_monitoring=False)
    response = logged_in.post(f"/monitoring/toggle/{model.pk}", {"enabled": "0"}, **HTMX)
    html = response.content.decode()
    assert html.startswith(f'<li class="mon-model" id="monitor-model-{model.pk}"')
    assert 'aria-checked="false"' in html
    assert 'hx-swap-oob="true" data-testid="account-count">0 of 2 monitored<' in html


def test_monitor_all_matching_follows_the_filters_state_included(logged_in, model):
    account = model.provider_account
    ModelStatus.objects.create(model=model, status="down", checked_at=timezone.now())
    make_model(account, model_id="b", enabled_for_monitoring=False)
    other = make_model(make_account(display_name="Other"), model_id="c")
    ModelStatus.objects.create(model=other, status="down", checked_at=timezone.now())
    # Stop monitoring every model of the account whose latest check is down: one.
    response = logged_in.post(
        "/monitoring/bulk",
        {"action": "unmonitor", "account": str(account.pk), "state": "down", "count": "1"},
        follow=True,
    )
    assert "Stopped monitoring 1 of 1 matching model." in response.content.decode()
    assert response.redirect_chain[-1][0] == f"/monitoring?account={account.pk}&state=down#models"
    assert not account.models.filter(enabled_for_monitoring=True).exists()
    other.refresh_from_db()
    assert other.enabled_for_monitoring
    # Never probed, all accounts: "b" (and not the two that were probed).
    logged_in.post("/monitoring/bulk", {"action": "monitor", "state": "never"})
    assert sorted(
        LLMModel.objects.filter(enabled_for_monitoring=True).values_list("model_id", flat=True)
    ) == ["b", "c"]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"action": "add_tag"}, "choose to monitor or to stop monitoring"),
        ({"action": "monitor", "state": "sleepy"}, "Use up, degraded, down or never"),
        ({"action": "monitor", "count": "5"}, "2 models match now, not 5 as confirmed"),
    ],
)
def test_a_bad_bulk_request_changes_nothing(logged_in, model, fields, says):
    model.enabled_for_monitoring = False
    model.save()
    make_model(model.provider_account, model_id="b", enabled_for_monitoring=False)
    response = logged_in.post("/monitoring/bulk", fields, follow=True)
    assert says in response.content.decode()
    assert not LLMModel.objects.filter(enabled_for_monitoring=True).exists()


def test_the_models_list_filters_by_state_account_and_tag_and_pages_by_fifty(logged_in):
    prod, lab = make_account(display_name="Prod"), make_account(display_name="Lab")
    tags.set_tags(prod, ["env:prod"])
    for i in range(60):
        made = make_model(prod, model_id=f"p-{i:02d}")
        if i % 3 == 0:
            ModelStatus.objects.create(model=made, status="down", checked_at=timezone.now())
    make_model(lab, model_id="lab-1")

    def shown(query: str) -> list[str]:
        html = logged_in.get(f"/monitoring?{query}").content.decode()
        return re.findall(r'data-testid="monitor-model"', html)

    assert len(shown("")) == 50
    assert len(shown("page=2")) == 11
    assert len(shown("state=down")) == 20
    assert len(shown("state=never&tag=env:prod")) == 40 and len(shown("tag=env:prod")) == 50
    assert len(shown(f"account={lab.pk}")) == 1
    html = logged_in.get("/monitoring?tag=env:prod&state=never").content.decode()
    assert 'data-testid="match-count">40 match the filters' in html
    # Page links keep every filter; the bulk forms carry them, and the count.
    paged = logged_in.get("/monitoring?q=p-&tag=env:prod&status=down").content.decode()
    assert 'href="/monitoring?q=p-&amp;tag=env%3Aprod&amp;status=down&amp;page=2#models"' in paged
    assert '<input type="hidden" name="state" value="never">' in html
    assert '<input type="hidden" name="count" value="40">' in html


@pytest.mark.parametrize(
    "query",
    ["state=bogus", "account=nope&tag=Bad!", "q=%00", "page=0&checks_page=-3", "checks_page=9e9"],
)
def test_bad_filter_values_never_fail(logged_in, model, query):
    assert logged_in.get(f"/monitoring?{query}").status_code == 200


def test_models_are_grouped_by_account_with_their_latest_status(logged_in, model):
    ModelStatus.objects.create(
        model=model, status="down", checked_at=timezone.now(), error_type="auth", error="401"
    )
    make_model(model.provider_account, model_id="never-probed")
    disabled = make_account(display_name="Switched off", enabled=False)
    make_model(disabled, model_id="idle")
    html = logged_in.get("/monitoring").content.decode()
    assert "Configuration: check the API key" in html
    assert "never probed" in html
    assert html.count('data-testid="monitor-account"') == 2
    assert 'class="mon-account is-disabled"' in html
    assert "its models are not probed" in html
    # Only the enabled account's two models are probed.
    assert 'data-testid="monitored-total">2<' in html


def test_the_model_search_filters_on_the_server(logged_in, model):
    make_model(model.provider_account, model_id="reasoner")
    make_model(make_account(display_name="Local"), model_id="llama3")
    response = logged_in.get("/monitoring?q=reason", HTTP_HX_TARGET="monitoring-models", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="monitoring-models"')
    assert 'data-model-id="reasoner"' in html
    assert 'data-model-id="fast-small"' not in html and "llama3" not in html
    # Searching for an account's name lists all of that account's models.
    html = logged_in.get("/monitoring?q=local", HTTP_HX_TARGET="monitoring-models", **HTMX)
    assert 'data-model-id="llama3"' in html.content.decode()


# --- checks table -------------------------------------------------------------------------------


def test_the_checks_table_filters_by_status_and_model(logged_in, model):
    other = make_model(model.provider_account, model_id="slow-one")
    make_check(model, status="up", ago=timedelta(minutes=3))
    make_check(model, status="down", ago=timedelta(minutes=2))
    make_check(other, status="degraded", ago=timedelta(minutes=1), ttft_ms=900.0)
    assert rows(logged_in.get("/monitoring")) == ["degraded", "down", "up"]
    assert rows(logged_in.get("/monitoring?status=down")) == ["down"]
    assert rows(logged_in.get("/monitoring?status=bogus")) == ["degraded", "down", "up"]
    response = logged_in.get(f"/monitoring?model={model.pk}")
    assert rows(response) == ["down", "up"]
    # The export follows the model filter (it has no status filter).
    assert f"uptime/export?format=csv&amp;model_id={model.pk}" in response.content.decode()
    response = logged_in.get("/monitoring?status=up", HTTP_HX_TARGET="monitoring-checks", **HTMX)
    assert response.content.decode().lstrip().startswith('<section class="card table-card')
    assert rows(response) == ["up"]
    assert "Exports hold every status" in response.content.decode()


def test_the_checks_table_follows_the_model_filters_and_keeps_them_in_its_links(logged_in, model):
    other = make_model(make_account(display_name="Lab"), model_id="lab-model")
    tags.set_tags(other, ["env:lab"])
    make_check(model, status="up", ago=timedelta(minutes=2))
    make_check(other, status="down", ago=timedelta(minutes=1))
    response = logged_in.get("/monitoring?tag=env:lab")
    assert rows(response) == ["down"]
    html = response.content.decode()
    assert 'data-testid="checks-follow-filter"' in html
    # The status pills and the model select keep the model filters.
    assert 'href="/monitoring?tag=env%3Alab&amp;status=up#monitoring-checks"' in html
    assert '<input type="hidden" name="tag" value="env:lab">' in html
    assert rows(logged_in.get("/monitoring?q=simulator")) == ["up"]  # the account's name
    assert rows(logged_in.get(f"/monitoring?account={other.provider_account_id}")) == ["down"]


def test_the_checks_table_pages_by_fifty(logged_in, model):
    for i in range(120):
        make_check(model, ago=timedelta(minutes=i))
    first = logged_in.get("/monitoring")
    assert len(rows(first)) == 50
    assert 'href="/monitoring?checks_page=2#monitoring-checks"' in first.content.decode()
    third = logged_in.get("/monitoring?checks_page=3").content.decode()
    assert third.count('data-testid="check-row"') == 20
    assert 'data-testid="checks-range">101–120<' in third
    assert 'rel="next"' not in third
    assert "No more checks" in logged_in.get("/monitoring?checks_page=9").content.decode()


def test_check_rows_label_configuration_problems_and_estimated_tokens(logged_in, model):
    make_check(model, status="down", error_type="not_found", error="x" * 200)
    make_check(model, token_source="estimate", output_tokens=7, ago=timedelta(minutes=1))
    html = logged_in.get("/monitoring").content.decode()
    assert "not_found: configuration problem, check the model id" in html
    assert f'title="{"x" * 200}"' in html  # the full message; the cell shows it truncated
    assert "x" * 79 + "…" in html
    assert re.search(r">7 <span[^>]*>est\.</span>", html)
    assert 'title="tok/s = decode speed excluding TTFT' in html


# --- header -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enabled", "minutes_ago", "stale"),
    [(True, 11, True), (True, 9, False), (False, 60, False)],
)
def test_a_pass_older_than_twice_the_interval_is_flagged_stale(
    logged_in, enabled, minutes_ago, stale
):
    MonitoringConfig.objects.create(
        enabled=enabled,
        interval_minutes=5,
        last_run_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    html = logged_in.get("/monitoring").content.decode()
    assert ("Last pass stale — is the worker (qcluster) running?" in html) is stale
    assert 'data-testid="last-pass"' in html


def test_the_header_partial_is_served_to_htmx(logged_in):
    response = logged_in.get("/monitoring", HTTP_HX_TARGET="monitoring-status", **HTMX)
    html = response.content.decode()
    assert html.startswith('<div class="mon-status" id="monitoring-status"')
    assert "none yet" in html
    assert "HX-Target" in response["Vary"]


def test_the_settings_form_has_a_field_for_every_number_it_shows():
    from monitoring.forms import NUMBER_FIELDS, MonitoringSettingsForm

    assert set(NUMBER_FIELDS) <= set(MonitoringSettingsForm.base_fields)


def test_the_page_costs_the_same_queries_at_twenty_or_four_hundred_models(logged_in):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from providers.models import LLMModel

    account = make_account()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get("/monitoring?state=never").status_code == 200
        return len(captured)

    LLMModel.objects.bulk_create(
        LLMModel(provider_account=account, model_id=f"a-{i}") for i in range(20)
    )
    queries()  # the first view creates the settings row and caches the cost summary
    few = queries()
    LLMModel.objects.bulk_create(
        LLMModel(provider_account=account, model_id=f"b-{i}") for i in range(380)
    )
    assert queries() == few
