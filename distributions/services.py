"""Writes on distributions: opening periods, following obligations, cancelling.

The trigger itself lives in ``distributions.engine`` (pure arithmetic) and ``distributions.trigger``.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction

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


def distribution_missing_period(*, distributor: Distributor) -> tuple[datetime, datetime, int]:
    """``(period_start, trigger_date, rolled_over)`` of the period to open for a distributor with none pending.

    Its first period (from ``starts_at``) when it never had one; otherwise (a repair: history but nothing
    pending, which the engine itself never leaves behind) the period after its latest one, carrying in what
    that one carried forward. Reads only, so the dry run can show what would be opened.
    """
    latest = (
        Distribution.objects.filter(distributor=distributor)
        .order_by("-trigger_date")
        .values_list("trigger_date", "carried_forward")
        .first()
    )
    period_start, rolled_over = latest if latest else (distributor.starts_at, 0)
    return period_start, distribution_next_trigger(distributor=distributor, after=period_start), rolled_over


def distribution_open_missing(*, distributor: Distributor) -> Distribution | None:
    """Open the pending period of an active distributor that has none; return it, or None if one exists.

    The first period goes through ``distribution_open_first``; see ``distribution_missing_period`` for the
    repair case. Two heartbeats racing here both try to insert; the partial unique index lets one win and
    the loser returns None.
    """
    try:
        with transaction.atomic():
            if Distribution.objects.filter(distributor=distributor, status=DistributionStatus.PENDING).exists():
                return None
            opened = distribution_open_first(distributor=distributor)
            if opened is None:
                period_start, trigger_date, rolled_over = distribution_missing_period(distributor=distributor)
                opened = Distribution.objects.create(
                    organization_id=distributor.organization_id,
                    distributor=distributor,
                    period_start=period_start,
                    trigger_date=trigger_date,
                    rolled_over=rolled_over,
                )
            return opened
    except IntegrityError:
        return None


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
    """Set each triggered distribution to ``processing`` while an obligation is open, else ``complete``.

    The distributions are locked (in id order) *before* their open obligations are counted, in a statement of
    its own: under READ COMMITTED a statement sees what was committed when it started, so a caller that waited
    for the lock of a concurrent call (closing another obligation of the same distribution) must look again
    after getting it, or it would still see that obligation open and leave the distribution ``processing``.
    """
    ids = set(distribution_ids)
    if not ids:
        return
    locked = list(
        Distribution.objects.select_for_update()
        .filter(pk__in=ids)
        .exclude(status__in=[DistributionStatus.PENDING, DistributionStatus.CANCELLED])
        .order_by("pk")
    )
    if not locked:
        return
    with_open = set(
        Allocation.objects.filter(
            distribution_id__in=[distribution.pk for distribution in locked],
            obligation__status__in=OPEN_OBLIGATION_STATUSES,
        )
        .order_by()
        .values_list("distribution_id", flat=True)
        .distinct()
    )
    for distribution in locked:
        target = DistributionStatus.PROCESSING if distribution.pk in with_open else DistributionStatus.COMPLETE
        if distribution.status != target:
            distribution.transition_to(target)
            distribution.save(update_fields=["status", "modified_at"])
