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
- **Who counts.** A collaborator the trigger allocated to still counts with all their points of the period
  (whatever their status today: a correction is no way to claw back someone deactivated since). So does a scorer
  the trigger counted but gave nothing (a zero share: a zero pool, a rounding, beyond topN's places, not the top
  score), so late revenue or late credits can lift them. Anyone else who scored in time was left out by the
  trigger's eligibility rules (inactive, or not selected, when it ran), which a correction does not
  second-guess: they count only with the points booked late into the period on purpose (a ``late_reason``),
  whatever their status now (the booking checked them then). Which scorers the trigger counted is not stored,
  only how many (``scorer_count``); see ``_corrected_scores`` for how they are told apart, and
  ``CorrectionPlan.uncertain_eligibility`` for when that cannot be exact (applying then needs
  ``accept_uncertain``).
- **The difference** is against what the period owes already: each collaborator's allocation plus the
  adjustments of earlier corrections. So correcting again writes only the new difference, and a second
  correction with nothing new writes nothing. Staff's own adjustments (``adjust_obligation``) are separate
  decisions that a correction neither counts nor undoes.
- **Adjustments** are ``approved`` (applying the correction is the approval), in the units the period was paid
  in (its allocations'; a distributor whose units changed since is corrected in the old ones), created (and their
  events dated) at the correction's instant, with the correction's reason; they net in the next fulfillment,
  negative ones as clawbacks. Except for a collaborator with a payment of the period not approved: an
  allocation or an earlier correction's adjustment still ``pending`` (awaiting staff, or its hold) or refused
  (``rejected``, ``cancelled``). Their adjustment is written ``pending``: a correction is no way around an
  approval, never pays out what staff refused and never claws back against other earnings what was never paid;
  staff approve or reject it like any other obligation.
