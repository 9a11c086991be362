from django.apps import AppConfig


class ArgusLMConfig(AppConfig):
    name = "arguslm"
    verbose_name = "ArgusLM system"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from arguslm import schema  # noqa: F401 (registers the OpenAPI auth extensions)
        from arguslm.keys import ensure_encryption_canary

        # After migrate, the canary exists (created with the current key) or is verified.
        post_migrate.connect(ensure_encryption_canary, sender=self)
