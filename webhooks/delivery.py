"""The delivery loop behind ``manage.py deliver_webhooks``: new events become deliveries, due deliveries are
claimed, signed, sent and recorded.

- **Fan-out.** Events not yet dispatched (``events.services.events_take_undispatched``: locked with
  ``SKIP LOCKED``, so deliverers take different ones) become one delivery per active endpoint of their
  organization that wants the type and existed when the event occurred, in the transaction that marks them
  dispatched. A flag, not an id cursor: ids are allotted before commit, so a cursor could pass a late one.
- **Claims.** A deliverer claims up to ``batch_size`` due deliveries (pending, ``next_attempt_at`` passed, no
  live claim, endpoint active, and no earlier event of the same object still pending for that endpoint) with
  ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite serialises writers), setting a lease
  (``claimed_until``, ``WEBHOOKS_CLAIM_LEASE_SECONDS``) and a token. Before each send the lease is renewed
  under that token; if another deliverer took the delivery over (the lease ran out) the send is skipped. So
  two deliverers never send one attempt twice, and a killed deliverer's claims are retaken once their lease
  ends: delivery is at least once (a receiver dedupes on ``webhook-id``).
- **Per object, in order.** A later event of an object is not sent while an earlier one is pending for the
  same endpoint; it goes once the earlier succeeded or was given up (``failed``).
- **Sending.** Standard Webhooks: ``webhook-id`` (``evt_<event id>``, the same on every retry),
  ``webhook-timestamp``, ``webhook-signature`` (``v1,<base64>``, one per signing secret, space-separated).
  The body is the event as ``GET /api/v1/events`` shows it. ``httpx`` with connect/read timeouts, no
  redirects followed (a 3xx is a failure), through ``webhooks.transport.PinnedTransport`` (public addresses
  only, checked at send time). A 2xx succeeds; anything else, a timeout or a refused address is a failed
  attempt. Each attempt is recorded: time, duration, status code, the first ``RESPONSE_KEPT`` characters.
- **Retries.** Exponential backoff from ``BACKOFF_BASE`` doubling up to ``BACKOFF_CAP``, with jitter (each delay
  drawn in [50 %, 100 %] of its step), until ``give_up_at`` (``WEBHOOKS_RETRY_HOURS``, 72 h): then ``failed``.
- **Endpoint health.** The first failure after a success starts ``failing_since``; a success clears it. An
  endpoint failing for ``WEBHOOKS_DISABLE_AFTER_DAYS`` is disabled (a notice on the admin dashboard).
"""

import json
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from standardwebhooks import Webhook

