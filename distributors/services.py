"""Writes on distributors. Their periods are the distributions app's: it wraps these in
``distributions.services.distributor_save_with_periods`` / ``distributor_set_status_with_periods``, which the
admin and the demo call, so that an active distributor always has its open period."""

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from distributors.models import Distributor
from lifecycle.services import status_changes_record

# Written only by the engine (``distributor_mark_distributed``, ``distributor_mark_open``); a staff save must
# never put back a stale value.
_ENGINE_FIELDS = {"distributed_through", "open_until"}


def distributor_save(*, distributor: Distributor) -> Distributor:
    """Validate and save a distributor (its eligible collaborators are saved by the caller's form)."""
    distributor.full_clean(exclude=["eligible_collaborators"])
    with transaction.atomic():
        if distributor.pk is None or distributor._state.adding:
            distributor.save()
        else:
            fields = [
                f.name
                for f in Distributor._meta.concrete_fields
                if not f.primary_key and f.name not in _ENGINE_FIELDS and f.name != "created_at"
            ]
            distributor.save(update_fields=fields)
    return distributor


def distributor_set_status(*, distributor: Distributor, status: str, actor: str = "", reason: str = "") -> Distributor:
    """Move a distributor through its lifecycle (locked; the caller's transaction, if any, holds the lock); the
    move goes into its status history with ``actor`` (who) and ``reason`` (why)."""
    with transaction.atomic():
        locked = Distributor.objects.select_for_update().get(pk=distributor.pk)
        before = locked.status
        locked.transition_to(status)
        locked.save(update_fields=["status", "modified_at"])
        status_changes_record(
            model=Distributor,
            organization_id=locked.organization_id,
            changes=[(locked.pk, before, locked.status)],
            actor=actor,
            reason=reason,
        )
    distributor.status = locked.status
    return locked


def distributor_mark_distributed(*, distributor_id: int, through: datetime, open_until: datetime) -> None:
    """Record that the distributor's periods up to ``through`` are distributed and that its open period now ends
    at ``open_until`` (the engine, in the trigger's transaction, one statement): credits at or before ``through``
    are refused from then on. Never moves backwards."""
    Distributor.objects.filter(
        Q(distributed_through__isnull=True) | Q(distributed_through__lt=through), pk=distributor_id
    ).update(distributed_through=through, open_until=open_until)


def distributor_mark_open(*, distributor_id: int, open_until: datetime | None) -> None:
    """Record the trigger date of the distributor's open period (``None``: none is open), in the transaction that
    opens, triggers or cancels it. Credits read it to know whether they must hold the distributor against a
    trigger (``distributors.selectors.distributors_hold_for_credit``)."""
    Distributor.objects.filter(pk=distributor_id).update(open_until=open_until)
