"""The extended ``history`` field of /distributions and /obligations (``api.history``): each object's status
moves ``{from, to, at, actor, reason}``, oldest first, the latest 50; one query for a whole page; another
organization's history never shows."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifecycle.services import status_changes_record
from obligations.models import Obligation
from obligations.services import obligations_transition
from tests.api.helpers import BASE, seed_distributions
from tests.factories import CollaboratorFactory, DistributionFactory, DistributorFactory, ObligationFactory

pytestmark = pytest.mark.django_db

AT = datetime(2026, 9, 30, 22, 0, 5, tzinfo=UTC)


def record(obj, *moves, actor="", reason="", at=AT, organization_id=None):
    status_changes_record(
        model=type(obj),
        organization_id=organization_id or obj.organization_id,
        changes=[(obj.pk, before, after) for before, after in moves],
        actor=actor,
        reason=reason,
        at=at,
    )


def body(response):
    assert response.status_code == 200, response.content
    return response.json()


def test_an_obligations_moves_oldest_first_in_utc(api, organization):
    obligation = ObligationFactory(organization=organization)
    record(obligation, ("pending", "approved"), actor="staff:ann", reason="checked")
    record(obligation, ("approved", "cancelled"), actor="api:ab12cd", reason="", at=AT + timedelta(hours=1))
    row = body(api.get(f"{BASE}/obligations/{obligation.pk}", {"fields": "history"}))
    assert row == {
        "id": obligation.pk,
        "history": [
            {
                "from": "pending",
                "to": "approved",
                "at": "2026-09-30T22:00:05Z",
                "actor": "staff:ann",
                "reason": "checked",
            },
            {"from": "approved", "to": "cancelled", "at": "2026-09-30T23:00:05Z", "actor": "api:ab12cd", "reason": ""},
        ],
    }


def test_moves_written_by_the_service_are_served(api, organization):
    obligation = ObligationFactory(organization=organization)
    obligations_transition(obligation_ids=[obligation.pk], status="approved", reason="x", actor="staff:ann")
    [row] = body(api.get(f"{BASE}/obligations", {"fields": "id,history"}))
    [move] = row["history"]
    assert (move["from"], move["to"], move["actor"], move["reason"]) == ("pending", "approved", "staff:ann", "x")
    assert move["at"].endswith("Z")


def test_no_moves_is_an_empty_list_and_history_is_not_a_core_field(api, organization):
    obligation = ObligationFactory(organization=organization)
    assert body(api.get(f"{BASE}/obligations", {"fields": "history"})) == [{"id": obligation.pk, "history": []}]
    assert "history" not in body(api.get(f"{BASE}/obligations"))[0]
    assert body(api.get(f"{BASE}/obligations", {"include": "extended"}))[0]["history"] == []


def test_a_distributions_history_on_the_list_and_the_detail(api, organization):
    distribution = DistributionFactory(distributor=DistributorFactory(organization=organization))
    record(distribution, ("pending", "processing"), actor="engine:run 12")
    record(distribution, ("processing", "complete"), actor="engine:run 12", at=AT + timedelta(minutes=1))
    expected = [
        {"from": "pending", "to": "processing", "at": "2026-09-30T22:00:05Z", "actor": "engine:run 12", "reason": ""},
        {"from": "processing", "to": "complete", "at": "2026-09-30T22:01:05Z", "actor": "engine:run 12", "reason": ""},
    ]
    assert body(api.get(f"{BASE}/distributions", {"fields": "history"})) == [
        {"id": distribution.pk, "history": expected}
    ]
    assert body(api.get(f"{BASE}/distributions/{distribution.pk}", {"include": "extended"}))["history"] == expected


def test_history_is_per_model(api, organization):
    """A distribution's move recorded under the obligation's id is not the obligation's."""
    obligation = ObligationFactory(organization=organization)
    record(obligation, ("pending", "approved"), actor="staff:ann")
    status_changes_record(
        model="distributions.distribution",
        organization_id=organization.pk,
        changes=[(obligation.pk, "pending", "processing")],
        actor="engine:run 1",
    )
    history = body(api.get(f"{BASE}/obligations/{obligation.pk}", {"fields": "history"}))["history"]
    assert [m["actor"] for m in history] == ["staff:ann"]


