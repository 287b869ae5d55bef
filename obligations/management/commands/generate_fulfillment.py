"""``manage.py generate_fulfillment --organization SLUG_OR_ID``: batch approved obligations into payouts.

Thin: call ``obligations.services.fulfillment_generate`` (one transaction, obligations locked), print one
summary line. Nothing to batch is not an error (exit 0), so it can run from cron.
"""

from collections import defaultdict

from distributors.units import format_totals
from obligations.models import Obligation
from obligations.services import fulfillment_generate
from organizations.management.base import OrganizationCommand


class Command(OrganizationCommand):
    help = "Create one fulfillment (one payout per collaborator and units) from the approved obligations."

    def handle(self, *args, organization, **options):
        fulfillment = fulfillment_generate(organization=organization)
        if fulfillment is None:
            self.write_summary(f"Nothing to fulfil for '{organization.slug}': no approved obligation outside a payout.")
            return
        totals: dict[str, int] = defaultdict(int)
        payouts = list(fulfillment.payouts.all())
        for payout in payouts:
            totals[payout.units] += payout.amount
        obligation_count = Obligation.objects.filter(payout__fulfillment=fulfillment).count()
        amounts = format_totals(totals)  # "1,170.88 USD · 5 points": the admin's formatter
        self.write_summary(
            f"Fulfillment {fulfillment.pk} for '{organization.slug}': {len(payouts)} payout(s) from "
            f"{obligation_count} obligation(s), {amounts}."
        )
