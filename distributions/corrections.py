"""Correcting a closed period: recompute a triggered distribution from the ledger as it is now, and pay the
difference per collaborator with adjustment obligations, never touching the distribution or its obligations.

``distribution_correction_plan`` reads and writes nothing (the dry run of ``manage.py correct_distribution`` and of
the admin action); ``distribution_correct`` with ``apply=True`` writes the plan: one ``Correction``, one adjustment
obligation and one ``CorrectionLine`` per collaborator whose amount differs.

Decisions (where the issue is silent):

- **What is recomputed.** The period (period_start, trigger_date] from the ledger as it is now: credits booked
  late on purpose (``credit_metric --late-reason``) count, and for a revenue share the revenue entries as they
  are now (``import_revenue --late-reason``), with the percentage the trigger recorded. A fixed pool is the
  one the trigger recorded (``period_pool``); a rule changed on the distributor since does not rewrite the
  past. The period's original rollover is part of the pool, as it was.
- **The split's rules** are the trigger's recorded ones (resolver, tie policy, topN weights), applied to the
  corrected pool by the engine's one ``split_pool``: largest remainder, the same tie-break (higher score,
  earlier first credit, lower id).
- **Who counts.** A collaborator the trigger paid still counts (whatever their status today: a correction
  is no way to claw back someone deactivated since), and so does one who is active and eligible now.
- **The difference** is against what the period owes already: each collaborator's allocation plus the
  adjustments of earlier corrections. So correcting again writes only the new difference, and a second
  correction with nothing new writes nothing. Staff's own adjustments (``adjust_obligation``) are separate
  decisions that a correction neither counts nor undoes.
- **Adjustments** are ``approved`` (applying the correction is the approval), in the distributor's units, with
  the correction's reason; they net in the next fulfillment, negative ones as clawbacks.
- **What would be carried forward** differently is recorded on the correction, not moved into the next period,
  which already opened (and may have triggered) with the original figure.
- **Concurrency.** Applying locks the distribution and plans again under that lock, so two corrections at once
  are serialized and the second writes only what the first left.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, Min, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from collaborators.models import Collaborator, CollaboratorStatus
from distributions.engine.splits import TOP_N, ScoredCollaborator, split_pool
from distributions.events import obligations_created_event_cte
from distributions.models import Allocation, Correction, CorrectionLine, Distribution
from distributions.trigger import BASIS_POINTS
from distributors.models import Distributor, Eligibility, PoolResolver, RevenueEntry
from metrics.models import MetricCredit
from obligations.models import AwardType, Obligation, ObligationStatus
from obligations.services import obligation_adjustments_create

REASON_MAX_LENGTH = Correction._meta.get_field("reason").max_length


@dataclass(frozen=True)
class CorrectionLinePlan:
    collaborator_id: int
    allocation_id: int | None
    score: int
    previous_value: int
    corrected_value: int

    @property
    def difference(self) -> int:
        return self.corrected_value - self.previous_value


@dataclass
class CorrectionPlan:
    """The corrected period and its differences (``lines``: only collaborators whose amount changes, in
    collaborator id order). ``correction`` is the stored ``Correction`` once applied."""

    distribution: Distribution
    units: str
    period_pool: int
    revenue_entries: int | None
    revenue_total: int | None
    corrected_pool: int
    value: int
    unallocated: int
    carried_forward: int
    scorer_count: int
    previous_value: int
    late_credits: int
    late_revenue_entries: int
    lines: list[CorrectionLinePlan] = field(default_factory=list)
    correction: Correction | None = None

    @property
    def adjustment_total(self) -> int:
        return sum(line.difference for line in self.lines)


def _refuse_untriggered(distribution: Distribution) -> None:
    if distribution.triggered_at is None:
        raise ValidationError(
            {
                "distribution": f"Distribution {distribution.pk} is {distribution.status}: only a triggered period "
                "can be corrected."
            },
            code="not_triggered",
        )


def _period_pool(distribution: Distribution, distributor: Distributor) -> tuple[int, int | None, int | None]:
    """(the period's own pool, revenue entries, revenue total) as the ledger has them now."""
    resolver = distribution.pool_resolver or distributor.pool_resolver
    if resolver != PoolResolver.REVENUE_SHARE:
        recorded = distribution.period_pool
        return (recorded if recorded is not None else (distribution.pool or 0) - distribution.rolled_over), None, None
    percent = distribution.pool_percent_bp if distribution.pool_percent_bp is not None else distributor.pool_percent_bp
    revenue = _period_revenue(distribution, distributor).aggregate(total=Sum("amount"), entries=Count("pk"))
    total = revenue["total"] or 0
    return total * percent // BASIS_POINTS, revenue["entries"], total


def _period_revenue(distribution: Distribution, distributor: Distributor):
    return RevenueEntry.objects.filter(
        organization_id=distribution.organization_id,
        units=distributor.units,
        occurred_at__gt=distribution.period_start,
        occurred_at__lte=distribution.trigger_date,
    )


def _late_revenue_entries(distribution: Distribution, distributor: Distributor) -> int:
    if (distribution.pool_resolver or distributor.pool_resolver) != PoolResolver.REVENUE_SHARE:
        return 0
    return _period_revenue(distribution, distributor).filter(created_at__gt=distribution.triggered_at).count()


def _period_credits(distribution: Distribution):
    return MetricCredit.objects.filter(
        distributor_id=distribution.distributor_id,
        organization_id=distribution.organization_id,
        credited_at__gt=distribution.period_start,
        credited_at__lte=distribution.trigger_date,
    )


def _corrected_scores(
    distribution: Distribution, distributor: Distributor, paid: Iterable[int]
) -> list[ScoredCollaborator]:
    """Each counting collaborator's score in the period from the ledger now (see "Who counts")."""
    rows = (
        _period_credits(distribution)
        .order_by()
        .values_list("collaborator_id")
        .annotate(score=Cast(Sum("points"), BigIntegerField()), first_credit_at=Min("credited_at"))
        .filter(score__gt=0)
        .values_list("collaborator_id", "score", "first_credit_at")
    )
    scored = {collaborator_id: (score, first) for collaborator_id, score, first in rows}
    paid = set(paid)
    unpaid = [pk for pk in scored if pk not in paid]
    counting = set(paid)
    if unpaid:
        eligible = Collaborator.objects.filter(
            organization_id=distribution.organization_id, status=CollaboratorStatus.ACTIVE
        )
        if distributor.eligibility == Eligibility.SELECTED:
            eligible = eligible.filter(distributors=distributor)
        for start in range(0, len(unpaid), 5000):
            chunk = unpaid[start : start + 5000]
            counting.update(eligible.filter(pk__in=chunk).values_list("pk", flat=True))
    return [ScoredCollaborator(pk, score, first) for pk, (score, first) in sorted(scored.items()) if pk in counting]


def distribution_correction_plan(*, distribution: Distribution) -> CorrectionPlan:
    """The correction of ``distribution`` the ledger calls for now; reads only (a handful of queries plus one
    per 5,000 scorers the trigger did not pay)."""
    _refuse_untriggered(distribution)
    distributor = Distributor.objects.get(pk=distribution.distributor_id)
    allocations = {
        collaborator_id: (allocation_id, value)
        for allocation_id, collaborator_id, value in Allocation.objects.filter(distribution=distribution).values_list(
            "pk", "collaborator_id", "value"
        )
    }
    previous: dict[int, int] = defaultdict(int)
    for collaborator_id, (_, value) in allocations.items():
        previous[collaborator_id] += value
    for collaborator_id, difference in CorrectionLine.objects.filter(correction__distribution=distribution).values_list(
        "collaborator_id", "difference"
    ):
        previous[collaborator_id] += difference

    period_pool, revenue_entries, revenue_total = _period_pool(distribution, distributor)
    pool = period_pool + distribution.rolled_over
    resolver = distribution.distribution_resolver or distributor.distribution_resolver
    tie_policy = distribution.tie_policy or distributor.tie_policy
    weights = (distribution.top_n_weights or distributor.top_n_weights or ()) if resolver == TOP_N else ()
    scored = _corrected_scores(distribution, distributor, allocations)
    result = split_pool(pool, scored, resolver=resolver, tie_policy=tie_policy, weights=weights)
    carried_forward = result.unallocated if distributor.rollover_unearned else 0
    corrected = {share.collaborator_id: share for share in result.shares}
    scores = {item.collaborator_id: item.score for item in scored}

    lines = []
    for collaborator_id in sorted(set(corrected) | set(previous)):
        share = corrected.get(collaborator_id)
        line = CorrectionLinePlan(
            collaborator_id=collaborator_id,
            allocation_id=allocations.get(collaborator_id, (None, 0))[0],
            score=scores.get(collaborator_id, 0),
            previous_value=previous.get(collaborator_id, 0),
            corrected_value=share.value if share else 0,
        )
        if line.difference:
            lines.append(line)
    late_credits = _period_credits(distribution).filter(request__created_at__gt=distribution.triggered_at).count()
    return CorrectionPlan(
        distribution=distribution,
        units=distributor.units,
        period_pool=period_pool,
        revenue_entries=revenue_entries,
        revenue_total=revenue_total,
        corrected_pool=pool,
        value=pool - result.unallocated,
        unallocated=result.unallocated - carried_forward,
        carried_forward=carried_forward,
        scorer_count=result.scorers,
        previous_value=sum(previous.values()),
        late_credits=late_credits,
        late_revenue_entries=_late_revenue_entries(distribution, distributor),
        lines=lines,
    )


def _checked_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "A correction needs a reason."}, code="invalid_correction")
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError({"reason": f"At most {REASON_MAX_LENGTH} characters."}, code="invalid_correction")
    return reason


