"""``manage.py prune_events [--days N]``: delete events older than the retention (``EVENT_RETENTION_DAYS``), in
batches (each its own transaction), with their webhook deliveries. Run it daily from cron."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from events.services import events_prune
from organizations.management.base import OrganizationCommand


class Command(OrganizationCommand):
    help = "Delete events older than the retention (EVENT_RETENTION_DAYS, or --days)."
    takes_organization = False

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=None, help="Keep this many days (default EVENT_RETENTION_DAYS)."
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="Events deleted per statement (default 5000).")

    def handle(self, *args, days, batch_size, **options):
        days = settings.EVENT_RETENTION_DAYS if days is None else days
        if days < 0 or batch_size < 1:
            self.exit_failed("--days must be 0 or more and --batch-size at least 1.")
        cutoff = timezone.now() - timedelta(days=days)
        deleted = events_prune(older_than=cutoff, batch_size=batch_size)
        self.write_summary(f"Deleted {deleted} event(s) older than {days} day(s).")
