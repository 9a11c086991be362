"""``manage.py qcluster``: django-q2's worker cluster, started only with the right key.

A worker decrypts provider credentials; with a wrong ARGUSLM_ENCRYPTION_KEY the encrypted
fields hand back ciphertext, which the worker would then send to providers as API keys. So,
like daphne (arguslm.asgi) and bootstrap, the cluster checks the key before it starts.

This command replaces django-q2's own: ``arguslm`` is listed before ``django_q`` in
INSTALLED_APPS, and the first app that provides a command wins.
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django_q.management.commands.qcluster import Command as ClusterCommand

from arguslm.keys import verify_encryption_key


class Command(ClusterCommand):
    help = "Starts the django-q2 worker cluster, after checking the encryption key."

    def handle(self, *args, **options):
        try:
            verify_encryption_key()
        except ImproperlyConfigured as exc:
            raise CommandError(f"The worker cluster did not start: {exc}") from None
        super().handle(*args, **options)
