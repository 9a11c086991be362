"""Page URLs of the Benchmarks pages (included at the site root)."""

from django.urls import path

from benchmarks import compare_views, saved_views, views

urlpatterns = [
    path("benchmarks", views.benchmarks_page, name="benchmarks"),
    path("benchmarks/start", views.benchmark_start, name="benchmark-start"),
    path("benchmarks/compare", compare_views.benchmark_compare, name="benchmark-compare"),
    path(
        "benchmarks/delete-matching",
        views.benchmarks_delete_matching,
        name="benchmarks-delete-matching",
    ),
    path("benchmarks/<uuid:run_id>", views.benchmark_detail, name="benchmark-detail"),
    path("benchmarks/<uuid:run_id>/progress", views.benchmark_progress, name="benchmark-progress"),
    path("benchmarks/<uuid:run_id>/cancel", views.benchmark_cancel, name="benchmark-cancel"),
    path("benchmarks/<uuid:run_id>/rerun", views.benchmark_rerun, name="benchmark-rerun"),
    path("benchmarks/<uuid:run_id>/delete", views.benchmark_delete, name="benchmark-delete"),
    # Saved benchmarks (benchmarks.saved_views).
    path("benchmarks/templates", saved_views.template_save, name="benchmark-template-save"),
    path(
        "benchmarks/templates/<uuid:template_id>/run",
        saved_views.template_run,
        name="benchmark-template-run",
    ),
    path(
        "benchmarks/templates/<uuid:template_id>/delete",
        saved_views.template_delete,
        name="benchmark-template-delete",
    ),
    path(
        "benchmarks/<uuid:run_id>/baseline", saved_views.run_as_baseline, name="benchmark-baseline"
    ),
]
