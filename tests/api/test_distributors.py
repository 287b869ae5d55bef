"""GET /distributors and /distributors/{id}: fields, extended fields, filters, search, ordering, queries."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from distributions.services import distribution_open_first
from distributors.models import MetricType
from tests.api.helpers import BASE
from tests.factories import CollaboratorFactory, DistributorFactory

pytestmark = pytest.mark.django_db

CORE = {
    "id",
    "name",
    "description",
    "status",
    "units",
    "poolType",
    "poolAmount",
    "distributionType",
    "dateCreated",
    "dateModified",
}
EXTENDED = {
    "poolPercentBp",
    "eligibility",
    "schedule",
    "startsAt",
    "collaboratorCount",
    "metricTypes",
    "nextTriggerDates",
    "currentDistribution",
}


@pytest.fixture
def world(organization, other_organization):
    active = [CollaboratorFactory(organization=organization) for _ in range(3)]
    inactive = CollaboratorFactory(organization=organization, status="inactive")
    CollaboratorFactory(organization=other_organization)  # never counted
    monthly = DistributorFactory(
        organization=organization,
        name="Monthly sales",
        description="Top sellers",
        metric_types={"manual": 1, "sale": 5},
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    distribution_open_first(distributor=monthly)
    selected = DistributorFactory(
        organization=organization,
        name="Weekly picks",
        description="Hand-picked crew",
        schedule="weekly",
        eligibility="selected",
        status="inactive",
    )
    selected.eligible_collaborators.set([active[0], inactive])
    deleted = DistributorFactory(organization=organization, name="Old", status="deleted")
    return {"monthly": monthly, "selected": selected, "deleted": deleted, "active": active}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()]


def test_list_core_fields_and_deleted_left_out(api, world):
    response = api.get(f"{BASE}/distributors")
    body = response.json()
    assert [set(row) for row in body] == [CORE] * 2
    assert [row["id"] for row in body] == [world["selected"].pk, world["monthly"].pk]
    assert response["X-Total-Count"] == "2"
    monthly = body[1]
    assert (monthly["name"], monthly["status"], monthly["units"], monthly["poolType"], monthly["poolAmount"]) == (
        "Monthly sales",
        "active",
        "USD",
        "fixed",
        100_000,
    )
    assert monthly["distributionType"] == "performanceSharedPool"


def test_deleted_are_listed_on_request_and_have_a_detail(api, world):
    assert ids(api.get(f"{BASE}/distributors", {"status": "deleted"})) == [world["deleted"].pk]
    assert api.get(f"{BASE}/distributors/{world['deleted'].pk}").json()["status"] == "deleted"


def test_include_extended(api, world, organization):
    body = {row["id"]: row for row in api.get(f"{BASE}/distributors", {"include": "extended"}).json()}
    monthly, selected = body[world["monthly"].pk], body[world["selected"].pk]
    assert set(monthly) == CORE | EXTENDED
    assert monthly["collaboratorCount"] == 3  # every active collaborator of the organization
    assert selected["collaboratorCount"] == 1  # only the selected ones who are active
    assert monthly["metricTypes"] == [{"name": "manual", "points": 1}, {"name": "sale", "points": 5}]
    assert monthly["schedule"] == "monthly" and monthly["eligibility"] == "allActive"
    assert monthly["startsAt"] == "2026-01-01T00:00:00Z"
    pending = world["monthly"].distributions.get(status="pending")
    assert monthly["currentDistribution"] == {
        "id": pending.pk,
        "triggerDate": pending.trigger_date.isoformat().replace("+00:00", "Z"),
        "periodStart": "2026-01-01T00:00:00Z",
    }
    assert selected["currentDistribution"] is None
    dates = monthly["nextTriggerDates"]
    assert len(dates) == 5 and dates == sorted(dates)
    assert all(d.endswith("-01T00:00:00Z") for d in dates)  # first of the month, UTC organization
    assert selected["nextTriggerDates"] == []  # inactive: does not trigger


def test_next_trigger_dates_follow_the_organization_time_zone(api, organization):
    organization.timezone = "Europe/Paris"
    organization.save()
    distributor = DistributorFactory(organization=organization, schedule="daily")
    body = api.get(f"{BASE}/distributors/{distributor.pk}", {"fields": "nextTriggerDates"}).json()
    assert all(d[11:] in ("23:00:00Z", "22:00:00Z") for d in body["nextTriggerDates"])


def test_fields_selects_exactly(api, world):
    body = api.get(f"{BASE}/distributors", {"fields": "name,metricTypes"}).json()
    assert [set(row) for row in body] == [{"id", "name", "metricTypes"}] * 2
    response = api.get(f"{BASE}/distributors", {"fields": "name,poolSize"})
    assert response.status_code == 400
    assert "collaboratorCount" in response.json()["errors"]["fields"][0]


def test_filter_status(api, world):
    assert ids(api.get(f"{BASE}/distributors", {"status": "active"})) == [world["monthly"].pk]
    assert ids(api.get(f"{BASE}/distributors?status=inactive&status=deleted")) == [
        world["deleted"].pk,
        world["selected"].pk,
    ]
    assert api.get(f"{BASE}/distributors", {"status": "archived"}).status_code == 400


@pytest.mark.parametrize(
    ("s", "expected"), [("monthly", ["monthly"]), ("CREW", ["selected"]), ("e", ["selected", "monthly"]), ("zz", [])]
)
def test_search_name_and_description(api, world, s, expected):
    assert ids(api.get(f"{BASE}/distributors", {"s": s})) == [world[name].pk for name in expected]


@pytest.mark.parametrize("order_by", ["id", "name", "status", "dateCreated"])
@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_ordering(api, world, order_by, order):
    rows = [world["monthly"], world["selected"]]
    key = {
        "id": lambda d: d.pk,
        "name": lambda d: d.name,
        "status": lambda d: d.status,
        "dateCreated": lambda d: d.created_at,
    }[order_by]
    expected = sorted(rows, key=lambda d: (key(d), d.pk), reverse=order == "DESC")
    assert ids(api.get(f"{BASE}/distributors", {"orderBy": order_by, "order": order})) == [d.pk for d in expected]
    assert api.get(f"{BASE}/distributors", {"orderBy": "units"}).status_code == 400


def test_a_page_of_1_costs_the_same_queries_as_a_page_of_100(api, organization):
    for i in range(110):
        distributor = DistributorFactory(organization=organization, metric_types={})
        MetricType.objects.create(distributor=distributor, name="manual", points=i + 1)
        distribution_open_first(distributor=distributor)
    api.get(f"{BASE}/distributors")
    counts = []
    for number in (1, 100):
        with CaptureQueriesContext(connection) as context:
            response = api.get(f"{BASE}/distributors", {"include": "extended", "number": number})
        assert len(response.json()) == number
        counts.append(len(context.captured_queries))
    # key lookup, page (collaboratorCount is a subquery), bounded total, metric types, current distributions
    assert counts == [5, 5]


def test_status_types(api):
    body = api.get(f"{BASE}/distributors/status-types").json()
    assert [row["value"] for row in body] == ["active", "inactive", "deleted"]
