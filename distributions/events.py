"""The events of distributions and allocations, and the engine's bulk recording of a trigger's rows.

Catalog: ``distribution.triggered``, ``distribution.completed``, ``distribution.cancelled``,
``allocation.created``; a trigger also records ``obligation.created`` for each obligation it creates (its
payload: ``obligations.events.obligation_payload``).

A trigger writes up to 100 000 obligations and allocations; on PostgreSQL their events are written by the
trigger's own statement (``trigger_rows_event_ctes``: the payloads are built in the database from the rows just
inserted, no ids travel back to Python), elsewhere by a batched ``bulk_create`` from the rows in memory. The
payloads are the same either way (``tests/events/test_events.py`` compares them with the API, on both databases).
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection

import events
from clock import iso_utc
from distributions.models import Allocation, Distribution
from events.models import Event
from obligations.events import record_obligations
from obligations.models import AwardType, Obligation

DISTRIBUTION_TRIGGERED = "distribution.triggered"
DISTRIBUTION_COMPLETED = "distribution.completed"
DISTRIBUTION_CANCELLED = "distribution.cancelled"
ALLOCATION_CREATED = "allocation.created"
OBLIGATION_CREATED = "obligation.created"


def distribution_payload(distribution: Distribution) -> dict:
    """``/distributions``' core fields."""
    return {
        "id": distribution.pk,
        "distributorId": distribution.distributor_id,
        "status": distribution.status,
        "value": distribution.value,
        "triggerDate": iso_utc(distribution.trigger_date),
        "dateCreated": iso_utc(distribution.created_at),
        "dateModified": iso_utc(distribution.modified_at),
    }


def allocation_payload(allocation: Allocation, status: str) -> dict:
    """An allocation as ``/distributions?fields=allocations`` shows it, without its trace; ``status`` is its
    obligation's."""
    return {
        "id": allocation.pk,
        "distributionId": allocation.distribution_id,
        "obligationId": allocation.obligation_id,
        "collaboratorId": allocation.collaborator_id,
        "status": status,
        "value": allocation.value,
        "score": allocation.score,
        "rank": allocation.rank,
    }


def record_distribution(event_type: str, distribution: Distribution) -> None:
    events.record(
        organization_id=distribution.organization_id,
        type=event_type,
        object_key=f"distribution:{distribution.pk}",
        payload=distribution_payload(distribution),
    )


def record_trigger_rows(
    *, organization_id: int, obligations: Iterable[Obligation], allocations: Iterable[Allocation]
) -> None:
    """``obligation.created`` and ``allocation.created`` for rows written in memory (``bulk_create``)."""
    obligations = list(obligations)
    statuses = {obligation.pk: obligation.status for obligation in obligations}
    record_obligations(OBLIGATION_CREATED, obligations)
    events.record_many(
        organization_id=organization_id,
        type=ALLOCATION_CREATED,
        items=[(f"allocation:{a.pk}", allocation_payload(a, statuses[a.obligation_id])) for a in allocations],
    )


def obligations_created_event_cte(
    *, organization_id: int, units: str, status: str, award_type: str, occurred_at: datetime
) -> tuple[str, list[Any]]:
    """``obligation.created`` for the rows of a statement's CTE ``obligation`` (``id, collaborator_id, value``), as
    a data-modifying CTE (PostgreSQL): ``, obligation_event AS (…)`` and its parameters. The payload equals
    ``obligation_payload`` for rows that share status, units, award type and instants."""
    table = connection.ops.quote_name(Event._meta.db_table)
    instant = iso_utc(occurred_at)
    sql = f""", obligation_event AS (
            INSERT INTO {table} ({EVENT_COLUMNS})
            SELECT %s::bigint, %s::text, %s::timestamptz, 'obligation:' || o.id,
                jsonb_build_object('id', o.id, 'collaboratorId', o.collaborator_id, 'value', o.value,
                    'units', %s::text, 'status', %s::text, 'awardType', %s::text,
                    'dateCreated', %s::text, 'dateModified', %s::text), false
            FROM obligation AS o ORDER BY o.id
        )"""
    return sql, [organization_id, OBLIGATION_CREATED, occurred_at, units, status, award_type, instant, instant]


EVENT_COLUMNS = "organization_id, type, occurred_at, object_key, payload, dispatched"


def trigger_rows_event_ctes(
    *, organization_id: int, distribution_id: int, units: str, status: str, occurred_at: datetime
) -> tuple[str, list[Any]]:
    """``obligation.created`` and ``allocation.created`` for a trigger's rows, as two data-modifying CTEs for the
    trigger's own statement (PostgreSQL), built from the ``RETURNING`` of its CTEs ``obligation`` (``id,
    collaborator_id, value``) and ``allocation`` (``id, obligation_id, collaborator_id, value, score, rank``):
    nothing is read back. Return the SQL (``, obligation_event AS (…), allocation_event AS (…)``, to follow the
    ``allocation`` CTE) and its parameters. The payloads equal ``obligation_payload`` / ``allocation_payload``
    (every row of one trigger has the same status, units and instants). Both types are written by one statement,
    so their ids may interleave; each object's own events stay in order."""
    sql, params = obligations_created_event_cte(
        organization_id=organization_id,
        units=units,
        status=status,
        award_type=AwardType.DISTRIBUTION,
        occurred_at=occurred_at,
    )
    sql += f""", allocation_event AS (
            INSERT INTO {connection.ops.quote_name(Event._meta.db_table)} ({EVENT_COLUMNS})
            SELECT %s::bigint, %s::text, %s::timestamptz, 'allocation:' || a.id,
                jsonb_build_object('id', a.id, 'distributionId', %s::bigint, 'obligationId', a.obligation_id,
                    'collaboratorId', a.collaborator_id, 'status', %s::text, 'value', a.value, 'score', a.score,
                    'rank', a.rank), false
            FROM allocation AS a ORDER BY a.id
        )"""
    params += [organization_id, ALLOCATION_CREATED, occurred_at, distribution_id, status]
    return sql, params