- **Rollover** of the corrected split's unearned part follows the period's own record (the latest correction
  that left something over, else the trigger's ``carried_forward`` or ``unallocated``), not the distributor's
  setting today; only when nothing was ever left over does the current setting decide.
- **Review, then apply.** The plan has a ``fingerprint`` of its lines; ``distribution_correct(expect=…)``
  refuses to write when the lines under the lock differ from those reviewed (the admin's confirm page and
  ``correct_distribution --expect``), so staff never apply a difference they were not shown.
- **What would be carried forward** differently is recorded on the correction, not moved into the next period,
  which already opened (and may have triggered) with the original figure.
- **Concurrency.** Applying locks the distribution and plans again under that lock, so two corrections at once
  are serialized and the second writes only what the first left. On PostgreSQL it also share-locks the
  period's obligations (``_share_lock_period_obligations``), so a staff move of one waits until the correction
  committed instead of slipping between its plan and its write.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import BigIntegerField, BooleanField, Count, Min, Sum, Value
from django.db.models.functions import Cast
from django.utils import timezone

from collaborators.models import Collaborator, CollaboratorStatus
from distributions.engine.splits import TOP_N, ScoredCollaborator, split_pool
from distributions.events import obligations_created_event_cte
from distributions.models import Allocation, Correction, CorrectionLine, Distribution
from distributions.trigger import BASIS_POINTS, gc_paused
from distributors.models import Distributor, Eligibility, PoolResolver, RevenueEntry
from distributors.units import format_amount
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
    status: str = ObligationStatus.APPROVED  # the adjustment's (``pending`` where a payment is not approved)

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
    uncertain_eligibility: int = 0  # see ``_corrected_scores``
    undecided: list[int] = field(default_factory=list)  # counted on that uncertain basis (collaborator ids)
    staff_adjustments: tuple[int, int] = (0, 0)  # (count, Σ) of staff's own adjustments of the period
    lines: list[CorrectionLinePlan] = field(default_factory=list)
    correction: Correction | None = None

    @property
    def adjustment_total(self) -> int:
        return sum(line.difference for line in self.lines)

    @property
    def pending_count(self) -> int:
        """Lines whose adjustment is written ``pending``."""
        return sum(1 for line in self.lines if line.status == ObligationStatus.PENDING)

    @property
    def undecided_text(self) -> str:
        """``undecided`` for a sentence: the first 20 ids, then "…" (``none`` when empty)."""
        shown = ", ".join(str(pk) for pk in self.undecided[:20])
        return (shown + (" …" if len(self.undecided) > 20 else "")) or "none"

    @cached_property
    def fingerprint(self) -> str:
        """A short digest of the lines (who, from what, to what, in which status and units): what a reviewer saw,
        for ``distribution_correct(expect=…)``."""
        lines = [
            [line.collaborator_id, line.allocation_id, line.previous_value, line.corrected_value, line.status]
            for line in self.lines
        ]
        digest = hashlib.sha256(
            json.dumps([self.units, self.uncertain_eligibility, lines], separators=(",", ":")).encode()
        )
        return digest.hexdigest()[:20]


def _refuse_untriggered(distribution: Distribution) -> None:
    if distribution.triggered_at is None:
        raise ValidationError(
            {
                "distribution": f"Distribution {distribution.pk} is {distribution.status}: only a triggered period "
                "can be corrected."
            },
            code="not_triggered",
        )


def _period_pool(
    distribution: Distribution, distributor: Distributor, units: str
) -> tuple[int, int | None, int | None]:
    """(the period's own pool, revenue entries, revenue total) as the ledger has them now."""
    resolver = distribution.pool_resolver or distributor.pool_resolver
    if resolver != PoolResolver.REVENUE_SHARE:
        recorded = distribution.period_pool
        return (recorded if recorded is not None else (distribution.pool or 0) - distribution.rolled_over), None, None
    percent = distribution.pool_percent_bp if distribution.pool_percent_bp is not None else distributor.pool_percent_bp
    revenue = _period_revenue(distribution, units).aggregate(total=Sum("amount"), entries=Count("pk"))
    total = revenue["total"] or 0
    return total * percent // BASIS_POINTS, revenue["entries"], total


def _period_revenue(distribution: Distribution, units: str):
    return RevenueEntry.objects.filter(
        organization_id=distribution.organization_id,
        units=units,
        occurred_at__gt=distribution.period_start,
        occurred_at__lte=distribution.trigger_date,
    )


def _late_revenue_entries(distribution: Distribution, distributor: Distributor, units: str) -> int:
    if (distribution.pool_resolver or distributor.pool_resolver) != PoolResolver.REVENUE_SHARE:
        return 0
    return _period_revenue(distribution, units).filter(created_at__gt=distribution.triggered_at).count()


def _period_credits(distribution: Distribution):
    return MetricCredit.objects.filter(
        distributor_id=distribution.distributor_id,
        organization_id=distribution.organization_id,
        credited_at__gt=distribution.period_start,
        credited_at__lte=distribution.trigger_date,
    )


def _late_credits(distribution: Distribution):
    """The period's credits booked after the trigger on purpose (with a ``late_reason``)."""
    return _period_credits(distribution).filter(
        request__late_reason__gt="", request__created_at__gt=distribution.triggered_at
    )


Scores = dict[int, tuple[int, datetime]]  # collaborator id -> (Σ points, first credit instant)


def _period_scores(distribution: Distribution) -> tuple[Scores, Scores]:
    """Per collaborator: (Σ points, first credit instant) of all the period's credits, and of those booked late on
    purpose (``_late_credits``); non-zero sums only. One statement (a ``UNION ALL`` of the two aggregates), so
    both come from one snapshot: a late credit committed meanwhile is in both or in neither, and cannot make a
    collaborator look booked late only."""

    def aggregate(credits, late: bool):
        return (
            credits.order_by()
            .values_list("collaborator_id")
            .annotate(
                score=Cast(Sum("points"), BigIntegerField()),
                first_credit_at=Min("credited_at"),
                late=Value(late, output_field=BooleanField()),
            )
            .filter(score__gt=0)
            .values_list("collaborator_id", "score", "first_credit_at", "late")
        )

    totals: Scores = {}
    late: Scores = {}
    rows = aggregate(_period_credits(distribution), False).union(aggregate(_late_credits(distribution), True), all=True)
    for collaborator_id, score, first, is_late in rows:
        (late if is_late else totals)[collaborator_id] = (score, first)
    return totals, late


def _eligible_now(distribution: Distribution, distributor: Distributor, ids: list[int]) -> set[int]:
    """Those of ``ids`` active and eligible for the distributor now; one query per 5,000."""
    eligible = Collaborator.objects.filter(
        organization_id=distribution.organization_id, status=CollaboratorStatus.ACTIVE
    )
    if distributor.eligibility == Eligibility.SELECTED:
        eligible = eligible.filter(distributors=distributor)
    found: set[int] = set()
    for start in range(0, len(ids), 5000):
        found.update(eligible.filter(pk__in=ids[start : start + 5000]).values_list("pk", flat=True))
    return found


@dataclass
class _Scores:
    scored: list[ScoredCollaborator]
    uncertain: int  # in-time scorers the record cannot tell from the trigger's unpaid ones (see below)
    undecided: list[int]  # who was counted with in-time points on that uncertain basis


def _corrected_scores(distribution: Distribution, distributor: Distributor, *, allocated: set[int]) -> _Scores:
    """Each counting collaborator's score in the period from the ledger now (see "Who counts").

    - The allocated count with all their points, whatever their status now.
    - So do the trigger's *unpaid scorers*: counted by it but given nothing (a zero share). The trigger stores
      how many (``scorer_count`` minus the allocations), not who, so they are told by the ledger: every
      unallocated collaborator with points booked in time (``in_time``; fixed since the trigger, the ledger
      being append-only and a credit into a triggered period being late by definition) is either one of them
      or someone the trigger's eligibility left out (inactive, or not selected, when it ran). When ``in_time``
      has as many as the trigger's unpaid scorers (or fewer), they are those: all count, whatever their status
      now. When the trigger has none (every scorer allocated), nobody in ``in_time`` counts with those points.
      In between the record cannot tell: those active and eligible now count, ``uncertain`` says how many
      in-time scorers could not be told apart (``len(in_time) - unpaid scorers``) and ``undecided`` lists who
      was counted so; applying then needs ``accept_uncertain``. A period without ``scorer_count`` (triggered
      before it was recorded) is that case, with every in-time scorer uncertain. Which case a period is never
      changes, so correcting again with nothing new (statuses included) changes nothing.
    - Anyone else counts only with the points booked late on purpose (``late_reason``), whatever their status
      now: booking them checked that they were active and eligible for the distributor then.
    """
    totals, late = _period_scores(distribution)
    counting = {pk: totals[pk] for pk in allocated if pk in totals}
    others = [pk for pk in sorted(totals) if pk not in allocated]
    uncertain, undecided = 0, []
    if others:
        in_time = [pk for pk in others if totals[pk][0] > late.get(pk, (0, None))[0]]
        recorded = distribution.scorer_count
        unpaid_scorers = None if recorded is None else max(0, recorded - len(allocated))
        if unpaid_scorers == 0:
            counted_in_time: set[int] = set()
        elif unpaid_scorers is not None and len(in_time) <= unpaid_scorers:
            counted_in_time = set(in_time)  # exactly the trigger's unpaid scorers
        else:
            uncertain = len(in_time) - (unpaid_scorers or 0)
            counted_in_time = _eligible_now(distribution, distributor, in_time)
            undecided = sorted(counted_in_time)
        for pk in others:
            if pk in counted_in_time:
                counting[pk] = totals[pk]
            elif pk in late:
                counting[pk] = late[pk]
    scored = [ScoredCollaborator(pk, score, first) for pk, (score, first) in sorted(counting.items())]
    return _Scores(scored=scored, uncertain=uncertain, undecided=undecided)


SETTLED = (ObligationStatus.APPROVED, ObligationStatus.FULFILLED)


def _rolls_over(distribution: Distribution, distributor: Distributor) -> bool:
    """Whether the period carried its unearned part forward, as recorded (see "Rollover")."""
    latest = (
        distribution.corrections.exclude(carried_forward=0, unallocated=0)
        .order_by("-pk")
        .values_list("carried_forward", "unallocated")
        .first()
    )
    for carried_forward, unallocated in (latest or (0, 0), (distribution.carried_forward, distribution.unallocated)):
        if carried_forward:
            return True
        if unallocated:
            return False
    return distributor.rollover_unearned


def _period_units(distribution: Distribution, distributor: Distributor, paid_units: set[str]) -> str:
    """The units the period was paid in (its allocations' and earlier adjustments'), else the distributor's."""
    if len(paid_units) > 1:
        raise ValidationError(
            {
                "distribution": f"Distribution {distribution.pk} was paid in several units "
                f"({', '.join(sorted(paid_units))}): it cannot be corrected as one pool."
            },
            code="mixed_units",
        )
    return next(iter(paid_units)) if paid_units else distributor.units


def distribution_correction_plan(*, distribution: Distribution) -> CorrectionPlan:
    """The correction of ``distribution`` the ledger calls for now; reads only (a handful of queries plus one
    per 5,000 scorers the trigger did not pay, in a period whose unpaid scorers cannot be told apart). The
    cyclic garbage collector pauses meanwhile, as for the trigger's plan (``trigger.gc_paused``)."""
    with gc_paused():
        return _plan(distribution)


def _plan(distribution: Distribution) -> CorrectionPlan:
    _refuse_untriggered(distribution)
    distributor = Distributor.objects.get(pk=distribution.distributor_id)
    allocations: dict[int, int] = {}  # collaborator -> allocation id
    previous: dict[int, int] = defaultdict(int)
    unsettled: set[int] = set()  # collaborators with a payment of the period not approved (pending or refused)
    paid_units: set[str] = set()
    for allocation_id, collaborator_id, value, status, units in Allocation.objects.filter(
        distribution=distribution
    ).values_list("pk", "collaborator_id", "value", "obligation__status", "obligation__units"):
        allocations[collaborator_id] = allocation_id
        previous[collaborator_id] += value
        paid_units.add(units)
        if status not in SETTLED:
            unsettled.add(collaborator_id)
    for collaborator_id, difference, status, units in CorrectionLine.objects.filter(
        correction__distribution=distribution
    ).values_list("collaborator_id", "difference", "adjustment__status", "adjustment__units"):
        previous[collaborator_id] += difference
        paid_units.add(units)
        if status not in SETTLED:
            unsettled.add(collaborator_id)
    units = _period_units(distribution, distributor, paid_units)

    period_pool, revenue_entries, revenue_total = _period_pool(distribution, distributor, units)
    pool = period_pool + distribution.rolled_over
    resolver = distribution.distribution_resolver or distributor.distribution_resolver
    tie_policy = distribution.tie_policy or distributor.tie_policy
    weights = (distribution.top_n_weights or distributor.top_n_weights or ()) if resolver == TOP_N else ()
    scores = _corrected_scores(distribution, distributor, allocated=set(allocations))
    scored = scores.scored
    result = split_pool(pool, scored, resolver=resolver, tie_policy=tie_policy, weights=weights)
    carried_forward = result.unallocated if _rolls_over(distribution, distributor) else 0
    corrected = {share.collaborator_id: share for share in result.shares}
    score_of = {item.collaborator_id: item.score for item in scored}

    lines = []
    for collaborator_id in sorted(set(corrected) | set(previous)):
        share = corrected.get(collaborator_id)
        line = CorrectionLinePlan(
            collaborator_id=collaborator_id,
            allocation_id=allocations.get(collaborator_id),
            score=score_of.get(collaborator_id, 0),
            previous_value=previous.get(collaborator_id, 0),
            corrected_value=share.value if share else 0,
            status=ObligationStatus.PENDING if collaborator_id in unsettled else ObligationStatus.APPROVED,
        )
        if line.difference:
            lines.append(line)
    return CorrectionPlan(
        distribution=distribution,
        units=units,
        period_pool=period_pool,
        revenue_entries=revenue_entries,
        revenue_total=revenue_total,
        corrected_pool=pool,
        value=pool - result.unallocated,
        unallocated=result.unallocated - carried_forward,
        carried_forward=carried_forward,
        scorer_count=result.scorers,
        previous_value=sum(previous.values()),
        late_credits=_late_credits(distribution).count(),
        late_revenue_entries=_late_revenue_entries(distribution, distributor, units),
        uncertain_eligibility=scores.uncertain,
        undecided=scores.undecided,
        staff_adjustments=_staff_adjustments(distribution),
        lines=lines,
    )


def _staff_adjustments(distribution: Distribution) -> tuple[int, int]:
    """(how many, Σ values) of staff's own adjustments of the period (``adjust_obligation --distribution``, the
    admin's Adjust): a correction neither counts nor undoes them, so the dry run shows them, lest a late credit
    staff already made up for by hand be paid twice. Refused ones are left out. One query."""
    found = (
        Obligation.objects.filter(
            adjusts_distribution=distribution, award_type=AwardType.ADJUSTMENT, correction_line__isnull=True
        )
        .exclude(status__in=(ObligationStatus.REJECTED, ObligationStatus.CANCELLED))
        .aggregate(count=Count("pk"), total=Sum("value"))
    )
    return found["count"], found["total"] or 0


def _checked_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "A correction needs a reason."}, code="invalid_correction")
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError({"reason": f"At most {REASON_MAX_LENGTH} characters."}, code="invalid_correction")
    return reason


