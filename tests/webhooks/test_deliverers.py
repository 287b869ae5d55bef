"""``manage.py deliver_webhooks`` as real processes against a real receiver (PostgreSQL: the claims are
``SELECT … FOR UPDATE SKIP LOCKED`` and the test database is shared with the processes).

- A deliverer killed with SIGKILL in the middle of a batch, then run again: every event is delivered at least once
  (the one in flight when it died may come twice, with the same ``webhook-id``), none is lost.
- Two deliverers at once share the queue and never send the same attempt twice.
"""

import json
import signal
import time
from collections import Counter

import pytest
from standardwebhooks import Webhook

from events.models import Event
from tests.races import Race
from tests.webhooks.conftest import record
from tests.webhooks.receiver import Receiver
from webhooks.delivery import dispatch_events
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from webhooks.services import endpoint_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 2


def record_events(org, count: int) -> list[str]:
    """``count`` events, three per object (so per-object order is exercised too); their ``webhook-id``s."""
    return [f"evt_{record(org, f'obligation:{n // 3}').pk}" for n in range(count)]


def assert_in_order_per_object(receiver: Receiver) -> None:
    """Each object's events arrived in event order (a repeat of the latest one aside)."""
    keys = dict(Event.objects.values_list("pk", "object_key"))
    last: dict[str, int] = {}
    for event_id in (int(webhook_id[4:]) for webhook_id in receiver.ids()):
        key = keys[event_id]
        assert event_id >= last.get(key, 0), f"{key}: event {event_id} after {last[key]}"
        last[key] = event_id


def test_a_deliverer_killed_mid_batch_loses_nothing_when_run_again(org):
    with Receiver(delay=0.05) as receiver:
        _, secret = endpoint_create(organization=org, url=receiver.url)
        expected = record_events(org, 90)
        env = {"WEBHOOKS_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS)}
        with Race(timeout=120) as race:
            killed = race.process("deliver_webhooks", "--batch-size", "20", env=env)
            race.wait_until(lambda: len(receiver.requests) >= 25 or not killed.alive(), "25 requests received")
            killed.popen.send_signal(signal.SIGKILL)
            killed.wait(timeout=30)
        assert killed.returncode == -signal.SIGKILL, "the deliverer ended before it was killed"
        received_before = len(receiver.requests)
        assert received_before < len(expected), "everything went before the kill; make the batch slower"
        claimed = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, claimed_until__isnull=False).count()
        assert claimed > 0, "the kill left no claimed delivery: it did not land mid-batch"

        time.sleep(LEASE_SECONDS + 0.5)  # the killed run's claims run out
        with Race(timeout=120) as race:
            again = race.process("deliver_webhooks", "--json", env=env)
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert report["sent"] >= len(expected) - received_before

    counts = Counter(receiver.ids())
    assert set(counts) == set(expected), "an event was lost"
    duplicates = sum(counts.values()) - len(counts)
    assert duplicates <= 1, f"{duplicates} events came twice; only the one in flight at the kill may"
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}
    assert WebhookAttempt.objects.filter(succeeded=True).count() == len(expected)
    for headers, body in receiver.requests:
        Webhook(secret).verify(body, headers)
    assert_in_order_per_object(receiver)
    print(f"killed after {received_before} of {len(expected)} requests; {duplicates} sent twice; {claimed} claimed")


def test_two_deliverers_at_once_never_send_the_same_attempt_twice(org):
    with Receiver(delay=0.02) as receiver:
        endpoint_create(organization=org, url=receiver.url)
        expected = record_events(org, 300)
        dispatch_events()  # queued beforehand, so that both deliverers find work from their first claim
        with Race(timeout=120) as race:
            first = race.process("deliver_webhooks", "--batch-size", "10", "--json")
            second = race.process("deliver_webhooks", "--batch-size", "10", "--json")
            first.wait()
            second.wait()
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    reports = [json.loads(first.stdout), json.loads(second.stdout)]
    counts = Counter(receiver.ids())
    assert set(counts) == set(expected)
    assert max(counts.values()) == 1, [webhook_id for webhook_id, n in counts.items() if n > 1]
    assert sum(report["sent"] for report in reports) == len(expected) == WebhookAttempt.objects.count()
    assert all(report["sent"] > 0 for report in reports), f"one deliverer did all the work: {reports}"
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == len(expected)
    assert_in_order_per_object(receiver)
    print(f"sent per deliverer: {[report['sent'] for report in reports]}")
