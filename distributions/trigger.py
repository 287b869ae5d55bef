"""Triggering one distribution: load its inputs, plan the split, write the plan.

The trigger is cut in two so that ``run_distributions --dry-run`` prints exactly what a real run writes:

- ``distribution_plan`` reads (a fixed number of queries whatever the number of collaborators: on
  PostgreSQL one for the settings below, none or one for the pool, one for the scores), calls the pure
  ``split_pool`` and returns a frozen :class:`DistributionPlan`. It never writes.
- ``distribution_plan_write`` writes that plan in the caller's transaction: one obligation and one
  allocation per share, the distribution's figures and status, and the next pending period.

The same ``distribution_plan`` is the open period's standings (``distributions.standings``): a preview is
exactly what a trigger would write at that instant.

``distribution_trigger`` chains the two for a distribution the caller has locked. A dry run calls
``distribution_plan`` alone, for the pending period and for the periods a catch-up would open after it
(see ``distributions.heartbeat``).

Decisions, where the design is silent:

- **Pool.** ``fixed``: ``pool_amount`` per period. ``revenueShare``: the sum of the organization's revenue
  entries in the distributor's units with ``occurred_at`` in (period_start, trigger_date], times
  ``pool_percent_bp`` // 10 000 (rounded down once, on the period's total). Either way plus
  ``rolled_over``.
- **Scores.** One aggregate over the distributor's metric credits in (period_start, trigger_date]:
  ``SUM(points)`` and ``MIN(credited_at)`` (the split's tie-break) per collaborator. Only collaborators
  that are active *when the engine runs* and eligible then (``allActive``, or selected) count: a
  collaborator made inactive before the heartbeat does not earn, even for points made while active.
- **Rollover.** With ``rollover_unearned``, everything the split leaves unallocated is carried forward
  (no scorer at all, or ``topN`` places nobody filled) and becomes the next period's ``rolled_over``;
  without it, it stays ``unallocated``. ``pool = value + unallocated + carried_forward`` is a database
  constraint.
- **Trace.** The trigger records how it got its figures, so that they can be explained whatever the
  distributor's rules become: on the distribution the pool's derivation (``pool_resolver``,
  ``period_pool``, for a revenue share ``pool_percent_bp``, ``revenue_entries`` and ``revenue_total``), the
  rule (``distribution_resolver``, ``tie_policy``, ``top_n_weights``), ``scorer_count`` and the split's
  common ``share_denominator``; on each allocation three typed columns, ``share_numerator`` (exact share =
  pool x numerator / denominator), ``rounding_unit`` and ``tie_break`` (what decided that unit). They ride
  on the same single statement as the allocations (three more arrays). A denominator beyond bigint (only
  conceivable for sums of huge scores) leaves the numerators and the denominator unrecorded (null).
- **Status.** ``processing`` when the trigger created obligations (they start as the distributor's
  ``obligation_start_status``; an allocation's status is its obligation's), ``complete`` when it paid nothing.
- **Times.** ``triggered_at`` and the obligations' timestamps are the real wall-clock time of the write;
  ``--now`` only decides what is due (the engine run records it as ``as_of``).
- **Bulk write.** On PostgreSQL, obligations and allocations are written by a single statement: a
  data-modifying CTE inserts the obligations from ``unnest()`` of seven arrays (four for the shares, three
  for their trace) and a second one creates the allocations from its ``RETURNING`` rows, joined on the
  collaborator (unique within a distribution);
  the statement returns one flag read from ``pg_class`` (see ``_write_shares_postgresql``). This avoids
  pre-allocating ids and shipping them back and forth, and keeps the statement count independent of the
  number of collaborators. Rows go in the split's order (rank, then tie-break), so ids follow it and
  ``ORDER BY rank, id`` lists equal ranks in tie-break order; inserting by collaborator id would be ~0.2 s
  faster at 100 000 rows, not worth that. Other databases (SQLite) use ``bulk_create``, in the same order.
- **Planner settings.** On PostgreSQL the plan's reads, and in a trigger the rest of its transaction, run
  under ``POSTGRESQL_TRIGGER_SETTINGS`` (transaction-local; a dry run's reads get a transaction of their
  own). Among them ``enable_nestloop = off``, so that the trigger's joins do not depend on the tables'
  statistics: a database whose tables were never analyzed otherwise turns the score aggregate quadratic.
  The one plan settings cannot steer is the foreign-key check at commit when the obligations' statistics
  say the table is empty while it has pages; only then the trigger runs ``ANALYZE`` on it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import BigIntegerField, Count, Exists, Min, OuterRef, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from clock import iso_utc
from collaborators.models import Collaborator, CollaboratorStatus
from distributions.engine.splits import TOP_N, ScoredCollaborator, Share, split_pool
from distributions.events import (
    DISTRIBUTION_COMPLETED,
    DISTRIBUTION_TRIGGERED,
    record_distribution,
    record_trigger_rows,
    trigger_rows_event_ctes,
)
from distributions.models import Allocation, Distribution, DistributionStatus
from distributions.selectors import distribution_next_trigger, distributions_due
from distributors.models import Distributor, Eligibility, PoolResolver, RevenueEntry
from distributors.selectors import LOCK_NOT_AVAILABLE, lock_timeout_set
from distributors.services import distributor_mark_distributed
from lifecycle.services import status_changes_record
from metrics.models import MetricCredit
from obligations.models import AwardType, Obligation

BASIS_POINTS = 10_000
BIGINT_MAX = 2**63 - 1

# Transaction-local PostgreSQL settings for a trigger's reads and writes (one statement, see
# ``_postgresql_trigger_settings``):
# - work_mem: enough memory for the score aggregate and the write's sorts of ~100 000 rows not to spill to disk;
# - jit off: its compile time (~0.2 s) exceeds what it saves on these one-off queries;
# - enable_nestloop off: the joins of a trigger are set-to-set (a period's credits to the organization's
#   collaborators, the new obligations to the shares), for which a hash or merge join is right at any size.
#   Without column statistics (tables never analyzed: a fresh database) the planner's default selectivities
#   estimate ~1 row per side of the score aggregate and pick a nested loop that rescans the organization's
#   active collaborators for every credit: O(credits x collaborators), 110 s instead of 0.08 s for 40 000 x
#   40 000. The deferred foreign-key checks are single-row lookups, not joins, so they are unaffected.
POSTGRESQL_TRIGGER_SETTINGS = {"work_mem": "64MB", "jit": "off", "enable_nestloop": "off"}


class DistributionAlreadyTriggered(Exception):
    """The distribution was no longer pending when the plan was written (the lock was not held)."""


@dataclass(frozen=True)
class DistributionPlan:
    """What triggering one period writes. ``distribution_id`` is None for a period a dry run simulates."""

    distribution_id: int | None
    distributor_id: int
    distributor_name: str
    organization_id: int
    organization_slug: str
    units: str
    resolver: str
    period_start: datetime
    trigger_date: datetime
    rolled_over: int
    period_pool: int
    pool: int
    shares: Sequence[Share] = field(repr=False)
    unallocated: int
    carried_forward: int
    obligation_status: str
    next_trigger_date: datetime
    # The trace (recorded on the distribution; see the module docstring).
    pool_resolver: str = PoolResolver.FIXED
    pool_percent_bp: int | None = None
    revenue_entries: int | None = None
    revenue_total: int | None = None
    tie_policy: str = ""
    top_n_weights: tuple[int, ...] | None = None
    scorer_count: int = 0
    share_denominator: int = 0  # 0: no share (nothing to split)
    hold_days: int = 0  # the distributor's holding period: its obligations' ``release_at`` is the write + this

    @property
    def value(self) -> int:
        return self.pool - self.unallocated - self.carried_forward

    @property
    def status(self) -> str:
        return DistributionStatus.PROCESSING if self.shares else DistributionStatus.COMPLETE

    @property
    def next_rolled_over(self) -> int:
        return self.carried_forward

    @property
    def storable_denominator(self) -> int | None:
        """``share_denominator`` as stored: None when there is none or it does not fit a bigint."""
        return self.share_denominator if 0 < self.share_denominator <= BIGINT_MAX else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (snake_case, like the models; datetimes ISO 8601 in UTC)."""
        return {
            "distribution_id": self.distribution_id,
            "distributor_id": self.distributor_id,
            "distributor_name": self.distributor_name,
            "organization": self.organization_slug,
            "units": self.units,
            "resolver": self.resolver,
            "period_start": iso_utc(self.period_start),
            "trigger_date": iso_utc(self.trigger_date),
            "rolled_over": self.rolled_over,
            "period_pool": self.period_pool,
            "pool_derivation": {
                "pool_resolver": self.pool_resolver,
                "pool_percent_bp": self.pool_percent_bp,
                "revenue_entries": self.revenue_entries,
                "revenue_total": self.revenue_total,
            },
            "pool": self.pool,
            "value": self.value,
            "unallocated": self.unallocated,
            "carried_forward": self.carried_forward,
            "status": str(self.status),
            "obligation_status": self.obligation_status,
            "tie_policy": self.tie_policy,
            "top_n_weights": list(self.top_n_weights) if self.top_n_weights is not None else None,
            "scorer_count": self.scorer_count,
            "share_denominator": self.share_denominator,
            "next_period": {"trigger_date": iso_utc(self.next_trigger_date), "rolled_over": self.next_rolled_over},
            "shares": [
                {"collaborator_id": s.collaborator_id, "score": s.score, "value": s.value, "rank": s.rank}
                for s in self.shares
            ],
        }