def test_the_latest_50_moves_only(api, organization):
    obligation = ObligationFactory(organization=organization)
    for i in range(53):
        record(
            obligation,
            ("pending", "approved") if i % 2 == 0 else ("approved", "pending"),
            reason=f"move {i}",
            at=AT + timedelta(minutes=i),
        )
    history = body(api.get(f"{BASE}/obligations/{obligation.pk}", {"fields": "history"}))["history"]
    assert [m["reason"] for m in history] == [f"move {i}" for i in range(3, 53)]


def _seed_obligations_with_history(organization, count: int) -> list[Obligation]:
    collaborator = CollaboratorFactory(organization=organization)
    obligations = Obligation.objects.bulk_create(
        ObligationFactory.build(organization=organization, collaborator=collaborator) for _ in range(count)
    )
    for before, after in (("pending", "approved"), ("approved", "pending"), ("pending", "approved")):
        status_changes_record(
            model=Obligation,
            organization_id=organization.pk,
            changes=[(o.pk, before, after) for o in obligations],
            actor="staff:ann",
        )
    return obligations


@pytest.mark.parametrize("resource", ["obligations", "distributions"])
def test_a_page_of_history_costs_the_same_queries_for_1_or_50_rows(api, organization, resource):
    if resource == "obligations":
        _seed_obligations_with_history(organization, 60)
    else:
        for distribution in seed_distributions(organization, 60, allocations_per=1):
            record(distribution, ("pending", "processing"), ("processing", "complete"), actor="engine:run 3")
    api.get(f"{BASE}/{resource}")  # the key's first use records last_used_at
    counts = []
    for number in (1, 50):
        with CaptureQueriesContext(connection) as context:
            rows = body(api.get(f"{BASE}/{resource}", {"fields": "id,history", "number": number}))
        assert len(rows) == number
        assert all(len(row["history"]) in (2, 3) for row in rows)
        counts.append(len(context.captured_queries))
    assert counts == [4, 4]  # key lookup, page, the page's history (one query), bounded total


def test_another_organizations_key_never_sees_its_history(api, other_api, organization, other_organization):
    mine = ObligationFactory(organization=organization)
    theirs = ObligationFactory(organization=other_organization)
    record(mine, ("pending", "approved"), actor="api:mine0001", reason="ours")
    record(theirs, ("pending", "rejected"), actor="api:them0001", reason="theirs")

    listed = json.dumps(body(api.get(f"{BASE}/obligations", {"include": "extended", "number": 100})))
    assert "them0001" not in listed and "theirs" not in listed and "ours" in listed
    assert api.get(f"{BASE}/obligations/{theirs.pk}", {"fields": "history"}).status_code == 404

    seen_by_them = json.dumps(body(other_api.get(f"{BASE}/obligations", {"fields": "history", "number": 100})))
    assert "mine0001" not in seen_by_them and "ours" not in seen_by_them and "them0001" in seen_by_them
    assert other_api.get(f"{BASE}/obligations/{mine.pk}", {"fields": "history"}).status_code == 404


def test_a_history_row_recorded_under_another_organization_is_dropped(api, organization, other_organization):
    """Defence in depth: even a row naming this object but another tenant (never written by the services) is
    not served to this organization's key."""
    obligation = ObligationFactory(organization=organization)
    record(obligation, ("pending", "approved"), actor="api:them0001", organization_id=other_organization.pk)
    record(obligation, ("approved", "pending"), actor="staff:ann", at=AT + timedelta(minutes=1))
    history = body(api.get(f"{BASE}/obligations/{obligation.pk}", {"fields": "history"}))["history"]
    assert [m["actor"] for m in history] == ["staff:ann"]


def test_history_is_documented(api):
    schema = json.loads(api.get(f"{BASE}/schema/", {"format": "json"}).content)
    components = schema["components"]["schemas"]
    for component, statuses in (
        ("Obligation", ["pending", "approved", "fulfilled", "rejected", "cancelled"]),
        ("Distribution", ["pending", "processing", "complete", "cancelled"]),
    ):
        history = components[component]["properties"]["history"]
        assert history["type"] == "array"
        assert "Extended: returned only when named" in history["description"]
        move = components[history["items"]["$ref"].rsplit("/", 1)[-1]]
        assert set(move["properties"]) == {"from", "to", "at", "actor", "reason"}
        assert move["properties"]["at"]["format"] == "date-time"
        status_enum = components[move["properties"]["from"]["allOf"][0]["$ref"].rsplit("/", 1)[-1]]["enum"]
        assert status_enum == statuses