def distribution_correct(
    *,
    distribution: Distribution,
    apply: bool = False,
    reason: str = "",
    actor: str = "",
    now: datetime | None = None,
    expect: str | None = None,
    accept_uncertain: bool = False,
) -> CorrectionPlan:
    """Plan the correction of ``distribution``; with ``apply``, write it (see the module docstring) and return the
    plan with its stored ``correction`` (``None`` when there was no difference: nothing is written). ``expect``:
    the ``fingerprint`` of the plan the caller reviewed; when the lines differ now, nothing is written and
    ``ValidationError`` (code ``ledger_changed``) says to review again. ``accept_uncertain``: the caller checked the
    lines of a plan with ``uncertain_eligibility`` (see ``_corrected_scores``); without it such a plan is refused.
    """
    if not apply:
        return distribution_correction_plan(distribution=distribution)
    reason = _checked_reason(reason)
    with transaction.atomic():
        _share_lock_period_obligations(distribution.pk, adjustments=False)  # before the distribution: see below
        locked = Distribution.objects.select_for_update().get(pk=distribution.pk)
        _share_lock_period_obligations(distribution.pk, adjustments=True)
        plan = distribution_correction_plan(distribution=locked)
        if expect is not None and expect != plan.fingerprint:
            raise ValidationError(
                {
                    "expect": f"The ledger changed since this correction of distribution {locked.pk} was reviewed "
                    f"(now {len(plan.lines)} difference(s), {format_amount(plan.adjustment_total, plan.units)} "
                    "in all): review it again."
                },
                code="ledger_changed",
            )
        if not plan.lines:
            return plan
        if plan.uncertain_eligibility and not accept_uncertain:
            raise ValidationError(
                {
                    "accept_uncertain": f"{plan.uncertain_eligibility} collaborator(s) who scored in time cannot be "
                    "told from those the trigger counted without paying; the lines count those active and "
                    f"eligible now ({plan.undecided_text}). Check those lines, then confirm that they are right."
                },
                code="uncertain_eligibility",
            )
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
        batches: dict[str, list[CorrectionLinePlan]] = defaultdict(list)
        for line in plan.lines:
            batches[line.status].append(line)
        for status, lines in sorted(batches.items()):  # one status per batch: the writers' events carry one
            writer(
                correction=correction,
                lines=lines,
                units=plan.units,
                status=status,
                reason=f"Correction {correction.pk}: {reason}"[: Obligation._meta.get_field("reason").max_length],
                description=f"Correction {correction.pk} of distribution {locked.pk}",
            )
        plan.correction = correction
    return plan


