"""Security headers and CSP, TLS settings, the login rate limit, and a planted provider key
that must never come back out of the API, the pages, the admin, exports, errors or logs."""

import ast
import base64
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.db.models import TextField
from django.db.models.functions import Cast

from arguslm.models import AuditEvent, LoginAttempt
from arguslm.security import CSP, DOCS_CSP, HTMX_INDICATOR_STYLE_HASH
from providers.models import LLMModel, ProviderAccount
from tests.system.test_assets import template_folders

BASE_DIR = Path(settings.BASE_DIR)


# --- headers and the Content-Security-Policy ------------------------------------------------


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


@pytest.mark.django_db
def test_pages_carry_a_strict_csp_and_the_other_security_headers(client):
    response = client.get("/login")
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": f"'self' {HTMX_INDICATOR_STYLE_HASH}",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "font-src": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "object-src": "'none'",
    }
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_api_answers_and_errors_carry_the_headers_too(client):
    for response in (client.get("/health"), client.get("/no-such-page")):
        assert response["Content-Security-Policy"] == CSP
        assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_the_api_docs_allow_inline_styles_but_still_no_inline_scripts(client):
    for path in ("/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code == 200
        assert response["Content-Security-Policy"] == DOCS_CSP
        policy = directives(DOCS_CSP)
        assert policy["script-src"] == "'self'"
        assert policy["style-src"] == "'self' 'unsafe-inline'"
        body = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), path
    # Swagger UI's init script is a same-origin file (drf-spectacular's "split" view).
    script = client.get("/docs?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


def test_the_allowed_style_hash_is_the_one_the_vendored_htmx_injects():
    code = Path(finders.find("django_htmx/htmx-2.min.js")).read_text()
    names = re.search(
        r"const (\w+)=\w+\.config\.indicatorClass;const (\w+)=\w+\.config\.requestClass;", code
    )
    css = re.search(r'`<style\$\{\w+\}>`\+`([^`]*)`\+`([^`]*)`\+"</style>"', code)
    assert names and css, "htmx changed how it injects its indicator style: re-derive the hash"
    indicator, request = names.groups()
    style = (css.group(1) + css.group(2)).replace("${" + indicator + "}", "htmx-indicator")
    style = style.replace("${" + request + "}", "htmx-request")
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" == HTMX_INDICATOR_STYLE_HASH


def test_no_template_or_script_needs_inline_code_or_styles():
    """The strict policy holds only while nothing inline is added: keep it that way."""
    problems = []
    for path in (p for folder in template_folders() for p in folder.rglob("*.html")):
        text = path.read_text()
        for pattern in (
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"<style",
            r"\sstyle=",
            r"\son[a-z]+=",
            r"javascript:",
            r"hx-on",
        ):
            if re.search(pattern, text):
                problems.append(f"{path.name}: {pattern}")
    for path in (BASE_DIR / "static" / "js").glob("*.js"):
        text = path.read_text()
        for pattern in (r"setAttribute\(\s*['\"]style", r"\beval\(", r"new Function\("):
            if re.search(pattern, text):
                problems.append(f"{path.name}: {pattern}")
    assert problems == []


def settings_under(env: dict) -> dict:
    """Selected settings as a fresh process computes them from ``env``."""
    code = (
        "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'arguslm.settings';"
        "from django.conf import settings as s;"
        "names = ['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS',"
        " 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_PROXY_SSL_HEADER', 'SECURE_SSL_REDIRECT',"
        " 'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', 'CSRF_COOKIE_SAMESITE',"
        " 'FIELD_ENCRYPTION_KEY'];"
        "print(json.dumps({n: getattr(s, n) for n in names}))"
    )
    full_env = {**os.environ, "ARGUSLM_DATA_DIR": str(settings.DATA_DIR), **env}
    for name in ("ARGUSLM_HTTPS", "ARGUSLM_SSL_REDIRECT"):
        if name not in env:
            full_env.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, cwd=BASE_DIR
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_plain_http_keeps_cookies_usable_and_sends_no_hsts():
    s = settings_under({})
    assert (s["SESSION_COOKIE_SECURE"], s["CSRF_COOKIE_SECURE"]) == (False, False)
    assert (s["SECURE_HSTS_SECONDS"], s["SECURE_PROXY_SSL_HEADER"]) == (0, None)
    assert s["SESSION_COOKIE_HTTPONLY"] is True
    assert (s["SESSION_COOKIE_SAMESITE"], s["CSRF_COOKIE_SAMESITE"]) == ("Lax", "Lax")


def test_https_mode_secures_cookies_and_sends_hsts_but_leaves_redirects_to_the_proxy():
    s = settings_under({"ARGUSLM_HTTPS": "true"})
    assert (s["SESSION_COOKIE_SECURE"], s["CSRF_COOKIE_SECURE"]) == (True, True)
    assert s["SECURE_HSTS_SECONDS"] == 31536000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["SECURE_SSL_REDIRECT"] is False
    redirecting = settings_under({"ARGUSLM_HTTPS": "true", "ARGUSLM_SSL_REDIRECT": "true"})
    assert redirecting["SECURE_SSL_REDIRECT"] is True


@pytest.mark.django_db
def test_https_mode_sends_hsts_and_secure_cookies(client, settings, user):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SESSION_COOKIE_SECURE = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.post(
        "/login",
        {"username": "alice", "password": "pw-alice-123"},
        HTTP_X_FORWARDED_PROTO="https",
    )
    assert response.status_code == 302
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


# --- CSRF on the API ------------------------------------------------------------------------

LOCAL_ACCOUNT = {
    "provider_type": "custom_openai_compatible",
    "display_name": "Local",
    "credentials": {"base_url": "http://127.0.0.1:9/v1"},
}


@pytest.fixture
def open_api(settings, monkeypatch):
    """ARGUSLM_API_AUTH=false: the views read their permission classes when DRF is imported."""
    from rest_framework.permissions import AllowAny
    from rest_framework.views import APIView

    from arguslm.auth import TokenScope

    settings.API_AUTH = False
    monkeypatch.setattr(APIView, "permission_classes", [AllowAny, TokenScope])


def browser(**headers):
    """A client that, like a browser, gets no CSRF exemption (the test client's default)."""
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.credentials(**headers)
    return client


@pytest.mark.django_db
def test_an_open_api_refuses_a_cross_site_write_without_the_csrf_token(open_api):
    from providers.models import ProviderAccount

    other_site = browser(HTTP_ORIGIN="https://evil.example")
    response = other_site.post("/api/v1/providers", LOCAL_ACCOUNT, format="json")
    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF Failed")
    assert browser().post("/api/v1/providers", LOCAL_ACCOUNT, format="json").status_code == 403
    assert not ProviderAccount.objects.exists()
    # Reading stays open.
    assert browser().get("/api/v1/providers").status_code == 200


@pytest.mark.django_db
def test_an_open_api_accepts_a_write_from_its_own_pages(open_api, client):
    client.get("/login")  # sets the CSRF cookie, as any page does
    same_site = browser(HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    same_site.cookies = client.cookies
    assert same_site.post("/api/v1/providers", LOCAL_ACCOUNT, format="json").status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["Bearer", "Basic"])
def test_token_requests_need_no_csrf_token(open_api, token, scheme):
    value = token if scheme == "Bearer" else base64.b64encode(f"t:{token}".encode()).decode()
    sdk = browser(HTTP_AUTHORIZATION=f"{scheme} {value}")
    assert sdk.post("/api/v1/providers", LOCAL_ACCOUNT, format="json").status_code == 201


@pytest.mark.django_db
def test_a_closed_api_still_answers_401_to_an_anonymous_write():
    response = browser().post("/api/v1/providers", LOCAL_ACCOUNT, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_session_write_needs_the_csrf_token(user):
    signed_in = browser()
    signed_in.force_login(user)
    response = signed_in.post("/api/v1/providers", LOCAL_ACCOUNT, format="json")
    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF Failed")


# --- login rate limit -----------------------------------------------------------------------


def log_in(client, username, password, ip="10.0.0.1", **extra):
    return client.post(
        "/login", {"username": username, "password": password}, REMOTE_ADDR=ip, **extra
    )


def age_attempts(minutes: int) -> None:
    """Time passing, without sleeping: move every stored attempt into the past."""
    for attempt in LoginAttempt.objects.all():
        LoginAttempt.objects.filter(pk=attempt.pk).update(
            at=attempt.at - timedelta(minutes=minutes)
        )


def test_the_limits_are_the_documented_ones():
    assert settings.LOGIN_FAILURE_LIMIT == 5
    assert settings.LOGIN_IP_FAILURE_LIMIT == 50
    assert settings.LOGIN_FAILURE_WINDOW == 15 * 60


@pytest.mark.django_db
def test_five_failures_lock_the_username_from_that_address_even_for_the_right_password(
    client, user
):
    for _ in range(5):
        assert log_in(client, "alice", "wrong").status_code == 200  # the form, with its error
    response = log_in(client, "alice", "pw-alice-123")
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60
    assert "_auth_user_id" not in client.session
    # Refused attempts do not extend the lockout: still five rows.
    assert LoginAttempt.objects.filter(username="alice").count() == 5


@pytest.mark.django_db
def test_nobody_can_lock_an_account_out_by_typing_its_name(client, user):
    """Someone guessing at alice's account from 10.0.0.66 locks only themselves: alice logs
    in from her own address, and others behind the guesser's address (one proxy, one office)
    log in too."""
    get_user_model().objects.create_user("bob", "bob@example.com", "pw-bob-12345")
    for _ in range(8):
        log_in(client, "alice", "wrong", ip="10.0.0.66")
    assert log_in(client, "alice", "pw-alice-123", ip="10.0.0.66").status_code == 429
    assert log_in(client, "alice", "pw-alice-123", ip="10.0.0.2").status_code == 302
    client.logout()
    assert log_in(client, "bob", "pw-bob-12345", ip="10.0.0.66").status_code == 302
    client.logout()
    # Alice's success elsewhere does not reset the guesser's counter.
    assert log_in(client, "alice", "pw-alice-123", ip="10.0.0.66").status_code == 429


@pytest.mark.django_db
def test_the_lockout_ends_when_the_window_has_passed(client, user):
    for _ in range(5):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", "pw-alice-123").status_code == 429
    age_attempts(16)
    response = log_in(client, "alice", "pw-alice-123")
    assert response.status_code == 302 and response["Location"] == "/dashboard"
    # Rows older than the window were pruned on the way, and success cleared the rest.
    assert LoginAttempt.objects.count() == 0


@pytest.mark.django_db
def test_usernames_are_counted_case_insensitively(client, user):
    for name in ("alice", "Alice", "ALICE", " alice", "aLiCe"):
        log_in(client, name, "wrong")
    assert log_in(client, "alice", "pw-alice-123").status_code == 429


@pytest.mark.django_db
def test_fifty_failures_from_one_address_lock_that_address_for_every_username(client, user):
    for i in range(50):  # a few guesses at each of many accounts ("password spraying")
        assert log_in(client, f"guess{i // 4}", "wrong", ip="192.0.2.7").status_code == 200
    response = log_in(client, "alice", "pw-alice-123", ip="192.0.2.7")
    assert response.status_code == 429
    assert client.get("/login", REMOTE_ADDR="192.0.2.7").status_code == 429
    # Another address, and the same user, are not locked by someone else's guessing.
    assert client.get("/login", REMOTE_ADDR="192.0.2.8").status_code == 200
    assert log_in(client, "alice", "pw-alice-123", ip="192.0.2.8").status_code == 302


@pytest.mark.django_db
def test_a_successful_login_clears_the_failures_of_that_user_from_that_address(client, user):
    for _ in range(4):
        log_in(client, "alice", "wrong", ip="10.0.0.5")
    log_in(client, "alice", "wrong", ip="10.0.0.6")
    assert log_in(client, "alice", "pw-alice-123", ip="10.0.0.5").status_code == 302
    client.logout()
    assert list(LoginAttempt.objects.values_list("ip", flat=True)) == ["10.0.0.6"]
    for _ in range(4):
        assert log_in(client, "alice", "wrong", ip="10.0.0.5").status_code == 200
    assert log_in(client, "alice", "pw-alice-123", ip="10.0.0.5").status_code == 302


@pytest.mark.django_db
def test_forwarded_addresses_count_only_behind_a_declared_proxy(client, settings, user):
    for i in range(5):
        # Spoofed X-Forwarded-For headers are ignored without ARGUSLM_NUM_PROXIES.
        log_in(client, "alice", "wrong", ip="10.1.1.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    assert log_in(client, "alice", "pw-alice-123", ip="10.1.1.1").status_code == 429

    LoginAttempt.objects.all().delete()
    settings.NUM_PROXIES = 1
    for i in range(5):
        log_in(
            client, "alice", "wrong", ip="10.1.1.1", HTTP_X_FORWARDED_FOR=f"1.2.3.4, 203.0.113.{i}"
        )
    assert set(LoginAttempt.objects.values_list("ip", flat=True)) == {
        f"203.0.113.{i}" for i in range(5)
    }
    # Behind the proxy each client has its own counter: alice, at her address, logs in.
    forwarded = {"HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.77"}
    assert log_in(client, "alice", "pw-alice-123", ip="10.1.1.1", **forwarded).status_code == 302


@pytest.mark.django_db
def test_the_admin_login_has_the_same_limit(client):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-12345")
    for _ in range(5):
        response = client.post(
            "/admin/login/", {"username": "root", "password": "nope"}, REMOTE_ADDR="10.2.2.2"
        )
        assert response.status_code == 200
    response = client.post(
        "/admin/login/", {"username": "root", "password": "pw-root-12345"}, REMOTE_ADDR="10.2.2.2"
    )
    assert response.status_code == 429
    age_attempts(16)
    response = client.post(
        "/admin/login/", {"username": "root", "password": "pw-root-12345"}, REMOTE_ADDR="10.2.2.2"
    )
    assert response.status_code == 302
    assert LoginAttempt.objects.count() == 0


# --- passwords ---------------------------------------------------------------------------------


def test_passwords_get_djangos_four_standard_checks():
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    names = [v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert names == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]
    alice = get_user_model()(username="alice-smith", email="alice@example.com")
    for weak in ("short-pw-1", "password1234", "492817365019", "alice-smith!!"):
        with pytest.raises(ValidationError):
            validate_password(weak, alice)
    validate_password("pw-alice-123", alice)


def literal_test_users() -> list[tuple[str, str, str, str]]:
    """(file, username, email, password) of every user a test creates with a literal password."""
    found = []
    for path in sorted((BASE_DIR / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("create_user", "create_superuser")
            ):
                continue
            given = dict(zip(("username", "email", "password"), node.args, strict=False))
            given |= {k.arg: k.value for k in node.keywords if k.arg}
            value = {k: v.value for k, v in given.items() if isinstance(v, ast.Constant)}
            if isinstance(value.get("password"), str):
                user = (value.get("username") or "", value.get("email") or "")
                found.append((path.name, *user, value["password"]))
    return found


@pytest.mark.django_db
def test_the_test_users_passwords_pass_the_validators():
    """Fixtures use passwords a real user could choose (createsuperuser would refuse others)."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    users = literal_test_users()
    assert len(users) >= 8  # the scan finds the fixtures
    weak = []
    for where, username, email, password in users:
        try:
            validate_password(password, get_user_model()(username=username, email=email))
        except ValidationError as exc:
            weak.append(f"{where}: {username} {password!r}: {' '.join(exc.messages)}")
    assert weak == []


# --- a planted provider key never comes back out --------------------------------------------

PLANTED = "sk-PLANTED-0123456789abcdef"
INVALID = "invalid-PLANTED-0123456789abcdef"
MARKER = "PLANTED-0123456789abcdef"  # common to both keys


class Leaks:
    """Collects every text the test sees and says where the marker appeared."""

    def __init__(self):
        self.seen: list[tuple[str, str]] = []

    def add(self, where: str, text) -> None:
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        self.seen.append((where, str(text)))

    def response(self, where: str, response) -> None:
        assert response.status_code != 500, where  # 502 is a provider failure, reported
        body = (
            b"".join(response.streaming_content)
            if getattr(response, "streaming", False)
            else response.content
        )
        self.add(where, body)
        self.add(f"{where} (headers)", "\n".join(f"{k}: {v}" for k, v in response.items()))

    def found(self, marker: str = MARKER) -> list[str]:
        """Where the marker appeared, with the text around it."""
        hits = []
        for where, text in self.seen:
            at = text.find(marker)
            if at >= 0:
                hits.append(f"{where}: …{text[max(0, at - 120) : at + 40]}…")
        return hits


@pytest.mark.django_db(transaction=True)
def test_a_planted_provider_key_never_leaves_the_server(
    llmsim, api, user, client, caplog, capfd, sync_tasks
):
    from benchmarks import engine
    from benchmarks.models import BenchmarkRun
    from monitoring import services as monitoring
    from monitoring.models import MonitoringRun, UptimeCheck

    caplog.set_level(logging.DEBUG)
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    leaks = Leaks()

    def get(path, query=None):
        leaks.response(f"GET {path} {query or ''}", api.get(path, query))

    def post(path, data=None, **kw):
        leaks.response(f"POST {path}", api.post(path, data, format="json", **kw))

    # The good key works (OpenAI wire and, through litellm, the Anthropic one); the invalid
    # key is refused by the simulator with 401.
    good = api.post(
        "/api/v1/providers",
        {
            "provider_type": "custom_openai_compatible",
            "display_name": "Planted",
            "credentials": {"base_url": f"{llmsim}/v1", "api_key": PLANTED},
        },
        format="json",
    )
    leaks.response("POST /api/v1/providers", good)
    good_id = good.json()["id"]
    bad = api.post(
        "/api/v1/providers",
        {
            "provider_type": "anthropic",
            "display_name": "Rejected",
            "credentials": {"base_url": llmsim, "api_key": INVALID},
        },
        format="json",
    )
    leaks.response("POST /api/v1/providers (invalid)", bad)
    bad_id = bad.json()["id"]
    bad_openai = ProviderAccount(provider_type="custom_openai_compatible", display_name="Rej2")
    bad_openai.credentials = {"base_url": f"{llmsim}/v1", "api_key": INVALID}
    bad_openai.save()

    # Provider API: every read, write and action, for both keys.
    get("/api/v1/providers")
    for account_id in (good_id, bad_id, bad_openai.id):
        get(f"/api/v1/providers/{account_id}")
        post(f"/api/v1/providers/{account_id}/test")
        post(f"/api/v1/providers/{account_id}/refresh-models")
    leaks.response(
        "PATCH provider",
        api.patch(
            f"/api/v1/providers/{good_id}",
            {"display_name": "Planted 2", "credentials": {"api_key": PLANTED}},
            format="json",
        ),
    )
    for body in (
        {"provider_type": "custom_openai_compatible", "display_name": "t",
         "credentials": {"base_url": f"{llmsim}/v1", "api_key": INVALID}},
        {"provider_type": "anthropic", "display_name": "t",
         "credentials": {"base_url": llmsim, "api_key": INVALID}},
        {"provider_type": "openai", "display_name": "t",
         "credentials": {"base_url": f"{llmsim}/v1", "api_key": INVALID}},
        # Validation errors must not echo the submitted key either.
        {"provider_type": "custom_openai_compatible", "display_name": "t",
         "credentials": {"base_url": "not a url", "api_key": PLANTED}},
        {"provider_type": "custom_openai_compatible", "display_name": "t",
         "credentials": {"base_url": f"{llmsim}/v1", "api_key": PLANTED, "bogus": "x"}},
        {"provider_type": "custom_openai_compatible", "display_name": "t",
         "credentials": {"base_url": f"{llmsim}/v1", "api_key": ["not", PLANTED]}},
    ):  # fmt: skip
        post("/api/v1/providers/test-connection", body)
    assert LLMModel.objects.filter(provider_account_id=good_id).exists()

    # Models API.
    fast = LLMModel.objects.create(
        provider_account_id=good_id, model_id="sim/ttft=1/itl=1/n=3", enabled_for_monitoring=True
    )
    rejected = LLMModel.objects.create(
        provider_account_id=bad_id, model_id="sim/ttft=1/n=3", enabled_for_monitoring=True
    )
    rejected_openai = LLMModel.objects.create(
        provider_account=bad_openai, model_id="sim/ttft=1/n=3", enabled_for_monitoring=True
    )
    get("/api/v1/models")
    get(f"/api/v1/models/{fast.id}")
    post("/api/v1/models", {"provider_account_id": good_id, "model_id": "manual-1"})
    leaks.response(
        "PATCH model",
        api.patch(f"/api/v1/models/{fast.id}", {"enabled_for_benchmark": True}, format="json"),
    )
    post(
        "/api/v1/models/bulk-update",
        {"provider_account_id": bad_id, "enabled_for_monitoring": True},
    )

    # A monitoring pass: the rejected models fail with 401, their errors are stored and shown.
    run = MonitoringRun.objects.create()
    monitoring.start_pass(run_id=run.id)
    checks = {c.model_id: c for c in UptimeCheck.objects.all()}
    assert checks[rejected.id].error_type == "auth" and checks[rejected_openai.id].status == "down"
    assert checks[fast.id].status == "up"
    for c in UptimeCheck.objects.all():
        leaks.add(f"UptimeCheck.error {c.model_id}", c.error)
    get("/api/v1/monitoring/uptime")
    get("/api/v1/monitoring/uptime/export", {"format": "csv"})
    get("/api/v1/monitoring/uptime/export", {"format": "json"})
    get(f"/api/v1/monitoring/runs/{run.id}")

    # A benchmark over the good and the rejected models, and its exports.
    bench = BenchmarkRun.objects.create(
        name="leak",
        prompt_pack="health_check",
        num_runs=1,
        max_tokens=10,
        warmup_runs=0,
        concurrency=1,
        model_ids=[str(fast.id), str(rejected.id), str(rejected_openai.id)],
    )
    assert engine.execute(bench.id) == "completed"
    bench.refresh_from_db()
    leaks.add("BenchmarkRun.error", bench.error)
    get(f"/api/v1/benchmarks/{bench.id}")
    get(f"/api/v1/benchmarks/{bench.id}/results")
    for fmt, table in (("json", "results"), ("csv", "results"), ("csv", "statistics")):
        get(f"/api/v1/benchmarks/{bench.id}/export", {"format": fmt, "table": table})

    # The pages, logged in, including the per-row htmx actions and their error notices.
    client.force_login(user)
    htmx = {"HTTP_HX_REQUEST": "true"}
    for path in (
        "/dashboard",
        "/providers",
        "/providers/fields?provider_type=anthropic",
        "/models",
        "/monitoring",
        "/benchmarks",
        f"/benchmarks/{bench.id}",
        "/alerts",
        "/settings",
        f"/monitoring/models/{rejected.id}",
        f"/monitoring/models/{fast.id}",
    ):
        leaks.response(f"page {path}", client.get(path))
    for account_id in (good_id, bad_id, bad_openai.id):
        for action in ("test", "refresh"):
            path = f"/providers/{account_id}/{action}"
            leaks.response(f"page POST {path} (htmx)", client.post(path, **htmx))
            leaks.response(f"page POST {path}", client.post(path, follow=True))
    leaks.response(
        "page edit (bad input)",
        client.post(
            f"/providers/{good_id}/edit",
            {"display_name": "", "cred_base_url": "nope", "cred_api_key": PLANTED},
            **htmx,
        ),
    )
    for provider_type, base in (
        ("custom_openai_compatible", f"{llmsim}/v1"),
        ("anthropic", llmsim),
    ):
        form = {"provider_type": provider_type, "cred_base_url": base, "cred_api_key": INVALID}
        leaks.response("page POST /providers/test", client.post("/providers/test", form))
        leaks.response(
            "page POST /providers/add",
            client.post("/providers/add", {**form, "display_name": "Added"}, follow=True),
        )
        leaks.response(
            "page POST /providers/add (bad)",
            client.post("/providers/add", {**form, "cred_base_url": "x"}),
        )

    # The admin: account and model pages, and its connection-test action's messages.
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-12345")
    client.force_login(admin)
    for path in (
        "/admin/providers/provideraccount/",
        f"/admin/providers/provideraccount/{good_id}/change/",
        f"/admin/providers/provideraccount/{bad_id}/change/",
        f"/admin/providers/llmmodel/{fast.id}/change/",
        "/admin/arguslm/auditevent/",
    ):
        leaks.response(f"admin {path}", client.get(path))
    leaks.response(
        "admin action",
        client.post(
            "/admin/providers/provideraccount/",
            {"action": "test_connection", "_selected_action": [good_id, bad_id]},
            follow=True,
        ),
    )
    for event in AuditEvent.objects.all():
        leaks.response(
            f"admin audit {event.pk}", client.get(f"/admin/arguslm/auditevent/{event.pk}/change/")
        )

    # The audit log, as stored and as the command prints it.
    assert AuditEvent.objects.filter(object_id=good_id, action="updated").exists()
    for event in AuditEvent.objects.all():
        leaks.add(f"AuditEvent {event.pk}", json.dumps(event.changes) + event.object_label)
    call_command("audit_log", "--limit", "500")

    # At rest, the column holds ciphertext only.
    raw = ProviderAccount.objects.annotate(raw=Cast("credentials_encrypted", TextField()))
    for value in raw.values_list("raw", flat=True):
        leaks.add("credentials column", value)

    # Everything logged or printed during the test (litellm at DEBUG included).
    for record in caplog.records:
        leaks.add(f"log {record.name}", record.getMessage() + (record.exc_text or ""))
    leaks.add("caplog", caplog.text)
    out, err = capfd.readouterr()
    leaks.add("stdout/stderr", out + err)

    # The failure paths really ran: 401s were reported, litellm logged at DEBUG.
    assert len(leaks.seen) > 150
    assert sum("401" in text for _, text in leaks.seen) > 20
    assert any(r.name == "LiteLLM" and r.levelno == logging.DEBUG for r in caplog.records)
    found = leaks.found()
    assert found == [], "\n".join(found)
