"""Reads about obligations and payouts shared by commands, admin and API."""

from distributors.units import to_major
from obligations.models import Fulfillment, Payout


def payout_export_rows(*, fulfillment: Fulfillment) -> list[dict]:
    """One row per payout of the fulfillment, in id order; ``amount`` is a decimal string at the units'
    precision (``1234`` USD → ``"12.34"``, points whole), for whoever pays it outside the system."""
    payouts = Payout.objects.filter(fulfillment=fulfillment).select_related("collaborator").order_by("pk")
    return [
        {
            "payoutId": payout.pk,
            "collaboratorId": payout.collaborator_id,
            "collaboratorName": payout.collaborator.full_name,
            "email": payout.collaborator.email,
            "units": payout.units,
            "amount": to_major(payout.amount, payout.units),
            "status": payout.status,
        }
        for payout in payouts
    ]
