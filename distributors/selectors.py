"""Reads about distributors shared by the crediting service, the engine, the API and the admin."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from collaborators.models import Collaborator
from distributors.models import Distributor, DistributorStatus, Eligibility, MetricType, PoolResolver

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock wait that exceeded lock_timeout


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


class HoldTimeout(OperationalError):
    """A credit (or revenue import) waited longer than ``CREDIT_LOCK_TIMEOUT_MS`` for a trigger holding one of its
    distributors; nothing was written. The API answers 503 with ``Retry-After``. An ``OperationalError`` (the
    database's lock timeout, with a clearer message), so every interface that already answers a busy or
    unavailable database (the API's 503, the commands' one line) answers this too."""


# Whether a credit stamped at the instant given (twice) must hold a distributor, and the grace (an interval):
# only a credit whose instant falls in the distributor's open period (at or before ``open_until``, its trigger
# date) can race that period's trigger; one stamped after it belongs to a later period, whose trigger cannot
# run before that period ends. So a live credit stamped once the trigger date has passed (while the heartbeat
# triggers) holds nothing, and a stream of them never starves the heartbeat. Two cases still hold, because
# holding is always safe: ``open_until`` unknown, and an instant more than ``CREDIT_HOLD_GRACE_SECONDS`` after
# it (the heartbeat is that late, so the next period may itself be due soon; the grace is kept well below the
# shortest period a schedule allows, an hour, so an unheld credit always commits before the next trigger date
# it could fall before). PostgreSQL re-checks it on the row a trigger may have just committed.
CREDIT_NEEDS_HOLD_SQL = "AND (open_until IS NULL OR %s <= open_until OR %s > open_until + %s)"


def distributors_hold_for_credit(
    *, distributor_ids: list[int], credited_at: datetime | None = None
) -> dict[int, datetime | None]:
    """Hold against a trigger the credited distributors that a credit stamped ``credited_at`` must hold
    (``CREDIT_NEEDS_HOLD_SQL``; all of them when ``credited_at`` is None); return the ``distributed_through`` of
    those held, read after the hold was granted. A distributor not held is left out: its open period ended
    before ``credited_at``, so its ``distributed_through`` (earlier still) can refuse nothing. Two statements
    on PostgreSQL (the wait's bound, then the hold). Raises ``HoldTimeout`` when a trigger holds one
    longer than ``CREDIT_LOCK_TIMEOUT_MS``."""
    ids = sorted(set(distributor_ids))
    if connection.vendor != "postgresql":
        return dict(Distributor.objects.filter(pk__in=ids).values_list("pk", "distributed_through"))
    if credited_at is None:
        return _hold_against_trigger(ids)
    grace = timedelta(seconds=settings.CREDIT_HOLD_GRACE_SECONDS)
    return _hold_against_trigger(ids, condition=CREDIT_NEEDS_HOLD_SQL, params=[credited_at, credited_at, grace])


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


def lock_timeout_set(cursor, value: str) -> str:
    """Set PostgreSQL's ``lock_timeout`` (e.g. ``"3000ms"``) for the rest of the transaction; return the value it
    had, so a caller bounding one wait only can put it back."""
    cursor.execute("SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)", [value])
    ((previous, _),) = cursor.fetchall()
    return previous


def _hold_against_trigger(
    distributor_ids: list[int], *, condition: str = "", params: list | None = None
) -> dict[int, datetime | None]:
    """Hold the distributors against a trigger while a credit (or revenue) is written; return each one's
    ``distributed_through`` as committed *after* the hold was granted.

    PostgreSQL: ``FOR KEY SHARE`` on the distributor rows (in id order). It conflicts with the trigger's
    ``FOR UPDATE`` of its distributor but not with other credits, so a credit that comes while a period is
    being triggered waits for that trigger to commit (and then reads the new ``distributed_through``), and a
    trigger that comes while a credit holds the distributor waits for it (``distribution_lock_next_due``).
    The wait is bounded: ``lock_timeout`` is set to ``CREDIT_LOCK_TIMEOUT_MS`` for the rest of the transaction
    (the credit's inserts included, so a concurrent request with the same idempotency key is bounded too),
    and a wait beyond it raises ``HoldTimeout`` (the transaction is then unusable: the caller's atomic block
    rolls back). SQLite needs no lock: the project's write transactions begin IMMEDIATE, so a credit and a
    trigger never overlap (and SQLite's busy timeout bounds that wait). Call inside ``transaction.atomic``.
    """
    ids = sorted(set(distributor_ids))
    if connection.vendor != "postgresql":
        return dict(Distributor.objects.filter(pk__in=ids).values_list("pk", "distributed_through"))
    table = connection.ops.quote_name(Distributor._meta.db_table)
    with connection.cursor() as cursor:
        lock_timeout_set(cursor, f"{int(settings.CREDIT_LOCK_TIMEOUT_MS)}ms")
        try:
            cursor.execute(
                f"SELECT id, distributed_through FROM {table} WHERE id = ANY(%s) {condition} ORDER BY id FOR KEY SHARE",
                [ids, *(params or [])],
            )
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise HoldTimeout(
                    f"A distribution of distributor(s) {', '.join(map(str, ids))} is being triggered; "
                    "nothing was written, try again shortly."
                ) from exc
            raise
        return dict(cursor.fetchall())
