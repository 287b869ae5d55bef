"""Inputs refused at the door: schedules checked from the distributor's own start; revenue dated inside a
period that was already distributed."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from distributors.models import RevenueEntry
from tests.distributions.helpers import run_engine
from tests.factories import DistributorFactory

pytestmark = pytest.mark.django_db

LEAP_DAY_EVERY_FOUR_YEARS = "RRULE:FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29"


def test_a_rule_that_never_fires_from_the_distributors_start_is_refused(org):
    # From a leap year the rule fires every four years; from 2026 it lands on 2030, 2034, ...: never.
    distributor = DistributorFactory.build(
        organization=org, schedule=LEAP_DAY_EVERY_FOUR_YEARS, starts_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    with pytest.raises(ValidationError) as refused:
        distributor.full_clean(exclude=["eligible_collaborators"])
    assert list(refused.value.message_dict) == ["schedule"]
    assert "never triggers" in refused.value.message_dict["schedule"][0]
    assert "2026-01-01" in refused.value.message_dict["schedule"][0]


def test_the_same_rule_from_a_leap_year_is_accepted(org):
    distributor = DistributorFactory.build(
        organization=org, schedule=LEAP_DAY_EVERY_FOUR_YEARS, starts_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    distributor.full_clean(exclude=["eligible_collaborators"])


@pytest.mark.parametrize("schedule", ["RRULE:FREQ=DAILY;BYHOUR=25", "RRULE:FREQ=WEEKLY;BYDAY=XX", "RRULE:FREQ=HOURLY;"])
def test_a_malformed_rule_is_a_field_error_not_a_crash(org, schedule):
    distributor = DistributorFactory.build(organization=org, schedule=schedule)
    with pytest.raises(ValidationError) as refused:
        distributor.full_clean(exclude=["eligible_collaborators"])
    assert "schedule" in refused.value.message_dict


def _import(tmp_path, body: str) -> str:
    path = tmp_path / "revenue.csv"
    path.write_text("amount,units,occurredAt,reference\n" + body, encoding="utf-8")
    out = StringIO()
    call_command("import_revenue", str(path), "--organization", "acme", stdout=out)
    return out.getvalue()


def test_revenue_dated_in_a_distributed_period_is_refused_and_nothing_is_imported(make_distributor, tmp_path):
    make_distributor(pool_resolver="revenueShare", pool_percent_bp=1000, pool_amount=0)
    run_engine("--now", "2026-02-15T00:00:00Z")  # January (2026-01-01, 2026-02-01] is distributed

    with pytest.raises(CommandError) as refused:
        _import(tmp_path, "10.00,USD,2026-02-10T00:00:00Z,late-ok\n5.00,USD,2026-01-20T12:00:00Z,late-jan\n")
    message = str(refused.value)
    assert "line 3, column occurredAt: 2026-01-20T12:00:00Z falls in a period of distributor" in message
    assert "already distributed (through 2026-02-01T00:00:00Z)" in message
    assert not RevenueEntry.objects.exists()

    # The open period (after February 1st) still takes revenue.
    assert "Imported 1 revenue entry" in _import(tmp_path, "10.00,USD,2026-02-10T00:00:00Z,late-ok\n")
    assert list(RevenueEntry.objects.values_list("reference", flat=True)) == ["late-ok"]


def test_revenue_in_other_units_or_for_fixed_pools_is_not_refused(make_distributor, tmp_path):
    make_distributor()  # a fixed pool: revenue does not feed it
    make_distributor(pool_resolver="revenueShare", pool_percent_bp=1000, pool_amount=0, units="EUR")
    run_engine("--now", "2026-02-15T00:00:00Z")
    _import(tmp_path, "5.00,USD,2026-01-20T12:00:00Z,usd-jan\n")
    assert RevenueEntry.objects.count() == 1
