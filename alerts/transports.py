"""Notification transports: one class per channel, each with one ``notify()`` returning an Outcome.

A transport only sends and classifies what happened; retries, back-off and the delivery log
belong to ``alerts.notifications``. An outcome is ``transient`` when trying again later may
succeed (timeouts, refused connections, HTTP 408/429/5xx, SMTP 4xx) and permanent otherwise
(other 4xx, redirects, malformed URLs or addresses, destinations the network policy refuses:
docs/network-policy.md). Error texts are stored and shown in the UI,
so they never carry a webhook URL's path or query string (Slack and Discord put their secret
token there) nor the rule's signing secret.

Verifying a generic webhook
---------------------------
Every generic (JSON) webhook request is a POST with these headers::

    Content-Type: application/json
    X-ArgusLM-Event: alert.fired | alert.recovered | alert.test
    X-ArgusLM-Timestamp: 1718000000           (unix seconds when the request was signed)
    X-ArgusLM-Signature: sha256=<hex digest>
    X-ArgusLM-Delivery: <notification id>     (the same on every retry: deduplicate on it)

The digest is HMAC-SHA256, keyed with the rule's webhook secret, of the timestamp, a dot and
the raw request body exactly as received (verify before parsing the JSON: re-serialising it
changes the bytes). Reject old timestamps so a captured request cannot be replayed::

    import hashlib, hmac, time

    def verify(secret: str, headers, body: bytes, tolerance: int = 300) -> bool:
        timestamp = headers["X-ArgusLM-Timestamp"]
        if abs(time.time() - int(timestamp)) > tolerance:
            return False
        signed = timestamp.encode() + b"." + body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        given = headers["X-ArgusLM-Signature"].removeprefix("sha256=")
        return hmac.compare_digest(expected, given)
"""

import asyncio
import hashlib
import hmac
import json
import logging
import smtplib
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email
from django.template.loader import render_to_string
from django.urls import reverse

from alerts import apprise_urls
from alerts.models import Notification
from arguslm.llm import egress, wire

