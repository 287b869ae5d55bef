"""Admin actions on obligations, payouts and fulfillments, as a superuser through the test client; no hard
deletes; stale change forms; units."""

import pytest
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.urls import reverse

from distributions.services import (
    fulfillment_export_and_follow,
    obligations_transition_and_follow,
    payouts_mark_paid_and_follow,
)
from obligations.models import Fulfillment, Obligation, Payout
from obligations.services import fulfillment_generate

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
    payouts_mark_paid_and_follow(payouts=second.payouts.all())
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


def test_a_manual_obligation_added_in_the_admin_belongs_to_its_collaborators_organization(
    admin_client, org, other_org, ada
):
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


# --- hard deletes ---------------------------------------------------------------------------------------
# Hard deletes in the admin must not undo fulfillment bookkeeping. Deleting an exported (processing)
# fulfillment, or one of its payouts, used to return its obligations to "approved, in no payout": the next
# ``generate_fulfillment`` batched them again although the exported CSV had already been handed over for
# payment, so the collaborator was paid twice. Deleting a paid payout's fulfillment hit the
# ``obligation_fulfilled_has_payout`` constraint (a 500), and deleting an obligation that sits in a payout
# left the payout's amount larger than the sum of its obligations.


def _delete(client, model, pk):
    return client.post(reverse(f"admin:obligations_{model}_delete", args=[pk]), {"post": "yes"})


def _delete_selected(client, model, ids):
    return client.post(
        reverse(f"admin:obligations_{model}_changelist"),
        {"action": "delete_selected", "_selected_action": [str(pk) for pk in ids], "post": "yes"},
    )


@pytest.mark.parametrize("model", [Fulfillment, Payout, Obligation], ids=lambda m: m.__name__)
def test_fulfillment_rows_cannot_be_hard_deleted(model, admin_client, rf, admin_user, org, ada, make_obligation):
    obligation = make_obligation(ada, 1234)
    fulfillment = fulfillment_export_and_follow(fulfillment_id=fulfillment_generate(organization=org).pk).fulfillment
    assert fulfillment.status == "processing"  # the CSV is out: someone is paying it
    obligation.refresh_from_db()
    obj = {Fulfillment: fulfillment, Payout: obligation.payout, Obligation: obligation}[model]
    request = rf.get("/")
    request.user = admin_user
    assert not admin.site._registry[model].has_delete_permission(request, obj)

    name = model._meta.model_name
    assert _delete(admin_client, name, obj.pk).status_code == 403
    _delete_selected(admin_client, name, [obj.pk])

    assert model.objects.filter(pk=obj.pk).exists()
    obligation.refresh_from_db()
    assert obligation.payout_id is not None
    # Nothing is batched a second time.
    assert fulfillment_generate(organization=org) is None


def test_a_paid_fulfillment_delete_is_not_a_500(admin_client, org, ada, make_obligation):
    make_obligation(ada, 1234)
    fulfillment = fulfillment_generate(organization=org)
    payouts_mark_paid_and_follow(payouts=fulfillment.payouts.all())
    response = _delete(admin_client, "fulfillment", fulfillment.pk)
    assert response.status_code == 403
    assert Fulfillment.objects.filter(pk=fulfillment.pk).exists()


# --- stale saves ----------------------------------------------------------------------------------------
# The change form of a pending manual obligation saved the whole row (``obj.save()``) from the instance
# loaded at the start of the request. If the obligation was approved and batched into a payout meanwhile,
# the save wrote back ``status=pending, payout=NULL``: the payout kept an amount including it while the
# obligation looked unpaid and could be batched (and paid) again, or its value changed under the payout.


def test_a_stale_change_form_does_not_undo_approval_and_batching(rf, admin_user, org, ada, make_obligation):
    obligation = make_obligation(ada, 1000, status="pending", award_type="manual")
    stale = Obligation.objects.get(pk=obligation.pk)  # what the change form loaded

    obligations_transition_and_follow(obligation_ids=[obligation.pk], status="approved")
    fulfillment = fulfillment_generate(organization=org)
    payout = fulfillment.payouts.get()

    stale.value = 5000
    request = rf.post("/")
    request.user = admin_user
    request.session = {}
    request._messages = FallbackStorage(request)
    admin.site._registry[Obligation].save_model(request, stale, form=None, change=True)

    obligation.refresh_from_db()
    payout.refresh_from_db()
    assert (obligation.status, obligation.payout_id, obligation.value) == ("approved", payout.pk, 1000)
    assert payout.amount == sum(payout.obligations.values_list("value", flat=True))


# --- units ----------------------------------------------------------------------------------------------


def test_admin_manual_obligation_units_are_normalized(admin_client, ada):
    """Typed ``usd`` is stored ``USD``, as the revenue import spells it (``usd`` and ``USD`` obligations of one
    collaborator used to become two payouts)."""
    response = admin_client.post(
        reverse("admin:obligations_obligation_add"),
        {"collaborator": ada.pk, "value": "1000", "units": "usd", "award_type": "manual", "description": ""},
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert Obligation.objects.get().units == "USD"
