from django.db import models

from organizations.models import Organization


class Event(models.Model):
    """One change an integrator cares about, written in the same transaction as the change (the outbox).

    ``payload`` is the changed object as the API shows it (core fields, camelCase); ``object_key`` names that
    object (``obligation:42``) so that deliveries keep each object's events in order. Append-only: only
    ``prune_events`` deletes, by age.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    object_key = models.CharField(max_length=64)
    payload = models.JSONField()
    # False until the webhooks deliverer has turned it into deliveries (``events_take_undispatched``); a flag
    # rather than a cursor on ids, because ids are allotted before commit and a cursor would skip a late one.
    dispatched = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "id"], name="event_org_id_idx"),
            models.Index(fields=["organization", "type", "id"], name="event_org_type_id_idx"),
            models.Index(fields=["occurred_at"], name="event_occurred_at_idx"),
            models.Index(fields=["id"], condition=models.Q(dispatched=False), name="event_undispatched_idx"),
        ]

    def __str__(self) -> str:
        return f"Event {self.pk}: {self.type} ({self.object_key})"
