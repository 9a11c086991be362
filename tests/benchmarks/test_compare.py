"""Comparing runs (benchmarks.compare): the service on results written to the database directly,
GET /api/v1/benchmarks/{id}/compare, and the /benchmarks/compare page."""

import random

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from arguslm import roles, tokens
from benchmarks import compare
from benchmarks.models import BenchmarkRun
from tests.factories import make_account, make_benchmark_result, make_benchmark_run, make_model

pytestmark = pytest.mark.django_db

BASE = "/api/v1/benchmarks"
MISSING = "9b2f6c1e-7a44-4c39-9f0e-2d2f5a0c1b11"
METRIC_FIELDS = ["ttft_ms", "latency_ms", "itl_mean_ms", "tps_excluding_ttft"]
SWEEP = {"levels": [1, 4, 8], "step_requests": 20, "arrivals": "constant"}


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def models():
    account = make_account(display_name="Sim")
    return (
        make_model(account, model_id="sim/fast", custom_name="Fast"),
        make_model(account, model_id="sim/slow"),
    )


def ttfts(n: int = 30, seed: int = 1) -> list[float]:
    """A spread of TTFTs around 200 ms (seeded: the same set every time)."""
    rng = random.Random(seed)
    return [rng.gauss(200, 20) for _ in range(n)]


def add(run, model, values, *, slower: float = 1.0, faster_tps: float = 1.0, step=None):
    """One successful request per value: TTFT, latency and ITL scaled by ``slower``, output
    tok/s (the value / 2) scaled by ``faster_tps``."""
    seq = run.results.count()
    for i, value in enumerate(values, start=seq + 1):
        make_benchmark_result(
            model,
            run=run,
            seq=i,
            step=step,
            ttft_ms=value * slower,
            latency_ms=value * 5 * slower,
            itl_mean_ms=value / 10 * slower,
            tps_excluding_ttft=value / 2 * faster_tps,
        )


def fail(run, model, count: int, *, step=None):
    seq = run.results.count()
    for i in range(seq + 1, seq + count + 1):
        make_benchmark_result(
            model, run=run, seq=i, step=step, error_type="timeout", error="Timed out after 60 s"
        )


def two_runs(*models, **kw) -> tuple[BenchmarkRun, BenchmarkRun]:
    return (
        make_benchmark_run(*models, name="Before", **kw),
        make_benchmark_run(*models, name="After", **kw),
    )


# --- the service ----------------------------------------------------------------------------


def test_a_model_20_percent_slower_is_a_significant_regression_holding_the_change(models):
    fast, _ = models
    before, after = two_runs(fast)
    add(before, fast, ttfts())
    add(after, fast, ttfts(), slower=1.2)

    result = compare.compare_runs(before, after)

    (row,) = result.rows
    assert row.model.name == "Fast" and row.level is None
    ttft = row.comparison.metric("ttft_ms")
    assert ttft.difference.significant and ttft.worse and not ttft.better
    assert ttft.difference.low < 0.2 < ttft.difference.high
    assert ttft.difference.change == pytest.approx(0.2)
    assert ttft.verdict == "worse"
    assert row.comparison.metric("latency_ms").worse
    assert row.comparison.metric("itl_mean_ms").worse
    assert not row.comparison.metric("tps_excluding_ttft").difference.significant
    assert row.worse and result.worse


def test_an_unchanged_model_shows_no_significant_change(models):
    fast, _ = models
    before, after = two_runs(fast)
    add(before, fast, ttfts(seed=1))
    add(after, fast, ttfts(seed=2))  # another draw of the same spread

    (row,) = compare.compare_runs(before, after).rows

    for change in row.comparison.metrics:
        assert change.difference is not None
        assert change.difference.low < 0 < change.difference.high
        assert change.verdict == "unchanged" and not change.worse and not change.better
    assert not row.worse


def test_fewer_output_tokens_per_second_is_worse_and_more_is_better(models):
    fast, slow = models
    before, after = two_runs(fast, slow)
    add(before, fast, ttfts())
    add(after, fast, ttfts(), faster_tps=0.8)
    add(before, slow, ttfts())
    add(after, slow, ttfts(), faster_tps=1.25)

    rows = {row.model.name: row for row in compare.compare_runs(before, after).rows}

    slower = rows["Fast"].comparison.metric("tps_excluding_ttft")
    assert slower.difference.high < 0 and slower.worse and slower.verdict == "worse"
    faster = rows["sim/slow"].comparison.metric("tps_excluding_ttft")
    assert faster.difference.low > 0 and faster.better and not faster.worse
    assert rows["Fast"].worse and not rows["sim/slow"].worse


