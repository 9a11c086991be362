"""Page URLs of the Monitoring page (included at the site root).

Names avoid the API router's ``monitoring-<action>`` names (monitoring-run, monitoring-config…)
and the paths avoid ``monitoring/models/``, which belongs to another page.
"""

from django.urls import path

from monitoring import pages

urlpatterns = [
    path("monitoring", pages.monitoring_page, name="monitoring"),
    path("monitoring/settings", pages.monitoring_save, name="monitoring-save"),
    path("monitoring/run-now", pages.monitoring_run_now, name="monitoring-run-now"),
    path("monitoring/live", pages.monitoring_live, name="monitoring-live"),
    path("monitoring/maintenance", pages.maintenance_add, name="maintenance-add"),
    path(
        "monitoring/maintenance/<uuid:window_id>/delete",
        pages.maintenance_delete,
        name="maintenance-delete",
    ),
    path("monitoring/toggle/<uuid:model_id>", pages.monitoring_toggle, name="monitoring-toggle"),
    path(
        "monitoring/account/<uuid:account_id>/all",
        pages.monitoring_account,
        name="monitoring-account-all",
    ),
]
