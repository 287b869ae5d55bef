"""Saving a manual obligation in the admin never overwrites a status or payout set meanwhile.

The change form of a pending manual obligation saved the whole row (``obj.save()``) from the instance loaded
at the start of the request. If the obligation was approved and batched into a payout meanwhile, the save
wrote back ``status=pending, payout=NULL``: the payout kept an amount including it while the obligation
looked unpaid and could be batched (and paid) again, or its value changed under the payout.
"""

import pytest
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage

from obligations.models import Obligation
from obligations.services import fulfillment_generate, obligations_transition

pytestmark = pytest.mark.django_db


def test_a_stale_change_form_does_not_undo_approval_and_batching(rf, admin_user, org, ada, make_obligation):
    obligation = make_obligation(ada, 1000, status="pending", award_type="manual")
    stale = Obligation.objects.get(pk=obligation.pk)  # what the change form loaded

    obligations_transition(obligation_ids=[obligation.pk], status="approved")
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
