"""The events of obligations, fulfillments and payouts: their payloads (the object as the API shows it, core
fields, camelCase) and the one-line recorders the services call next to each change.

Catalog: ``obligation.created`` / ``.approved`` / ``.rejected`` / ``.cancelled`` / ``.fulfilled`` (an
obligation taken back from fulfilled by marking its payout unpaid is ``obligation.approved`` again),
``fulfillment.created``, ``fulfillment.status_changed``, ``payout.created``, ``payout.paid``,
``payout.unpaid``.
"""

from collections import defaultdict
from collections.abc import Iterable

import events
from clock import iso_utc
from obligations.models import Fulfillment, Obligation, Payout


def obligation_payload(obligation: Obligation) -> dict:
    """``/obligations``' core fields."""
    return {
        "id": obligation.pk,
        "collaboratorId": obligation.collaborator_id,
        "value": obligation.value,
        "units": obligation.units,
        "status": obligation.status,
        "awardType": obligation.award_type,
        "dateCreated": iso_utc(obligation.created_at),
        "dateModified": iso_utc(obligation.modified_at),
    }


def fulfillment_payload(fulfillment: Fulfillment) -> dict:
    return {
        "id": fulfillment.pk,
        "status": fulfillment.status,
        "dateCreated": iso_utc(fulfillment.created_at),
        "dateModified": iso_utc(fulfillment.modified_at),
        "dateCompleted": iso_utc(fulfillment.completed_at),
    }


def payout_payload(payout: Payout) -> dict:
    return {
        "id": payout.pk,
        "fulfillmentId": payout.fulfillment_id,
        "collaboratorId": payout.collaborator_id,
        "amount": payout.amount,
        "units": payout.units,
        "status": payout.status,
        "datePaid": iso_utc(payout.paid_at),
        "dateCreated": iso_utc(payout.created_at),
        "dateModified": iso_utc(payout.modified_at),
    }


def _record_grouped(event_type: str, rows: Iterable, key: str, payload, occurred_at=None) -> None:
    by_organization: dict[int, list[tuple[str, dict]]] = defaultdict(list)
    for row in rows:
        by_organization[row.organization_id].append((f"{key}:{row.pk}", payload(row)))
    for organization_id, items in by_organization.items():
        events.record_many(organization_id=organization_id, type=event_type, items=items, occurred_at=occurred_at)


def record_obligations(event_type: str, obligations: Iterable[Obligation], occurred_at=None) -> None:
    """One ``event_type`` event per obligation (one insert per organization), at ``occurred_at`` (default: now)."""
    _record_grouped(event_type, obligations, "obligation", obligation_payload, occurred_at)


def record_payouts(event_type: str, payouts: Iterable[Payout]) -> None:
    _record_grouped(event_type, payouts, "payout", payout_payload)


def record_fulfillment(event_type: str, fulfillment: Fulfillment) -> None:
    events.record(
        organization_id=fulfillment.organization_id,
        type=event_type,
        object_key=f"fulfillment:{fulfillment.pk}",
        payload=fulfillment_payload(fulfillment),
    )
