"""Tenant isolation: two organizations with overlapping data (same names, emails, alias codes, schedules and
trigger dates, both triggered by the real engine). Organization A's key walks every GET endpoint of the schema,
every page, every id and every filter value of organization B: it never sees B's data."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import caches
from django.core.management import call_command

from collaborators.models import Collaborator
from distributions.models import Allocation, Distribution
from distributions.services import distribution_open_first
from distributors.models import Distributor
from metrics.models import MetricCredit
from metrics.services import metric_credit
from obligations.models import Obligation
from tests.api.helpers import client_for
from tests.factories import (
    ApiKeyFactory,
    CollaboratorAliasFactory,
    CollaboratorFactory,
    DistributorFactory,
    OrganizationFactory,
)

pytestmark = pytest.mark.django_db

ID_KEYS = {"id", "distributorId", "collaboratorId", "obligationId", "distributionId"}


def build_tenant(slug: str):
    organization = OrganizationFactory(slug=slug, name="Same name", timezone="Europe/Paris")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    distributors = [
        DistributorFactory(organization=organization, name="Shared pool", starts_at=start, metric_types={"manual": 1}),
        DistributorFactory(
            organization=organization,
            name="Top",
            starts_at=start,
            distribution_resolver="topScoreWins",
            metric_types={"manual": 2},
        ),
    ]
    for distributor in distributors:
        distribution_open_first(distributor=distributor)
    for n in range(3):
        collaborator = CollaboratorFactory(organization=organization, email=f"same{n}@example.com")
        CollaboratorAliasFactory(collaborator=collaborator, organization=organization, code=f"SAME{n}")
        for day in range(1, 4 + n):
            metric_credit(
                organization=organization,
                collaborator=collaborator,
                source="command",
                quantity=day,
                now=start + timedelta(days=day, hours=n),
            )
    return organization


def walk_ids(value, found):
    """Collect every (key, id) pair anywhere in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ID_KEYS and isinstance(item, int):
                found.add((key, item))
            walk_ids(item, found)
    elif isinstance(value, list):
        for item in value:
            walk_ids(item, found)
    return found


def ids_of(organization) -> dict[str, set[int]]:
    return {
        "distributorId": set(Distributor.objects.filter(organization=organization).values_list("pk", flat=True)),
        "collaboratorId": set(Collaborator.objects.filter(organization=organization).values_list("pk", flat=True)),
        "distributionId": set(Distribution.objects.filter(organization=organization).values_list("pk", flat=True)),
        "obligationId": set(Obligation.objects.filter(organization=organization).values_list("pk", flat=True)),
        "allocationId": set(Allocation.objects.filter(organization=organization).values_list("pk", flat=True)),
    }


RESOURCE_IDS = {"distributions": "distributionId", "distributors": "distributorId", "obligations": "obligationId"}


