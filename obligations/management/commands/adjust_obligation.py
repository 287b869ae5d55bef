"""``manage.py adjust_obligation``: create an adjustment (positive) or a clawback (negative) obligation.

    manage.py adjust_obligation --organization SLUG_OR_ID --obligation ID --value -5.00 --reason "refund"
    manage.py adjust_obligation --organization SLUG_OR_ID --distribution ID --collaborator ID_OR_ALIAS \\
        --value 12.50 --reason "missed credit"

Thin: resolve the inputs in the organization, call ``obligations.services.obligation_adjust``, print one summary
line. ``--value`` is in major units of the adjustment's units (``-5.00`` USD is -500); ``--units`` may be left
out (the obligation's, or the distribution's distributor's) and, when given, must match. With ``--obligation``
the collaborator is the obligation's (``--collaborator``, when given, must be it).
"""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from collaborators.models import Collaborator
from collaborators.selectors import collaborator_resolve
from distributors.units import format_amount, normalize_units, to_minor
from obligations.models import Obligation
from obligations.services import obligation_adjust
from organizations.management.base import OrganizationCommand, record_id

OPTION_OF_FIELD = {
    "reason": "--reason",
    "value": "--value",
    "collaborator": "--collaborator",
    "units": "--units",
    "obligation": "--obligation",
    "distribution": "--distribution",
    "adjusts": "--obligation/--distribution",
}


class Command(OrganizationCommand):
    help = "Create an adjustment obligation (negative: a clawback) correcting one obligation or distribution."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--obligation", metavar="ID", help="The obligation this adjustment corrects.")
        target.add_argument("--distribution", metavar="ID", help="The (triggered) distribution it corrects.")
        parser.add_argument(
            "--collaborator",
            metavar="ID_OR_ALIAS",
            help="Id, or alias type:code. Required with --distribution; with --obligation, its collaborator.",
        )
        parser.add_argument(
            "--value", required=True, help="Amount in major units, negative to claw back: 12.50, -5.00, -300."
        )
        parser.add_argument("--units", help="Defaults to the obligation's or the distributor's units.")
        parser.add_argument("--reason", required=True, help="Why (kept on the adjustment).")

    def _target(self, organization, options):
        """The obligation or distribution named, in the organization (another tenant's id is 'no such')."""
        flag, model = (
            ("--obligation", Obligation)
            if options["obligation"] is not None
            else ("--distribution", Obligation._meta.get_field("adjusts_distribution").related_model)
        )
        text = options["obligation"] if options["obligation"] is not None else options["distribution"]
        pk = record_id(text)
        found = model.objects.filter(pk=pk, organization=organization).first() if pk is not None else None
        if found is None:
            raise CommandError(f"{flag}: no {model._meta.verbose_name} '{text}' in organization '{organization.slug}'.")
        return found

    def handle(self, *args, organization, **options):
        target = self._target(organization, options)
        is_obligation = isinstance(target, Obligation)
        ref = options["collaborator"]
        if ref is None and not is_obligation:
            raise CommandError("--collaborator: required with --distribution (who the adjustment is for).")
        if ref is None:
            collaborator = target.collaborator
        else:
            try:
                collaborator = collaborator_resolve(organization=organization, ref=ref)
            except Collaborator.DoesNotExist:
                raise CommandError(
                    f"--collaborator: no collaborator '{ref}' in organization '{organization.slug}'."
                ) from None
        try:
            units = normalize_units(options["units"]) if options["units"] else None
        except ValueError as exc:
            raise CommandError(f"--units: {exc}") from None
        value_units = units or (target.units if is_obligation else target.distributor.units)
        try:
            value = to_minor(options["value"], value_units)
        except ValueError as exc:
            raise CommandError(f"--value: {exc}") from None
        try:
            adjustment = obligation_adjust(
                organization=organization,
                collaborator=collaborator,
                value=value,
                units=units,
                reason=options["reason"],
                adjusts_obligation=target if is_obligation else None,
                adjusts_distribution=None if is_obligation else target,
            )
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            raise CommandError(f"{OPTION_OF_FIELD.get(field, field)}: {messages[0]}") from None
        corrected = f"obligation {target.pk}" if is_obligation else f"distribution {target.pk}"
        self.write_summary(
            f"Adjustment {adjustment.pk} for {collaborator.full_name} ({collaborator.pk}): "
            f"{format_amount(adjustment.value, adjustment.units)}, correcting {corrected}; approved, the next "
            "fulfillment nets it."
        )