@dataclass(frozen=True)
class TriggerOutcome:
    plan: DistributionPlan
    distribution: Distribution
    next_distribution: Distribution


# --------------------------------------------------------------------------- reads


@contextmanager
def _postgresql_trigger_settings() -> Iterator[None]:
    """Run the block under ``POSTGRESQL_TRIGGER_SETTINGS`` (PostgreSQL; nothing elsewhere).

    They are transaction-local (``set_config(..., true)``), one statement: inside an atomic block they hold
    until that transaction ends; outside one, the block gets a transaction of its own (SQLite never gets
    here, so a dry run there still takes no write lock).
    """
    if connection.vendor != "postgresql":
        yield
        return
    with ExitStack() as stack:
        if not connection.in_atomic_block:
            stack.enter_context(transaction.atomic())
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(POSTGRESQL_TRIGGER_SETTINGS)),
                [item for pair in POSTGRESQL_TRIGGER_SETTINGS.items() for item in pair],
            )
        yield


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the plan is built (restored after, also on error).

    Building a plan (the trigger's, a correction's) allocates a few objects per collaborator (rows, scored
    collaborators, shares) and frees none of them until it is done, so the collector's passes, triggered by the
    allocation count alone, only walk an ever larger heap to find nothing: about a quarter of the trigger's plan
    CPU at 100,000 collaborators.
    Nothing here makes reference cycles, so reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class PeriodPool:
    """The pool a period brings (rollover excluded) and how: ``fixed``, or ``percent_bp`` of ``revenue_entries``
    revenue entries totalling ``revenue_total`` (rounded down once, on the total)."""

    amount: int
    resolver: str
    percent_bp: int | None = None
    revenue_entries: int | None = None
    revenue_total: int | None = None


