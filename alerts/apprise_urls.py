"""An alert rule's Apprise URLs: split, understood by Apprise, checked, summarised, redacted.

Apprise URLs carry their service's tokens (``pover://user@token``, ``json://host/path?key=…``),
so they are stored encrypted and never shown: what may be shown is the list of their schemes
(``services``). Apprise is imported on first use (it loads its plugins then).
"""

import logging
import socket
from urllib.parse import unquote, urlsplit

from arguslm.llm import egress

# Apprise logs request URLs (paths, tokens) at debug level and quotes URLs it cannot parse:
# its records stay out of the process log. A delivery's own warnings become the attempt's
# error, redacted (alerts.transports.Apprise).
LOG = logging.getLogger("apprise")
LOG.propagate = False
LOG.setLevel(logging.WARNING)
LOG.addHandler(logging.NullHandler())

MAX_URLS = 10
# The whole field, capped before anything splits it: MAX_URLS URLs of the longest kind.
MAX_CHARS = MAX_URLS * (egress.MAX_URL_CHARS + 1)


def split(text: str | None) -> list[str]:
    """The URLs in ``text``, newline- or comma-separated, as Apprise itself splits them.

    Apprise's splitting keeps commas inside a URL (``mailto://…?to=a@x.org,b@y.org``).
    """
    from apprise.utils.parse import parse_urls

    return [url.strip() for url in parse_urls((text or "")[:MAX_CHARS]) if url.strip()]


def scheme(url: str) -> str:
    """A URL's scheme when it looks like one (anything else may be a secret typed wrongly)."""
    name, sep, _ = url.partition("://")
    name = name.lower()
    return name if sep and name.isascii() and name.isalnum() and len(name) <= 32 else "?"


def services(text: str | None) -> str:
    """The services the URLs send to, as their schemes ("ntfy, pagerduty"): no secret."""
    return ", ".join(dict.fromkeys(scheme(url) for url in split(text)))


def plugin(url: str):
    """Apprise's notifier for ``url``, or None when Apprise does not understand it."""
    import apprise

    if len(url) > egress.MAX_URL_CHARS:
        return None
    return apprise.Apprise.instantiate(url, suppress_exceptions=True)


def problems(text: str) -> list[str]:
    """Why these URLs cannot be saved, in words that show no secret (empty: they can)."""
    if len(text) > MAX_CHARS:
        return [f"Ensure this field has no more than {MAX_CHARS} characters."]
    urls = split(text)
    if len(urls) > MAX_URLS:
        return [f"At most {MAX_URLS} Apprise URLs."]
    found = []
    private = egress.private_allowed(None)
    for number, url in enumerate(urls, 1):
        where = f"URL {number} ({scheme(url)}://…)"
        if len(url) > egress.MAX_URL_CHARS:
            found.append(f"{where} is longer than {egress.MAX_URL_CHARS} characters.")
        elif (notifier := plugin(url)) is None:
            found.append(f"{where} is not a URL Apprise understands (see its wiki for the format).")
        elif reason := refusal(notifier, private=private):
            found.append(f"{where} cannot be reached under the network policy: {reason}")
    return found


def hosts(notifier) -> list[str]:
    """The host names in a notifier's URL that may name a server: its host, an email's SMTP host.

    A service URL's host is often a token (``pagerduty://key@apikey``, ``ntfy://topic``); it is
    checked as typed, but resolved only when it looks like a DNS name (see ``refused_now``).
    """
    found = [getattr(notifier, "host", None), getattr(notifier, "smtp_host", None)]
    return [host for host in dict.fromkeys(found) if isinstance(host, str) and host]


def refusal(notifier, *, private: bool) -> str | None:
    """Why the network policy refuses a host of this notifier before any DNS lookup, or None."""
    for host in hosts(notifier):
        if reason := egress.refusal(host, None, private=private):
            return reason
    return None


def _is_dns_name(host: str) -> bool:
    return "." in host.strip(".") and egress._address(host) is None


def refused_now(notifier, *, private: bool) -> str | None:
    """``refusal``, then every address the notifier's dotted host names resolve to now.

    Blocking (getaddrinfo): run it where a deadline bounds it. Names without a dot are not
    resolved: in a service URL they are tokens, and a lookup would send them to the resolver.
    """
    if reason := refusal(notifier, private=private):
        return reason
    for host in filter(_is_dns_name, hosts(notifier)):
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            continue  # unresolvable: Apprise's request reports it
        for *_, sockaddr in infos:
            if reason := egress.refusal(host, egress._address(sockaddr[0]), private=private):
                return reason
    return None


def secrets(text: str) -> list[str]:
    """The parts of the URLs an error text must not show: each URL, user, password, host that
    is not a DNS name or an address, path segment and query value (as typed and decoded)."""
    found: list[str] = []
    for url in split(text):
        found.append(url)
        try:
            parts = urlsplit(url)
            userinfo = parts.netloc.rpartition("@")[0]
            host = parts.hostname or ""
        except ValueError:
            continue
        found += [userinfo, *userinfo.split(":")]
        if not (_is_dns_name(host) or egress._address(host) is not None):
            found.append(host)
        found += [parts.path, parts.query, parts.fragment, *parts.path.split("/")]
        for pair in parts.query.split("&"):
            found += pair.partition("=")[::2]
    texts = {piece for part in found for piece in (part, unquote(part)) if len(piece) >= 4}
    return sorted(texts, key=len, reverse=True)


def redact(text: str, urls: str) -> str:
    """``text`` without any part of ``urls`` that may be a secret."""
    for secret in secrets(urls):
        text = text.replace(secret, "[redacted]")
    return text
