"""Read load on the API and the dashboard while monitoring passes run (prints figures; not a test).

    export ARGUSLM_DATA_DIR=$(mktemp -d)      # a throwaway instance (recommended)
    .venv/bin/python manage.py migrate -v 0
    .venv/bin/python manage.py load_bench [--seconds 60] [--concurrency 8] [--models 1000]

Loopback only and bounded (at most 600 s of load plus 300 s waiting for the pass, 64 readers,
5,000 models, 500,000 requests); it stops by itself. Against the current database and broker
(``DATABASE_URL`` and ``REDIS_URL`` when set, else the SQLite file in ``ARGUSLM_DATA_DIR``)
it starts the LLM simulator in its own process (``arguslm.llmsim.server.start_in_process``), one
daphne on a free loopback port and one ``qcluster``, both with this environment. It creates N
monitored models on 20 simulator accounts (TTFT 500 ms, 30 tokens:
``sim/ttft=500/itl=15/n=30/seed=<i>``), sets the monitoring interval to 1 minute, triggers a
pass with ``POST /api/v1/monitoring/run`` and, while it runs, drives a closed-loop read load
(``--concurrency`` readers, each sending its next request when the previous one answered):

    GET /api/v1/monitoring/uptime?limit=100   GET /api/v1/models?limit=50
    GET /api/v1/benchmarks                    GET /api/v1/alerts/recent
    GET /dashboard (a logged-in session cookie; the API calls carry a Bearer token)

The load lasts ``--seconds``, longer if the triggered pass has not finished by then;
``--concurrency 0`` runs the same pass without readers, as a baseline. With a 1-minute
interval the schedule may start more passes during the load (or skip them while one runs):
every pass that started during the load is reported.

Printed: per endpoint the requests, error rate and p50/p95/p99 latency (as the load client
on the same machine saw it); overall requests/s; the CPU each process used during the load
and what the rest of the machine used (Linux); per pass probes/min and the TTFT error
p50/p99 (a check's ``ttft_ms`` − 500), the probes' target being p99 ≤ 10 ms at 1,000/min.

At the end it removes what it created (models, accounts, their checks, the passes and their
django-q2 task rows, the user, token and session) and restores the monitoring settings and
schedules. The audit events of the setup stay: the audit log is append-only.
"""

import asyncio
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from arguslm.llmsim.server import free_port, start_in_process
from arguslm.stats import percentile

TTFT_MS = 500
ACCOUNTS = 20
MAX_REQUESTS = 500_000
PASS_GRACE_S = 300  # the load waits at most this long past --seconds for the triggered pass
ENDPOINTS = [
    ("GET /api/v1/monitoring/uptime?limit=100", "/api/v1/monitoring/uptime?limit=100", "api"),
    ("GET /api/v1/models?limit=50", "/api/v1/models?limit=50", "api"),
    ("GET /api/v1/benchmarks", "/api/v1/benchmarks", "api"),
    ("GET /api/v1/alerts/recent", "/api/v1/alerts/recent", "api"),
    ("GET /dashboard", "/dashboard", "page"),
]
CONFIG_FIELDS = (
    "interval_minutes",
    "enabled",
    "concurrency_per_account",
    "max_tokens",
    "timeout_seconds",
    "last_run_at",
)


