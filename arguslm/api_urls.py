"""The one API router: every app registers its viewsets here (paths without trailing slash)."""

from rest_framework.routers import SimpleRouter

from benchmarks.api import BenchmarkViewSet
from monitoring.api import MonitoringViewSet
from providers.api import ModelViewSet, ProviderViewSet

router = SimpleRouter(trailing_slash=False)
router.register("providers", ProviderViewSet, basename="provider")
router.register("models", ModelViewSet, basename="model")
router.register("monitoring", MonitoringViewSet, basename="monitoring")
router.register("benchmarks", BenchmarkViewSet, basename="benchmark")

urlpatterns = [*router.urls]
