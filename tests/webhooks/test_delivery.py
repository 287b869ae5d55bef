"""Webhook deliveries against a real HTTP receiver on loopback: signed per Standard Webhooks (checked with the
specification's own verifier), retried with the same ``webhook-id``, in order per object, refused for private
addresses and plain http, given up after the retry window, and an endpoint failing for days is disabled."""

import io
import json
import random
from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from events.models import Event
from events.selectors import event_representation
from tests.webhooks.conftest import deliver_rounds, record
from tests.webhooks.receiver import Receiver
from webhooks import transport
from webhooks.delivery import RESPONSE_KEPT, backoff, deliver, dispatch_events
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import deliveries_redeliver, endpoint_create, endpoint_rotate_secret, endpoint_save

pytestmark = pytest.mark.django_db


def statuses() -> list[str]:
    return list(WebhookDelivery.objects.order_by("event_id").values_list("status", flat=True))


def test_a_delivery_verifies_with_the_specifications_verifier(org, receiver, make_endpoint):
    _, secret = make_endpoint(receiver)
    event = record(org, "obligation:7", status="approved")
    report = deliver()
    assert (report.dispatched_events, report.created_deliveries, report.sent, report.succeeded) == (1, 1, 1, 1)
    ((headers, body),) = receiver.requests
    payload = Webhook(secret).verify(body, headers)
    assert payload == event_representation(event) == json.loads(body)
    assert payload["type"] == "obligation.approved" and payload["data"] == {"id": 7, "status": "approved"}
    assert headers["webhook-id"] == f"evt_{event.pk}" and headers["content-type"] == "application/json"
    # A tampered body, another secret or a replay of an old timestamp do not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"approved", b"rejected"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint_create(organization=org, url=receiver.url)[1]).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 600)})
    (attempt,) = WebhookAttempt.objects.all()
    assert (attempt.status_code, attempt.response_body, attempt.succeeded) == (200, "ok", True)
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_a_receiver_failing_three_times_gets_the_event_four_times_with_one_webhook_id(org, make_endpoint):
    with Receiver(fail_first=3) as receiver:
        endpoint, secret = make_endpoint(receiver)
        event = record(org)
        reports = deliver_rounds(5)
    assert receiver.ids() == [f"evt_{event.pk}"] * 4
    for headers, body in receiver.requests:
        Webhook(secret).verify(body, headers)
    assert [(r.sent, r.succeeded) for r in reports] == [(1, 0), (1, 0), (1, 0), (1, 1), (0, 0)]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.SUCCEEDED, 4, None)
    attempts = list(delivery.attempt_rows.order_by("attempted_at", "pk"))
    assert [a.status_code for a in attempts] == [500, 500, 500, 200]
    assert [a.succeeded for a in attempts] == [False, False, False, True]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None  # the success cleared it


def test_a_failed_attempt_waits_its_backoff(org, make_endpoint):
    with Receiver(fail_first=1) as receiver:
        make_endpoint(receiver)
        record(org)
        before = timezone.now()
        deliver()
        assert deliver().sent == 0  # not due yet: nothing is sent again at once
    delivery = WebhookDelivery.objects.get()
    wait = delivery.next_attempt_at - before
    assert timedelta(seconds=15) <= wait <= timedelta(seconds=31)
    assert len(receiver.requests) == 1


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(7)
    for attempts, step in [(1, 30), (2, 60), (3, 120), (10, 15360), (11, 6 * 3600), (40, 6 * 3600)]:
        waits = [backoff(attempts, rng).total_seconds() for _ in range(50)]
        assert all(step / 2 <= wait <= step for wait in waits), (attempts, min(waits), max(waits))
        assert len(set(waits)) > 1  # jittered


