"""The ``metrics.credited`` event: one per credit request (and per item of a batch), its payload the API's
answer to the credit (``POST /distributors/credit-metric``)."""

import json
from collections.abc import Iterable
from functools import lru_cache

from django.db import connection

import events
from clock import iso_utc
from metrics.models import CreditRequest, MetricCredit

METRICS_CREDITED = "metrics.credited"

# A batch's credits share one instant: format it once, not once per credit.
_iso_utc = lru_cache(maxsize=64)(iso_utc)


def credit_payload(request: CreditRequest, credits: list[MetricCredit]) -> dict:
    first = credits[0]
    return {
        "id": request.pk,
        "collaboratorId": first.collaborator_id,
        "metricType": first.metric_type,
        "quantity": first.quantity,
        "creditedAt": _iso_utc(first.credited_at),
        "credits": [
            {"distributorId": c.distributor_id, "pointsPerUnit": c.points_per_unit, "points": c.points} for c in credits
        ],
        "totalPoints": sum(c.points for c in credits),
    }


def record_credits(organization_id: int, credited: Iterable[tuple[CreditRequest, list[MetricCredit]]]) -> int:
    """One ``metrics.credited`` event per (request, its credits), in one insert: for a single credit or a batch.

    On PostgreSQL the events travel as one JSON parameter (``events.services.event_record_select``): a batch's
    thousand payloads are one value to bind, not thousands."""
    items = [(f"credit_request:{request.pk}", credit_payload(request, credits)) for request, credits in credited]
    if connection.vendor != "postgresql":
        return events.record_many(organization_id=organization_id, type=METRICS_CREDITED, items=items)
    from events.services import event_record_select

    document = json.dumps([{"n": n, "k": key, "p": payload} for n, (key, payload) in enumerate(items)])
    return event_record_select(
        organization_id=organization_id,
        type=METRICS_CREDITED,
        select_sql="SELECT x.k, x.p FROM jsonb_to_recordset(%s::jsonb) AS x(n integer, k text, p jsonb) ORDER BY x.n",
        params=[document],
    )