from events.selectors import event_representation
from events.services import events_mark_dispatched, events_take_undispatched
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import endpoint_signing_secrets
from webhooks.transport import AddressRefused, PinnedTransport

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
RESPONSE_KEPT = 1024
RENEW_MARGIN = timedelta(seconds=5)
USER_AGENT = "distribution-engine-webhooks/1"


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min, … capped at 6 h, with jitter."""
    step = min(BACKOFF_BASE * (2 ** min(attempts - 1, 20)), BACKOFF_CAP)
    return step * (0.5 + (rng or random).random() * 0.5)


@dataclass
class DeliveryReport:
    dispatched_events: int = 0
    created_deliveries: int = 0
    sent: int = 0
    succeeded: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    disabled_endpoints: list[int] = field(default_factory=list)


def dispatch_events(*, limit: int = 1000) -> tuple[int, int]:
    """Turn up to ``limit`` undispatched events into deliveries; return (events, deliveries created)."""
    with transaction.atomic():
        batch = events_take_undispatched(limit=limit)
        if not batch:
            return 0, 0
        endpoints: dict[int, list[WebhookEndpoint]] = {}
        for endpoint in WebhookEndpoint.objects.filter(
            organization_id__in={event.organization_id for event in batch}, active=True
        ).order_by("pk"):
            endpoints.setdefault(endpoint.organization_id, []).append(endpoint)
        now = timezone.now()
        give_up_at = now + timedelta(hours=settings.WEBHOOKS_RETRY_HOURS)
        rows = [
            WebhookDelivery(
                organization_id=event.organization_id,
                endpoint=endpoint,
                event=event,
                event_type=event.type,
                object_key=event.object_key,
                next_attempt_at=now,
                give_up_at=give_up_at,
            )
            for event in batch
            for endpoint in endpoints.get(event.organization_id, ())
            if endpoint.wants(event.type) and event.occurred_at >= endpoint.created_at
        ]
        WebhookDelivery.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        events_mark_dispatched(event_ids=[event.pk for event in batch])
    return len(batch), len(rows)


def claim_due(*, limit: int, now: datetime | None = None) -> tuple[str, list[WebhookDelivery]]:
    """Claim up to ``limit`` due deliveries (see the module docstring); return the claim token and them."""
    now = now or timezone.now()
    earlier_pending = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        object_key=OuterRef("object_key"),
        event_id__lt=OuterRef("event_id"),
        status=DeliveryStatus.PENDING,
    )
    due = (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__active=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .exclude(Exists(earlier_pending))
        .order_by("next_attempt_at", "id")
    )
    token = secrets.token_hex(16)
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return token, []
        lease = now + timedelta(seconds=settings.WEBHOOKS_CLAIM_LEASE_SECONDS)
        WebhookDelivery.objects.filter(pk__in=ids).update(claimed_until=lease, claim_token=token)
    claimed = (
        WebhookDelivery.objects.filter(pk__in=ids).select_related("endpoint", "event").order_by("next_attempt_at", "id")
    )
    return token, list(claimed)


def _renew(delivery: WebhookDelivery, token: str) -> datetime | None:
    """Extend our lease just before sending; the new lease end, or None when the delivery is no longer ours (or
    no longer due)."""
    lease = timezone.now() + timedelta(seconds=settings.WEBHOOKS_CLAIM_LEASE_SECONDS)
    renewed = WebhookDelivery.objects.filter(pk=delivery.pk, claim_token=token, status=DeliveryStatus.PENDING).update(
        claimed_until=lease
    )
    return lease if renewed else None


def send_budget() -> timedelta:
    """The longest one attempt may take (``send`` stops reading the answer after it), plus a margin: a lease with
    at least this much left cannot run out while the attempt is made."""
    seconds = settings.WEBHOOKS_CONNECT_TIMEOUT + 2 * settings.WEBHOOKS_READ_TIMEOUT
    return timedelta(seconds=seconds) + RENEW_MARGIN


def signed_request(delivery: WebhookDelivery, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and the Standard Webhooks headers of a delivery, signed with every signing secret."""
    body = json.dumps(event_representation(delivery.event), separators=(",", ":"), ensure_ascii=False)
    message_id = f"evt_{delivery.event_id}"
    signatures = [
        Webhook(secret).sign(message_id, now, body) for secret in endpoint_signing_secrets(delivery.endpoint, now)
    ]
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
    return body.encode(), headers


@dataclass
class AttemptResult:
    status_code: int | None = None
    response_body: str = ""
    error: str = ""
    duration_ms: int = 0

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send(client: httpx.Client, delivery: WebhookDelivery, now: datetime) -> AttemptResult:
    body, headers = signed_request(delivery, now)
    result = AttemptResult()
    started = time.monotonic()
    # Each read has its timeout; this bounds the whole answer too (a receiver dripping bytes cannot hold a
    # deliverer, or outlast its lease).
    answer_deadline = started + settings.WEBHOOKS_CONNECT_TIMEOUT + 2 * settings.WEBHOOKS_READ_TIMEOUT
    try:
        with client.stream("POST", delivery.endpoint.url, content=body, headers=headers) as response:
            result.status_code = response.status_code
            kept = b""
            for chunk in response.iter_raw():
                kept += chunk
                if len(kept) >= RESPONSE_KEPT or time.monotonic() > answer_deadline:
                    break
            result.response_body = kept[:RESPONSE_KEPT].decode("utf-8", errors="replace")
        if result.status_code is not None and 300 <= result.status_code < 400:
            result.error = "Redirects are not followed."
    except AddressRefused as exc:
        result.error = str(exc)
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    result.duration_ms = int((time.monotonic() - started) * 1000)
    result.error = result.error[: WebhookAttempt._meta.get_field("error").max_length]
    return result


def _record_sql() -> str:
    """One PostgreSQL statement recording an attempt and its delivery's outcome (a data-modifying CTE)."""
    attempt, delivery = WebhookAttempt._meta.db_table, WebhookDelivery._meta.db_table
    return f"""WITH attempt AS (
        INSERT INTO "{attempt}" (organization_id, delivery_id, attempted_at, duration_ms, status_code,
                                 response_body, error, succeeded)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    )
    UPDATE "{delivery}" SET status = %s, attempts = attempts + 1, next_attempt_at = %s, last_attempt_at = %s,
        claimed_until = NULL, claim_token = ''
    WHERE id = %s AND claim_token = %s"""