def cpu_snapshot(roles: dict[str, int]) -> dict | None:
    """CPU seconds used so far by each role's process tree, and by the whole machine (Linux
    /proc; None elsewhere). Children that exited in between are not counted."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        parent, used = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            pid = int(entry)
            parent[pid] = int(fields[1])
            used[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        # user nice system idle iowait irq softirq steal: busy = user..system + irq + softirq
        cpu = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        busy = (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]) / tick
        steal = cpu[7] / tick  # time the hypervisor gave to other guests
    except (OSError, ValueError, IndexError):
        return None

    roots = set(roles.values())

    def tree(root: int) -> float:  # a role's processes: not the subtrees of other roles
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += used.get(pid, 0.0)
            todo.extend(c for c, up in parent.items() if up == pid and c not in roots)
        return total

    roles_used = {role: tree(pid) for role, pid in roles.items()}
    return {"roles": roles_used, "machine": busy, "steal": steal}


def cpu_usage(before: dict | None, after: dict | None, seconds: float) -> dict | None:
    """Average CPUs used per role over the window, and by everything else on the machine."""
    if not before or not after or seconds <= 0:
        return None
    roles = {r: (after["roles"][r] - before["roles"][r]) / seconds for r in after["roles"]}
    machine = (after["machine"] - before["machine"]) / seconds
    steal = (after["steal"] - before["steal"]) / seconds
    return {"roles": roles, "others": max(0.0, machine - sum(roles.values())), "steal": steal}


def bounded(low: int, high: int):
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    parse.__name__ = f"integer {low}-{high}"
    return parse


class Command(BaseCommand):
    help = "Drive a read load on the API and dashboard while a monitoring pass runs."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=bounded(1, 600), default=60)
        parser.add_argument(
            "--concurrency", type=bounded(0, 64), default=8, help="readers (0: a baseline)"
        )
        parser.add_argument("--models", type=bounded(1, 5000), default=1000)

    def handle(self, *args, seconds, concurrency, models, **options):
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError(
                "The database is not fully migrated: run `manage.py migrate` first "
                "(ARGUSLM_DATA_DIR=$(mktemp -d) gives a throwaway instance)."
            )
        self.logs = Path(tempfile.mkdtemp(prefix="arguslm-load-bench-"))
        self.procs: list[subprocess.Popen] = []
        created: dict = {}  # filled as things are created, so a failure still cleans up
        try:
            sim_url, sim = start_in_process()
            self.procs.append(sim)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            web = self.spawn(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "arguslm.asgi:application",
                ],
                "daphne.log",
            )
            qcluster = self.spawn([sys.executable, "manage.py", "qcluster"], "qcluster.log")
            self.roles = {
                "web (daphne)": web.pid,
                "worker (qcluster)": qcluster.pid,
                "simulator": sim.pid,
                "load client": os.getpid(),
            }
            self.setup(created, sim_url, models)
            self.wait_ready(base)
            self.bench(base, created, seconds, concurrency, models)
            self.stop_cluster(qcluster, created)
        finally:
            for proc in reversed(self.procs):
                if proc.poll() is None:
                    proc.terminate()
            for proc in self.procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            if created:
                self.restore_settings(created)
                self.cleanup(created)

    # --- processes ------------------------------------------------------------------------

    def spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "ARGUSLM_DATA_DIR": str(settings.DATA_DIR),
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "arguslm.settings"),
            "PYTHONUNBUFFERED": "1",
        }
        log = open(self.logs / log_name, "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            args, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def wait_ready(self, base: str) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                break
            try:
                web = httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                web = False
            if web and "running" in (self.logs / "qcluster.log").read_text():
                return
            time.sleep(0.2)
        raise CommandError(f"daphne or qcluster did not start: see the logs in {self.logs}")

    def wait_for_passes(self, created: dict, timeout: float = 120) -> None:
        """Wait (bounded) until no pass created since the start is queued or running."""
        from monitoring.models import MonitoringRun

        active = MonitoringRun.objects.filter(
            created_at__gte=created["t0"],
            status__in=[MonitoringRun.Status.QUEUED, MonitoringRun.Status.RUNNING],
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and active.exists():
            time.sleep(0.5)

    def stop_cluster(self, qcluster: subprocess.Popen, created: dict) -> None:
        """Let passes still running finish (bounded), then stop the cluster gracefully."""
        self.wait_for_passes(created)
        qcluster.terminate()

    # --- data -----------------------------------------------------------------------------

    def setup(self, created: dict, sim_url: str, count: int) -> None:
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django_q.models import Schedule

        from arguslm import tokens
        from arguslm.schedules import PREFIX, reconcile
        from monitoring.models import MonitoringConfig
        from providers.models import LLMModel, ProviderAccount

        tag = f"load-bench-{os.getpid()}"
        config = MonitoringConfig.get()
        created["t0"] = timezone.now()
        created["config"] = {f: getattr(config, f) for f in CONFIG_FIELDS}
        created["schedules"] = {
            s.name: (s.func, s.minutes, s.next_run, s.repeats)
            for s in Schedule.objects.filter(name__startswith=PREFIX)
        }
        created.update(accounts=[], models=[])
        user = get_user_model().objects.create_superuser(tag, f"{tag}@localhost", None)
        created["user"] = user.pk
        created["token"] = tokens.issue(user=user, name="load_bench")[1]
        browser = Client()
        browser.force_login(user)
        created["session"] = browser.cookies[settings.SESSION_COOKIE_NAME].value

        accounts = []
        for i in range(min(ACCOUNTS, count)):
            account = ProviderAccount(
                provider_type="custom_openai_compatible", display_name=f"{tag} {i + 1}"
            )
            account.credentials = {"base_url": f"{sim_url}/v1"}
            account.save()
            accounts.append(account)
            created["accounts"].append(account.pk)
        rows = LLMModel.objects.bulk_create(
            LLMModel(
                provider_account=accounts[i % len(accounts)],
                enabled_for_monitoring=True,
                model_id=f"sim/ttft={TTFT_MS}/itl=15/n=30/seed={i}",
            )
            for i in range(count)
        )
        created["models"] = [m.pk for m in rows]

        # Monitoring every minute; enough concurrency per account that probes do not queue.
        config.interval_minutes = 1
        config.enabled = True
        config.concurrency_per_account = min(256, max(8, math.ceil(count / len(accounts))))
        config.max_tokens, config.timeout_seconds = 64, 30
        config.save()
        reconcile()  # as the API does after a settings change

    def restore_settings(self, created: dict) -> None:
        """Monitoring settings and django-q2 schedules as they were before (idempotent)."""
        from django_q.models import Schedule

        from arguslm.schedules import PREFIX
        from monitoring.models import MonitoringConfig

        if "schedules" not in created:
            return
        connections.close_all()  # a fresh connection after the long run
        MonitoringConfig.objects.filter(pk=MonitoringConfig.get().pk).update(**created["config"])
        before = created["schedules"]
        for schedule in Schedule.objects.filter(name__startswith=PREFIX):
            if schedule.name not in before:
                schedule.delete()
            else:
                schedule.func, schedule.minutes, schedule.next_run, schedule.repeats = before[
                    schedule.name
                ]
                schedule.save()

    def cleanup(self, created: dict) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.sessions.models import Session
        from django_q.models import Task

        from monitoring.models import MonitoringRun
        from providers.models import LLMModel, ProviderAccount

        runs = list(
            MonitoringRun.objects.filter(created_at__gte=created["t0"]).values_list("id", flat=True)
        )
        models = created.get("models", [])
        for i in range(0, len(models), 500):
            LLMModel.objects.filter(pk__in=models[i : i + 500]).delete()
        ProviderAccount.objects.filter(pk__in=created.get("accounts", [])).delete()
        MonitoringRun.objects.filter(pk__in=runs).delete()
        names = [f"{kind}-{run}" for run in runs for kind in ("monitoring-pass", "alerts")]
        names += [f"monitoring-shard-{run}" for run in runs]
        Task.objects.filter(name__in=names).delete()
        Task.objects.filter(
            func="monitoring.tasks.scheduled_pass", started__gte=created["t0"]
        ).delete()
        Session.objects.filter(session_key=created.get("session")).delete()
        get_user_model().objects.filter(pk=created.get("user")).delete()
        self.stdout.write(f"cleaned up: {len(models)} models, {len(runs)} passes")

    # --- the load -------------------------------------------------------------------------

    def bench(self, base: str, created: dict, seconds: int, concurrency: int, count: int):
        from monitoring.models import MonitoringRun

        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        broker = "redis" if settings.REDIS_URL else "orm"
        cpus = os.cpu_count()
        self.stdout.write(
            f"load_bench: {count} models on {len(created['accounts'])} simulator accounts, "
            f"interval 1 min; {concurrency} readers for {seconds} s "
            f"(database {db}, broker {broker}, {cpus} CPUs; logs in {self.logs})"
        )
        samples, window, run_id = asyncio.run(self.drive(base, created, seconds, concurrency))
        self.report_load(samples, window)
        self.report_cpu(created.get("cpu"))
        # No more scheduled passes; every pass that started during the load is reported (the
        # triggered one may have run longer than the load).
        self.restore_settings(created)
        self.wait_for_passes(created)
        runs = MonitoringRun.objects.filter(created_at__gte=created["t0"]).order_by("created_at")
        runs = [r for r in runs if str(r.id) == run_id or r.created_at <= created["load_end"]]
        self.report_passes(runs, set(created["models"]), run_id)

    async def drive(self, base: str, created: dict, seconds: int, concurrency: int):
        api_headers = {"Authorization": f"Bearer {created['token']}"}
        page_headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={created['session']}"}
        samples: dict[str, list] = {name: [] for name, _, _ in ENDPOINTS}
        limits = httpx.Limits(max_connections=concurrency + 1, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
            queued = await client.post("/api/v1/monitoring/run", headers=api_headers)
            if queued.status_code != 200:
                raise CommandError(f"could not trigger a pass: {queued.status_code} {queued.text}")
            run_id = queued.json()["run_id"]
            loop = asyncio.get_running_loop()
            cpu_before = cpu_snapshot(self.roles)
            start = loop.time()
            stop_at = start + seconds
            hard_stop = stop_at + PASS_GRACE_S
            state = {"pass_done": False, "requests": 0}

            async def watch():
                while not state["pass_done"]:
                    await asyncio.sleep(0.5)
                    try:
                        answer = await client.get(
                            f"/api/v1/monitoring/runs/{run_id}", headers=api_headers
                        )
                        status = answer.json().get("status")
                    except (httpx.HTTPError, ValueError):
                        continue
                    state["pass_done"] = status not in ("queued", "running")

            def keep_going() -> bool:
                now = loop.time()
                if now >= hard_stop or state["requests"] >= MAX_REQUESTS:
                    return False
                return now < stop_at or not state["pass_done"]

            async def reader(index: int):
                turn = index
                while keep_going():
                    name, path, kind = ENDPOINTS[turn % len(ENDPOINTS)]
                    turn += 1
                    state["requests"] += 1
                    began = time.perf_counter()
                    try:
                        response = await client.get(
                            path, headers=api_headers if kind == "api" else page_headers
                        )
                        ok = response.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    samples[name].append(((time.perf_counter() - began) * 1000, ok))

            watcher = asyncio.create_task(watch())
            await asyncio.gather(*(reader(i) for i in range(concurrency)))
            while keep_going():  # --concurrency 0: no readers, the pass alone (a baseline)
                await asyncio.sleep(0.1)
            window = loop.time() - start
            created["load_end"] = timezone.now()
            created["cpu"] = cpu_usage(cpu_before, cpu_snapshot(self.roles), window)
            watcher.cancel()
        return samples, window, run_id

    # --- reports --------------------------------------------------------------------------

    def report_load(self, samples: dict, window: float) -> None:
        write = self.stdout.write
        if not any(samples.values()):
            write(f"no read load (--concurrency 0): the pass alone, {window:.1f} s")
            return
        write(
            f"{'endpoint':<42}{'requests':>9}{'errors':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        )
        total = failed = 0
        for name, values in samples.items():
            latencies = [ms for ms, _ in values]
            errors = sum(1 for _, ok in values if not ok)
            total, failed = total + len(values), failed + errors
            rate = errors / len(values) * 100 if values else 0.0
            p50, p95, p99 = (percentile(latencies, p) or 0.0 for p in (50, 95, 99))
            write(f"{name:<42}{len(values):>9}{rate:>8.2f}%{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}")
        write(
            f"overall: {total} requests in {window:.1f} s = {total / window:.1f} req/s, "
            f"{failed / max(total, 1) * 100:.2f} % errors"
        )

    def report_cpu(self, usage: dict | None) -> None:
        if not usage:
            return
        ours = ", ".join(f"{role} {cpus:.2f}" for role, cpus in usage["roles"].items())
        self.stdout.write(
            f"CPU during the load, in CPUs of {os.cpu_count()}: {ours}; "
            f"everything else on the machine {usage['others']:.2f} (hypervisor steal "
            f"{usage['steal']:.2f})"
        )

    def report_passes(self, runs: list, ours: set, run_id: str) -> None:
        from monitoring.models import UptimeCheck

        write = self.stdout.write
        write(
            "monitoring passes that started during the load "
            "(target: TTFT error p99 <= 10 ms at 1,000 probes/min):"
        )
        for run in runs:
            label = "triggered" if str(run.id) == run_id else run.trigger
            checks = list(
                UptimeCheck.objects.filter(run=run)
                .order_by("created_at")
                .values("model_id", "created_at", "ttft_ms", "error_type")
            )
            checks = [c for c in checks if c["model_id"] in ours]
            if not checks:
                write(f"  {label:<9} {run.status:<9} no checks ({run.message or 'none stored'})")
                continue
            ok = [c for c in checks if c["error_type"] is None and c["ttft_ms"] is not None]
            errors = [c["ttft_ms"] - TTFT_MS for c in ok]
            launch = (checks[-1]["created_at"] - checks[0]["created_at"]).total_seconds()
            took = run.duration_ms / 1000 if run.duration_ms is not None else float("nan")
            p50, p99 = percentile(errors, 50), percentile(errors, 99)
            figures = f"TTFT error p50 {p50:.2f} ms  p99 {p99:.2f} ms" if ok else "no ok probes"
            write(
                f"  {label:<9} {run.status:<9} {len(checks)} checks ({len(ok)} ok) in "
                f"{took:.1f} s, {run.shards_total} shards: "
                f"{len(checks) / max(launch, 1e-9) * 60:,.0f} probes/min; {figures}"
            )