def test_organization_a_never_sees_organization_b(settings):
    settings.API_THROTTLE_RATE = "off"
    for store in caches.all():
        store.clear()
    mine, theirs = build_tenant("alpha"), build_tenant("beta")
    call_command(
        "run_distributions", "--now", "2026-03-15T00:00:00Z", "--json", stdout=io.StringIO(), stderr=io.StringIO()
    )
    assert (
        Allocation.objects.filter(organization=theirs).exists()
        and Allocation.objects.filter(organization=mine).exists()
    )
    api = client_for(ApiKeyFactory(organization=mine, scopes=["read", "metrics:write"]))
    mine_ids, their_ids = ids_of(mine), ids_of(theirs)

    schema = api.get("/api/v1/schema/?format=json", HTTP_ACCEPT="application/json").json()
    list_paths = [p for p, ops in schema["paths"].items() if "get" in ops and "{" not in p]
    detail_paths = [p for p, ops in schema["paths"].items() if "get" in ops and "{id}" in p]
    # The three objects, and one distribution's standings and allocations (``/distributions/{id}/...``).
    assert {p.rsplit("/", 1)[-1] for p in detail_paths} == {"{id}", "standings", "allocations"}
    assert len(detail_paths) == 5
    requests = 0

    # Every list, every page, everything extended: only my ids, anywhere in the document.
    for path in list_paths:
        offset = 0
        declared = {parameter["name"] for parameter in schema["paths"][path]["get"].get("parameters", [])}
        while True:
            # Only what the operation declares: anything else is a 400 (unknown query parameters are refused).
            wanted = {"include": "extended", "number": 100, "offset": offset}
            response = api.get(path, {name: value for name, value in wanted.items() if name in declared})
            requests += 1
            assert response.status_code == 200, (path, response.content)
            body = response.json()
            for key, value in walk_ids(body, set()):
                if key == "id":
                    continue
                assert value not in their_ids[key] or value in mine_ids[key], (path, key, value)
            if not isinstance(body, list) or len(body) < 100:
                break
            offset += 100
        resource = path.rstrip("/").split("/")[3]
        if resource in RESOURCE_IDS and isinstance(body, list) and path.count("/") == 3:
            listed = {row["id"] for row in body}
            assert listed <= mine_ids[RESOURCE_IDS[resource]] and listed.isdisjoint(their_ids[RESOURCE_IDS[resource]])

    # Every id of theirs, on every detail endpoint: 404, never 403, never data. Every id of mine: only my ids.
    for path in detail_paths:
        resource = path.split("/")[3]
        declared = {parameter["name"] for parameter in schema["paths"][path]["get"].get("parameters", [])}
        params = {name: value for name, value in {"include": "extended", "number": 100}.items() if name in declared}
        for their_id in their_ids[RESOURCE_IDS[resource]]:
            response = api.get(path.replace("{id}", str(their_id)), params)
            requests += 1
            assert response.status_code == 404, (path, their_id, response.content)
            assert set(response.json()) == {"message"}
        for my_id in mine_ids[RESOURCE_IDS[resource]]:
            response = api.get(path.replace("{id}", str(my_id)), params)
            requests += 1
            assert response.status_code in (200, 409), (path, my_id, response.content)  # 409: a cancelled period
            for key, value in walk_ids(response.json(), set()):
                if key != "id":
                    assert value not in their_ids[key] or value in mine_ids[key], (path, key, value)

    # Every id-valued filter (api/filters.py): each of their ids is a valid id that matches nothing in my
    # organization, so 200 with an empty page (never a 400, which would tell "exists elsewhere" apart); one of
    # mine matches (the filter is applied); an id out of range is a 400 naming the filter.
    filters = {
        "/api/v1/distributions": {"distributorId": "distributorId"},
        "/api/v1/obligations": {"collaboratorId": "collaboratorId", "distributionId": "distributionId"},
    }
    for path, by_filter in filters.items():
        for name, kind in by_filter.items():
            for value in their_ids[kind]:
                response = api.get(path, {name: value, "include": "extended"})
                requests += 1
                assert response.status_code == 200, (path, name, value, response.content)
                assert response.json() == [] and response["X-Total-Count"] == "0", (path, name, value)
            mine_id = min(mine_ids[kind])
            response = api.get(path, {name: mine_id})
            requests += 1
            assert response.status_code == 200 and int(response["X-Total-Count"]) >= 1, (path, name, response.content)
            for out_of_range in (0, 2**63):
                response = api.get(path, {name: out_of_range})
                requests += 1
                assert response.status_code == 400, (path, name, out_of_range, response.content)
                assert name in response.json()["errors"], (path, name, response.content)

    # Crediting: their collaborator is unknown; a shared alias code credits my collaborator only.
    credits_before = MetricCredit.objects.filter(organization=theirs).count()
    for their_collaborator in their_ids["collaboratorId"]:
        response = api.post("/api/v1/distributors/credit-metric", {"collaboratorId": their_collaborator}, format="json")
        requests += 1
        assert response.status_code == 404, response.content
    for their_distributor in their_ids["distributorId"]:
        response = api.post(
            "/api/v1/distributors/credit-metric",
            {"collaboratorId": "tracking:SAME0", "distributorId": their_distributor},
            format="json",
        )
        requests += 1
        # The collaborator is mine; their distributor is not one of mine: a 400 on distributorId (as for an
        # unknown id), not a 404 that would single it out.
        assert response.status_code == 400, response.content
        assert set(response.json()["errors"]) == {"distributorId"}, response.content
    response = api.post("/api/v1/distributors/credit-metric", {"collaboratorId": "tracking:SAME0"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["collaboratorId"] in mine_ids["collaboratorId"]
    assert MetricCredit.objects.filter(organization=theirs).count() == credits_before
    print(f"tenant isolation: {requests} requests, {sum(map(len, their_ids.values()))} foreign ids, no leak")
