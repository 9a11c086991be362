from django.contrib import admin

from arguslm.models import ApiToken, AuditEvent, EncryptionCanary, Heartbeat, LoginAttempt


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "seen_at")
    readonly_fields = ("name", "seen_at", "info")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log, read-only: nobody adds, edits or deletes history (superusers included)."""

    list_display = ("at", "actor_label", "action", "object_type", "object_label")
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "object_label", "object_id")
    date_hierarchy = "at"
    list_select_related = ("actor",)
    fields = (
        "at",
        "actor",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_label",
        "changes",
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the system writes itself: visible to operators, never edited by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LoginAttempt)
class LoginAttemptAdmin(ReadOnlyAdmin):
    list_display = ("at", "username", "ip")
    search_fields = ("username", "ip")


@admin.register(EncryptionCanary)
class EncryptionCanaryAdmin(ReadOnlyAdmin):
    """Proof that the configured key decrypts the stored credentials (value never shown)."""

    list_display = ("pk", "created_at", "decrypts")
    fields = ("created_at", "decrypts")
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(boolean=True, description="Decrypts with the current key")
    def decrypts(self, obj) -> bool:
        from arguslm.keys import CANARY

        return obj.value == CANARY


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Every user's tokens (digests only: a key cannot be read back). Deleting one revokes it;
    tokens are issued on the Settings page or by ``manage.py drf_create_token``."""

    list_display = ("name", "user", "prefix", "scope", "created_at", "expires_at", "last_used_at")
    list_filter = ("scope",)
    search_fields = ("name", "user__username", "prefix")
    list_select_related = ("user",)
    exclude = ("digest",)
