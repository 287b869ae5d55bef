"""Writes on distributions: opening periods, following obligations, cancelling; and the use cases that span
the apps below, orchestrated here because only this app may move a distribution.

- A distributor's saves and status moves (``distributor_save_with_periods``,
  ``distributor_set_status_with_periods``): an active distributor has its open period, a deleted one's is
  cancelled.
- Obligations, payouts and fulfillments settling (``obligations_transition_and_follow``,
  ``payouts_mark_paid_and_follow``, ``payouts_mark_unpaid_and_follow``, ``fulfillment_export_and_follow``):
  the obligations app moves its rows, then each distribution concerned follows, in the same transaction and
  after the obligations' locks (the one lock order: fulfillments → payouts → obligations → distributions).

The admin, the commands and the demo call these; the trigger itself lives in ``distributions.engine`` (pure
arithmetic) and ``distributions.trigger``.
"""

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from distributions.events import DISTRIBUTION_CANCELLED, DISTRIBUTION_COMPLETED, record_distribution
from distributions.models import Allocation, Distribution, DistributionStatus
from distributions.selectors import distribution_missing_period, distribution_next_trigger
from distributors.models import Distributor, DistributorStatus
from distributors.services import distributor_mark_open, distributor_save, distributor_set_status
from lifecycle.services import status_changes_record
from obligations.models import OPEN_OBLIGATION_STATUSES, Obligation, Payout
from obligations.services import (
    FulfillmentExport,
    fulfillment_export,
    obligations_transition,
    payout_mark_paid,
    payout_mark_unpaid,
)
from organizations.models import Organization


def distribution_open_first(*, distributor: Distributor) -> Distribution | None:
    """Open the distributor's first period if it has never had one; return the pending distribution."""
    with transaction.atomic():
        pending = Distribution.objects.filter(distributor=distributor, status=DistributionStatus.PENDING).first()
        if pending or Distribution.objects.filter(distributor=distributor).exists():
            return pending
        opened = Distribution.objects.create(
            organization_id=distributor.organization_id,
            distributor=distributor,
            period_start=distributor.starts_at,
            trigger_date=distribution_next_trigger(distributor=distributor, after=distributor.starts_at),
        )
        distributor_mark_open(distributor_id=distributor.pk, open_until=opened.trigger_date)
        return opened


def distribution_open_missing(*, distributor: Distributor) -> Distribution | None:
    """Open the pending period of an active distributor that has none; return it, or None if one exists.

    The first period goes through ``distribution_open_first``; see ``distribution_missing_period`` for the
    repair case. Two heartbeats racing here both try to insert; the partial unique index lets one win and
    the loser returns None.
    """
    try:
        with transaction.atomic():
            if Distribution.objects.filter(distributor=distributor, status=DistributionStatus.PENDING).exists():
                return None
            opened = distribution_open_first(distributor=distributor)
            if opened is None:
                period_start, trigger_date, rolled_over = distribution_missing_period(distributor=distributor)
                opened = Distribution.objects.create(
                    organization_id=distributor.organization_id,
                    distributor=distributor,
                    period_start=period_start,
                    trigger_date=trigger_date,
                    rolled_over=rolled_over,
                )
                distributor_mark_open(distributor_id=distributor.pk, open_until=trigger_date)
            return opened
    except IntegrityError:
        return None


def distribution_cancel_pending(*, distributor: Distributor, actor: str = "", reason: str = "") -> int:
    """Cancel the open period of a distributor being deleted (``actor`` and ``reason`` go into its status
    history)."""
    changes = []
    for distribution in Distribution.objects.select_for_update().filter(
        distributor=distributor, status=DistributionStatus.PENDING
    ):
        changes.append((distribution.pk, distribution.status, DistributionStatus.CANCELLED))
        distribution.transition_to(DistributionStatus.CANCELLED)
        distribution.save(update_fields=["status", "modified_at"])
        record_distribution(DISTRIBUTION_CANCELLED, distribution)
    status_changes_record(
        model=Distribution, organization_id=distributor.organization_id, changes=changes, actor=actor, reason=reason
    )
    distributor_mark_open(distributor_id=distributor.pk, open_until=None)
    return len(changes)


