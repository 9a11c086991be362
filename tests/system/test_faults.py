"""Faults: workers killed mid-work, the database or Redis unreachable, providers that hang,
drop connections or flood bytes. Nothing may be lost silently, left running forever or crash
a process; every failure ends as a recorded reason or a clear 5xx ``{"detail": ...}``.

The process-level tests (``live``) run a real daphne and a django-q2 cluster on their own
database (``tests.live_server``). The cluster is started in a session of its own so that a
test can SIGKILL its whole process group, as the OOM killer or a lost machine would.
"""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from unittest import mock

import httpx
import pytest
from django.db import OperationalError
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from arguslm.llm.measure import MAX_RESPONSE_BYTES, measure
from arguslm.llm.types import CallTarget, Timeouts
from benchmarks.models import BenchmarkRun
from monitoring import services
from monitoring.models import MonitoringConfig, MonitoringRun, UptimeCheck
from tests.factories import make_account, make_model, make_monitoring_run
from tests.live_server import ROOT, LiveServer, _fresh_postgres, drop_postgres, free_port, wait_for

PROMPT = [{"role": "user", "content": "hello"}]
# Small shards, so that a worker killed mid-pass leaves some shards stored and some lost.
SETTINGS = "from arguslm.settings import *  # noqa: F403\nARGUSLM_SHARD_SIZE = 5\n"


# --- Processes --------------------------------------------------------------------------------


def _redis_answers(url: str = "redis://127.0.0.1:6379/0") -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


