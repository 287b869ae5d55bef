"""factory-boy factories of the webhooks models (endpoints, deliveries, attempts), for the webhook tests and the
admin batteries that build one row of every registered model."""

from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from events.models import Event
from tests.factories import OrganizationFactory
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import new_secret


class WebhookEndpointFactory(DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    organization = factory.SubFactory(OrganizationFactory)
    url = factory.Sequence(lambda n: f"https://hooks{n}.example.com/receive")
    secret = factory.LazyFunction(new_secret)


class EventFactory(DjangoModelFactory):
    class Meta:
        model = Event

    organization = factory.SubFactory(OrganizationFactory)
    type = "obligation.approved"
    occurred_at = factory.LazyFunction(timezone.now)
    object_key = factory.Sequence(lambda n: f"obligation:{n}")
    payload = factory.LazyAttribute(lambda event: {"id": int(event.object_key.split(":")[1]), "status": "approved"})
    dispatched = True


class WebhookDeliveryFactory(DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    organization = factory.SelfAttribute("endpoint.organization")
    event = factory.SubFactory(EventFactory, organization=factory.SelfAttribute("..organization"))
    event_type = factory.SelfAttribute("event.type")
    object_key = factory.SelfAttribute("event.object_key")
    status = "failed"
    attempts = 1
    give_up_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=72))
    last_attempt_at = factory.LazyFunction(timezone.now)


class WebhookAttemptFactory(DjangoModelFactory):
    class Meta:
        model = WebhookAttempt

    delivery = factory.SubFactory(WebhookDeliveryFactory)
    organization = factory.SelfAttribute("delivery.organization")
    attempted_at = factory.LazyFunction(timezone.now)
    duration_ms = 12
    status_code = 500
    response_body = "upstream down"


def delivery_with_attempt(**kwargs) -> WebhookDelivery:
    """A failed delivery with one recorded attempt."""
    delivery = WebhookDeliveryFactory(**kwargs)
    WebhookAttemptFactory(delivery=delivery)
    return delivery
