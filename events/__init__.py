"""The event log (transactional outbox): every change an integrator cares about, written in the change's
transaction and read through ``GET /api/v1/events`` and the webhooks.

``record`` and ``record_many`` are the entry points the apps call next to their change (inside its
``transaction.atomic``); they are ``events.services.event_record`` / ``event_record_many``::

    events.record(organization_id=org.pk, type="obligation.approved", object_key=f"obligation:{o.pk}",
                  payload=obligation_payload(o))
    events.record_many(organization_id=org.pk, type="metrics.credited", items=[(key, payload), ...])
"""


def record(*, organization_id: int, type: str, payload: dict, object_key: str, occurred_at=None):
    from events.services import event_record

    return event_record(
        organization_id=organization_id, type=type, payload=payload, object_key=object_key, occurred_at=occurred_at
    )


def record_many(*, organization_id: int, type: str, items, occurred_at=None) -> int:
    from events.services import event_record_many

    return event_record_many(organization_id=organization_id, type=type, items=items, occurred_at=occurred_at)
