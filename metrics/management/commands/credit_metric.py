"""``manage.py credit_metric``: credit a metric to a collaborator through ``metrics.services.metric_credit``.

The command is the operator's equivalent of ``POST /distributors/credit-metric``: the same service, the same
rules, with ``source=command`` and the OS user as actor. ``--at`` back-dates a credit (never into the future,
never into a period already distributed); ``--idempotency-key`` makes a retried cron line credit once.
``--distributor`` is resolved in the organization by the command base, so another organization's id is
refused like an unknown one.
"""

import getpass

from django.core.management.base import CommandError

from clock import iso_utc
from collaborators.models import Collaborator
from collaborators.selectors import collaborator_resolve
from distributors.management.base import DistributorCommand
from metrics.models import MAX_CREDIT_QUANTITY, CreditSource
from metrics.services import CreditRefused, metric_credit

# The crediting service names the input at fault with its domain name; this is the command's one mapping.
OPTION_OF_FIELD = {
    "collaborator": "--collaborator",
    "metric_type": "--metric-type",
    "quantity": "--quantity",
    "distributor": "--distributor",
    "idempotency_key": "--idempotency-key",
    "credited_at": "--at",
    "late_reason": "--late-reason",
}


def command_actor() -> str:
    try:
        return f"credit_metric ({getpass.getuser()})"
    except (KeyError, OSError):
        return "credit_metric"


class Command(DistributorCommand):
    help = "Credit a metric to a collaborator on every active distributor that counts it (or on one)."

    def add_arguments(self, parser):
        parser.add_argument("--collaborator", required=True, metavar="ID_OR_ALIAS", help="Id, or alias type:code.")
        parser.add_argument("--metric-type", default="manual")
        parser.add_argument(
            "--quantity", type=int, default=1, help=f"A whole number from 1 to {MAX_CREDIT_QUANTITY} (default 1)."
        )
        parser.add_argument("--idempotency-key", metavar="KEY", help="A retry with the same key credits once.")
        self.add_instant_argument(
            parser,
            "--at",
            help="Back-date the credit to this instant (with a UTC offset, e.g. 2026-03-01T12:00:00Z).",
            future_reason="credits can only be back-dated",
        )
        parser.add_argument(
            "--late-reason",
            metavar="TEXT",
            help="Book a back-dated credit into a period already distributed, for this reason (kept on the "
            "credit); it counts when the period is corrected with correct_distribution.",
        )

    def handle(self, *args, organization, distributor, **options):
        try:
            collaborator = collaborator_resolve(organization=organization, ref=options["collaborator"])
        except Collaborator.DoesNotExist:
            raise CommandError(
                f"--collaborator: no collaborator '{options['collaborator']}' in organization '{organization.slug}'."
            ) from None
        try:
            outcome = metric_credit(
                organization=organization,
                collaborator=collaborator,
                metric_type=options["metric_type"],
                quantity=options["quantity"],
                distributor_id=distributor.pk if distributor else None,
                source=CreditSource.COMMAND,
                actor=command_actor(),
                idempotency_key=options["idempotency_key"],
                now=options["at"],
                late_reason=options["late_reason"] or "",
            )
        except CreditRefused as exc:
            option = OPTION_OF_FIELD.get(exc.field or "")
            message = exc.message
            if exc.field == "credited_at" and "already distributed" in message:
                message += " To book it anyway (it counts once the period is corrected), add --late-reason."
            raise CommandError(f"{option}: {message}" if option else message) from None

        landed = ", ".join(f"distributor {credit.distributor_id} +{credit.points}" for credit in outcome.credits)
        request_id = outcome.request.pk
        if outcome.replayed:
            prefix = f"Already credited by request {request_id} (same idempotency key), nothing added"
        else:
            prefix = f"Credited (request {request_id})"
        self.write_summary(
            f"{prefix}: {outcome.quantity} × {outcome.metric_type} to {collaborator.full_name} "
            f"({collaborator.pk}) at {iso_utc(outcome.credited_at)}: {landed}; {outcome.total_points} points in all."
        )
