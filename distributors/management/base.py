"""``DistributorCommand``: ``OrganizationCommand`` plus ``--distributor ID``, resolved inside the organization.

The distributor is handed to ``handle`` as the ``distributor`` option (a ``Distributor``, or ``None`` when
absent), also kept as ``self.distributor``. With ``--organization``, only that organization's distributors
are found: another organization's id is refused exactly like an unknown one (one ``CommandError`` line),
so the command line tells nothing about other tenants.
"""

from typing import Any

from django.core.management.base import CommandError

from distributors.models import Distributor
from organizations.management.base import OrganizationCommand, record_id
from organizations.models import Organization

DISTRIBUTOR_HELP = "The distributor, by id; with --organization, one of that organization's."


def distributor_resolve(
    value: "str | int | Distributor", *, organization: Organization | None, option: str = "--distributor"
) -> Distributor:
    """The distributor ``value`` names (in ``organization`` when given); else one CommandError line."""
    if isinstance(value, Distributor):
        distributor_id = value.pk
    elif isinstance(value, int) and not isinstance(value, bool):
        distributor_id = value
    else:
        distributor_id = record_id(str(value))
        if distributor_id is None:
            raise CommandError(f"{option}: '{value}' is not a distributor id (a whole number).")
    distributors = Distributor.objects.select_related("organization")
    if organization is not None:
        distributors = distributors.filter(organization=organization)
    distributor = distributors.filter(pk=distributor_id).first()
    if distributor is None:
        where = f" in organization '{organization.slug}'" if organization is not None else ""
        raise CommandError(f"{option}: no distributor {distributor_id}{where}.")
    return distributor


class DistributorCommand(OrganizationCommand):
    """A command that may be narrowed to one distributor; see the module docstring."""

    distributor_required = False

    distributor: Distributor | None = None

    def add_base_options(self, parser) -> None:
        super().add_base_options(parser)
        parser.add_argument("--distributor", required=self.distributor_required, metavar="ID", help=DISTRIBUTOR_HELP)

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        options = super().resolve_options(options)
        value = options.get("distributor")
        self.distributor = distributor_resolve(value, organization=self.organization) if value is not None else None
        options["distributor"] = self.distributor
        return options
