"""WebSocket routes (Channels)."""

from django.urls import re_path

from benchmarks.live import BenchmarkStreamConsumer

websocket_urlpatterns = [
    re_path(r"^api/v1/benchmarks/(?P<run_id>[^/]+)/stream$", BenchmarkStreamConsumer.as_asgi()),
]
