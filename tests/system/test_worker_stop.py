"""A worker stops within seconds however it is signalled (arguslm/management/commands/qcluster.py).

systemd's default stop and ``kill -TERM -<pgid>`` send SIGTERM to every process of the cluster
at once; django-q2's own command then hung forever after "stopping".
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.live


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def _wait_for(log: Path, text: str, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not logged within {timeout} s:\n{log.read_text()[-3000:]}")


def _group_gone_within(proc: subprocess.Popen, seconds: float) -> float | None:
    """Seconds until no process of the cluster's group is left, or None after ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        proc.poll()  # reap the main process: a zombie still counts as one of the group
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return time.monotonic() - start
        time.sleep(0.1)
    return None


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """A data directory (embedded SQLite, keys) migrated once for the module's clusters."""
    data = tmp_path_factory.mktemp("worker-data")
    _manage({**_embedded_env(), "ARGUSLM_DATA_DIR": str(data)}, "migrate", "-v0")
    return data


def _embedded_env() -> dict:
    drop = ("DATABASE_URL", "REDIS_URL", "ARGUSLM_CACHE_URL")
    return {key: value for key, value in os.environ.items() if key not in drop}


@pytest.fixture
def cluster(migrated, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(migrated, data)
    env = {**_embedded_env(), "ARGUSLM_DATA_DIR": str(data), "ARGUSLM_WORKERS": "1"}
    log = tmp_path / "qcluster.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,  # its own group, as under a process manager
        )
    _wait_for(log, "Gateway warmed in")  # the worker waits for tasks
    yield proc, env, log
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_sigterm_to_the_whole_group_stops_an_idle_worker_gracefully(cluster):
    proc, _, log = cluster
    os.killpg(proc.pid, signal.SIGTERM)
    took = _group_gone_within(proc, 12)
    assert took is not None, "the cluster did not stop within 12 s"
    assert proc.wait(timeout=5) == 0
    assert "has stopped" in log.read_text()
    assert "did not stop within" not in log.read_text()  # no force was needed


def test_sigterm_to_the_whole_group_stops_a_busy_worker_within_seconds(cluster):
    proc, env, log = cluster
    _manage(
        env, "shell", "-c", "from django_q.tasks import async_task; async_task('time.sleep', 300)"
    )
    _wait_for(log, "processing", timeout=30)
    os.killpg(proc.pid, signal.SIGTERM)
    took = _group_gone_within(proc, 15)
    assert took is not None, "the cluster did not stop within 15 s"
    assert "did not stop within 8 s (a task still running)" in log.read_text()
