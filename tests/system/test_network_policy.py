"""The network policy (docs/network-policy.md) over real HTTP: what probes, discovery and
webhooks may connect to, refused with a clear reason, and refused at save time when it can
never be reached.

tests/conftest.py allows private networks for every test; these tests turn it back off
(``strict``) to check the defaults.
"""

import asyncio
import ipaddress
import json
import socket
import subprocess
import sys

import httpx
import pytest

from alerts import notifications
from alerts.models import Notification
from arguslm.llm import catalog, discovery, egress, warm
from arguslm.llm.measure import measure, new_http_client
from arguslm.llm.types import ErrorType, GatewayError, Timeouts
from arguslm.llmsim.accounts import service_account
from tests.alerts.test_notifications import Receiver
from tests.factories import make_alert, make_rule
from tests.hostile import Hostile

PROMPT = [{"role": "user", "content": "hi"}]
FAST = Timeouts(connect=2, first_token=5, between_tokens=5, total=10)
SECRET = "sk-secret-key-4711"


@pytest.fixture
def strict(settings):
    """The defaults: private addresses for local provider types only."""
    settings.ARGUSLM_ALLOW_PRIVATE_NETWORKS = False
    return settings


def probe(provider_type: str, base_url: str, model: str = "sim/n=2/ttft=5"):
    target = catalog.build_target(provider_type, {"base_url": base_url, "api_key": SECRET}, model)
    return asyncio.run(measure(target, PROMPT, max_tokens=5, timeouts=FAST))


def sim_requests(llmsim: str) -> int:
    return len(httpx.get(f"{llmsim}/_sim/requests?limit=10000").json()["requests"])


# --- The rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",  # AWS, Azure, GCP, Oracle
        "::ffff:169.254.169.254",  # the same, IPv4-mapped
        "169.254.1.1",  # link-local
        "fe80::1",
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "metadata.google.internal",
        "Metadata.Google.Internal.",
    ],
)
def test_link_local_and_metadata_addresses_are_always_refused(settings, host):
    settings.ARGUSLM_EGRESS_ALLOW = ["0.0.0.0/0", "::/0", "metadata.google.internal"]
    reason = egress.refusal(host, None, private=True)
    assert reason and "link-local or cloud metadata address, always refused" in reason


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "10.1.2.3", "192.168.1.20", "100.64.0.1", "::1", "localhost", "a.localhost"],
)
def test_private_addresses_are_for_local_types_unless_allowed(strict, host):
    assert "private or loopback" in egress.refusal(host, None, private=False)
    assert egress.refusal(host, None, private=True) is None
    strict.ARGUSLM_ALLOW_PRIVATE_NETWORKS = True
    assert egress.refusal(host, None, private=False) is None


def test_public_addresses_are_allowed(strict):
    for host in ("8.8.8.8", "2606:4700::1111", "api.openai.com"):
        assert egress.refusal(host, None, private=False) is None


def test_the_allow_list_opens_private_destinations_and_the_deny_list_closes_any(strict):
    strict.ARGUSLM_EGRESS_ALLOW = ["10.0.0.0/8", "llm.internal"]
    strict.ARGUSLM_EGRESS_DENY = ["evil.example", "192.168.0.0/16", "0.0.0.0/0"]
    assert egress.refusal("10.9.9.9", None, private=False) is None
    assert (
        egress.refusal("gpu.llm.internal", ipaddress.ip_address("172.16.0.4"), private=False)
        is None
    )
    assert "ARGUSLM_EGRESS_DENY" in egress.refusal("api.evil.example", None, private=False)
    # The deny list applies to local types too; "0.0.0.0/0" with an allow list: only the list.
    assert "ARGUSLM_EGRESS_DENY" in egress.refusal("192.168.1.5", None, private=True)
    assert "ARGUSLM_EGRESS_DENY" in egress.refusal("1.1.1.1", None, private=False)