def test_failed_requests_are_counted_apart_and_leave_the_figures_alone(models):
    fast, _ = models
    before, after = two_runs(fast)
    add(before, fast, ttfts(10))
    add(after, fast, ttfts(10))
    fail(after, fast, 5)

    comparison = compare.compare_runs(before, after).rows[0].comparison

    assert (comparison.n_baseline, comparison.n) == (10, 10)
    assert (comparison.errors_baseline, comparison.errors) == (0, 5)
    assert comparison.error_rate_baseline == 0 and comparison.error_rate == pytest.approx(1 / 3)
    assert comparison.metric("ttft_ms").difference.change == 0
    assert comparison.as_dict()["error_rate_percent"] == 33.33


def test_too_few_successful_requests_give_no_interval(models):
    fast, _ = models
    before, after = two_runs(fast)
    add(before, fast, ttfts(compare.MIN_SAMPLES - 1))
    add(after, fast, ttfts(30))

    (row,) = compare.compare_runs(before, after).rows

    for change in row.comparison.metrics:
        assert change.difference is None and change.verdict == "unknown"
        assert not change.worse and not change.better
    assert row.as_dict()["metrics"]["ttft_ms"]["difference"] is None


def test_two_sweeps_are_compared_level_by_level(models):
    fast, _ = models
    before, after = two_runs(fast, profile="concurrency_sweep", load=SWEEP)
    for step in range(3):
        add(before, fast, ttfts(seed=step), step=step)
        # Only the highest level got slower.
        add(after, fast, ttfts(seed=step), step=step, slower=1.5 if step == 2 else 1.0)

    result = compare.compare_runs(before, after)

    assert result.sweep == "concurrency_sweep"
    assert [row.level for row in result.rows] == [1, 4, 8]
    assert [row.worse for row in result.rows] == [False, False, True]
    assert all(row.comparison.n == row.comparison.n_baseline == 30 for row in result.rows)
    assert result.notes == ()


def test_sweeps_with_other_levels_compare_the_shared_ones_and_say_so(models):
    fast, _ = models
    before = make_benchmark_run(fast, profile="concurrency_sweep", load=SWEEP)
    after = make_benchmark_run(
        fast, profile="concurrency_sweep", load={**SWEEP, "levels": [4, 8, 16]}
    )
    for step in range(3):
        add(before, fast, ttfts(seed=step), step=step)
        add(after, fast, ttfts(seed=step + 1), step=step)

    result = compare.compare_runs(before, after)

    assert [row.level for row in result.rows] == [4, 8]
    # Level 4 is step 1 of the baseline and step 0 of the run: seeds 1 and 1, the same set.
    assert result.rows[0].comparison.metric("ttft_ms").difference.change == 0
    assert "Levels of the baseline only, not compared: 1." in result.notes
    assert "Levels of the run only, not compared: 16." in result.notes


def test_a_sweep_against_a_fixed_run_pools_each_models_requests_and_says_so(models):
    fast, _ = models
    before = make_benchmark_run(fast)
    after = make_benchmark_run(fast, profile="rate_sweep", load=SWEEP)
    add(before, fast, ttfts())
    for step in range(3):
        add(after, fast, ttfts(10, seed=step), step=step)

    result = compare.compare_runs(before, after)

    assert result.sweep is None
    (row,) = result.rows
    assert row.level is None and row.comparison.n == 30
    assert any("apply load differently" in note for note in result.notes)


def test_models_of_one_run_only_are_listed_unmatched(models):
    fast, slow = models
    other = make_model(make_account(display_name="Other"), model_id="other/new")
    before = make_benchmark_run(fast, slow)
    after = make_benchmark_run(other, fast)
    add(before, fast, ttfts())
    add(after, fast, ttfts())

    result = compare.compare_runs(before, after)

    assert [row.model.name for row in result.rows] == ["Fast"]
    assert [(u.model.name, u.side) for u in result.unmatched] == [
        ("sim/slow", "baseline"),
        ("other/new", "run"),
    ]
    assert result.as_dict()["unmatched"] == [
        {"id": str(slow.pk), "name": "sim/slow", "side": "baseline"},
        {"id": str(other.pk), "name": "other/new", "side": "run"},
    ]