def _record(delivery: WebhookDelivery, token: str, now: datetime, result: AttemptResult, report: DeliveryReport):
    """Record one attempt and its outcome (on PostgreSQL in one statement, elsewhere in one transaction), then
    the endpoint's health: ``failing_since`` set or cleared, the endpoint disabled after
    ``WEBHOOKS_DISABLE_AFTER_DAYS`` (conditional updates, each right on its own). The attempt row is written even
    if the delivery is no longer ours (the request was made)."""
    endpoint = delivery.endpoint
    attempts = delivery.attempts + 1
    if result.succeeded:
        status, next_attempt_at = DeliveryStatus.SUCCEEDED, None
    else:
        next_attempt_at = timezone.now() + backoff(attempts)
        status = DeliveryStatus.PENDING
        if next_attempt_at > delivery.give_up_at:
            status, next_attempt_at = DeliveryStatus.FAILED, None
    attempt = {
        "organization_id": delivery.organization_id,
        "delivery_id": delivery.pk,
        "attempted_at": now,
        "duration_ms": result.duration_ms,
        "status_code": result.status_code,
        "response_body": result.response_body,
        "error": result.error,
        "succeeded": result.succeeded,
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_record_sql(), [*attempt.values(), status, next_attempt_at, now, delivery.pk, token])
    else:
        with transaction.atomic():
            WebhookAttempt.objects.create(**attempt)
            WebhookDelivery.objects.filter(pk=delivery.pk, claim_token=token).update(
                status=status,
                attempts=F("attempts") + 1,
                next_attempt_at=next_attempt_at,
                last_attempt_at=now,
                claimed_until=None,
                claim_token="",
            )
    delivery.status, delivery.attempts, delivery.next_attempt_at = status, attempts, next_attempt_at
    report.sent += 1
    if result.succeeded:
        report.succeeded += 1
        if endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
            endpoint.failing_since = None
        return
    report.failed_attempts += 1
    report.given_up += status == DeliveryStatus.FAILED
    if endpoint.failing_since is None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
        endpoint.failing_since = now
    elif now - endpoint.failing_since >= timedelta(days=settings.WEBHOOKS_DISABLE_AFTER_DAYS):
        days = settings.WEBHOOKS_DISABLE_AFTER_DAYS
        reason = f"Disabled automatically: every delivery failed for {days:g} days (last: {_outcome(result)})."
        disabled = WebhookEndpoint.objects.filter(pk=endpoint.pk, active=True).update(
            active=False, disabled_at=now, disabled_reason=reason[:300]
        )
        endpoint.active = False
        if disabled:
            report.disabled_endpoints.append(endpoint.pk)


def _outcome(result: AttemptResult) -> str:
    return f"HTTP {result.status_code}" if result.status_code is not None else result.error


def make_client() -> httpx.Client:
    timeout = httpx.Timeout(
        connect=settings.WEBHOOKS_CONNECT_TIMEOUT,
        read=settings.WEBHOOKS_READ_TIMEOUT,
        write=settings.WEBHOOKS_READ_TIMEOUT,
        pool=settings.WEBHOOKS_CONNECT_TIMEOUT,
    )
    return httpx.Client(transport=PinnedTransport(retries=0), timeout=timeout, follow_redirects=False)


def deliver(
    *, batch_size: int = 50, max_seconds: float | None = None, client: httpx.Client | None = None
) -> DeliveryReport:
    """Dispatch new events and send every due delivery, until nothing is due or ``max_seconds`` have passed
    (no new batch is claimed after that; a cron run every minute passes ~50)."""
    report = DeliveryReport()
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    own_client = client is None
    client = client or make_client()
    endpoints: dict[int, WebhookEndpoint] = {}
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        # Every write of the deliverer survives being lost whole in a database crash (undispatched events are
        # dispatched again, a lost claim is claimed again, a lost attempt record means a resend: at least once),
        # so its commits do not wait for the WAL flush; that wait was most of a delivery's time.
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")
    try:
        while deadline is None or time.monotonic() < deadline:
            events, created = dispatch_events()
            report.dispatched_events += events
            report.created_deliveries += created
            claimed_at = timezone.now()
            token, claimed = claim_due(limit=batch_size, now=claimed_at)
            if not claimed:
                if events:
                    continue
                break
            claim_lease = claimed_at + timedelta(seconds=settings.WEBHOOKS_CLAIM_LEASE_SECONDS)
            budget = send_budget()
            for delivery in claimed:
                # One instance per endpoint, so that its health (failing, disabled) seen by one delivery holds for
                # the rest of the run: a disabled endpoint's remaining deliveries are not sent.
                delivery.endpoint = endpoints.setdefault(delivery.endpoint_id, delivery.endpoint)
                if not delivery.endpoint.active:
                    continue
                # While the claim's lease has more than an attempt's budget left, nobody else may take the
                # delivery (others take only leases that ran out); otherwise renew this one's lease first (one
                # statement), and skip it if another deliverer took it over meanwhile.
                if claim_lease - timezone.now() < budget and _renew(delivery, token) is None:
                    continue
                now = timezone.now()
                result = send(client, delivery, now)
                _record(delivery, token, now, result, report)
    finally:
        if own_client:
            client.close()
        if postgresql:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
    return report