def distribution_period_pool_derivation(
    *, distributor: Distributor, period_start: datetime, trigger_date: datetime
) -> PeriodPool:
    """The period's own pool and its derivation: no query for ``fixed``, one for ``revenueShare``."""
    if distributor.pool_resolver == PoolResolver.REVENUE_SHARE:
        revenue = RevenueEntry.objects.filter(
            organization_id=distributor.organization_id,
            units=distributor.units,
            occurred_at__gt=period_start,
            occurred_at__lte=trigger_date,
        ).aggregate(total=Sum("amount"), entries=Count("pk"))
        total = revenue["total"] or 0
        return PeriodPool(
            amount=total * distributor.pool_percent_bp // BASIS_POINTS,
            resolver=PoolResolver.REVENUE_SHARE,
            percent_bp=distributor.pool_percent_bp,
            revenue_entries=revenue["entries"],
            revenue_total=total,
        )
    return PeriodPool(amount=distributor.pool_amount, resolver=PoolResolver.FIXED)


def distribution_period_pool(*, distributor: Distributor, period_start: datetime, trigger_date: datetime) -> int:
    """The pool the period itself brings (rollover excluded): no query for ``fixed``, one for ``revenueShare``."""
    return distribution_period_pool_derivation(
        distributor=distributor, period_start=period_start, trigger_date=trigger_date
    ).amount


