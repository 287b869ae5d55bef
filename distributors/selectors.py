"""Reads about distributors shared by the crediting service, the engine, the API and the admin."""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from collaborators.models import Collaborator
from distributors.models import Distributor, DistributorStatus, Eligibility, MetricType, PoolResolver


def credit_targets(
    *, collaborator: Collaborator, metric_type: str, distributor_id: int | None = None
) -> list[MetricType]:
    """The metric types (with their distributors) a credit of ``metric_type`` lands on, in distributor order:
    every active distributor of the collaborator's organization that counts the type and that the
    collaborator is eligible for (``allActive``, or ``selected`` with the collaborator selected)."""
    selected = Distributor.eligible_collaborators.through.objects.filter(
        distributor_id=OuterRef("distributor_id"), collaborator_id=collaborator.pk
    )
    eligible = Q(distributor__eligibility=Eligibility.ALL_ACTIVE) | Q(
        Exists(selected), distributor__eligibility=Eligibility.SELECTED
    )
    targets: QuerySet[MetricType] = MetricType.objects.filter(
        eligible,
        name=metric_type,
        distributor__organization_id=collaborator.organization_id,
        distributor__status=DistributorStatus.ACTIVE,
    ).select_related("distributor")
    if distributor_id is not None:
        targets = targets.filter(distributor_id=distributor_id)
    return list(targets.order_by("distributor_id"))


def distributors_hold_for_credit(*, distributor_ids: list[int]) -> dict[int, datetime | None]:
    """The credited distributors held against a trigger; see ``_hold_against_trigger``."""
    return _hold_against_trigger(distributor_ids)


@dataclass(frozen=True)
class HeldDistributor:
    starts_at: datetime
    units: str
    distributed_through: datetime | None


def distributors_hold_for_revenue(*, organization_id: int, units: set[str]) -> dict[int, HeldDistributor]:
    """The organization's revenue-share distributors in ``units`` (not deleted) held against a trigger while
    revenue is imported, with ``distributed_through`` read after the hold was granted."""
    ids = list(
        Distributor.objects.filter(
            organization_id=organization_id, pool_resolver=PoolResolver.REVENUE_SHARE, units__in=sorted(units)
        )
        .exclude(status=DistributorStatus.DELETED)
        .values_list("pk", flat=True)
    )
    held = _hold_against_trigger(ids)
    rows = Distributor.objects.filter(pk__in=ids).values_list("pk", "starts_at", "units")
    return {pk: HeldDistributor(starts_at, units, held[pk]) for pk, starts_at, units in rows}


def _hold_against_trigger(distributor_ids: list[int]) -> dict[int, datetime | None]:
    """Hold the distributors against a trigger while a credit (or revenue) is written; return each one's
    ``distributed_through`` as committed *after* the hold was granted.

    PostgreSQL: ``FOR KEY SHARE`` on the distributor rows (in id order). It conflicts with the trigger's
    ``FOR UPDATE`` of its distributor but not with other credits, so a credit that comes while a period is
    being triggered waits for that trigger to commit (and then reads the new ``distributed_through``), and a
    heartbeat that comes while a credit holds the distributor skips that period until its next run. SQLite
    needs no lock: the project's write transactions begin IMMEDIATE, so a credit and a trigger never overlap.
    Call inside ``transaction.atomic``.
    """
    ids = sorted(set(distributor_ids))
    if connection.vendor != "postgresql":
        return dict(Distributor.objects.filter(pk__in=ids).values_list("pk", "distributed_through"))
    table = connection.ops.quote_name(Distributor._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, distributed_through FROM {table} WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE", [ids]
        )
        return dict(cursor.fetchall())
