"""Reading the status history: one query for any number of objects of one model."""

from collections import defaultdict
from collections.abc import Iterable

from django.db import models
from django.db.models import F, Window
from django.db.models.functions import RowNumber

from lifecycle.models import StatusChange
from lifecycle.services import model_label

HISTORY_LIMIT = 50


def status_history(
    *, model: type[models.Model] | str, object_ids: Iterable[int], limit: int | None = HISTORY_LIMIT
) -> dict[int, list[StatusChange]]:
    """The status moves of each of ``object_ids`` (ids without any are absent), oldest first: at most the
    latest ``limit`` of each (``None``: all). One query, whatever the number of objects (a window function
    numbers each object's rows newest first and keeps the first ``limit``)."""
    ids = sorted({int(pk) for pk in object_ids})
    if not ids:
        return {}
    rows = StatusChange.objects.filter(model=model_label(model), object_id__in=ids)
    if limit is not None:
        rows = rows.annotate(newest=Window(RowNumber(), partition_by=[F("object_id")], order_by=F("id").desc())).filter(
            newest__lte=limit
        )
    history: dict[int, list[StatusChange]] = defaultdict(list)
    for change in rows.order_by("object_id", "id"):
        history[change.object_id].append(change)
    return dict(history)


def status_history_count(*, model: type[models.Model] | str, object_id: int) -> int:
    return StatusChange.objects.filter(model=model_label(model), object_id=object_id).count()