def distribution_scores(
    *, distributor: Distributor, period_start: datetime, trigger_date: datetime
) -> list[ScoredCollaborator]:
    """Each eligible, active collaborator's non-zero score in (period_start, trigger_date], in one query.

    Rows come back as plain tuples (no model instances), so 100 000 collaborators cost a few MB. On PostgreSQL
    the query is written by hand (``_scores_postgresql``); elsewhere it is the ORM's.
    """
    if connection.vendor == "postgresql":
        return _scores_postgresql(distributor=distributor, period_start=period_start, trigger_date=trigger_date)
    credits = MetricCredit.objects.filter(
        distributor_id=distributor.pk,
        credited_at__gt=period_start,
        credited_at__lte=trigger_date,
        collaborator__status=CollaboratorStatus.ACTIVE,
        collaborator__organization_id=distributor.organization_id,
    )
    if distributor.eligibility == Eligibility.SELECTED:
        selected = Distributor.eligible_collaborators.through.objects.filter(
            distributor_id=distributor.pk, collaborator_id=OuterRef("collaborator_id")
        )
        credits = credits.filter(Exists(selected))
    rows = (
        credits.order_by()
        .values_list("collaborator_id")
        # SUM of bigint is numeric in PostgreSQL; cast back so the driver hands over ints, not Decimals.
        .annotate(score=Cast(Sum("points"), BigIntegerField()), first_credit_at=Min("credited_at"))
        .filter(score__gt=0)
        .values_list("collaborator_id", "score", "first_credit_at")
    )
    return [ScoredCollaborator(collaborator_id, score, first) for collaborator_id, score, first in rows]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _scores_postgresql(
    *, distributor: Distributor, period_start: datetime, trigger_date: datetime
) -> list[ScoredCollaborator]:
    """``distribution_scores`` on PostgreSQL: the same rows as the ORM query, for a fraction of the CPU.

    - The credits are aggregated first (one row per collaborator) and only those rows are joined to the
      collaborators (active, of the organization, selected when the distributor says so), instead of joining
      every credit: at 1,000,000 credits a tenth of the join.
    - The first credit comes as epoch microseconds (``EXTRACT(EPOCH ...)`` is exact ``numeric`` in PostgreSQL
      14+, which Django 5.2 requires), turned back into the same aware UTC datetime by integer arithmetic; the
      driver's timestamp parsing (Django's time-zone loader, in Python) cost ~10 us a row. The cursor's rows
      are plain tuples of ints (no ORM row conversion).
    """
    credit, collaborator = MetricCredit._meta, Collaborator._meta

    def col(meta, name: str) -> str:
        return connection.ops.quote_name(meta.get_field(name).column)

    selected = ""
    params: list[Any] = [distributor.pk, period_start, trigger_date, CollaboratorStatus.ACTIVE]
    params.append(distributor.organization_id)
    if distributor.eligibility == Eligibility.SELECTED:
        through = Distributor.eligible_collaborators.through._meta
        selected = (
            f"AND EXISTS (SELECT 1 FROM {connection.ops.quote_name(through.db_table)} AS eligible "
            f"WHERE eligible.{col(through, 'distributor')} = %s "
            f"AND eligible.{col(through, 'collaborator')} = scores.collaborator_id)"
        )
        params.append(distributor.pk)
    sql = f"""
        SELECT scores.collaborator_id, scores.score, (EXTRACT(EPOCH FROM scores.first_at) * 1000000)::bigint
        FROM (
            SELECT {col(credit, "collaborator")} AS collaborator_id, SUM({col(credit, "points")})::bigint AS score,
                   MIN({col(credit, "credited_at")}) AS first_at
            FROM {connection.ops.quote_name(credit.db_table)}
            WHERE {col(credit, "distributor")} = %s
              AND {col(credit, "credited_at")} > %s AND {col(credit, "credited_at")} <= %s
            GROUP BY {col(credit, "collaborator")}
        ) AS scores
        JOIN {connection.ops.quote_name(collaborator.db_table)} AS collaborator
          ON collaborator.{col(collaborator, "id")} = scores.collaborator_id
        WHERE collaborator.{col(collaborator, "status")} = %s
          AND collaborator.{col(collaborator, "organization")} = %s
          AND scores.score > 0
          {selected}
    """  # identifiers come from model metadata; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    epoch, microseconds = _EPOCH, timedelta
    return [ScoredCollaborator(cid, score, epoch + microseconds(microseconds=us)) for cid, score, us in rows]


