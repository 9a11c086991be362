from django.apps import AppConfig


class ArgusLMConfig(AppConfig):
    name = "arguslm"
    verbose_name = "ArgusLM system"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from arguslm import audit  # schema registers the OpenAPI auth extensions
        from arguslm.keys import ensure_encryption_canary

        # ready() runs in every process (web, worker, management commands): all record changes.
        audit.connect_receivers()
        from django.conf import settings
        from django.db.models.signals import post_save

        from arguslm import roles

        post_migrate.connect(roles.sync_groups, sender=self, dispatch_uid="arguslm-roles")
        post_save.connect(
            roles.start_as_viewer, sender=settings.AUTH_USER_MODEL, dispatch_uid="arguslm-viewer"
        )
        # After migrate, the canary exists (created with the current key) or is verified.
        post_migrate.connect(ensure_encryption_canary, sender=self)

        from django_q.conf import Conf
        from django_q.signals import post_spawn

        Conf.SECRET_KEY = settings.TASK_SIGNING_KEY  # see settings: one key for every machine

        # Each django-q2 worker process warms the gateway before it takes its first task.
        post_spawn.connect(_warm_worker, dispatch_uid="arguslm-warm-worker")


def _warm_worker(sender, proc_name=None, **kwargs) -> None:
    from arguslm.llm import warm

    warm.ensure_warm()
