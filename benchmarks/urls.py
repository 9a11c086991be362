"""Page URLs of the Benchmarks pages (included at the site root)."""

from django.urls import path

from benchmarks import compare_views, views

urlpatterns = [
    path("benchmarks", views.benchmarks_page, name="benchmarks"),
    path("benchmarks/start", views.benchmark_start, name="benchmark-start"),
    path("benchmarks/compare", compare_views.benchmark_compare, name="benchmark-compare"),
    path("benchmarks/<uuid:run_id>", views.benchmark_detail, name="benchmark-detail"),
    path("benchmarks/<uuid:run_id>/progress", views.benchmark_progress, name="benchmark-progress"),
    path("benchmarks/<uuid:run_id>/cancel", views.benchmark_cancel, name="benchmark-cancel"),
    path("benchmarks/<uuid:run_id>/rerun", views.benchmark_rerun, name="benchmark-rerun"),
    path("benchmarks/<uuid:run_id>/delete", views.benchmark_delete, name="benchmark-delete"),
]