@pytest.mark.parametrize("address", ["10.1.2.3", "169.254.169.254", "192.168.0.10", "172.16.5.4", "::1"])
def test_a_host_resolving_to_a_private_range_is_refused_at_send_time(
    org, receiver, make_endpoint, monkeypatch, address
):
    """The check is made when sending (DNS rebinding): the URL was accepted, its name now resolves inside."""
    make_endpoint(receiver)
    record(org)
    resolved = []

    def rebinding(host, port):
        resolved.append(host)
        return ["93.184.216.34", address] if address != "::1" else [address]

    monkeypatch.setattr(transport, "resolve", rebinding)
    if address == "::1":
        monkeypatch.setattr("django.conf.settings.WEBHOOKS_ALLOW_LOOPBACK", False)
    report = deliver()
    assert resolved == ["127.0.0.1"] and receiver.requests == []
    assert (report.sent, report.failed_attempts) == (1, 1)
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None and not attempt.succeeded
    assert address in attempt.error and "public addresses only" in attempt.error
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1  # retried later, like any failure


def test_loopback_is_reached_only_when_allowed(org, receiver, make_endpoint, settings):
    make_endpoint(receiver)
    record(org)
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    deliver()
    assert receiver.requests == [] and "loopback" in WebhookAttempt.objects.get().error
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    deliver_rounds(1)
    assert len(receiver.requests) == 1 and statuses() == ["succeeded"]


def test_the_address_check_accepts_public_and_refuses_the_rest():
    assert transport.address_refusal("93.184.216.34", allow_loopback=False) is None
    assert transport.address_refusal("2606:2800:220:1:248:1893:25c8:1946", allow_loopback=False) is None
    refused = {
        "127.0.0.1": "loopback",
        "::ffff:10.0.0.1": "private",
        "fe80::1%eth0": "link-local",
        "0.0.0.0": "unspecified",
        "224.0.0.1": "multicast",
        "100.64.0.1": "not global",  # carrier-grade NAT
    }
    for address, why in refused.items():
        assert transport.address_refusal(address, allow_loopback=False) == why, address
    assert transport.address_refusal("127.0.0.1", allow_loopback=True) is None
    assert transport.address_refusal("10.0.0.1", allow_loopback=True) == "private"


def test_http_urls_are_refused_unless_allowed(org, receiver, make_endpoint, settings):
    settings.WEBHOOKS_ALLOW_HTTP = False
    with pytest.raises(ValidationError) as refused:
        make_endpoint(receiver)
    assert refused.value.message_dict == {"url": ["The URL must start with https://."]}
    for url in ["ftp://example.com/x", "https://user:pw@example.com/x", "https:///nohost"]:
        with pytest.raises(ValidationError) as refused:
            endpoint_create(organization=org, url=url)
        assert list(refused.value.message_dict) == ["url"]
    assert not WebhookEndpoint.objects.exists()
    # An endpoint saved while http was allowed is refused at send time once it is not.
    settings.WEBHOOKS_ALLOW_HTTP = True
    make_endpoint(receiver)
    record(org)
    settings.WEBHOOKS_ALLOW_HTTP = False
    deliver()
    assert receiver.requests == [] and "https:// only" in WebhookAttempt.objects.get().error


def test_a_later_event_of_an_object_waits_for_the_earlier(org, make_endpoint):
    with Receiver(fail_first=1) as receiver:
        make_endpoint(receiver)
        first = record(org, "obligation:1", event_type="obligation.created")
        second = record(org, "obligation:1", event_type="obligation.approved")
        other = record(org, "obligation:2", event_type="obligation.created")
        deliver()
        # The first of obligation 1 failed, so its second waits; obligation 2 is not held back by it.
        assert receiver.ids() == [f"evt_{first.pk}", f"evt_{other.pk}"]
        assert statuses() == ["pending", "pending", "succeeded"]
        assert deliver().sent == 0  # the first is not due yet, and the second still waits for it
        deliver_rounds(1)
    assert receiver.ids() == [f"evt_{first.pk}", f"evt_{other.pk}", f"evt_{first.pk}", f"evt_{second.pk}"]
    assert statuses() == ["succeeded", "succeeded", "succeeded"]


def test_a_given_up_earlier_event_lets_the_later_one_go(org, make_endpoint):
    with Receiver(fail_first=1) as receiver:
        make_endpoint(receiver)
        first = record(org, "obligation:1")
        second = record(org, "obligation:1")
        dispatch_events()
        WebhookDelivery.objects.filter(event=first).update(give_up_at=timezone.now())
        deliver()
        deliver()
    assert receiver.ids() == [f"evt_{first.pk}", f"evt_{second.pk}"]
    assert statuses() == ["failed", "succeeded"]


