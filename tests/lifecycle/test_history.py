"""The write side of the status history (``lifecycle.StatusChange``): every status move of a distribution,
obligation, fulfillment, payout and distributor, and every API key revocation, writes its row (from, to, when,
actor, reason) in the transaction of the move, whichever path made it: the services, the engine, the admin,
the commands. A move rolled back leaves no row; creating a row is no move."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from distributions.models import Distribution, EngineRun
from distributions.services import (
    distributor_set_status_with_periods,
    fulfillment_export_and_follow,
    obligations_transition_and_follow,
    payouts_mark_paid_and_follow,
    payouts_mark_unpaid_and_follow,
)
from lifecycle.models import StatusChange
from obligations.models import Obligation
from obligations.services import fulfillment_generate, obligations_release_held
from organizations.models import ApiKey, Role
from organizations.services import api_keys_revoke
from tests.distributions.helpers import FEB_1, at, credit, run_engine
from tests.factories import ApiKeyFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def history(label: str, pk: int) -> list[tuple[str, str, str, str]]:
    """``(from, to, actor, reason)`` of one object's moves, oldest first."""
    return list(
        StatusChange.objects.filter(model=label, object_id=pk)
        .order_by("id")
        .values_list("from_status", "to_status", "actor", "reason")
    )


def obligation_ids(distribution) -> list[int]:
    return list(distribution.allocations.order_by("rank").values_list("obligation_id", flat=True))


# --- obligations and the distributions that follow them --------------------------------------------------------


def test_a_staff_move_records_each_obligation_and_the_distribution_that_follows(triggered):
    ada_id, alan_id = obligation_ids(triggered)
    obligations_transition_and_follow(obligation_ids=[ada_id], status="approved", actor="staff:ann")
    obligations_transition_and_follow(
        obligation_ids=[ada_id, alan_id], status="rejected", actor="staff:bob", reason="Duplicate booking"
    )

    assert history("obligations.obligation", ada_id) == [
        ("pending", "approved", "staff:ann", ""),
        ("approved", "rejected", "staff:bob", "Duplicate booking"),
    ]
    assert history("obligations.obligation", alan_id) == [("pending", "rejected", "staff:bob", "Duplicate booking")]
    # Nothing is open any more: the distribution completes, recorded with the move that completed it.
    assert history("distributions.distribution", triggered.pk) == [
        ("processing", "complete", "staff:bob", "Duplicate booking")
    ]
    change = StatusChange.objects.get(model="distributions.distribution", object_id=triggered.pk)
    assert change.organization_id == triggered.organization_id
    assert abs(change.at - timezone.now()) < timedelta(minutes=1)


def test_a_batch_rolled_back_because_its_second_obligation_refuses_leaves_no_history(triggered):
    ada_id, alan_id = obligation_ids(triggered)
    Obligation.objects.filter(pk=alan_id).update(status="cancelled")  # a final state: approving it is refused

    with pytest.raises(ValidationError):
        obligations_transition_and_follow(obligation_ids=[ada_id, alan_id], status="approved", actor="staff:ann")

    assert Obligation.objects.get(pk=ada_id).status == "pending"
    assert not StatusChange.objects.exists()


def test_paying_and_taking_back_records_payouts_obligations_fulfillment_and_distribution(org, triggered):
    ada_id, alan_id = obligation_ids(triggered)
    obligations_transition_and_follow(obligation_ids=[ada_id, alan_id], status="approved", actor="staff:ann")
    fulfillment = fulfillment_generate(organization=org)  # created, not moved: no row
    assert not StatusChange.objects.filter(model__in=["obligations.fulfillment", "obligations.payout"]).exists()
    payouts = list(fulfillment.payouts.order_by("pk"))

    payouts_mark_paid_and_follow(payouts=payouts, actor="staff:ann")
    payouts_mark_unpaid_and_follow(payouts=payouts[:1], actor="staff:bob", reason="Bank returned it")

    for payout in payouts:
        assert history("obligations.payout", payout.pk)[0] == ("unpaid", "paid", "staff:ann", "")
    assert history("obligations.payout", payouts[0].pk)[1:] == [("paid", "unpaid", "staff:bob", "Bank returned it")]
    assert history("obligations.obligation", alan_id) == [
        ("pending", "approved", "staff:ann", ""),
        ("approved", "fulfilled", "staff:ann", ""),
    ]
    assert history("obligations.fulfillment", fulfillment.pk) == [
        ("pending", "processing", "staff:ann", ""),
        ("processing", "complete", "staff:ann", ""),
        ("complete", "processing", "staff:bob", "Bank returned it"),
    ]
    assert history("distributions.distribution", triggered.pk) == [
        ("processing", "complete", "staff:ann", ""),
        ("complete", "processing", "staff:bob", "Bank returned it"),
    ]


