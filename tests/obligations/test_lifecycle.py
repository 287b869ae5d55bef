"""Obligation moves through obligations_transition; allocations mirror; distributions follow."""

import pytest
from django.core.exceptions import ValidationError

from distributions.models import Allocation
from distributions.services import obligations_transition_and_follow, payouts_mark_paid_and_follow
from lifecycle import IllegalTransition
from obligations.models import Obligation
from obligations.services import fulfillment_generate

pytestmark = pytest.mark.django_db


def obligation_ids(distribution):
    return list(distribution.allocations.order_by("pk").values_list("obligation_id", flat=True))


def statuses(distribution):
    distribution.refresh_from_db()
    allocations = distribution.allocations.order_by("pk")
    # The allocation's status is its obligation's, read as the API reads it (through the allocation).
    shown = dict(allocations.values_list("pk", "obligation__status"))
    return distribution.status, [(a.obligation.status, shown[a.pk]) for a in allocations.select_related("obligation")]


def test_approve_then_reject_and_cancel_mirror_on_allocations(triggered):
    ada_id, alan_id = obligation_ids(triggered)
    obligations_transition_and_follow(obligation_ids=[ada_id, alan_id], status="approved")
    assert statuses(triggered) == ("processing", [("approved", "approved"), ("approved", "approved")])
    obligations_transition_and_follow(obligation_ids=[ada_id], status="rejected")
    assert statuses(triggered) == ("processing", [("rejected", "rejected"), ("approved", "approved")])
    obligations_transition_and_follow(obligation_ids=[alan_id], status="cancelled")
    # Nothing pending or approved any more: the distribution is complete.
    assert statuses(triggered) == ("complete", [("rejected", "rejected"), ("cancelled", "cancelled")])


def test_distribution_completes_when_every_obligation_is_fulfilled_rejected_or_cancelled(org, triggered):
    ada_id, alan_id = obligation_ids(triggered)
    obligations_transition_and_follow(obligation_ids=[ada_id, alan_id], status="approved")
    fulfillment = fulfillment_generate(organization=org)
    ada_payout = Obligation.objects.get(pk=ada_id).payout
    payouts_mark_paid_and_follow(payouts=[ada_payout])
    assert statuses(triggered) == ("processing", [("fulfilled", "fulfilled"), ("approved", "approved")])
    payouts_mark_paid_and_follow(payouts=fulfillment.payouts.filter(status="unpaid"))
    assert statuses(triggered) == ("complete", [("fulfilled", "fulfilled"), ("fulfilled", "fulfilled")])


@pytest.mark.parametrize(
    ("start", "target"),
    [("approved", "approved"), ("pending", "pending"), ("cancelled", "approved"), ("rejected", "approved")],
)
def test_illegal_moves_are_refused(triggered, start, target):
    ids = obligation_ids(triggered)
    Obligation.objects.filter(pk__in=ids).update(status=start)
    with pytest.raises(IllegalTransition, match=f"cannot move from '{start}' to '{target}'"):
        obligations_transition_and_follow(obligation_ids=ids, status=target)


def test_a_refusal_moves_nothing(triggered):
    ada_id, alan_id = obligation_ids(triggered)
    Obligation.objects.filter(pk=alan_id).update(status="cancelled")
    with pytest.raises(IllegalTransition):
        obligations_transition_and_follow(obligation_ids=[ada_id, alan_id], status="approved")
    assert Obligation.objects.get(pk=ada_id).status == "pending"
    assert Allocation.objects.get(obligation_id=ada_id).obligation.status == "pending"


def test_fulfilled_is_reached_and_left_only_through_payouts(org, triggered):
    ada_id, _ = obligation_ids(triggered)
    obligations_transition_and_follow(obligation_ids=[ada_id], status="approved")
    with pytest.raises(ValidationError, match="when its payout is marked paid"):
        obligations_transition_and_follow(obligation_ids=[ada_id], status="fulfilled")
    fulfillment_generate(organization=org)
    # In a live payout, it cannot be rejected or cancelled: the payout amount includes it.
    for target in ("rejected", "cancelled"):
        with pytest.raises(ValidationError, match="fulfillment failed first"):
            obligations_transition_and_follow(obligation_ids=[ada_id], status=target)
    payouts_mark_paid_and_follow(payouts=[Obligation.objects.get(pk=ada_id).payout])
    with pytest.raises(ValidationError, match="mark that payout unpaid first"):
        obligations_transition_and_follow(obligation_ids=[ada_id], status="approved")
    assert Obligation.objects.get(pk=ada_id).status == "fulfilled"
