"""Browser tests drive Debian's Chromium through Playwright against pytest-django's live_server."""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("ARGUSLM_SCREENSHOT_DIR", "/tmp/arguslm-shots"))

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed (make browser)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser(monkeypatch):
    """Chromium for one test. Playwright's sync API keeps an event loop running in this thread
    while it is open, so Django refuses ORM calls from the test body ("async context") unless
    told otherwise; per test (not per session) so that no later test inherits either."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page that records uncaught errors and console errors (asserted empty by tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: page.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def shot():
    """``shot(page, name)`` saves a full-page screenshot to /tmp/arguslm-shots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
