"""``manage.py generate_fulfillment --organization SLUG_OR_ID``: batch approved obligations into payouts.

Thin: call ``obligations.services.fulfillment_generate`` (one transaction, obligations locked), print one
summary line: the payouts made and, after ``held back:``, every balance left out and why (below the minimum,
a net debt, nets to zero), whose obligations stay approved for a later fulfillment. Nothing to pay is not an
error (exit 0), so it can run from cron.
"""

from collections import defaultdict

from distributors.units import format_totals
from obligations.balances import HeldBalance
from obligations.models import Obligation
from obligations.selectors import balances_held_back
from obligations.services import fulfillment_generate
from organizations.management.base import OrganizationCommand


def held_back_text(held: list[HeldBalance]) -> str:
    """``; held back: Ada (12) net debt -5.00 USD, Bob (13) 3.00 USD below the minimum 10.00 USD``."""
    if not held:
        return ""
    parts = [f"{entry.collaborator_name} ({entry.collaborator_id}) {entry.why}" for entry in held]
    return f"; held back (obligations stay approved): {', '.join(parts)}"


class Command(OrganizationCommand):
    help = "Create one fulfillment (one payout per collaborator and units) from the approved obligations."

    def handle(self, *args, organization, **options):
        fulfillment = fulfillment_generate(organization=organization)
        if fulfillment is None:
            held = balances_held_back(organization=organization)
            if not held:
                self.write_summary(
                    f"Nothing to fulfil for '{organization.slug}': no approved obligation outside a payout."
                )
            else:
                self.write_summary(
                    f"Nothing to fulfil for '{organization.slug}': no balance to pay{held_back_text(held)}."
                )
            return
        totals: dict[str, int] = defaultdict(int)
        payouts = list(fulfillment.payouts.all())
        for payout in payouts:
            totals[payout.units] += payout.amount
        obligation_count = Obligation.objects.filter(payout__fulfillment=fulfillment).count()
        amounts = format_totals(totals)  # "1,170.88 USD · 5 points": the admin's formatter
        held = held_back_text([HeldBalance.from_dict(entry) for entry in fulfillment.held_back])
        self.write_summary(
            f"Fulfillment {fulfillment.pk} for '{organization.slug}': {len(payouts)} payout(s) from "
            f"{obligation_count} obligation(s), {amounts}{held}."
        )
