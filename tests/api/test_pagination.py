"""``number``/``offset``/``after`` pagination, ``X-Total-Count`` and ``Link`` headers, on every list endpoint."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from api import pagination
from distributions.models import Distribution
from tests.api.helpers import BASE, seed_distributions
from tests.factories import DistributorFactory, ObligationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hundred_and_five(organization):
    return seed_distributions(organization, 105, allocations_per=1)


def links(response) -> dict[str, dict]:
    """``{"next": {"number": "10", "offset": "10"}, ...}`` from the Link header."""
    found = {}
    for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.get("Link", "")):
        found[rel] = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    return found


def test_default_page_is_10_with_total_and_next_link(api, hundred_and_five):
    """The next link is a cursor: ``after`` the page's last id (no ``offset``)."""
    response = api.get(f"{BASE}/distributions")
    body = response.json()
    assert len(body) == 10
    assert response["X-Total-Count"] == "105"
    assert links(response) == {"next": {"number": "10", "after": str(body[-1]["id"])}}


def test_middle_page_links_both_ways_and_keeps_the_other_parameters(api, hundred_and_five):
    response = api.get(f"{BASE}/distributions", {"number": 20, "offset": 40, "orderBy": "triggerDate", "order": "asc"})
    body = response.json()
    assert len(body) == 20
    found = links(response)
    last = str(body[-1]["id"])
    assert found["next"] == {"number": "20", "after": last, "orderBy": "triggerDate", "order": "asc"}
    assert found["prev"] == {"number": "20", "offset": "20", "orderBy": "triggerDate", "order": "asc"}


def test_prev_link_of_the_second_page_has_no_offset(api, hundred_and_five):
    assert links(api.get(f"{BASE}/distributions", {"number": 30, "offset": 5}))["prev"] == {"number": "30"}


def test_last_page_has_no_next(api, hundred_and_five):
    response = api.get(f"{BASE}/distributions", {"number": 50, "offset": 100})
    assert len(response.json()) == 5
    assert set(links(response)) == {"prev"}


def test_pages_cover_every_row_once(api, hundred_and_five):
    seen = []
    for offset in range(0, 105, 25):
        seen += [row["id"] for row in api.get(f"{BASE}/distributions", {"number": 25, "offset": offset}).json()]
    assert sorted(seen) == sorted(d.pk for d in hundred_and_five) and len(set(seen)) == 105


def test_number_above_100_is_capped(api, hundred_and_five):
    response = api.get(f"{BASE}/distributions", {"number": 101})
    assert response.status_code == 200
    assert len(response.json()) == 100
    assert links(response)["next"] == {"number": "100", "after": str(response.json()[-1]["id"])}
    assert len(api.get(f"{BASE}/distributions", {"number": 10**9}).json()) == 100


def test_offset_past_the_end_is_an_empty_array_with_the_total(api, hundred_and_five):
    response = api.get(f"{BASE}/distributions", {"offset": 500})
    assert response.status_code == 200
    assert response.json() == []
    assert response["X-Total-Count"] == "105"
    assert links(response)["prev"] == {"number": "10", "offset": "490"}


def test_empty_list(api, organization):
    response = api.get(f"{BASE}/distributions")
    assert response.json() == [] and response["X-Total-Count"] == "0" and "Link" not in response


@pytest.mark.parametrize("number", ["0", "-1", "abc", "1.5", "1e3", "", " 7 "])
def test_number_validation(api, organization, number):
    """0 is refused (a page of nothing is a client bug), and so is a blank (the schema's integer is never
    empty: leave the parameter out for the default); padding is tolerated."""
    response = api.get(f"{BASE}/distributions", {"number": number})
    if number.strip() == "7":
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["number"]


@pytest.mark.parametrize("offset", ["-1", "x", "2.0", "99999999999999999999"])
def test_offset_validation(api, organization, offset):
    response = api.get(f"{BASE}/distributions", {"offset": offset})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["offset"]


@pytest.mark.parametrize("resource", ["distributors", "obligations"])
def test_other_lists_paginate_the_same_way(api, organization, resource):
    for _ in range(3):
        DistributorFactory(organization=organization)
        ObligationFactory(organization=organization)
    response = api.get(f"{BASE}/{resource}", {"number": 2, "offset": 1})
    assert len(response.json()) == 2
    assert response["X-Total-Count"] == "3"
    assert set(links(response)) == {"prev"}
    assert api.get(f"{BASE}/{resource}", {"number": 0}).status_code == 400