def test_settings_that_differ_are_noted(models):
    fast, _ = models
    before = make_benchmark_run(fast, prompt_pack="health_check", concurrency=1)
    after = make_benchmark_run(fast, prompt_pack="shakespeare", concurrency=4, max_tokens=64)

    notes = compare.compare_runs(before, after).notes

    assert notes == (
        "Different prompt packs: health_check → shakespeare.",
        "Different max tokens: 200 → 64.",
        "Different concurrency: 1 → 4.",
    )


def test_model_a_is_compared_with_model_b_in_one_run(models):
    fast, slow = models
    run = make_benchmark_run(fast, slow)
    add(run, fast, ttfts())
    add(run, slow, ttfts(), slower=1.3)

    result = compare.compare_models(run, fast, slow)

    (row,) = result.rows
    assert (row.baseline_model.name, row.model.name) == ("Fast", "sim/slow")
    assert row.comparison.metric("ttft_ms").difference.change == pytest.approx(0.3)
    assert row.worse and result.unmatched == ()


def test_a_model_of_one_run_is_compared_with_another_model_of_another_run(models):
    fast, slow = models
    before, after = make_benchmark_run(fast), make_benchmark_run(slow)
    add(before, fast, ttfts())
    add(after, slow, ttfts(), slower=0.7)

    (row,) = compare.compare_pair(before, fast.pk, after, str(slow.pk)).rows

    ttft = row.comparison.metric("ttft_ms")
    assert ttft.better and ttft.difference.high < 0


def test_a_model_outside_its_run_is_refused_naming_the_argument(models):
    fast, slow = models
    before, after = make_benchmark_run(fast), make_benchmark_run(slow)

    with pytest.raises(compare.ModelNotInRun) as caught:
        compare.compare_pair(before, fast, after, fast)
    assert caught.value.argument == "model"
    with pytest.raises(compare.ModelNotInRun) as caught:
        compare.compare_pair(before, slow, after, slow)
    assert caught.value.argument == "baseline_model"
    assert "is not one of the models of" in caught.value.message


def test_each_run_s_results_are_read_in_one_query(models, django_assert_num_queries):
    fast, slow = models
    before, after = two_runs(fast, slow)
    for run in (before, after):
        add(run, fast, ttfts(10))
        add(run, slow, ttfts(10))

    with django_assert_num_queries(3):  # the model names, then one per run
        result = compare.compare_runs(before, after)
    assert len(result.rows) == 2


# --- GET /benchmarks/{id}/compare -----------------------------------------------------------


def test_the_api_compares_a_run_with_its_baseline(api, models):
    fast, slow = models
    before, after = two_runs(fast)
    after.model_ids = [str(fast.pk), str(slow.pk)]
    after.save()
    add(before, fast, ttfts())
    add(after, fast, ttfts(), slower=1.2)

    response = api.get(f"{BASE}/{after.id}/compare", {"baseline": str(before.id)})

    assert response.status_code == 200
    data = response.json()
    assert data["baseline"] == {"id": str(before.id), "name": "Before", "profile": "fixed"}
    assert data["run"] == {"id": str(after.id), "name": "After", "profile": "fixed"}
    assert (data["percentile"], data["confidence"], data["resamples"]) == (50, 0.95, 2000)
    assert data["min_samples"] == compare.MIN_SAMPLES and data["sweep"] is None
    assert data["worse"] is True and data["notes"] == []
    (row,) = data["rows"]
    assert row["model"] == row["baseline_model"] == {"id": str(fast.pk), "name": "Fast"}
    assert row["level"] is None and (row["n_baseline"], row["n"]) == (30, 30)
    assert (row["errors_baseline"], row["errors"]) == (0, 0)
    assert row["error_rate_percent"] == 0 and row["worse"] is True
    assert list(row["metrics"]) == METRIC_FIELDS
    ttft = row["metrics"]["ttft_ms"]
    assert ttft["label"] == "TTFT" and ttft["unit"] == "ms" and ttft["higher_is_worse"]
    assert ttft["worse"] is True and ttft["better"] is False and ttft["verdict"] == "worse"
    difference = ttft["difference"]
    assert difference["change_percent"] == 20.0 and difference["significant"] is True
    assert difference["ci_low_percent"] < 20 < difference["ci_high_percent"]
    assert difference["text"].startswith("+20 % [")
    assert row["metrics"]["tps_excluding_ttft"]["higher_is_worse"] is False
    assert data["unmatched"] == [{"id": str(slow.pk), "name": "sim/slow", "side": "run"}]


