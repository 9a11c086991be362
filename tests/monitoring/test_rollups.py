"""Rollups: exact counts, mergeable percentiles within 1 %, latest status per model."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from arguslm.stats import percentile
from monitoring import rollups, sketch
from monitoring.models import CheckRollup, ModelStatus, UptimeCheck
from tests.factories import make_model


def test_sketch_quantiles_are_within_one_percent_of_the_exact_sample():
    rng = random.Random(4)
    values = [rng.lognormvariate(6, 0.8) for _ in range(5000)]
    summary = sketch.empty()
    for v in values:
        sketch.add(summary, v)
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[round(q * (len(ordered) - 1))]
        assert sketch.quantile(summary, q) == pytest.approx(exact, rel=0.0101)


def test_counting_values_at_most_a_threshold_is_exact_away_from_it():
    rng = random.Random(7)
    values = [rng.lognormvariate(6, 0.8) for _ in range(5000)] + [0.0] * 3
    summary = sketch.empty()
    for v in values:
        sketch.add(summary, v)
    for limit in (0, 50, 403.7, 1000, 1500, 10**6):
        exact = sum(v <= limit for v in values)
        near = sum(abs(v - limit) <= 0.02 * limit for v in values)  # one bucket either side
        assert abs(sketch.count_at_most(summary, limit) - exact) <= near
    assert sketch.count_at_most(summary, -1) == 0
    assert sketch.count_at_most(None, 100) == 0


def test_merged_sketches_equal_one_sketch_of_all_values():
    rng = random.Random(9)
    parts = [[rng.uniform(1, 2000) for _ in range(200)] for _ in range(24)]
    merged, whole = sketch.empty(), sketch.empty()
    for part in parts:
        piece = sketch.empty()
        for v in part:
            sketch.add(piece, v)
            sketch.add(whole, v)
        sketch.merge(merged, piece)
    assert merged == whole
    flat = [v for part in parts for v in part]
    assert sketch.quantile(merged, 0.95) == pytest.approx(percentile(flat, 95), rel=0.02)


@pytest.mark.django_db
def test_recording_checks_builds_hour_and_day_rollups_and_the_latest_status():
    model = make_model()
    base = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    checks = [
        UptimeCheck(
            model=model,
            status="up",
            ttft_ms=100,
            latency_ms=400,
            tps_excluding_ttft=50,
            created_at=base + timedelta(minutes=5),
        ),
        UptimeCheck(
            model=model,
            status="degraded",
            error_type="rate_limited",
            created_at=base + timedelta(minutes=35),
        ),
        UptimeCheck(
            model=model,
            status="up",
            ttft_ms=300,
            latency_ms=800,
            tps_excluding_ttft=30,
            created_at=base + timedelta(minutes=65),
        ),
    ]
    UptimeCheck.objects.bulk_create(checks)
    rollups.record(checks[:2])
    rollups.record(checks[2:])  # a later batch merges into the same day row

    hours = CheckRollup.objects.filter(resolution="hour").order_by("bucket")
    assert [(h.n, h.up, h.degraded) for h in hours] == [(2, 1, 1), (1, 1, 0)]
    day = CheckRollup.objects.get(resolution="day")
    assert (day.n, day.up, day.degraded, day.down) == (3, 2, 1, 0)
    assert day.latency["n"] == 2  # the rate-limited check carries no latency
    assert sketch.quantile(day.latency, 0.5) == pytest.approx(600, rel=0.01)  # [400, 800]
    status = ModelStatus.objects.get(model=model)
    assert (status.status, status.latency_ms) == ("up", 800)
