"""A real ArgusLM for tests: daphne (HTTP + WebSocket) and a django-q2 cluster as processes.

Used by the tests that drive the published ``arguslm`` SDK (its own venv, its own process)
and real WebSocket clients. The processes get their own data directory and database: a
fresh SQLite file, or a fresh PostgreSQL database when ``DATABASE_URL`` is set.
"""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from arguslm.llmsim.server import free_port

ROOT = Path(__file__).resolve().parent.parent
SDK_PYTHON = ROOT / ".sdk-venv" / "bin" / "python"


def _admin(url: str):
    """An autocommit connection to the database of ``url`` (to create or drop others)."""
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    return psycopg.connect(
        host=cfg["HOST"],
        port=cfg["PORT"] or 5432,
        user=cfg["USER"],
        dbname=cfg["NAME"],
        password=cfg.get("PASSWORD") or None,
        autocommit=True,
    )


def _fresh_postgres(url: str, name: str) -> str:
    with _admin(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres(url: str, name: str) -> None:
    """Drop a database made by _fresh_postgres (quietly: the server may be gone)."""
    import psycopg

    with contextlib.suppress(psycopg.Error), _admin(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for(predicate, *, timeout: float, what: str, every: float = 0.2):
    """``predicate()``'s first truthy value, asked every ``every`` s for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class LiveServer:
    """daphne + qcluster on a temporary database; ``url``, ``token``, ``sdk()``."""

    def __init__(self, tmp: Path, *, llmsim_url: str, worker: bool = True):
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ARGUSLM_DATA_DIR": str(tmp),
            "ARGUSLM_LLMSIM_URL": llmsim_url,
            "ARGUSLM_DEMO": "false",
            "DJANGO_SETTINGS_MODULE": "arguslm.settings",
            "PYTHONUNBUFFERED": "1",
        }
        if os.environ.get("DATABASE_URL"):
            self.env["DATABASE_URL"] = _fresh_postgres(
                os.environ["DATABASE_URL"], f"arguslm_live_{os.getpid()}"
            )
        if os.environ.get("REDIS_URL"):
            # A database of its own, so queued tasks never leak between runs.
            self.env["REDIS_URL"] = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/14"
        self.procs: list[subprocess.Popen] = []
        self.worker = worker
        self.token = ""

    def manage(self, *args: str, input: str | None = None) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def start(self) -> "LiveServer":
        if os.environ.get("REDIS_URL"):
            import redis

            redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()
        self.manage("migrate", "--noinput", "-v", "0")
        self.token = (
            self.manage(
                "shell",
                "-c",
                "from django.contrib.auth.models import User; from arguslm import tokens; "
                "u = User.objects.create_superuser('sdk', 'sdk@x.org', 'pw-sdk-12345');"
                "print(tokens.issue(user=u, name='sdk')[1])",
            )
            .strip()
            .splitlines()[-1]
        )
        log = open(self.tmp / "daphne.log", "w")  # noqa: SIM115 (closed with the process)
        self.procs.append(
            subprocess.Popen(
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
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        )
        if self.worker:
            qlog = open(self.tmp / "qcluster.log", "w")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=ROOT,
                    env=self.env,
                    stdout=qlog,
                    stderr=qlog,
                )
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("daphne did not start:\n" + (self.tmp / "daphne.log").read_text())

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    @property
    def sdk_base_url(self) -> str:
        """The URL form the published SDK can authenticate with (HTTP Basic userinfo)."""
        return f"http://token:{self.token}@127.0.0.1:{self.port}"

    def sdk(self, script: str, timeout: float = 120) -> str:
        """Run a script with the published ``arguslm`` SDK in its own venv; returns stdout."""
        out = subprocess.run(
            [str(SDK_PYTHON), "-c", script],
            env={**os.environ, "ARGUSLM_BASE_URL": self.sdk_base_url},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp,
        )
        if out.returncode != 0:
            raise AssertionError(f"SDK script failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )
