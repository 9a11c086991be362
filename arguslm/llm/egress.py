"""The network policy: which destinations probes, discovery and webhooks may connect to.

docs/network-policy.md states it for operators. In short: link-local and cloud-metadata
addresses are always refused (a metadata service hands the machine's own credentials to
anyone who can reach it); private and loopback addresses are allowed for the provider types
that are servers one runs oneself (``LOCAL_TYPES``), and for everything else only when the
operator allows them (``ARGUSLM_ALLOW_PRIVATE_NETWORKS``, ``ARGUSLM_EGRESS_ALLOW``);
``ARGUSLM_EGRESS_DENY`` refuses more.

Checked twice. Before a request is sent, the URL's host: a literal address, a metadata host
name, a listed name (no DNS needed; the same check refuses such a URL when it is saved). Then,
inside the transport, every address the host name resolves to, right before connecting; the
transport connects to an address it checked, so a name that resolves elsewhere a moment later
(DNS rebinding) cannot slip past.
"""

import asyncio
import functools
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from arguslm.llm import wire

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# A URL longer than this is refused before anything parses it. Browsers and CDNs handle a few
# thousand characters at most (RFC 9110 §4.1 recommends supporting at least 8,000 octets);
# a provider's base URL or a webhook URL is far shorter.
MAX_URL_CHARS = 2048

# Servers one runs oneself, usually on a private network or this machine: Ollama, LM Studio,
# and OpenAI-compatible servers (vLLM, llama.cpp, TGI) among the tested types; among litellm's
# generated types, those its provider docs describe as self-hosted servers
# (docs.litellm.ai/docs/providers: vllm, hosted_vllm, llamafile, oobabooga, triton,
# lemonade, docker_model_runner, litellm_proxy, ollama_chat).
LOCAL_TYPES = frozenset(
    {
        "ollama",
        "lm_studio",
        "custom_openai_compatible",
        "ollama_chat",
        "vllm",
        "hosted_vllm",
        "llamafile",
        "oobabooga",
        "triton",
        "lemonade",
        "docker_model_runner",
        "litellm_proxy",
    }
)

# Cloud metadata services: AWS, Azure, GCP and Oracle at 169.254.169.254 (inside link-local),
# AWS over IPv6 at fd00:ec2::254, Alibaba Cloud at 100.100.100.200; GCP also by name.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
METADATA_NAMES = frozenset({"metadata.google.internal"})
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))

# The request extension that tells ``Transport`` whether this request may reach private
# addresses (requests without it may not).
PRIVATE = "arguslm.private"
DOC = "docs/network-policy.md"


class Refused(Exception):
    """A destination the network policy refuses; the message says which rule and why."""


@dataclass(frozen=True)
class Rules:
    """A parsed ARGUSLM_EGRESS_ALLOW or _DENY list: networks and host names."""

    networks: tuple[Network, ...] = ()
    names: tuple[str, ...] = ()  # each matches itself and its subdomains

    def matches(self, host: str, address: IPAddress | None) -> bool:
        if address is not None and any(address in net for net in self.networks):
            return True
        return any(host == name or host.endswith("." + name) for name in self.names)


@functools.cache
def parse_rules(entries: tuple[str, ...]) -> Rules:
    """Addresses, CIDR networks and host names; raises ValueError naming a bad entry."""
    networks, names = [], []
    for raw in entries:
        entry = raw.strip().lower().rstrip(".")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        labels = entry.split(".")
        if "/" in entry or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels
        ):
            raise ValueError(f"{raw!r} is neither an address, a CIDR network nor a host name")
        names.append(entry)
    return Rules(tuple(networks), tuple(names))


@dataclass(frozen=True)
class Policy:
    allow_private: bool = False  # ARGUSLM_ALLOW_PRIVATE_NETWORKS
    allow: Rules = Rules()  # ARGUSLM_EGRESS_ALLOW
    deny: Rules = Rules()  # ARGUSLM_EGRESS_DENY


def policy() -> Policy:
    """The operator's settings (read on each call: they are cheap, and tests change them)."""
    from django.conf import settings

    return Policy(
        allow_private=bool(getattr(settings, "ARGUSLM_ALLOW_PRIVATE_NETWORKS", False)),
        allow=parse_rules(tuple(getattr(settings, "ARGUSLM_EGRESS_ALLOW", ()))),
        deny=parse_rules(tuple(getattr(settings, "ARGUSLM_EGRESS_DENY", ()))),
    )


def private_allowed(provider_type: str | None) -> bool:
    """Whether this provider type (None: a webhook) may reach private and loopback addresses."""
    return provider_type in LOCAL_TYPES or policy().allow_private


