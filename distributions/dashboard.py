"""The money at a glance: the reads behind the admin index's dashboard (``templatetags/admin_dashboard.py``).

Each read takes an optional ``organization`` (``None``: every organization, which is what staff see today)
and costs a fixed number of queries whatever the number of rows; ``dashboard_read`` makes
``DASHBOARD_QUERIES`` in all. Every list is bounded (``OVERDUE_LISTED``, ``NEXT_TRIGGERS``,
``CHART_DISTRIBUTORS`` × ``CHART_PERIODS``), so the page costs the same with ten rows or ten million.

- The last engine run: the latest started run that covered the organization (a run limited to another
  organization does not count), and whether it is stale (started more than ``STALE_RUN_AFTER`` ago: the
  heartbeat runs every minute, so a stale run means cron stopped).
- Overdue periods: what the heartbeat would trigger (``distributions_due``) as of ``OVERDUE_GRACE`` ago,
  i.e. due for longer than a heartbeat should ever leave them.
- Obligations awaiting approval (``pending``): count and amount per units.
- The next triggers: the next pending periods of active distributors, overdue ones excepted.
- Pool against paid: the latest ``CHART_PERIODS`` triggered periods of the ``CHART_DISTRIBUTORS``
  distributors triggered most recently (by ``distributed_through``, the trigger date of their latest
  triggered period); paid is the sum of the allocations whose obligation is fulfilled.
- Webhook endpoints disabled automatically (every delivery failed for ``WEBHOOKS_DISABLE_AFTER_DAYS``): the
  latest ``DISABLED_ENDPOINTS_LISTED``, until staff reactivate them. One query.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber

from distributions.models import Allocation, Distribution, DistributionStatus, EngineRun
from distributions.selectors import distributions_due
from distributors.models import Distributor, DistributorStatus
from obligations.models import Obligation, ObligationStatus
from organizations.models import Organization
from webhooks.models import WebhookEndpoint

OVERDUE_GRACE = timedelta(minutes=5)
STALE_RUN_AFTER = timedelta(minutes=5)
OVERDUE_LISTED = 5
NEXT_TRIGGERS = 8
CHART_DISTRIBUTORS = 6
CHART_PERIODS = 12
DISABLED_ENDPOINTS_LISTED = 5
DASHBOARD_QUERIES = 9  # 1 run + 2 overdue + 1 approvals + 1 next triggers + 3 chart + 1 disabled endpoints

TRIGGERED_STATUSES = (DistributionStatus.PROCESSING, DistributionStatus.COMPLETE)


@dataclass(frozen=True)
class LastRun:
    run: EngineRun
    stale: bool  # started more than STALE_RUN_AFTER before as_of

    @property
    def failed(self) -> bool:
        return self.run.status == "failed" or self.run.error_count > 0


@dataclass(frozen=True)
class Overdue:
    count: int
    oldest: list[Distribution]  # at most OVERDUE_LISTED, oldest trigger date first (distributor, organization)
    cutoff: datetime  # trigger dates at or before this are overdue


@dataclass(frozen=True)
class UnitsTotal:
    units: str
    count: int
    amount: int  # minor units


@dataclass(frozen=True)
class Period:
    distribution_id: int
    period_start: datetime
    trigger_date: datetime
    pool: int
    allocated: int
    paid: int


@dataclass(frozen=True)
class DistributorSeries:
    distributor: Distributor  # with its organization
    periods: list[Period]  # oldest first


@dataclass(frozen=True)
class Dashboard:
    as_of: datetime
    organization: Organization | None
    last_run: LastRun | None
    overdue: Overdue
    awaiting_approval: list[UnitsTotal]
    next_triggers: list[Distribution]
    chart: list[DistributorSeries]
    disabled_endpoints: list[WebhookEndpoint]  # at most DISABLED_ENDPOINTS_LISTED, latest disabled first


def _org_filter(organization: Organization | None, field: str = "organization") -> Q:
    return Q(**{field: organization}) if organization is not None else Q()


def engine_run_last(*, as_of: datetime, organization: Organization | None = None) -> LastRun | None:
    """The latest started engine run that covered ``organization`` (any run when ``None``). One query."""
    runs = EngineRun.objects.all()
    if organization is not None:
        # ``options.organization`` is the --organization slug of the run, null (or absent) for every organization.
        runs = runs.filter(
            Q(options__organization=None)
            | Q(options__organization__isnull=True)
            | Q(options__organization=organization.slug)
        )
    run = runs.order_by("-started_at", "-pk").first()
    if run is None:
        return None
    return LastRun(run=run, stale=as_of - run.started_at > STALE_RUN_AFTER)


def distributions_overdue(*, as_of: datetime, organization: Organization | None = None) -> Overdue:
    """Pending periods of active distributors due for more than ``OVERDUE_GRACE``: the count and the
    oldest few. Two queries."""
    cutoff = as_of - OVERDUE_GRACE
    due = distributions_due(as_of=cutoff, organization_id=organization.pk if organization else None)
    oldest = list(due.select_related("distributor", "organization")[:OVERDUE_LISTED])
    return Overdue(count=due.count(), oldest=oldest, cutoff=cutoff)


def obligations_awaiting_approval(*, organization: Organization | None = None) -> list[UnitsTotal]:
    """Pending obligations per units (count, amount in minor units), by units. One query."""
    rows = (
        Obligation.objects.filter(_org_filter(organization), status=ObligationStatus.PENDING)
        .values("units")
        .annotate(count=Count("pk"), amount=Sum("value"))
        .order_by("units")
    )
    return [UnitsTotal(units=row["units"], count=row["count"], amount=row["amount"] or 0) for row in rows]


def distributions_next_triggers(
    *, as_of: datetime, organization: Organization | None = None, limit: int = NEXT_TRIGGERS
) -> list[Distribution]:
    """The next ``limit`` pending periods of active distributors by trigger date, the overdue ones
    (``distributions_overdue``) left out; with distributor and organization. One query."""
    return list(
        Distribution.objects.filter(
            _org_filter(organization),
            status=DistributionStatus.PENDING,
            distributor__status=DistributorStatus.ACTIVE,
            trigger_date__gt=as_of - OVERDUE_GRACE,
        )
        .select_related("distributor", "organization")
        .order_by("trigger_date", "distributor_id", "pk")[:limit]
    )


def distributors_recently_triggered(
    *, organization: Organization | None = None, limit: int = CHART_DISTRIBUTORS
) -> QuerySet[Distributor]:
    """The ``limit`` distributors (not deleted) whose latest triggered period is the most recent."""
    return (
        Distributor.objects.filter(_org_filter(organization), distributed_through__isnull=False)
        .exclude(status=DistributorStatus.DELETED)
        .select_related("organization")
        .order_by("-distributed_through", "-pk")[:limit]
    )


def pool_and_paid_series(
    *, organization: Organization | None = None, distributors: int = CHART_DISTRIBUTORS, periods: int = CHART_PERIODS
) -> list[DistributorSeries]:
    """Pool, allocated and paid of the latest ``periods`` triggered periods of the ``distributors`` most
    recently triggered distributors. Three queries: the distributors, their periods, the paid sums."""
    chosen = list(distributors_recently_triggered(organization=organization, limit=distributors))
    if not chosen:
        return []
    latest = (
        Distribution.objects.filter(distributor__in=chosen, status__in=TRIGGERED_STATUSES)
        .annotate(recency=Window(RowNumber(), partition_by=[F("distributor_id")], order_by=[F("trigger_date").desc()]))
        .filter(recency__lte=periods)
        .values_list("pk", "distributor_id", "period_start", "trigger_date", "pool", "value")
    )
    rows = list(latest)
    if not rows:
        return [DistributorSeries(distributor, []) for distributor in chosen]
    paid = dict(
        Allocation.objects.filter(
            distribution_id__in=[row[0] for row in rows], obligation__status=ObligationStatus.FULFILLED
        )
        .values("distribution_id")
        .annotate(total=Sum("value"))
        .values_list("distribution_id", "total")
    )
    by_distributor: dict[int, list[Period]] = {distributor.pk: [] for distributor in chosen}
    for pk, distributor_id, period_start, trigger_date, pool, value in sorted(rows, key=lambda row: row[3]):
        by_distributor[distributor_id].append(
            Period(pk, period_start, trigger_date, pool or 0, value, paid.get(pk) or 0)
        )
    return [DistributorSeries(distributor, by_distributor[distributor.pk]) for distributor in chosen]


def webhook_endpoints_disabled(
    *, organization: Organization | None = None, limit: int = DISABLED_ENDPOINTS_LISTED
) -> list[WebhookEndpoint]:
    """Endpoints disabled automatically and not reactivated since, latest first, with their organization. One
    query."""
    return list(
        WebhookEndpoint.objects.filter(_org_filter(organization), active=False, disabled_at__isnull=False)
        .select_related("organization")
        .order_by("-disabled_at", "-pk")[:limit]
    )


def dashboard_read(*, as_of: datetime, organization: Organization | None = None) -> Dashboard:
    """Everything the dashboard shows: ``DASHBOARD_QUERIES`` queries once any distributor was triggered (two
    fewer before: no periods to chart), whatever the number of rows."""
    return Dashboard(
        as_of=as_of,
        organization=organization,
        last_run=engine_run_last(as_of=as_of, organization=organization),
        overdue=distributions_overdue(as_of=as_of, organization=organization),
        awaiting_approval=obligations_awaiting_approval(organization=organization),
        next_triggers=distributions_next_triggers(as_of=as_of, organization=organization),
        chart=pool_and_paid_series(organization=organization),
        disabled_endpoints=webhook_endpoints_disabled(organization=organization),
    )