def test_an_export_marking_paid_records_its_moves_with_the_commands_actor(org, triggered, tmp_path):
    ids = obligation_ids(triggered)
    obligations_transition_and_follow(obligation_ids=ids, status="approved", actor="staff:ann")
    fulfillment = fulfillment_generate(organization=org)

    call_command(
        "export_payouts",
        "--fulfillment",
        str(fulfillment.pk),
        "--mark-paid",
        "--output",
        str(tmp_path / "payouts.csv"),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )

    actor = "command:export_payouts"
    assert history("obligations.fulfillment", fulfillment.pk) == [
        ("pending", "processing", actor, "exported"),
        ("processing", "complete", actor, "exported"),
    ]
    assert history("obligations.obligation", ids[0])[-1] == ("approved", "fulfilled", actor, "exported")
    assert history("distributions.distribution", triggered.pk) == [("processing", "complete", actor, "exported")]


def test_an_export_that_fails_leaves_no_history(org, triggered):
    obligations_transition_and_follow(obligation_ids=obligation_ids(triggered), status="approved")
    fulfillment = fulfillment_generate(organization=org)
    before = StatusChange.objects.count()

    class WriteFailed(Exception):
        pass

    with pytest.raises(WriteFailed), transaction.atomic():
        fulfillment_export_and_follow(fulfillment_id=fulfillment.pk, mark_paid=True, actor="command:export_payouts")
        raise WriteFailed  # the CSV could not be written: the command's transaction rolls the moves back

    assert StatusChange.objects.count() == before


# --- the engine ---------------------------------------------------------------------------------------------


def test_a_trigger_records_pending_to_processing_by_its_engine_run(make_distributor, ada):
    distributor = make_distributor()
    credit(ada, distributor, 5, at("2026-01-10T00:00:00Z"))

    summary = run_engine("--now", "2026-02-01T00:00:00Z")

    run = EngineRun.objects.get(pk=summary["engine_run_id"])
    january = Distribution.objects.get(distributor=distributor, trigger_date=FEB_1)
    assert january.status == "processing"
    assert history("distributions.distribution", january.pk) == [("pending", "processing", f"engine:run {run.pk}", "")]
    change = StatusChange.objects.get(model="distributions.distribution", object_id=january.pk)
    assert change.at == january.triggered_at
    # The obligations and the next period were created, not moved.
    assert not StatusChange.objects.filter(model="obligations.obligation").exists()
    assert StatusChange.objects.count() == 1


def test_a_trigger_that_pays_nothing_records_pending_to_complete(make_distributor):
    distributor = make_distributor()
    run_engine("--now", "2026-02-01T00:00:00Z")
    run = EngineRun.objects.get()
    january = Distribution.objects.get(distributor=distributor, trigger_date=FEB_1)
    assert history("distributions.distribution", january.pk) == [("pending", "complete", f"engine:run {run.pk}", "")]


def test_the_heartbeats_hold_release_records_one_row_per_obligation_by_its_run(org, ada, alan, make_obligation):
    past = at("2026-01-15T00:00:00Z")
    held = [
        make_obligation(person, status="pending", release_at=past, award_type="distribution")
        for person in (ada, alan, ada)
    ]
    waiting = make_obligation(alan, status="pending", release_at=at("2026-03-01T00:00:00Z"), award_type="distribution")

    summary = run_engine("--now", "2026-02-01T00:00:00Z")

    actor = f"engine:run {summary['engine_run_id']}"
    for obligation in held:
        assert history("obligations.obligation", obligation.pk) == [("pending", "approved", actor, "hold ended")]
    assert history("obligations.obligation", waiting.pk) == []


def test_the_bulk_hold_release_records_one_row_per_released_obligation(org, ada, make_obligation):
    past = at("2026-01-15T00:00:00Z")
    held = [make_obligation(ada, status="pending", release_at=past, award_type="distribution") for _ in range(5)]

    assert obligations_release_held(as_of=FEB_1, batch_size=2) == 5  # three batches, each its own transaction

    rows = StatusChange.objects.filter(model="obligations.obligation").order_by("object_id")
    assert [row.object_id for row in rows] == [obligation.pk for obligation in held]
    assert {(row.from_status, row.to_status, row.actor, row.reason) for row in rows} == {
        ("pending", "approved", "engine", "hold ended")
    }
    assert {row.organization_id for row in rows} == {org.pk}


# --- distributors and API keys -------------------------------------------------------------------------------


def test_a_distributors_moves_and_its_cancelled_period_are_recorded(make_distributor):
    distributor = make_distributor()
    pending = Distribution.objects.get(distributor=distributor, status="pending")

    distributor_set_status_with_periods(distributor=distributor, status="inactive", actor="staff:ann")
    distributor_set_status_with_periods(distributor=distributor, status="active", actor="staff:ann")
    distributor_set_status_with_periods(
        distributor=distributor, status="deleted", actor="staff:bob", reason="Programme ended"
    )

    assert history("distributors.distributor", distributor.pk) == [
        ("active", "inactive", "staff:ann", ""),
        ("inactive", "active", "staff:ann", ""),
        ("active", "deleted", "staff:bob", "Programme ended"),
    ]
    assert history("distributions.distribution", pending.pk) == [
        ("pending", "cancelled", "staff:bob", "Programme ended")
    ]


