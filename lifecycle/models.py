"""The status history: one ``StatusChange`` row per status move of any model, never edited or deleted.

The lowest layer (with ``clock``): it knows no other app, so a row names its object by model label and id and
its tenant by a plain organization id, and every app's services write it through
``lifecycle.services.status_changes_record`` in the transaction of the move.
"""

from django.db import models


class StatusChangeQuerySet(models.QuerySet):
    """History is append-only: a queryset refuses ``update`` and ``delete`` (rows are written by
    ``status_changes_record`` in one bulk insert and never change)."""

    def update(self, **kwargs):
        raise TypeError("Status history is never edited.")

    def delete(self):
        raise TypeError("Status history is never deleted.")

    update.queryset_only = True
    delete.queryset_only = True


class StatusChange(models.Model):
    """One status move: ``model`` (the model label, ``"obligations.obligation"``) row ``object_id`` went from
    ``from_status`` to ``to_status`` at ``at``, moved by ``actor`` for ``reason``.

    - ``organization_id``: the tenant of the object, a plain integer (this layer may not name ``Organization``):
      it scopes the history the way the object is scoped and survives nothing being cascaded onto it.
    - ``actor``: who moved it, as text: ``staff:<username>``, ``api:<key prefix>``, ``command:<name>``,
      ``engine:run <id>`` (``engine`` alone when no run is recorded), ``""`` when the caller did not say.
    - ``reason``: why, as staff typed it on the action's confirmation page (empty when none was asked).
    - An API key has no status column: its revocation is recorded as ``active`` → ``revoked``.
    """

    organization_id = models.BigIntegerField()
    model = models.CharField(max_length=100)
    object_id = models.BigIntegerField()
    from_status = models.CharField(max_length=32)
    to_status = models.CharField(max_length=32)
    at = models.DateTimeField()
    actor = models.CharField(max_length=200, blank=True, default="")
    reason = models.TextField(blank=True, default="")

    objects = StatusChangeQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["model", "object_id", "id"], name="statuschange_object_idx"),
            models.Index(fields=["organization_id", "id"], name="statuschange_org_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(from_status=models.F("to_status")), name="statuschange_moves"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.object_id}: {self.from_status} → {self.to_status}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Status history is never edited.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Status history is never deleted.")