def _share_lock_period_obligations(distribution_id: int, *, adjustments: bool) -> int:
    """PostgreSQL: lock ``FOR SHARE``, in id order, the obligations of the period's allocations (or, with
    ``adjustments``, of its earlier corrections), so no staff move changes their status while the correction plans
    on it and writes: a rejection waits until the correction committed (and is then a decision about the original
    obligation alone). The order is the one every other path takes (obligations, then their distribution: staff
    moves, paying, taking back), so none of them can deadlock with a correction; adjustments have no allocation,
    so moving one never locks a distribution, and they are locked after it (earlier corrections add them under
    that lock). SQLite serializes writers; nothing to do there. Returns how many rows were locked."""
    if connection.vendor != "postgresql":
        return 0
    quote = connection.ops.quote_name
    obligation = Obligation._meta
    if adjustments:
        line, correction = CorrectionLine._meta, Correction._meta
        ids = (
            f"SELECT l.{quote(line.get_field('adjustment').column)} FROM {quote(line.db_table)} AS l "
            f"JOIN {quote(correction.db_table)} AS c ON c.{quote(correction.pk.column)} = "
            f"l.{quote(line.get_field('correction').column)} "
            f"WHERE c.{quote(correction.get_field('distribution').column)} = %s"
        )
    else:
        allocation = Allocation._meta
        ids = (
            f"SELECT {quote(allocation.get_field('obligation').column)} FROM {quote(allocation.db_table)} "
            f"WHERE {quote(allocation.get_field('distribution').column)} = %s"
        )
    pk = quote(obligation.pk.column)
    sql = (
        f"WITH locked AS (SELECT o.{pk} FROM {quote(obligation.db_table)} AS o WHERE o.{pk} IN ({ids}) "
        f"ORDER BY o.{pk} FOR SHARE OF o) SELECT count(*) FROM locked"
    )  # identifiers come from model metadata; the id is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [distribution_id])
        return cursor.fetchone()[0]


