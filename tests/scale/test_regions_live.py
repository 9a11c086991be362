"""Two probe regions on one PostgreSQL database and Redis, each with its own simulator.

Processes: one daphne, one home-region cluster (``qcluster``), two clusters of region ``eu``
(``ARGUSLM_REGION=eu``, each with a data directory of its own and only the database and Redis
URLs and the encryption key in common with home), and two simulators: the home one, and
eu's, 80 ms "farther" (every answer delayed). The account reaches eu's simulator through its
regional endpoint (``region_base_urls``); a second account's eu endpoint is dead, so its model
is down in eu only.

The tests run in order on the same deployment:
1. A pass stores exactly one check per model per region; eu's TTFT shows the distance; the
   model down in eu only stays up, with the region noted on the dashboard.
2. The eu cluster probing a pass is killed (SIGKILL to its process group): the other eu
   cluster takes the shard over, every model still gets its eu check in that pass, and the
   probes lost are those finished in about the last second before the kill.
3. The last eu cluster is killed mid-pass: every home check is stored, eu turns stale within
   two of its stale periods, and the pass closes saying eu was not probed.

Runs only with DATABASE_URL and REDIS_URL (the second CI run).
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from monitoring.regions import STALE_AFTER
from tests.live_server import ROOT, _fresh_postgres, drop_postgres, free_port, wait_for

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
        reason="regions need a shared PostgreSQL and Redis: set DATABASE_URL and REDIS_URL",
    ),
]

MODELS = 80
RATE = 600  # probe starts per minute per worker process: a pass takes ~8 s per region
EU_DISTANCE_MS = 80
# Redis databases of their own (broker, and the cache on the next): see test_scale_out.
REDIS_DB, CACHE_DB = 6, 7

SETUP = """
import json
from monitoring.models import MonitoringConfig
from providers.models import LLMModel, ProviderAccount
home = ProviderAccount(provider_type="custom_openai_compatible", display_name="Sim",
                       region_base_urls={"eu": "%(eu)s/v1"})
home.credentials = {"base_url": "%(home)s/v1", "api_key": "sk-regions"}
home.save()
LLMModel.objects.bulk_create(
    LLMModel(provider_account=home, enabled_for_monitoring=True,
             model_id=f"sim/ttft=5/itl=1/n=3/seed={i}")
    for i in range(%(models)d)
)
split = ProviderAccount(provider_type="custom_openai_compatible", display_name="Split",
                        region_base_urls={"eu": "http://127.0.0.1:9/v1"})
split.credentials = {"base_url": "%(home)s/v1", "api_key": "sk-split"}
split.save()
down_in_eu = LLMModel.objects.create(provider_account=split, enabled_for_monitoring=True,
                                     model_id="sim/ttft=5/itl=1/n=3", custom_name="Split model")
config = MonitoringConfig.get()
config.enabled, config.concurrency_per_account, config.timeout_seconds = False, 32, 5
config.save()
from django.contrib.auth.models import User
from arguslm import tokens
user = User.objects.create_superuser("regions", "regions@x.org", "pw-regions-123")
print(json.dumps({"token": tokens.issue(user=user, name="regions")[1],
                  "split": str(down_in_eu.id)}))
