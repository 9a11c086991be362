"""API limits: per-user rate limits on the costly endpoints, the cap on active benchmarks, and
request body size (413, never a 500). The task queue is recorded, not run; provider calls are
replaced by stubs (the throttle is what is under test, not the gateway)."""

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from arguslm import roles, tokens
from arguslm.limits import BodyLimitMiddleware
from arguslm.settings import _cache_url, _env_rate
from benchmarks.models import BenchmarkRun
from monitoring.models import MonitoringRun
from providers import services as provider_services
from providers.models import ProviderAccount
from tests.factories import make_account, make_benchmark_run, make_model

pytestmark = pytest.mark.django_db

FULL = "3 benchmarks are already pending or running; wait for one to finish or cancel one."


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttles count requests in the cache: every test starts from an empty history."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rates(settings):
    """Small rates, so a test reaches each limit in a few calls."""

    def set_rates(**scopes):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                "monitoring_run": "100/min",
                "benchmark_start": "100/min",
                "connection_test": "100/min",
                "model_refresh": "100/min",
                **scopes,
            },
        }

    return set_rates


@pytest.fixture
def queued(monkeypatch):
    """Record django-q2 enqueues instead of running anything."""
    calls = []

    def fake_async_task(func, *args, **kwargs):
        calls.append(func)
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", fake_async_task)
    return calls


@pytest.fixture
def stub_provider(monkeypatch):
    """Connection tests and model refreshes answer at once, without a network."""
    monkeypatch.setattr(
        provider_services,
        "test_connection",
        lambda **kw: {"success": True, "message": "ok", "details": None},
    )
    monkeypatch.setattr(
        provider_services,
        "refresh_models",
        lambda **kw: SimpleNamespace(discovered=0, added=0, updated=0, unavailable=0, message=""),
    )


def client_for(django_user_model, name: str) -> APIClient:
    user = django_user_model.objects.create_user(name, f"{name}@example.com", "pw-123456789")
    roles.assign(user, roles.OPERATOR)  # may start passes and benchmarks
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(user=user, name='test')[1]}")
    return client


def assert_throttled(response, words: str) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    detail = response.json()["detail"]
    assert words in detail and "Expected available in" in detail, detail


def benchmark_body(model) -> dict:
    return {"model_ids": [str(model.pk)], "prompt_pack": "health_check", "num_runs": 1}


# --- rate limits --------------------------------------------------------------------------------