def _write_lines_bulk_create(
    *, correction: Correction, lines: list[CorrectionLinePlan], units: str, status: str, reason: str, description: str
) -> None:
    """The adjustments, their lines and events through the ORM (SQLite; a few statements per 1,000 lines)."""
    adjustments = obligation_adjustments_create(
        organization_id=correction.organization_id,
        adjusts_distribution=correction.distribution,
        units=units,
        values=[(line.collaborator_id, line.difference) for line in lines],
        reason=reason,
        description=description,
        status=status,
        created_at=correction.created_at,
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
            for line, adjustment in zip(lines, adjustments, strict=True)
        ],
        batch_size=1000,
    )


def _bigint_array(values: Iterable[int | None]) -> str:
    return "{" + ",".join("NULL" if value is None else str(int(value)) for value in values) + "}"


def _write_lines_postgresql(
    *, correction: Correction, lines: list[CorrectionLinePlan], units: str, status: str, reason: str, description: str
) -> None:
    """The adjustments, their lines and their ``obligation.created`` events in one statement (PostgreSQL), as the
    trigger writes its shares: the lines come in as arrays, the obligations' ``RETURNING`` feeds the lines and the
    events, nothing is read back. The rows equal those of ``_write_lines_bulk_create``."""
    obligation, line = Obligation._meta, CorrectionLine._meta
    now = correction.created_at

    def col(meta, name: str) -> str:
        return connection.ops.quote_name(meta.get_field(name).column)

    event_cte, event_params = obligations_created_event_cte(
        organization_id=correction.organization_id,
        units=units,
        status=status,
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
    params = [
        _bigint_array(item.collaborator_id for item in lines),
        _bigint_array(item.allocation_id for item in lines),
        _bigint_array(item.score for item in lines),
        _bigint_array(item.previous_value for item in lines),
        _bigint_array(item.corrected_value for item in lines),
        correction.organization_id,
        units,
        status,
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