def test_list_headers_are_exposed_to_browsers(api, organization):
    exposed = {h.strip() for h in api.get(f"{BASE}/distributions")["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Total-Count", "Link"} <= exposed


# -- the keyset cursor ``after`` -----------------------------------------------------------------------------


def walk(api, path, params) -> list[int]:
    """Every id of a list, following ``rel="next"`` from the first page."""
    seen, response = [], api.get(path, params)
    while True:
        assert response.status_code == 200, response.content
        seen += [row["id"] for row in response.json()]
        following = links(response).get("next")
        if following is None:
            return seen
        response = api.get(path, following)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"order": "ASC"},
        {"orderBy": "triggerDate", "order": "ASC"},
        {"orderBy": "status"},
        {"orderBy": "distributorId", "order": "asc"},
    ],
)
def test_following_next_links_visits_every_row_once_in_order(api, hundred_and_five, params):
    by_offset = []
    for offset in range(0, 105, 7):
        by_offset += [
            row["id"] for row in api.get(f"{BASE}/distributions", params | {"number": 7, "offset": offset}).json()
        ]
    assert walk(api, f"{BASE}/distributions", params | {"number": 7}) == by_offset
    assert sorted(by_offset) == sorted(d.pk for d in hundred_and_five)


def test_cursor_ties_on_the_sort_column_are_broken_by_id(api, organization):
    """Every row has the same status: the cursor continues by id within it."""
    rows = seed_distributions(organization, 12)
    assert walk(api, f"{BASE}/distributions", {"orderBy": "status", "order": "ASC", "number": 5}) == [
        d.pk for d in rows
    ]


def test_after_by_id_needs_no_existing_row(api, hundred_and_five):
    ids = sorted(d.pk for d in hundred_and_five)
    middle = ids[50]
    Distribution.objects.filter(pk=middle).delete()
    descending = api.get(f"{BASE}/distributions", {"after": middle, "number": 3}).json()
    assert [row["id"] for row in descending] == ids[47:50][::-1]
    ascending = api.get(f"{BASE}/distributions", {"after": middle, "number": 3, "order": "ASC"}).json()
    assert [row["id"] for row in ascending] == ids[51:54]


def test_after_a_missing_row_with_another_order_is_an_empty_page(api, hundred_and_five):
    gone = hundred_and_five[10].pk
    Distribution.objects.filter(pk=gone).delete()
    response = api.get(f"{BASE}/distributions", {"after": gone, "orderBy": "triggerDate"})
    assert response.status_code == 200 and response.json() == [] and "Link" not in response
    assert response["X-Total-Count"] == "104"  # the filters' rows, never narrowed by the cursor


def test_offset_counts_from_the_cursor_and_prev_keeps_it(api, hundred_and_five):
    ids = sorted((d.pk for d in hundred_and_five), reverse=True)
    response = api.get(f"{BASE}/distributions", {"after": ids[9], "offset": 5, "number": 5})
    assert [row["id"] for row in response.json()] == ids[15:20]
    found = links(response)
    assert found["prev"] == {"after": str(ids[9]), "number": "5"}
    assert found["next"] == {"after": str(ids[19]), "number": "5"}
    assert "prev" not in links(api.get(f"{BASE}/distributions", {"after": ids[9]}))


@pytest.mark.parametrize("after", ["-1", "x", "1.0", "", "99999999999999999999", str(2**63)])
def test_after_validation(api, organization, after):
    response = api.get(f"{BASE}/distributions", {"after": after})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["after"]


def test_after_is_not_a_standings_parameter(api, organization):
    (distribution,) = seed_distributions(organization, 1)
    response = api.get(f"{BASE}/distributions/{distribution.pk}/standings", {"after": 1})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["after"]


# -- the bounded total ---------------------------------------------------------------------------------------


def test_the_total_is_exact_up_to_the_cap_and_says_so_above_it(api, hundred_and_five, monkeypatch):
    monkeypatch.setattr(pagination, "TOTAL_COUNT_CAP", 105)
    assert api.get(f"{BASE}/distributions")["X-Total-Count"] == "105"
    monkeypatch.setattr(pagination, "TOTAL_COUNT_CAP", 104)
    response = api.get(f"{BASE}/distributions")
    assert response["X-Total-Count"] == "104+"
    assert len(response.json()) == 10 and "next" in links(response)
    assert api.get(f"{BASE}/distributions", {"offset": 500})["X-Total-Count"] == "104+"
