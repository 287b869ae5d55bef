"""GET /distributions/{id}/standings, and the ``trace`` of allocations: what a trigger would write now (then
compared with what it writes), paging, tenancy, scope, states, flat query counts."""

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from distributions.models import Distribution
from tests.api.helpers import BASE, client_for
from tests.distributions.helpers import at, credit, run_engine
from tests.factories import AllocationFactory, ApiKeyFactory, DistributionFactory, DistributorFactory

pytestmark = pytest.mark.django_db


def standings_url(distribution) -> str:
    return f"{BASE}/distributions/{distribution.pk}/standings"


@pytest.fixture
def open_period(organization, make_distributor, make_collaborators):
    """A pending period with 5 scorers, the first two tied on score and first credit, a pool of 10.01 USD."""
    distributor = make_distributor(pool_amount=1_001, distribution_resolver="performanceSharedPool")
    people = make_collaborators(5)
    for person, points, day in zip(people, [5, 5, 4, 3, 3], [3, 3, 4, 5, 6], strict=True):
        credit(person, distributor, points, at(f"2026-01-{day:02d}T00:00:00Z"))
    return Distribution.objects.get(distributor=distributor, status="pending"), people


def test_standings_of_the_open_period(api, open_period):
    distribution, people = open_period
    response = api.get(standings_url(distribution), {"number": 100})
    assert response.status_code == 200, response.content
    body = response.json()
    assert response["X-Total-Count"] == "5" and response["X-Standings-Pool"] == "1001"
    assert response["X-Standings-As-Of"].endswith("Z")
    assert "X-Standings-Pool" in response["Access-Control-Expose-Headers"]
    assert [row["collaboratorId"] for row in body] == [p.pk for p in people]
    first = body[0]
    assert set(first) == {"rank", "collaboratorId", "collaboratorName", "score", "value", "sharePercent", "trace"}
    # 1001 x 5/20 = 250.25 for each of the two tied at the top: the one unit left goes to the lower id.
    assert (first["rank"], first["score"], first["value"], first["sharePercent"]) == (1, 5, 251, 25.0749)
    assert first["collaboratorName"] == people[0].full_name
    assert first["trace"] == {
        "shareNumerator": 5,
        "shareDenominator": 20,
        "exactValue": "250.250000",
        "floorValue": 250,
        "remainder": 5,
        "roundingUnit": True,
        "tieBreak": "collaboratorId",
    }
    assert body[1]["trace"]["roundingUnit"] is False and body[1]["trace"]["tieBreak"] == "collaboratorId"
    # 200.2, 150.15 and 150.15: smaller remainders than 0.25, no unit left for them.
    assert [(row["trace"]["roundingUnit"], row["trace"]["tieBreak"]) for row in body[2:]] == [(False, "remainder")] * 3
    assert sum(row["value"] for row in body) == 1_001


def test_standings_equal_what_the_trigger_then_writes(api, open_period):
    distribution, _ = open_period
    preview = api.get(standings_url(distribution), {"number": 100}).json()
    run_engine("--now", "2026-02-01T00:00:00Z")  # right after
    final = api.get(standings_url(distribution), {"number": 100})
    assert final.status_code == 200
    assert final.json() == preview  # same rows, values, ranks and trace, now from the stored allocations
    allocations = api.get(f"{BASE}/distributions/{distribution.pk}", {"fields": "allocations"}).json()["allocations"]
    assert [(a["collaboratorId"], a["value"], a["score"], a["rank"], a["trace"]) for a in allocations] == [
        (row["collaboratorId"], row["value"], row["score"], row["rank"], row["trace"]) for row in preview
    ]


def test_standings_are_paged(api, organization, make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=100_000)
    for index, person in enumerate(make_collaborators(25)):
        credit(person, distributor, 100 - index, at("2026-01-05T00:00:00Z"))
    distribution = Distribution.objects.get(distributor=distributor, status="pending")
    first = api.get(standings_url(distribution), {"number": 10})
    assert [row["rank"] for row in first.json()] == list(range(1, 11))
    assert first["X-Total-Count"] == "25" and 'rel="next"' in first["Link"] and 'rel="prev"' not in first["Link"]
    last = api.get(standings_url(distribution), {"number": 10, "offset": 20})
    assert [row["rank"] for row in last.json()] == list(range(21, 26))
    assert 'rel="prev"' in last["Link"] and 'rel="next"' not in last["Link"]
    assert api.get(standings_url(distribution), {"offset": 100}).json() == []
    assert len(api.get(standings_url(distribution)).json()) == 10  # the default page


@pytest.mark.parametrize("params", [{"number": "0"}, {"offset": "-1"}, {"number": "x"}])
def test_bad_paging_is_a_400(api, open_period, params):
    response = api.get(standings_url(open_period[0]), params)
    assert response.status_code == 400 and set(response.json()["errors"]) == set(params)


def test_another_organizations_distribution_is_a_404(other_api, api, open_period):
    response = other_api.get(standings_url(open_period[0]))
    assert response.status_code == 404 and set(response.json()) == {"message"}
    assert api.get(f"{BASE}/distributions/999999/standings").status_code == 404


