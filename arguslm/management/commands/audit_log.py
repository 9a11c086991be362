"""``manage.py audit_log``: the most recent audit events, newest first."""

import json

from django.core.management.base import BaseCommand, CommandParser

from arguslm.models import AuditEvent


class Command(BaseCommand):
    help = "Print the most recent audit events (who changed which configuration), newest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=50, help="How many events (default 50).")

    def handle(self, *args, limit: int, **options) -> None:
        events = list(AuditEvent.objects.order_by("-at", "-id")[: max(limit, 0)])
        if not events:
            self.stdout.write("No audit events yet.")
            return
        for e in events:
            changes = json.dumps(e.changes, sort_keys=True, ensure_ascii=False)
            self.stdout.write(
                f"{e.at:%Y-%m-%d %H:%M:%S}  {e.actor_label}  {e.action}  {e.object_type}"
                f"  {e.object_id}  {e.object_label!r}  {changes}"
            )
