"""``manage.py deliver_webhooks``: send the due webhook deliveries (cron, every minute, on any number of machines).

Thin: ``webhooks.delivery.deliver`` does the work (claims with ``SKIP LOCKED`` and a short lease, so runs on
several machines share the queue and a killed run's claims are retaken). Failed attempts are normal (they are
retried); the exit status is 0 unless the command itself cannot run.
"""

from organizations.management.base import OrganizationCommand
from webhooks.delivery import deliver


class Command(OrganizationCommand):
    help = "Dispatch new events to webhook endpoints and send the due deliveries."
    takes_organization = False
    json_option = True

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=50, help="Deliveries claimed at a time (default 50).")
        parser.add_argument(
            "--max-seconds",
            type=float,
            default=50.0,
            help="Claim no new batch after this many seconds (default 50: a run per minute from cron).",
        )

    def handle(self, *args, batch_size, max_seconds, **options):
        if batch_size < 1 or max_seconds <= 0:
            self.exit_failed("--batch-size must be at least 1 and --max-seconds above 0.")
        report = deliver(batch_size=batch_size, max_seconds=max_seconds)
        if self.json_output:
            self.write_json(report.__dict__)
        disabled = (
            f", endpoint(s) disabled: {', '.join(map(str, report.disabled_endpoints))}"
            if (report.disabled_endpoints)
            else ""
        )
        self.write_summary(
            f"Webhooks: {report.dispatched_events} new event(s), {report.created_deliveries} delivery(ies) queued, "
            f"{report.sent} sent ({report.succeeded} succeeded, {report.failed_attempts} failed, "
            f"{report.given_up} given up){disabled}."
        )
