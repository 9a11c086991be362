import pytest


@pytest.fixture
def sync_tasks(monkeypatch):
    """Run django-q2 tasks inline (the worker's code path, without a cluster)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