def test_the_api_compares_another_percentile(api, models):
    fast, _ = models
    before, after = two_runs(fast)
    add(before, fast, ttfts())
    add(after, fast, ttfts(), slower=1.2)

    data = api.get(
        f"{BASE}/{after.id}/compare", {"baseline": str(before.id), "percentile": "95"}
    ).json()

    assert data["percentile"] == 95
    assert data["rows"][0]["metrics"]["ttft_ms"]["difference"]["change_percent"] == 20.0


def test_the_api_compares_model_a_with_model_b(api, models):
    fast, slow = models
    run = make_benchmark_run(fast, slow)
    add(run, fast, ttfts())
    add(run, slow, ttfts(), slower=1.5)

    response = api.get(
        f"{BASE}/{run.id}/compare",
        {"baseline": str(run.id), "baseline_model": str(fast.pk), "model": str(slow.pk)},
    )

    assert response.status_code == 200
    (row,) = response.json()["rows"]
    assert row["baseline_model"]["name"] == "Fast" and row["model"]["name"] == "sim/slow"
    assert row["metrics"]["latency_ms"]["difference"]["change_percent"] == 50.0


def test_an_unknown_baseline_is_a_404_naming_it(api, models):
    run = make_benchmark_run(models[0])

    response = api.get(f"{BASE}/{run.id}/compare", {"baseline": MISSING})

    assert response.status_code == 404
    assert response.json() == {"detail": f"Baseline run {MISSING} not found"}


def test_an_unknown_run_is_a_404(api, models):
    run = make_benchmark_run(models[0])

    response = api.get(f"{BASE}/{MISSING}/compare", {"baseline": str(run.id)})

    assert response.status_code == 404
    assert MISSING in response.json()["detail"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "baseline"),
        ({"baseline": "nope"}, "baseline"),
        ({"baseline": "{a}", "percentile": "90"}, "percentile"),
        ({"baseline": "{a}", "model": "{fast}"}, "baseline_model"),
        ({"baseline": "{a}", "baseline_model": "{fast}"}, "model"),
        # Each model must be one of its run's: slow is in neither.
        ({"baseline": "{a}", "baseline_model": "{fast}", "model": "{slow}"}, "model"),
        ({"baseline": "{a}", "baseline_model": "{slow}", "model": "{fast}"}, "baseline_model"),
    ],
)
def test_bad_query_values_are_a_422_naming_the_field(api, models, query, field):
    fast, slow = models
    before, after = make_benchmark_run(fast), make_benchmark_run(fast)
    ids = {"a": before.id, "fast": fast.pk, "slow": slow.pk}

    response = api.get(
        f"{BASE}/{after.id}/compare", {key: value.format(**ids) for key, value in query.items()}
    )

    assert response.status_code == 422
    assert [item["loc"] for item in response.json()["detail"]] == [["query", field]]


def test_anonymous_callers_get_a_401_from_the_comparison(anon, models):
    before, after = two_runs(models[0])

    response = anon.get(f"{BASE}/{after.id}/compare", {"baseline": str(before.id)})

    assert response.status_code == 401 and "detail" in response.json()


def test_a_viewer_may_compare(models):
    viewer = get_user_model().objects.create_user("vera", password="pw-long-enough-1")
    roles.assign(viewer, roles.VIEWER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(user=viewer, name='v')[1]}")
    before, after = two_runs(models[0])

    response = client.get(f"{BASE}/{after.id}/compare", {"baseline": str(before.id)})

    assert response.status_code == 200


# --- the page -------------------------------------------------------------------------------

PAGE = "/benchmarks/compare"


def test_the_page_redirects_anonymous_visitors_to_login(client, models):
    before, after = two_runs(models[0])

    response = client.get(PAGE, {"a": str(before.id), "b": str(after.id)})

    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_the_page_shows_both_runs_and_each_change_with_its_interval(logged_in, models):
    fast, slow = models
    before, after = two_runs(fast, slow)
    add(before, fast, ttfts())
    add(after, fast, ttfts(), slower=1.2)
    add(before, slow, ttfts())
    add(after, slow, ttfts(seed=2))

    response = logged_in.get(PAGE, {"a": str(before.id), "b": str(after.id)})

    assert response.status_code == 200
    body = response.content.decode()
    assert f'href="/benchmarks/{before.id}">Before</a>' in body
    assert f'href="/benchmarks/{after.id}">After</a>' in body
    assert body.count('data-testid="compare-table"') == 2
    fast_table, slow_table = body.split('data-testid="compare-table"')[1:]
    ttft = compare.compare_runs(before, after).rows[0].comparison.metric("ttft_ms")
    assert str(ttft.difference) in fast_table and str(ttft.difference).startswith("+20 % [")
    # The verdict is said in words, not in colour alone.
    assert '<span class="pill status-down">worse</span>' in fast_table
    assert "no significant change" in slow_table and "worse</span>" not in slow_table
    assert "Successful requests: 30 in A, 30 in B." in fast_table


