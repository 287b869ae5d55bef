"""Reads on distributions shared by the engine (the heartbeat, its dry run) and the admin."""

from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from distributions.models import Distribution, DistributionStatus
from distributors.models import Distributor, DistributorStatus
from distributors.schedules import next_trigger_after


def distribution_next_trigger(*, distributor: Distributor, after: datetime) -> datetime:
    """The trigger date of the period that starts at ``after``, from the schedule in the organization's zone."""
    return next_trigger_after(
        distributor.schedule, tz=distributor.organization.tzinfo, anchor=distributor.starts_at, after=after
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


def distributions_due(
    *, as_of: datetime, organization_id: int | None = None, distributor_id: int | None = None
) -> QuerySet[Distribution]:
    """Pending distributions of active distributors whose trigger date is at or before ``as_of``.

    Ordered oldest first, then by distributor: each distributor has at most one pending distribution,
    so ``(trigger_date, distributor_id)`` is a total order, shared by the real run and the dry run.
    """
    due = Distribution.objects.filter(
        status=DistributionStatus.PENDING,
        trigger_date__lte=as_of,
        distributor__status=DistributorStatus.ACTIVE,
    )
    if organization_id is not None:
        due = due.filter(organization_id=organization_id)
    if distributor_id is not None:
        due = due.filter(distributor_id=distributor_id)
    return due.order_by("trigger_date", "distributor_id", "id")


def distributors_without_pending(
    *, organization_id: int | None = None, distributor_id: int | None = None
) -> QuerySet[Distributor]:
    """Active distributors that have no pending distribution (the heartbeat opens one for each)."""
    pending = Distribution.objects.filter(distributor=OuterRef("pk"), status=DistributionStatus.PENDING)
    distributors = Distributor.objects.filter(status=DistributorStatus.ACTIVE).exclude(Exists(pending))
    if organization_id is not None:
        distributors = distributors.filter(organization_id=organization_id)
    if distributor_id is not None:
        distributors = distributors.filter(pk=distributor_id)
    return distributors.select_related("organization").order_by("pk")
