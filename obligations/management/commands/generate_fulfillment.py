"""``manage.py generate_fulfillment --organization SLUG``: batch approved obligations into payouts.

Thin: resolve the tenant, call ``obligations.services.fulfillment_generate`` (one transaction, obligations
locked), print one summary line. Nothing to batch is not an error (exit 0), so it can run from cron.
"""

from collections import defaultdict

from django.core.management.base import BaseCommand

from distributors.units import to_major
from obligations.models import Obligation
from obligations.services import fulfillment_generate
from organizations.management.cli import organization_by_slug


class Command(BaseCommand):
    help = "Create one fulfillment (one payout per collaborator and units) from the approved obligations."

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, metavar="SLUG")

    def handle(self, *args, **options):
        organization = organization_by_slug(options["organization"])
        fulfillment = fulfillment_generate(organization=organization)
        if fulfillment is None:
            self.stdout.write(f"Nothing to fulfil for '{organization.slug}': no approved obligation outside a payout.")
            return
        totals: dict[str, int] = defaultdict(int)
        payouts = list(fulfillment.payouts.all())
        for payout in payouts:
            totals[payout.units] += payout.amount
        obligation_count = Obligation.objects.filter(payout__fulfillment=fulfillment).count()
        amounts = ", ".join(f"{to_major(total, units)} {units}" for units, total in sorted(totals.items()))
        self.stdout.write(
            f"Fulfillment {fulfillment.pk} for '{organization.slug}': {len(payouts)} payout(s) from "
            f"{obligation_count} obligation(s), {amounts}."
        )
