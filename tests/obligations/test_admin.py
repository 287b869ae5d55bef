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
from tests.factories import ObligationFactory

pytestmark = pytest.mark.django_db


def act(client, model, action, ids):
    response = client.post(
        reverse(f"admin:obligations_{model}_changelist"),
        # The confirmation answered: the actions that refuse, cancel or take back ask why.
        {"action": action, "_selected_action": [str(pk) for pk in ids], "post": "yes", "reason": "test"},
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
        {"collaborator": ada.pk, "value": "25.00", "units": "USD", "award_type": "manual", "description": "bonus"},
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


# --- staff ergonomics: the distribution of an obligation, fulfillment totals, the payout CSV -----------------------


def _count_queries(client, url, **params):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return response, len(queries.captured_queries)


def test_obligations_show_their_distribution_and_filter_by_its_id(admin_client, org, ada, alan, make_triggered):
    first = make_triggered((ada, 1234), (alan, 500))
    second = make_triggered((ada, 700))
    manual = ObligationFactory(organization=org, collaborator=alan, value=15507)
    url = reverse("admin:obligations_obligation_changelist")

    page = admin_client.get(url).content.decode()
    for distribution in (first, second):
        link = reverse("admin:distributions_distribution_change", args=[distribution.pk])
        assert f'href="{link}"' in page and f"#{distribution.pk} {distribution.distributor.name}" in page
    assert "manual" in page and "155.07 USD" in page and "12.34 USD" in page

    response = admin_client.get(url, {"distribution": str(first.pk)})
    shown = {obligation.pk for obligation in response.context["cl"].result_list}
    assert shown == set(first.allocations.values_list("obligation_id", flat=True))
    assert manual.pk not in shown
    assert f"Distribution {first.pk} of {first.distributor.name}" in response.content.decode()

    # Another filter is kept by the box (hidden inputs) and combines with it.
    response = admin_client.get(url, {"distribution": str(first.pk), "status__exact": "pending"})
    assert len(response.context["cl"].result_list) == 2
    assert 'type="hidden" name="status__exact" value="pending"' in response.content.decode()


@pytest.mark.parametrize(
    "typed",
    ["abc", "-3", "0", "1.5", "9" * 30, "١٢"],
    ids=["text", "negative", "zero", "decimal", "too-large", "arabic-digits"],
)
def test_a_distribution_id_that_is_not_one_is_an_empty_list_with_the_reason(typed, admin_client, triggered):
    response = admin_client.get(reverse("admin:obligations_obligation_changelist"), {"distribution": typed})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert "is not a distribution id" in response.content.decode()


def test_the_distribution_filter_costs_the_same_for_1_and_15_rows(
    admin_client, org, make_collaborators, make_triggered
):
    collaborators = make_collaborators(15)
    one = make_triggered((collaborators[0], 100))
    many = make_triggered(*[(collaborator, 100 + n) for n, collaborator in enumerate(collaborators)])
    url = reverse("admin:obligations_obligation_changelist")
    _count_queries(admin_client, url, distribution=str(one.pk))  # warm the content types cache
    small, queries_one = _count_queries(admin_client, url, distribution=str(one.pk))
    big, queries_many = _count_queries(admin_client, url, distribution=str(many.pk))
    assert (len(small.context["cl"].result_list), len(big.context["cl"].result_list)) == (1, 15)
    assert queries_one == queries_many
    # Drawing the filter lists nothing: no query for the distributions of every tenant.
    _, unfiltered = _count_queries(admin_client, url)
    assert unfiltered == queries_one - 1  # the one query naming the chosen distribution


def _fulfillment_of(org, collaborators, *, units="USD"):
    from obligations.services import fulfillment_generate

    for n, collaborator in enumerate(collaborators):
        ObligationFactory(organization=org, collaborator=collaborator, value=10_000 + n, units=units, status="approved")
    ObligationFactory(organization=org, collaborator=collaborators[0], value=7, units="points", status="approved")
    return fulfillment_generate(organization=org)


def test_fulfillment_totals_per_units_on_the_list_and_the_change_page(admin_client, org, make_collaborators):
    fulfillment = _fulfillment_of(org, make_collaborators(3))  # 100.00 + 100.01 + 100.02 USD and 7 points
    for url in (
        reverse("admin:obligations_fulfillment_changelist"),
        reverse("admin:obligations_fulfillment_change", args=[fulfillment.pk]),
    ):
        page = admin_client.get(url).content.decode()
        assert "300.03 USD" in page and "7 points" in page, url
        assert "0.00 USD" in page  # nothing paid yet


def test_the_fulfillment_list_and_change_page_cost_the_same_for_1_and_15_payouts(admin_client, org, make_collaborators):
    collaborators = make_collaborators(15)
    one = _fulfillment_of(org, collaborators[:1])
    many = _fulfillment_of(org, collaborators)
    change = "admin:obligations_fulfillment_change"
    _count_queries(admin_client, reverse(change, args=[one.pk]))
    _, queries_one = _count_queries(admin_client, reverse(change, args=[one.pk]))
    _, queries_many = _count_queries(admin_client, reverse(change, args=[many.pk]))
    assert queries_one == queries_many

    changelist = reverse("admin:obligations_fulfillment_changelist")
    _, queries_two_rows = _count_queries(admin_client, changelist)
    for _ in range(13):
        _fulfillment_of(org, collaborators[:2])
    response, queries_fifteen_rows = _count_queries(admin_client, changelist)
    assert response.context["cl"].result_count == 15
    assert queries_two_rows == queries_fifteen_rows


def _snapshot(fulfillment):
    rows = [
        (payout.pk, payout.status, payout.paid_at, payout.modified_at) for payout in fulfillment.payouts.order_by("pk")
    ]
    obligations = list(Obligation.objects.order_by("pk").values_list("pk", "status", "payout_id", "modified_at"))
    fulfillment = Fulfillment.objects.get(pk=fulfillment.pk)
    return fulfillment.status, fulfillment.modified_at, rows, obligations


def test_the_payout_csv_download_is_the_export_and_changes_nothing(admin_client, org, ada, alan, make_obligation):
    import io

    from obligations.exports import payouts_write_csv
    from obligations.selectors import payout_export_rows

    make_obligation(ada, 13740)
    make_obligation(alan, 117088)
    make_obligation(alan, 5, "points")
    fulfillment = fulfillment_generate(organization=org)
    before = _snapshot(fulfillment)

    response = admin_client.get(reverse("admin:obligations_fulfillment_payouts_csv", args=[fulfillment.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="fulfillment-{fulfillment.pk}-payouts.csv"'
    expected = io.StringIO()
    payouts_write_csv(payout_export_rows(fulfillment=fulfillment), expected)
    body = response.content.decode()
    assert body == expected.getvalue()
    lines = body.splitlines()
    assert lines[0] == "payoutId,collaboratorId,collaboratorName,email,units,amount,status"
    assert sorted(line.split(",")[-2] for line in lines[1:]) == ["1170.88", "137.40", "5"]
    # A read: the fulfillment stays pending (export_payouts would move it to processing), nothing is paid.
    assert (
        _snapshot(fulfillment)
        == before
        == (
            "pending",
            before[1],
            [(pk, "unpaid", None, modified) for pk, _, _, modified in before[2]],
            before[3],
        )
    )
    change = admin_client.get(reverse("admin:obligations_fulfillment_change", args=[fulfillment.pk]))
    assert reverse("admin:obligations_fulfillment_payouts_csv", args=[fulfillment.pk]) in change.content.decode()


def test_the_payout_csv_download_refuses_what_it_should(admin_client, client, org, ada, make_obligation):
    make_obligation(ada)
    fulfillment = fulfillment_generate(organization=org)
    url = reverse("admin:obligations_fulfillment_payouts_csv", args=[fulfillment.pk])
    assert admin_client.post(url).status_code == 405
    assert Fulfillment.objects.get(pk=fulfillment.pk).status == "pending"
    assert admin_client.get(reverse("admin:obligations_fulfillment_payouts_csv", args=[999999])).status_code == 404
    assert admin_client.get("/admin/obligations/fulfillment/abc/payouts.csv").status_code == 404
    assert client.get(url).status_code == 302  # not logged in: to the login page


def test_the_payout_csv_download_costs_the_same_for_1_and_15_payouts(admin_client, org, make_collaborators):
    collaborators = make_collaborators(15)
    one = _fulfillment_of(org, collaborators[:1])
    many = _fulfillment_of(org, collaborators)
    csv_url = "admin:obligations_fulfillment_payouts_csv"
    _count_queries(admin_client, reverse(csv_url, args=[one.pk]))
    response_one, queries_one = _count_queries(admin_client, reverse(csv_url, args=[one.pk]))
    response_many, queries_many = _count_queries(admin_client, reverse(csv_url, args=[many.pk]))
    assert len(response_one.content.decode().splitlines()) == 1 + 2  # header, USD and points payouts
    assert len(response_many.content.decode().splitlines()) == 1 + 16
    assert queries_one == queries_many


def test_a_large_fulfillment_shows_its_first_100_payouts_without_row_titles_or_save_buttons(
    admin_client, org, make_collaborators, monkeypatch
):
    import obligations.admin as obligations_admin

    monkeypatch.setattr(obligations_admin, "PAYOUT_INLINE_LIMIT", 3)  # the same code path as 100 of 105, smaller
    fulfillment = _fulfillment_of(org, make_collaborators(5))  # 5 USD payouts and 1 in points: 6
    response = admin_client.get(reverse("admin:obligations_fulfillment_change", args=[fulfillment.pk]))
    formset = response.context["inline_admin_formsets"][0].formset
    assert (formset.shown_count, formset.total_count, len(formset.forms)) == (3, 6, 3)
    page = response.content.decode()
    assert "The first 3 of 6 payouts." in page
    assert f"?fulfillment__id__exact={fulfillment.pk}" in page
    first = fulfillment.payouts.order_by("pk").first()
    assert f'href="{reverse("admin:obligations_payout_change", args=[first.pk])}">#{first.pk}</a>' in page
    assert "Payout " + str(first.pk) + ":" not in page  # no stray row title
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    listed = admin_client.get(
        reverse("admin:obligations_payout_changelist"), {"fulfillment__id__exact": fulfillment.pk}
    )
    assert listed.status_code == 200 and listed.context["cl"].result_count == fulfillment.payouts.count()
