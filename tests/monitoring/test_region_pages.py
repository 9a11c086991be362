"""Passes on the Monitoring page and the dashboard's activity with probe regions: where each
pass probed from, and the note of a pass that lost a region; nothing new with one region."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import MonitoringRun, Region
from tests.factories import make_model, make_monitoring_run

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
LOST = "Not probed from eu: the region's workers stopped."


def completed(**kw) -> MonitoringRun:
    now = timezone.now()
    return make_monitoring_run(
        status=MonitoringRun.Status.COMPLETED,
        started_at=now - timedelta(seconds=20),
        finished_at=now,
        total=3,
        up=2,
        down=1,
        **kw,
    )


@pytest.fixture
def two_regions():
    now = timezone.now()
    Region.objects.create(name="default", last_seen_at=now)
    Region.objects.create(name="eu", last_seen_at=now - timedelta(minutes=5))


def passes_table(html: str) -> str:
    return html.split('data-testid="passes"')[1].split("</table>")[0]


def test_with_one_region_the_passes_name_no_region(logged_in):
    completed(regions=["default"])
    html = logged_in.get("/monitoring/live", **HTMX).content.decode()
    assert "data-run-regions" not in html and 'data-testid="run-regions"' not in html


def test_each_pass_says_which_regions_it_probed_from(logged_in, two_regions):
    completed(regions=["default"])
    latest = completed(regions=["default", "eu"])
    html = logged_in.get("/monitoring/live", **HTMX).content.decode()
    assert re.search(r'from <span data-testid="run-regions">default, eu</span>', html)
    table = passes_table(html)
    assert re.findall(r"data-run-regions>([^<]*)<", table) == ["from default, eu", "from default"]
    assert f'data-run-id="{latest.pk}"' in table


def test_a_pass_that_lost_a_region_says_so_as_a_warning(logged_in, two_regions):
    completed(regions=["default", "eu"], message=LOST)
    html = logged_in.get("/monitoring", follow=True).content.decode()
    assert re.search(
        r'<p class="small run-message warn-text" data-testid="run-message">Not probed from eu: '
        r"the region&#x27;s workers stopped.</p>",
        html,
    )
    assert re.search(
        r'<div class="small pass-message warn-text" title="[^"]+">Not probed from eu', html
    )


def test_the_dashboard_s_activity_tells_of_a_lost_region(logged_in):
    make_model()
    completed(regions=["default", "eu"], message=LOST)
    html = logged_in.get("/dashboard").content.decode()
    item = re.search(r'<li class="act tone-(\w+)">(.*?)</li>', html, re.S)
    assert item.group(1) == "warn"
    assert "2 up, 0 degraded, 1 down. Not probed from eu: the region" in item.group(2)


def test_anonymous_visitors_see_no_passes(client, two_regions):
    completed(regions=["default", "eu"], message=LOST)
    response = client.get("/monitoring/live")
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")
