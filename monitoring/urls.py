"""Page URLs of the dashboard's live parts and the model page (included at the site root).

The dashboard page itself is ``arguslm.views.dashboard`` ("dashboard"); ``/models/…`` belongs
to the Providers app, so the model page lives under ``/monitoring/models/``.
"""

from django.urls import path

from monitoring import views

urlpatterns = [
    path("dashboard/live", views.dashboard_live, name="dashboard-live"),
    path("dashboard/comparison", views.dashboard_comparison, name="dashboard-comparison"),
    path("dashboard/chart.json", views.dashboard_chart, name="dashboard-chart"),
    path("dashboard/demo", views.dashboard_demo, name="dashboard-demo"),
    path("monitoring/models/<uuid:model_id>", views.model_detail_page, name="model-detail"),
]
