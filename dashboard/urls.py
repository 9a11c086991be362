"""Page URLs of the dashboard, its live parts, the model page, the Prometheus export and the
status pages with their badges (included at the site root). ``/models/…`` belongs to the
Providers app, so the model page lives under ``/monitoring/models/``.
"""

from django.urls import path

from dashboard import status_views, views
from dashboard.metrics import metrics

urlpatterns = [
    path("metrics", metrics, name="metrics"),
    path("dashboard", views.dashboard, name="dashboard"),
    path("dashboard/live", views.dashboard_live, name="dashboard-live"),
    path("dashboard/comparison", views.dashboard_comparison, name="dashboard-comparison"),
    path("dashboard/chart.json", views.dashboard_chart, name="dashboard-chart"),
    path("dashboard/demo", views.dashboard_demo, name="dashboard-demo"),
    path("monitoring/models/<uuid:model_id>", views.model_detail_page, name="model-detail"),
    path("across", views.across_page, name="across"),
    path(
        "across/<str:identity>/litellm.yaml",
        views.across_litellm_config,
        name="across-litellm-config",
    ),
    path("monitoring/models/<uuid:model_id>/identity", views.model_identity, name="model-identity"),
    path(
        "monitoring/models/<uuid:model_id>/baseline",
        views.model_baseline_accept,
        name="model-baseline-accept",
    ),
    path("status/<str:slug>", status_views.status_page_public, name="status-page-public"),
    path(
        "badge/<uuid:model_id>/uptime.svg",
        status_views.badge,
        {"kind": "uptime"},
        name="badge-uptime",
    ),
    path("badge/<uuid:model_id>/ttft.svg", status_views.badge, {"kind": "ttft"}, name="badge-ttft"),
    path("status-pages", status_views.status_pages, name="status-pages"),
    path("status-pages/new", status_views.status_page_create, name="status-page-create"),
    path("status-pages/<uuid:page_id>", status_views.status_page_edit, name="status-page"),
    path(
        "status-pages/<uuid:page_id>/delete",
        status_views.status_page_delete,
        name="status-page-delete",
    ),
]