"""


class Regions:
    """The deployment: processes by name, each logging to ``<name>.log`` in ``tmp``."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_name = f"arguslm_regions_{os.getpid()}"
        self.redis_base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
        self.env = {
            **os.environ,
            "ARGUSLM_DATA_DIR": str(tmp),
            "ARGUSLM_DEMO": "false",
            "ARGUSLM_WORKERS": "1",
            "ARGUSLM_PROBE_RATE": str(RATE),
            "LOG_LEVEL": "INFO",
            "DJANGO_SETTINGS_MODULE": "arguslm.settings",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": _fresh_postgres(os.environ["DATABASE_URL"], self.db_name),
            "REDIS_URL": f"{self.redis_base}/{REDIS_DB}",
            "ARGUSLM_CACHE_URL": f"{self.redis_base}/{CACHE_DB}",
        }
        self.env.pop("ARGUSLM_REGION", None)
        self.procs: dict[str, subprocess.Popen] = {}
        self.token = self.split = ""
        self.sims: dict[str, str] = {}

    def spawn(self, name: str, args: list[str], **env: str) -> None:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        self.procs[name] = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches every child
        )

    def manage(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, f"manage.py {args[0]} failed:\n{out.stdout}\n{out.stderr}"
        return out.stdout

    def start(self) -> "Regions":
        import redis

        for db in (REDIS_DB, CACHE_DB):
            redis.Redis.from_url(f"{self.redis_base}/{db}").flushdb()
        for region, distance in (("home", 0), ("eu", EU_DISTANCE_MS)):
            port = free_port()
            self.sims[region] = f"http://127.0.0.1:{port}"
            self.spawn(
                f"sim-{region}",
                [
                    sys.executable,
                    "manage.py",
                    "llmsim",
                    "--port",
                    str(port),
                    "--distance-ms",
                    str(distance),
                ],
            )
        self.manage("migrate", "--noinput", "-v", "0")
        out = self.manage(
            "shell",
            "-c",
            SETUP % {"home": self.sims["home"], "eu": self.sims["eu"], "models": MODELS},
        )
        created = json.loads(out.strip().splitlines()[-1])
        self.token, self.split = created["token"], created["split"]
        self.spawn(
            "web",
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "arguslm.asgi:application",
            ],
        )
        qcluster = [sys.executable, "manage.py", "qcluster"]
        self.spawn("home", qcluster)
        # eu's workers are "other machines": a data directory of their own (so a SECRET_KEY
        # of their own), given only the database and Redis URLs and the encryption key.
        key = (self.tmp / "encryption_key").read_text().strip()
        for name in ("eu-1", "eu-2"):
            (self.tmp / name).mkdir()
            self.spawn(
                name,
                qcluster,
                ARGUSLM_REGION="eu",
                ARGUSLM_DATA_DIR=str(self.tmp / name),
                ARGUSLM_ENCRYPTION_KEY=key,
            )

        def ready():
            with contextlib.suppress(httpx.HTTPError):
                web = httpx.get(f"{self.url}/health", timeout=1).status_code == 200
                sims = all(
                    httpx.get(f"{u}/_sim/health", timeout=1).status_code == 200
                    for u in self.sims.values()
                )
                beating = {r for r, live in self.regions() if live} == {"default", "eu"}
                return web and sims and beating and self.beats("eu") >= 2
            return False

        wait_for(ready, timeout=60, what="web, simulators and three clusters")
        return self

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        drop_postgres(os.environ["DATABASE_URL"], self.db_name)

    def kill(self, name: str) -> float:
        """SIGKILL a process group, as a lost machine would; returns when (epoch seconds)."""
        killed_at = time.time()
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait()
        return killed_at

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    def beats(self, region: str) -> int:
        """Distinct clusters of ``region`` seen beating (their logs say so)."""
        names = [n for n in self.procs if n.startswith(region)]
        return sum("Probing from region" in self.log(n) for n in names)

    def sql(self, query: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.env["DATABASE_URL"]) as conn:
            return conn.execute(query, params).fetchall()

    def regions(self) -> list[tuple[str, bool]]:
        rows = self.sql(
            "SELECT name, last_seen_at >= now() - %s FROM monitoring_region ORDER BY name",
            STALE_AFTER,
        )
        return [(name, bool(live)) for name, live in rows]

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def request_pass(self) -> str:
        with self.api() as api:
            queued = api.post("/api/v1/monitoring/run")
        assert queued.status_code == 200, queued.text
        return queued.json()["run_id"]

    def run(self, run_id: str) -> dict:
        with self.api() as api:
            return api.get(f"/api/v1/monitoring/runs/{run_id}").json()

    def finished(self, run_id: str, *, timeout: float) -> dict:
        def done():
            run = self.run(run_id)
            return run if run["status"] not in ("queued", "running") else None

        return wait_for(done, timeout=timeout, what=f"pass {run_id} to finish")

    def checks(self, run_id: str, region: str) -> dict[str, int]:
        rows = self.sql(
            "SELECT model_id::text, count(*) FROM monitoring_uptimecheck "
            "WHERE run_id = %s AND region = %s GROUP BY model_id",
            run_id,
            region,
        )
        return dict(rows)

    def eu_checks_stored(self, run_id: str) -> int:
        return sum(self.checks(run_id, "eu").values())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    server = Regions(tmp_path_factory.mktemp("regions"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _clear_cache():
    """These tests use no in-process cache (their servers have Redis databases of their own)."""


def monitored(deployment) -> set[str]:
    return {r[0] for r in deployment.sql("SELECT id::text FROM providers_llmmodel")}


def test_1_a_pass_checks_every_model_once_from_each_region(deployment):
    run_id = deployment.request_pass()
    run = deployment.finished(run_id, timeout=90)

    assert run["status"] == "completed", run
    every = monitored(deployment)
    for region in ("default", "eu"):
        per_model = deployment.checks(run_id, region)
        assert set(per_model) == every, f"{region}: models without a check"
        assert set(per_model.values()) == {1}, f"{region}: models checked twice"
    # eu is 80 ms farther: its TTFTs show it.
    medians = dict(
        deployment.sql(
            "SELECT region, percentile_cont(0.5) WITHIN GROUP (ORDER BY ttft_ms) "
            "FROM monitoring_uptimecheck WHERE run_id = %s AND error_type IS NULL "
            "GROUP BY region",
            run_id,
        )
    )
    assert medians["eu"] - medians["default"] > EU_DISTANCE_MS * 0.75, medians
    # Down in eu only: up by the regions' agreement, down in eu's own status.
    split = deployment.split
    assert deployment.sql(
        "SELECT status FROM monitoring_modelstatus WHERE model_id = %s", split
    ) == [("up",)]
    by_region = dict(
        deployment.sql(
            "SELECT region, status FROM monitoring_regionstatus WHERE model_id = %s", split
        )
    )
    assert by_region == {"default": "up", "eu": "down"}
    page = dashboard(deployment, "/dashboard?q=Split")
    assert 'data-region="eu"' in page, "the dashboard does not list the regions"
    assert "down in eu" in page, "the dashboard does not note where the model is down"


def dashboard(deployment, path: str) -> str:
    with httpx.Client(base_url=deployment.url, timeout=30) as browser:
        form = browser.get("/login")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
        login = browser.post(
            "/login",
            data={
                "username": "regions",
                "password": "pw-regions-123",
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": f"{deployment.url}/login"},
        )
        assert login.status_code in (302, 303), login.text[:500]
        return browser.get(path).text


def test_2_a_killed_worker_s_shard_is_finished_by_the_other_worker_of_its_region(deployment):
    requested_at = time.time()
    run_id = deployment.request_pass()
    shard_task = f"processing monitoring-shard-{run_id}"
    probing = wait_for(
        lambda: next((n for n in ("eu-1", "eu-2") if shard_task in deployment.log(n)), None),
        timeout=30,
        what="an eu cluster to take the shard",
    )
    wait_for(
        lambda: deployment.eu_checks_stored(run_id) >= MODELS // 4,
        timeout=30,
        what="a quarter of eu's checks to be stored",
    )
    killed_at = deployment.kill(probing)
    survivor = "eu-2" if probing == "eu-1" else "eu-1"

    run = deployment.finished(run_id, timeout=60)

    assert run["status"] == "completed", run
    per_model = deployment.checks(run_id, "eu")
    assert set(per_model) == monitored(deployment), "models without an eu check"
    assert set(per_model.values()) == {1}, "models checked twice from eu"
    assert shard_task in deployment.log(survivor), "the other eu cluster did not take over"
    # Finished probes lost: models eu's simulator answered twice in this pass (the killed
    # worker's answer never stored), answered before the kill.
    with httpx.Client() as sim:
        records = sim.get(f"{deployment.sims['eu']}/_sim/requests?limit=10000").json()
    answered: dict[str, list[float]] = {}
    for record in records["requests"]:
        if record["received_at"] >= requested_at and record["outcome"] == "ok":
            answered.setdefault(record["model"], []).append(record["received_at"])
    lost = sorted(min(times) for times in answered.values() if len(times) > 1)
    lost = [t for t in lost if t < killed_at]
    window = killed_at - lost[0] if lost else 0.0
    print(f"eu worker killed: {len(lost)} finished probes lost, within {window:.2f} s of the kill")
    assert window <= 1.5, f"{len(lost)} finished probes lost over {window:.2f} s"


def test_3_killing_a_region_s_workers_loses_no_other_region_s_checks(deployment):
    survivor = next(n for n in ("eu-1", "eu-2") if deployment.procs[n].poll() is None)
    run_id = deployment.request_pass()
    wait_for(
        lambda: deployment.eu_checks_stored(run_id) >= 1,
        timeout=30,
        what="eu's first checks",
    )
    killed_at = time.monotonic()
    deployment.kill(survivor)

    wait_for(
        lambda: ("eu", False) in deployment.regions(),
        timeout=2 * STALE_AFTER.total_seconds(),
        what="eu to turn stale",
    )
    stale_after_s = time.monotonic() - killed_at
    run = deployment.finished(run_id, timeout=60)

    print(f"eu's workers killed: region stale after {stale_after_s:.1f} s")
    assert run["status"] == "completed", run
    per_model = deployment.checks(run_id, "default")
    assert set(per_model) == monitored(deployment) and set(per_model.values()) == {1}
    assert deployment.regions() == [("default", True), ("eu", False)]
    row = deployment.sql("SELECT message FROM monitoring_monitoringrun WHERE id = %s", run_id)
    assert row == [("Not probed from eu: the region's workers stopped.",)]