def test_give_up_after_the_retry_window_marks_failed(org, make_endpoint, settings):
    settings.WEBHOOKS_RETRY_HOURS = 72
    with Receiver(fail_first=100) as receiver:
        make_endpoint(receiver)
        record(org)
        deliver()
        delivery = WebhookDelivery.objects.get()
        assert delivery.give_up_at - delivery.created_at >= timedelta(hours=72) - timedelta(seconds=1)
        # Three days later: the next failure falls past the window.
        WebhookDelivery.objects.update(give_up_at=timezone.now() + timedelta(seconds=10))
        report = deliver_rounds(1)[0]
        assert deliver_rounds(1)[0].sent == 0  # failed is final: never sent again
    assert (report.failed_attempts, report.given_up) == (1, 1)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 2, None)
    assert len(receiver.requests) == 2


def test_an_endpoint_failing_for_days_is_disabled(org, make_endpoint, settings):
    settings.WEBHOOKS_DISABLE_AFTER_DAYS = 3
    with Receiver(fail_first=100) as receiver:
        endpoint, _ = make_endpoint(receiver)
        record(org, "obligation:1")
        record(org, "obligation:2")
        deliver()
        endpoint.refresh_from_db()
        assert endpoint.active and endpoint.failing_since is not None
        # Two days of failures: still active.
        WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(days=2))
        assert deliver_rounds(1)[0].disabled_endpoints == []
        WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(days=3, minutes=1))
        report = deliver_rounds(1)[0]
        assert report.disabled_endpoints == [endpoint.pk]
        sent = len(receiver.requests)
        assert deliver_rounds(1)[0].sent == 0 and len(receiver.requests) == sent  # a disabled endpoint gets nothing
        record(org, "obligation:3")
        deliver()
    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_at is not None
    assert "failed for 3 days" in endpoint.disabled_reason and "HTTP 500" in endpoint.disabled_reason
    assert WebhookDelivery.objects.count() == 2  # no delivery queued for the event that came while disabled
    # Staff reactivating it (the admin's save) clears the disabling.
    endpoint.active = True
    endpoint_save(endpoint=endpoint)
    endpoint.refresh_from_db()
    assert (endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since) == (None, "", None)


def test_secret_rotation_signs_with_both_during_the_overlap(org, receiver, make_endpoint):
    endpoint, old = make_endpoint(receiver)
    new = endpoint_rotate_secret(endpoint=endpoint, overlap=timedelta(hours=24))
    assert new != old and new.startswith("whsec_")
    record(org, "obligation:1")
    deliver()
    headers, body = receiver.requests[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    # Once the overlap is over, only the new secret signs.
    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    record(org, "obligation:2")
    deliver()
    headers, body = receiver.requests[1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)


def test_endpoints_get_the_types_they_want_of_their_organization_only(org, other_org, receiver, make_endpoint):
    make_endpoint(receiver, event_types=["payout.paid"])
    everything, _ = make_endpoint(receiver, path="/all")
    make_endpoint(receiver, organization=other_org, path="/other")
    record(org, "obligation:1", event_type="obligation.approved")
    paid = record(org, "payout:1", event_type="payout.paid")
    record(other_org, "payout:2", event_type="payout.paid")
    deliver()
    received = Counter(receiver.ids())
    assert WebhookDelivery.objects.filter(event__organization=org).count() == 3
    assert WebhookDelivery.objects.filter(endpoint__organization=other_org).count() == 1
    assert received[f"evt_{paid.pk}"] == 2 and sum(received.values()) == 4
    assert all(d.organization_id == d.endpoint.organization_id for d in WebhookDelivery.objects.all())
    assert set(WebhookDelivery.objects.filter(endpoint=everything).values_list("event_type", flat=True)) == {
        "obligation.approved",
        "payout.paid",
    }


def test_an_endpoint_gets_no_event_from_before_it_existed(org, receiver, make_endpoint):
    record(org, "obligation:1")
    make_endpoint(receiver)
    later = record(org, "obligation:2")
    deliver()
    assert receiver.ids() == [f"evt_{later.pk}"]
    assert Event.objects.filter(dispatched=False).count() == 0


def test_redeliver_sends_again_with_the_same_webhook_id(org, make_endpoint):
    with Receiver(fail_first=1) as receiver:
        make_endpoint(receiver)
        event = record(org)
        deliver()
        WebhookDelivery.objects.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        assert deliver().sent == 0
        assert deliveries_redeliver(delivery_ids=WebhookDelivery.objects.values_list("pk", flat=True)) == 1
        deliver()
        assert deliveries_redeliver(delivery_ids=WebhookDelivery.objects.values_list("pk", flat=True)) == 1
        deliver()  # a replay of one that succeeded, too
    assert receiver.ids() == [f"evt_{event.pk}"] * 3
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 3)


