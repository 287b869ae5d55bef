"""``number``/``offset`` pagination, ``X-Total-Count`` and ``Link`` headers, on every list endpoint."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest

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
    response = api.get(f"{BASE}/distributions")
    assert len(response.json()) == 10
    assert response["X-Total-Count"] == "105"
    assert links(response) == {"next": {"number": "10", "offset": "10"}}


def test_middle_page_links_both_ways_and_keeps_the_other_parameters(api, hundred_and_five):
    response = api.get(f"{BASE}/distributions", {"number": 20, "offset": 40, "orderBy": "triggerDate", "order": "asc"})
    assert len(response.json()) == 20
    found = links(response)
    assert found["next"] == {"number": "20", "offset": "60", "orderBy": "triggerDate", "order": "asc"}
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
    assert links(response)["next"] == {"number": "100", "offset": "100"}
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
