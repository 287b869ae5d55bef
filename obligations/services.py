"""Writes on obligations and their fulfillment: status moves, payout batches, paying.

The distributions these obligations come from follow through ``distributions.services`` (``*_and_follow``),
which calls these and then moves the distributions: this app never writes another app's rows.

Decisions (where the reference is silent):

- Staff move obligations with ``obligations_transition`` (approve, reject, cancel). ``fulfilled`` is reached
  and left only through payouts (``payout_mark_paid`` / ``payout_mark_unpaid``), so an obligation is
  fulfilled exactly when its payout is paid. An obligation inside a live payout cannot be rejected or
  cancelled: the payout's amount includes it, so its fulfillment must be marked failed first.
- ``fulfillment_generate`` batches the organization's approved obligations that are in no payout, one
  payout per (collaborator, units) with their net sum as amount, in one transaction that locks those obligations
  (``select_for_update``): two concurrent runs never put an obligation in two payouts; the second finds
  nothing. A balance that is negative (a net debt), nets to zero, or is below the organization's
  ``MinimumPayout`` in its units is held back (``obligations.balances``): its obligations stay approved, in no
  payout, and the fulfillment records them in ``held_back``. Nothing to pay → ``None`` (nothing written).
- Holding period: ``obligations_release_held`` approves pending obligations whose ``release_at`` has passed, in
  bounded batches of one ``UPDATE … RETURNING`` each, the rows picked under ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so concurrent heartbeats release each obligation once and never wait for a staff action holding
  one. A rejected or cancelled obligation is no longer pending and is never released.
- Adjustments (``obligation_adjust``): a new obligation, never an edit of the one it corrects (a fulfilled one
  included); created ``approved`` (staff creating it is the approval) so the next fulfillment nets it.
- Marking payouts paid: paid_at is set, their obligations become ``fulfilled`` (the distributions follow
  through ``distributions.services``: ``complete`` once no obligation is pending or approved). The fulfillment moves to
  ``processing`` when its first payout is paid (if it was still ``pending``) and to ``complete`` when all
  are. Marking unpaid reverses every step (``complete`` fulfillments and distributions reopen).
- A ``pending``/``processing`` fulfillment can be marked ``failed``: its obligations leave their payouts
  (``payout=None``) and stay ``approved`` for the next batch. A fulfillment with a paid payout cannot fail;
  mark that payout unpaid first. A failed fulfillment's payouts cannot be paid.
- Every function is all or nothing: the first refusal (a ``ValidationError``, often ``IllegalTransition``)
  rolls everything back. Locks are always taken in the order fulfillments → payouts → obligations →
  distributions, so concurrent calls cannot deadlock.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from collaborators.models import Collaborator
from distributors.units import format_amount
from lifecycle.services import status_changes_record
from obligations.balances import HeldBalance, split_balances
from obligations.events import record_fulfillment, record_obligations, record_payouts
from obligations.models import (
    AwardType,
    Fulfillment,
    FulfillmentStatus,
    Obligation,
    ObligationStatus,
    Payout,
    PayoutStatus,
)
from obligations.selectors import minimum_payouts, obligations_due_for_release, payout_export_rows
from organizations.models import Organization


def _write_obligation_status(obligations: list[Obligation], status: str) -> None:
    """Store ``status`` on obligations already moved in memory (their ``modified_at`` too, so that the events
    recorded from them show the row as stored)."""
    ids = [obligation.pk for obligation in obligations]
    if ids:
        now = timezone.now()
        Obligation.objects.filter(pk__in=ids).update(status=status, modified_at=now)
        for obligation in obligations:
            obligation.modified_at = now


def _record_moves(model, objects, before: dict[int, str], *, actor: str, reason: str = "") -> None:
    """The status history of ``objects`` just moved (``before``: id → the status each had), in the caller's
    transaction (``lifecycle.services.status_changes_record``: one statement)."""
    status_changes_record(
        model=model,
        organization_id=None,
        changes=[(obj.pk, before[obj.pk], obj.status, obj.organization_id) for obj in objects],
        actor=actor,
        reason=reason,
    )


def obligations_transition(
    *, obligation_ids: Iterable[int], status: str, reason: str = "", actor: str = ""
) -> list[Obligation]:
    """Move every given obligation to ``status``, or none of them (a ValidationError names the first refusal).

    For staff moves (approve, reject, cancel). ``fulfilled`` is reached only by paying the payout. ``reason`` (why
    staff moved them) and ``actor`` (who) go into each obligation's status history.
    """
    if status == ObligationStatus.FULFILLED:
        raise ValidationError("An obligation becomes fulfilled when its payout is marked paid.", code="use_payout")
    ids = sorted(set(obligation_ids))
    with transaction.atomic():
        obligations = list(Obligation.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        before = {obligation.pk: obligation.status for obligation in obligations}
        for obligation in obligations:
            if obligation.status == ObligationStatus.FULFILLED:
                raise ValidationError(
                    f"Obligation {obligation.pk} is fulfilled by payout {obligation.payout_id}; "
                    "mark that payout unpaid first.",
                    code="use_payout",
                )
            if obligation.payout_id is not None and status in (ObligationStatus.REJECTED, ObligationStatus.CANCELLED):
                raise ValidationError(
                    f"Obligation {obligation.pk} is in payout {obligation.payout_id}; "
                    "mark that payout's fulfillment failed first.",
                    code="in_payout",
                )
            obligation.transition_to(status)
        _write_obligation_status(obligations, status)
        _record_moves(Obligation, obligations, before, actor=actor, reason=reason)
        record_obligations(f"obligation.{status}", obligations)
    return obligations


MANUAL_EDITABLE_FIELDS = ["organization", "collaborator", "value", "units", "award_type", "description", "modified_at"]


def obligation_manual_save(*, obligation: Obligation) -> Obligation:
    """Create a manual obligation, or save staff's edit of one.

    A manual obligation belongs to its collaborator's organization (never another tenant's). An edit was read
    before this save: under the row lock it is saved only while the obligation is still an editable one
    (manual, pending, in no payout), and never writes status or payout.
    """
    obligation.organization_id = obligation.collaborator.organization_id
    if obligation.award_type == AwardType.ADJUSTMENT:
        raise ValidationError(
            {"award_type": "An adjustment is created with the Adjust action or manage.py adjust_obligation."},
            code="use_adjust",
        )
    with transaction.atomic():
        if obligation._state.adding:
            obligation.save()
            record_obligations("obligation.created", [obligation])
            return obligation
        current = Obligation.objects.select_for_update().get(pk=obligation.pk)
        if (
            current.award_type != AwardType.MANUAL
            or current.status != ObligationStatus.PENDING
            or current.payout_id is not None
        ):
            raise ValidationError(
                f"obligation {obligation.pk} became {current.status} meanwhile; only pending manual "
                "obligations can be edited.",
                code="not_editable",
            )
        obligation.save(update_fields=MANUAL_EDITABLE_FIELDS)
    return obligation


def fulfillment_generate(*, organization: Organization) -> Fulfillment | None:
    """Batch the organization's approved obligations that are in no payout into one new fulfillment.

    One payout per (collaborator, units) whose net balance is paid (``obligations.balances``), amount = the sum
    of its obligations, negative adjustments included. The balances held back are recorded on the fulfillment
    (``held_back``, collaborator name as it was then) and their obligations are left as they were. Returns
    ``None`` (and writes nothing) when no balance is to be paid; ``balances_held_back`` then says why.
    """
    with transaction.atomic():
        obligations = list(
            Obligation.objects.select_for_update()
            .filter(organization=organization, status=ObligationStatus.APPROVED, payout__isnull=True)
            .order_by("pk")
        )
        if not obligations:
            return None
        groups: dict[tuple[int, str], list[Obligation]] = defaultdict(list)
        for obligation in obligations:
            groups[(obligation.collaborator_id, obligation.units)].append(obligation)
        minimums = minimum_payouts(organization=organization)
        keys, held = split_balances({key: sum(o.value for o in group) for key, group in groups.items()}, minimums)
        if not keys:
            return None
        names = dict(
            Collaborator.objects.filter(pk__in={collaborator_id for collaborator_id, _ in held}).values_list(
                "pk", "full_name"
            )
        )
        held_back = [
            HeldBalance(
                collaborator_id=collaborator_id,
                collaborator_name=names.get(collaborator_id, ""),
                units=units,
                balance=sum(o.value for o in groups[(collaborator_id, units)]),
                minimum=minimums.get(units, 0),
                obligation_count=len(groups[(collaborator_id, units)]),
                reason=reason,
            ).as_dict()
            for (collaborator_id, units), reason in held.items()
        ]
        fulfillment = Fulfillment.objects.create(organization=organization, held_back=held_back)
        obligations = [obligation for key in keys for obligation in groups[key]]
        payouts = Payout.objects.bulk_create(
            Payout(
                organization=organization,
                fulfillment=fulfillment,
                collaborator_id=collaborator_id,
                units=units,
                amount=sum(obligation.value for obligation in groups[(collaborator_id, units)]),
            )
            for collaborator_id, units in keys
        )
        now = timezone.now()
        for key, payout in zip(keys, payouts, strict=True):
            for obligation in groups[key]:
                obligation.payout = payout
                obligation.modified_at = now
        Obligation.objects.bulk_update(obligations, ["payout", "modified_at"], batch_size=500)
        record_fulfillment("fulfillment.created", fulfillment)
        record_payouts("payout.created", payouts)
    return fulfillment


RELEASE_BATCH_SIZE = 500


def _release_batch(*, as_of: datetime, now: datetime, batch_size: int, **scope) -> list[Obligation]:
    """Approve up to ``batch_size`` held obligations due at ``as_of``, oldest release first: one statement."""
    table = connection.ops.quote_name(Obligation._meta.db_table)
    picked = obligations_due_for_release(as_of=as_of, **scope).order_by("release_at", "pk").values("pk")[:batch_size]
    picked_sql, picked_params = picked.query.sql_with_params()
    if connection.vendor == "postgresql":
        # Rows another transaction holds (a staff move, a concurrent heartbeat) are left for the next run.
        picked_sql = f"{picked_sql} FOR UPDATE OF {table} SKIP LOCKED"
    columns = ["id", "organization_id", "collaborator_id", "value", "units", "status", "award_type"]
    columns += ["release_at", "created_at", "modified_at"]
    returning = ", ".join(connection.ops.quote_name(column) for column in columns)
    sql = (
        f"UPDATE {table} SET status = %s, modified_at = %s "
        f"WHERE id IN ({picked_sql}) AND status = %s RETURNING {returning}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ObligationStatus.APPROVED, now, *picked_params, ObligationStatus.PENDING])
        rows = cursor.fetchall()
    released = []
    for row in sorted(rows):
        values = dict(zip(columns, row, strict=True))
        for name in ("release_at", "created_at", "modified_at"):  # SQLite returns text here
            if isinstance(values[name], str):
                values[name] = datetime.fromisoformat(values[name])
            if values[name] is not None and timezone.is_naive(values[name]):
                values[name] = values[name].replace(tzinfo=UTC)
        released.append(Obligation(**values))
    return released


def obligations_release_held(
    *,
    as_of: datetime,
    organization_id: int | None = None,
    distributor_id: int | None = None,
    batch_size: int = RELEASE_BATCH_SIZE,
    actor: str = "engine",
) -> int:
    """Approve every pending obligation whose hold has passed (``release_at <= as_of``); return how many.

    Each batch is its own transaction (one ``UPDATE … RETURNING`` and its ``obligation.approved`` events), so a
    long release never holds many rows at once and a killed run keeps what it released. Pending → approved
    leaves a distribution ``processing`` either way, so no distribution has to follow. ``distributor_id``: only
    that distributor's obligations (``run_distributions --distributor``). Each release is a status change
    (pending → approved, ``actor``: the engine run) written in its batch's transaction, reason "hold ended".
    """
    if timezone.is_naive(as_of):
        raise ValueError("as_of must be timezone-aware.")
    total = 0
    while True:
        with transaction.atomic():
            released = _release_batch(
                as_of=as_of,
                now=timezone.now(),
                batch_size=batch_size,
                organization_id=organization_id,
                distributor_id=distributor_id,
            )
            _record_moves(
                Obligation,
                released,
                dict.fromkeys((o.pk for o in released), ObligationStatus.PENDING),
                actor=actor,
                reason="hold ended",
            )
            record_obligations("obligation.approved", released)
        total += len(released)
        if len(released) < batch_size:
            return total


def obligation_adjust(
    *,
    organization: Organization,
    collaborator: Collaborator,
    value: int,
    reason: str,
    units: str | None = None,
    adjusts_obligation: Obligation | None = None,
    adjusts_distribution=None,
) -> Obligation:
    """Create an adjustment obligation: ``value`` (minor units, positive or negative: a clawback) owed to
    ``collaborator``, correcting one obligation or one triggered distribution, for ``reason``.

    Decisions: the collaborator and the corrected row must be of ``organization``; an adjustment of an
    obligation is for that obligation's collaborator and in its units (``units`` may be omitted); an adjustment
    of a distribution is in its distributor's units, for any collaborator of the organization (one the period
    missed, too), and only once the distribution was triggered. It starts ``approved`` and emits
    ``obligation.created``. A ValidationError names the failing input.
    """
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = "An adjustment needs a reason."
    elif len(reason) > Obligation._meta.get_field("reason").max_length:
        errors["reason"] = f"At most {Obligation._meta.get_field('reason').max_length} characters."
    if isinstance(value, bool) or not isinstance(value, int) or value == 0:
        errors["value"] = "An adjustment is a non-zero whole amount in the smallest unit (negative to claw back)."
    elif abs(value) > 2**63 - 1:
        errors["value"] = "The amount is too large."
    if collaborator.organization_id != organization.pk:
        errors["collaborator"] = f"Collaborator {collaborator.pk} is not of organization '{organization.slug}'."
    if (adjusts_obligation is None) == (adjusts_distribution is None):
        errors["adjusts"] = "Name exactly one obligation or one distribution that the adjustment corrects."
    elif adjusts_obligation is not None:
        if adjusts_obligation.organization_id != organization.pk:
            errors["obligation"] = f"Obligation {adjusts_obligation.pk} is not of organization '{organization.slug}'."
        elif adjusts_obligation.collaborator_id != collaborator.pk:
            errors["collaborator"] = (
                f"Obligation {adjusts_obligation.pk} is owed to collaborator {adjusts_obligation.collaborator_id}, "
                f"not {collaborator.pk}."
            )
        elif units is not None and units != adjusts_obligation.units:
            errors["units"] = f"Obligation {adjusts_obligation.pk} is in {adjusts_obligation.units}, not {units}."
        units = adjusts_obligation.units
    else:
        distributor = adjusts_distribution.distributor
        if adjusts_distribution.organization_id != organization.pk:
            errors["distribution"] = (
                f"Distribution {adjusts_distribution.pk} is not of organization '{organization.slug}'."
            )
        elif adjusts_distribution.triggered_at is None:
            errors["distribution"] = (
                f"Distribution {adjusts_distribution.pk} is {adjusts_distribution.status}: only a triggered "
                "distribution can be adjusted."
            )
        elif units is not None and units != distributor.units:
            errors["units"] = f"Distribution {adjusts_distribution.pk} is in {distributor.units}, not {units}."
        units = distributor.units
    if errors:
        raise ValidationError(errors, code="invalid_adjustment")
    if adjusts_obligation is not None:
        target = f"obligation {adjusts_obligation.pk}"
    else:
        target = f"distribution {adjusts_distribution.pk}"
    adjustment = Obligation(
        organization=organization,
        collaborator=collaborator,
        value=value,
        units=units,
        status=ObligationStatus.APPROVED,
        award_type=AwardType.ADJUSTMENT,
        description=f"Adjustment of {target}: {format_amount(value, units)}"[:300],
        reason=reason,
        adjusts_obligation=adjusts_obligation,
        adjusts_distribution=adjusts_distribution,
    )
    with transaction.atomic():
        adjustment.save()
        record_obligations("obligation.created", [adjustment])
    return adjustment


def obligation_adjustments_create(
    *,
    organization_id: int,
    adjusts_distribution,
    units: str,
    values: list[tuple[int, int]],
    reason: str,
    description: str = "",
    status: str = ObligationStatus.APPROVED,
    created_at: datetime | None = None,
) -> list[Obligation]:
    """Create one adjustment obligation per ``(collaborator_id, value)`` (non-zero values) in ``status``
    (``approved`` or ``pending``), all correcting ``adjusts_distribution`` and created at ``created_at`` (default:
    now), in one bulk insert plus their ``obligation.created`` events, in the caller's transaction. For a
    correction of a period (``distributions.corrections``), which has checked the collaborators and values; the
    rules are those of ``obligation_adjust``."""
    if status not in (ObligationStatus.APPROVED, ObligationStatus.PENDING):
        raise ValidationError({"status": "An adjustment starts approved or pending."}, code="invalid_adjustment")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "An adjustment needs a reason."}, code="invalid_adjustment")
    target = f"distribution {adjusts_distribution.pk}"
    adjustments = [
        Obligation(
            organization_id=organization_id,
            collaborator_id=collaborator_id,
            value=value,
            units=units,
            status=status,
            award_type=AwardType.ADJUSTMENT,
            description=(description or f"Correction of {target}: {format_amount(value, units)}")[:300],
            reason=reason[: Obligation._meta.get_field("reason").max_length],
            adjusts_distribution=adjusts_distribution,
        )
        for collaborator_id, value in values
    ]
    with transaction.atomic():
        Obligation.objects.bulk_create(adjustments, batch_size=1000)
        if created_at is not None:  # ``auto_now_add`` stamps the insert's own instant: restamp, 1,000 at a time
            ids = [item.pk for item in adjustments]
            for start in range(0, len(ids), 1000):
                Obligation.objects.filter(pk__in=ids[start : start + 1000]).update(
                    created_at=created_at, modified_at=created_at
                )
            for item in adjustments:
                item.created_at = item.modified_at = created_at
        record_obligations("obligation.created", adjustments, occurred_at=created_at)
    return adjustments


def _payout_ids(payouts: Iterable[Payout | int]) -> list[int]:
    return sorted({payout.pk if isinstance(payout, Payout) else int(payout) for payout in payouts})


def _lock_payouts(ids: list[int]) -> tuple[dict[int, Fulfillment], list[Payout]]:
    """Lock the payouts' fulfillments, then the payouts (the one lock order of this module)."""
    fulfillment_ids = set(Payout.objects.filter(pk__in=ids).values_list("fulfillment_id", flat=True))
    fulfillments = {
        f.pk: f for f in Fulfillment.objects.select_for_update().filter(pk__in=fulfillment_ids).order_by("pk")
    }
    payouts = list(Payout.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    for payout in payouts:
        payout.fulfillment = fulfillments[payout.fulfillment_id]
        if payout.fulfillment.status == FulfillmentStatus.FAILED:
            raise ValidationError(
                f"Payout {payout.pk} belongs to failed fulfillment {payout.fulfillment_id}; "
                "its obligations were returned to approved and will be batched again.",
                code="fulfillment_failed",
            )
    return fulfillments, payouts


def _move_fulfillment(fulfillment: Fulfillment, target: str, *, actor: str = "", reason: str = "") -> None:
    if fulfillment.status == target:
        return
    before = {fulfillment.pk: fulfillment.status}
    fulfillment.transition_to(target)
    fulfillment.completed_at = timezone.now() if target == FulfillmentStatus.COMPLETE else None
    fulfillment.save(update_fields=["status", "completed_at", "modified_at"])
    _record_moves(Fulfillment, [fulfillment], before, actor=actor, reason=reason)
    record_fulfillment("fulfillment.status_changed", fulfillment)


def payout_mark_paid(*, payouts: Iterable[Payout | int], reason: str = "", actor: str = "") -> list[Payout]:
    """Mark payouts paid (all or none): obligations fulfilled, fulfillments follow (a fulfillment is complete
    once all its payouts are paid). ``reason`` and ``actor`` go into the status history of every row moved
    (payouts, obligations, fulfillments)."""
    ids = _payout_ids(payouts)
    with transaction.atomic():
        fulfillments, locked = _lock_payouts(ids)
        payouts_before = {payout.pk: payout.status for payout in locked}
        now = timezone.now()
        for payout in locked:
            payout.transition_to(PayoutStatus.PAID)
            payout.paid_at = payout.modified_at = now
        Payout.objects.filter(pk__in=[p.pk for p in locked]).update(
            status=PayoutStatus.PAID, paid_at=now, modified_at=now
        )
        obligations = list(Obligation.objects.select_for_update().filter(payout__in=locked).order_by("pk"))
        obligations_before = {obligation.pk: obligation.status for obligation in obligations}
        for obligation in obligations:
            obligation.transition_to(ObligationStatus.FULFILLED)
        _write_obligation_status(obligations, ObligationStatus.FULFILLED)
        _record_moves(Payout, locked, payouts_before, actor=actor, reason=reason)
        _record_moves(Obligation, obligations, obligations_before, actor=actor, reason=reason)
        record_payouts("payout.paid", locked)
        record_obligations("obligation.fulfilled", obligations)
        for fulfillment in fulfillments.values():
            _move_fulfillment(fulfillment, FulfillmentStatus.PROCESSING, actor=actor, reason=reason)
            if not fulfillment.payouts.filter(status=PayoutStatus.UNPAID).exists():
                _move_fulfillment(fulfillment, FulfillmentStatus.COMPLETE, actor=actor, reason=reason)
    return locked


def payout_mark_unpaid(*, payouts: Iterable[Payout | int], reason: str = "", actor: str = "") -> list[Payout]:
    """Take back payouts marked paid by mistake (all or none): the reverse of ``payout_mark_paid``. ``reason``
    and ``actor`` go into the status history of every row moved.

    Obligations return to ``approved`` (still in the payout) and a ``complete`` fulfillment returns to
    ``processing``.
    """
    ids = _payout_ids(payouts)
    with transaction.atomic():
        fulfillments, locked = _lock_payouts(ids)
        payouts_before = {payout.pk: payout.status for payout in locked}
        now = timezone.now()
        for payout in locked:
            payout.transition_to(PayoutStatus.UNPAID)
            payout.paid_at, payout.modified_at = None, now
        Payout.objects.filter(pk__in=[p.pk for p in locked]).update(
            status=PayoutStatus.UNPAID, paid_at=None, modified_at=now
        )
        obligations = list(Obligation.objects.select_for_update().filter(payout__in=locked).order_by("pk"))
        obligations_before = {obligation.pk: obligation.status for obligation in obligations}
        for obligation in obligations:
            obligation.transition_to(ObligationStatus.APPROVED)
        _write_obligation_status(obligations, ObligationStatus.APPROVED)
        _record_moves(Payout, locked, payouts_before, actor=actor, reason=reason)
        _record_moves(Obligation, obligations, obligations_before, actor=actor, reason=reason)
        record_payouts("payout.unpaid", locked)
        record_obligations("obligation.approved", obligations)
        for fulfillment in fulfillments.values():
            _move_fulfillment(fulfillment, FulfillmentStatus.PROCESSING, actor=actor, reason=reason)
    return locked


def fulfillment_mark_failed(*, fulfillment: Fulfillment | int, reason: str = "", actor: str = "") -> Fulfillment:
    """Mark a pending or processing fulfillment failed: its obligations leave their payouts and stay approved.
    ``reason`` and ``actor`` go into the fulfillment's status history (its obligations' status does not move:
    leaving a payout is no status change, so they record nothing)."""
    pk = fulfillment.pk if isinstance(fulfillment, Fulfillment) else int(fulfillment)
    with transaction.atomic():
        locked = Fulfillment.objects.select_for_update().get(pk=pk)
        before = {locked.pk: locked.status}
        locked.transition_to(FulfillmentStatus.FAILED)
        payouts = list(Payout.objects.select_for_update().filter(fulfillment=locked).order_by("pk"))
        paid = [payout.pk for payout in payouts if payout.status == PayoutStatus.PAID]
        if paid:
            raise ValidationError(
                f"Fulfillment {pk} has paid payout(s) {', '.join(map(str, paid))}; mark them unpaid first.",
                code="has_paid_payouts",
            )
        obligation_ids = list(
            Obligation.objects.select_for_update()
            .filter(payout__in=payouts)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        Obligation.objects.filter(pk__in=obligation_ids).update(payout=None, modified_at=timezone.now())
        locked.save(update_fields=["status", "modified_at"])
        _record_moves(Fulfillment, [locked], before, actor=actor, reason=reason)
        record_fulfillment("fulfillment.status_changed", locked)
    return locked


def fulfillments_mark_failed(*, fulfillment_ids: Iterable[int], reason: str = "", actor: str = "") -> list[Fulfillment]:
    """``fulfillment_mark_failed`` for each (in id order), all or none."""
    with transaction.atomic():
        return [
            fulfillment_mark_failed(fulfillment=pk, reason=reason, actor=actor) for pk in sorted(set(fulfillment_ids))
        ]


@dataclass(frozen=True)
class FulfillmentExport:
    fulfillment: Fulfillment
    rows: list[dict]
    marked_paid: int


def fulfillment_export(
    *,
    fulfillment_id: int,
    organization: Organization | None = None,
    mark_paid: bool = False,
    actor: str = "",
    reason: str = "",
) -> FulfillmentExport:
    """Prepare a fulfillment's payout CSV rows: a pending fulfillment moves to ``processing`` (it is being
    paid); with ``mark_paid`` every unpaid payout is marked paid (and the fulfillment completes). The moves'
    status history names ``actor`` and ``reason`` (``exported`` when none is given).

    The caller writes the rows inside its own transaction, so a failed write undoes the moves. A failed
    fulfillment cannot be exported; a processing or complete one can be exported again.
    """
    with transaction.atomic():
        found = Fulfillment.objects.select_for_update().filter(pk=fulfillment_id)
        if organization is not None:
            found = found.filter(organization=organization)
        fulfillment = found.first()
        if fulfillment is None:
            raise Fulfillment.DoesNotExist(f"Fulfillment {fulfillment_id} not found.")
        if fulfillment.status == FulfillmentStatus.FAILED:
            raise ValidationError(
                f"Fulfillment {fulfillment_id} failed; its obligations went back to approved. "
                "Generate a new fulfillment.",
                code="fulfillment_failed",
            )
        if fulfillment.status == FulfillmentStatus.PENDING:
            _move_fulfillment(fulfillment, FulfillmentStatus.PROCESSING, actor=actor, reason=reason or "exported")
        marked = 0
        if mark_paid:
            unpaid = list(fulfillment.payouts.filter(status=PayoutStatus.UNPAID).values_list("pk", flat=True))
            marked = len(payout_mark_paid(payouts=unpaid, actor=actor, reason=reason or "exported"))
            fulfillment.refresh_from_db()
        rows = payout_export_rows(fulfillment=fulfillment)
    return FulfillmentExport(fulfillment=fulfillment, rows=rows, marked_paid=marked)