def test_a_bad_list_entry_stops_the_start_with_its_name(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={
            "ARGUSLM_DATA_DIR": str(tmp_path),
            "ARGUSLM_EGRESS_DENY": "10.0.0.0/8,not a host!",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ARGUSLM_EGRESS_DENY: 'not a host!' is neither an address" in result.stderr


def test_local_types_are_the_self_hosted_servers():
    tested_local = {"ollama", "lm_studio", "custom_openai_compatible"}
    assert tested_local <= egress.LOCAL_TYPES
    assert not {"openai", "anthropic", "google_ai_studio", "azure_openai"} & egress.LOCAL_TYPES
    assert all(catalog.get_spec(t) for t in egress.LOCAL_TYPES)  # every one is a real type


# --- Probes -------------------------------------------------------------------------------------


def test_a_remote_type_is_refused_a_loopback_address_by_default(strict, llmsim):
    before = sim_requests(llmsim)
    sample = probe("openai", f"{llmsim}/v1")
    assert sample.error_type == "connection"
    assert sample.error.startswith(
        "Refused by the network policy: 127.0.0.1 is a private or loopback address"
    )
    assert SECRET not in sample.error
    assert sim_requests(llmsim) == before  # nothing was sent


def test_local_types_reach_the_simulator_by_default(strict, llmsim):
    # The demo account of `make run`: custom OpenAI-compatible at http://127.0.0.1:8100/v1.
    assert probe("custom_openai_compatible", f"{llmsim}/v1").ok
    assert probe("lm_studio", f"{llmsim}/v1").ok
    assert probe("ollama", llmsim, "fast-small/n=2/ttft=5").ok


def test_a_name_that_resolves_to_a_private_address_is_refused_when_connecting(strict, llmsim):
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80)}
    except OSError:
        pytest.skip("this machine's host name does not resolve")
    if any(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
        pytest.skip("this machine's host name resolves to a public address")
    port = llmsim.rsplit(":", 1)[1]
    sample = probe("openai", f"http://{name}:{port}/v1")
    assert sample.error_type == "connection"
    assert f"Refused by the network policy: {name.lower()} (" in sample.error
    assert "is a private or loopback address" in sample.error


def test_a_connection_opened_for_a_local_type_is_not_reused_by_a_remote_one(strict, llmsim):
    async def both():
        async with new_http_client(FAST) as client:
            local = await client.get(f"{llmsim}/v1/models", extensions={egress.PRIVATE: True})
            with pytest.raises(httpx.ConnectError) as refused:
                await client.get(f"{llmsim}/v1/models", extensions={egress.PRIVATE: False})
            return local.status_code, str(refused.value)

    status, refused = asyncio.run(both())
    assert status == 200
    assert refused.startswith("Refused by the network policy: 127.0.0.1 is a private")


def test_the_litellm_route_is_refused_before_litellm_is_called(strict, llmsim):
    before = sim_requests(llmsim)
    sample = probe("anthropic", f"{llmsim}/p/anthropic")
    assert sample.error_type == "connection"
    assert "Refused by the network policy: 127.0.0.1 is a private" in sample.error
    assert sim_requests(llmsim) == before


def test_a_vertex_account_on_a_private_address_is_refused_before_its_token_is_fetched(
    strict, llmsim
):
    # Its token endpoint and API both at the simulator: google-auth is never let near them.
    credentials = {
        "vertex_project": "sim-project",
        "vertex_credentials": json.dumps(service_account(llmsim)),
        "base_url": "https://vertex.example.com",
    }
    before = sim_requests(llmsim)
    token_before = httpx.get(f"{llmsim}/_sim/requests?limit=10000").text.count("/p/vertex/token")
    prepared = warm.prepare([("k", "google_vertex", credentials, "gemini-2.5-flash")])
    sample = asyncio.run(measure(prepared["k"], PROMPT, max_tokens=5, timeouts=FAST))
    assert sample.error_type == "connection"
    assert sample.error.startswith("Refused by the network policy: 127.0.0.1 is a private")
    assert sim_requests(llmsim) == before
    after = httpx.get(f"{llmsim}/_sim/requests?limit=10000").text.count("/p/vertex/token")
    assert after == token_before


@pytest.mark.parametrize(
    ("provider_type", "base", "key_header"),
    [
        ("anthropic", "", "x-api-key"),
        ("google_ai_studio", "/v1beta", "x-goog-api-key"),
        ("custom_openai_compatible", "/v1", "authorization"),
    ],
)
def test_redirects_are_never_followed_with_the_key(provider_type, base, key_header):
    redirecting, elsewhere = Hostile(), Hostile()
    try:
        redirecting.redirect_to = elsewhere.url("stolen")
        sample = probe(provider_type, redirecting.url("redirect") + base, "m")
        assert sample.error == (
            "HTTP 307: a redirect, not followed: use the final address as the base URL."
        )
        assert redirecting.requests[0][2][key_header].endswith(SECRET)  # it was sent there
        assert elsewhere.requests == []  # and never to where the redirect pointed
    finally:
        redirecting.close()
        elsewhere.close()


# --- Discovery ----------------------------------------------------------------------------------


def test_discovery_of_a_remote_type_is_refused_a_loopback_address_by_default(strict, llmsim):
    with pytest.raises(GatewayError) as caught:
        asyncio.run(discovery.discover("openai", {"api_key": SECRET, "base_url": f"{llmsim}/v1"}))
    assert caught.value.error_type == ErrorType.CONNECTION
    assert "Refused by the network policy: 127.0.0.1 is a private" in caught.value.message
    found = asyncio.run(
        discovery.discover("custom_openai_compatible", {"base_url": f"{llmsim}/v1"})
    )
    assert found


# --- Webhooks -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_webhook_to_a_private_address_fails_with_the_reason_and_sends_nothing(strict):
    receiver = Receiver()
    receiver.thread.start()
    try:
        notifications.queue_for(
            [make_alert(make_rule(notify_webhook=True, webhook_url=receiver.url()))]
        )
        notifications.deliver_due()
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    notification = Notification.objects.get()
    assert notification.status == Notification.Status.FAILED  # not retried: it cannot work
    assert notification.last_error.startswith(
        "refused by the network policy: 127.0.0.1 is a private or loopback address"
    )
    assert receiver.requests == []


@pytest.mark.django_db
def test_a_webhook_to_a_metadata_address_is_refused_even_when_private_is_allowed():
    url = "http://169.254.169.254/latest/meta-data/iam/"
    notifications.queue_for([make_alert(make_rule(notify_webhook=True, webhook_url=url))])
    notifications.deliver_due()
    notification = Notification.objects.get()
    assert notification.status == Notification.Status.FAILED
    assert "169.254.169.254 is a link-local or cloud metadata address" in notification.last_error
    assert "meta-data" not in notification.last_error


# --- Saving -------------------------------------------------------------------------------------


def error_locs(response) -> dict:
    assert response.status_code == 422, response.content
    return {tuple(e["loc"]): e["msg"] for e in response.json()["detail"]}


@pytest.mark.django_db
def test_an_account_that_can_never_be_reached_is_a_422_naming_the_field(api, strict):
    def create(provider_type, base_url):
        credentials = {"api_key": SECRET, "base_url": base_url}
        return api.post(
            "/api/v1/providers",
            {"provider_type": provider_type, "display_name": "x", "credentials": credentials},
            format="json",
        )

    metadata = error_locs(create("custom_openai_compatible", "http://169.254.169.254/v1"))
    assert metadata[("body", "credentials", "base_url")].startswith(
        "Base URL cannot be reached under the network policy: 169.254.169.254 is a link-local"
    )
    private = error_locs(create("openai", "http://10.0.0.5/v1"))
    assert (
        "10.0.0.5 is a private or loopback address" in private[("body", "credentials", "base_url")]
    )
    assert create("custom_openai_compatible", "http://10.0.0.5/v1").status_code == 201


def test_a_vertex_key_file_whose_token_uri_is_a_metadata_address_is_refused():
    account = {"type": "service_account", "token_uri": "http://169.254.169.254/token"}
    errors = catalog.validate_credentials(
        "google_vertex", {"vertex_project": "p", "vertex_credentials": account}
    )
    assert errors["vertex_credentials"].startswith(
        "Its token_uri cannot be reached under the network policy: 169.254.169.254"
    )


@pytest.mark.django_db
def test_a_webhook_url_that_can_never_be_reached_is_a_422_naming_the_field(api, strict):
    def create(url):
        return api.post(
            "/api/v1/alerts/rules",
            {
                "name": "r",
                "rule_type": "any_model_down",
                "notify_webhook": True,
                "webhook_url": url,
            },
            format="json",
        )

    for url, words in (
        ("http://169.254.169.254/hook", "169.254.169.254 is a link-local or cloud metadata"),
        ("http://127.0.0.1:9000/hook", "127.0.0.1 is a private or loopback address"),
    ):
        message = error_locs(create(url))[("body", "webhook_url")]
        assert message.startswith("This URL cannot be reached under the network policy")
        assert words in message
    assert create("https://hooks.example.com/x").status_code == 201


# --- TLS -------------------------------------------------------------------------------------


def _self_signed(tmp_path, name: str):
    """A certificate for ``name`` only, and its key, as files."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_is_verified_against_the_host_name_not_the_address_connected_to(tmp_path, monkeypatch):
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    cert_file, key_file = _self_signed(tmp_path, "localhost")

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trust this certificate only
    egress.tls_context.cache_clear()  # the process's context reads it when first made
    port = server.server_address[1]

    async def get(host):
        async with httpx.AsyncClient(transport=egress.Transport(private=True)) as client:
            return await client.get(f"https://{host}:{port}/")

    try:
        # localhost resolves to 127.0.0.1, the transport connects to that address, and the
        # certificate (for "localhost" only) is still checked against the name.
        assert asyncio.run(get("localhost")).text == "ok"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(get("127.0.0.1"))  # the same server, but not the certified name
    finally:
        server.shutdown()
        server.server_close()
        egress.tls_context.cache_clear()  # the next one trusts the usual authorities again


@pytest.mark.django_db
def test_the_provider_page_refuses_the_same_url_in_the_same_words(logged_in):
    from providers.models import ProviderAccount

    form = {
        "provider_type": "custom_openai_compatible",
        "display_name": "Metadata",
        "cred_base_url": "http://169.254.169.254/v1",
    }
    body = logged_in.post("/providers/add", form).content.decode()
    assert "Base URL cannot be reached under the network policy: 169.254.169.254" in body
    assert ProviderAccount.objects.count() == 0


def test_every_pool_shares_one_tls_context_loaded_before_any_probe():
    """Loading the CA bundle (25-45 ms) happened in the first request of each pool: inside the
    first probe's TTFT of every monitoring shard. One context, loaded once, is shared."""
    first, second = egress.Transport(), egress.Transport(private=True)
    contexts = {
        id(transport._pool(private)._pool._ssl_context)
        for transport in (first, second)
        for private in (False, True)
    }
    assert contexts == {id(egress.tls_context())}
