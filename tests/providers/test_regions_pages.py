"""Probe regions on the Providers page's edit form: the account's probe regions and its
regional endpoints, through the same rules as the API (docs/regions.md)."""

import pytest

from tests.factories import SECRET, make_account

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
BASE = "http://127.0.0.1:9/v1"  # the account's own host (local type: private allowed)


@pytest.fixture
def account():
    return make_account(display_name="Prod", credentials={"base_url": BASE, "api_key": SECRET})


def edit(client, account, **fields):
    form = {"display_name": account.display_name, "cred_base_url": BASE, **fields}
    return client.post(f"/providers/{account.pk}/edit", form, **HTMX)


def test_the_edit_form_sets_probe_regions_and_regional_endpoints(logged_in, account):
    html = edit(
        logged_in,
        account,
        probe_regions="eu, default",
        region_base_urls="eu http://127.0.0.1:9/eu/v1\n\n",
        cred_api_key="",
    ).content.decode()
    account.refresh_from_db()
    assert account.probe_regions == ["default", "eu"]
    assert account.region_base_urls == {"eu": "http://127.0.0.1:9/eu/v1"}
    assert 'value="default, eu"' in html  # shown as stored
    assert "eu http://127.0.0.1:9/eu/v1</textarea>" in html
    assert '<span class="chip">eu</span>' in html  # and on the card
    assert '<dt>Endpoint in eu</dt><dd><code class="url">http://127.0.0.1:9/eu/v1</code>' in html


def test_a_new_host_for_a_region_needs_the_key_again(logged_in, account):
    html = edit(logged_in, account, region_base_urls="eu http://127.0.0.2:9/v1").content.decode()
    assert "enter the API Key again" in html
    account.refresh_from_db()
    assert account.region_base_urls == {}
    edit(logged_in, account, region_base_urls="eu http://127.0.0.2:9/v1", cred_api_key="sk-new")
    account.refresh_from_db()
    assert account.region_base_urls == {"eu": "http://127.0.0.2:9/v1"}


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("probe_regions", "eu EU", "&#x27;EU&#x27; is not a region name"),
        ("region_base_urls", "eu not-a-url", "region_base_urls.eu: must be an http(s) URL"),
        ("region_base_urls", "Bad http://127.0.0.1:9/v1", "&#x27;Bad&#x27; is not a region name"),
    ],
)
def test_bad_regions_are_shown_on_their_field_and_change_nothing(
    logged_in, account, field, value, shown
):
    html = edit(logged_in, account, display_name="Renamed", **{field: value}).content.decode()
    assert shown in html
    account.refresh_from_db()
    assert (account.display_name, account.probe_regions, account.region_base_urls) == (
        "Prod",
        [],
        {},
    )
