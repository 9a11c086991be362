from django.core.management.base import BaseCommand

from arguslm.schedules import reconcile


class Command(BaseCommand):
    help = "Make django-q2's schedules match the schedules declared in code."

    def handle(self, *args, **options):
        changes = reconcile()
        summary = ", ".join(f"{k} {len(v)}" for k, v in changes.items())
        self.stdout.write(f"Schedules reconciled: {summary}")
