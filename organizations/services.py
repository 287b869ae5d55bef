from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from lifecycle.services import status_changes_record
from organizations.models import ApiKey, ApiKeyScope, Organization


def api_key_create(*, organization: Organization, name: str, scopes: list[str] | None = None) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which exists only in this return value."""
    api_key = ApiKey(organization=organization, name=name, scopes=list(scopes or [ApiKeyScope.READ]))
    secret = api_key.issue_secret()
    api_key.full_clean()
    api_key.save()
    return api_key, secret


def api_keys_revoke(*, api_key_ids: Iterable[int], reason: str = "", actor: str = "") -> list[ApiKey]:
    """Revoke the given keys that are still active (revocation is one-way); return the keys revoked.

    A key has no status column: each revocation goes into its status history as ``active`` → ``revoked``, with
    ``actor`` (who) and ``reason`` (why), in the same transaction (one insert for all)."""
    with transaction.atomic():
        keys = list(
            ApiKey.objects.select_for_update().filter(pk__in=set(api_key_ids), revoked_at__isnull=True).order_by("pk")
        )
        now = timezone.now()
        ApiKey.objects.filter(pk__in=[key.pk for key in keys]).update(revoked_at=now)
        for key in keys:
            key.revoked_at = now
        status_changes_record(
            model=ApiKey,
            organization_id=None,
            changes=[(key.pk, "active", "revoked", key.organization_id) for key in keys],
            actor=actor,
            reason=reason,
            at=now,
        )
    return keys