def distributions_follow_obligations(*, distribution_ids: Iterable[int], actor: str = "", reason: str = "") -> None:
    """Set each triggered distribution to ``processing`` while an obligation is open, else ``complete``; the
    moves go into the status history with the ``actor`` and ``reason`` of the obligations' move (one insert).

    The distributions are locked (in id order) *before* their open obligations are counted, in a statement of
    its own: under READ COMMITTED a statement sees what was committed when it started, so a caller that waited
    for the lock of a concurrent call (closing another obligation of the same distribution) must look again
    after getting it, or it would still see that obligation open and leave the distribution ``processing``.
    """
    ids = set(distribution_ids)
    if not ids:
        return
    locked = list(
        Distribution.objects.select_for_update()
        .filter(pk__in=ids)
        .exclude(status__in=[DistributionStatus.PENDING, DistributionStatus.CANCELLED])
        .order_by("pk")
    )
    if not locked:
        return
    with_open = set(
        Allocation.objects.filter(
            distribution_id__in=[distribution.pk for distribution in locked],
            obligation__status__in=OPEN_OBLIGATION_STATUSES,
        )
        .order_by()
        .values_list("distribution_id", flat=True)
        .distinct()
    )
    changes = []
    for distribution in locked:
        target = DistributionStatus.PROCESSING if distribution.pk in with_open else DistributionStatus.COMPLETE
        if distribution.status != target:
            changes.append((distribution.pk, distribution.status, target, distribution.organization_id))
            distribution.transition_to(target)
            distribution.save(update_fields=["status", "modified_at"])
            if target == DistributionStatus.COMPLETE:
                record_distribution(DISTRIBUTION_COMPLETED, distribution)
    status_changes_record(model=Distribution, organization_id=None, changes=changes, actor=actor, reason=reason)


# --------------------------------------------------------------------------- use cases spanning the apps


def distributor_save_with_periods(*, distributor: Distributor) -> Distributor:
    """Validate and save a distributor, and make sure an active one has its open period."""
    with transaction.atomic():
        distributor_save(distributor=distributor)
        if distributor.status == DistributorStatus.ACTIVE:
            distribution_open_first(distributor=distributor)
    return distributor


def distributor_set_status_with_periods(
    *, distributor: Distributor, status: str, reason: str = "", actor: str = ""
) -> Distributor:
    """Move a distributor through its lifecycle; its periods follow.

    Inactive keeps the pending period (it triggers, catching up, once reactivated); deleted cancels it.
    ``actor`` (who) and ``reason`` (why) go into the status history of the distributor and of a cancelled period.
    """
    with transaction.atomic():
        locked = distributor_set_status(distributor=distributor, status=status, actor=actor, reason=reason)
        if status == DistributorStatus.DELETED:
            distribution_cancel_pending(distributor=locked, actor=actor, reason=reason)
        elif status == DistributorStatus.ACTIVE:
            distribution_open_first(distributor=locked)
    return locked


def _follow_obligations(obligation_ids: Iterable[int], *, actor: str = "", reason: str = "") -> None:
    ids = list(obligation_ids)
    if not ids:
        return
    distribution_ids = set(
        Allocation.objects.filter(obligation_id__in=ids).order_by().values_list("distribution_id", flat=True)
    )
    distributions_follow_obligations(distribution_ids=distribution_ids, actor=actor, reason=reason)


def _obligations_of_payouts(payouts: Iterable[Payout]) -> list[int]:
    return list(Obligation.objects.filter(payout__in=[p.pk for p in payouts]).values_list("pk", flat=True))


def obligations_transition_and_follow(
    *, obligation_ids: Iterable[int], status: str, reason: str = "", actor: str = ""
) -> list[Obligation]:
    """``obligations.services.obligations_transition``, then the distributions concerned follow (their moves
    recorded with the same ``actor`` and ``reason``)."""
    with transaction.atomic():
        moved = obligations_transition(obligation_ids=obligation_ids, status=status, reason=reason, actor=actor)
        _follow_obligations((obligation.pk for obligation in moved), actor=actor, reason=reason)
    return moved


def payouts_mark_paid_and_follow(*, payouts: Iterable[Payout | int], reason: str = "", actor: str = "") -> list[Payout]:
    """``obligations.services.payout_mark_paid``, then the distributions concerned follow (complete once no
    obligation is open)."""
    with transaction.atomic():
        paid = payout_mark_paid(payouts=payouts, reason=reason, actor=actor)
        _follow_obligations(_obligations_of_payouts(paid), actor=actor, reason=reason)
    return paid


def payouts_mark_unpaid_and_follow(
    *, payouts: Iterable[Payout | int], reason: str = "", actor: str = ""
) -> list[Payout]:
    """``obligations.services.payout_mark_unpaid``, then the distributions concerned reopen."""
    with transaction.atomic():
        unpaid = payout_mark_unpaid(payouts=payouts, reason=reason, actor=actor)
        _follow_obligations(_obligations_of_payouts(unpaid), actor=actor, reason=reason)
    return unpaid


def fulfillment_export_and_follow(
    *,
    fulfillment_id: int,
    organization: Organization | None = None,
    mark_paid: bool = False,
    actor: str = "",
    reason: str = "",
) -> FulfillmentExport:
    """``obligations.services.fulfillment_export``; with ``mark_paid`` the distributions concerned follow."""
    with transaction.atomic():
        export = fulfillment_export(
            fulfillment_id=fulfillment_id, organization=organization, mark_paid=mark_paid, actor=actor, reason=reason
        )
        if mark_paid and export.marked_paid:
            _follow_obligations(
                _obligations_of_payouts(export.fulfillment.payouts.all()), actor=actor, reason=reason or "exported"
            )
    return export
