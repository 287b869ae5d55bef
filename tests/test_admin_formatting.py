"""Money and time as staff read them: the one formatter (``distributors.units.format_amount``), and every
admin list and change page showing amounts with their units and decimals and times in the organization's zone,
the zone named (``organizations.admin``)."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.templatetags.admin_list import result_headers
from django.urls import reverse

from distributions.models import Allocation, Distribution, EngineRun
from distributors.models import Distributor, RevenueEntry
from distributors.units import format_amount, format_totals, to_major
from metrics.models import MetricCredit
from obligations.models import Fulfillment, Obligation, Payout
from organizations.admin import format_instant, format_period
from tests.factories import (
    AllocationFactory,
    CollaboratorFactory,
    DistributionFactory,
    DistributorFactory,
    EngineRunFactory,
    FulfillmentFactory,
    MetricCreditFactory,
    ObligationFactory,
    OrganizationFactory,
    PayoutFactory,
    RevenueEntryFactory,
)

PARIS = ZoneInfo("Europe/Paris")

# --- the formatter -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "units", "shown"),
    [
        (15507, "USD", "155.07 USD"),
        (117088, "USD", "1,170.88 USD"),
        (5, "USD", "0.05 USD"),
        (0, "USD", "0.00 USD"),
        (-15507, "USD", "-155.07 USD"),
        (-5, "USD", "-0.05 USD"),
        (123_456_789_01, "USD", "123,456,789.01 USD"),
        (9_223_372_036_854_775_807, "USD", "92,233,720,368,547,758.07 USD"),  # the largest BigIntegerField
        (-9_223_372_036_854_775_808, "USD", "-92,233,720,368,547,758.08 USD"),
        (12345, "JPY", "12,345 JPY"),
        (-500, "JPY", "-500 JPY"),
        (1250, "KWD", "1.250 KWD"),
        (1_234_567_890, "KWD", "1,234,567.890 KWD"),
        (-1, "KWD", "-0.001 KWD"),
        (1000, "points", "1,000 points"),
        (1, "points", "1 point"),
        (-1, "points", "-1 point"),
        (0, "points", "0 points"),
        (999, "points", "999 points"),
        (1234, "credits", "12.34 credits"),  # an unlisted units: 2 places
    ],
)
def test_format_amount(amount, units, shown):
    assert format_amount(amount, units) == shown


def test_format_amount_and_the_csv_decimals_agree():
    """The CSV's ``to_major`` is the formatter's number without grouping or units."""
    for amount, units in [(117088, "USD"), (-5, "USD"), (12345, "JPY"), (1_234_567_890, "KWD"), (7, "points")]:
        number = format_amount(amount, units).rsplit(" ", 1)[0].replace(",", "")
        assert number == to_major(amount, units)


def test_format_totals_joins_units_without_commas():
    assert format_totals({"USD": 117088, "points": 5, "JPY": 300}) == "300 JPY · 1,170.88 USD · 5 points"
    assert format_totals({}) == "nothing"


@pytest.mark.parametrize(
    ("moment", "zone", "kwargs", "shown"),
    [
        (datetime(2026, 9, 29, 22, tzinfo=UTC), PARIS, {}, "2026-09-30 00:00 CEST"),
        (datetime(2026, 12, 31, 23, tzinfo=UTC), PARIS, {}, "2027-01-01 00:00 CET"),
        (datetime(2026, 9, 29, 22, 0, 5, tzinfo=UTC), PARIS, {"seconds": True, "name": True},
         "2026-09-30 00:00:05 CEST (Europe/Paris)"),
        (datetime(2026, 1, 1, tzinfo=UTC), UTC, {"name": True}, "2026-01-01 00:00 UTC"),
        (datetime(2026, 1, 1, tzinfo=UTC), ZoneInfo("UTC"), {"name": True}, "2026-01-01 00:00 UTC"),
        (datetime(2026, 1, 1, 3, tzinfo=UTC), ZoneInfo("America/Sao_Paulo"), {"name": True},
         "2026-01-01 00:00 -03 (America/Sao_Paulo)"),
    ],
)  # fmt: skip
def test_format_instant(moment, zone, kwargs, shown):
    assert format_instant(moment, zone, **kwargs) == shown


def test_format_period_in_the_organizations_zone():
    september = (datetime(2026, 8, 31, 22, tzinfo=UTC), datetime(2026, 9, 30, 22, tzinfo=UTC))
    assert format_period(*september, PARIS) == "2026-09-01 → 2026-10-01 CEST"
    october = (datetime(2026, 9, 30, 22, tzinfo=UTC), datetime(2026, 10, 31, 23, tzinfo=UTC))
    assert format_period(*october, PARIS) == "2026-10-01 CEST → 2026-11-01 CET"  # DST ends inside
    first = (datetime(2026, 1, 15, 9, tzinfo=UTC), datetime(2026, 1, 31, 23, tzinfo=UTC))
    assert format_period(*first, PARIS) == "2026-01-15 10:00 → 2026-02-01 00:00 CET"
    assert format_period(*september, UTC) == "2026-08-31 22:00 → 2026-09-30 22:00 UTC"


# --- every list and change page -------------------------------------------------------------------------------

SEPTEMBER = (datetime(2026, 8, 31, 22, tzinfo=UTC), datetime(2026, 9, 30, 22, tzinfo=UTC))


@pytest.fixture
def paris(db):
    """A Europe/Paris organization with one row of every model that shows an amount or a time."""
    organization = OrganizationFactory(timezone="Europe/Paris", slug="paris")
    ann = CollaboratorFactory(organization=organization, full_name="Ann")
    distributor = DistributorFactory(
        organization=organization, name="Monthly", units="USD", pool_amount=123_456_78, starts_at=SEPTEMBER[0]
    )
    distribution = DistributionFactory(
        distributor=distributor,
        status="processing",
        period_start=SEPTEMBER[0],
        trigger_date=SEPTEMBER[1],
        pool=20000,
        value=15507,
        unallocated=4493,
        triggered_at=SEPTEMBER[1],
    )
    allocation = AllocationFactory(distribution=distribution, collaborator=ann, value=15507, score=3)
    fulfillment = FulfillmentFactory(organization=organization, status="processing")
    payout = PayoutFactory(fulfillment=fulfillment, collaborator=ann, amount=15507)
    Obligation.objects.filter(pk=allocation.obligation_id).update(status="approved", payout=payout)
    ObligationFactory(organization=organization, collaborator=ann, value=1000, units="JPY")  # manual
    RevenueEntryFactory(organization=organization, amount=1250, units="KWD", occurred_at=SEPTEMBER[1])
    MetricCreditFactory(distributor=distributor, collaborator=ann, quantity=1200, credited_at=SEPTEMBER[1])
    EngineRunFactory(started_at=SEPTEMBER[1], as_of=SEPTEMBER[1], finished_at=SEPTEMBER[1] + timedelta(seconds=3))
    for model in (Obligation, Payout, Fulfillment):  # created on October 1st, Paris midnight
        model.objects.update(created_at=SEPTEMBER[1])
    return {"organization": organization, "distribution": distribution, "fulfillment": fulfillment}


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _text(response) -> str:
    assert response.status_code == 200
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


CHANGELISTS = {
    Distribution: ["2026-09-01 → 2026-10-01 CEST", "200.00 USD", "155.07 USD", "44.93 USD"],
    Allocation: ["155.07 USD"],
    Obligation: ["155.07 USD", "1,000 JPY", "manual", "Monthly", "2026-10-01 00:00 CEST"],
    Payout: ["155.07 USD", "2026-10-01 00:00 CEST"],
    Fulfillment: ["155.07 USD", "0.00 USD", "2026-10-01 00:00 CEST"],  # total, paid, created
    Distributor: ["123,456.78 USD"],
    RevenueEntry: ["1.250 KWD", "2026-10-01 00:00 CEST"],
    MetricCredit: ["1,200 points", "2026-10-01 00:00 CEST"],
    EngineRun: ["2026-09-30 22:00 UTC", "2026-09-30 22:00 UTC"],
}


@pytest.mark.parametrize("model", CHANGELISTS, ids=lambda model: model.__name__)
def test_changelists_show_amounts_with_units_and_times_with_zones(model, paris, admin_client):
    text = _text(admin_client.get(_url(model, "changelist")))
    for shown in CHANGELISTS[model]:
        assert shown in text, f"{shown!r} not on the {model.__name__} list"
    # No bare minor units next to a units code ("15507 USD") anywhere.
    assert not re.search(r"\b(15507|20000|4493|12345678|1250|1200) (USD|KWD|JPY|points)\b", text)
    # No time without its zone (Django's "Sept. 30, 2026, 10 p.m.").
    assert not re.search(r"\b(a\.m\.|p\.m\.|midnight|noon)", text)


def test_money_columns_stay_sortable_by_their_field(paris, admin_client):
    for model, column, field in [
        (Obligation, "value", "value"),
        (Payout, "amount", "amount"),
        (RevenueEntry, "amount", "amount"),
        (MetricCredit, "points", "points"),
        (Distribution, "distribution_pool", "pool"),
        (Distribution, "distribution_allocated", "value"),
        (Distributor, "distributor_pool", "pool_amount"),
    ]:
        url = _url(model, "changelist")
        headers = list(result_headers(admin_client.get(url).context["cl"]))
        index, header = next((i, h) for i, h in enumerate(headers) if f'column-{column}"' in h["class_attrib"])
        assert header["sortable"], f"{model.__name__}.{field} is not sortable"
        for order, expected in [(str(index), field), (f"-{index}", f"-{field}")]:
            ordered = admin_client.get(url, {"o": order})
            assert ordered.status_code == 200
            assert ordered.context["cl"].queryset.query.order_by[0] == expected


def test_change_pages_show_amounts_and_local_times(paris, admin_client):
    distribution, fulfillment = paris["distribution"], paris["fulfillment"]
    allocation = distribution.allocations.get()
    obligation = allocation.obligation
    payout = fulfillment.payouts.get()

    text = _text(admin_client.get(_url(Obligation, "change", obligation.pk)))
    assert "155.07 USD" in text
    assert f"Obligation {obligation.pk}: 155.07 USD (approved)" in text  # the title and breadcrumbs
    assert f"#{distribution.pk} Monthly" in text
    assert "(Europe/Paris)" in text  # created at, modified at

    text = _text(admin_client.get(_url(Payout, "change", payout.pk)))
    assert "155.07 USD" in text and "(Europe/Paris)" in text

    text = _text(admin_client.get(_url(Fulfillment, "change", fulfillment.pk)))
    assert "155.07 USD" in text  # the total, and the payout inline
    assert "15507" not in text
    assert "(Europe/Paris)" in text

    text = _text(admin_client.get(_url(Allocation, "change", allocation.pk)))
    assert "155.07 USD" in text

    run = EngineRun.objects.get()
    text = _text(admin_client.get(_url(EngineRun, "change", run.pk)))
    assert "2026-09-30 22:00:00 UTC" in text and "2026-09-30 22:00:03 UTC" in text


def test_typed_amounts_are_shown_in_major_units(paris, admin_client):
    distributor = Distributor.objects.get()
    page = admin_client.get(_url(Distributor, "change", distributor.pk)).content.decode()
    assert 'name="pool_amount" value="123456.78"' in page
    entry = RevenueEntry.objects.get()
    page = admin_client.get(_url(RevenueEntry, "change", entry.pk)).content.decode()
    assert 'name="amount" value="1.250"' in page
    manual = Obligation.objects.get(award_type="manual")
    page = admin_client.get(_url(Obligation, "change", manual.pk)).content.decode()
    assert 'name="value" value="1000"' in page  # JPY: no decimals


def test_times_on_a_change_form_are_shown_in_the_organizations_zone(paris, admin_client):
    distributor = Distributor.objects.get()
    page = admin_client.get(_url(Distributor, "change", distributor.pk)).content.decode()
    # Stored 2026-08-31 22:00 UTC: Paris midnight on September 1st.
    assert 'name="starts_at_0" value="2026-09-01"' in page
    assert 'name="starts_at_1" value="00:00:00"' in page
    assert "Start of the first period. Local time in Europe/Paris, the organization's time zone; stored in UTC." in page
    # The admin's "Now" shortcut is given the organization's offset, not the server's.
    assert 'data-admin-utc-offset="3600"' in page or 'data-admin-utc-offset="7200"' in page
