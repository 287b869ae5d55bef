"""GET /distributions/{id}/allocations: a distribution's allocations, paged like every list, tenant scoped."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.fields import ResolveContext
from distributions.api import serializers
from obligations.models import Obligation
from tests.api.helpers import BASE, seed_distributions
from tests.factories import AllocationFactory, CollaboratorAliasFactory

pytestmark = pytest.mark.django_db

KEYS = {"id", "distributionId", "obligationId", "collaboratorId", "status", "value", "score", "rank", "trace"}


def url(distribution) -> str:
    return f"{BASE}/distributions/{distribution.pk}/allocations"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()]


def next_params(response) -> dict | None:
    for link, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.get("Link", "")):
        if rel == "next":
            return {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
    return None


@pytest.fixture
def big(organization):
    """One distribution with 30 allocations (ranks 1..30) and another of the same organization with 2."""
    (distribution,) = seed_distributions(organization, 1, allocations_per=30)
    seed_distributions(organization, 1, allocations_per=2)
    return distribution


def test_lists_the_distributions_allocations_newest_first(api, big):
    response = api.get(url(big))
    expected = sorted(big.allocations.values_list("id", flat=True), reverse=True)
    assert ids(response) == expected[:10]
    assert response["X-Total-Count"] == "30"
    assert next_params(response) == {"number": "10", "after": str(expected[9])}
    assert all(set(row) == KEYS for row in response.json())


def test_rows_are_the_embedded_allocations_shape(api, organization):
    allocation = AllocationFactory(distribution__distributor__organization=organization, obligation__status="approved")
    [row] = api.get(url(allocation.distribution)).json()
    assert row == {
        "id": allocation.pk,
        "distributionId": allocation.distribution_id,
        "obligationId": allocation.obligation_id,
        "collaboratorId": allocation.collaborator_id,
        "status": "approved",
        "value": allocation.value,
        "score": allocation.score,
        "rank": allocation.rank,
        "trace": None,
    }
    embedded = api.get(f"{BASE}/distributions/{allocation.distribution_id}", {"fields": "allocations"}).json()
    assert embedded["allocations"] == [row]


def test_fields_and_include(api, big):
    body = api.get(url(big), {"fields": "rank,status", "number": 3}).json()
    assert [set(row) for row in body] == [{"id", "rank", "status"}] * 3
    assert all(set(row) == KEYS for row in api.get(url(big), {"include": "extended"}).json())
    response = api.get(url(big), {"fields": "rank,nope"})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["fields"]


def test_order_by_rank_walks_every_allocation_once(api, big):
    seen, params = [], {"orderBy": "rank", "order": "ASC", "number": 7}
    while params is not None:
        response = api.get(url(big), params)
        seen += [(row["rank"], row["id"]) for row in response.json()]
        params = next_params(response)
    assert seen == sorted(big.allocations.values_list("rank", "id"))


def test_filters(api, big):
    first = big.allocations.order_by("rank").first()
    Obligation.objects.filter(pk=first.obligation_id).update(status="approved")
    assert ids(api.get(url(big), {"status": "approved"})) == [first.pk]
    assert ids(api.get(url(big), {"collaboratorId": first.collaborator_id})) == [first.pk]
    CollaboratorAliasFactory(collaborator=first.collaborator, code="REF-1")
    assert ids(api.get(url(big), {"collaboratorId": "tracking:REF-1"})) == [first.pk]
    assert ids(api.get(url(big), {"collaboratorId": "tracking:NOBODY"})) == []
    response = api.get(url(big), {"status": "paid"})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["status"]


def test_offset_and_after_page_the_same_rows(api, big):
    by_offset = ids(api.get(url(big), {"number": 5, "offset": 20}))
    cursor = ids(api.get(url(big), {"number": 5, "offset": 15}))[-1]
    assert ids(api.get(url(big), {"number": 5, "after": cursor})) == by_offset


def test_bad_parameters_are_reported_together(api, big):
    response = api.get(url(big), {"number": "0", "after": "x", "orderBy": "triggerDate", "status": "paid"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"number", "after", "orderBy", "status"}
    unknown = api.get(url(big), {"distributorId": "1"})  # a distributions filter, not an allocations one
    assert unknown.status_code == 400 and list(unknown.json()["errors"]) == ["distributorId"]


def test_another_organizations_distribution_is_404(api, other_api, big):
    assert other_api.get(url(big)).status_code == 404
    missing = api.get(f"{BASE}/distributions/987654/allocations")
    assert missing.status_code == 404 and missing.json() == {"message": "Distribution 987654 not found."}


def test_a_distribution_without_allocations_is_an_empty_list(api, organization):
    (distribution,) = seed_distributions(organization, 1, allocations_per=0)
    response = api.get(url(distribution))
    assert response.json() == [] and response["X-Total-Count"] == "0" and "Link" not in response


# -- query counts --------------------------------------------------------------------------------------------


def count_queries(api, distribution, params) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as context:
        response = api.get(url(distribution), params)
    assert response.status_code == 200, response.content
    return len(context.captured_queries), len(response.json())


def test_a_page_of_1_and_of_50_cost_the_same_queries(api, organization):
    (distribution,) = seed_distributions(organization, 1, allocations_per=60)
    api.get(url(distribution))  # the key's first use records last_used_at
    for params in ({}, {"include": "extended"}, {"orderBy": "rank", "order": "ASC"}):
        small = count_queries(api, distribution, params | {"number": 1})
        large = count_queries(api, distribution, params | {"number": 50})
        assert (small[1], large[1]) == (1, 50)
        assert small[0] == large[0] == 4, params  # key lookup, distribution exists, page, bounded total


def test_offset_0_and_a_deep_offset_or_cursor_cost_the_same_queries(api, organization):
    (distribution,) = seed_distributions(organization, 1, allocations_per=60)
    api.get(url(distribution))
    cursor = sorted(distribution.allocations.values_list("id", flat=True), reverse=True)[40]
    for params in ({}, {"orderBy": "score"}):
        first = count_queries(api, distribution, params | {"number": 10})
        deep = count_queries(api, distribution, params | {"number": 10, "offset": 45})
        after = count_queries(api, distribution, params | {"number": 10, "after": cursor})
        assert first[0] == deep[0] == after[0], params
        assert first[1] == deep[1] == 10


def test_the_embedded_loader_caps_each_distribution(organization, monkeypatch):
    """One distribution (a detail) or several: at most ``EMBEDDED_ALLOCATIONS`` each, by rank then id."""
    monkeypatch.setattr(serializers, "EMBEDDED_ALLOCATIONS", 2)
    first, second = seed_distributions(organization, 2, allocations_per=3)
    context = ResolveContext(organization_id=organization.pk, now=timezone.now())
    for pks in ([first.pk], [first.pk, second.pk]):
        loaded = serializers.load_allocations(pks, context)
        assert set(loaded) == set(pks)
        for pk, rows in loaded.items():
            assert [(row["distributionId"], row["rank"]) for row in rows] == [(pk, 1), (pk, 2)]