def test_the_default_rates_are_the_documented_ones(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {
        "monitoring_run": "6/min",
        "benchmark_start": "10/min",
        "connection_test": "20/min",
        "model_refresh": "10/min",
        "rule_test": "5/hour",
    }


def test_a_rate_comes_from_its_environment_variable_and_is_checked(monkeypatch):
    monkeypatch.setenv("ARGUSLM_THROTTLE_MONITORING_RUN", "30/min")
    assert _env_rate("monitoring_run", "6/min") == "30/min"
    for bad in ("often", "30", "0/min", "30/week", "/min"):
        monkeypatch.setenv("ARGUSLM_THROTTLE_MONITORING_RUN", bad)
        with pytest.raises(ImproperlyConfigured, match="ARGUSLM_THROTTLE_MONITORING_RUN"):
            _env_rate("monitoring_run", "6/min")


def test_the_cache_uses_the_next_redis_database_so_clearing_it_spares_the_broker():
    assert _cache_url("redis://redis:6379/0") == "redis://redis:6379/1"
    assert _cache_url("redis://redis:6379") == "redis://redis:6379/1"
    assert _cache_url("rediss://:pw@redis:6380/4") == "rediss://:pw@redis:6380/5"
    assert _cache_url("unix:///run/redis.sock?db=2") == "unix:///run/redis.sock?db=2"


def test_a_monitoring_run_beyond_the_rate_is_a_429_and_queues_nothing(api, rates, queued):
    rates(monitoring_run="2/min")
    for _ in range(2):
        assert api.post("/api/v1/monitoring/run").status_code == 200

    assert_throttled(api.post("/api/v1/monitoring/run"), "Too many monitoring runs")
    assert MonitoringRun.objects.count() == 2 and len(queued) == 2


def test_other_endpoints_and_other_users_are_unaffected(api, rates, queued, django_user_model):
    rates(monitoring_run="1/min")
    api.post("/api/v1/monitoring/run")
    assert api.post("/api/v1/monitoring/run").status_code == 429

    assert api.get("/api/v1/monitoring/config").status_code == 200
    assert api.get("/api/v1/monitoring/runs").status_code == 200
    assert api.get("/api/v1/providers").status_code == 200
    assert client_for(django_user_model, "bob").post("/api/v1/monitoring/run").status_code == 200


def test_test_connection_and_test_share_one_limit(api, rates, stub_provider):
    rates(connection_test="2/min")
    account = make_account()
    body = {
        "provider_type": "custom_openai_compatible",
        "display_name": "Local",
        "credentials": {"base_url": "http://127.0.0.1:9/v1"},
    }
    assert api.post("/api/v1/providers/test-connection", body, format="json").status_code == 200
    assert api.post(f"/api/v1/providers/{account.pk}/test").status_code == 200

    assert_throttled(
        api.post("/api/v1/providers/test-connection", body, format="json"),
        "Too many connection tests",
    )
    assert_throttled(api.post(f"/api/v1/providers/{account.pk}/test"), "connection tests")
    assert api.post(f"/api/v1/providers/{account.pk}/refresh-models").status_code == 200


def test_refreshing_models_beyond_the_rate_is_a_429(api, rates, stub_provider):
    rates(model_refresh="1/min")
    account = make_account()
    assert api.post(f"/api/v1/providers/{account.pk}/refresh-models").status_code == 200
    assert_throttled(
        api.post(f"/api/v1/providers/{account.pk}/refresh-models"), "Too many model refreshes"
    )


def test_starting_benchmarks_beyond_the_rate_is_a_429(api, rates, queued, settings):
    rates(benchmark_start="1/min")
    settings.MAX_ACTIVE_BENCHMARKS = 10
    body = benchmark_body(make_model())
    assert api.post("/api/v1/benchmarks", body, format="json").status_code == 202

    assert_throttled(
        api.post("/api/v1/benchmarks", body, format="json"), "Too many benchmark starts"
    )
    assert BenchmarkRun.objects.count() == 1
    assert api.get("/api/v1/benchmarks").status_code == 200


# --- active benchmarks --------------------------------------------------------------------------


def test_a_benchmark_beyond_the_active_cap_is_a_429_and_nothing_is_queued(api, queued):
    make_benchmark_run(status="pending")
    make_benchmark_run(status="running", heartbeat_at=timezone.now())
    make_benchmark_run(status="pending")
    make_benchmark_run(status="completed")

    response = api.post("/api/v1/benchmarks", benchmark_body(make_model()), format="json")

    assert response.status_code == 429
    assert response.json() == {"detail": FULL}
    assert BenchmarkRun.objects.count() == 4 and queued == []


def test_finished_runs_do_not_count_towards_the_cap(api, queued):
    for status in ("pending", "running", "completed", "failed", "cancelled"):
        make_benchmark_run(status=status, heartbeat_at=timezone.now())
    response = api.post("/api/v1/benchmarks", benchmark_body(make_model()), format="json")
    assert response.status_code == 202 and len(queued) == 1


def test_a_run_whose_worker_died_does_not_hold_a_slot(api, queued):
    for _ in range(3):
        make_benchmark_run(status="running", heartbeat_at=timezone.now() - timedelta(hours=1))
    response = api.post("/api/v1/benchmarks", benchmark_body(make_model()), format="json")
    assert response.status_code == 202
    assert BenchmarkRun.objects.filter(status="failed").count() == 3


def test_the_cap_follows_its_setting(api, queued, settings):
    settings.MAX_ACTIVE_BENCHMARKS = 1
    make_benchmark_run(status="pending")
    response = api.post("/api/v1/benchmarks", benchmark_body(make_model()), format="json")
    assert response.status_code == 429
    assert response.json()["detail"].startswith("1 benchmark is already pending or running;")


def test_the_benchmarks_page_says_why_it_did_not_start(client, user, queued):
    client.force_login(user)
    model = make_model()
    for _ in range(3):
        make_benchmark_run(status="pending")

    response = client.post(
        reverse("benchmark-start"),
        {
            "model_ids": [str(model.pk)],
            "prompt_pack": "health_check",
            "num_runs": "1",
            "max_tokens": "50",
            "concurrency": "1",
            "warmup_runs": "0",
            "name": "",
        },
    )

    assert response.status_code == 200
    assert f"Not started: {FULL}" in response.content.decode()
    assert BenchmarkRun.objects.count() == 3 and queued == []


def test_a_rerun_beyond_the_cap_redirects_with_the_reason(client, user, queued):
    client.force_login(user)
    model = make_model()
    done = make_benchmark_run(model)
    for _ in range(3):
        make_benchmark_run(status="pending")

    response = client.post(reverse("benchmark-rerun", args=[done.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("benchmark-detail", args=[done.pk])
    assert f"Cannot re-run: {FULL}" in response.content.decode()
    assert BenchmarkRun.objects.count() == 4


# --- body size ----------------------------------------------------------------------------------


def oversized(limit: int) -> str:
    return json.dumps({"display_name": "x" * limit, "provider_type": "openai"})


@pytest.mark.parametrize("path", ["/api/v1/providers", "/api/v1/benchmarks"])
def test_an_oversized_body_is_a_413_json_error(api, path, queued):
    response = api.post(path, oversized(1024 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body exceeds 1048576 bytes."}
    assert not ProviderAccount.objects.exists() and not BenchmarkRun.objects.exists()


def test_the_body_limit_follows_its_setting(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    body = {
        "provider_type": "custom_openai_compatible",
        "display_name": "Local",
        "credentials": {"base_url": "http://127.0.0.1:9/v1"},
    }
    assert api.post("/api/v1/providers", body, format="json").status_code == 201

    body["display_name"] = "x" * 200
    response = api.post("/api/v1/providers", body, format="json")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body exceeds 200 bytes."}


def test_an_oversized_body_is_a_413_under_asgi_too(token):
    """daphne serves ASGI requests: their body is read the same bounded way."""
    response = async_to_sync(AsyncClient().post)(
        "/api/v1/providers",
        oversized(1024 * 1024),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 413
    assert json.loads(response.content) == {"detail": "Request body exceeds 1048576 bytes."}


class AsgiCall:
    """One HTTP request through an ASGI application: a body sent in chunks (counted as the
    application reads them), and what the application sends back."""

    def __init__(self, *, chunks: int, chunk_size: int = 64 * 1024, length: int | None = None):
        headers = [(b"content-type", b"application/json")]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        self.scope = {
            "type": "http",
            "method": "POST",
            "path": "/api/v1/providers",
            "raw_path": b"/api/v1/providers",
            "query_string": b"",
            "root_path": "",
            "scheme": "http",
            "http_version": "1.1",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }
        self.chunks, self.chunk_size, self.read, self.sent = chunks, chunk_size, 0, []

    async def receive(self):
        if self.read >= self.chunks:
            return {"type": "http.disconnect"}
        self.read += 1
        more = self.read < self.chunks
        return {"type": "http.request", "body": b"x" * self.chunk_size, "more_body": more}

    async def send(self, message):
        self.sent.append(message)

    def run(self, app) -> "AsgiCall":
        async_to_sync(app)(self.scope, self.receive, self.send)
        return self

    @property
    def status(self) -> int:
        return self.sent[0]["status"]

    @property
    def json(self):
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


class Inner:
    """An application behind the limit: records the body it reads."""

    def __init__(self):
        self.body = None

    async def __call__(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.body = body
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_a_declared_body_over_the_limit_is_refused_before_any_of_it_is_read():
    inner = Inner()
    call = AsgiCall(chunks=1000, length=1000 * 64 * 1024).run(BodyLimitMiddleware(inner))
    assert call.status == 413 and call.json == {"detail": "Request body exceeds 1048576 bytes."}
    assert call.read == 0 and inner.body is None
    assert (b"connection", b"close") in call.sent[0]["headers"]


def test_a_chunked_body_is_read_only_up_to_the_limit():
    inner = Inner()
    call = AsgiCall(chunks=1000).run(BodyLimitMiddleware(inner))  # no Content-Length: 64 MB
    assert call.status == 413 and call.json == {"detail": "Request body exceeds 1048576 bytes."}
    assert call.read == 17 and inner.body is None  # 16 chunks make the limit; one more is over


def test_a_body_within_the_limit_reaches_the_application_as_sent(settings):
    inner = Inner()
    call = AsgiCall(chunks=16).run(BodyLimitMiddleware(inner))  # exactly the limit, chunked
    assert call.status == 204 and inner.body == b"x" * (1024 * 1024)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    call = AsgiCall(chunks=1, chunk_size=101, length=101).run(BodyLimitMiddleware(Inner()))
    assert call.status == 413 and call.json == {"detail": "Request body exceeds 100 bytes."}


def test_daphnes_application_refuses_an_oversized_body_before_django_reads_it(monkeypatch):
    from django.core.handlers.asgi import ASGIHandler

    from arguslm.asgi import application

    def read_body(*args):
        raise AssertionError("Django read the body")

    monkeypatch.setattr(ASGIHandler, "read_body", read_body)
    call = AsgiCall(chunks=100, length=100 * 64 * 1024).run(application)
    assert call.status == 413 and call.json == {"detail": "Request body exceeds 1048576 bytes."}
    assert call.read == 0
