"""Start a benchmark in a real browser and follow it to its statistics and charts.

pytest-django's ``live_server`` speaks WSGI, so the run page's WebSocket cannot connect here:
these tests also prove that benchmarks.js falls back to polling the page's progress endpoint.
Chromium logs that one failed handshake as a console error; exactly that message is ignored.
"""

import re
import threading

import pytest
from playwright.sync_api import expect

from benchmarks import engine
from benchmarks.models import BenchmarkResult, BenchmarkRun
from tests.browser.helpers import log_in, shoot_both_themes
from tests.factories import make_account, make_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FAST = "sim/ttft=50/itl=5/n=20"
SLOW = "sim/ttft=120/itl=3/n=10"


@pytest.fixture
def engine_threads(monkeypatch):
    """Run the engine for real in a thread instead of a django-q2 worker. It starts 0.5 s
    after the request so the run page is open first (as with a real worker's pick-up delay)."""
    timers: list[threading.Timer] = []

    def async_task(func, run_id, **kwargs):
        assert func == "benchmarks.tasks.execute"
        timer = threading.Timer(0.5, engine.execute, args=(run_id,))
        timers.append(timer)
        timer.start()
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", async_task)
    yield timers
    for timer in timers:
        timer.join(timeout=60)


def real_errors(page, base: str) -> list[str]:
    """The page's errors, less Chromium's report of the WebSocket that WSGI cannot serve."""
    ws = re.escape(base.replace("http://", "ws://"))
    expected = re.compile(
        rf"console: WebSocket connection to '{ws}/api/v1/benchmarks/[0-9a-f-]{{36}}/stream"
        r"(\?after=\d+)?' failed: "
    )
    return [e for e in page.errors if not expected.match(e)]


def charts_drawn(page) -> list[dict]:
    """For each chart canvas: its size, its Chart.js instance, and whether anything is painted."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('canvas[data-chart]')).map(c => {
            const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
            const chart = window.Chart.getChart(c);
            return {kind: c.dataset.chart, width: c.width, height: c.height, painted,
                    points: chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0};
        })"""
    )


