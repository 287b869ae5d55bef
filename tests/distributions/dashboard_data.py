"""Data for the admin dashboard's tests (``test_dashboard.py``, ``tests/e2e/test_admin_dashboard.py``): triggered
periods with paid and unpaid allocations, an overdue and an upcoming pending period per distributor, obligations
awaiting approval and an engine run, in sizes from one of each to many."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from distributions.models import Distribution, DistributionStatus
from distributors.models import Distributor
from organizations.models import Organization
from tests.factories import (
    AllocationFactory,
    CollaboratorFactory,
    DistributionFactory,
    DistributorFactory,
    EngineRunFactory,
    ObligationFactory,
    PayoutFactory,
)

PERIOD = timedelta(days=7)


@dataclass
class MoneyWorld:
    distributors: list[Distributor] = field(default_factory=list)
    overdue: list[Distribution] = field(default_factory=list)
    upcoming: list[Distribution] = field(default_factory=list)


def money_world(
    organization: Organization,
    *,
    now: datetime,
    distributors: int = 1,
    periods: int = 1,
    paid_per_period: int = 1,
    unpaid_per_period: int = 1,
    pending_obligations: int = 1,
    overdue: int = 1,
    engine_runs: int = 1,
    units: tuple[str, ...] = ("USD",),
) -> MoneyWorld:
    """In ``organization``: ``distributors`` distributors (cycling through ``units``), each with ``periods``
    weekly triggered periods ending a week before ``now`` (pools 100.00, 200.00, …; equal allocations with one
    share of the pool left unallocated: ``paid_per_period`` of them paid, ``unpaid_per_period`` approved),
    and one pending period: overdue by an hour for the first ``overdue`` distributors, due in
    ``i + 1`` days otherwise. Plus ``pending_obligations`` manual obligations of 12.34 in each of ``units``
    and ``engine_runs`` succeeded engine runs, the latest 30 seconds before ``now``."""
    world = MoneyWorld()
    people = [
        CollaboratorFactory(organization=organization) for _ in range(max(paid_per_period + unpaid_per_period, 1))
    ]
    for i in range(distributors):
        unit = units[i % len(units)]
        last_trigger = now - PERIOD - timedelta(hours=i)
        distributor = DistributorFactory(
            organization=organization,
            name=f"Distributor {i + 1} ({unit})",
            units=unit,
            schedule="weekly",
            starts_at=last_trigger - PERIOD * periods,
            distributed_through=last_trigger if periods else None,
        )
        world.distributors.append(distributor)
        for k in range(periods):
            _triggered_period(
                distributor,
                trigger_date=last_trigger - PERIOD * (periods - 1 - k),
                pool=10_000 * (k + 1),
                paid=people[:paid_per_period],
                unpaid=people[paid_per_period : paid_per_period + unpaid_per_period],
            )
        late = i < overdue
        trigger = now - timedelta(hours=1) if late else now + timedelta(days=i + 1)
        pending = DistributionFactory(
            distributor=distributor,
            status=DistributionStatus.PENDING,
            period_start=max(last_trigger, trigger - PERIOD) if periods else trigger - PERIOD,
            trigger_date=trigger,
        )
        (world.overdue if late else world.upcoming).append(pending)
    for unit in units:
        for _ in range(pending_obligations):
            ObligationFactory(organization=organization, collaborator=people[0], value=1234, units=unit)
    for n in range(engine_runs):
        started = now - timedelta(seconds=30) - timedelta(minutes=n)
        EngineRunFactory(
            started_at=started,
            finished_at=started + timedelta(seconds=2),
            as_of=started,
            status="succeeded",
            triggered_count=2,
            opened_count=1,
        )
    return world


def _triggered_period(distributor, *, trigger_date, pool, paid, unpaid) -> Distribution:
    share = pool // (len(paid) + len(unpaid) + 1)  # each allocation; one share stays unallocated
    value = share * (len(paid) + len(unpaid))
    distribution = DistributionFactory(
        distributor=distributor,
        status=DistributionStatus.PROCESSING if unpaid else DistributionStatus.COMPLETE,
        period_start=trigger_date - PERIOD,
        trigger_date=trigger_date,
        pool=pool,
        value=value,
        unallocated=pool - value,
        triggered_at=trigger_date,
    )
    rank = 0
    for collaborator in paid:
        rank += 1
        payout = PayoutFactory(
            organization=distributor.organization,
            collaborator=collaborator,
            units=distributor.units,
            amount=share,
            status="paid",
            paid_at=trigger_date,
        )
        AllocationFactory(
            distribution=distribution,
            collaborator=collaborator,
            value=share,
            rank=rank,
            score=10,
            obligation__status="fulfilled",
            obligation__payout=payout,
            obligation__units=distributor.units,
        )
    for collaborator in unpaid:
        rank += 1
        AllocationFactory(
            distribution=distribution,
            collaborator=collaborator,
            value=share,
            rank=rank,
            score=5,
            obligation__status="approved",
            obligation__units=distributor.units,
        )
    return distribution
