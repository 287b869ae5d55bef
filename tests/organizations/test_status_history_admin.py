"""The read-only "Status history" timeline on the change pages of distributions, obligations, fulfillments,
payouts, distributors and API keys (``organizations.admin.StatusHistoryMixin``): times in the organization's
zone, from → to, actor and reason, newest last, at most 50 with a note for the rest, never editable."""

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifecycle.models import StatusChange
from lifecycle.services import status_changes_record
from obligations.services import obligations_transition
from tests.factories import (
    ApiKeyFactory,
    DistributionFactory,
    DistributorFactory,
    FulfillmentFactory,
    ObligationFactory,
    OrganizationFactory,
    PayoutFactory,
)
from tests.lifecycle.helpers import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def paris():
    return OrganizationFactory(timezone="Europe/Paris")


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def timeline(response) -> str:
    """The history fieldset's HTML (the page's last fieldset before the inlines and the buttons)."""
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index(">Status history</h2>")
    return html[start : html.index("</fieldset>", start)]


def rows(section: str) -> list[str]:
    """The timeline's rows as text, cells joined by " | "."""
    body = section[section.index("<tbody>") : section.index("</tbody>")]
    return [
        " | ".join(re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row))
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def test_an_obligation_shows_its_moves_in_the_organizations_zone(admin_client, paris):
    obligation = ObligationFactory(organization=paris)
    record(obligation, ("pending", "approved"), actor="staff:ann", reason="checked the invoice")
    section = timeline(admin_client.get(change_url(obligation)))
    assert "Time (Europe/Paris)" in section
    assert rows(section) == ["2026-10-01 00:00:05 CEST | Pending → Approved | staff:ann | checked the invoice"]
    assert 'datetime="2026-09-30T22:00:05Z"' in section  # the hover and the machine-readable time are UTC


def test_moves_recorded_by_the_service_are_shown_newest_last(admin_client, paris):
    obligation = ObligationFactory(organization=paris)
    obligations_transition(obligation_ids=[obligation.pk], status="approved", reason="x", actor="staff:ann")
    obligations_transition(obligation_ids=[obligation.pk], status="cancelled", reason="duplicate", actor="api:ab12")
    shown = rows(timeline(admin_client.get(change_url(obligation))))
    assert [row.split(" | ", 1)[1] for row in shown] == [
        "Pending → Approved | staff:ann | x",
        "Approved → Cancelled | api:ab12 | duplicate",
    ]


def test_no_history_says_so(admin_client, paris):
    obligation = ObligationFactory(organization=paris)
    section = timeline(admin_client.get(change_url(obligation)))
    assert "No status move recorded yet." in section
    assert "<table" not in section


def test_an_unknown_actor_or_reason_shows_a_dash(admin_client, paris):
    fulfillment = FulfillmentFactory(organization=paris)
    record(fulfillment, ("pending", "failed"))
    assert rows(timeline(admin_client.get(change_url(fulfillment)))) == [
        "2026-10-01 00:00:05 CEST | Pending → Failed | - | -"
    ]


def test_at_most_50_moves_are_shown_with_a_note_for_the_earlier_ones(admin_client, paris):
    obligation = ObligationFactory(organization=paris)
    moves = [("pending", "approved") if i % 2 == 0 else ("approved", "pending") for i in range(53)]
    record(obligation, *moves, actor="engine:run 7")
    section = timeline(admin_client.get(change_url(obligation)))
    assert "3 earlier moves not shown (the latest 50 are)." in section
    shown = rows(section)
    assert len(shown) == 50
    # The latest 50: the 4th move (index 3, approved → pending at +3 min) first, the 53rd (+52 min) last.
    assert shown[0].startswith("2026-10-01 00:03:05 CEST | Approved → Pending")
    assert shown[-1].startswith("2026-10-01 00:52:05 CEST | Pending → Approved")


def test_exactly_50_moves_need_no_note(admin_client, paris):
    obligation = ObligationFactory(organization=paris)
    record(obligation, *[("pending", "approved") if i % 2 == 0 else ("approved", "pending") for i in range(50)])
    section = timeline(admin_client.get(change_url(obligation)))
    assert len(rows(section)) == 50
    assert "earlier move" not in section


