"""Load sweeps over real HTTP against the simulator: steps, throughput, capacity verdicts."""

import pytest

from benchmarks import engine, services
from benchmarks.models import BenchmarkRun
from tests.factories import make_account, make_benchmark_run, make_model


def sweep(*models, profile, load, slo=None, **kw) -> BenchmarkRun:
    return make_benchmark_run(
        *models, status="pending", profile=profile, load=load, slo=slo, warmup_runs=0, **kw
    )


@pytest.mark.django_db(transaction=True)
def test_a_concurrency_sweep_stores_each_step_and_its_throughput(llmsim):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    # 40 ms to the first token, 5 more tokens 4 ms apart: 60 ms per request.
    model = make_model(account, model_id="sim/ttft=40/itl=4/n=6")
    run = sweep(
        model,
        profile="concurrency_sweep",
        load={"levels": [1, 2, 4], "step_requests": 8},
        slo={"metric": "ttft", "percentile": 95, "max_ms": 500, "max_error_rate": 1.0},
    )

    assert engine.execute(run.id) == "completed"

    results = services.results_of(run)
    assert [sum(r.step == i for r in results) for i in range(3)] == [8, 8, 8]
    [found] = services.capacity_of(run, results)
    assert [s.level for s in found.steps] == [1, 2, 4]
    assert [s.sent for s in found.steps] == [8, 8, 8]
    # A closed loop of C streams of 60 ms requests completes about C / 0.06 s per second.
    for step in found.steps:
        assert step.requests_per_s == pytest.approx(step.level / 0.060, rel=0.5)
        assert 40 <= step.value("ttft", 50) < 40 + 100
    rates = [step.requests_per_s for step in found.steps]
    assert rates == sorted(rates)
    assert found.sustainable == 4
    assert found.verdict == "Every step met the SLO: at least 4 concurrent streams."


@pytest.mark.django_db(transaction=True)
def test_a_rate_sweep_sends_requests_at_each_rate(llmsim):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    model = make_model(account, model_id="sim/ttft=20/itl=2/n=4")
    run = sweep(
        model,
        profile="rate_sweep",
        load={"levels": [10, 40], "step_requests": 12, "arrivals": "poisson"},
        slo={"metric": "latency", "percentile": 50, "max_ms": 1},  # no step can meet 1 ms
    )

    assert engine.execute(run.id) == "completed"

    results = services.results_of(run)
    [found] = services.capacity_of(run, results)
    assert [(s.level, s.sent, s.ok) for s in found.steps] == [(10, 12, 12), (40, 12, 12)]
    slow, fast = found.steps
    # 12 arrivals at R per second span about 11 / R s (Poisson: loosely), plus one request.
    assert fast.duration_s < slow.duration_s
    assert [s.meets_slo for s in found.steps] == [False, False]
    assert found.sustainable is None
    assert found.verdict.startswith("No step met the SLO (Latency p50 ≤ 1 ms")


def test_arrivals_are_even_or_seeded_poisson():
    from benchmarks import load

    even = load.parse("rate_sweep", {"levels": [4], "step_seconds": 2})
    assert load.arrivals(even, 4, seed="x") == [0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    poisson = load.parse("rate_sweep", {"levels": [50], "step_seconds": 20, "arrivals": "poisson"})
    times = load.arrivals(poisson, 50, seed="run:model:0")
    assert times == load.arrivals(poisson, 50, seed="run:model:0")  # the same pattern again
    assert times != load.arrivals(poisson, 50, seed="run:model:1")
    assert len(times) == pytest.approx(1000, rel=0.1) and max(times) < 20


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([True, True, False, True], 2),  # a later step that passes again does not count
        ([False, True], None),
        ([True, True, True, True], 8),
    ],
)
def test_the_capacity_is_the_last_of_the_leading_passing_steps(steps, expected):
    from benchmarks.capacity import StepFigures, sustainable

    figures = [
        StepFigures(i, 2.0**i, 1, 1, 0, 1.0, 1.0, 1.0, 0.0, meets_slo=ok)
        for i, ok in enumerate(steps)
    ]
    assert sustainable(figures) == expected


# An endpoint that serves 4 streams at full speed; each stream beyond adds 200 ms of TTFT. The
# SLO leaves 150 ms for a busy machine's timing error; a step past the cap misses it by far.
CAPPED = "sim/ttft=100/itl=10/n=11/cap=4/over=200"
SLO = {"metric": "ttft", "percentile": 95, "max_ms": 250}


@pytest.mark.django_db(transaction=True)
def test_a_concurrency_sweep_finds_the_endpoints_capacity(llmsim):
    model = make_model(make_account(credentials={"base_url": f"{llmsim}/v1"}), model_id=CAPPED)
    run = sweep(
        model,
        profile="concurrency_sweep",
        load={"max": 16, "step_requests": 16},
        slo=SLO,
    )

    assert engine.execute(run.id) == "completed"

    [found] = services.capacity_of(run, services.results_of(run))
    assert [s.level for s in found.steps] == [1, 2, 4, 8, 16]
    assert [s.meets_slo for s in found.steps] == [True, True, True, False, False]
    assert found.sustainable == 4
    assert (
        found.verdict
        == "Max sustainable: 4 concurrent streams (TTFT p95 ≤ 250 ms and errors ≤ 1 %)."
    )


@pytest.mark.django_db(transaction=True)
def test_a_rate_sweep_finds_the_matching_rate(llmsim):
    # 200 ms per request: 4 streams are busy at 4 / 0.2 s = 20 requests per second.
    model = make_model(make_account(credentials={"base_url": f"{llmsim}/v1"}), model_id=CAPPED)
    run = sweep(
        model,
        profile="rate_sweep",
        load={"levels": [5, 10, 20, 40], "step_requests": 20},
        slo=SLO,
    )

    assert engine.execute(run.id) == "completed"

    [found] = services.capacity_of(run, services.results_of(run))
    assert found.steps[-1].meets_slo is False
    assert found.sustainable in (10, 20)  # within one step of the matching rate
    # Below capacity the endpoint completes requests as fast as they arrive.
    for step in found.steps[:2]:
        assert step.requests_per_s == pytest.approx(step.level, rel=0.1)