def distribution_plan(
    *,
    distributor: Distributor,
    period_start: datetime,
    trigger_date: datetime,
    rolled_over: int = 0,
    distribution_id: int | None = None,
) -> DistributionPlan:
    """Plan the trigger of the period (period_start, trigger_date] of ``distributor``; writes nothing.

    ``distributor.organization`` should be loaded (``select_related``): its time zone places the next
    trigger date. On PostgreSQL the reads run under ``POSTGRESQL_TRIGGER_SETTINGS``: inside the caller's
    transaction (the trigger, whose write then runs under them too) or, called outside one (a dry run),
    in a transaction of their own.
    """
    with _postgresql_trigger_settings(), gc_paused():
        period = distribution_period_pool_derivation(
            distributor=distributor, period_start=period_start, trigger_date=trigger_date
        )
        scored = distribution_scores(distributor=distributor, period_start=period_start, trigger_date=trigger_date)
        pool = period.amount + rolled_over
        top_n = distributor.distribution_resolver == TOP_N
        result = split_pool(
            pool,
            scored,
            resolver=distributor.distribution_resolver,
            tie_policy=distributor.tie_policy,
            weights=distributor.top_n_weights if top_n else (),
        )
    weights = tuple(distributor.top_n_weights) if top_n else None  # validated by split_pool
    carried_forward = result.unallocated if distributor.rollover_unearned else 0
    return DistributionPlan(
        distribution_id=distribution_id,
        distributor_id=distributor.pk,
        distributor_name=distributor.name,
        organization_id=distributor.organization_id,
        organization_slug=distributor.organization.slug,
        units=distributor.units,
        resolver=distributor.distribution_resolver,
        period_start=period_start,
        trigger_date=trigger_date,
        rolled_over=rolled_over,
        period_pool=period.amount,
        pool=pool,
        shares=result.shares,
        unallocated=result.unallocated - carried_forward,
        carried_forward=carried_forward,
        obligation_status=distributor.obligation_start_status,
        next_trigger_date=distribution_next_trigger(distributor=distributor, after=trigger_date),
        pool_resolver=period.resolver,
        pool_percent_bp=period.percent_bp,
        revenue_entries=period.revenue_entries,
        revenue_total=period.revenue_total,
        tie_policy=distributor.tie_policy,
        top_n_weights=weights,
        scorer_count=result.scorers,
        share_denominator=result.denominator,
        hold_days=distributor.hold_days,
    )


# --------------------------------------------------------------------------- writes


class DistributorBusy(Exception):
    """The due distribution's distributor stayed held by in-flight credits of its own period for longer than
    ``TRIGGER_LOCK_WAIT_MS``; the period is left to the next heartbeat (nothing was written)."""

    def __init__(self, distribution_id: int):
        self.distribution_id = distribution_id
        super().__init__(f"Distribution {distribution_id}: its distributor is held by credits; left for later.")


