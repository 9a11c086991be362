"""Shared fixtures: users, authenticated API clients, and the LLM simulator over real HTTP."""

import os

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

# The tests point every provider type (and the webhooks) at servers on 127.0.0.1, which the
# network policy allows by default only for local provider types: here it is allowed for all,
# in this process and in the server processes the live tests start. Tests of the policy set
# it back to false (docs/network-policy.md).
os.environ["ARGUSLM_ALLOW_PRIVATE_NETWORKS"] = "true"


@pytest.fixture(autouse=True)
def _allow_private_networks(settings):
    settings.ARGUSLM_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def user(db):
    """Alice, an admin (arguslm.roles): the tests of a role's limits make their own users."""
    from arguslm import roles

    alice = get_user_model().objects.create_user("alice", "alice@example.com", "pw-alice-123")
    roles.assign(alice, roles.ADMIN)
    return alice


@pytest.fixture
def token(user):
    from arguslm import tokens

    return tokens.issue(user=user, name="test")[1]


@pytest.fixture
def api(token):
    """An API client authenticated with a Bearer token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def logged_in(client, user):
    """The Django test client with a logged-in session (for the pages)."""
    client.force_login(user)
    return client


@pytest.fixture
def sync_tasks(monkeypatch):
    """Run django-q2 tasks inline (the worker's code path, without a cluster or a broker)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def anon(db):
    return APIClient()


@pytest.fixture(scope="session")
def llmsim():
    """The project's LLM simulator, listening on a free port for the whole session."""
    from arguslm.llmsim.server import start_in_thread

    url, stop = start_in_thread(host="127.0.0.1", port=0, seed=0)
    yield url
    stop()


@pytest.fixture(scope="session")
def live(llmsim, tmp_path_factory):
    """A real ArgusLM (daphne + qcluster processes) on its own database, for the session."""
    from tests.live_server import SDK_PYTHON, LiveServer

    if not SDK_PYTHON.exists():
        pytest.skip("the arguslm SDK venv is missing: run `make sdk-venv` (make test does)")
    server = LiveServer(tmp_path_factory.mktemp("live"), llmsim_url=llmsim).start()
    yield server
    server.stop()
