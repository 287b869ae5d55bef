"""Admin actions on obligations, payouts and fulfillments, as a superuser through the test client."""

import pytest
from django.urls import reverse

from obligations.models import Obligation
from obligations.services import fulfillment_generate, payout_mark_paid
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def act(client, model, action, ids):
    response = client.post(
        reverse(f"admin:obligations_{model}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in ids]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def test_approve_reject_cancel_obligations(admin_client, triggered):
    ada_id, alan_id = triggered.allocations.order_by("pk").values_list("obligation_id", flat=True)
    assert act(admin_client, "obligation", "approve", [ada_id, alan_id]) == ["2 obligation(s) now approved."]
    assert act(admin_client, "obligation", "reject", [ada_id]) == ["1 obligation(s) now rejected."]
    assert act(admin_client, "obligation", "cancel", [alan_id]) == ["1 obligation(s) now cancelled."]
    triggered.refresh_from_db()
    assert triggered.status == "complete"


def test_an_illegal_move_is_an_error_message_and_changes_nothing(admin_client, triggered):
    ids = list(triggered.allocations.values_list("obligation_id", flat=True))
    Obligation.objects.filter(pk=ids[0]).update(status="cancelled")
    messages = act(admin_client, "obligation", "approve", ids)
    assert messages == [
        "Nothing changed: Obligation cannot move from 'cancelled' to 'approved'; allowed from 'cancelled': "
        "none (final state)."
    ]
    assert Obligation.objects.get(pk=ids[1]).status == "pending"


def test_mark_paid_and_unpaid_payouts(admin_client, org, ada, make_obligation):
    obligation = make_obligation(ada, 1234)
    fulfillment = fulfillment_generate(organization=org)
    payout = fulfillment.payouts.get()
    assert act(admin_client, "payout", "mark_paid", [payout.pk]) == ["1 payout(s) now paid."]
    obligation.refresh_from_db()
    fulfillment.refresh_from_db()
    assert (obligation.status, fulfillment.status) == ("fulfilled", "complete")
    [error] = act(admin_client, "payout", "mark_paid", [payout.pk])
    assert error.startswith("Nothing changed: Payout cannot move from 'paid' to 'paid'")
    assert act(admin_client, "payout", "mark_unpaid", [payout.pk]) == ["1 payout(s) now unpaid."]
    obligation.refresh_from_db()
    fulfillment.refresh_from_db()
    assert (obligation.status, fulfillment.status) == ("approved", "processing")


def test_mark_fulfillments_failed(admin_client, org, ada, alan, make_obligation):
    make_obligation(ada)
    first = fulfillment_generate(organization=org)
    make_obligation(alan)
    second = fulfillment_generate(organization=org)
    payout_mark_paid(payouts=second.payouts.all())
    # One of the two cannot fail (complete): nothing changes, the reason is shown.
    [error] = act(admin_client, "fulfillment", "mark_failed", [first.pk, second.pk])
    assert error.startswith("Nothing changed: Fulfillment cannot move from 'complete' to 'failed'")
    first.refresh_from_db()
    assert first.status == "pending"
    assert act(admin_client, "fulfillment", "mark_failed", [first.pk]) == ["1 fulfillment(s) now failed."]
    assert Obligation.objects.get(collaborator=ada).payout is None


def test_changelists_and_change_pages_render(admin_client, org, ada, make_obligation):
    obligation = make_obligation(ada)
    fulfillment = fulfillment_generate(organization=org)
    for name, pk in [
        ("obligation", obligation.pk),
        ("fulfillment", fulfillment.pk),
        ("payout", fulfillment.payouts.get().pk),
    ]:
        assert admin_client.get(reverse(f"admin:obligations_{name}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:obligations_{name}_change", args=[pk])).status_code == 200


def test_a_manual_obligation_added_in_the_admin_belongs_to_its_collaborators_organization(admin_client, org, ada):
    OrganizationFactory(slug="other")
    response = admin_client.post(
        reverse("admin:obligations_obligation_add"),
        {"collaborator": ada.pk, "value": 2500, "units": "USD", "award_type": "manual", "description": "bonus"},
    )
    assert response.status_code == 302
    obligation = Obligation.objects.get()
    assert (obligation.organization, obligation.status, obligation.value) == (org, "pending", 2500)
    # Once approved (it may be in a payout), what is owed is no longer editable.
    obligation.status = "approved"
    obligation.save()
    page = admin_client.get(reverse("admin:obligations_obligation_change", args=[obligation.pk])).content.decode()
    assert 'name="value"' not in page