def test_one_earlier_move_is_singular(admin_client, paris):
    obligation = ObligationFactory(organization=paris)
    record(obligation, *[("pending", "approved") if i % 2 == 0 else ("approved", "pending") for i in range(51)])
    assert "1 earlier move not shown (the latest 50 are)." in timeline(admin_client.get(change_url(obligation)))


def test_history_is_per_object_and_per_model(admin_client, paris):
    """Another obligation's moves, and a payout's moves under the same id, are not this obligation's."""
    obligation, other = ObligationFactory(organization=paris), ObligationFactory(organization=paris)
    record(other, ("pending", "approved"), actor="staff:other")
    status_changes_record(
        model="obligations.payout",
        organization_id=paris.pk,
        changes=[(obligation.pk, "unpaid", "paid")],
        actor="staff:payout",
    )
    section = timeline(admin_client.get(change_url(obligation)))
    assert "No status move recorded yet." in section
    assert "staff:" not in section


def _objects(organization):
    distributor = DistributorFactory(organization=organization)
    fulfillment = FulfillmentFactory(organization=organization)
    return {
        "distribution": (DistributionFactory(distributor=distributor), ("pending", "processing"), "Processing"),
        "obligation": (ObligationFactory(organization=organization), ("pending", "rejected"), "Rejected"),
        "fulfillment": (fulfillment, ("pending", "processing"), "Processing"),
        "payout": (PayoutFactory(fulfillment=fulfillment), ("unpaid", "paid"), "Paid"),
        "distributor": (distributor, ("active", "inactive"), "Inactive"),
        "api key": (ApiKeyFactory(organization=organization), ("active", "revoked"), "Revoked"),
    }


@pytest.mark.parametrize("name", ["distribution", "obligation", "fulfillment", "payout", "distributor", "api key"])
def test_every_admin_with_a_status_shows_the_timeline(admin_client, paris, name, django_assert_max_num_queries):
    obj, move, shown_as = _objects(paris)[name]
    record(obj, move, actor="command:export_payouts", reason="why")
    with django_assert_max_num_queries(25):  # tests/test_admin.py's budget of a change page
        response = admin_client.get(change_url(obj))
    section = timeline(response)
    [row] = rows(section)
    assert row.startswith("2026-10-01 00:00:05 CEST | ")
    assert f"→ {shown_as} | command:export_payouts | why" in row


def test_the_timeline_is_never_a_form_field(admin_client, paris):
    obligation = ObligationFactory(organization=paris)  # a pending manual obligation: its form is editable
    record(obligation, ("pending", "approved"), ("approved", "pending"), actor="staff:ann")
    response = admin_client.get(change_url(obligation))
    assert "status_history" not in response.context["adminform"].form.fields
    assert 'name="status_history' not in response.content.decode()
    assert "field-status_history" in response.content.decode()
    # Saving the page changes no history row.
    before = list(StatusChange.objects.values_list("id", "from_status", "to_status", "actor", "reason"))
    admin_client.post(
        change_url(obligation),
        {
            "collaborator": obligation.collaborator_id,
            "value": "12.00",
            "units": "USD",
            "award_type": "manual",
            "description": "",
            "status_history": "forged",
        },
    )
    assert list(StatusChange.objects.values_list("id", "from_status", "to_status", "actor", "reason")) == before


def test_the_history_itself_has_no_admin():
    assert StatusChange not in admin.site._registry


def test_add_pages_have_no_timeline(admin_client):
    response = admin_client.get(reverse("admin:obligations_obligation_add"))
    assert response.status_code == 200
    assert "Status history" not in response.content.decode()


def test_the_timeline_costs_the_same_queries_for_1_or_50_moves(admin_client, paris):
    one, many = ObligationFactory(organization=paris), ObligationFactory(organization=paris)
    record(one, ("pending", "approved"))
    record(many, *[("pending", "approved") if i % 2 == 0 else ("approved", "pending") for i in range(49)])
    admin_client.get(change_url(one))  # warm the session and content types
    counts = []
    for obj in (one, many):
        with CaptureQueriesContext(connection) as context:
            assert admin_client.get(change_url(obj)).status_code == 200
        counts.append(len(context.captured_queries))
    assert counts[0] == counts[1]
