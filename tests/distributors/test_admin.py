"""Distributors and revenue entries typed in the admin: times in the organization's zone (DST-safe, stored in
UTC), amounts in major units (stored in minor units, never rounded)."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from distributions.models import Distribution
from distributors.models import Distributor, RevenueEntry
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:distributors_distributor_add")


def _form(organization, **changes):
    data = {
        "organization": organization.pk,
        "name": "Sales pool",
        "description": "",
        "status": "active",
        "units": "USD",
        "pool_resolver": "fixed",
        "pool_amount": "500.00",
        "pool_percent_bp": "0",
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
    }
    return {**data, **changes}


@pytest.fixture
def paris(db):
    return OrganizationFactory(timezone="Europe/Paris")


@pytest.mark.parametrize(
    ("day", "stored"),
    [
        ("2026-03-28", datetime(2026, 3, 27, 23, tzinfo=UTC)),  # CET (+1)
        ("2026-03-29", datetime(2026, 3, 28, 23, tzinfo=UTC)),  # still CET at midnight; CEST from 02:00
        ("2026-03-30", datetime(2026, 3, 29, 22, tzinfo=UTC)),  # CEST (+2)
        ("2026-10-25", datetime(2026, 10, 24, 22, tzinfo=UTC)),  # still CEST at midnight; CET from 03:00
        ("2026-10-26", datetime(2026, 10, 25, 23, tzinfo=UTC)),  # CET (+1)
    ],
)
def test_starts_at_typed_as_local_midnight_is_stored_in_utc_around_dst(day, stored, paris, admin_client):
    response = admin_client.post(ADD, _form(paris, starts_at_0=day, starts_at_1="00:00"))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    distributor = Distributor.objects.get()
    assert distributor.starts_at == stored
    # The first period starts there and ends at the next local midnight of a month's 1st.
    assert Distribution.objects.get(distributor=distributor).period_start == stored

    page = admin_client.get(reverse("admin:distributors_distributor_change", args=[distributor.pk])).content.decode()
    assert f'name="starts_at_0" value="{day}"' in page  # shown back as it was typed
    assert 'name="starts_at_1" value="00:00:00"' in page


@pytest.mark.parametrize(
    ("day", "time"),
    [("2026-03-29", "02:30"), ("2026-10-25", "02:30")],
    ids=["does-not-exist", "ambiguous"],
)
def test_a_local_time_a_dst_change_skips_or_repeats_is_a_form_error(day, time, paris, admin_client):
    response = admin_client.post(ADD, _form(paris, starts_at_0=day, starts_at_1=time))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["starts_at"]
    assert "Europe/Paris" in errors[0] and "ambiguous or it may not exist" in errors[0]
    assert not Distributor.objects.exists()


def test_a_new_distributors_times_follow_the_chosen_organization(admin_client, paris):
    tokyo = OrganizationFactory(timezone="Asia/Tokyo")
    admin_client.post(ADD, _form(tokyo, name="Tokyo", starts_at_0="2026-01-01", starts_at_1="00:00"))
    admin_client.post(ADD, _form(paris, name="Paris", starts_at_0="2026-01-01", starts_at_1="00:00"))
    starts = dict(Distributor.objects.values_list("name", "starts_at"))
    assert starts == {"Tokyo": datetime(2025, 12, 31, 15, tzinfo=UTC), "Paris": datetime(2025, 12, 31, 23, tzinfo=UTC)}


def test_the_add_form_says_which_zone_times_are_read_in(admin_client, paris):
    page = admin_client.get(ADD).content.decode()
    assert "Local time in the time zone of the organization chosen above; stored in UTC." in page
    page = admin_client.get(ADD, {"organization": paris.pk}).content.decode()
    assert "Local time in Europe/Paris" in page


def test_an_edit_keeps_the_instant_and_reads_a_new_time_in_the_organizations_zone(admin_client, paris):
    admin_client.post(ADD, _form(paris, starts_at_0="2026-07-01", starts_at_1="00:00"))
    distributor = Distributor.objects.get()
    url = reverse("admin:distributors_distributor_change", args=[distributor.pk])
    # Saved again as shown (local midnight): the instant does not move by the zone's offset.
    response = admin_client.post(url, _form(paris, starts_at_0="2026-07-01", starts_at_1="00:00:00"))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    distributor.refresh_from_db()
    assert distributor.starts_at == datetime(2026, 6, 30, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("units", "typed", "stored"),
    [
        ("USD", "500.00", 50000),
        ("USD", "155.07", 15507),
        ("USD", "12", 1200),
        ("JPY", "500", 500),
        ("KWD", "1.250", 1250),
        ("points", "1000", 1000),
    ],
)
def test_the_pool_is_typed_in_major_units(units, typed, stored, paris, admin_client):
    response = admin_client.post(ADD, _form(paris, units=units, pool_amount=typed))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    distributor = Distributor.objects.get()
    assert distributor.pool_amount == stored
    page = admin_client.get(reverse("admin:distributors_distributor_change", args=[distributor.pk])).content.decode()
    assert f'name="pool_amount" value="{typed if units != "USD" or "." in typed else typed + ".00"}"' in page


@pytest.mark.parametrize(
    ("units", "typed", "message"),
    [
        ("USD", "12.345", "more decimal places than USD allows (2)"),
        ("JPY", "5.5", "more decimal places than JPY allows (0)"),
        ("USD", "-1.00", "0 or more"),
        ("USD", "1,000.00", "not a decimal number"),
        ("USD", "abc", "not a decimal number"),
        ("USD", "99999999999999999999", "less than or equal to"),
    ],
)
def test_a_pool_that_is_not_an_amount_in_its_units_is_a_form_error(units, typed, message, paris, admin_client):
    response = admin_client.post(ADD, _form(paris, units=units, pool_amount=typed))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors["pool_amount"])
    assert not Distributor.objects.exists()


def test_revenue_typed_in_the_admin_in_major_units_and_the_organizations_zone(admin_client, paris):
    response = admin_client.post(
        reverse("admin:distributors_revenueentry_add"),
        {
            "organization": paris.pk,
            "amount": "100.50",
            "units": "usd",
            "occurred_at_0": "2026-07-14",
            "occurred_at_1": "12:00:00",
            "reference": "order-1",
        },
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    entry = RevenueEntry.objects.get()
    assert (entry.amount, entry.units, entry.occurred_at) == (10050, "USD", datetime(2026, 7, 14, 10, tzinfo=UTC))
