"""Page URLs of the Providers and Models pages (included at the site root)."""

from django.urls import path

from providers import views

urlpatterns = [
    path("providers", views.providers_page, name="providers"),
    path("providers/fields", views.provider_fields, name="provider-fields"),
    path("providers/test", views.provider_test_new, name="provider-test-new"),
    path("providers/add", views.provider_add, name="provider-add"),
    path("providers/<uuid:account_id>/test", views.provider_test, name="provider-test"),
    path("providers/<uuid:account_id>/refresh", views.provider_refresh, name="provider-refresh"),
    path("providers/<uuid:account_id>/toggle", views.provider_toggle, name="provider-toggle"),
    path("providers/<uuid:account_id>/monitor", views.provider_monitor, name="provider-monitor"),
    path("providers/<uuid:account_id>/edit", views.provider_edit, name="provider-edit"),
    path("providers/<uuid:account_id>/delete", views.provider_delete, name="provider-delete"),
    path("models", views.models_page, name="models"),
    path("models/add", views.model_add, name="model-add"),
    path("models/bulk", views.models_bulk, name="models-bulk"),
    path("models/<uuid:model_id>/toggle", views.model_toggle, name="model-toggle"),
    path("models/<uuid:model_id>/rename", views.model_rename, name="model-rename"),
    path("models/<uuid:model_id>/tags", views.model_tags, name="model-tags"),
    path("models/<uuid:model_id>/delete", views.model_delete, name="model-delete"),
]
