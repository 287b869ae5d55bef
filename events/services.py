"""Writing the event log (the outbox). Call these inside the transaction that makes the change, next to it:
the event commits with the change or not at all.

- ``event_record`` writes one event; ``event_record_many`` one statement (batched) for many of one type;
  ``event_record_select`` one ``INSERT … SELECT`` whose rows (object key, ``jsonb`` payload) a query gives, on
  PostgreSQL (``metrics.events``: a batch's credits as one JSON parameter). A trigger's own rows' events are
  written by the trigger's statement itself (``distributions.events.trigger_rows_event_ctes``).
- ``events_take_undispatched`` / ``events_mark_dispatched``: the webhooks deliverer's read of new events.
- ``events_prune`` deletes events older than the retention, in batches.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from events.models import Event

BULK_BATCH_SIZE = 2000


def event_record(
    *, organization_id: int, type: str, payload: dict, object_key: str, occurred_at: datetime | None = None
) -> Event:
    """Record one event of ``type`` (e.g. ``obligation.approved``) about ``object_key`` (``obligation:42``)."""
    return Event.objects.create(
        organization_id=organization_id,
        type=type,
        occurred_at=occurred_at or timezone.now(),
        object_key=object_key,
        payload=payload,
    )


def event_record_many(
    *,
    organization_id: int,
    type: str,
    items: Iterable[tuple[str, dict]],
    occurred_at: datetime | None = None,
) -> int:
    """Record one event of ``type`` per ``(object_key, payload)`` item, in batched inserts; return the count.

    Ids follow the items' order, so per-object order is the order given.
    """
    occurred_at = occurred_at or timezone.now()
    rows = [
        Event(
            organization_id=organization_id,
            type=type,
            occurred_at=occurred_at,
            object_key=object_key,
            payload=payload,
        )
        for object_key, payload in items
    ]
    Event.objects.bulk_create(rows, batch_size=BULK_BATCH_SIZE)
    return len(rows)


def event_record_select(
    *, organization_id: int, type: str, select_sql: str, params: Sequence, occurred_at: datetime | None = None
) -> int:
    """Record one event per row of ``select_sql``, whose two columns are the object key (text) and the payload
    (``jsonb``), in one ``INSERT … SELECT`` (PostgreSQL); return the count. The rows are inserted in the
    select's order (give it an ``ORDER BY``)."""
    table = connection.ops.quote_name(Event._meta.db_table)
    sql = f"""INSERT INTO {table} (organization_id, type, occurred_at, object_key, payload, dispatched)
        SELECT %s, %s, %s, source.object_key, source.payload, false
        FROM ({select_sql}) AS source(object_key, payload)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization_id, type, occurred_at or timezone.now(), *params])
        return cursor.rowcount


def events_take_undispatched(*, limit: int) -> list[Event]:
    """Lock and return up to ``limit`` events not yet dispatched, oldest first (``SKIP LOCKED`` on PostgreSQL:
    two deliverers take different events). Call inside ``transaction.atomic`` and mark them dispatched in it."""
    queryset = Event.objects.filter(dispatched=False).order_by("id")
    if connection.features.has_select_for_update_skip_locked:
        queryset = queryset.select_for_update(skip_locked=True, of=("self",))
    return list(queryset[:limit])


def events_mark_dispatched(*, event_ids: Iterable[int]) -> int:
    return Event.objects.filter(pk__in=list(event_ids)).update(dispatched=True)


def events_prune(*, older_than: datetime | None = None, batch_size: int = 5000, max_batches: int | None = None) -> int:
    """Delete events that occurred before ``older_than`` (default: now - ``EVENT_RETENTION_DAYS``), ``batch_size``
    at a time, each batch in its own transaction, so no statement deletes unboundedly; return the count."""
    if older_than is None:
        older_than = timezone.now() - timedelta(days=settings.EVENT_RETENTION_DAYS)
    deleted = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            ids = list(
                Event.objects.filter(occurred_at__lt=older_than)
                .order_by("occurred_at")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            # ``delete()`` (not a raw delete) so that the events' webhook deliveries and attempts go with them.
            deleted += Event.objects.filter(pk__in=ids).delete()[1].get(Event._meta.label, 0)
        batches += 1
    return deleted
