"""Probe regions on models and accounts, and accounts' regional endpoints: written through the
API (and the admin), read back, the 422s that name the field, and the rule that stored secrets
go only to the hosts they were entered for."""

import pytest
from django.contrib.auth import get_user_model

from arguslm import errors
from providers import services
from providers.models import LLMModel, ProviderAccount
from tests.factories import DEAD_URL, SECRET, make_account, make_model

pytestmark = pytest.mark.django_db

SAME_HOST = "http://127.0.0.1:9/eu/v1"  # DEAD_URL's host, another path
OTHER_HOST = "https://eu.example.com/v1"


def locs(response) -> list[list]:
    assert response.status_code == 422, response.content
    return [entry["loc"] for entry in response.json()["detail"]]


def patch(api, account: ProviderAccount, body: dict):
    return api.patch(f"/api/v1/providers/{account.pk}", body, format="json")


BAD_NAMES = [
    "eu-west",  # a name, not a list
    ["EU"],
    ["9lives"],
    ["-eu"],
    ["eu_west"],
    ["e" * 33],
    [None],
    [7],
    [f"r{i}" for i in range(17)],
    {"eu": True},
    None,
]


# --- probe regions of a model -------------------------------------------------------------------


def test_a_models_probe_regions_are_written_sorted_and_unique_and_read_back(api):
    model = make_model(make_account())
    assert api.get(f"/api/v1/models/{model.pk}").json()["probe_regions"] == []
    response = api.patch(
        f"/api/v1/models/{model.pk}",
        {"probe_regions": ["us-east", "eu-west", "us-east"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["probe_regions"] == ["eu-west", "us-east"]
    model.refresh_from_db()
    assert model.probe_regions == ["eu-west", "us-east"]
    # [] goes back to the account's regions.
    api.patch(f"/api/v1/models/{model.pk}", {"probe_regions": []}, format="json")
    model.refresh_from_db()
    assert model.probe_regions == []


def test_a_model_is_created_with_its_probe_regions(api):
    account = make_account()
    response = api.post(
        "/api/v1/models",
        {"provider_account_id": str(account.pk), "model_id": "m", "probe_regions": ["ap-south"]},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["probe_regions"] == ["ap-south"]
    assert LLMModel.objects.get(model_id="m").probe_regions == ["ap-south"]


@pytest.mark.parametrize("value", BAD_NAMES)
def test_bad_probe_regions_of_a_model_are_a_422_naming_the_field(api, value):
    model = make_model(make_account(), probe_regions=["eu-west"])
    response = api.patch(f"/api/v1/models/{model.pk}", {"probe_regions": value}, format="json")
    assert locs(response) == [["body", "probe_regions"]]
    model.refresh_from_db()
    assert model.probe_regions == ["eu-west"]


def test_a_model_with_bad_probe_regions_is_not_created(api):
    account = make_account()
    body = {"provider_account_id": str(account.pk), "model_id": "m", "probe_regions": ["EU"]}
    response = api.post("/api/v1/models", body, format="json")
    assert locs(response) == [["body", "probe_regions"]]
    message = response.json()["detail"][0]["msg"]
    assert "'EU' is not a region name" in message
    assert not LLMModel.objects.exists()


# --- probe regions and regional endpoints of an account -----------------------------------------


def test_an_accounts_regions_and_endpoints_on_its_own_host_need_no_secrets(api):
    account = make_account()
    response = patch(
        api,
        account,
        {"probe_regions": ["us-east", "eu-west"], "region_base_urls": {"eu-west": SAME_HOST}},
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["probe_regions"] == ["eu-west", "us-east"]
    assert data["region_base_urls"] == {"eu-west": SAME_HOST}
    account.refresh_from_db()
    assert account.region_base_urls == {"eu-west": SAME_HOST}
    assert account.credentials == {"base_url": DEAD_URL, "api_key": SECRET}
    listed = api.get("/api/v1/providers").json()["providers"][0]
    assert listed["probe_regions"] == ["eu-west", "us-east"]
    # {} removes every regional endpoint.
    assert patch(api, account, {"region_base_urls": {}}).json()["region_base_urls"] == {}


def test_an_account_is_created_with_regions_and_endpoints_its_secrets_were_entered_with(api):
    response = api.post(
        "/api/v1/providers",
        {
            "provider_type": "custom_openai_compatible",
            "display_name": "Regional",
            "credentials": {"base_url": DEAD_URL, "api_key": SECRET},
            "probe_regions": ["eu-west"],
            "region_base_urls": {"eu-west": f"  {OTHER_HOST}  "},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["region_base_urls"] == {"eu-west": OTHER_HOST}  # trimmed
    account = ProviderAccount.objects.get()
    assert (account.probe_regions, account.region_base_urls) == (
        ["eu-west"],
        {"eu-west": OTHER_HOST},
    )


@pytest.mark.parametrize("value", BAD_NAMES)
def test_bad_probe_regions_of_an_account_are_a_422_naming_the_field(api, value):
    account = make_account()
    assert locs(patch(api, account, {"probe_regions": value})) == [["body", "probe_regions"]]
    account.refresh_from_db()
    assert account.probe_regions == []


@pytest.mark.parametrize(
    ("urls", "said"),
    [
        ({"EU": SAME_HOST}, "is not a region name"),
        ({"e" * 33: SAME_HOST}, "is not a region name"),
        ({f"r{i}": SAME_HOST for i in range(17)}, "at most 16"),
        ({"eu": None}, "a URL of at most 2048"),
        ({"eu": 42}, "a URL of at most 2048"),
        ({"eu": "http://127.0.0.1:9/" + "a" * 2048}, "a URL of at most 2048"),
        ({"eu": "ftp://eu.example.com/v1"}, "http(s) URL"),
        ({"eu": "eu.example.com/v1"}, "http(s) URL"),
        ({"eu": "https://"}, "http(s) URL"),
        ({"eu": "https://eu.example.com:99999/v1"}, "http(s) URL"),
        ({"eu": "https://eu.example.com/v1\x00"}, "http(s) URL"),
        ({"eu": "https://eu.example.com/a b"}, "http(s) URL"),
        (["eu", SAME_HOST], "region: URL pairs"),
        ("https://eu.example.com/v1", "region: URL pairs"),
    ],
)
def test_bad_regional_endpoints_are_a_422_naming_the_field_and_change_nothing(api, urls, said):
    account = make_account()
    # Secrets sent along: the endpoint itself is what is refused.
    body = {"region_base_urls": urls, "credentials": {"api_key": "sk-new"}}
    response = patch(api, account, body)
    assert locs(response) == [["body", "region_base_urls"]]
    assert said in response.json()["detail"][0]["msg"]
    account.refresh_from_db()
    assert account.region_base_urls == {}
    assert account.credentials == {"base_url": DEAD_URL, "api_key": SECRET}


def test_a_regional_endpoint_the_network_policy_refuses_is_a_422(api, settings):
    settings.ARGUSLM_ALLOW_PRIVATE_NETWORKS = False
    account = make_account(provider_type="openai", credentials={"api_key": SECRET})
    body = {"region_base_urls": {"eu": "http://10.0.0.9/v1"}, "credentials": {"api_key": "sk"}}
    response = patch(api, account, body)
    assert locs(response) == [["body", "region_base_urls"]]
    assert "network policy" in response.json()["detail"][0]["msg"]


def test_a_regional_endpoint_on_another_host_needs_the_secrets_again(api):
    """The stored key never follows a region's probes to a host it was not entered for."""
    account = make_account()
    response = patch(api, account, {"region_base_urls": {"eu-west": OTHER_HOST}})
    assert locs(response) == [["body", "credentials", "api_key"]]
    message = response.json()["detail"][0]["msg"]
    assert "host changed" in message and "API Key" in message
    account.refresh_from_db()
    assert account.region_base_urls == {}

    response = patch(
        api,
        account,
        {"region_base_urls": {"eu-west": OTHER_HOST}, "credentials": {"api_key": "sk-eu"}},
    )
    assert response.status_code == 200, response.content
    account.refresh_from_db()
    assert account.region_base_urls == {"eu-west": OTHER_HOST}
    assert account.credentials == {"base_url": DEAD_URL, "api_key": "sk-eu"}


def test_a_region_keeps_its_stored_host_but_not_another_regions(api):
    account = make_account()
    account.region_base_urls = {"eu-west": OTHER_HOST}
    account.save()
    # Its own stored host (another path) and the account's host: no secrets needed.
    urls = {"eu-west": OTHER_HOST + "/v2", "us-east": SAME_HOST}
    assert patch(api, account, {"region_base_urls": urls}).status_code == 200
    # us-east moving to eu-west's host is a new host for us-east.
    urls = {"eu-west": OTHER_HOST, "us-east": OTHER_HOST}
    assert locs(patch(api, account, {"region_base_urls": urls})) == [
        ["body", "credentials", "api_key"]
    ]
    # A region removed and set again is a new host too.
    assert patch(api, account, {"region_base_urls": {}}).status_code == 200
    response = patch(api, account, {"region_base_urls": {"eu-west": OTHER_HOST}})
    assert locs(response) == [["body", "credentials", "api_key"]]


def test_a_blank_secret_does_not_count_as_sent_again(api):
    account = make_account()
    body = {"region_base_urls": {"eu-west": OTHER_HOST}, "credentials": {"api_key": ""}}
    assert locs(patch(api, account, body)) == [["body", "credentials", "api_key"]]


def test_an_account_on_the_providers_default_host_keeps_its_key_for_that_host(api):
    account = make_account(provider_type="openai", credentials={"api_key": SECRET})
    same = {"region_base_urls": {"us-east": "https://api.openai.com/v1"}}
    assert patch(api, account, same).status_code == 200
    other = {"region_base_urls": {"us-east": "https://us.openai-proxy.example/v1"}}
    assert locs(patch(api, account, other)) == [["body", "credentials", "api_key"]]


def test_the_host_rule_holds_in_the_service_for_every_caller(db):
    account = make_account()
    with pytest.raises(errors.Invalid, match="region_base_urls: The endpoint's host changed"):
        services.update_account(account=account, region_base_urls={"eu-west": OTHER_HOST})
    with pytest.raises(errors.Invalid, match="is not a region name"):
        services.update_account(account=account, probe_regions=["Nope"])
    account.refresh_from_db()
    assert (account.region_base_urls, account.probe_regions) == ({}, [])
    services.update_account(
        account=account,
        region_base_urls={"eu-west": OTHER_HOST},
        credentials={"api_key": "sk-eu"},
    )
    account.refresh_from_db()
    assert account.region_base_urls == {"eu-west": OTHER_HOST}


# --- the admin ----------------------------------------------------------------------------------


@pytest.fixture
def root(client):
    user = get_user_model().objects.create_superuser("root", "r@example.com", "pw-root-12345")
    client.force_login(user)
    return client


def admin_post(root, account: ProviderAccount, **fields):
    data = {
        "display_name": account.display_name,
        "enabled": "on",
        "probe_regions": "[]",
        "region_base_urls": "{}",
        "models-TOTAL_FORMS": "0",
        "models-INITIAL_FORMS": "0",
        **fields,
    }
    return root.post(f"/admin/providers/provideraccount/{account.pk}/change/", data)


def test_the_admin_edits_regions_and_endpoints_on_the_accounts_hosts(root):
    account = make_account()
    response = admin_post(
        root,
        account,
        probe_regions='["us-east", "eu-west"]',
        region_base_urls=f'{{"eu-west": "{SAME_HOST}"}}',
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert account.probe_regions == ["eu-west", "us-east"]
    assert account.region_base_urls == {"eu-west": SAME_HOST}


def test_the_admin_refuses_an_endpoint_on_a_new_host_and_bad_names(root):
    account = make_account()
    response = admin_post(root, account, region_base_urls=f'{{"eu-west": "{OTHER_HOST}"}}')
    assert response.status_code == 200
    assert "host changed" in response.content.decode()
    response = admin_post(root, account, probe_regions='["EU"]')
    assert response.status_code == 200 and "is not a region name" in response.content.decode()
    model = make_model(account)
    response = root.post(
        f"/admin/providers/llmmodel/{model.pk}/change/",
        {
            "provider_account": str(account.pk),
            "model_id": model.model_id,
            "source": "manual",
            "model_metadata": "{}",
            "probe_regions": '["Bad Region"]',
        },
    )
    assert response.status_code == 200 and "is not a region name" in response.content.decode()
    account.refresh_from_db()
    model.refresh_from_db()
    assert (account.region_base_urls, account.probe_regions, model.probe_regions) == ({}, [], [])
