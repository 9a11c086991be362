"""Hostile endpoints over real HTTP (tests/hostile.py): whatever the other side sends, a probe
and a discovery end within their limits, in time and in bytes, and the server keeps serving.

Cases: an 8 MiB error body, an endless stream, a 100 MB model listing and one of 6,000
models, a 1 MiB base URL, headers trickled one byte per second.
"""

import asyncio
import re
import threading
import time

import pytest

from arguslm.llm import catalog, discovery, warm
from arguslm.llm.measure import measure
from arguslm.llm.types import CallTarget, ErrorType, GatewayError, Timeouts
from providers import services
from tests.factories import make_account
from tests.hostile import MIB, Hostile

PROMPT = [{"role": "user", "content": "hi"}]
HUGE_URL = "http://example.com/" + "v1" * (MIB // 2)  # a 1 MiB base URL


@pytest.fixture(scope="module", autouse=True)
def warm_gateway():
    """As a worker does at start: litellm's first use is paid before anything is timed."""
    warm.ensure_warm()


@pytest.fixture(scope="module")
def hostile():
    server = Hostile()
    yield server
    server.close()


def probe(base_url: str, timeouts: Timeouts, provider_type="custom_openai_compatible"):
    """(sample, seconds) of one measured request to ``base_url``."""
    target = catalog.build_target(provider_type, {"base_url": base_url, "api_key": "k-123"}, "m")
    started = time.monotonic()
    sample = asyncio.run(measure(target, PROMPT, max_tokens=10, timeouts=timeouts))
    return sample, time.monotonic() - started


def discover(base_url: str, timeout: float) -> tuple[GatewayError, float]:
    """(error, seconds) of a discovery that must fail."""
    started = time.monotonic()
    with pytest.raises(GatewayError) as caught:
        asyncio.run(
            discovery.discover("custom_openai_compatible", {"base_url": base_url}, timeout=timeout)
        )
    return caught.value, time.monotonic() - started


# --- (a) an 8 MiB error body --------------------------------------------------------------------


def test_an_8_mib_error_body_ends_a_probe_at_once_with_its_first_words(hostile):
    sample, seconds = probe(hostile.url("error8m"), Timeouts(2, 10, 10, 10))
    assert (sample.error_type, sample.status_code) == ("server_error", 500)
    assert sample.error.startswith("HTTP 500: xxxx") and len(sample.error) <= 500
    assert seconds < 2


def test_an_8_mib_error_body_ends_a_discovery_at_once_with_its_status(hostile):
    error, seconds = discover(hostile.url("error8m"), timeout=10)
    assert (error.error_type, error.status) == (ErrorType.SERVER_ERROR, 500)
    assert "HTTP 500 from" in error.message and len(error.message) < 500
    assert seconds < 2


@pytest.mark.django_db
def test_an_8_mib_error_body_ends_a_connection_test_at_once(hostile):
    started = time.monotonic()
    result = services.test_connection(
        provider_type="custom_openai_compatible",
        credentials={"base_url": hostile.url("error8m")},
    )
    assert not result["success"] and result["details"]["status_code"] == 500
    assert time.monotonic() - started < 2


# --- (b) an endless stream ----------------------------------------------------------------------


def test_an_endless_stream_ends_a_probe_at_its_total_deadline(hostile):
    sample, seconds = probe(hostile.url("endless"), Timeouts(2, 2, 2, 2))
    assert sample.error_type == "timeout"
    assert sample.error == "Timed out: the total limit of 2 s."
    assert sample.chunks > 50  # tokens kept coming: only the total deadline ended it
    assert 2 <= seconds < 2.5


def test_an_endless_stream_ends_a_probe_on_the_litellm_route_at_its_total_deadline(hostile):
    # hosted_vllm: an OpenAI-compatible type that litellm serves itself.
    sample, seconds = probe(hostile.url("endless"), Timeouts(2, 2, 2, 2), "hosted_vllm")
    assert sample.error_type == "timeout", sample.error
    assert 2 <= seconds < 2.5


@pytest.mark.parametrize("provider_type", ["anthropic", "google_ai_studio"])
def test_a_flood_on_the_litellm_route_is_cut_off_at_the_byte_limit(hostile, provider_type):
    # One endless line: litellm would buffer it whole, waiting for its end.
    base = hostile.url("flood") + ("/v1beta" if provider_type == "google_ai_studio" else "")
    sample, seconds = probe(base, Timeouts(2, 30, 30, 30), provider_type)
    assert sample.error_type == "stream_error"
    assert sample.error == "Response exceeded the 8 MiB limit."
    assert seconds < 5


def test_an_endless_body_ends_a_discovery_at_its_deadline(hostile):
    error, seconds = discover(hostile.url("endless"), timeout=2)
    assert error.error_type == ErrorType.TIMEOUT
    assert 2 <= seconds < 2.5


# --- (c) a 100 MB model listing, and one of 6,000 models ----------------------------------------


def test_a_100_mb_listing_stops_discovery_at_the_4_mib_cap(hostile):
    error, seconds = discover(hostile.url("models100m"), timeout=30)
    assert error.error_type == ErrorType.UNKNOWN
    assert "exceeded the 4 MiB limit" in error.message
    assert seconds < 3
    assert hostile.sent["models100m"] < 32 * MIB  # the cap, plus what the socket buffers held


@pytest.mark.django_db
def test_a_100_mb_listing_fails_a_refresh_and_keeps_the_accounts_models(hostile):
    account = make_account(credentials={"base_url": hostile.url("models100m")})
    account.models.create(model_id="kept", source="discovered")
    started = time.monotonic()
    with pytest.raises(GatewayError, match="exceeded the 4 MiB limit"):
        services.refresh_models(account=account)
    assert time.monotonic() - started < 3
    assert list(account.models.values_list("model_id", "available")) == [("kept", True)]


@pytest.mark.django_db
def test_a_listing_of_6000_models_is_refused_with_the_cap_named(hostile):
    account = make_account(credentials={"base_url": hostile.url("models6000")})
    with pytest.raises(GatewayError) as caught:
        services.refresh_models(account=account)
    assert "lists more than 5,000 models" in caught.value.message
    assert "add the models to monitor by hand" in caught.value.message
    assert account.models.count() == 0


# --- (d) a 1 MiB base URL -----------------------------------------------------------------------


def test_a_1_mib_base_url_is_refused_by_validation_before_any_parsing():
    started = time.monotonic()
    errors = catalog.validate_credentials("openai", {"api_key": "k", "base_url": HUGE_URL})
    assert errors == {"base_url": "Base URL is longer than 2048 characters."}
    assert not catalog.is_http_url(HUGE_URL)
    assert time.monotonic() - started < 0.05


def test_a_1_mib_base_url_is_a_422_naming_the_field(api):
    # Just under the 1 MiB body limit (a larger body is a 413 before anything reads it).
    url = HUGE_URL[: 1024 * 1024 - 200]
    started = time.monotonic()
    response = api.post(
        "/api/v1/providers",
        {
            "provider_type": "openai",
            "display_name": "x",
            "credentials": {"api_key": "sk-1", "base_url": url},
        },
        format="json",
    )
    assert response.status_code == 422
    assert [(e["loc"], e["msg"]) for e in response.json()["detail"]] == [
        (["body", "credentials", "base_url"], "Base URL is longer than 2048 characters.")
    ]
    assert time.monotonic() - started < 1


def test_a_stored_1_mib_base_url_fails_its_probe_and_discovery_at_once():
    target = CallTarget("custom_openai_compatible", "m", "openai", "openai/m", base_url=HUGE_URL)
    started = time.monotonic()
    sample = asyncio.run(measure(target, PROMPT, max_tokens=5))
    error, _ = discover(HUGE_URL, timeout=10)
    assert sample.error_type == "connection"
    assert "longer than 2048 characters" in sample.error
    assert error.message == "The base URL is longer than 2048 characters."
    assert time.monotonic() - started < 0.5


def test_the_api_version_suffix_is_found_in_linear_time():
    # "/v" + digits + a stray character: the former pattern /v\d+(?:alpha|beta)?\d*$ tried every
    # split of the digits between \d+ and \d* (quadratic: minutes at this size).
    text = "/v" + "1" * MIB + "x"
    started = time.monotonic()
    assert discovery._VERSION_SEGMENT.search(text) is None
    assert time.monotonic() - started < 0.5
    for ok in ("/v1", "/v1beta", "/v1beta1", "/v1alpha", "/v2"):
        assert discovery._VERSION_SEGMENT.search("https://h" + ok)
    assert re.sub(discovery._VERSION_SEGMENT, "", "https://h/api/v1beta") == "https://h/api"


# --- (e) a trickle: one byte per second ----------------------------------------------------------


def test_a_trickle_ends_a_probe_at_its_total_deadline_not_its_read_timeout(hostile):
    # Every byte comes well within the 30 s phase timeouts; only the 3 s total ends it.
    sample, seconds = probe(hostile.url("trickle"), Timeouts(2, 30, 30, 3))
    assert sample.error_type == "timeout"
    assert 3 <= seconds < 3.5


def test_a_trickle_ends_a_probe_on_the_litellm_route_at_its_total_deadline(hostile):
    sample, seconds = probe(hostile.url("trickle"), Timeouts(2, 30, 30, 3), "anthropic")
    assert sample.error_type == "timeout", sample.error
    assert 3 <= seconds < 3.5


def test_a_trickle_ends_a_discovery_at_its_deadline(hostile):
    error, seconds = discover(hostile.url("trickle"), timeout=3)
    assert error.error_type == ErrorType.TIMEOUT
    assert error.message.startswith("Timed out after 3 s waiting for http://127.0.0.1:")
    assert 3 <= seconds < 3.5


# --- the server keeps serving --------------------------------------------------------------------


@pytest.mark.live
def test_health_answers_within_a_second_while_a_hostile_connection_test_runs(live, hostile):
    api = live.api()
    created = api.post(
        "/api/v1/providers",
        json={
            "provider_type": "custom_openai_compatible",
            "display_name": "Hostile",
            "credentials": {"base_url": hostile.url("trickle")},
        },
    )
    assert created.status_code == 201, created.text
    result = {}

    def connection_test():
        started = time.monotonic()
        response = api.post(f"/api/v1/providers/{created.json()['id']}/test")
        result.update(response=response, seconds=time.monotonic() - started)

    worker = threading.Thread(target=connection_test)
    worker.start()
    time.sleep(0.5)  # the test is now reading the trickle inside the daphne process
    waits = []
    for _ in range(5):
        started = time.monotonic()
        assert api.get("/health").status_code == 200
        waits.append(time.monotonic() - started)
        time.sleep(0.5)
    assert worker.is_alive()  # still trickling while /health answered
    worker.join(timeout=30)
    assert max(waits) < 1, waits
    body = result["response"].json()
    assert body["success"] is False and "Timed out after 15 s" in body["message"]
    assert result["seconds"] < 15 + 2
