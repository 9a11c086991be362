"""What monitoring announces to the apps built on it (which subscribe in their ready())."""

from django.dispatch import Signal

# Sent once per monitoring pass, when its last shard is stored: ``run_id`` (a UUID).
pass_completed = Signal()
