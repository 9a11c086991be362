"""``manage.py set_role USER ROLE``: make a user a viewer, an operator or an admin."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from arguslm import roles


class Command(BaseCommand):
    help = "Give a user one role (viewer, operator or admin): see docs/roles.md."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", choices=sorted(roles.GROUPS))

    def handle(self, *args, username: str, role: str, **options):
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        roles.assign(user, role)
        self.stdout.write(f"{username} is now {role}.")
