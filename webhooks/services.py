"""Writes on webhook endpoints and deliveries (the delivery loop itself is ``webhooks.delivery``).

- ``endpoint_create`` / ``endpoint_rotate_secret`` return the new secret: the only time it is shown.
  A rotation keeps the previous secret signing for ``WEBHOOKS_SECRET_OVERLAP_HOURS`` (both signatures are
  sent, space-separated, as Standard Webhooks allows), so a receiver can switch without losing a delivery.
- ``deliveries_redeliver`` puts deliveries back in the queue (pending, due now, attempts kept: the same
  ``webhook-id``, so an idempotent receiver sees a replay).
"""

import base64
import secrets
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from events.catalog import EVENT_TYPES
from organizations.models import Organization
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def endpoint_validate_url(url: str) -> None:
    """https only (http when ``WEBHOOKS_ALLOW_HTTP``), with a host; where it resolves is checked at send time."""
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.WEBHOOKS_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise ValidationError(
            {"url": "The URL must start with https://" + (" or http://" if settings.WEBHOOKS_ALLOW_HTTP else "") + "."}
        )
    if not parts.hostname:
        raise ValidationError({"url": "The URL must name a host."})
    if parts.username or parts.password:
        raise ValidationError({"url": "The URL must not carry credentials."})


def endpoint_validate_event_types(event_types: list[str]) -> None:
    unknown = [name for name in event_types if name not in EVENT_TYPES]
    if unknown:
        raise ValidationError({"event_types": f"Unknown event type(s): {', '.join(unknown)}."})


def endpoint_create(
    *, organization: Organization, url: str, event_types: Iterable[str] = (), description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Create an active endpoint; return it and its secret (shown once)."""
    event_types = list(dict.fromkeys(event_types))
    endpoint_validate_url(url)
    endpoint_validate_event_types(event_types)
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        organization=organization, url=url, event_types=event_types, description=description, secret=secret
    )
    return endpoint, secret


def endpoint_save(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Save staff's edit (URL, types, description, active); reactivating clears the automatic disabling."""
    endpoint_validate_url(endpoint.url)
    endpoint_validate_event_types(endpoint.event_types)
    if endpoint.active:
        endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = None, "", None
    if not endpoint.secret:
        endpoint.secret = new_secret()
    endpoint.save()
    return endpoint


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, overlap: timedelta | None = None) -> str:
    """Give the endpoint a new secret; the current one keeps signing for ``overlap``. Return the new secret."""
    if overlap is None:
        overlap = timedelta(hours=settings.WEBHOOKS_SECRET_OVERLAP_HOURS)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        secret = new_secret()
        locked.previous_secret = locked.secret
        locked.previous_secret_expires_at = timezone.now() + overlap
        locked.secret = secret
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "modified_at"])
    endpoint.secret, endpoint.previous_secret = locked.secret, locked.previous_secret
    endpoint.previous_secret_expires_at = locked.previous_secret_expires_at
    return secret


def endpoint_signing_secrets(endpoint: WebhookEndpoint, now) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during its overlap."""
    signing = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        signing.append(endpoint.previous_secret)
    return signing


def deliveries_redeliver(*, delivery_ids: Iterable[int]) -> int:
    """Queue the deliveries again, due now (a failed one gets a new retry window from now). A delivery a
    deliverer holds right now (its lease still running: it is being sent) keeps that claim, so no second
    deliverer can send it at the same time: that attempt is the redelivery (if it fails, the retries follow)."""
    now = timezone.now()
    deliveries = WebhookDelivery.objects.filter(pk__in=list(delivery_ids))
    queued = {
        "status": DeliveryStatus.PENDING,
        "next_attempt_at": now,
        "give_up_at": now + timedelta(hours=settings.WEBHOOKS_RETRY_HOURS),
    }
    held = Q(claimed_until__gt=now)
    with transaction.atomic():
        count = deliveries.filter(held).update(**queued)
        count += deliveries.exclude(held).update(**queued, claimed_until=None, claim_token="")
    return count
