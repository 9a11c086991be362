"""What every browser test does: log in, switch theme, take both themes' screenshots, run a
monitoring pass."""

import threading

from django.contrib.auth import get_user_model
from django.db import connection

from monitoring import services
from monitoring.models import MonitoringRun


def log_in(
    page, base: str, *, username: str = "bob", superuser: bool = False, role: str = "admin"
) -> None:
    """Create the user (password ``pw-<username>-12345``, with ``role``: see arguslm.roles) and
    log in through the real form."""
    from arguslm import roles

    password = f"pw-{username}-12345"
    users = get_user_model().objects
    if superuser:
        users.create_superuser(username, f"{username}@example.com", password)
    else:
        roles.assign(users.create_user(username, password=password), role)
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard")


def set_theme(page, theme: str) -> None:
    page.evaluate(
        "t => { localStorage.setItem('arguslm-theme', t); "
        "document.documentElement.setAttribute('data-theme', t); }",
        theme,
    )


def shoot_both_themes(page, shot, name: str) -> None:
    for theme in ("dark", "light"):
        set_theme(page, theme)
        shot(page, f"{name}-{theme}")
    set_theme(page, "dark")


def run_pass() -> MonitoringRun:
    """One real pass, in a thread: Playwright keeps an event loop running in this one, and the
    pass runs its probes with asyncio.run."""
    run = MonitoringRun.objects.create()

    def work():
        try:
            services.start_pass(run_id=run.id)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=60)
    run.refresh_from_db()
    assert run.status == "completed", run.message
    return run
