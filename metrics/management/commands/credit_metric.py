"""``manage.py credit_metric``: credit a metric to a collaborator through ``metrics.services.metric_credit``.

The command is the operator's equivalent of ``POST /distributors/credit-metric``: the same service, the same
rules, with ``source=command`` and the OS user as actor. ``--at`` back-dates a credit (never into the future,
never into a period already distributed); ``--idempotency-key`` makes a retried cron line credit once.
"""

import getpass
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from collaborators.models import Collaborator
from collaborators.selectors import collaborator_resolve
from metrics.models import CreditSource
from metrics.services import CreditRefused, metric_credit
from organizations.management.cli import organization_by_slug

OPTION_OF_FIELD = {
    "collaboratorId": "--collaborator",
    "metricType": "--metric-type",
    "quantity": "--quantity",
    "distributorId": "--distributor",
    "Idempotency-Key": "--idempotency-key",
    "creditedAt": "--at",
}


def parse_instant(value: str) -> datetime:
    """A timezone-aware ISO 8601 instant (``2026-03-01T12:00:00Z``, ``2026-03-01T13:00+01:00``)."""
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(f"--at: '{value}' is not an ISO 8601 date-time.") from None
    if timezone.is_naive(instant):
        raise CommandError(f"--at: '{value}' has no time zone; add one, e.g. '{value}Z' or '{value}+01:00'.")
    try:
        instant.astimezone(UTC)  # what the database stores; 0001-01-01T00:00+05:00 is before year 1 in UTC
    except OverflowError:
        raise CommandError(f"--at: '{value}' is out of range (years 1 to 9999 in UTC).") from None
    if instant > timezone.now():
        raise CommandError(f"--at: '{value}' is in the future; credits can only be back-dated.")
    return instant


def command_actor() -> str:
    try:
        return f"credit_metric ({getpass.getuser()})"
    except (KeyError, OSError):
        return "credit_metric"


class Command(BaseCommand):
    help = "Credit a metric to a collaborator on every active distributor that counts it (or on one)."

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, metavar="SLUG")
        parser.add_argument("--collaborator", required=True, metavar="ID_OR_ALIAS", help="Id, or alias type:code.")
        parser.add_argument("--metric-type", default="manual")
        parser.add_argument("--quantity", type=int, default=1)
        parser.add_argument("--distributor", type=int, metavar="ID", help="Credit only this distributor.")
        parser.add_argument("--idempotency-key", metavar="KEY", help="A retry with the same key credits once.")
        parser.add_argument("--at", metavar="ISO-DATETIME", help="Back-date the credit to this instant.")

    def handle(self, *args, **options):
        organization = organization_by_slug(options["organization"])
        try:
            collaborator = collaborator_resolve(organization=organization, ref=options["collaborator"])
        except Collaborator.DoesNotExist:
            raise CommandError(
                f"--collaborator: no collaborator '{options['collaborator']}' in organization '{organization.slug}'."
            ) from None
        at = parse_instant(options["at"]) if options["at"] else None
        try:
            outcome = metric_credit(
                organization=organization,
                collaborator=collaborator,
                metric_type=options["metric_type"],
                quantity=options["quantity"],
                distributor_id=options["distributor"],
                source=CreditSource.COMMAND,
                actor=command_actor(),
                idempotency_key=options["idempotency_key"],
                now=at,
            )
        except CreditRefused as exc:
            option = OPTION_OF_FIELD.get(exc.field or "")
            raise CommandError(f"{option}: {exc.message}" if option else exc.message) from None

        response = outcome.response
        landed = ", ".join(f"distributor {c['distributorId']} +{c['points']}" for c in response["credits"])
        request_id = outcome.request.pk
        if outcome.replayed:
            prefix = f"Already credited by request {request_id} (same idempotency key), nothing added"
        else:
            prefix = f"Credited (request {request_id})"
        self.stdout.write(
            f"{prefix}: {response['quantity']} × {response['metricType']} to {collaborator.full_name} "
            f"({collaborator.pk}) at {response['creditedAt']}: {landed}; {response['totalPoints']} points in all."
        )
