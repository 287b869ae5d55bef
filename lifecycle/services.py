"""Writing the status history: ``status_changes_record``, the one writer of ``StatusChange``.

Every service that moves a status calls it in the transaction of the move, after the move was validated
(``LifecycleModelMixin.transition_to``) and with the status the row had before it, so a move that is rolled
back leaves no history and no move is written without its row.

Decisions:

- One bulk ``INSERT`` for the whole batch, whatever its size (a payout paid with 10,000 obligations is one
  statement for the obligations' rows).
- A change whose from and to are equal is not a move and is skipped (a fulfillment already ``processing``).
- Creation is not a transition: an object created in its start status (a trigger's 100,000 obligations, a
  fulfillment and its payouts, an adjustment) records nothing; its ``created_at`` says when.
- ``actor`` and ``reason`` are cut to their columns' lengths rather than refused: history must never make a
  move fail.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import models
from django.utils import timezone

from lifecycle.models import StatusChange

Change = tuple[int, str, str] | tuple[int, str, str, int]


def model_label(model: type[models.Model] | models.Model | str) -> str:
    """The label a history row names its model by (``"obligations.obligation"``)."""
    if isinstance(model, str):
        return model.lower()
    return model._meta.label_lower


def status_changes_record(
    *,
    model: type[models.Model] | str,
    organization_id: int | None,
    changes: Iterable[Change],
    actor: str = "",
    reason: str = "",
    at: datetime | None = None,
) -> int:
    """Record status moves of ``model``'s rows: ``changes`` are ``(object_id, from_status, to_status)``, or
    ``(object_id, from_status, to_status, organization_id)`` for a batch spanning organizations (the fourth
    item overrides ``organization_id``). One statement; returns how many rows were written."""
    label = model_label(model)
    moment = at or timezone.now()
    actor = str(actor or "")[: StatusChange._meta.get_field("actor").max_length]
    reason = str(reason or "").strip()
    rows = []
    for change in changes:
        object_id, from_status, to_status = change[0], str(change[1]), str(change[2])
        if from_status == to_status:
            continue
        tenant = change[3] if len(change) > 3 else organization_id
        if tenant is None:
            raise ValueError(f"{label} {object_id}: a status change needs its organization.")
        rows.append(
            StatusChange(
                organization_id=tenant,
                model=label,
                object_id=object_id,
                from_status=from_status,
                to_status=to_status,
                at=moment,
                actor=actor,
                reason=reason,
            )
        )
    if rows:
        StatusChange.objects.bulk_create(rows, batch_size=5000)
    return len(rows)
