"""The ``metrics.credited`` event: one per credit request (and per item of a batch), its payload the API's
answer to the credit (``POST /distributors/credit-metric``)."""

from collections.abc import Iterable

import events
from clock import iso_utc
from metrics.models import CreditRequest, MetricCredit

METRICS_CREDITED = "metrics.credited"


def credit_payload(request: CreditRequest, credits: list[MetricCredit]) -> dict:
    first = credits[0]
    return {
        "id": request.pk,
        "collaboratorId": first.collaborator_id,
        "metricType": first.metric_type,
        "quantity": first.quantity,
        "creditedAt": iso_utc(first.credited_at),
        "credits": [
            {"distributorId": c.distributor_id, "pointsPerUnit": c.points_per_unit, "points": c.points} for c in credits
        ],
        "totalPoints": sum(c.points for c in credits),
    }


def record_credits(organization_id: int, credited: Iterable[tuple[CreditRequest, list[MetricCredit]]]) -> int:
    """One ``metrics.credited`` event per (request, its credits), in one insert: for a single credit or a batch."""
    return events.record_many(
        organization_id=organization_id,
        type=METRICS_CREDITED,
        items=[(f"credit_request:{request.pk}", credit_payload(request, credits)) for request, credits in credited],
    )
