"""Scale-out: two web processes and two worker clusters on one PostgreSQL database and Redis.

One migrate, one API token, then two daphne processes (web A, web B) and two ``qcluster``
processes (worker clusters A and B, each logging to its own file) on the same fresh database
and Redis database. The LLM simulator runs as a process of its own.

* A monitoring pass over 600 models (three shards of at most 250) is requested on web A and
  followed on web B: every model gets exactly one check, and both clusters executed shards.
  django-q2 cannot tell the clusters apart by itself: its Task table's ``cluster`` column is
  the queue name (``Q_CLUSTER["name"]``), the same for every cluster that serves the queue,
  and a different ``Q_CLUSTER_NAME`` would mean a different queue. So the evidence is each
  cluster's own log ("… processing monitoring-shard-<run> …"), cross-checked with the Task
  rows (three shard tasks, all successful).
* A benchmark started on web A streams progress, results and ``complete`` to a real
  WebSocket client connected to web B. With Redis the consumer polls the database only every
  2 s, so results arriving within a fraction of that prove the wake-ups crossed processes.

Runs only with DATABASE_URL and REDIS_URL (the second CI run).
"""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from statistics import median

import httpx
import pytest

from tests.live_server import ROOT, LiveServer, _fresh_postgres, drop_postgres, free_port, wait_for

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
        reason="scale-out needs a shared PostgreSQL and Redis: set DATABASE_URL and REDIS_URL",
    ),
]

MODELS = 600  # three shards (250, 250, 100) at SHARD_SIZE = 250
BENCH_RUNS = 10
# Redis databases of their own (broker + channel layer, and the throttles' cache): the test
# process uses REDIS_URL's and the next, LiveServer 14 (+15), the fault tests 10 to 13. A
# queue shared with another cluster would let it steal our tasks.
REDIS_DB, CACHE_DB = 8, 9

SETUP = """
import json
from monitoring.models import MonitoringConfig
from providers.models import LLMModel, ProviderAccount
account = ProviderAccount(provider_type="custom_openai_compatible", display_name="Scale sim")
account.credentials = {"base_url": "%(sim)s/v1"}
account.save()
LLMModel.objects.bulk_create(
    LLMModel(provider_account=account, enabled_for_monitoring=True, enabled_for_benchmark=False,
             model_id=f"sim/ttft=5/itl=1/n=2/seed={i}")
    for i in range(%(models)d)
)
bench = LLMModel.objects.create(provider_account=account, model_id="sim/ttft=200/itl=10/n=5",
                                custom_name="Stream model")
config = MonitoringConfig.get()
config.concurrency_per_account, config.max_tokens, config.timeout_seconds = 32, 16, 10
config.save()
from django.contrib.auth.models import User
from arguslm import tokens
user = User.objects.create_superuser("scale", "scale@x.org", "pw-scale-123")
print(json.dumps({"bench": str(bench.id), "token": tokens.issue(user=user, name="scale")[1]}))
"""