def distribution_correct(
    *, distribution: Distribution, apply: bool = False, reason: str = "", actor: str = "", now: datetime | None = None
) -> CorrectionPlan:
    """Plan the correction of ``distribution``; with ``apply``, write it (see the module docstring) and return the
    plan with its stored ``correction`` (``None`` when there was no difference: nothing is written)."""
    if not apply:
        return distribution_correction_plan(distribution=distribution)
    reason = _checked_reason(reason)
    with transaction.atomic():
        locked = Distribution.objects.select_for_update().get(pk=distribution.pk)
        plan = distribution_correction_plan(distribution=locked)
        if not plan.lines:
            return plan
        correction = Correction.objects.create(
            organization_id=locked.organization_id,
            distribution=locked,
            created_at=now or timezone.now(),
            actor=actor[: Correction._meta.get_field("actor").max_length],
            reason=reason,
            period_pool=plan.period_pool,
            revenue_entries=plan.revenue_entries,
            revenue_total=plan.revenue_total,
            pool=plan.corrected_pool,
            value=plan.value,
            unallocated=plan.unallocated,
            carried_forward=plan.carried_forward,
            scorer_count=plan.scorer_count,
            previous_value=plan.previous_value,
            adjustment_total=plan.adjustment_total,
            late_credits=plan.late_credits,
            late_revenue_entries=plan.late_revenue_entries,
        )
        writer = _write_lines_postgresql if connection.vendor == "postgresql" else _write_lines_bulk_create
        writer(
            correction=correction,
            plan=plan,
            reason=f"Correction {correction.pk}: {reason}"[: Obligation._meta.get_field("reason").max_length],
            description=f"Correction {correction.pk} of distribution {locked.pk}",
        )
        plan.correction = correction
    return plan


