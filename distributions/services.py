"""Writes on distributions: opening periods, following obligations, cancelling.

The trigger itself lives in ``distributions.engine`` (pure arithmetic) and ``distributions.trigger``.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef

from distributions.models import Allocation, Distribution, DistributionStatus
from distributors.models import Distributor
from distributors.schedules import next_trigger_after
from obligations.models import OPEN_OBLIGATION_STATUSES


def distribution_next_trigger(*, distributor: Distributor, after: datetime) -> datetime:
    return next_trigger_after(
        distributor.schedule, tz=distributor.organization.tzinfo, anchor=distributor.starts_at, after=after
    )


def distribution_open_first(*, distributor: Distributor) -> Distribution | None:
    """Open the distributor's first period if it has never had one; return the pending distribution."""
    with transaction.atomic():
        pending = Distribution.objects.filter(distributor=distributor, status=DistributionStatus.PENDING).first()
        if pending or Distribution.objects.filter(distributor=distributor).exists():
            return pending
        return Distribution.objects.create(
            organization_id=distributor.organization_id,
            distributor=distributor,
            period_start=distributor.starts_at,
            trigger_date=distribution_next_trigger(distributor=distributor, after=distributor.starts_at),
        )


def distribution_cancel_pending(*, distributor: Distributor) -> int:
    """Cancel the open period of a distributor being deleted."""
    cancelled = 0
    for distribution in Distribution.objects.select_for_update().filter(
        distributor=distributor, status=DistributionStatus.PENDING
    ):
        distribution.transition_to(DistributionStatus.CANCELLED)
        distribution.save(update_fields=["status", "modified_at"])
        cancelled += 1
    return cancelled


def distributions_follow_obligations(*, distribution_ids: Iterable[int]) -> None:
    """Set each triggered distribution to ``processing`` while an obligation is open, else ``complete``."""
    ids = set(distribution_ids)
    if not ids:
        return
    open_obligation = Allocation.objects.filter(
        distribution=OuterRef("pk"), obligation__status__in=OPEN_OBLIGATION_STATUSES
    )
    rows = (
        Distribution.objects.select_for_update()
        .filter(pk__in=ids)
        .exclude(status__in=[DistributionStatus.PENDING, DistributionStatus.CANCELLED])
        .annotate(has_open=Exists(open_obligation))
    )
    for distribution in rows:
        target = DistributionStatus.PROCESSING if distribution.has_open else DistributionStatus.COMPLETE
        if distribution.status != target:
            distribution.transition_to(target)
            distribution.save(update_fields=["status", "modified_at"])
