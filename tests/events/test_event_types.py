"""One test per event type of the catalog: the change that emits it, the event's organization, object key and
payload (the object as the API shows it, where the API shows that object), and a refused or rolled-back change
leaving no event. A type added to the catalog without a scenario here fails ``test_every_type_has_a_scenario``.

``tests/events/test_events.py`` checks the sequences (which events one use case records, in which order)."""

from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from distributions.models import Distribution
from distributions.services import (
    distributor_set_status_with_periods,
    obligations_transition_and_follow,
    payouts_mark_paid_and_follow,
    payouts_mark_unpaid_and_follow,
)
from distributors.models import DistributorStatus
from events.catalog import EVENT_TYPES
from events.models import Event
from obligations.events import fulfillment_payload, payout_payload
from obligations.models import Fulfillment, Obligation, Payout
from obligations.services import fulfillment_generate, fulfillment_mark_failed, obligation_manual_save
from tests.distributions.helpers import at, credit, run_engine

pytestmark = pytest.mark.django_db


class World:
    """A monthly distributor of ``org`` triggered once (Ada 3 points, Alan 1), and the moves that follow."""

    def __init__(self, org, ada, alan, make_distributor):
        self.org, self.ada, self.alan = org, ada, alan
        self.distributor = make_distributor(pool_amount=10_001)
        credit(ada, self.distributor, 3, at("2026-01-10T00:00:00Z"))
        credit(alan, self.distributor, 1, at("2026-01-11T00:00:00Z"))
        run_engine("--now", "2026-02-02T00:00:00Z")
        self.obligations = list(Obligation.objects.order_by("pk"))
        self.distribution = Distribution.objects.exclude(status="pending").get()

    def approve(self, obligations=None):
        ids = [o.pk for o in obligations or self.obligations]
        return obligations_transition_and_follow(obligation_ids=ids, status="approved")

    def fulfillment(self) -> Fulfillment:
        self.approve()
        return fulfillment_generate(organization=self.org)

    def paid(self) -> Fulfillment:
        fulfillment = self.fulfillment()
        payouts_mark_paid_and_follow(payouts=list(fulfillment.payouts.all()))
        return fulfillment


@pytest.fixture
def world(org, ada, alan, make_distributor):
    return World(org, ada, alan, make_distributor)


def _cancel_distribution(world: World):
    distributor_set_status_with_periods(distributor=world.distributor, status=DistributorStatus.DELETED)


SCENARIOS: dict[str, Callable[[World], object]] = {
    "distribution.triggered": lambda world: None,
    "distribution.completed": World.paid,
    "distribution.cancelled": _cancel_distribution,
    "allocation.created": lambda world: None,
    "obligation.created": lambda world: obligation_manual_save(
        obligation=Obligation(collaborator=world.ada, value=500, units="USD")
    ),
    "obligation.approved": World.approve,
    "obligation.rejected": lambda world: obligations_transition_and_follow(
        obligation_ids=[world.obligations[0].pk], status="rejected"
    ),
    "obligation.cancelled": lambda world: obligations_transition_and_follow(
        obligation_ids=[world.obligations[0].pk], status="cancelled"
    ),
    "obligation.fulfilled": World.paid,
    "metrics.credited": lambda world: None,
    "fulfillment.created": World.fulfillment,
    "fulfillment.status_changed": lambda world: fulfillment_mark_failed(fulfillment=world.fulfillment()),
    "payout.created": World.fulfillment,
    "payout.paid": World.paid,
    "payout.unpaid": lambda world: payouts_mark_unpaid_and_follow(payouts=list(world.paid().payouts.all())),
}

# The object each type is about, and the API path showing it (None: the API does not list that resource).
RESOURCE_PATHS = {
    "distribution": "/api/v1/distributions/{id}",
    "obligation": "/api/v1/obligations/{id}",
    "allocation": None,
    "metrics": None,  # the credit's answer: tests/events/test_events.py compares it with the API's
    "fulfillment": None,
    "payout": None,
}
STATUS_OF = {
    "distribution.completed": "complete",
    "distribution.cancelled": "cancelled",
    "obligation.approved": "approved",
    "obligation.rejected": "rejected",
    "obligation.cancelled": "cancelled",
    "obligation.fulfilled": "fulfilled",
    "fulfillment.status_changed": "failed",
    "payout.paid": "paid",
    "payout.unpaid": "unpaid",
    "payout.created": "unpaid",
    "obligation.created": "pending",
    "allocation.created": "pending",
    "fulfillment.created": "pending",
    "distribution.triggered": "processing",
}


STORED = {"payout": (Payout, payout_payload), "fulfillment": (Fulfillment, fulfillment_payload)}


def test_every_type_has_a_scenario():
    assert set(SCENARIOS) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", list(EVENT_TYPES))
def test_each_event_type_is_recorded_by_its_change(event_type, world, org, api):
    before = Event.objects.filter(type=event_type).count()
    SCENARIOS[event_type](world)
    recorded = list(Event.objects.filter(type=event_type).order_by("id"))
    if event_type not in ("distribution.triggered", "allocation.created", "metrics.credited"):
        assert len(recorded) > before, f"{event_type}: its change recorded no event"
    assert recorded, event_type
    resource = event_type.split(".")[0]
    prefix = "credit_request" if resource == "metrics" else resource
    for event in recorded:
        assert event.organization_id == org.pk
        assert event.object_key == f"{prefix}:{event.payload['id']}"
        if event_type in STATUS_OF:
            assert event.payload["status"] == STATUS_OF[event_type], event.payload
    path = RESOURCE_PATHS[resource]
    last = recorded[-1]
    if path is not None and event_type not in ("distribution.triggered",):
        # The latest event of the object is the object as the API shows it now.
        assert last.payload == api.get(path.format(id=last.payload["id"])).json()
    if resource in STORED:
        model, payload_of = STORED[resource]
        assert last.payload == payload_of(model.objects.get(pk=last.payload["id"])), "not the row as stored"


def test_a_refused_move_records_nothing(world):
    world.paid()
    count = Event.objects.count()
    with pytest.raises(ValidationError):
        # The first obligation is fulfilled: the whole move is refused, the second one included.
        obligations_transition_and_follow(obligation_ids=[o.pk for o in world.obligations], status="cancelled")
    assert Event.objects.count() == count


def test_a_rolled_back_transaction_takes_its_events_with_it(world, org):
    count = Event.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        world.paid()
        assert Event.objects.count() > count
        raise RuntimeError("the caller fails after paying")
    assert Event.objects.count() == count
    assert not Fulfillment.objects.exists()


def test_a_distribution_cancelled_by_deleting_its_distributor_is_its_pending_period(world):
    pending = Distribution.objects.get(distributor=world.distributor, status="pending")
    _cancel_distribution(world)
    (event,) = Event.objects.filter(type="distribution.cancelled")
    assert event.payload["id"] == pending.pk and event.object_key == f"distribution:{pending.pk}"