def distribution_lock_next_due(
    *,
    as_of: datetime,
    organization_id: int | None = None,
    distributor_id: int | None = None,
    exclude_ids: Sequence[int] = (),
) -> Distribution | None:
    """Lock and return the oldest due distribution no other run holds, with its distributor locked and freshly
    read; call inside ``transaction.atomic``.

    PostgreSQL: ``FOR UPDATE OF <distribution> SKIP LOCKED``, so concurrent heartbeats each take a different
    distribution and one another run triggered meanwhile no longer matches ``pending`` when its row is re-read.
    Then ``FOR UPDATE`` of its distributor, waiting at most ``TRIGGER_LOCK_WAIT_MS`` for the credits that hold
    it (``distributors.selectors.distributors_hold_for_credit``: only credits whose instant falls in this
    period, a handful in flight, since live credits stamped after the trigger date hold nothing). A longer wait
    raises ``DistributorBusy`` (the caller leaves that period to the next run). Waiting rather than skipping is
    what keeps a sustained credit stream from starving the heartbeat.
    SQLite has no row locks; the project opens its transactions with ``BEGIN IMMEDIATE``, so a second
    heartbeat waits for the first to commit and then sees the distribution triggered.
    """
    due = distributions_due(as_of=as_of, organization_id=organization_id, distributor_id=distributor_id)
    if exclude_ids:
        due = due.exclude(pk__in=exclude_ids)
    if connection.vendor != "postgresql":
        return due.select_for_update().select_related("distributor", "distributor__organization").first()
    distribution = due.select_for_update(skip_locked=True, of=("self",)).first()
    if distribution is None:
        return None
    with connection.cursor() as cursor:
        previous = lock_timeout_set(cursor, f"{int(settings.TRIGGER_LOCK_WAIT_MS)}ms")
    try:  # no savepoint: a timeout aborts the caller's transaction, which then rolls back (the caller skips)
        distribution.distributor = (
            Distributor.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=distribution.distributor_id)
        )
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise DistributorBusy(distribution.pk) from exc
        raise
    # The trigger's own writes wait as before (its foreign-key checks, say): the bound was for this lock only.
    with connection.cursor() as cursor:
        lock_timeout_set(cursor, previous)
    return distribution


def _array_literal(values: list[int]) -> str:
    """A PostgreSQL array literal of ints (``{1,2,3}``), cast by the statement (``%s::bigint[]``).

    Built here rather than adapted by the driver: for 100 000 values, joining their decimal text takes ~20 ms
    where adapting the list takes ~80 ms, and the server parses the same text either way.
    """
    return "{" + ",".join(map(str, values)) + "}"