def test_the_page_compares_two_models_of_one_run(logged_in, models):
    fast, slow = models
    run = make_benchmark_run(fast, slow)
    add(run, fast, ttfts())
    add(run, slow, ttfts(), slower=1.5)
    query = {"a": run.id, "b": run.id, "model_a": fast.pk, "model_b": slow.pk}

    body = logged_in.get(PAGE, query).content.decode()

    assert body.count('data-testid="compare-table"') == 1
    assert "Fast → sim/slow" in body and "+50 % [" in body


def test_a_sweep_is_compared_level_by_level_on_the_page(logged_in, models):
    fast, _ = models
    before, after = two_runs(fast, profile="concurrency_sweep", load=SWEEP)
    for step in range(3):
        add(before, fast, ttfts(seed=step), step=step)
        add(after, fast, ttfts(seed=step), step=step)

    body = logged_in.get(PAGE, {"a": before.id, "b": after.id}).content.decode()

    assert body.count('data-testid="compare-table"') == 3
    assert "at 8 concurrent streams" in body


def test_without_runs_the_page_offers_the_recent_completed_runs(logged_in, models):
    done = make_benchmark_run(models[0], name="Done")
    make_benchmark_run(models[0], name="Still running", status=BenchmarkRun.Status.RUNNING)

    response = logged_in.get(PAGE, {"b": str(done.id)})

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="compare-hint"' in body and 'data-testid="compare-table"' not in body
    assert f'<option value="{done.id}" selected>Done' in body
    assert "Still running" not in body


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"a": "nope", "b": "{b}"}, "Baseline run (A): Enter a valid UUID."),
        ({"a": MISSING, "b": "{b}"}, f"Baseline run (A): run {MISSING} not found."),
        ({"a": "{a}", "b": "{b}", "percentile": "42"}, "Percentile: Select a valid choice."),
        ({"a": "{a}", "b": "{b}", "model_a": "{fast}"}, "Choose a model on both sides"),
        (
            {"a": "{a}", "b": "{b}", "model_a": "{fast}", "model_b": "{slow}"},
            "is not one of the models of",
        ),
    ],
)
def test_bad_parameters_re_render_the_form_with_a_message(logged_in, models, query, message):
    fast, slow = models
    before, after = two_runs(fast)
    ids = {"a": before.id, "b": after.id, "fast": fast.pk, "slow": slow.pk}

    response = logged_in.get(PAGE, {key: value.format(**ids) for key, value in query.items()})

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="compare-error"' in body and message in body
    assert 'data-testid="compare-table"' not in body


def test_the_run_page_links_to_the_comparison_with_it_as_run_b(logged_in, models):
    run = make_benchmark_run(models[0])

    body = logged_in.get(f"/benchmarks/{run.id}").content.decode()

    assert f'href="/benchmarks/compare?b={run.id}"' in body


@pytest.mark.parametrize(("n", "q"), [(5, 50), (8, 95), (30, 50), (200, 95), (200, 99)])
def test_a_resampled_percentile_drawn_directly_follows_resampling(n, q):
    """The constant-time draw has the distribution of the percentile of a real resample."""
    import random

    from arguslm.stats import percentile
    from benchmarks.compare import _resampled_percentile

    data = sorted(random.Random(n).lognormvariate(5, 0.3) for _ in range(n))
    direct_rng, classic_rng = random.Random(1), random.Random(2)
    direct = [_resampled_percentile(data, q, direct_rng) for _ in range(20_000)]
    classic = [percentile(classic_rng.choices(data, k=n), q) for _ in range(20_000)]
    spread = percentile(classic, 97.5) - percentile(classic, 2.5)
    for p in (2.5, 25, 50, 75, 97.5):
        assert percentile(direct, p) == pytest.approx(percentile(classic, p), abs=0.05 * spread)
