"""Hard deletes in the admin must not undo fulfillment bookkeeping.

Deleting an exported (processing) fulfillment, or one of its payouts, used to return its obligations to
"approved, in no payout": the next ``generate_fulfillment`` batched them again although the exported CSV had
already been handed over for payment, so the collaborator was paid twice. Deleting a paid payout's
fulfillment hit the ``obligation_fulfilled_has_payout`` constraint (a 500), and deleting an obligation that
sits in a payout left the payout's amount larger than the sum of its obligations.
"""

import pytest
from django.contrib import admin
from django.urls import reverse

from obligations.models import Fulfillment, Obligation, Payout
from obligations.services import fulfillment_export, fulfillment_generate, payout_mark_paid

pytestmark = pytest.mark.django_db


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
    fulfillment = fulfillment_export(fulfillment_id=fulfillment_generate(organization=org).pk).fulfillment
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
    payout_mark_paid(payouts=fulfillment.payouts.all())
    response = _delete(admin_client, "fulfillment", fulfillment.pk)
    assert response.status_code == 403
    assert Fulfillment.objects.filter(pk=fulfillment.pk).exists()
