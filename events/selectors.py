"""Reads of the event log shared by the API and the webhooks."""

from clock import iso_utc
from events.models import Event


def event_representation(event: Event) -> dict:
    """An event as ``GET /api/v1/events`` lists it and as a webhook delivers it (the body, signed)."""
    return {"id": event.pk, "type": event.type, "occurredAt": iso_utc(event.occurred_at), "data": event.payload}
