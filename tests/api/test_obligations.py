"""GET /obligations and /obligations/{id}: fields, filters (status, collaborator id or alias, distribution)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.helpers import BASE, seed_distributions
from tests.factories import AllocationFactory, CollaboratorAliasFactory, CollaboratorFactory, ObligationFactory

pytestmark = pytest.mark.django_db

CORE = {"id", "collaboratorId", "value", "units", "status", "awardType", "dateCreated", "dateModified"}
EXTENDED = {"description", "collaboratorName", "distributionId", "allocationId", "payoutId", "releaseAt", "history"}


@pytest.fixture
def world(organization):
    ada = CollaboratorFactory(organization=organization, full_name="Ada")
    CollaboratorAliasFactory(collaborator=ada, type="tracking", code="ADA:1")
    bob = CollaboratorFactory(organization=organization, full_name="Bob")
    manual = ObligationFactory(organization=organization, collaborator=ada, value=700, description="Bonus")
    allocation = AllocationFactory(
        distribution__distributor__organization=organization, collaborator=bob, value=300, obligation__value=300
    )
    approved = ObligationFactory(organization=organization, collaborator=bob, value=50, status="approved")
    return {
        "ada": ada,
        "bob": bob,
        "manual": manual,
        "allocated": allocation.obligation,
        "approved": approved,
        "allocation": allocation,
    }


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()]


def test_core_fields(api, world):
    body = api.get(f"{BASE}/obligations").json()
    assert [set(row) for row in body] == [CORE] * 3
    manual = body[-1]
    assert (manual["collaboratorId"], manual["value"], manual["units"], manual["status"], manual["awardType"]) == (
        world["ada"].pk,
        700,
        "USD",
        "pending",
        "manual",
    )


def test_extended_fields(api, world):
    body = {row["id"]: row for row in api.get(f"{BASE}/obligations", {"include": "extended"}).json()}
    assert all(set(row) == CORE | EXTENDED for row in body.values())
    manual, allocated = body[world["manual"].pk], body[world["allocated"].pk]
    assert (manual["description"], manual["collaboratorName"], manual["distributionId"], manual["allocationId"]) == (
        "Bonus",
        "Ada",
        None,
        None,
    )
    assert allocated["distributionId"] == world["allocation"].distribution_id
    assert allocated["allocationId"] == world["allocation"].pk
    assert allocated["awardType"] == "distribution"
    assert set(api.get(f"{BASE}/obligations", {"fields": "payoutId"}).json()[0]) == {"id", "payoutId"}


def test_detail(api, world):
    pk = world["manual"].pk
    assert set(api.get(f"{BASE}/obligations/{pk}").json()) == CORE
    assert api.get(f"{BASE}/obligations/{pk}", {"fields": "collaboratorName"}).json() == {
        "id": pk,
        "collaboratorName": "Ada",
    }
    assert api.get(f"{BASE}/obligations/{pk + 100}").status_code == 404


def test_filter_status(api, world):
    assert ids(api.get(f"{BASE}/obligations", {"status": "approved"})) == [world["approved"].pk]
    assert api.get(f"{BASE}/obligations", {"status": "paid"}).status_code == 400


def test_filter_collaborator_by_id_or_alias(api, world):
    assert ids(api.get(f"{BASE}/obligations", {"collaboratorId": world["bob"].pk})) == [
        world["approved"].pk,
        world["allocated"].pk,
    ]
    assert ids(api.get(f"{BASE}/obligations", {"collaboratorId": "tracking:ADA:1"})) == [world["manual"].pk]
    assert ids(api.get(f"{BASE}/obligations", {"collaboratorId": "tracking:NOPE"})) == []


@pytest.mark.parametrize("value", ["nope", ":x", "tracking:", "0", "99999999999999999999", "tracking:\x00"])
def test_filter_bad_collaborator_is_400(api, world, value):
    response = api.get(f"{BASE}/obligations", {"collaboratorId": value})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["collaboratorId"]


def test_filter_distribution(api, world):
    assert ids(api.get(f"{BASE}/obligations", {"distributionId": world["allocation"].distribution_id})) == [
        world["allocated"].pk
    ]
    assert api.get(f"{BASE}/obligations", {"distributionId": "x"}).status_code == 400


@pytest.mark.parametrize("order_by", ["id", "status", "value", "collaboratorId", "dateCreated"])
@pytest.mark.parametrize("order", ["asc", "DESC"])
def test_ordering(api, world, order_by, order):
    rows = [world["manual"], world["allocated"], world["approved"]]
    key = {
        "id": lambda o: o.pk,
        "status": lambda o: o.status,
        "value": lambda o: o.value,
        "collaboratorId": lambda o: o.collaborator_id,
        "dateCreated": lambda o: o.created_at,
    }[order_by]
    expected = sorted(rows, key=lambda o: (key(o), o.pk), reverse=order.upper() == "DESC")
    assert ids(api.get(f"{BASE}/obligations", {"orderBy": order_by, "order": order})) == [o.pk for o in expected]


def test_a_page_of_1_costs_the_same_queries_as_a_page_of_100(api, organization):
    seed_distributions(organization, 60, allocations_per=2)
    api.get(f"{BASE}/obligations")
    counts = []
    for number in (1, 100):
        with CaptureQueriesContext(connection) as context:
            response = api.get(f"{BASE}/obligations", {"include": "extended", "number": number})
        assert len(response.json()) == number
        counts.append(len(context.captured_queries))
    assert counts == [4, 4]  # key lookup, page (joins on its rows only), history, bounded total


def test_status_types(api):
    body = api.get(f"{BASE}/obligations/status-types").json()
    assert [row["value"] for row in body] == ["pending", "approved", "fulfilled", "rejected", "cancelled"]
    assert all(row["label"] and row["description"] for row in body)
