"""Fixtures of the webhook tests: a real receiver on loopback and an endpoint of ``org`` pointing at it."""

import pytest
from django.utils import timezone

from events.services import event_record
from tests.webhooks.receiver import Receiver
from webhooks.delivery import deliver
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.services import endpoint_create


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def make_endpoint(org):
    """``make_endpoint(receiver)``: an endpoint of ``org`` for the receiver; returns (endpoint, secret)."""

    def make(target, *, organization=None, event_types=(), path=""):
        return endpoint_create(
            organization=organization or org, url=target.url + path, event_types=event_types, description="test"
        )

    return make


def record(organization, object_key="obligation:1", event_type="obligation.approved", **payload):
    """One event of ``organization`` (written like the apps write theirs)."""
    return event_record(
        organization_id=organization.pk,
        type=event_type,
        object_key=object_key,
        payload={"id": int(object_key.split(":")[1]), **payload},
    )


def make_due() -> int:
    """Drive time forward: every pending delivery is due now (instead of waiting out its backoff)."""
    return WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())


def deliver_rounds(rounds: int, **options) -> list:
    """``deliver()`` ``rounds`` times, every pending delivery made due before each round; the reports."""
    reports = []
    for _ in range(rounds):
        make_due()
        reports.append(deliver(**options))
    return reports
