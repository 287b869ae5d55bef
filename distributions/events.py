"""The events of distributions and allocations, and the engine's bulk recording of a trigger's rows.

Catalog: ``distribution.triggered``, ``distribution.completed``, ``distribution.cancelled``,
``allocation.created``; a trigger also records ``obligation.created`` for each obligation it creates (its
payload: ``obligations.events.obligation_payload``).

A trigger writes up to 100 000 obligations and allocations; their events are written by two statements, one per
type: on PostgreSQL an ``INSERT … SELECT`` that builds the payloads in the database from the rows just written
(no ids travel back to Python), elsewhere a batched ``bulk_create`` from the rows in memory. The payloads are the
same either way (``tests/events/test_engine_events.py`` compares them).
"""

from collections.abc import Iterable

import events
from clock import iso_utc
from distributions.models import Allocation, Distribution
from events.services import event_record_select
from obligations.events import obligation_payload_sql, record_obligations
from obligations.models import Obligation

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


def record_trigger_rows_postgresql(*, organization_id: int, distribution_id: int) -> None:
    """``obligation.created`` and ``allocation.created`` for every allocation of ``distribution_id`` and its
    obligation, built by the database (two ``INSERT … SELECT``)."""
    allocation_table = Allocation._meta.db_table
    obligation_table = Obligation._meta.db_table
    source = (
        f'FROM "{allocation_table}" AS a JOIN "{obligation_table}" AS o ON o.id = a.obligation_id '
        "WHERE a.distribution_id = %s"
    )
    event_record_select(
        organization_id=organization_id,
        type=OBLIGATION_CREATED,
        select_sql=f"SELECT 'obligation:' || o.id, {obligation_payload_sql('o')} {source} ORDER BY o.id",
        params=[distribution_id],
    )
    allocation_sql = (
        "jsonb_build_object('id', a.id, 'distributionId', a.distribution_id, 'obligationId', a.obligation_id, "
        "'collaboratorId', a.collaborator_id, 'status', o.status, 'value', a.value, 'score', a.score, "
        "'rank', a.rank)"
    )
    event_record_select(
        organization_id=organization_id,
        type=ALLOCATION_CREATED,
        select_sql=f"SELECT 'allocation:' || a.id, {allocation_sql} {source} ORDER BY a.id",
        params=[distribution_id],
    )
