"""Webhooks in the admin: the secret shown once at creation and at rotation, event types as checkboxes, URL rules
as form errors, deliveries read-only with their attempts and times in the organization's zone, redelivery, and
the dashboard's notice of a disabled endpoint."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import messages
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from tests.factories import OrganizationFactory
from tests.webhooks.factories import WebhookAttemptFactory, WebhookDeliveryFactory, WebhookEndpointFactory
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{32}")


def url(name, *args):
    return reverse(f"admin:webhooks_{name}", args=args)


def shown_messages(response) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in response.context["messages"]]


@pytest.fixture
def paris(db):
    return OrganizationFactory(name="Paris Org", slug="paris", timezone="Europe/Paris")


def test_creating_an_endpoint_shows_its_secret_once(admin_client, paris):
    response = admin_client.post(
        url("webhookendpoint_add"),
        {
            "organization": paris.pk,
            "url": "https://hooks.example.com/in",
            "description": "CRM",
            "event_types": ["payout.paid", "obligation.approved"],
        },
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    ((level, text),) = shown_messages(response)[:1]
    assert level == messages.WARNING and "shown only once" in text
    (secret,) = SECRET.findall(text)
    assert secret == endpoint.secret
    # Catalog order, whatever order they were ticked in; active.
    assert endpoint.event_types == ["obligation.approved", "payout.paid"] and endpoint.active
    # The secret is never on a page again.
    page = admin_client.get(url("webhookendpoint_change", endpoint.pk)).content.decode()
    assert secret not in page and not SECRET.search(page)
    assert secret not in admin_client.get(url("webhookendpoint_changelist")).content.decode()


def test_event_types_are_checkboxes_from_the_catalog(admin_client):
    from events.catalog import EVENT_TYPES

    page = admin_client.get(url("webhookendpoint_add")).content.decode()
    boxes = re.findall(r'<input type="checkbox" name="event_types" value="([^"]+)"', page)
    assert boxes == list(EVENT_TYPES)


@pytest.mark.parametrize(
    "address, error",
    [
        ("http://hooks.example.com/in", "The URL must start with https://."),
        ("https://user:pw@hooks.example.com/in", "The URL must not carry credentials."),
    ],
)
def test_a_refused_url_is_a_form_error(admin_client, paris, settings, address, error):
    settings.WEBHOOKS_ALLOW_HTTP = False
    response = admin_client.post(url("webhookendpoint_add"), {"organization": paris.pk, "url": address})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"url": [error]}
    assert not WebhookEndpoint.objects.exists()


def test_rotating_shows_the_new_secret_once_and_keeps_the_old_one_signing(admin_client, paris):
    endpoint = WebhookEndpointFactory(organization=paris)
    old = endpoint.secret
    response = admin_client.post(
        url("webhookendpoint_changelist"),
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    ((level, text),) = shown_messages(response)
    assert level == messages.WARNING
    (secret,) = SECRET.findall(text)
    assert secret == endpoint.secret != old and endpoint.previous_secret == old
    # The overlap's end is given in the organization's zone.
    local = endpoint.previous_secret_expires_at.astimezone(paris.tzinfo)
    assert f"{local:%Y-%m-%d %H:%M} {local:%Z} (Europe/Paris)" in text
    assert timedelta(hours=23) < endpoint.previous_secret_expires_at - timezone.now() <= timedelta(hours=24)
    Webhook(secret)  # a valid Standard Webhooks secret


def test_reactivating_a_disabled_endpoint_clears_the_disabling(admin_client, paris):
    endpoint = WebhookEndpointFactory(
        organization=paris, active=False, disabled_at=timezone.now(), disabled_reason="Disabled automatically"
    )
    response = admin_client.post(
        url("webhookendpoint_change", endpoint.pk),
        {"url": endpoint.url, "description": "", "active": "on"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.disabled_at is None and endpoint.disabled_reason == ""


def test_a_delivery_shows_its_attempts_in_the_organizations_zone(admin_client, paris):
    endpoint = WebhookEndpointFactory(organization=paris)
    delivery = WebhookDeliveryFactory(
        endpoint=endpoint,
        status=DeliveryStatus.PENDING,
        attempts=2,
        next_attempt_at=datetime(2026, 7, 1, 10, tzinfo=UTC),
    )
    WebhookAttemptFactory(delivery=delivery, attempted_at=datetime(2026, 7, 1, 9, 0, 5, tzinfo=UTC), duration_ms=42)
    WebhookAttemptFactory(
        delivery=delivery,
        attempted_at=datetime(2026, 7, 1, 9, 30, tzinfo=UTC),
        status_code=None,
        response_body="",
        error="ConnectTimeout",
    )
    page = admin_client.get(url("webhookdelivery_change", delivery.pk)).content.decode()
    assert "2026-07-01 11:00:05 CEST (Europe/Paris)" in page  # the first attempt, in Paris time
    assert "2026-07-01 12:00:00 CEST (Europe/Paris)" in page  # the next attempt
    assert "42 ms" in page and "upstream down" in page and "ConnectTimeout" in page and "no answer" in page
    assert f"evt_{delivery.event_id}" in page and "&quot;type&quot;: &quot;obligation.approved&quot;" in page
    listing = admin_client.get(url("webhookdelivery_changelist")).content.decode()
    assert "2026-07-01 12:00 CEST" in listing


def test_redeliver_queues_the_selected_deliveries_again(admin_client, paris):
    failed = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=paris), status=DeliveryStatus.FAILED)
    response = admin_client.post(
        url("webhookdelivery_changelist"), {"action": "redeliver", "_selected_action": [failed.pk]}, follow=True
    )
    assert "1 delivery(ies) queued again" in shown_messages(response)[0][1]
    failed.refresh_from_db()
    assert failed.status == DeliveryStatus.PENDING and failed.next_attempt_at <= timezone.now()
    assert failed.give_up_at > timezone.now() + timedelta(hours=71)
    assert failed.attempts == 1  # kept: the attempts so far stay on the page


def test_deliveries_are_read_only(admin_client, paris):
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=paris))
    assert admin_client.get(url("webhookdelivery_add")).status_code == 403
    assert admin_client.post(url("webhookdelivery_change", delivery.pk), {"status": "succeeded"}).status_code == 403
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED


def test_the_dashboard_tells_when_an_endpoint_was_disabled(admin_client, paris):
    assert 'id="dash-webhooks"' not in admin_client.get("/admin/").content.decode()
    WebhookEndpointFactory(
        organization=paris,
        url="https://crm.example.com/in",
        active=False,
        disabled_at=datetime(2026, 7, 1, 8, tzinfo=UTC),
        disabled_reason="Disabled automatically: every delivery failed for 3 days (last: HTTP 500).",
    )
    WebhookEndpointFactory(organization=paris, active=False)  # switched off by staff: no notice
    page = admin_client.get("/admin/").content.decode()
    notice = page[page.index('id="dash-webhooks"') : page.index('id="dash-webhooks"') + 1500]
    notice = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", notice))
    assert "1 webhook endpoint disabled" in notice and "https://crm.example.com/in" in notice
    assert "Wed 01 Jul 2026, 10:00 CEST" in notice and "(last: HTTP 500)" in notice