class ScaleOut(LiveServer):
    """Two daphne processes and two qcluster processes on one fresh database and Redis db.

    ``url``/``port`` is web A, ``url_b``/``port_b`` web B; the clusters log to
    ``qcluster-a.log`` and ``qcluster-b.log``. LiveServer's ``manage``, ``api`` and ``stop``
    are reused; ``start`` runs one migrate and one shell (token and data) while the four
    processes boot.
    """

    def __init__(self, tmp: Path):
        # Not LiveServer.__init__: it would drop and recreate arguslm_live_<pid>, the database
        # of the session's `live` server when that fixture is active.
        self.tmp = tmp
        self.port, self.port_b = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.url_b = f"http://127.0.0.1:{self.port_b}"
        self.db_name = f"arguslm_scale_{os.getpid()}"
        self.redis_base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
        self.env = {
            **os.environ,
            "ARGUSLM_DATA_DIR": str(tmp),
            "ARGUSLM_DEMO": "false",
            "ARGUSLM_WORKERS": "2",
            "LOG_LEVEL": "INFO",  # the clusters' logs say which cluster ran which shard
            "DJANGO_SETTINGS_MODULE": "arguslm.settings",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": _fresh_postgres(os.environ["DATABASE_URL"], self.db_name),
            "REDIS_URL": f"{self.redis_base}/{REDIS_DB}",
            "ARGUSLM_CACHE_URL": f"{self.redis_base}/{CACHE_DB}",
        }
        self.procs: list[subprocess.Popen] = []
        self.token = self.bench_model = ""

    def _spawn(self, args: list[str], log_name: str) -> None:
        log = open(self.tmp / log_name, "w")  # noqa: SIM115 (closed with the process)
        self.procs.append(
            subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        )

    def start(self, simulator: Future) -> "ScaleOut":
        """Start everything; ``simulator`` resolves to start_in_process()'s (url, process)."""
        self.flush_redis()
        self.manage("migrate", "--noinput", "-v", "0")
        daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p"]
        for port, log in ((self.port, "daphne.log"), (self.port_b, "daphne-b.log")):
            self._spawn([*daphne, str(port), "arguslm.asgi:application"], log)
        for name in ("a", "b"):
            self._spawn([sys.executable, "manage.py", "qcluster"], f"qcluster-{name}.log")
        # The token and the data are written while the four processes boot.
        sim, _ = simulator.result(timeout=60)  # it boots during the migrate
        out = self.manage("shell", "-c", SETUP % {"sim": sim, "models": MODELS})
        created = json.loads(out.strip().splitlines()[-1])
        self.token, self.bench_model = created["token"], created["bench"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                web = [httpx.get(f"{u}/health", timeout=1).status_code for u in self.urls]
                if web == [200, 200] and all("running" in self.log(n) for n in ("a", "b")):
                    return self
            time.sleep(0.2)
        logs = ("daphne.log", "daphne-b.log", "qcluster-a.log", "qcluster-b.log")
        raise RuntimeError(
            "a web process or a cluster did not start:\n"
            + "\n".join(f"--- {n}\n" + (self.tmp / n).read_text()[-2000:] for n in logs)
        )

    @property
    def urls(self) -> tuple[str, str]:
        return self.url, self.url_b

    def flush_redis(self) -> None:
        import redis

        for db in (REDIS_DB, CACHE_DB):
            redis.Redis.from_url(f"{self.redis_base}/{db}").flushdb()

    def stop(self) -> None:
        super().stop()
        self.flush_redis()
        drop_postgres(os.environ["DATABASE_URL"], self.db_name)

    def log(self, cluster: str) -> str:
        path = self.tmp / f"qcluster-{cluster}.log"
        return path.read_text() if path.exists() else ""

    def sql(self, query: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.env["DATABASE_URL"]) as conn:
            return conn.execute(query, params).fetchall()

    def api_b(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url_b, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The scale-out deployment; the simulator (its own process) boots during the migrate."""
    from arguslm.llmsim.server import start_in_process

    server = ScaleOut(tmp_path_factory.mktemp("scale"))
    with ThreadPoolExecutor(1) as pool:
        simulator = pool.submit(start_in_process)
        try:
            yield server.start(simulator)
        finally:
            server.stop()
            with contextlib.suppress(Exception):
                simulator.result(timeout=60)[1].terminate()


@pytest.fixture(autouse=True)
def _clear_cache():
    """Replaces the suite's cache clearing: these tests use no in-process cache (their servers
    have Redis databases of their own), so they do not depend on the test process's cache."""


def test_a_pass_is_sharded_over_both_clusters_and_checks_every_model_exactly_once(cluster):
    with cluster.api() as web_a, cluster.api_b() as web_b:
        queued = web_a.post("/api/v1/monitoring/run")
        assert queued.status_code == 200, queued.text
        run_id = queued.json()["run_id"]

        def finished():
            run = web_b.get(f"/api/v1/monitoring/runs/{run_id}").json()
            return run if run["status"] not in ("queued", "running") else None

        run = wait_for(finished, timeout=45, what="the pass to finish (followed on web B)")
    assert run["status"] == "completed", run
    assert run["total"] == MODELS and run["shards_total"] == run["shards_done"] == 3, run
    assert run["up"] + run["degraded"] + run["down"] == MODELS, run

    per_model = cluster.sql(
        "SELECT model_id, count(*) FROM monitoring_uptimecheck WHERE run_id = %s GROUP BY model_id",
        run_id,
    )
    monitored = {
        row[0]
        for row in cluster.sql("SELECT id FROM providers_llmmodel WHERE enabled_for_monitoring")
    }
    assert len(monitored) == MODELS
    duplicates = [model for model, count in per_model if count != 1]
    assert duplicates == [], f"{len(duplicates)} models were checked more than once"
    assert {model for model, _ in per_model} == monitored, "models without a check"
    assert run["up"] == MODELS, f"probes failed against the simulator: {run}"

    # The monitor process saves a Task row just after the shard returns: wait for all three.
    name = f"monitoring-shard-{run_id}"

    def shard_tasks():
        rows = cluster.sql("SELECT cluster, success FROM django_q_task WHERE name = %s", name)
        return rows if len(rows) == 3 else None

    tasks = wait_for(shard_tasks, timeout=10, what="the three shard tasks to be recorded")
    assert all(success for _, success in tasks), tasks
    by_cluster = {n: cluster.log(n).count(f"processing {name} ") for n in ("a", "b")}
    assert sum(by_cluster.values()) == 3, by_cluster
    assert all(by_cluster.values()), f"one cluster ran every shard: {by_cluster}"


def test_benchmark_progress_reaches_a_websocket_on_the_other_web_process(cluster):
    from websockets.asyncio.client import connect

    with cluster.api() as web_a:
        started = web_a.post(
            "/api/v1/benchmarks",
            json={
                "model_ids": [cluster.bench_model],
                "prompt_pack": "health_check",
                "num_runs": BENCH_RUNS,
                "warmup_runs": 0,
                "max_tokens": 16,
            },
        )
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    async def follow() -> tuple[float, list[tuple[float, dict]], int | None]:
        url = f"ws://127.0.0.1:{cluster.port_b}/api/v1/benchmarks/{run_id}/stream"
        async with connect(
            url, additional_headers={"Authorization": f"Bearer {cluster.token}"}
        ) as ws:
            connected = time.time()
            received = []
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=20))
                received.append((time.time(), message))
                if message["type"] in ("complete", "error"):
                    break
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.recv(), timeout=5)
            return connected, received, ws.close_code

    connected, received, close_code = asyncio.run(follow())
    kinds = [m["type"] for _, m in received]
    assert kinds[0] == "progress" and kinds[-1] == "complete", kinds
    results = [(at, m["data"]) for at, m in received if m["type"] == "result"]
    assert [r["seq"] for _, r in results] == list(range(1, BENCH_RUNS + 1))
    assert all(r["error"] is None and r["ttft_ms"] > 0 for _, r in results), results
    live_progress = [m for _, m in received if m["type"] == "progress" and m["current_model"]]
    assert live_progress and live_progress[-1]["completed"] == BENCH_RUNS
    assert live_progress[-1]["current_model"] == "Stream model"
    assert received[-1][1]["completed"] == BENCH_RUNS and close_code == 1000

    # Delivery delay of the results saved after the client connected (the earlier ones come
    # with the initial state). Poll-only delivery (every 2 s with Redis) would average ~1 s.
    delays = [
        at - datetime.fromisoformat(r["saved_at"]).timestamp()
        for at, r in results
        if datetime.fromisoformat(r["saved_at"]).timestamp() > connected
    ]
    assert len(delays) >= BENCH_RUNS // 2, f"too few results after connecting: {delays}"
    assert median(delays) < 0.3 and max(delays) < 1.5, [round(d, 3) for d in delays]
