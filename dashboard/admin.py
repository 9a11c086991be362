from django.contrib import admin

from dashboard.models import StatusPage, forget_cached


@admin.register(StatusPage)
class StatusPageAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "public", "updated_at")
    list_filter = ("public",)
    search_fields = ("slug", "title")
    filter_horizontal = ("llm_models", "accounts")
    readonly_fields = ("created_at", "updated_at")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        forget_cached()  # the chosen models are saved after the page itself
