"""The event log: every emission point writes its event in the change's transaction, payloads are the objects as
the API shows them, ``GET /api/v1/events`` pages by id per tenant, and ``prune_events`` keeps the retention."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from distributions.models import Allocation
from distributions.services import (
    obligations_transition_and_follow,
    payouts_mark_paid_and_follow,
    payouts_mark_unpaid_and_follow,
)
from events.catalog import EVENT_TYPES
from events.models import Event
from events.services import event_record, events_prune
from metrics.models import CreditSource
from metrics.services import metric_credit
from obligations.models import Obligation
from obligations.services import fulfillment_generate, fulfillment_mark_failed, obligation_manual_save
from tests.distributions.helpers import FEB_1, at, credit, run_engine

pytestmark = pytest.mark.django_db


def types(**filters) -> list[str]:
    return list(Event.objects.filter(**filters).order_by("id").values_list("type", flat=True))


@pytest.fixture
def trigger(org, make_distributor, make_collaborators):
    """A monthly distributor triggered once: two collaborators credited in January, the engine run in February."""
    ada, bob = make_collaborators(2)
    distributor = make_distributor(pool_amount=10_001)
    credit(ada, distributor, 3, at("2026-01-10T00:00:00Z"))
    credit(bob, distributor, 1, at("2026-01-11T00:00:00Z"))
    run_engine("--now", "2026-02-02T00:00:00Z")
    return distributor


def test_a_trigger_records_its_obligations_allocations_and_distribution(trigger, api):
    recorded = types()
    assert recorded[:2] == ["metrics.credited", "metrics.credited"]
    # On PostgreSQL the trigger's one statement writes both types, so their ids may interleave.
    assert sorted(recorded[2:6]) == ["allocation.created"] * 2 + ["obligation.created"] * 2
    assert recorded[6:] == ["distribution.triggered"]
    for event in Event.objects.filter(type="obligation.created"):
        shown = api.get(f"/api/v1/obligations/{event.payload['id']}").json()
        assert event.payload == shown and event.object_key == f"obligation:{shown['id']}"
    distribution_id = Allocation.objects.first().distribution_id
    shown = api.get(f"/api/v1/distributions/{distribution_id}", {"fields": "allocations"}).json()
    allocations = {a["id"]: {k: v for k, v in a.items() if k != "trace"} for a in shown["allocations"]}
    assert {e.payload["id"]: e.payload for e in Event.objects.filter(type="allocation.created")} == allocations
    (triggered,) = Event.objects.filter(type="distribution.triggered")
    core = api.get(f"/api/v1/distributions/{distribution_id}").json()
    assert triggered.payload == core and triggered.payload["status"] == "processing"


def test_credit_events_are_the_api_answer(api, org, make_distributor, ada):
    make_distributor()
    response = api.post("/api/v1/distributors/credit-metric", {"collaboratorId": ada.pk, "quantity": 2}, format="json")
    assert response.status_code == 201
    (event,) = Event.objects.filter(type="metrics.credited")
    assert event.payload == response.json() and event.organization_id == org.pk


def test_settling_records_each_move(trigger, org):
    obligations = list(Obligation.objects.order_by("pk"))
    Event.objects.all().delete()
    obligations_transition_and_follow(obligation_ids=[o.pk for o in obligations], status="approved")
    assert types() == ["obligation.approved", "obligation.approved"]
    fulfillment = fulfillment_generate(organization=org)
    assert types()[2:] == ["fulfillment.created", "payout.created", "payout.created"]
    Event.objects.all().delete()
    payouts_mark_paid_and_follow(payouts=list(fulfillment.payouts.all()))
    assert types() == [
        "payout.paid",
        "payout.paid",
        "obligation.fulfilled",
        "obligation.fulfilled",
        "fulfillment.status_changed",
        "fulfillment.status_changed",
        "distribution.completed",
    ]
    assert [e.payload["status"] for e in Event.objects.filter(type="fulfillment.status_changed")] == [
        "processing",
        "complete",
    ]
    Event.objects.all().delete()
    payouts_mark_unpaid_and_follow(payouts=list(fulfillment.payouts.all())[:1])
    assert types() == ["payout.unpaid", "obligation.approved", "fulfillment.status_changed"]


def test_reject_cancel_manual_and_failed_fulfillment(org, ada, make_obligation):
    manual = obligation_manual_save(obligation=Obligation(collaborator=ada, value=500, units="USD"))
    other = make_obligation(ada, status="pending")
    obligations_transition_and_follow(obligation_ids=[manual.pk], status="rejected")
    obligations_transition_and_follow(obligation_ids=[other.pk], status="cancelled")
    assert types() == ["obligation.created", "obligation.rejected", "obligation.cancelled"]
    assert Event.objects.get(type="obligation.rejected").payload["status"] == "rejected"
    make_obligation(ada, status="approved")
    fulfillment = fulfillment_generate(organization=org)
    fulfillment_mark_failed(fulfillment=fulfillment)
    assert types()[-1] == "fulfillment.status_changed"
    assert Event.objects.order_by("id").last().payload["status"] == "failed"


def test_a_rolled_back_change_leaves_no_event(org, ada, make_distributor):
    make_distributor()
    with pytest.raises(RuntimeError), transaction.atomic():
        metric_credit(organization=org, collaborator=ada, source=CreditSource.COMMAND)
        assert Event.objects.count() == 1
        raise RuntimeError("the caller fails after the credit")
    assert not Event.objects.exists()


def test_every_recorded_type_is_in_the_catalog(trigger, org):
    obligations_transition_and_follow(obligation_ids=Obligation.objects.values_list("pk", flat=True), status="approved")
    fulfillment = fulfillment_generate(organization=org)
    payouts_mark_paid_and_follow(payouts=list(fulfillment.payouts.all()))
    assert set(types()) <= set(EVENT_TYPES)


# --- GET /api/v1/events -----------------------------------------------------------------------------------------


def record(organization, n, event_type="obligation.created", when=None):
    return [
        event_record(
            organization_id=organization.pk,
            type=event_type,
            object_key=f"obligation:{i}",
            payload={"id": i},
            occurred_at=when,
        )
        for i in range(n)
    ]


def test_events_page_by_id_and_stay_in_their_tenant(api, other_api, org, other_org):
    mine = record(org, 12)
    theirs = record(other_org, 3)
    first = api.get("/api/v1/events")
    assert first.status_code == 200
    assert [e["id"] for e in first.json()] == [e.pk for e in mine[:10]]
    assert first.json()[0] == {
        "id": mine[0].pk,
        "type": "obligation.created",
        "occurredAt": first.json()[0]["occurredAt"],
        "data": {"id": 0},
    }
    assert f"after={mine[9].pk}" in first["Link"] and 'rel="next"' in first["Link"]
    second = api.get("/api/v1/events", {"after": mine[9].pk})
    assert [e["id"] for e in second.json()] == [e.pk for e in mine[10:]] and "Link" not in second
    assert [e["id"] for e in other_api.get("/api/v1/events", {"number": 100}).json()] == [e.pk for e in theirs]
    assert api.get("/api/v1/events", {"after": theirs[-1].pk}).json() == []


def test_events_filter_by_type_and_time(api, org):
    old = timezone.now() - timedelta(days=2)
    record(org, 2, "obligation.created", when=old)
    approved = record(org, 2, "obligation.approved")
    credited = record(org, 1, "metrics.credited")
    both = api.get("/api/v1/events?type=obligation.approved&type=metrics.credited").json()
    assert [e["id"] for e in both] == [e.pk for e in approved + credited]
    recent = api.get("/api/v1/events", {"occurredAtFrom": (old + timedelta(days=1)).isoformat()}).json()
    assert len(recent) == 3
    until = api.get("/api/v1/events", {"occurredAtTo": (old + timedelta(seconds=1)).isoformat()}).json()
    assert len(until) == 2


@pytest.mark.parametrize(
    "params, field",
    [
        ({"type": "obligation.creatd"}, "type"),
        ({"after": "-1"}, "after"),
        ({"number": "0"}, "number"),
        ({"occurredAtFrom": "yesterday"}, "occurredAtFrom"),
        ({"offset": "10"}, "offset"),
        ({"Type": "obligation.created"}, "Type"),
    ],
)
def test_bad_event_queries_are_400s_naming_the_field(api, params, field):
    response = api.get("/api/v1/events", params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_events_need_a_key(anon):
    assert anon.get("/api/v1/events").status_code == 401


def test_number_is_capped_at_100(api, org):
    record(org, 105)
    assert len(api.get("/api/v1/events", {"number": 1000}).json()) == 100


# --- prune_events ------------------------------------------------------------------------------------------------


def test_prune_deletes_only_older_events_in_batches(org, settings, django_assert_max_num_queries):
    settings.EVENT_RETENTION_DAYS = 30
    record(org, 7, when=timezone.now() - timedelta(days=31))
    kept = record(org, 2, when=timezone.now() - timedelta(days=29))
    assert events_prune(batch_size=3, max_batches=1) == 3
    assert events_prune(batch_size=3) == 4
    assert list(Event.objects.order_by("id").values_list("pk", flat=True)) == [e.pk for e in kept]
    out = io.StringIO()
    call_command("prune_events", "--days", "0", stdout=out)
    assert out.getvalue().strip() == "Deleted 2 event(s) older than 0 day(s)."
    assert not Event.objects.exists()


def test_a_trigger_of_a_period_that_paid_nothing_is_also_completed(org, make_distributor):
    make_distributor()
    run_engine("--now", FEB_1.isoformat())
    assert types() == ["distribution.triggered", "distribution.completed"]