def test_an_illegal_distributor_move_records_nothing(make_distributor):
    distributor = make_distributor()
    distributor_set_status_with_periods(distributor=distributor, status="deleted", actor="staff:ann")
    before = StatusChange.objects.count()
    with pytest.raises(ValidationError):
        distributor_set_status_with_periods(distributor=distributor, status="active", actor="staff:ann")
    assert StatusChange.objects.count() == before


def test_revoking_api_keys_records_active_to_revoked_once(org, other_org):
    mine, theirs = ApiKeyFactory(organization=org), ApiKeyFactory(organization=other_org)

    api_keys_revoke(api_key_ids=[mine.pk, theirs.pk], actor="command:test", reason="Leaked in a log")
    api_keys_revoke(api_key_ids=[mine.pk], actor="command:test", reason="again")  # already revoked: no move

    assert history("organizations.apikey", mine.pk) == [("active", "revoked", "command:test", "Leaked in a log")]
    assert history("organizations.apikey", theirs.pk) == [("active", "revoked", "command:test", "Leaked in a log")]
    rows = StatusChange.objects.filter(model="organizations.apikey")
    assert {row.object_id: row.organization_id for row in rows} == {mine.pk: org.pk, theirs.pk: other_org.pk}
    assert rows.get(object_id=mine.pk).at == ApiKey.objects.get(pk=mine.pk).revoked_at


# --- the admin ------------------------------------------------------------------------------------------------


def post_action(client, changelist: str, action: str, ids, reason: str = ""):
    response = client.post(
        reverse(f"admin:{changelist}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in ids], "post": "yes", "reason": reason},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def operator(org, client):
    """A staff member of ``org`` with the admin role (moves money and configures), logged in."""
    membership = MembershipFactory(organization=org, role=Role.ADMIN, user__username="grace")
    client.force_login(membership.user)
    return client


def test_an_admin_reject_records_the_staff_member_and_the_typed_reason(operator, triggered):
    ada_id, alan_id = obligation_ids(triggered)

    messages = post_action(operator, "obligations_obligation", "reject", [ada_id, alan_id], "Booked twice by CRM")

    assert messages == ["2 obligation(s) now rejected."]
    for pk in (ada_id, alan_id):
        assert history("obligations.obligation", pk) == [("pending", "rejected", "staff:grace", "Booked twice by CRM")]
    assert history("distributions.distribution", triggered.pk) == [
        ("processing", "complete", "staff:grace", "Booked twice by CRM")
    ]


def test_admin_payout_fulfillment_distributor_and_key_actions_record_the_staff_member(
    admin_client, org, triggered, make_distributor
):
    ids = obligation_ids(triggered)
    post_action(admin_client, "obligations_obligation", "approve", ids)
    assert history("obligations.obligation", ids[0]) == [("pending", "approved", "staff:admin", "")]
    fulfillment = fulfillment_generate(organization=org)
    payout = fulfillment.payouts.order_by("pk").first()

    assert post_action(admin_client, "obligations_payout", "mark_paid", [payout.pk]) == ["1 payout(s) now paid."]
    post_action(admin_client, "obligations_payout", "mark_unpaid", [payout.pk], "Paid the wrong account")
    assert history("obligations.payout", payout.pk) == [
        ("unpaid", "paid", "staff:admin", ""),
        ("paid", "unpaid", "staff:admin", "Paid the wrong account"),
    ]
    post_action(admin_client, "obligations_fulfillment", "mark_failed", [fulfillment.pk], "Bank file rejected")
    assert history("obligations.fulfillment", fulfillment.pk)[-1] == (
        "processing",
        "failed",
        "staff:admin",
        "Bank file rejected",
    )

    distributor = make_distributor()
    pending = Distribution.objects.get(distributor=distributor, status="pending")
    post_action(admin_client, "distributors_distributor", "make_inactive", [distributor.pk])
    post_action(admin_client, "distributors_distributor", "soft_delete", [distributor.pk], "Programme ended")
    assert history("distributors.distributor", distributor.pk) == [
        ("active", "inactive", "staff:admin", ""),
        ("inactive", "deleted", "staff:admin", "Programme ended"),
    ]
    assert history("distributions.distribution", pending.pk) == [
        ("pending", "cancelled", "staff:admin", "Programme ended")
    ]

    key = ApiKeyFactory(organization=org)
    assert post_action(admin_client, "organizations_apikey", "revoke_keys", [key.pk], "Leaked") == ["Revoked 1 key(s)."]
    assert history("organizations.apikey", key.pk) == [("active", "revoked", "staff:admin", "Leaked")]


def test_an_admin_action_refused_records_nothing(admin_client, triggered):
    ada_id, alan_id = obligation_ids(triggered)
    Obligation.objects.filter(pk=alan_id).update(status="cancelled")

    [message] = post_action(admin_client, "obligations_obligation", "approve", [ada_id, alan_id])

    assert message.startswith("Nothing changed:")
    assert not StatusChange.objects.exists()
