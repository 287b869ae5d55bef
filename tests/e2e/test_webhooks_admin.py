"""Webhooks in the admin, in a real browser (Debian's Chromium, headless, via Playwright) against a live server.

A superuser creates an endpoint (event types ticked as checkboxes) and copies the secret shown once, rotates it
with the action, then looks at real deliveries made to a loopback receiver that fails: the list (status, attempts,
next attempt in the organization's zone), one delivery with its attempts inline, the redeliver action, and the
dashboard's notice once the endpoint was disabled. Each page is saved to tests/artifacts/webhooks_<page>.png,
passed or failed, so it can be looked at.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from events.services import event_record
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import log_in, run_action
from tests.webhooks.receiver import Receiver
from webhooks.delivery import deliver
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{32}")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "correct horse battery")


@pytest.fixture
def paris(org):
    org.name, org.timezone = "Acme", "Europe/Paris"
    org.save()
    return org


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"webhooks_{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def text_of(locator) -> str:
    return locator.inner_text().replace("\xa0", " ")


VIEWPORT = {"width": 1400, "height": 900}


def test_staff_configure_an_endpoint_and_follow_its_deliveries(live_server, page, staff, paris):
    log_in(page, live_server, VIEWPORT)
    admin = f"{live_server.url}/admin/webhooks"

    # Create: the event types are checkboxes; the secret is shown once, in the message.
    page.goto(f"{admin}/webhookendpoint/add/?organization={paris.pk}")
    page.fill("#id_url", "https://crm.example.com/hooks/distribution-engine")
    page.fill("#id_description", "CRM sync")
    page.check("input[name=event_types][value='payout.paid']")
    page.check("input[name=event_types][value='obligation.approved']")
    shoot(page, "endpoint_add")
    page.click("input[name=_save]")
    message = text_of(page.locator("ul.messagelist"))
    (secret,) = SECRET.findall(message)
    endpoint = WebhookEndpoint.objects.get()
    assert secret == endpoint.secret and "shown only once" in message
    assert endpoint.event_types == ["obligation.approved", "payout.paid"]
    Webhook(secret)
    shoot(page, "endpoint_created")

    # Rotate: the new secret once, the old one signing until a time in Paris.
    rotate = "Rotate the signing secret (the previous one keeps signing for the overlap)"
    run_action(page, f"{admin}/webhookendpoint/", endpoint.pk, rotate)
    message = text_of(page.locator("ul.messagelist"))
    (rotated,) = SECRET.findall(message)
    endpoint.refresh_from_db()
    assert rotated == endpoint.secret != secret and "(Europe/Paris)" in message
    shoot(page, "endpoints")

    # Real deliveries to a receiver that keeps failing.
    with Receiver(status=503, answer=b'{"error": "maintenance"}') as receiver:
        endpoint.url, endpoint.event_types = receiver.url, []
        endpoint.save()
        for n in (1, 2):
            event_record(
                organization_id=paris.pk,
                type="obligation.approved",
                object_key=f"obligation:{n}",
                payload={"id": n, "status": "approved"},
            )
        deliver()
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())
        deliver()
    assert len(receiver.requests) == 4  # two objects, two failed attempts each
    delivery = WebhookDelivery.objects.order_by("pk").first()

    page.goto(f"{admin}/webhookdelivery/")
    listing = text_of(page.locator("#result_list"))
    assert "obligation.approved" in listing and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d CES?T", listing), listing
    shoot(page, "deliveries")

    page.goto(f"{admin}/webhookdelivery/{delivery.pk}/change/")
    attempts = text_of(page.locator(".inline-group"))
    assert "503" in attempts and "maintenance" in attempts and " ms" in attempts
    assert "Europe/Paris" in text_of(page.locator("#content-main"))
    shoot(page, "delivery")

    run_action(page, f"{admin}/webhookdelivery/", delivery.pk, "Redeliver (the same webhook-id, due now)")
    assert "queued again" in text_of(page.locator("ul.messagelist"))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at <= timezone.now()

    # Days of failures: the endpoint is disabled and the dashboard says so.
    WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(days=4))
    with Receiver(status=503) as receiver:
        WebhookEndpoint.objects.update(url=receiver.url)
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())
        report = deliver()
    assert report.disabled_endpoints == [endpoint.pk]
    page.goto(f"{live_server.url}/admin/")
    notice = text_of(page.locator("#dash-webhooks"))
    assert "1 webhook endpoint disabled" in notice and "HTTP 503" in notice
    shoot(page, "dashboard")
    page.goto(f"{admin}/webhookendpoint/{endpoint.pk}/change/")
    assert "Disabled automatically" in text_of(page.locator("#content-main"))
    shoot(page, "endpoint_disabled")
