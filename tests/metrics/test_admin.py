"""The admin: metric credits are read-only; staff credit through the "Credit a metric" view (the service)."""

import re

import pytest
from django.urls import reverse

from metrics.models import CreditRequest, MetricCredit
from tests.factories import CollaboratorFactory, DistributorFactory, MetricCreditFactory

pytestmark = pytest.mark.django_db

CREDIT_URL = reverse("admin:metrics_metriccredit_credit")


def form_key(response) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', response.content.decode()).group(1)


def test_changelist_links_to_the_credit_view_and_rows_stay_read_only(admin_client):
    credit = MetricCreditFactory()
    changelist = admin_client.get(reverse("admin:metrics_metriccredit_changelist"))
    assert changelist.status_code == 200
    assert CREDIT_URL in changelist.content.decode()
    assert admin_client.get(reverse("admin:metrics_metriccredit_add")).status_code == 403
    change = admin_client.get(reverse("admin:metrics_metriccredit_change", args=[credit.pk]))
    assert change.status_code == 200 and 'type="submit" value="Save"' not in change.content.decode()
    assert admin_client.post(reverse("admin:metrics_metriccredit_delete", args=[credit.pk])).status_code == 403


def test_staff_credit_through_the_service_once_even_when_the_form_is_submitted_twice(admin_client, org, collaborator):
    distributor = DistributorFactory(organization=org, metric_types={"sale": 4})
    page = admin_client.get(CREDIT_URL)
    assert page.status_code == 200
    data = {
        "organization": org.pk,
        "collaborator": collaborator.pk,
        "metric_type": "sale",
        "quantity": 2,
        "distributor": "",
        "idempotency_key": form_key(page),
    }
    response = admin_client.post(CREDIT_URL, data, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:metrics_metriccredit_changelist")
    assert f"Credited 2 × sale to Ada Lovelace: distributor {distributor.pk} +8 points; 8 points in all." in (
        response.content.decode()
    )
    again = admin_client.post(CREDIT_URL, data, follow=True)
    assert "already submitted" in again.content.decode()
    row = MetricCredit.objects.get()
    assert (row.distributor_id, row.points) == (distributor.pk, 8)
    request = CreditRequest.objects.get()
    assert (request.source, request.actor) == ("admin", "admin")


def test_a_refused_credit_shows_the_reason_on_the_form(admin_client, org):
    DistributorFactory(organization=org)
    inactive = CollaboratorFactory(organization=org, status="inactive")
    stranger = CollaboratorFactory()
    key = form_key(admin_client.get(CREDIT_URL))
    base = {"organization": org.pk, "metric_type": "manual", "quantity": 1, "idempotency_key": key}
    refused = admin_client.post(CREDIT_URL, {**base, "collaborator": inactive.pk})
    assert refused.status_code == 200
    assert "only active collaborators earn" in refused.content.decode()
    foreign = admin_client.post(CREDIT_URL, {**base, "collaborator": stranger.pk})
    assert "belongs to another organization" in foreign.content.decode()
    bad_quantity = admin_client.post(CREDIT_URL, {**base, "collaborator": inactive.pk, "quantity": 0})
    assert bad_quantity.status_code == 200
    assert not MetricCredit.objects.exists()


def test_staff_without_the_permission_cannot_credit(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(CREDIT_URL).status_code == 403


def test_the_form_offers_autocomplete_for_collaborators_and_distributors(admin_client, org, collaborator):
    DistributorFactory(organization=org, name="Monthly pool")
    page = admin_client.get(CREDIT_URL).content.decode()
    assert "admin-autocomplete" in page
    for field, term, label in [("collaborator", "Ada", "Ada Lovelace"), ("distributor", "Monthly", "Monthly pool")]:
        found = admin_client.get(
            "/admin/autocomplete/",
            {"app_label": "metrics", "model_name": "metriccredit", "field_name": field, "term": term},
        )
        assert found.status_code == 200
        assert [result["text"] for result in found.json()["results"]] == [label]


def test_staff_book_a_credit_late_only_with_a_reason(admin_client, org, collaborator):
    from distributions.models import Distribution
    from distributions.services import distribution_open_first
    from tests.distributions.helpers import run_engine

    distributor = DistributorFactory(organization=org)
    distribution_open_first(distributor=distributor)
    run_engine("--now", "2026-02-01T00:00:00Z")  # January is distributed
    assert Distribution.objects.filter(distributor=distributor, status="complete").exists()
    key = form_key(admin_client.get(CREDIT_URL))
    data = {
        "organization": org.pk,
        "collaborator": collaborator.pk,
        "metric_type": "manual",
        "quantity": 3,
        "distributor": distributor.pk,
        "idempotency_key": key,
        "credited_at": "2026-01-20T09:00:00+01:00",
    }
    refused = admin_client.post(CREDIT_URL, data)
    assert refused.status_code == 200
    assert "already distributed" in refused.content.decode() and "give a late reason" in refused.content.decode()
    assert not MetricCredit.objects.exists()
    no_offset = admin_client.post(CREDIT_URL, {**data, "credited_at": "2026-01-20T09:00:00"})
    assert "has no UTC offset" in no_offset.content.decode()
    booked = admin_client.post(CREDIT_URL, {**data, "late_reason": "CRM export arrived late"}, follow=True)
    assert "Credited 3 × manual" in booked.content.decode()
    credit = MetricCredit.objects.get()
    assert credit.credited_at.isoformat() == "2026-01-20T08:00:00+00:00"
    assert (credit.request.late_reason, credit.request.source) == ("CRM export arrived late", "admin")
