from django.contrib import admin

from alerts.models import (
    Alert,
    AlertEvent,
    AlertRule,
    DeliveryAttempt,
    Incident,
    Notification,
    RuleState,
)


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "rule_type",
        "enabled",
        "notify_in_app",
        "notify_email",
        "notify_webhook",
    )
    list_filter = ("rule_type", "enabled")
    search_fields = ("name", "target_model_name")
    raw_id_fields = ("target_model",)
    # The signing secret, the webhook URL and the Apprise URLs are credentials: the admin neither
    # shows nor edits them whole (the rule page rotates the secret; the URLs are set on the form
    # or the API).
    exclude = ("webhook_secret", "webhook_url", "apprise_urls")
    readonly_fields = ("webhook_host", "apprise_services", "created_at", "updated_at")


class AlertEventInline(admin.TabularInline):
    model = AlertEvent
    fields = ("created_at", "event", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # the history is append-only, written by the evaluator


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ("rule", "subject", "summary", "opened_at", "resolved_at")
    list_filter = ("rule",)
    list_select_related = ("rule",)
    raw_id_fields = ("model",)
    readonly_fields = ("rule", "model", "subject", "summary", "opened_at", "resolved_at")
    inlines = [AlertEventInline]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "message", "acknowledged")
    list_filter = ("kind", "acknowledged", "rule")
    list_select_related = ("rule",)
    raw_id_fields = ("model", "incident")
    readonly_fields = ("rule", "model", "incident", "kind", "message", "created_at")
    actions = ["acknowledge"]

    @admin.action(description="Acknowledge")
    def acknowledge(self, request, queryset):
        from alerts import services

        count = services.acknowledge(alerts=queryset, by=services.acknowledged_by(request.user))
        self.message_user(request, f"Acknowledged {count} alert(s).")


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "ok", "status_code", "error", "duration_ms", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "channel", "status", "attempts", "sent_at")
    list_filter = ("channel", "status")
    # The target is a credential (a webhook URL, Apprise URLs): shown as its host or services.
    exclude = ("target",)
    readonly_fields = [f.name for f in Notification._meta.fields if f.name != "target"] + [
        "safe_target"
    ]
    inlines = [DeliveryAttemptInline]


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "incident", "event", "detail")
    list_filter = ("event",)
    readonly_fields = ("incident", "event", "detail", "created_at")


@admin.register(RuleState)
class RuleStateAdmin(admin.ModelAdmin):
    list_display = ("rule", "subject", "fail_streak", "ok_streak", "updated_at")
    readonly_fields = ("rule", "subject", "fail_streak", "ok_streak", "updated_at")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(admin.ModelAdmin):
    list_display = ("created_at", "notification", "number", "ok", "status_code")
    list_filter = ("ok",)
    readonly_fields = [f.name for f in DeliveryAttempt._meta.fields]