def _write_shares_postgresql(*, plan: DistributionPlan, distribution_id: int, now: datetime) -> None:
    obligation, allocation = Obligation._meta, Allocation._meta

    def col(meta, name: str) -> str:
        return connection.ops.quote_name(meta.get_field(name).column)

    shares = plan.shares
    # The leading comment names the tables: the values are inlined into the text (Django's client-side
    # binding), and pg_stat_activity shows only the first kilobyte of a statement.
    event_ctes, event_params = trigger_rows_event_ctes(
        organization_id=plan.organization_id,
        distribution_id=distribution_id,
        units=plan.units,
        status=plan.obligation_status,
        occurred_at=now,
    )
    sql = f"""/* distribution trigger: {obligation.db_table} + {allocation.db_table} */
        WITH share AS (
            SELECT * FROM unnest(
                %s::bigint[], %s::bigint[], %s::bigint[], %s::integer[], %s::bigint[], %s::boolean[], %s::smallint[]
            ) WITH ORDINALITY AS s(collaborator_id, value, score, rank, numerator, rounding_unit, tie_break, position)
        ), obligation AS (
            INSERT INTO {connection.ops.quote_name(obligation.db_table)} (
                {col(obligation, "organization")}, {col(obligation, "collaborator")}, {col(obligation, "value")},
                {col(obligation, "units")}, {col(obligation, "status")}, {col(obligation, "award_type")},
                {col(obligation, "description")}, {col(obligation, "created_at")}, {col(obligation, "modified_at")},
                {col(obligation, "release_at")}, {col(obligation, "reason")}
            )
            SELECT %s, collaborator_id, value, %s, %s, %s, %s, %s, %s, %s, '' FROM share ORDER BY position
            RETURNING {col(obligation, "id")} AS id, {col(obligation, "collaborator")} AS collaborator_id,
                {col(obligation, "value")} AS value
        ), allocation AS (
            INSERT INTO {connection.ops.quote_name(allocation.db_table)} (
                {col(allocation, "organization")}, {col(allocation, "distribution")}, {col(allocation, "obligation")},
                {col(allocation, "collaborator")}, {col(allocation, "value")}, {col(allocation, "score")},
                {col(allocation, "rank")}, {col(allocation, "share_numerator")}, {col(allocation, "rounding_unit")},
                {col(allocation, "tie_break")}
            )
            SELECT %s, %s, obligation.id, share.collaborator_id, share.value, share.score, share.rank,
                share.numerator, share.rounding_unit, share.tie_break
            FROM share JOIN obligation ON obligation.collaborator_id = share.collaborator_id
            ORDER BY share.position
            RETURNING {col(allocation, "id")} AS id, {col(allocation, "obligation")} AS obligation_id,
                {col(allocation, "collaborator")} AS collaborator_id, {col(allocation, "value")} AS value,
                {col(allocation, "score")} AS score, {col(allocation, "rank")} AS rank
        ){event_ctes}
        SELECT table_stats.relpages > 0 AND table_stats.reltuples = 0
        FROM pg_class AS table_stats WHERE table_stats.oid = %s::regclass
    """  # identifiers come from model metadata; every value is a parameter
    params = [
        _array_literal([s.collaborator_id for s in shares]),
        _array_literal([s.value for s in shares]),
        _array_literal([s.score for s in shares]),
        _array_literal([s.rank for s in shares]),
        # NULL (no array): the denominator does not fit a bigint, so neither might the numerators
        _array_literal([s.numerator for s in shares]) if plan.storable_denominator is not None else None,
        "{" + ",".join(["t" if s.rounding_unit else "f" for s in shares]) + "}",
        _array_literal([s.tie_break for s in shares]),
        plan.organization_id,
        plan.units,
        plan.obligation_status,
        AwardType.DISTRIBUTION,
        _obligation_description(plan, distribution_id),
        now,
        now,
        _release_at(plan, now),
        plan.organization_id,
        distribution_id,
        *event_params,
        connection.ops.quote_name(obligation.db_table),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (obligation_stats_say_empty,) = cursor.fetchone()
        if obligation_stats_say_empty:
            # The obligations' statistics say "no rows" although the table has pages (it was analyzed while
            # it held only dead rows: after a killed or failed first trigger, or once every obligation was
            # deleted). The planner then costs the indexes ending in ``id`` as cheap as the primary key, and
            # the deferred foreign-key check of each new allocation may scan the whole of one of them
            # (``obligation_org_collab_idx``): 84 s at commit for 40 000 rows instead of 1 s. Only statistics
            # fix it; this ANALYZE (0.1 s) counts the rows this transaction wrote, in that rare state only.
            cursor.execute(f"ANALYZE {connection.ops.quote_name(obligation.db_table)}")


def _write_shares_bulk_create(*, plan: DistributionPlan, distribution_id: int, now: datetime) -> None:
    description = _obligation_description(plan, distribution_id)
    obligations = Obligation.objects.bulk_create(
        Obligation(
            organization_id=plan.organization_id,
            collaborator_id=share.collaborator_id,
            value=share.value,
            units=plan.units,
            status=plan.obligation_status,
            award_type=AwardType.DISTRIBUTION,
            description=description,
            release_at=_release_at(plan, now),
        )
        for share in plan.shares
    )
    record_numerators = plan.storable_denominator is not None
    allocations = Allocation.objects.bulk_create(
        Allocation(
            organization_id=plan.organization_id,
            distribution_id=distribution_id,
            obligation_id=obligation.pk,
            collaborator_id=share.collaborator_id,
            value=share.value,
            score=share.score,
            rank=share.rank,
            share_numerator=share.numerator if record_numerators else None,
            rounding_unit=share.rounding_unit,
            tie_break=share.tie_break,
        )
        for share, obligation in zip(plan.shares, obligations, strict=True)
    )
    record_trigger_rows(organization_id=plan.organization_id, obligations=obligations, allocations=allocations)


def _trace_fields(plan: DistributionPlan) -> dict[str, Any]:
    """The distribution's columns of the trace (see the module docstring)."""
    return {
        "pool_resolver": plan.pool_resolver,
        "period_pool": plan.period_pool,
        "pool_percent_bp": plan.pool_percent_bp,
        "revenue_entries": plan.revenue_entries,
        "revenue_total": plan.revenue_total,
        "distribution_resolver": plan.resolver,
        "tie_policy": plan.tie_policy,
        "top_n_weights": list(plan.top_n_weights) if plan.top_n_weights is not None else None,
        "scorer_count": plan.scorer_count,
        "share_denominator": plan.storable_denominator,
    }


def _release_at(plan: DistributionPlan, now: datetime) -> datetime | None:
    """When a held obligation is approved by the heartbeat: the trigger's write instant plus the hold."""
    return now + timedelta(days=plan.hold_days) if plan.hold_days else None


def _obligation_description(plan: DistributionPlan, distribution_id: int) -> str:
    text = f"Distribution {distribution_id}: {plan.distributor_name}, period ending {iso_utc(plan.trigger_date)}"
    return text[: Obligation._meta.get_field("description").max_length]


def distribution_plan_write(
    *, distribution: Distribution, plan: DistributionPlan, actor: str = "engine"
) -> Distribution:
    """Write ``plan`` for the pending ``distribution`` and open the next period; return the new pending one.

    Call inside ``transaction.atomic`` with the distribution locked. The statement count is fixed: one
    (PostgreSQL) or two batched (other databases) for the shares, as many for their events
    (``distributions.events``), one update, one insert for the distribution's status history (pending →
    processing/complete, by ``actor``: ``engine:run <id>`` from the heartbeat), one insert, and one or two for
    the distribution's events. The obligations and the next period are created, not moved: no history.
    """
    if plan.distribution_id != distribution.pk or plan.trigger_date != distribution.trigger_date:
        raise ValueError(f"The plan of {plan.distribution_id} cannot be written to distribution {distribution.pk}.")
    before = distribution.status
    distribution.transition_to(plan.status)  # validates pending -> processing/complete
    now = timezone.now()
    if plan.shares:
        if connection.vendor == "postgresql":
            _write_shares_postgresql(plan=plan, distribution_id=distribution.pk, now=now)  # its events too
        else:
            _write_shares_bulk_create(plan=plan, distribution_id=distribution.pk, now=now)
    updated = Distribution.objects.filter(pk=distribution.pk, status=DistributionStatus.PENDING).update(
        status=plan.status,
        pool=plan.pool,
        value=plan.value,
        unallocated=plan.unallocated,
        carried_forward=plan.carried_forward,
        triggered_at=now,
        modified_at=now,
        **_trace_fields(plan),
    )
    if updated != 1:
        raise DistributionAlreadyTriggered(f"Distribution {distribution.pk} is no longer pending.")
    status_changes_record(
        model=Distribution,
        organization_id=plan.organization_id,
        changes=[(distribution.pk, before, plan.status)],
        actor=actor,
        at=now,
    )
    distributor_mark_distributed(
        distributor_id=plan.distributor_id, through=plan.trigger_date, open_until=plan.next_trigger_date
    )
    distribution.pool, distribution.value = plan.pool, plan.value
    distribution.unallocated, distribution.carried_forward = plan.unallocated, plan.carried_forward
    distribution.triggered_at = distribution.modified_at = now
    for name, value in _trace_fields(plan).items():
        setattr(distribution, name, value)
    record_distribution(DISTRIBUTION_TRIGGERED, distribution)
    if plan.status == DistributionStatus.COMPLETE:
        record_distribution(DISTRIBUTION_COMPLETED, distribution)
    return Distribution.objects.create(
        organization_id=plan.organization_id,
        distributor_id=plan.distributor_id,
        period_start=plan.trigger_date,
        trigger_date=plan.next_trigger_date,
        rolled_over=plan.next_rolled_over,
    )


def distribution_trigger(*, distribution: Distribution, actor: str = "engine") -> TriggerOutcome:
    """Trigger one pending distribution: plan it and write the plan (``actor`` goes into its status history).

    The caller holds the row lock (``distribution_lock_next_due``) inside ``transaction.atomic``, so the
    trigger is all or nothing and never runs twice for one distribution. The plan's reads set
    ``POSTGRESQL_TRIGGER_SETTINGS`` for the rest of that transaction, the write and its commit included.
    """
    plan = distribution_plan(
        distributor=distribution.distributor,
        period_start=distribution.period_start,
        trigger_date=distribution.trigger_date,
        rolled_over=distribution.rolled_over,
        distribution_id=distribution.pk,
    )
    next_distribution = distribution_plan_write(distribution=distribution, plan=plan, actor=actor)
    return TriggerOutcome(plan=plan, distribution=distribution, next_distribution=next_distribution)
