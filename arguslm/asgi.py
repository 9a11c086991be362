"""ASGI entry point: HTTP through Django, WebSockets through Channels (daphne serves both)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arguslm.settings")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import CookieMiddleware, SessionMiddleware  # noqa: E402

from arguslm.auth import BrowserOriginValidator, TokenAuthMiddleware  # noqa: E402
from arguslm.keys import verify_encryption_key  # noqa: E402
from arguslm.limits import BodyLimitMiddleware  # noqa: E402
from arguslm.routing import websocket_urlpatterns  # noqa: E402

verify_encryption_key()  # a wrong key stops the server here, loudly


def freeze_startup_objects() -> None:
    """Import every view now (not on the first request), then move what the process has
    loaded, which lives as long as it does, out of the garbage collector's reach: a full
    collection then no longer walks it in the middle of a request (``status_bench``: uncached
    status page p95 118 ms → 49 ms, the same p50; the workers do the same, arguslm.llm.warm).
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the attribute imports the URLconf's views
    gc.collect()
    gc.freeze()


freeze_startup_objects()

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(django_asgi_app),  # before Django reads the body
        "websocket": BrowserOriginValidator(
            CookieMiddleware(
                SessionMiddleware(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
            )
        ),
    }
)
