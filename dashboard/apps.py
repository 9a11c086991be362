from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The cross-domain pages (overview, model detail) and the Prometheus export: the one app
    that reads every domain app, and that none of them imports."""

    name = "dashboard"
    default_auto_field = "django.db.models.BigAutoField"
