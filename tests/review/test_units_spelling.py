"""Units typed in the admin are stored in the same spelling the revenue import uses.

The revenue import normalizes units (``usd`` → ``USD``), but a distributor saved in the admin with ``usd``
kept ``usd``; its revenue-share pool sums the entries in exactly its units, so every period's pool was 0 and
the revenue share was silently never paid. Revenue entries and manual obligations typed in the admin had the
same problem (``usd`` and ``USD`` obligations of one collaborator became two payouts).
"""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from distributions.trigger import distribution_period_pool
from distributors.models import Distributor, RevenueEntry
from obligations.models import Obligation
from tests.factories import CollaboratorFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def _distributor_form(organization, **changes):
    return {
        "organization": organization.pk,
        "name": "Revenue pool",
        "description": "",
        "status": "active",
        "units": "usd",
        "pool_resolver": "revenueShare",
        "pool_amount": "0",
        "pool_percent_bp": "1000",
        "distribution_resolver": "performanceSharedPool",
        "tie_policy": "split",
        "top_n_weights": "[]",
        "obligation_start_status": "pending",
        "eligibility": "allActive",
        "schedule": "monthly",
        "starts_at_0": "2026-01-01",
        "starts_at_1": "00:00:00",
        "metric_types-TOTAL_FORMS": "0",
        "metric_types-INITIAL_FORMS": "0",
        **changes,
    }


def test_admin_distributor_units_match_imported_revenue(admin_client, tmp_path):
    organization = OrganizationFactory(slug="acme")
    response = admin_client.post(reverse("admin:distributors_distributor_add"), _distributor_form(organization))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    distributor = Distributor.objects.get()
    assert distributor.units == "USD"

    csv = tmp_path / "revenue.csv"
    csv.write_text("amount,units,occurredAt,reference\n100.00,USD,2026-01-10T00:00:00Z,order-1\n")
    call_command("import_revenue", str(csv), "--organization", "acme", stdout=StringIO(), stderr=StringIO())
    pool = distribution_period_pool(
        distributor=distributor,
        period_start=datetime(2026, 1, 1, tzinfo=UTC),
        trigger_date=datetime(2026, 2, 1, tzinfo=UTC),
    )
    assert pool == 1000  # 10 % of 100.00 USD


def test_admin_distributor_refuses_a_units_that_is_not_a_code(admin_client):
    organization = OrganizationFactory()
    response = admin_client.post(
        reverse("admin:distributors_distributor_add"), _distributor_form(organization, units="US $")
    )
    assert response.status_code == 200
    assert "units" in response.context["adminform"].form.errors
    assert not Distributor.objects.exists()


def test_admin_revenue_entry_units_are_normalized(admin_client):
    organization = OrganizationFactory()
    response = admin_client.post(
        reverse("admin:distributors_revenueentry_add"),
        {
            "organization": organization.pk,
            "amount": "1000",
            "units": "usd",
            "occurred_at_0": "2026-01-10",
            "occurred_at_1": "00:00:00",
            "reference": "order-1",
        },
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert RevenueEntry.objects.get().units == "USD"


def test_admin_manual_obligation_units_are_normalized(admin_client):
    collaborator = CollaboratorFactory()
    response = admin_client.post(
        reverse("admin:obligations_obligation_add"),
        {"collaborator": collaborator.pk, "value": "1000", "units": "usd", "award_type": "manual", "description": ""},
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert Obligation.objects.get().units == "USD"
