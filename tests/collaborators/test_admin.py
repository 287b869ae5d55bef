"""A collaborator's change page: the earnings of the last periods per units, and the totals (a bounded read)."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from obligations.selectors import EARNINGS_PERIODS, collaborator_earnings
from tests.factories import (
    AllocationFactory,
    DistributionFactory,
    DistributorFactory,
    FulfillmentFactory,
    ObligationFactory,
    PayoutFactory,
)

pytestmark = pytest.mark.django_db


def _month(n: int) -> tuple[datetime, datetime]:
    """The n-th monthly period from January 2026, at UTC midnight."""
    start = datetime(2026 + (n // 12), n % 12 + 1, 1, tzinfo=UTC)
    end = datetime(2026 + ((n + 1) // 12), (n + 1) % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _earn(distributor, collaborator, n, value, status="approved"):
    start, end = _month(n)
    distribution = DistributionFactory(
        distributor=distributor, status="processing", period_start=start, trigger_date=end, pool=value, value=value
    )
    allocation = AllocationFactory(
        distribution=distribution, collaborator=collaborator, value=value, obligation__units=distributor.units
    )
    obligation = allocation.obligation
    obligation.status = status
    if status == "fulfilled":
        fulfillment = FulfillmentFactory(organization=distributor.organization)
        obligation.payout = PayoutFactory(
            fulfillment=fulfillment, collaborator=collaborator, amount=value, units=distributor.units
        )
    obligation.save()
    return allocation.obligation


def _text(response) -> str:
    assert response.status_code == 200
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_earnings_per_period_and_units_with_totals(admin_client, org, ada, alan):
    usd = DistributorFactory(organization=org, units="USD")
    bonus = DistributorFactory(organization=org, units="USD")
    points = DistributorFactory(organization=org, units="points")
    _earn(usd, ada, 0, 15507, "fulfilled")
    _earn(bonus, ada, 0, 1000, "pending")  # the same period, another USD distributor: one row
    _earn(points, ada, 0, 40, "approved")
    _earn(usd, ada, 1, 2500, "rejected")
    _earn(bonus, alan, 1, 99999)  # someone else's
    ObligationFactory(organization=org, collaborator=ada, value=300, units="USD", status="approved")  # manual

    earnings = collaborator_earnings(collaborator=ada)
    rows = [(row.trigger_date, row.units, row.earnings) for row in earnings.periods]
    assert [(end, units, (e.count, e.earned, e.paid, e.open, e.void)) for end, units, e in rows] == [
        (_month(1)[1], "USD", (1, 0, 0, 0, 2500)),
        (_month(0)[1], "USD", (2, 16507, 15507, 1000, 0)),
        (_month(0)[1], "points", (1, 40, 0, 40, 0)),
    ]
    assert not earnings.more
    assert {units: (e.count, e.earned) for units, e in earnings.manual.items()} == {"USD": (1, 300)}
    assert {units: (e.count, e.earned, e.paid, e.open, e.void) for units, e in earnings.totals.items()} == {
        "USD": (4, 16807, 15507, 1300, 2500),
        "points": (1, 40, 0, 40, 0),
    }

    text = _text(admin_client.get(reverse("admin:collaborators_collaborator_change", args=[ada.pk])))
    assert "Earnings" in text
    assert "2026-01-01 → 2026-02-01 UTC" in text and "2026-02-01 → 2026-03-01 UTC" in text
    assert "165.07 USD" in text and "155.07 USD" in text and "40 points" in text and "25.00 USD" in text
    assert "Manual awards (no period)" in text and "3.00 USD" in text
    assert "168.07 USD · 40 points" in text  # all time, per units
    assert "999.99 USD" not in text


def test_earnings_are_shown_in_the_organizations_zone(admin_client, org, ada):
    org.timezone = "Europe/Paris"
    org.save()
    distributor = DistributorFactory(organization=org)
    distribution = DistributionFactory(
        distributor=distributor,
        status="processing",
        period_start=datetime(2026, 8, 31, 22, tzinfo=UTC),
        trigger_date=datetime(2026, 9, 30, 22, tzinfo=UTC),
        pool=100,
        value=100,
    )
    AllocationFactory(distribution=distribution, collaborator=ada, value=100)
    text = _text(admin_client.get(reverse("admin:collaborators_collaborator_change", args=[ada.pk])))
    assert "2026-09-01 → 2026-10-01 CEST" in text and "Europe/Paris" in text


def test_only_the_last_periods_are_listed(org, ada):
    distributor = DistributorFactory(organization=org)
    for n in range(EARNINGS_PERIODS + 3):
        _earn(distributor, ada, n, 100 + n)
    earnings = collaborator_earnings(collaborator=ada)
    assert len(earnings.periods) == EARNINGS_PERIODS and earnings.more
    assert earnings.periods[0].trigger_date == _month(EARNINGS_PERIODS + 2)[1]  # newest first
    assert earnings.totals["USD"].count == EARNINGS_PERIODS + 3  # the totals count everything


def test_a_collaborator_without_obligations_says_so(admin_client, ada):
    text = _text(admin_client.get(reverse("admin:collaborators_collaborator_change", args=[ada.pk])))
    assert "Earnings" in text and "No allocation yet." in text


def test_the_collaborator_page_costs_the_same_for_1_and_15_periods(admin_client, org, ada):
    distributor = DistributorFactory(organization=org)
    url = reverse("admin:collaborators_collaborator_change", args=[ada.pk])

    def count():
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url)
        assert response.status_code == 200
        return len(response.context["earnings"]["periods"]), len(queries.captured_queries)

    _earn(distributor, ada, 0, 100)
    ObligationFactory(organization=org, collaborator=ada, value=5)
    count()  # warm the content types cache
    rows_one, queries_one = count()
    for n in range(1, 15):
        _earn(distributor, ada, n, 100 + n)
        ObligationFactory(organization=org, collaborator=ada, value=5, units=f"X{n}")
    rows_many, queries_many = count()
    assert (rows_one, rows_many) == (1, EARNINGS_PERIODS)
    assert queries_one == queries_many