class Web:
    """One extra daphne process with its own environment (stopped on exit)."""

    def __init__(self, env: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-p", str(self.port), "arguslm.asgi:application"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
            )

    def __enter__(self) -> "Web":
        def up():
            if self.proc.poll() is not None:
                raise AssertionError("daphne exited:\n" + self.log.read_text())
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
            return False

        wait_for(up, timeout=30, every=0.2, what="daphne")
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class FaultServer:
    """daphne (LiveServer) plus a qcluster in its own session, on a database of its own."""

    def __init__(self, tmp: Path, llmsim: str):
        # LiveServer names its PostgreSQL database and Redis db after this process; another
        # LiveServer of the same session (the `live` fixture) must keep its own.
        with mock.patch.dict(os.environ):
            os.environ.pop("DATABASE_URL", None)
            self.web = LiveServer(tmp, llmsim_url=llmsim, worker=False)
        if os.environ.get("DATABASE_URL"):
            self.web.env["DATABASE_URL"] = _fresh_postgres(
                os.environ["DATABASE_URL"], f"arguslm_faults_{os.getpid()}"
            )
        if os.environ.get("REDIS_URL"):
            self.web.env["REDIS_URL"] = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/12"
            self.web.env.pop("ARGUSLM_CACHE_URL", None)  # its own cache: the next db, /13
        (tmp / "fault_settings.py").write_text(SETTINGS)
        self.web.env["PYTHONPATH"] = os.pathsep.join([str(tmp), str(ROOT)])
        self.web.env["DJANGO_SETTINGS_MODULE"] = "fault_settings"
        self.tmp = tmp
        self.llmsim = llmsim
        self.worker: subprocess.Popen | None = None

    @property
    def env(self) -> dict:
        return self.web.env

    def start(self) -> "FaultServer":
        self.web.start()
        self.start_worker()
        return self

    def start_worker(self) -> None:
        with open(self.tmp / "qcluster.log", "a") as log:
            self.worker = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: killpg reaches every child
            )

    def kill_worker(self) -> None:
        """SIGKILL the cluster and every process it forked (no cleanup code runs)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.kill_worker()
        self.web.stop()
        if os.environ.get("REDIS_URL"):
            import redis

            base = self.env["REDIS_URL"].rsplit("/", 1)[0]
            for db in (12, 13):  # its broker and its cache (see __init__)
                redis.Redis.from_url(f"{base}/{db}").flushdb()
        if os.environ.get("DATABASE_URL"):
            drop_postgres(os.environ["DATABASE_URL"], self.env["DATABASE_URL"].rsplit("/", 1)[1])

    def api(self) -> httpx.Client:
        return self.web.api()

    def shell(self, code: str) -> dict:
        """Run code in a process on the server's database; it prints one JSON object."""
        return json.loads(self.web.manage("shell", "-c", code).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def server(llmsim, tmp_path_factory):
    server = FaultServer(tmp_path_factory.mktemp("faults"), llmsim).start()
    yield server
    server.stop()


def _account(api: httpx.Client, llmsim: str, name: str) -> str:
    response = api.post(
        "/api/v1/providers",
        json={
            "provider_type": "custom_openai_compatible",
            "display_name": name,
            "credentials": {"base_url": f"{llmsim}/v1"},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _models(api: httpx.Client, account: str, names: list[str], **flags) -> list[str]:
    ids = []
    for name in names:
        body = {"provider_account_id": account, "model_id": name, **flags}
        response = api.post("/api/v1/models", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def _checks_of(api: httpx.Client, run_id: str) -> list[dict]:
    items = api.get("/api/v1/monitoring/uptime", params={"limit": 10000}).json()["items"]
    return [c for c in items if c["run_id"] == run_id]


# --- Workers killed mid-work ------------------------------------------------------------------


@pytest.mark.live
def test_a_pass_whose_worker_is_killed_fails_with_a_reason_and_keeps_its_checks(server):
    api = server.api()
    account = _account(api, server.llmsim, "Slow simulator")
    # 20 models in 4 shards of 5; each shard takes ~2 s; 2 worker processes.
    names = [f"sim/ttft=2000/itl=10/n=5/seed={i}" for i in range(20)]
    _models(api, account, names, enabled_for_monitoring=True, enabled_for_benchmark=False)

    queued = api.post("/api/v1/monitoring/run")
    assert queued.status_code == 200, queued.text
    run_id = queued.json()["run_id"]

    def some_shards_done():
        run = api.get(f"/api/v1/monitoring/runs/{run_id}").json()
        return run if run["status"] == "running" and run["shards_done"] >= 1 else None

    seen = wait_for(some_shards_done, timeout=30, every=0.05, what="a first stored shard")
    server.kill_worker()
    assert seen["shards_done"] < seen["shards_total"] == 4
    stored = _checks_of(api, run_id)
    assert len(stored) >= 5 * seen["shards_done"]
    assert api.get(f"/api/v1/monitoring/runs/{run_id}").json()["status"] == "running"

    # The next start or the schedule would close it once its heartbeat is stale; jump ahead.
    closed = server.shell(
        "import json; from datetime import timedelta; from django.utils import timezone;"
        "from monitoring import services; from monitoring.models import MonitoringConfig;"
        "later = timezone.now() + services.stale_after(MonitoringConfig.get()) + "
        "timedelta(seconds=1);"
        "print(json.dumps({'closed': services.close_stale_runs(now=later)}))"
    )
    assert closed == {"closed": 1}
    run = api.get(f"/api/v1/monitoring/runs/{run_id}").json()
    assert run["status"] == "failed"
    assert "stopped responding" in run["message"]
    kept = _checks_of(api, run_id)
    assert sorted(c["id"] for c in kept) == sorted(c["id"] for c in stored)
    assert len({c["model_id"] for c in kept}) == len(kept)  # no model probed twice
    assert run["up"] + run["degraded"] + run["down"] == len(kept)

    server.start_worker()
    again = api.post("/api/v1/monitoring/run").json()["run_id"]

    def finished():
        run = api.get(f"/api/v1/monitoring/runs/{again}").json()
        return run if run["status"] not in ("queued", "running") else None

    run = wait_for(finished, timeout=60, every=0.2, what="the pass after the restart")
    assert (run["status"], run["total"], run["shards_done"]) == ("completed", 20, 4)
    fresh = _checks_of(api, again)
    assert len(fresh) == len({c["model_id"] for c in fresh}) == 20
    assert len(_checks_of(api, run_id)) == len(kept)  # the lost shards never ran late


@pytest.mark.live
def test_a_benchmark_whose_worker_is_killed_fails_and_keeps_its_results(server):
    api = server.api()
    if server.worker.poll() is not None:
        server.start_worker()
    account = _account(api, server.llmsim, "Benchmark simulator")
    names = [f"sim/ttft=300/itl=5/n=5/seed={i}" for i in range(3)]
    model_ids = _models(api, account, names, enabled_for_benchmark=True)
    started = api.post(
        "/api/v1/benchmarks",
        json={
            "model_ids": model_ids,
            "prompt_pack": "health_check",
            "num_runs": 10,
            "warmup_runs": 0,
            "max_tokens": 20,
        },
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    def some_results():
        run = api.get(f"/api/v1/benchmarks/{run_id}").json()
        return run if run["status"] == "running" and run["result_count"] >= 1 else None

    seen = wait_for(some_results, timeout=30, every=0.05, what="a first saved result")
    server.kill_worker()
    saved = api.get(f"/api/v1/benchmarks/{run_id}/results").json()["results"]
    assert seen["result_count"] <= len(saved) < seen["total_requests"] == 30

    closed = server.shell(
        "import json; from datetime import timedelta; from django.utils import timezone;"
        "from benchmarks import engine;"
        "later = timezone.now() + engine.STALE_AFTER + timedelta(seconds=1);"
        "print(json.dumps({'closed': engine.close_stale_runs(now=later)}))"
    )
    assert closed == {"closed": 1}
    run = api.get(f"/api/v1/benchmarks/{run_id}").json()
    assert run["status"] == "failed"
    assert "stopped responding" in run["error"]
    assert [r["id"] for r in run["results"]] == [r["id"] for r in saved]
    assert len({r["seq"] for r in run["results"]}) == len(saved)
    server.start_worker()


# --- Redis unreachable ------------------------------------------------------------------------


@pytest.mark.live
def test_with_redis_unreachable_queueing_answers_503_and_ready_says_unavailable(server):
    env = {**server.env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    env.pop("ARGUSLM_CACHE_URL", None)  # the throttles' cache is on the same (dead) server
    api = server.api()
    account = _account(api, server.llmsim, "Redis-down simulator")
    (model_id,) = _models(api, account, ["sim/n=3"], enabled_for_benchmark=True)
    before = _queued_work(api)
    if server.worker.poll() is not None:
        server.start_worker()
    finished = api.post(
        "/api/v1/benchmarks",
        json={"model_ids": [model_id], "prompt_pack": "health_check", "num_runs": 1},
    ).json()["id"]
    wait_for(
        lambda: api.get(f"/api/v1/benchmarks/{finished}").json()["status"] == "completed",
        timeout=30,
        what="a finished benchmark",
    )
    with Web(env, server.tmp / "daphne-redis-down.log") as web:
        client = httpx.Client(base_url=web.url, headers=api.headers, timeout=30)
        started = time.monotonic()
        run = client.post("/api/v1/monitoring/run")
        assert run.status_code == 503, run.text
        assert run.json() == {"detail": "The task queue is unavailable; try again shortly."}
        bench = client.post(
            "/api/v1/benchmarks", json={"model_ids": [model_id], "prompt_pack": "health_check"}
        )
        assert bench.status_code == 503, bench.text
        assert bench.json() == run.json()
        assert time.monotonic() - started < 10  # refused at once, not after long retries

        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert ready.json()["checks"]["queue"] == "error: ConnectionError"
        assert client.get("/health").status_code == 200
        assert client.get("/api/v1/providers").status_code == 200  # reads need no Redis

        # The live stream needs the channel layer (Redis): it must fail fast, not hang, and
        # leave the server up. (benchmarks.live could fall back to polling the database.)
        started = time.monotonic()
        stream = web.url.replace("http", "ws", 1) + f"/api/v1/benchmarks/{finished}/stream"
        headers = dict(api.headers)
        with (
            pytest.raises(ConnectionClosed),
            connect(stream, additional_headers=headers, open_timeout=5) as ws,
        ):
            while True:
                ws.recv(timeout=5)
        assert time.monotonic() - started < 5
        assert client.get("/health").status_code == 200
    assert _queued_work(api) == before  # nothing was left queued or pending forever


def _queued_work(api: httpx.Client) -> int:
    runs = api.get("/api/v1/monitoring/runs", params={"status": "queued"}).json()["total"]
    return runs + api.get("/api/v1/benchmarks", params={"status": "pending"}).json()["total"]


@pytest.mark.django_db
def test_when_the_broker_refuses_a_task_the_api_answers_503_and_records_why(api, monkeypatch):
    import redis

    def broker_down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")

    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    response = api.post("/api/v1/monitoring/run")
    assert response.status_code == 503
    assert "Could not queue the pass: ConnectionError" in response.json()["detail"]
    run = MonitoringRun.objects.get()
    assert (run.status, run.message) == ("failed", response.json()["detail"])

    model = make_model(enabled_for_benchmark=True)
    body = {"model_ids": [str(model.id)], "prompt_pack": "health_check"}
    response = api.post("/api/v1/benchmarks", body, format="json")
    assert response.status_code == 503
    assert "Could not queue the benchmark: ConnectionError" in response.json()["detail"]
    assert BenchmarkRun.objects.get().status == "failed"


@pytest.mark.live
def test_with_redis_back_the_same_call_succeeds(server):
    if not _redis_answers():
        pytest.skip("no Redis answers on 127.0.0.1:6379")
    import redis

    url = "redis://127.0.0.1:6379/10"  # its cache: /11
    env = {**server.env, "REDIS_URL": url}
    env.pop("ARGUSLM_CACHE_URL", None)
    try:
        with Web(env, server.tmp / "daphne-redis-back.log") as web:
            client = httpx.Client(base_url=web.url, headers=server.api().headers, timeout=30)
            run = client.post("/api/v1/monitoring/run")
            assert run.status_code == 200, run.text
            assert run.json()["status"] == "queued"
            assert "queue" not in client.get("/ready").json()["checks"]  # listed when failing
    finally:
        redis.Redis.from_url(url).flushdb()  # no worker listens there: drop the task
        redis.Redis.from_url("redis://127.0.0.1:6379/11").flushdb()


# --- Database unreachable ---------------------------------------------------------------------


@pytest.mark.live
def test_with_the_database_unreachable_ready_is_503_and_health_200(tmp_path):
    env = {
        **os.environ,
        "ARGUSLM_DATA_DIR": str(tmp_path),
        "ARGUSLM_DEMO": "false",
        "DJANGO_SETTINGS_MODULE": "arguslm.settings",
        # Nothing listens there: every connection attempt is refused.
        "DATABASE_URL": f"postgres://arguslm@127.0.0.1:{free_port()}/arguslm",
    }
    env.pop("REDIS_URL", None)
    with Web(env, tmp_path / "daphne.log") as web:
        ready = httpx.get(f"{web.url}/ready", timeout=10)
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/json"
        assert ready.json()["checks"]["database"].startswith("error: OperationalError")
        assert httpx.get(f"{web.url}/health", timeout=10).status_code == 200
        api = httpx.get(
            f"{web.url}/api/v1/providers", headers={"Authorization": "Bearer x"}, timeout=10
        )
        assert api.status_code == 503
        assert api.json() == {"detail": "The database is unavailable; try again shortly."}
        assert web.proc.poll() is None  # still serving


class _Switch:
    """A TCP proxy to PostgreSQL that can be cut (every connection dropped) and restored."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.conns.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.mark.live
def test_a_database_outage_is_survived_without_a_restart(server):
    if not os.environ.get("DATABASE_URL"):
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    import dj_database_url

    cfg = dj_database_url.parse(server.env["DATABASE_URL"])
    switch = _Switch((cfg["HOST"], int(cfg["PORT"] or 5432)))
    url = server.env["DATABASE_URL"].replace(
        f"{cfg['HOST']}:{cfg['PORT']}", f"127.0.0.1:{switch.port}"
    )
    try:
        with Web({**server.env, "DATABASE_URL": url}, server.tmp / "daphne-db.log") as web:
            client = httpx.Client(base_url=web.url, headers=server.api().headers, timeout=10)
            assert client.get("/api/v1/providers").status_code == 200
            switch.cut()
            assert client.get("/ready").json()["checks"]["database"].startswith("error")
            assert client.get("/api/v1/providers").status_code == 503
            assert client.get("/health").status_code == 200
            switch.up = True
            assert client.get("/ready").json()["checks"]["database"] == "ok"
            assert client.get("/api/v1/providers").status_code == 200
    finally:
        switch.close()


# --- The worker's final write failing ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_shard_whose_final_write_fails_is_closed_by_close_stale_runs(
    llmsim, monkeypatch, sync_tasks
):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    models = [make_model(account, model_id=f"sim/ttft=5/itl=1/n=2/seed={i}") for i in range(3)]
    run = make_monitoring_run(status=MonitoringRun.Status.RUNNING, total=3, shards_total=1)
    real_bulk_create = UptimeCheck.objects.bulk_create
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_bulk_create(*args, **kwargs)

    monkeypatch.setattr(UptimeCheck.objects, "bulk_create", fails_once)
    with pytest.raises(OperationalError):
        services.probe_shard(run_id=run.id, model_ids=[m.id for m in models])
    run.refresh_from_db()
    assert run.status == MonitoringRun.Status.RUNNING
    assert services.close_stale_runs() == 0  # its heartbeat is still fresh

    later = timezone.now() + services.stale_after(MonitoringConfig.get()) + timedelta(seconds=1)
    assert services.close_stale_runs(now=later) == 1
    run.refresh_from_db()
    assert run.status == MonitoringRun.Status.FAILED
    assert "stopped responding" in run.message

    # The failed run blocks nothing: the next pass runs (its write succeeds) and completes.
    nxt = services.request_pass()
    nxt.refresh_from_db()
    assert nxt.status == MonitoringRun.Status.COMPLETED
    assert UptimeCheck.objects.filter(run=nxt).count() == 3


# --- Providers that hang, drop or flood -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_pass_over_hanging_stalling_and_dropping_providers_ends_within_its_timeout(
    llmsim, sync_tasks
):
    config = MonitoringConfig.get()
    config.timeout_seconds = 1
    config.save()
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    scenarios = {
        "sim/hang=60000": ("down", "timeout"),  # no response headers at all
        "sim/stall=0/n=5": ("down", "timeout"),  # headers, then no token
        "sim/n=20/itl=10/stall=3": ("down", "timeout"),  # stops after 3 tokens
        "sim/n=20/itl=10/drop=2": ("down", "stream_error"),  # connection cut mid-stream
        "sim/n=3/ttft=20": ("up", None),
    }
    models = {make_model(account, model_id=name).id: name for name in scenarios}
    run = make_monitoring_run(
        status=MonitoringRun.Status.RUNNING, total=len(models), shards_total=1
    )
    started = time.monotonic()
    assert services.probe_shard(run_id=run.id, model_ids=list(models)) == len(models)
    assert time.monotonic() - started < 1 + 1.5  # the pass timeout, plus slack
    got = {
        models[c.model_id]: (c.status, c.error_type) for c in UptimeCheck.objects.filter(run=run)
    }
    assert got == scenarios
    run.refresh_from_db()
    assert run.status == MonitoringRun.Status.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_credentials_that_cannot_be_sent_fail_their_own_probe_not_the_shard(
    llmsim, monkeypatch, sync_tasks
):
    def model(model_id: str, **credentials):
        account = make_account(credentials={"base_url": f"{llmsim}/v1", **credentials})
        return make_model(account, model_id=model_id)

    expected = {
        model("sim/n=2/ttft=5").id: ("up", None),
        model("sim/n=2", base_url=f"{llmsim}/v1\r\nX-Injected: 1").id: ("down", "bad_request"),
        model("sim/n=2", api_key="sk-ключ-123").id: ("down", "bad_request"),  # not ASCII
        model("sim/n=3/ttft=5").id: ("down", "unknown"),  # the gateway itself raises
    }
    broken = list(expected)[-1]
    real_measure = services.measure

    async def measure_with_a_bug(target, *args, **kwargs):
        if target.model_id == "sim/n=3/ttft=5":
            raise RuntimeError("a bug in the gateway")
        return await real_measure(target, *args, **kwargs)

    monkeypatch.setattr(services, "measure", measure_with_a_bug)
    run = make_monitoring_run(
        status=MonitoringRun.Status.RUNNING, total=len(expected), shards_total=1
    )
    assert services.probe_shard(run_id=run.id, model_ids=list(expected)) == len(expected)
    checks = {c.model_id: c for c in UptimeCheck.objects.filter(run=run)}
    assert {pk: (c.status, c.error_type) for pk, c in checks.items()} == expected
    assert "ключ" not in checks[list(expected)[2]].error
    assert checks[broken].error == "Unexpected error: RuntimeError"


class _Flood:
    """An HTTP server that answers every request with an endless body, as fast as it can."""

    def __init__(self, head: bytes, piece: bytes, cap: int = 512 * 1024 * 1024):
        self.head, self.piece, self.cap = head, piece, cap
        self.sent = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.listener.accept()
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                conn.sendall(self.head)
                block = self.piece * max(1, 65536 // len(self.piece))
                while self.sent < self.cap:
                    conn.sendall(block)
                    self.sent += len(block)

    def close(self) -> None:
        self.listener.close()


SSE = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
JSON = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
ERROR = b"HTTP/1.1 500 Oops\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "piece"),
    [
        (SSE, b'data: {"choices":[{"delta":{"content":"%s"}}]}\n\n' % (b"flood " * 50)),
        (SSE, b"data: " + b"x" * 1000),  # one endless line, never a newline
        (SSE, b": keep-alive comment\n"),  # bytes, but never an event
        (JSON, b'{"choices": [' * 100),  # an endless non-streamed body
        (ERROR, b"error " * 100),  # an endless error body
    ],
    ids=["sse-events", "sse-endless-line", "sse-comments", "json-body", "error-body"],
)
def test_a_flooding_provider_is_cut_off_at_the_byte_limit_with_bounded_memory(head, piece):
    flood = _Flood(head, piece)
    target = CallTarget(
        "custom_openai_compatible", "m", "openai", "openai/m", base_url=f"{flood.url}/v1"
    )
    timeouts = Timeouts(connect=2, first_token=20, between_tokens=20, total=30)
    tracemalloc.start()
    try:
        started = time.monotonic()
        sample = asyncio.run(measure(target, PROMPT, max_tokens=10, timeouts=timeouts))
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        flood.close()
    assert elapsed < 20  # cut off by size, long before any timeout
    if head is ERROR:  # the status is known: its first 64 KiB are read for the message
        assert (sample.error_type, sample.status_code) == ("server_error", 500), sample
        assert sample.error.startswith("HTTP 500: error error")
        assert flood.sent < 64 * 1024 * 1024
    else:
        assert sample.error_type == "stream_error", sample
        assert "8 MiB" in sample.error
        # The provider would have sent 512 MiB; we read about the limit, held a few times it.
        assert MAX_RESPONSE_BYTES <= flood.sent < 64 * 1024 * 1024
    assert peak < 4 * MAX_RESPONSE_BYTES, f"peak {peak / 2**20:.1f} MiB"