def test_standings_need_the_read_scope(organization, open_period, anon):
    writer = client_for(ApiKeyFactory(organization=organization, scopes=["metrics:write"]))
    assert writer.get(standings_url(open_period[0])).status_code == 403
    assert anon.get(standings_url(open_period[0])).status_code == 401


def test_a_cancelled_distribution_is_a_409(api, organization):
    distribution = DistributionFactory(distributor=DistributorFactory(organization=organization), status="cancelled")
    response = api.get(standings_url(distribution))
    assert response.status_code == 409
    assert response.json() == {
        "message": f"Distribution {distribution.pk} was cancelled (its distributor was deleted): it has no standings."
    }


def test_a_period_triggered_before_traces_has_its_allocations_without_trace(api, organization, ada, alan):
    distribution = DistributionFactory(
        distributor=DistributorFactory(organization=organization),
        status="complete",
        pool=1_500,
        value=1_500,
        triggered_at=datetime(2026, 2, 1, tzinfo=UTC),
    )
    AllocationFactory(distribution=distribution, collaborator=ada, value=1_000, score=20, rank=1)
    AllocationFactory(distribution=distribution, collaborator=alan, value=500, score=10, rank=2)
    response = api.get(standings_url(distribution))
    assert response["X-Standings-As-Of"] == "2026-02-01T00:00:00Z"
    assert [(row["value"], row["sharePercent"], row["trace"]) for row in response.json()] == [
        (1_000, 66.6667, None),
        (500, 33.3333, None),
    ]


def test_standings_are_cached_until_a_new_credit(api, open_period, make_collaborators):
    distribution, _people = open_period
    url = standings_url(distribution)
    cache.clear()
    as_of = api.get(url)["X-Standings-As-Of"]
    assert api.get(url)["X-Standings-As-Of"] == as_of  # the cached plan
    [newcomer] = make_collaborators(1)
    credit(newcomer, distribution.distributor, 9, at("2026-01-07T00:00:00Z"))
    response = api.get(url)
    assert response["X-Standings-As-Of"] != as_of and response["X-Total-Count"] == "6"
    assert response.json()[0]["collaboratorId"] == newcomer.pk


def _queries(client, url, params) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(context.captured_queries), len(response.json())


def test_query_counts_are_flat(api, organization, make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=100_000)
    for index, person in enumerate(make_collaborators(120)):
        credit(person, distributor, 1 + index % 7, at("2026-01-05T00:00:00Z"))
    distribution = Distribution.objects.get(distributor=distributor, status="pending")
    url = standings_url(distribution)
    api.get(url)  # the first request of a key records last_used_at

    def cold(number):
        cache.clear()
        return _queries(api, url, {"number": number})

    assert cold(1)[0] == cold(100)[0]  # computed: key, distribution, marks, plan reads, names
    warm_small, warm_large = _queries(api, url, {"number": 1}), _queries(api, url, {"number": 100})
    assert (warm_small[1], warm_large[1]) == (1, 100)
    assert warm_small[0] == warm_large[0] == 4  # key, distribution, high-water marks, names of the page
    run_engine("--now", "2026-02-01T00:00:00Z")
    final_small, final_large = _queries(api, url, {"number": 1}), _queries(api, url, {"number": 100})
    assert final_small[0] == final_large[0] == 4  # key, distribution, counts, page (names joined)


def test_allocations_carry_their_trace_without_extra_queries(api, open_period):
    distribution, _ = open_period
    run_engine("--now", "2026-02-01T00:00:00Z")
    api.get(f"{BASE}/distributions")
    with CaptureQueriesContext(connection) as context:
        row = api.get(f"{BASE}/distributions/{distribution.pk}", {"include": "extended"}).json()
    assert len(context.captured_queries) == 4  # key, row, history, allocations (the trace joins the distribution)
    assert [a["trace"]["tieBreak"] for a in row["allocations"]] == [
        "collaboratorId",
        "collaboratorId",
        "remainder",
        "remainder",
        "remainder",
    ]
    only = api.get(f"{BASE}/distributions/{distribution.pk}", {"fields": "allocations"}).json()
    assert set(only) == {"id", "allocations"} and all("trace" in a for a in only["allocations"])
    for allocation in only["allocations"]:
        trace = allocation["trace"]
        assert allocation["value"] == trace["floorValue"] + trace["roundingUnit"]
        assert trace["floorValue"] * trace["shareDenominator"] + trace["remainder"] == 1_001 * trace["shareNumerator"]


def test_rules_that_cannot_be_applied_are_a_409_not_a_500(api, admin_client, open_period):
    distribution, _ = open_period
    type(distribution.distributor).objects.filter(pk=distribution.distributor_id).update(
        distribution_resolver="topN",
        top_n_weights=[50, 20],  # no longer sums to 100 (not through the admin)
    )
    response = api.get(standings_url(distribution))
    assert response.status_code == 409
    assert "cannot be planned with its distributor's rules: topN weights must sum to 100" in response.json()["message"]
    page = admin_client.get(f"/admin/distributions/distribution/{distribution.pk}/change/")
    assert page.status_code == 200 and b"cannot be planned" in page.content