def test_starting_a_benchmark_and_following_it_to_its_charts(
    page, live_server, llmsim, shot, engine_threads
):
    account = make_account(display_name="Simulator", credentials={"base_url": f"{llmsim}/v1"})
    make_model(account, model_id=FAST, enabled_for_benchmark=True)
    make_model(account, model_id=SLOW, enabled_for_benchmark=True)
    make_model(account, model_id="sim/not-offered", enabled_for_benchmark=False)
    base = live_server.url
    log_in(page, base, username="carol")

    page.goto(f"{base}/benchmarks")
    expect(page.locator("input[name=model_ids]")).to_have_count(2)
    # Bad input is explained next to the fields and starts nothing.
    page.fill("input[name=max_tokens]", "5000")
    page.get_by_role("button", name="Start benchmark").click()
    expect(page.get_by_test_id("model-ids-error")).to_have_text("Choose at least one model.")
    expect(page.locator("input[name=max_tokens]")).to_have_attribute("aria-invalid", "true")
    shoot_both_themes(page, shot, "benchmarks-bad-input")
    assert not BenchmarkRun.objects.exists()
    page.fill("input[name=max_tokens]", "200")
    # The search box filters the checkboxes; "N selected" follows the choice.
    page.fill("[data-model-search]", "ttft=120")
    expect(page.locator("[data-picker-item]:visible")).to_have_count(1)
    page.get_by_label(SLOW).check()
    page.fill("[data-model-search]", "")
    page.get_by_label(FAST).check()
    expect(page.locator("[data-selected-count]")).to_have_text("2 selected")
    page.fill("input[name=num_runs]", "2")
    page.select_option("select[name=prompt_pack]", "health_check")
    page.fill("input[name=name]", "Simulator smoke test")
    shoot_both_themes(page, shot, "benchmarks-form")

    page.get_by_role("button", name="Start benchmark").click()
    page.wait_for_url(re.compile(rf"{re.escape(base)}/benchmarks/[0-9a-f-]{{36}}$"))
    run = BenchmarkRun.objects.get()
    assert run.num_runs == 2 and len(run.model_ids) == 2

    # The page follows the run (polling here) and reloads once it has finished.
    expect(page.get_by_test_id("run-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("[data-testid=samples-table] tbody tr")).to_have_count(4)
    stats = page.get_by_test_id("stats-table")
    expect(stats.locator("tbody tr")).to_have_count(2)
    expect(stats).to_contain_text(FAST)
    expect(stats).to_contain_text(SLOW)
    expect(stats.locator("th", has_text="TTFT (ms)")).to_have_attribute(
        "title", re.compile("time to first token-bearing chunk")
    )
    page.wait_for_function("document.querySelectorAll('canvas[data-chart]').length === 2")
    charts = charts_drawn(page)
    assert [c["kind"] for c in charts] == ["ttft", "tps"]
    for chart in charts:
        assert chart["width"] > 300 and chart["height"] > 100, chart
        assert chart["painted"] > 1000, chart
        assert chart["points"] == 4 + 2, chart  # every sample and one median per model
    shoot_both_themes(page, shot, "benchmarks-detail")
    # Switching the theme redraws the charts (with that theme's colors), still painted.
    assert all(c["painted"] > 1000 for c in charts_drawn(page))

    page.goto(f"{base}/benchmarks")
    row = page.locator(f'tr[data-run-id="{run.pk}"]')
    expect(row.locator(".run-status")).to_have_text("completed")
    expect(row).to_contain_text("4 / 4")
    expect(row).to_contain_text("Health Check")
    shoot_both_themes(page, shot, "benchmarks")
    assert real_errors(page, base) == []


def test_a_live_run_page_polls_for_new_results_and_reloads_when_the_run_ends(
    page, live_server, shot
):
    account = make_account(display_name="Simulator")
    fast = make_model(account, model_id=FAST)
    slow = make_model(account, model_id=SLOW)
    run = BenchmarkRun.objects.create(
        name="Live run",
        status=BenchmarkRun.Status.RUNNING,
        model_ids=[str(fast.pk), str(slow.pk)],
        prompt_pack="shakespeare",
        num_runs=2,
    )

    def add(seq, model, **kw):
        fields = {"ttft_ms": 50.0 + seq, "latency_ms": 150.0, "tps": 130.0}
        fields |= {"tps_excluding_ttft": 190.0, "output_tokens": 20, **kw}
        BenchmarkResult.objects.create(run=run, model=model, seq=seq, **fields)

    add(1, fast)
    base = live_server.url
    log_in(page, base, username="carol")
    page.goto(f"{base}/benchmarks/{run.pk}")
    feed = page.locator("[data-feed] tr")
    expect(feed).to_have_count(1)
    expect(page.locator("[data-progress-text]")).to_have_text("1 / 4")
    expect(page.locator("[data-live-mode]")).to_have_text("Updating every second")

    # Results committed out of order: 3 first, then 2; the feed keeps seq order.
    add(3, fast)
    expect(feed).to_have_count(2)
    add(2, slow, error_type="timeout", error="No token within 60 s.", ttft_ms=None)
    expect(feed).to_have_count(3)
    expect(page.locator("[data-progress-text]")).to_have_text("3 / 4")
    assert feed.evaluate_all("rows => rows.map(r => r.dataset.seq)") == ["1", "2", "3"]
    expect(feed.nth(1)).to_contain_text("timeout")
    expect(page.locator("progress[data-progress-bar]")).to_have_attribute("value", "3")
    shoot_both_themes(page, shot, "benchmarks-live")

    add(4, slow)
    BenchmarkRun.objects.filter(pk=run.pk).update(status=BenchmarkRun.Status.COMPLETED)
    expect(page.get_by_test_id("run-status")).to_have_text("completed")
    expect(page.locator("[data-testid=samples-table] tbody tr")).to_have_count(4)
    expect(page.get_by_test_id("stats-table").locator("tbody tr")).to_have_count(2)
    assert real_errors(page, base) == []


def test_a_concurrency_sweep_started_from_the_form_finds_the_capacity_and_charts_it(
    page, live_server, llmsim, shot, engine_threads
):
    account = make_account(display_name="vLLM staging", credentials={"base_url": f"{llmsim}/v1"})
    # Serves 4 streams at full speed; each stream beyond adds 200 ms to the TTFT.
    capped = make_model(account, model_id="sim/ttft=100/itl=10/n=11/cap=4/over=200")
    roomy = make_model(account, model_id="sim/ttft=80/itl=8/n=11/cap=12/over=200")
    base = live_server.url
    log_in(page, base, role="operator")

    page.goto(f"{base}/benchmarks")
    page.get_by_label(capped.model_id).check()
    page.get_by_label(roomy.model_id).check()
    page.select_option("select[name=prompt_pack]", "health_check")
    page.select_option("select[name=profile]", "concurrency_sweep")
    page.fill("input[name=load_levels]", "1, 2, 4, 8, 16, 32")
    page.fill("input[name=step_requests]", "8")
    page.fill("input[name=slo_max_ms]", "250")
    page.get_by_role("button", name="Start benchmark").click()
    # Too few requests per step to keep 32 streams busy: explained on its field.
    expect(page.locator("input[name=step_requests]")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("cannot keep 32 streams busy")).to_be_visible()
    page.fill("input[name=step_requests]", "32")
    page.fill("input[name=name]", "Capacity of the staging pool")
    page.get_by_role("button", name="Start benchmark").click()
    page.wait_for_url(re.compile(rf"{re.escape(base)}/benchmarks/[0-9a-f-]{{36}}$"))
    run = BenchmarkRun.objects.get()
    assert (run.profile, run.load["levels"]) == ("concurrency_sweep", [1, 2, 4, 8, 16, 32])

    expect(page.get_by_test_id("run-status")).to_have_text("completed", timeout=60_000)
    verdicts = page.get_by_test_id("capacity-verdict")
    expect(verdicts).to_have_text(
        [
            "Max sustainable: 4 concurrent streams (TTFT p95 ≤ 250 ms and errors ≤ 1 %).",
            re.compile(r"Max sustainable: (8|16) concurrent streams"),
        ]
    )
    expect(page.get_by_test_id("steps-table").first.locator("tbody tr")).to_have_count(6)
    page.wait_for_function(
        "document.querySelectorAll('canvas[data-sweep-chart]').length === 2"
        " && Array.from(document.querySelectorAll('canvas[data-sweep-chart]'))"
        ".every(c => window.Chart && window.Chart.getChart(c))"
    )
    shoot_both_themes(page, shot, "sweep")
    assert real_errors(page, base) == []
