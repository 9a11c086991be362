"""Page URLs of the Monitoring page (included at the site root).

Names avoid the API router's ``monitoring-<action>`` names (monitoring-run, monitoring-config…)
and the paths avoid ``monitoring/models/``, which belongs to another page.
"""

from django.urls import path

from monitoring import pages, slo_pages

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
    path("slos", slo_pages.slos_page, name="slos"),
    path("slos/add", slo_pages.slo_add, name="slo-add"),
    path("slos/<uuid:slo_id>/delete", slo_pages.slo_delete, name="slo-delete"),
    path("monitoring/toggle/<uuid:model_id>", pages.monitoring_toggle, name="monitoring-toggle"),
    path("monitoring/bulk", pages.monitoring_bulk, name="monitoring-bulk"),
]