def test_redirects_are_not_followed_and_only_the_first_bytes_are_kept(org, make_endpoint):
    with Receiver(status=302, answer=b"x" * 5000) as receiver:
        make_endpoint(receiver)
        record(org)
        deliver()
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code == 302 and not attempt.succeeded
    assert attempt.error == "Redirects are not followed."
    assert len(attempt.response_body) == RESPONSE_KEPT
    assert len(receiver.requests) == 1


def test_a_slow_receiver_times_out_as_a_failed_attempt(org, make_endpoint, settings):
    settings.WEBHOOKS_READ_TIMEOUT = 0.2
    with Receiver(delay=1.0) as receiver:
        make_endpoint(receiver)
        record(org)
        deliver()
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None and "Timeout" in attempt.error and attempt.duration_ms >= 150
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING


def test_the_command_prints_one_summary_line(org, receiver, make_endpoint):
    make_endpoint(receiver)
    record(org, "obligation:1")
    record(org, "obligation:2")
    out = io.StringIO()
    call_command("deliver_webhooks", stdout=out)
    assert out.getvalue().strip() == (
        "Webhooks: 2 new event(s), 2 delivery(ies) queued, 2 sent (2 succeeded, 0 failed, 0 given up)."
    )
    assert len(receiver.requests) == 2


@pytest.mark.parametrize("option", [("--batch-size", "0"), ("--max-seconds", "0")])
def test_the_command_refuses_bad_options_in_one_line(option):
    with pytest.raises(CommandError) as refused:
        call_command("deliver_webhooks", *option)
    assert str(refused.value) == "--batch-size must be at least 1 and --max-seconds above 0."
    assert refused.value.returncode == 1


def test_a_delivery_taken_over_by_another_deliverer_is_not_sent(org, receiver, make_endpoint, settings, monkeypatch):
    """With less than an attempt's budget left on the claim, each send renews its lease first; one whose claim
    another deliverer took over (its lease ran out) is skipped, not sent a second time."""
    from webhooks import delivery as delivery_module

    settings.WEBHOOKS_CLAIM_LEASE_SECONDS = 1  # below the budget: every send renews
    make_endpoint(receiver)
    first = record(org, "obligation:1")
    second = record(org, "obligation:2")
    claim = delivery_module.claim_due

    def claim_then_lose_the_first(**kwargs):
        token, claimed = claim(**kwargs)
        WebhookDelivery.objects.filter(event=first, claim_token=token).update(claim_token="another deliverer")
        return token, claimed

    monkeypatch.setattr(delivery_module, "claim_due", claim_then_lose_the_first)
    report = deliver()
    assert receiver.ids() == [f"evt_{second.pk}"] and report.sent == 1
    taken = WebhookDelivery.objects.get(event=first)
    assert (taken.status, taken.attempts, taken.claim_token) == (DeliveryStatus.PENDING, 0, "another deliverer")


def test_redelivering_one_being_sent_keeps_its_claim(org, receiver, make_endpoint):
    make_endpoint(receiver)
    record(org)
    dispatch_events()
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.update(claimed_until=timezone.now() + timedelta(seconds=60), claim_token="held")
    assert deliveries_redeliver(delivery_ids=[delivery.pk]) == 1
    delivery.refresh_from_db()
    assert (delivery.claim_token, delivery.status) == ("held", DeliveryStatus.PENDING)
    assert deliver().sent == 0 and receiver.requests == []  # nobody else sends it meanwhile
