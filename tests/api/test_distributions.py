"""GET /distributions and /distributions/{id}: fields, filters, ordering, query counts, status types."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.helpers import BASE, seed_distributions
from tests.factories import AllocationFactory, DistributionFactory, DistributorFactory

pytestmark = pytest.mark.django_db

CORE = {"id", "distributorId", "status", "value", "triggerDate", "dateCreated", "dateModified"}
EXTENDED = {
    "distributorName",
    "distributorUnits",
    "periodStart",
    "pool",
    "rolledOver",
    "unallocated",
    "carriedForward",
    "triggeredAt",
    "allocationCount",
    "allocations",
    "history",
}
ALLOCATION_KEYS = {
    "id",
    "distributionId",
    "obligationId",
    "collaboratorId",
    "status",
    "value",
    "score",
    "rank",
    "trace",
}


def at(month: int, day: int = 1) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


@pytest.fixture
def world(organization):
    """Two distributors; three distributions with 2, 1 and 0 allocations."""
    alpha = DistributorFactory(organization=organization, name="Alpha", units="USD")
    beta = DistributorFactory(organization=organization, name="Beta", units="points")
    complete = DistributionFactory(
        distributor=alpha, status="complete", period_start=at(1), trigger_date=at(2), pool=300, value=300
    )
    for rank, value in ((1, 200), (2, 100)):
        AllocationFactory(
            distribution=complete, value=value, rank=rank, score=10 * value, obligation__status="rejected"
        )
    processing = DistributionFactory(
        distributor=alpha, status="processing", period_start=at(2), trigger_date=at(3), pool=500, value=500
    )
    AllocationFactory(distribution=processing, value=500)
    pending = DistributionFactory(distributor=beta, status="pending", period_start=at(3, 15), trigger_date=at(4, 15))
    return {"alpha": alpha, "beta": beta, "complete": complete, "processing": processing, "pending": pending}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()]


def test_list_returns_core_fields_newest_first(api, world):
    response = api.get(f"{BASE}/distributions")
    assert response.status_code == 200
    body = response.json()
    assert [set(row) for row in body] == [CORE] * 3
    assert [row["id"] for row in body] == [world["pending"].pk, world["processing"].pk, world["complete"].pk]
    assert response["X-Total-Count"] == "3"
    assert body[-1] | {"dateCreated": None, "dateModified": None} == {
        "id": world["complete"].pk,
        "distributorId": world["alpha"].pk,
        "status": "complete",
        "value": 300,
        "triggerDate": "2026-02-01T00:00:00Z",
        "dateCreated": None,
        "dateModified": None,
    }


def test_trailing_slash_is_optional(api, world):
    assert ids(api.get(f"{BASE}/distributions/")) == ids(api.get(f"{BASE}/distributions"))
    one = world["complete"].pk
    assert api.get(f"{BASE}/distributions/{one}/").json() == api.get(f"{BASE}/distributions/{one}").json()


def test_fields_selects_exactly_those_plus_id(api, world):
    body = api.get(f"{BASE}/distributions", {"fields": "status,allocationCount"}).json()
    assert [set(row) for row in body] == [{"id", "status", "allocationCount"}] * 3
    assert {row["id"]: row["allocationCount"] for row in body} == {
        world["complete"].pk: 2,
        world["processing"].pk: 1,
        world["pending"].pk: 0,
    }


def test_fields_accepts_spaces_and_repeats(api, world):
    body = api.get(f"{BASE}/distributions?fields=value,%20distributorName&fields=triggerDate").json()
    assert set(body[0]) == {"id", "value", "distributorName", "triggerDate"}


def test_include_extended_returns_everything(api, world):
    """On the list, every field but the embedded ``allocations`` (detail only); the detail has them all."""
    body = api.get(f"{BASE}/distributions", {"include": "extended"}).json()
    assert [set(row) for row in body] == [CORE | EXTENDED - {"allocations"}] * 3
    listed = next(row for row in body if row["id"] == world["complete"].pk)
    assert listed["distributorName"] == "Alpha" and listed["distributorUnits"] == "USD"
    assert listed["periodStart"] == "2026-01-01T00:00:00Z"
    assert listed["pool"] == 300 and listed["unallocated"] == 0 and listed["carriedForward"] == 0
    complete = api.get(f"{BASE}/distributions/{world['complete'].pk}", {"include": "extended"}).json()
    assert set(complete) == CORE | EXTENDED
    assert complete | {"allocations": None} == listed | {"allocations": None}
    assert [set(a) for a in complete["allocations"]] == [ALLOCATION_KEYS] * 2
    assert [(a["rank"], a["value"], a["status"]) for a in complete["allocations"]] == [
        (1, 200, "rejected"),
        (2, 100, "rejected"),
    ]
    allocation = world["complete"].allocations.get(rank=1)
    assert complete["allocations"][0] == {
        "id": allocation.pk,
        "distributionId": world["complete"].pk,
        "obligationId": allocation.obligation_id,
        "collaboratorId": allocation.collaborator_id,
        "status": "rejected",
        "value": 200,
        "score": 2000,
        "rank": 1,
        "trace": None,  # made by hand, like a period triggered before traces were recorded
    }
    pending = api.get(f"{BASE}/distributions/{world['pending'].pk}", {"include": "extended"}).json()
    assert pending["allocations"] == [] and pending["allocationCount"] == 0 and pending["pool"] is None


def test_include_extended_with_fields_still_returns_everything(api, world):
    body = api.get(f"{BASE}/distributions", {"include": "extended", "fields": "status"}).json()
    assert set(body[0]) == CORE | EXTENDED - {"allocations"}


def test_detail_honours_fields(api, world):
    pk = world["complete"].pk
    assert set(api.get(f"{BASE}/distributions/{pk}").json()) == CORE
    assert api.get(f"{BASE}/distributions/{pk}", {"fields": "allocationCount"}).json() == {
        "id": pk,
        "allocationCount": 2,
    }
    assert set(api.get(f"{BASE}/distributions/{pk}", {"include": "extended"}).json()) == CORE | EXTENDED


@pytest.mark.parametrize("path", ["/distributions", "/distributions/1"])
def test_unknown_field_is_400_listing_the_valid_ones(api, world, path):
    response = api.get(BASE + path, {"fields": "status,nope"})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"message", "errors"}
    (message,) = body["errors"]["fields"]
    assert "'nope'" in message
    assert all(name in message for name in CORE | EXTENDED)


def test_unknown_include_is_400(api, world):
    response = api.get(f"{BASE}/distributions", {"include": "everything"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["include"]


def test_detail_of_missing_id_is_404(api, world):
    response = api.get(f"{BASE}/distributions/987654")
    assert response.status_code == 404
    assert response.json() == {"message": "Distribution 987654 not found."}


def test_non_numeric_or_oversized_ids_are_json_404(api, world):
    for pk in ("abc", "9" * 30, "-1"):
        response = api.get(f"{BASE}/distributions/{pk}")
        assert response.status_code == 404
        assert set(response.json()) == {"message"}


# -- filters -------------------------------------------------------------------------------------------------


def test_filter_status(api, world):
    assert ids(api.get(f"{BASE}/distributions", {"status": "processing"})) == [world["processing"].pk]
    both = api.get(f"{BASE}/distributions?status=complete&status=pending")
    assert ids(both) == [world["pending"].pk, world["complete"].pk]


def test_filter_unknown_status_is_400(api, world):
    response = api.get(f"{BASE}/distributions", {"status": "paid"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["status"]


def test_filter_distributor(api, world):
    response = api.get(f"{BASE}/distributions", {"distributorId": world["alpha"].pk})
    assert ids(response) == [world["processing"].pk, world["complete"].pk]
    assert response["X-Total-Count"] == "2"


@pytest.mark.parametrize("value", ["x", "1.5", "0", "-3", "99999999999999999999999"])
def test_filter_bad_distributor_id_is_400(api, world, value):
    response = api.get(f"{BASE}/distributions", {"distributorId": value})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["distributorId"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"triggerDateFrom": "2026-03-01"}, ["pending", "processing"]),
        ({"triggerDateFrom": "2026-03-01T00:00:01Z"}, ["pending"]),
        ({"triggerDateTo": "2026-03-01"}, ["processing", "complete"]),  # a date includes its whole day
        ({"triggerDateTo": "2026-02-28T23:59:59+00:00"}, ["complete"]),
        ({"triggerDateTo": "2026-03-01T02:00:00+02:00"}, ["processing", "complete"]),
        ({"triggerDateFrom": "2026-02-01", "triggerDateTo": "2026-03-31"}, ["processing", "complete"]),
        ({"triggerDateFrom": "2026-02-01T00:00:00"}, ["pending", "processing", "complete"]),  # naive = UTC
    ],
)
def test_filter_trigger_date_range(api, world, params, expected):
    assert ids(api.get(f"{BASE}/distributions", params)) == [world[name].pk for name in expected]


def test_filter_trigger_date_offset_with_unencoded_plus(api, world):
    # '+' in a raw query string decodes to a space; the filter restores it.
    response = api.get(f"{BASE}/distributions?triggerDateTo=2026-03-01T02:00:00+02:00")
    assert ids(response) == [world["processing"].pk, world["complete"].pk]


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "2026-02-01T25:00:00Z",
        "1",
        "\x00",
        "",
        " 2026-03-01",
        "20260301",
    ],
)
def test_filter_bad_dates_are_400(api, world, value):
    for name in ("triggerDateFrom", "triggerDateTo"):
        response = api.get(f"{BASE}/distributions", {name: value})
        assert response.status_code == 400, (name, value)
        assert list(response.json()["errors"]) == [name]


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_filter_dates_past_the_representable_range_are_its_ends(api, world, value):
    """A bound beyond what a datetime can hold in UTC is that end of the range (what the schema allows)."""
    for name in ("triggerDateFrom", "triggerDateTo"):
        response = api.get(f"{BASE}/distributions", {name: value})
        assert response.status_code == 200, (name, value, response.content)


# -- ordering ------------------------------------------------------------------------------------------------

SORT_KEYS = {
    "id": lambda d: d.pk,
    "status": lambda d: d.status,
    "distributorId": lambda d: d.distributor_id,
    "triggerDate": lambda d: d.trigger_date,
    "dateCreated": lambda d: d.created_at,
}


@pytest.mark.parametrize("order_by", list(SORT_KEYS))
@pytest.mark.parametrize("order", ["ASC", "DESC", "asc", "Desc", None])
def test_ordering(api, world, order_by, order):
    params = {"orderBy": order_by} | ({"order": order} if order else {})
    rows = [world[name] for name in ("complete", "processing", "pending")]
    descending = (order or "DESC").upper() == "DESC"
    expected = sorted(rows, key=lambda d: (SORT_KEYS[order_by](d), d.pk), reverse=descending)
    assert ids(api.get(f"{BASE}/distributions", params)) == [d.pk for d in expected]


def test_ordering_uses_id_as_tie_breaker(api, organization):
    distributor = DistributorFactory(organization=organization)
    same = [
        DistributionFactory(distributor=distributor, status="complete", period_start=at(1), trigger_date=at(2 + i))
        for i in range(4)
    ]
    asc = ids(api.get(f"{BASE}/distributions", {"orderBy": "status", "order": "ASC"}))
    desc = ids(api.get(f"{BASE}/distributions", {"orderBy": "status", "order": "DESC"}))
    assert asc == [d.pk for d in same] and desc == asc[::-1]
    paged = [
        ids(api.get(f"{BASE}/distributions", {"orderBy": "status", "number": 1, "offset": i}))[0] for i in range(4)
    ]
    assert paged == desc


@pytest.mark.parametrize(
    ("params", "field"),
    [({"orderBy": "value"}, "orderBy"), ({"orderBy": "trigger_date"}, "orderBy"), ({"order": "up"}, "order")],
)
def test_bad_ordering_is_400(api, world, params, field):
    response = api.get(f"{BASE}/distributions", params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_all_bad_parameters_are_reported_together(api, world):
    response = api.get(
        f"{BASE}/distributions",
        {"number": "x", "offset": "-1", "orderBy": "nope", "order": "sideways", "status": "paid", "fields": "zzz"},
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"number", "offset", "orderBy", "order", "status", "fields"}


# -- query counts --------------------------------------------------------------------------------------------


def count_queries(api, params) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as context:
        response = api.get(f"{BASE}/distributions", params)
    assert response.status_code == 200
    return len(context.captured_queries), len(response.json())


def test_a_page_of_1_costs_the_same_queries_as_a_page_of_100(api, organization):
    seed_distributions(organization, 120, allocations_per=2)
    api.get(f"{BASE}/distributions")  # the first request of a key records last_used_at
    for params in ({"include": "extended"}, {}, {"fields": "distributorName,allocationCount"}):
        small, small_rows = count_queries(api, params | {"number": 1})
        large, large_rows = count_queries(api, params | {"number": 100})
        assert (small_rows, large_rows) == (1, 100)
        assert small == large, params
    # key lookup, page (ids chosen by a subquery, fields loaded for them), bounded total (+ history when extended)
    assert count_queries(api, {"include": "extended", "number": 100})[0] == 4
    assert count_queries(api, {"number": 100})[0] == 3


def test_a_deep_page_costs_the_same_queries_as_the_first(api, organization):
    distributions = seed_distributions(organization, 120, allocations_per=1)
    api.get(f"{BASE}/distributions")
    for params in ({"include": "extended"}, {}, {"orderBy": "triggerDate", "fields": "distributorName"}):
        first, first_rows = count_queries(api, params | {"number": 10})
        deep, deep_rows = count_queries(api, params | {"number": 10, "offset": 105})
        cursor, cursor_rows = count_queries(api, params | {"number": 10, "after": distributions[15].pk})
        assert (first_rows, deep_rows, cursor_rows) == (10, 10, 10)
        assert first == deep == cursor == (4 if "include" in params else 3), params  # extended: + history


def test_the_whole_list_on_one_page_needs_no_count(api, organization):
    seed_distributions(organization, 3)
    api.get(f"{BASE}/distributions")
    with CaptureQueriesContext(connection) as context:
        response = api.get(f"{BASE}/distributions", {"include": "extended"})
    assert len(response.json()) == 3 and response["X-Total-Count"] == "3"
    assert len(context.captured_queries) == 3  # key lookup, page, history


def test_a_page_past_the_end_costs_one_count(api, organization):
    seed_distributions(organization, 3)
    api.get(f"{BASE}/distributions")
    with CaptureQueriesContext(connection) as context:
        response = api.get(f"{BASE}/distributions", {"offset": 10, "include": "extended"})
    assert response.json() == [] and response["X-Total-Count"] == "3"
    assert len(context.captured_queries) == 3  # key lookup, empty page, count


def test_retrieve_costs_a_fixed_number_of_queries(api, organization):
    distribution = seed_distributions(organization, 1, allocations_per=5)[0]
    api.get(f"{BASE}/distributions/{distribution.pk}")
    with CaptureQueriesContext(connection) as context:
        body = api.get(f"{BASE}/distributions/{distribution.pk}", {"include": "extended"}).json()
    assert len(body["allocations"]) == 5
    assert len(context.captured_queries) == 4  # key lookup, row, history, allocations


def test_joins_and_annotations_only_for_requested_fields(api, organization):
    seed_distributions(organization, 3)
    api.get(f"{BASE}/distributions")
    with CaptureQueriesContext(connection) as context:
        api.get(f"{BASE}/distributions")
    page_sql = context.captured_queries[-1]["sql"].upper()
    assert "JOIN" not in page_sql and "GROUP BY" not in page_sql
    with CaptureQueriesContext(connection) as context:
        api.get(f"{BASE}/distributions", {"fields": "distributorName,allocationCount"})
    page_sql = context.captured_queries[-1]["sql"].upper()
    assert "JOIN" in page_sql and "GROUP BY" in page_sql


def test_joins_run_on_the_page_rows_only(api, organization):
    """The page's ids are chosen by a subquery on the filtered rows alone; the joins and annotations of the
    selected fields are in the outer query, applied to those ids only."""
    seed_distributions(organization, 30)
    api.get(f"{BASE}/distributions")
    with CaptureQueriesContext(connection) as context:
        api.get(f"{BASE}/distributions", {"include": "extended", "offset": 20, "number": 5})
    page_sql = next(q["sql"].upper() for q in context.captured_queries if " IN (SELECT" in q["sql"].upper())
    outer, _, inner = page_sql.partition(" IN (SELECT")
    inner = inner[: inner.index("LIMIT")]
    assert "JOIN" in outer and "JOIN" not in inner and "COUNT(" not in inner
    assert " OVER (" not in page_sql  # no window over the whole list


def test_the_list_refuses_embedded_allocations(api, world):
    for params in ({"fields": "allocations"}, {"fields": "status,allocations"}):
        response = api.get(f"{BASE}/distributions", params)
        assert response.status_code == 400
        (message,) = response.json()["errors"]["fields"]
        assert "/distributions/{id}/allocations" in message


def test_the_detail_embeds_at_most_100_allocations_and_says_where_the_rest_are(api, organization):
    (distribution,) = seed_distributions(organization, 1, allocations_per=105)
    response = api.get(f"{BASE}/distributions/{distribution.pk}", {"fields": "allocations,allocationCount"})
    body = response.json()
    assert len(body["allocations"]) == 100 and body["allocationCount"] == 105
    assert response["X-Allocation-Count"] == "105"
    assert "X-Allocation-Count" in response["Access-Control-Expose-Headers"]
    embedded = [(a["rank"], a["id"]) for a in body["allocations"]]
    assert embedded == sorted(embedded)
    link, rel = response["Link"].split("; ")
    assert rel == 'rel="allocations"'
    rest = api.get(link.strip("<>").replace("http://testserver", ""))
    assert rest.status_code == 200
    assert len(rest.json()) == 5 and "Link" not in rest
    everything = embedded + [(a["rank"], a["id"]) for a in rest.json()]
    expected = sorted(distribution.allocations.values_list("rank", "id"))
    assert everything == expected


def test_a_detail_with_few_allocations_counts_them_without_a_query(api, world):
    pk = world["complete"].pk
    api.get(f"{BASE}/distributions/{pk}")
    with CaptureQueriesContext(connection) as context:
        response = api.get(f"{BASE}/distributions/{pk}", {"fields": "allocations"})
    assert response["X-Allocation-Count"] == "2" and "Link" not in response
    assert len(context.captured_queries) == 3  # key lookup, row, allocations
    assert "X-Allocation-Count" not in api.get(f"{BASE}/distributions/{pk}")


# -- status types --------------------------------------------------------------------------------------------


def test_status_types(api):
    response = api.get(f"{BASE}/distributions/status-types")
    assert response.status_code == 200
    body = response.json()
    assert [row["value"] for row in body] == ["pending", "processing", "complete", "cancelled"]
    assert all(set(row) == {"value", "label", "description"} and row["description"] for row in body)
