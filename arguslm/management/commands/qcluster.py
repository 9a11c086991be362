"""``manage.py qcluster``: django-q2's worker cluster, started only with the right key, and
stopped within seconds however it is signalled.

A worker decrypts provider credentials; with a wrong ARGUSLM_ENCRYPTION_KEY the encrypted
fields hand back ciphertext, which the worker would then send to providers as API keys. So,
like daphne (arguslm.asgi) and bootstrap, the cluster checks the key before it starts.

Stopping. systemd (KillMode=control-group) and ``kill -TERM -<pgid>`` signal every process of
the cluster at once. django-q2's sentinel and workers then die on the spot (SIGTERM is their
default action), the sentinel possibly while holding the lock of the stop event, and the main
process, asked to stop by the same signal, blocks forever setting that event. Here only the
main process acts on SIGTERM: the sentinel and the processes it forks ignore it, so the
cluster stops as django-q2 means it to (pusher, then workers after their task, then the
monitor). A task still running after STOP_GRACE_S is not waited for: the cluster's processes
are killed and the command exits. Work of such a task is recovered as after a crash (monitoring
passes and benchmarks are closed by their heartbeats).

This command replaces django-q2's own: ``arguslm`` is listed before ``django_q`` in
INSTALLED_APPS, and the first app that provides a command wins.
"""

import contextlib
import logging
import os
import signal
import socket
import threading

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django_q import cluster
from django_q.management.commands import qcluster as django_q_command
from django_q.management.commands.qcluster import Command as ClusterCommand

from arguslm.keys import verify_encryption_key

log = logging.getLogger(__name__)

# systemd waits 90 s before SIGKILL (TimeoutStopSec); the README's unit sets 15 s. A graceful
# stop takes 1-4 s when no task runs.
STOP_GRACE_S = 8.0


class _Sentinel(cluster.Sentinel):
    def start(self):
        # Set here, after django-q2 restored SIGTERM's default in __init__, and inherited by
        # every process the sentinel forks (workers, monitor, pusher, their reincarnations).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        super().start()


class _Cluster(cluster.Cluster):
    """django-q2's cluster, with its region's keeper beating beside it; a stop that outlasts
    STOP_GRACE_S ends with SIGKILL to its processes."""

    stopping = False
    keeper: "Keeper | None" = None

    def start(self) -> int:
        pid = super().start()
        # After the sentinel is forked: a thread must never be copied into a fork.
        self.keeper = Keeper()
        self.keeper.start()
        return pid

    def sig_handler(self, signum, frame):
        if self.stopping:
            return  # the group's signal arrives once per process of it: one stop is enough
        self.stopping = True
        if self.keeper is not None:
            self.keeper.halt.set()
        timer = threading.Timer(STOP_GRACE_S, self.force_stop)
        timer.daemon = True
        timer.start()
        super().sig_handler(signum, frame)
        timer.cancel()

    def force_stop(self) -> None:
        processes = descendants(os.getpid())
        log.warning(
            "The worker cluster did not stop within %.0f s (a task still running): "
            "killing its %d processes.",
            STOP_GRACE_S,
            len(processes),
        )
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Keeper(threading.Thread):
    """The cluster's beat (settings.ARGUSLM_CLUSTER_BEAT: its region's heartbeat and shard
    takeover, monitoring.regions.cluster_beat), again after the seconds it answers. A database
    that is down is logged and tried again: the region shows stale meanwhile, and the
    cluster's tasks fail or wait as django-q2 decides."""

    RETRY_S = 5.0

    def __init__(self):
        super().__init__(name="region-keeper", daemon=True)
        self.halt = threading.Event()
        self.worker = f"{socket.gethostname()[:120]}:{os.getpid()}"

    def run(self) -> None:
        from django.conf import settings
        from django.db import connection
        from django.utils.module_loading import import_string

        beat = import_string(settings.ARGUSLM_CLUSTER_BEAT)
        log.info("Probing from region %s", settings.ARGUSLM_REGION)
        while not self.halt.is_set():
            try:
                wait = beat(self.worker)
            except Exception:
                log.exception("Region %s: heartbeat failed; trying again", settings.ARGUSLM_REGION)
                connection.close()
                wait = self.RETRY_S
            self.halt.wait(wait)
        connection.close()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc (children first found, then theirs)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Command(ClusterCommand):
    help = "Starts the django-q2 worker cluster, after checking the encryption key."

    def handle(self, *args, **options):
        try:
            verify_encryption_key()
        except ImproperlyConfigured as exc:
            raise CommandError(f"The worker cluster did not start: {exc}") from None
        # django-q2 forks ``cluster.Sentinel`` and its command builds ``Cluster()`` by the
        # name it imported: both are swapped for the classes above in this process.
        cluster.Sentinel = _Sentinel
        if django_q_command.Cluster is cluster.Cluster:  # not replaced already (tests do)
            django_q_command.Cluster = _Cluster
        super().handle(*args, **options)
