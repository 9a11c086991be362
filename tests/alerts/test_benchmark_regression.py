"""benchmark_regression rules: the API's and the page's rules, how the rules table reads them,
and which runs they judge (over the simulator: tests/benchmarks/test_saved.py)."""

import pytest

from alerts import regressions
from alerts.models import Alert, AlertRule, Incident
from benchmarks import saved
from benchmarks.models import BenchmarkTemplate
from tests.alerts.test_pages import rule_form
from tests.factories import make_benchmark_result, make_benchmark_run, make_model

pytestmark = pytest.mark.django_db

RULES = "/api/v1/alerts/rules"
REGRESSION = "benchmark_regression"


def template(model, name="Nightly") -> BenchmarkTemplate:
    spec = {"model_ids": [str(model.pk)], "prompt_pack": "health_check"}
    return saved.save(name=name, spec=spec, cron="")


def run_of(tpl, model, ttfts) -> object:
    run = make_benchmark_run(model, template=tpl, name=tpl.name)
    for seq, ttft in enumerate(ttfts, start=1):
        make_benchmark_result(model, run=run, seq=seq, ttft_ms=float(ttft))
    return run


def test_a_regression_rule_takes_the_defaults_and_a_template(api):
    model = make_model()
    tpl = template(model)
    body = {"name": "Slower", "rule_type": REGRESSION, "target_template_id": str(tpl.pk)}
    response = api.post(RULES, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["target_template_id"] == str(tpl.pk)
    assert data["threshold_config"] == {"metric": "ttft", "threshold_percent": 10.0}


@pytest.mark.parametrize(
    ("config", "field"),
    [({"metric": "error_rate"}, "metric"), ({"threshold_percent": -1}, "threshold_percent")],
)
def test_a_bad_regression_config_is_a_422_naming_the_key(api, config, field):
    body = {"name": "Slower", "rule_type": REGRESSION, "threshold_config": config}
    response = api.post(RULES, body, format="json")
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "threshold_config", field]]


def test_an_unknown_template_is_a_422(api):
    body = {
        "name": "Slower",
        "rule_type": REGRESSION,
        "target_template_id": "9b2f6c1e-7a44-4c39-9f0e-2d2f5a0c1b11",
    }
    response = api.post(RULES, body, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "target_template_id"]


def test_the_rule_form_saves_a_regression_rule_and_the_table_describes_it(logged_in):
    tpl = template(make_model())
    form = rule_form(
        name="Slower nightly",
        rule_type=REGRESSION,
        target_template_id=str(tpl.pk),
        regression_metric="tps",
        threshold_percent="15",
    )
    response = logged_in.post("/alerts/rules/new", form)
    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert rule.target_template == tpl
    assert rule.threshold_config == {"metric": "tps", "threshold_percent": 15.0}
    page = logged_in.get("/alerts").content.decode()
    assert "Decode speed p50 −15 % or worse vs baseline (saved benchmark “Nightly”)" in page
    edit = logged_in.get(f"/alerts/rules/{rule.pk}").content.decode()
    assert 'name="threshold_percent" min="0" max="1000" step="any" value="15"' in edit


def test_the_rule_form_shows_a_bad_threshold_on_its_field(logged_in):
    form = rule_form(rule_type=REGRESSION, threshold_percent="-5")
    response = logged_in.post("/alerts/rules/new", form)
    assert response.status_code == 200 and not AlertRule.objects.exists()
    assert "greater than or equal to 0" in response.content.decode()


def test_only_rules_watching_the_run_s_template_judge_it():
    model = make_model()
    nightly, other = template(model), template(model, name="Other")
    everyone = AlertRule.objects.create(name="Any", rule_type=REGRESSION)
    mine = AlertRule.objects.create(name="Mine", rule_type=REGRESSION, target_template=nightly)
    AlertRule.objects.create(name="Theirs", rule_type=REGRESSION, target_template=other)
    saved.set_baseline(nightly, run_of(nightly, model, [100, 101, 99, 100, 102, 98, 100, 101]))
    slow = run_of(nightly, model, [150, 151, 149, 150, 152, 148, 150, 151])

    raised = regressions.evaluate_benchmark(slow.pk)

    assert {a.rule for a in raised} == {everyone, mine}
    assert all("TTFT p50 +50 % [" in a.message for a in raised)
    assert set(Incident.objects.values_list("subject", flat=True)) == {
        f"bench:{nightly.pk}:{model.pk}"
    }


def test_a_run_without_a_template_or_baseline_is_not_judged():
    model = make_model()
    AlertRule.objects.create(name="Any", rule_type=REGRESSION)
    assert regressions.evaluate_benchmark(make_benchmark_run(model).pk) == []
    tpl = template(model)
    assert regressions.evaluate_benchmark(run_of(tpl, model, [100] * 8).pk) == []
    assert not Alert.objects.exists()
