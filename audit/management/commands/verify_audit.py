"""Verify the audit trail's hash chain; exit non-zero naming the first bad row."""

from django.core.management.base import BaseCommand, CommandError

from audit.services import verify_chain


class Command(BaseCommand):
    help = "Verify the hash chain of events_log; exits 1 and names the first bad row if broken."

    def handle(self, *args: object, **options: object) -> None:
        report = verify_chain()
        if not report.ok:
            raise CommandError(f"audit chain broken at event #{report.first_bad_seq}: {report.problem}")
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} events verified"))
