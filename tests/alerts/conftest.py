"""Fixtures shared by the alerts tests."""

import pytest

from tests.alerts.test_notifications import Receiver


@pytest.fixture
def receiver():
    """A local HTTP server that records what it receives and answers as scripted."""
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