# Seconds for a whole HTTP delivery (resolving, connecting, sending, the answer): one slow or
# dripping receiver must not stall the queue.
HTTP_TIMEOUT = 10.0
# The receiver's answer is read for its status and first words only.
MAX_RESPONSE_BYTES = 64 * 1024
EMAIL_TIMEOUT = 10.0  # Django's SMTP backend waits forever unless told otherwise
EMOJI = {"fired": "🚨", "recovered": "✅", "test": "🧪"}
HEADLINES = {"fired": "Alert", "recovered": "Recovered", "test": "Test"}
DISCORD_LIMIT = 2000  # characters in a message's content; longer ones are rejected with a 400


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt achieved, and whether trying again later could help."""

    ok: bool
    transient: bool = False
    status_code: int | None = None  # HTTP status, or the SMTP reply code for email
    error: str = ""
    retry_after: float | None = None  # seconds the receiver asked us to wait (Retry-After)
    retry_target: str | None = None  # what is left to send on a retry (Apprise: failed URLs)


class Transport:
    """Sends one notification over one channel."""

    def notify(self, notification: Notification) -> Outcome:
        raise NotImplementedError


def for_channel(channel: str) -> Transport:
    """The transport for a Notification.channel value."""
    return TRANSPORTS[channel]()


# --- Message context ---------------------------------------------------------------------------


def message_context(notification: Notification) -> dict[str, Any]:
    """What the message templates get: the alert, its rule, model and incident, and a link."""
    alert = notification.alert
    return {
        "alert": alert,
        "rule": alert.rule,
        "model": alert.model,
        "incident": alert.incident,
        "headline": HEADLINES.get(alert.kind, alert.kind.title()),
        "emoji": EMOJI.get(alert.kind, ""),
        "link": settings.SITE_ROOT.rstrip("/") + reverse("alerts"),
    }


def event_name(kind: str) -> str:
    return f"alert.{kind}"


def payload(notification: Notification) -> dict[str, Any]:
    """The generic webhook's JSON document (a stable, documented shape for receivers)."""
    alert = notification.alert
    rule, model, incident = alert.rule, alert.model, alert.incident
    return {
        "event": event_name(alert.kind),
        "alert": {
            "id": str(alert.id),
            "kind": alert.kind,
            "message": alert.message,
            "created_at": alert.created_at.isoformat(),
        },
        "rule": {"id": str(rule.id), "name": rule.name, "rule_type": rule.rule_type},
        "model": None
        if model is None
        else {
            "id": str(model.id),
            "model_id": model.model_id,
            "name": model.display_name,
            "provider": model.provider_account.display_name,
        },
        "incident": None
        if incident is None
        else {
            "id": str(incident.id),
            "opened_at": incident.opened_at.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        },
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-ArgusLM-Signature value for a body signed at ``timestamp`` (see the docstring)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def redact(text: str, notification: Notification) -> str:
    """``text`` without the target URL's path, query or token-like parts, or the rule's secret."""
    secrets = [notification.alert.rule.webhook_secret]
    if notification.channel == Notification.Channel.APPRISE:
        secrets += apprise_urls.secrets(notification.target)
    elif notification.channel != Notification.Channel.EMAIL:
        url = urlsplit(notification.target)
        secrets += [notification.target, url.query, url.fragment]
        if len(url.path) > 1:
            secrets.append(url.path)
        # Slack and Discord tokens are the path's last segments; an error body may quote them
        # without the rest of the path.
        parts = url.path.strip("/").split("/")
        suffixes = ["/".join(parts[i:]) for i in range(len(parts))] + parts
        secrets += [part for part in suffixes if len(part) >= 16]
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def safe_target(notification: Notification) -> str:
    """The target for log lines: email addresses as is, URLs reduced to scheme and host."""
    if notification.channel == Notification.Channel.EMAIL:
        return notification.target
    if notification.channel == Notification.Channel.APPRISE:
        return f"apprise: {apprise_urls.services(notification.target)}"
    url = urlsplit(notification.target)
    return f"{url.scheme}://{url.hostname}/…" if url.hostname else "(invalid URL)"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Email -------------------------------------------------------------------------------------


class Email(Transport):
    """A plain-text email to the comma-separated addresses in the notification's target."""

    def notify(self, notification: Notification) -> Outcome:
        recipients = [a.strip() for a in notification.target.split(",") if a.strip()]
        invalid = [a for a in recipients if not _is_email(a)]
        if not recipients or invalid:
            return Outcome(ok=False, error=f"invalid address: {', '.join(invalid) or '(none)'}")
        if settings.EMAIL_BACKEND.endswith("console.EmailBackend"):
            # Without EMAIL_HOST the message would only be printed: never report that as sent.
            return Outcome(ok=False, error="Email is not configured: set EMAIL_HOST (see README).")
        context = message_context(notification)
        # A header cannot span lines (Django raises BadHeaderError): collapse the subject.
        subject = " ".join(render_to_string("alerts/notification_subject.txt", context).split())
        body = render_to_string("alerts/notification_body.txt", context)
        timeout = getattr(settings, "EMAIL_TIMEOUT", None) or EMAIL_TIMEOUT
        message = EmailMessage(
            subject=subject,
            body=body,
            to=recipients,
            connection=get_connection(timeout=timeout),
        )
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as exc:
            # Per recipient (code, reply); worth retrying only if every refusal was temporary.
            codes = [code for code, _ in exc.recipients.values()]
            refused = ", ".join(
                f"{addr} ({code} {_smtp_text(reply)})"
                for addr, (code, reply) in exc.recipients.items()
            )
            return Outcome(
                ok=False,
                transient=all(400 <= code < 500 for code in codes),
                status_code=codes[0] if codes else None,
                error=_one_line(f"recipients refused: {refused}"),
            )
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, auth failure, …: SMTP 4xx is temporary by definition.
            return Outcome(
                ok=False,
                transient=400 <= exc.smtp_code < 500,
                status_code=exc.smtp_code,
                error=_one_line(f"SMTP {exc.smtp_code}: {_smtp_text(exc.smtp_error)}"),
            )
        except smtplib.SMTPServerDisconnected as exc:
            return Outcome(ok=False, transient=True, error=_one_line(f"SMTP disconnected: {exc}"))
        except smtplib.SMTPException as exc:  # e.g. STARTTLS unsupported: a configuration error
            return Outcome(ok=False, error=_one_line(f"SMTP error: {exc}"))
        except OSError as exc:  # refused connection, DNS failure, timeout, TLS handshake
            return Outcome(
                ok=False, transient=True, error=_one_line(f"{type(exc).__name__}: {exc}")
            )
        except ValueError as exc:  # Django rejects an address it cannot encode
            return Outcome(ok=False, error=_one_line(f"invalid address: {exc}"))
        return Outcome(ok=True)


def _is_email(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def _smtp_text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


# --- HTTP --------------------------------------------------------------------------------------


class HttpTransport(Transport):
    """POSTs a JSON body to the notification's target URL and classifies the response."""

    def request(self, notification: Notification) -> tuple[bytes, dict[str, str]]:
        """The body and headers to send."""
        raise NotImplementedError

    def notify(self, notification: Notification) -> Outcome:
        body, headers = self.request(notification)
        private = egress.private_allowed(None)
        if reason := egress.url_refusal(notification.target, private=private):
            return self._failed(notification, f"refused by the network policy: {reason}")
        try:
            response, answer = asyncio.run(self._post(notification.target, body, headers, private))
        except egress.Refused as exc:
            return self._failed(notification, f"refused by the network policy: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(ok=False, transient=True, error=f"timed out after {HTTP_TIMEOUT:g} s")
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            return self._failed(notification, f"invalid request: {exc}")
        except (httpx.TransportError, OSError) as exc:  # refused, reset, DNS failure, …
            error = f"{type(exc).__name__}: {exc}"
            return self._failed(notification, error, transient=True)
        return self.classify(notification, response, answer)

    @staticmethod
    async def _post(url: str, body: bytes, headers: dict, private: bool):
        """POST within HTTP_TIMEOUT in all; an error answer's first MAX_RESPONSE_BYTES, decoded.

        The host's addresses are checked first, so a refusal is reported as permanent; the
        transport checks the address it connects to again.
        """
        async with asyncio.timeout(HTTP_TIMEOUT):
            parts = httpx.URL(url)
            await egress.check_resolved(
                parts.host, parts.port or (443 if parts.scheme == "https" else 80), private=private
            )
            # Redirects are not followed: a webhook URL that moved is a configuration error,
            # and following one could carry the signed body somewhere nobody configured.
            async with (
                httpx.AsyncClient(
                    timeout=HTTP_TIMEOUT,
                    follow_redirects=False,
                    transport=egress.Transport(private=private),
                ) as client,
                client.stream("POST", url, content=body, headers=headers) as response,
            ):
                answer = b""
                if response.status_code >= 400:  # a success or a redirect says all in its status
                    try:
                        answer = await wire.read_body(
                            response, limit=MAX_RESPONSE_BYTES, truncate=True
                        )
                    except wire.BodyError as exc:  # an encoding we cannot decode
                        answer = str(exc).encode()
        return response, answer

    def classify(
        self, notification: Notification, response: httpx.Response, answer: bytes = b""
    ) -> Outcome:
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(ok=True, status_code=code)
        if 300 <= code < 400:
            # The Location is left out of the error: it may carry tokens of its own.
            return self._failed(notification, f"HTTP {code}: redirect not followed", code=code)
        transient = code in (408, 429) or code >= 500
        error = f"HTTP {code}"
        if text := _one_line(answer[:1000].decode("utf-8", "replace"), 200):
            error += f": {text}"
        return self._failed(
            notification,
            error,
            code=code,
            transient=transient,
            retry_after=_retry_after(response) if transient else None,
        )

    def _failed(
        self,
        notification: Notification,
        error: str,
        *,
        code: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> Outcome:
        return Outcome(
            ok=False,
            transient=transient,
            status_code=code,
            error=redact(_one_line(error), notification),
            retry_after=retry_after,
        )


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


class Webhook(HttpTransport):
    """The generic JSON webhook, HMAC-signed with the rule's secret (see the module docstring)."""

    def request(self, notification: Notification) -> tuple[bytes, dict[str, str]]:
        document = payload(notification)
        body = _json(document)
        timestamp = str(int(time.time()))
        return body, {
            "Content-Type": "application/json",
            "X-ArgusLM-Event": document["event"],
            "X-ArgusLM-Timestamp": timestamp,
            "X-ArgusLM-Signature": sign(notification.alert.rule.webhook_secret, timestamp, body),
            "X-ArgusLM-Delivery": str(notification.id),
        }


class Slack(HttpTransport):
    """A Slack incoming webhook: ``{"text": …}`` rendered from notification_slack.txt."""

    def request(self, notification: Notification) -> tuple[bytes, dict[str, str]]:
        context = message_context(notification)
        alert = notification.alert
        # Slack's mrkdwn reads &, < and > as markup: escape what came from rules and models.
        context["text"] = {
            "message": _slack_escape(alert.message),
            "rule": _slack_escape(alert.rule.name),
            "model": _slack_escape(alert.model.display_name) if alert.model else "",
        }
        text = render_to_string("alerts/notification_slack.txt", context).strip()
        return _json({"text": text}), {"Content-Type": "application/json"}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Discord(HttpTransport):
    """A Discord webhook: ``{"content": …}`` rendered from notification_discord.txt."""

    def request(self, notification: Notification) -> tuple[bytes, dict[str, str]]:
        content = render_to_string(
            "alerts/notification_discord.txt", message_context(notification)
        ).strip()
        if len(content) > DISCORD_LIMIT:
            content = content[: DISCORD_LIMIT - 1] + "…"
        # A model name or error text containing "@everyone" must not ping a whole server.
        document = {"content": content, "allowed_mentions": {"parse": []}}
        return _json(document), {"Content-Type": "application/json"}


# --- Apprise -----------------------------------------------------------------------------------

# Apprise's connect timeout and timeout per read (requests has no total one): below
# HTTP_TIMEOUT, so that a thread given up on at the deadline ends soon after.
APPRISE_SOCKET_TIMEOUT = 5.0
# Apprise's notify types (NotifyType's attribute names): the icon or colour a service shows.
APPRISE_TYPES = {"fired": "FAILURE", "recovered": "SUCCESS", "test": "INFO"}


class _Warnings(logging.Handler):
    """Apprise's warnings and errors from one thread (a delivery's, not an abandoned one's)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and len(self.lines) < 10:
            self.lines.append(record.getMessage()[:1000])


class Apprise(Transport):
    """The rule's Apprise URLs (PagerDuty, Opsgenie, Teams, ntfy, …) through the Apprise library.

    Apprise is synchronous (``requests``): it runs in a daemon thread that the delivery waits
    for HTTP_TIMEOUT at most, so a hung service is a timed-out (transient) attempt like a hung
    webhook. Its connect and read timeouts are set below the deadline, which ends a thread that
    was given up on; only a service dripping bytes can keep one alive past it. Each host of the
    URLs is checked with the network policy before sending (docs/network-policy.md); Apprise's
    own connections are not checked again. A retry goes only to the URLs that failed.
    """

    def notify(self, notification: Notification) -> Outcome:
        urls = apprise_urls.split(notification.target)
        notifiers = [apprise_urls.plugin(url) for url in urls]
        if not urls or None in notifiers:
            bad = [apprise_urls.scheme(u) for u, n in zip(urls, notifiers, strict=True) if not n]
            return Outcome(ok=False, error=f"not an Apprise URL: {', '.join(bad) or '(none)'}")
        for notifier in notifiers:
            notifier.socket_connect_timeout = APPRISE_SOCKET_TIMEOUT
            notifier.socket_read_timeout = APPRISE_SOCKET_TIMEOUT
            notifier.request_rate_per_sec = 0  # one message each: no throttling sleep
        title, body = self.message(notification)
        import apprise

        kind = getattr(apprise.NotifyType, APPRISE_TYPES.get(notification.alert.kind, "INFO"))
        result: list[Outcome] = []
        worker = threading.Thread(
            target=lambda: result.append(
                self._send(notification, urls, notifiers, title, body, kind)
            ),
            name=f"apprise-{notification.pk}",
            daemon=True,
        )
        worker.start()
        worker.join(HTTP_TIMEOUT)
        if not result:
            return Outcome(ok=False, transient=True, error=f"timed out after {HTTP_TIMEOUT:g} s")
        return result[0]

    @staticmethod
    def message(notification: Notification) -> tuple[str, str]:
        """The title (the email's subject) and the text (notification_apprise.txt)."""
        context = message_context(notification)
        title = " ".join(render_to_string("alerts/notification_subject.txt", context).split())
        return title, render_to_string("alerts/notification_apprise.txt", context).strip()

    def _send(self, notification, urls, notifiers, title, body, kind) -> Outcome:
        """Check, then send to, each URL in this thread; the failed ones are kept for a retry."""
        private = egress.private_allowed(None)
        for notifier in notifiers:
            if reason := apprise_urls.refused_now(notifier, private=private):
                error = f"refused by the network policy: {reason}"
                return Outcome(ok=False, error=_redact_apprise(error, notification))
        warnings = _Warnings()
        apprise_urls.LOG.addHandler(warnings)
        failed: list[str] = []
        try:
            for url, notifier in zip(urls, notifiers, strict=True):
                try:
                    sent = notifier.notify(body=body, title=title, notify_type=kind)
                except Exception as exc:  # a plugin's bug: its message may quote the URL
                    warnings.lines.append(f"{type(exc).__name__}: {exc}")
                    sent = False
                if not sent:
                    failed.append(url)
        finally:
            apprise_urls.LOG.removeHandler(warnings)
        if not failed:
            return Outcome(ok=True)
        services = ", ".join(dict.fromkeys(apprise_urls.scheme(url) for url in failed))
        detail = warnings.lines[0] if warnings.lines else "Apprise reported a failure"
        return Outcome(
            ok=False,
            transient=True,
            error=_redact_apprise(_one_line(f"{services}: {detail}"), notification),
            retry_target="\n".join(failed) if len(failed) < len(urls) else None,
        )


def _redact_apprise(text: str, notification: Notification) -> str:
    return _one_line(redact(text, notification))


TRANSPORTS: dict[str, type[Transport]] = {
    Notification.Channel.EMAIL: Email,
    Notification.Channel.WEBHOOK: Webhook,
    Notification.Channel.SLACK: Slack,
    Notification.Channel.DISCORD: Discord,
    Notification.Channel.APPRISE: Apprise,
}
