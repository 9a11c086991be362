"""ASGI entry point: HTTP through Django, WebSockets through Channels (daphne serves both)."""

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
