"""Page URLs of the Alerts page and the sidebar bell (included at the site root)."""

from django.urls import path

from alerts import views

urlpatterns = [
    path("alerts", views.alerts_page, name="alerts"),
    path("alerts/bell", views.bell, name="alerts-bell"),
    path("alerts/acknowledge-all", views.alerts_acknowledge_all, name="alerts-acknowledge-all"),
    path("alerts/<uuid:alert_id>/acknowledge", views.alert_acknowledge, name="alert-acknowledge"),
    path("alerts/rules/new", views.rule_create, name="alert-rule-create"),
    path("alerts/rules/<uuid:rule_id>", views.rule_edit, name="alert-rule"),
    path("alerts/rules/<uuid:rule_id>/toggle", views.rule_toggle, name="alert-rule-toggle"),
    path(
        "alerts/rules/<uuid:rule_id>/rotate-secret",
        views.rule_rotate_secret,
        name="alert-rule-rotate-secret",
    ),
    path("alerts/rules/<uuid:rule_id>/test", views.rule_test, name="alert-rule-test"),
    path("alerts/rules/<uuid:rule_id>/delete", views.rule_delete, name="alert-rule-delete"),
]
