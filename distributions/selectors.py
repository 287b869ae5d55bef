"""Reads on distributions shared by the engine (the heartbeat, its dry run) and the admin."""

from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from distributions.models import Distribution, DistributionStatus
from distributors.models import Distributor, DistributorStatus


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
