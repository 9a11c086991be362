"""``manage.py drf_create_token USER``: print a new full-access API token for a user.

Replaces DRF's command of the same name (scripts keep calling it, and parse the same line).
Keys are stored as digests, so an existing key cannot be printed again: each call issues a
new token named "drf_create_token"; ``--reset`` first revokes the ones it issued before.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from arguslm import tokens
from arguslm.models import ApiToken

NAME = "drf_create_token"


class Command(BaseCommand):
    help = "Create a full-access API token for a user and print it (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("username", type=str)
        parser.add_argument(
            "-r",
            "--reset",
            action="store_true",
            dest="reset_token",
            help="Revoke the tokens this command issued the user before.",
        )

    def handle(self, *args, username: str, reset_token: bool, **options):
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"Cannot create the Token: user {username} does not exist") from None
        if reset_token:
            ApiToken.objects.filter(user=user, name=NAME).delete()
        _, key = tokens.issue(user=user, name=NAME)
        self.stdout.write(f"Generated token {key} for user {username}")
