"""The one API router: every app registers its viewsets here (paths without trailing slash)."""

from rest_framework.routers import SimpleRouter

from alerts.api import AlertRuleViewSet, AlertViewSet
from benchmarks.api import BenchmarkViewSet
from benchmarks.saved_api import BenchmarkTemplateViewSet
from dashboard.api import IdentityViewSet, StatusPageViewSet
from monitoring.api import (
    MaintenanceWindowViewSet,
    MonitoringViewSet,
    RegionViewSet,
    SloViewSet,
)
from providers.api import ModelViewSet, ProviderViewSet

router = SimpleRouter(trailing_slash=False)
router.register("providers", ProviderViewSet, basename="provider")
router.register("models", ModelViewSet, basename="model")
router.register("maintenance-windows", MaintenanceWindowViewSet, basename="maintenance-window")
router.register("slos", SloViewSet, basename="slo")
router.register("monitoring", MonitoringViewSet, basename="monitoring")
router.register("regions", RegionViewSet, basename="region")
router.register("benchmarks", BenchmarkViewSet, basename="benchmark")
router.register("benchmark-templates", BenchmarkTemplateViewSet, basename="benchmark-template")
# alerts/rules before alerts, so "rules" is never read as an alert id.
router.register("alerts/rules", AlertRuleViewSet, basename="alert-rule")
router.register("alerts", AlertViewSet, basename="alert")
router.register("status-pages", StatusPageViewSet, basename="status-page")
router.register("identities", IdentityViewSet, basename="identity")

urlpatterns = [*router.urls]
