"""Page URLs of the dashboard, its live parts, the model page and the Prometheus export
(included at the site root). ``/models/…`` belongs to the Providers app, so the model page
lives under ``/monitoring/models/``.
"""

from django.urls import path

from dashboard import views
from dashboard.metrics import metrics

urlpatterns = [
    path("metrics", metrics, name="metrics"),
    path("dashboard", views.dashboard, name="dashboard"),
    path("dashboard/live", views.dashboard_live, name="dashboard-live"),
    path("dashboard/comparison", views.dashboard_comparison, name="dashboard-comparison"),
    path("dashboard/chart.json", views.dashboard_chart, name="dashboard-chart"),
    path("dashboard/demo", views.dashboard_demo, name="dashboard-demo"),
    path("monitoring/models/<uuid:model_id>", views.model_detail_page, name="model-detail"),
]