def _address(value: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    return address


def _is_local_name(host: str) -> bool:
    # RFC 6761 §6.3: localhost and its subdomains resolve to loopback.
    return host == "localhost" or host.endswith(".localhost")


def refusal(host: str, address: IPAddress | None, *, private: bool) -> str | None:
    """Why the policy refuses ``host`` (at ``address`` when resolved), or None.

    In this order: link-local and metadata always; then the allow list; then the deny list;
    then private addresses unless ``private`` (a local provider type) or the setting allows.
    """
    host = host.strip("[]").lower().rstrip(".")
    address = address or _address(host)
    shown = host if address is None or str(address) == host else f"{host} ({address})"
    if host in METADATA_NAMES or (
        address is not None
        and (address in METADATA_ADDRESSES or any(address in net for net in LINK_LOCAL))
    ):
        return f"{shown} is a link-local or cloud metadata address, always refused ({DOC})"
    rules = policy()
    if rules.allow.matches(host, address):
        return None
    if rules.deny.matches(host, address):
        return f"{shown} is refused by ARGUSLM_EGRESS_DENY ({DOC})"
    is_private = _is_local_name(host) or (address is not None and not address.is_global)
    if is_private and not (private or rules.allow_private):
        return (
            f"{shown} is a private or loopback address, allowed only for local provider types "
            f"unless ARGUSLM_ALLOW_PRIVATE_NETWORKS=true or ARGUSLM_EGRESS_ALLOW lists it ({DOC})"
        )
    return None


def url_refusal(url: str, *, private: bool) -> str | None:
    """Why the policy refuses this URL before any DNS lookup (length, scheme, host), or None."""
    if len(url) > MAX_URL_CHARS:
        return f"the URL is longer than {MAX_URL_CHARS} characters"
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        return "the URL has no host"
    return refusal(host, None, private=private)


def refused_now(url: str, *, private: bool) -> str | None:
    """``url_refusal``, then each address the host resolves to now (blocking: outside event
    loops, for clients that are not ours, such as google-auth's token request)."""
    if reason := url_refusal(url, private=private):
        return reason
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except OSError:
        return None  # unresolvable: the request itself reports it
    for *_, sockaddr in infos:
        if reason := refusal(host, _address(sockaddr[0]), private=private):
            return reason
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (itself when it is an address), in resolver order."""
    literal = _address(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: dict[IPAddress, None] = {}
    for *_, sockaddr in infos:
        address = _address(sockaddr[0])
        if address is not None:
            found.setdefault(address, None)
    return list(found)


async def check_resolved(host: str, port: int, *, private: bool) -> list[IPAddress]:
    """The addresses of ``host``, once every one of them is allowed; else Refused.

    One refused address refuses the name: a name that also points at a metadata or private
    address is hostile or misconfigured, and which address a client picks is not ours to know.
    """
    if reason := refusal(host, None, private=private):
        raise Refused(reason)
    addresses = await resolve(host, port)
    for address in addresses:
        if reason := refusal(host, address, private=private):
            raise Refused(reason)
    return addresses


class _Backend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows.

    It resolves the name itself, checks every address, then connects to a checked address;
    TLS still verifies the certificate against the name (httpcore passes the URL's host as
    server_hostname to start_tls, whatever address the socket reached).
    """

    def __init__(self, *, private: bool):
        self.private = private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host, port, timeout=None, local_address=None, socket_options=None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                addresses = await check_resolved(host, port, private=self.private)
        except Refused as exc:
            raise httpcore.ConnectError(f"Refused by the network policy: {exc}") from None
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"Resolving {host} timed out") from None
        except OSError as exc:  # socket.gaierror: unknown name
            raise httpcore.ConnectError(str(exc)) from None
        error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                return await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=left,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("Unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class BodyLimit(httpx.ReadError):
    """A response body past its limit, or one that cannot be decoded (``wire.BodyError``)."""


class _Capped(httpx.AsyncByteStream):
    """A response body decoded here and cut off past its limit (``wire.Decoder``)."""

    def __init__(self, stream: httpx.AsyncByteStream, decoder: wire.Decoder):
        self.stream = stream
        self.decoder = decoder

    async def __aiter__(self):
        async for raw in self.stream:
            try:
                data = self.decoder.feed(raw)
            except wire.BodyError as exc:
                raise BodyLimit(str(exc)) from None
            if data:
                yield data

    async def aclose(self) -> None:
        await self.stream.aclose()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one certificate-verifying TLS context of the process (httpx's default settings).

    Loading the CA bundle takes 25-45 ms on this machine. Each pool used to load its own when
    it first sent a request, inside the first probe's timed region: the first probe of every
    monitoring shard read 25-45 ms slow. The context is shared instead (OpenSSL contexts are
    safe to share across threads and event loops) and loaded by the worker's warm-up.
    """
    return httpx.create_ssl_context()


class Transport(httpx.AsyncBaseTransport):
    """An httpx transport under the network policy, for every outgoing request of ArgusLM.

    One connection pool for requests that may reach private addresses and one for those that
    may not (the ``PRIVATE`` request extension chooses, default ``private``), so a connection
    opened for a local provider type is never reused by a request that may not go there.

    With ``limit``, every response body is decoded here (gzip or deflate, asked for instead
    of httpx's default list) and cut off past ``limit`` bytes, received or decoded: for
    clients that read whole bodies themselves (litellm's).
    """

    def __init__(
        self,
        *,
        private: bool = False,
        limits: httpx.Limits | None = None,
        limit: int | None = None,
    ):
        self.private = private
        self.limits = limits or httpx.Limits()
        self.limit = limit
        self._pools: dict[bool, httpx.AsyncHTTPTransport] = {}

    def _pool(self, private: bool) -> httpx.AsyncHTTPTransport:
        pool = self._pools.get(private)
        if pool is None:
            pool = httpx.AsyncHTTPTransport(verify=tls_context(), limits=self.limits)
            # httpx takes no network backend; its pool (httpcore) does: set it before the
            # first connection. (httpx 0.28-0.29 keep the httpcore pool in ``_pool``.)
            pool._pool._network_backend = _Backend(private=private)
            self._pools[private] = pool
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        private = bool(request.extensions.get(PRIVATE, self.private))
        if self.limit is None:
            return await self._pool(private).handle_async_request(request)
        request.headers["Accept-Encoding"] = wire.JSON_ACCEPT_ENCODING
        response = await self._pool(private).handle_async_request(request)
        try:
            decoder = wire.decoder_for(response, limit=self.limit)
        except wire.BodyError as exc:
            await response.aclose()
            raise BodyLimit(str(exc)) from None
        # Decoded here: the encoding (and the encoded length) no longer describe the body.
        dropped = (b"content-encoding", b"content-length") if decoder.encoded else ()
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in dropped]
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=_Capped(response.stream, decoder),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
