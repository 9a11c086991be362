"""Front-end files from node_modules/: exactly the declared ones are served, and
`manage.py check` names a missing one and the fix."""

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

BASE_DIR = Path(settings.BASE_DIR)
CHART = "chart.js/dist/chart.umd.js"


def template_folders() -> list[Path]:
    """The project's template folder and each of its apps' own."""
    own = [Path(app.path) / "templates" for app in apps.get_app_configs()]
    return [BASE_DIR / "templates", *(f for f in own if f.parent.parent == BASE_DIR and f.is_dir())]


def template_vendor_paths() -> set[str]:
    """Every ``vendor/...`` path the templates and the app's own static files refer to."""
    found = set()
    for folder in (*template_folders(), BASE_DIR / "static"):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in {".html", ".js", ".css", ".txt"}:
                found.update(re.findall(r"\bvendor/([\w@./-]+)", path.read_text()))
    return found


def test_every_vendor_file_the_pages_use_is_declared_and_nothing_else():
    assert template_vendor_paths() == {CHART}
    assert sorted(settings.ARGUSLM_VENDOR_FILES) == sorted(template_vendor_paths())


def test_the_check_passes_with_node_modules_installed():
    call_command("check")  # raises SystemCheckError on any error


def test_the_check_names_the_missing_file_and_the_fix(settings, tmp_path):
    settings.ARGUSLM_VENDOR_DIR = tmp_path  # an empty node_modules
    with pytest.raises(SystemCheckError) as failed:
        call_command("check")
    message = str(failed.value)
    assert "arguslm.E001" in message
    assert str(tmp_path / CHART) in message
    assert "npm install" in message and "make install" in message


def test_finders_find_only_the_declared_files():
    expected = str(BASE_DIR / "node_modules" / CHART)
    assert finders.find(f"vendor/{CHART}") == expected
    assert finders.find(f"vendor/{CHART}", find_all=True) == [expected]
    for path in (
        "vendor/chart.js/package.json",
        "vendor/chart.js/dist/chart.js",
        "vendor/chart.js/dist/../package.json",
        "vendor/@kurkle/color/dist/color.esm.js",
        "vendor/.package-lock.json",
    ):
        assert not finders.find(path), path
        assert finders.find(path, find_all=True) == [], path


@pytest.mark.parametrize("autorefresh", [False, True], ids=["startup-scan", "autorefresh"])
def test_only_the_declared_files_are_served(settings, tmp_path, autorefresh):
    """WhiteNoise serves from the finders (scanned at start-up, or per request in development)
    and from STATIC_ROOT; an empty STATIC_ROOT keeps an old collectstatic out of the way."""
    settings.STATIC_ROOT = tmp_path
    settings.WHITENOISE_AUTOREFRESH = autorefresh
    client = Client()  # a fresh client builds the WhiteNoise middleware from these settings
    response = client.get(f"/static/vendor/{CHART}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == (BASE_DIR / "node_modules" / CHART).read_bytes()
    for path in (
        "vendor/chart.js/package.json",
        "vendor/chart.js/dist/chart.js",
        "vendor/chart.js/dist/chart.umd.js.map",
        "vendor/@kurkle/color/package.json",
        "vendor/@kurkle/color/dist/color.min.js",
        "vendor/.package-lock.json",
    ):
        assert (BASE_DIR / "node_modules" / path.removeprefix("vendor/")).exists(), path
        assert client.get(f"/static/{path}").status_code == 404, path


def test_collectstatic_copies_only_the_declared_files(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--noinput", verbosity=0)
    vendor = tmp_path / "vendor"
    copied = sorted(str(p.relative_to(vendor)) for p in vendor.rglob("*") if p.is_file())
    assert copied == [CHART]
