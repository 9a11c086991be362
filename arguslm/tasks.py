"""Background tasks of the system itself (run by django-q2)."""

from django.utils import timezone

from arguslm.models import Heartbeat


def heartbeat(name: str = "qcluster") -> None:
    """Record that a worker is alive and consuming the queue (``/ready`` checks it)."""
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})