def _write_lines_bulk_create(*, correction: Correction, plan: CorrectionPlan, reason: str, description: str) -> None:
    """The adjustments, their lines and events through the ORM (SQLite; a few statements per 1,000 lines)."""
    adjustments = obligation_adjustments_create(
        organization_id=correction.organization_id,
        adjusts_distribution=correction.distribution,
        units=plan.units,
        values=[(line.collaborator_id, line.difference) for line in plan.lines],
        reason=reason,
        description=description,
    )
    CorrectionLine.objects.bulk_create(
        [
            CorrectionLine(
                correction=correction,
                collaborator_id=line.collaborator_id,
                allocation_id=line.allocation_id,
                adjustment=adjustment,
                score=line.score,
                previous_value=line.previous_value,
                corrected_value=line.corrected_value,
                difference=line.difference,
            )
            for line, adjustment in zip(plan.lines, adjustments, strict=True)
        ],
        batch_size=1000,
    )


def _bigint_array(values: Iterable[int | None]) -> str:
    return "{" + ",".join("NULL" if value is None else str(int(value)) for value in values) + "}"


def _write_lines_postgresql(*, correction: Correction, plan: CorrectionPlan, reason: str, description: str) -> None:
    """The adjustments, their lines and their ``obligation.created`` events in one statement (PostgreSQL), as the
    trigger writes its shares: the lines come in as arrays, the obligations' ``RETURNING`` feeds the lines and the
    events, nothing is read back. The rows equal those of ``_write_lines_bulk_create``."""
    obligation, line = Obligation._meta, CorrectionLine._meta
    now = timezone.now()

    def col(meta, name: str) -> str:
        return connection.ops.quote_name(meta.get_field(name).column)

    event_cte, event_params = obligations_created_event_cte(
        organization_id=correction.organization_id,
        units=plan.units,
        status=ObligationStatus.APPROVED,
        award_type=AwardType.ADJUSTMENT,
        occurred_at=now,
    )
    obligation_columns = ", ".join(
        col(obligation, name)
        for name in (
            "organization", "collaborator", "value", "units", "status", "award_type", "description", "reason",
            "adjusts_distribution", "created_at", "modified_at",
        )
    )  # fmt: skip
    line_columns = ", ".join(
        col(line, name)
        for name in (
            "correction", "collaborator", "allocation", "adjustment", "score", "previous_value", "corrected_value",
            "difference",
        )
    )  # fmt: skip
    sql = f"""/* distribution correction: {obligation.db_table} + {line.db_table} */
        WITH line AS (
            SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
                WITH ORDINALITY AS l(collaborator_id, allocation_id, score, previous_value, corrected_value, position)
        ), obligation AS (
            INSERT INTO {connection.ops.quote_name(obligation.db_table)} ({obligation_columns})
            SELECT %s, collaborator_id, corrected_value - previous_value, %s, %s, %s, %s, %s, %s, %s, %s
            FROM line ORDER BY position
            RETURNING {col(obligation, "id")} AS id, {col(obligation, "collaborator")} AS collaborator_id,
                {col(obligation, "value")} AS value
        ), correction_line AS (
            INSERT INTO {connection.ops.quote_name(line.db_table)} ({line_columns})
            SELECT %s, line.collaborator_id, line.allocation_id, obligation.id, line.score, line.previous_value,
                line.corrected_value, line.corrected_value - line.previous_value
            FROM line JOIN obligation ON obligation.collaborator_id = line.collaborator_id
            ORDER BY line.position
        ){event_cte}
        SELECT 1
    """  # identifiers come from model metadata; every value is a parameter
    lines = plan.lines
    params = [
        _bigint_array(item.collaborator_id for item in lines),
        _bigint_array(item.allocation_id for item in lines),
        _bigint_array(item.score for item in lines),
        _bigint_array(item.previous_value for item in lines),
        _bigint_array(item.corrected_value for item in lines),
        correction.organization_id,
        plan.units,
        ObligationStatus.APPROVED,
        AwardType.ADJUSTMENT,
        description,
        reason,
        correction.distribution_id,
        now,
        now,
        correction.pk,
        *event_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
