"""Bearer API-key authentication: ``Authorization: Bearer <prefix>.<secret>``.

The prefix finds the key through its unique index (one query, no join: scoping needs only the key's
``organization_id``, and the organization row is loaded only by a view that needs more); the SHA-256 of the
whole key is then compared in constant time (``ApiKey.matches``). An unknown prefix still costs a hash
comparison, so the answer takes the same time either way. Every refusal is the same 401 with
``WWW-Authenticate: Bearer``: a caller cannot tell an unknown key from a revoked one. Keys are not cached:
a revoked key is refused on its very next request. An address whose authentications keep failing is
throttled (``api.throttling``: a 429 with ``Retry-After`` before its key is looked at).

``last_used_at`` is written at most once per ``LAST_USED_RESOLUTION`` per key, with a conditional
``UPDATE`` so that concurrent workers write it once: reads do not turn into writes on every request.
"""

import hmac
import math
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from api.throttling import admit, auth_failure_window, client_address
from organizations.models import ApiKey, Organization, hash_api_key

LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_KEY_LENGTH = 200  # issued keys are ~56 characters
_DUMMY_HASH = hash_api_key("no-such-key")


@dataclass(frozen=True)
class ApiClient:
    """``request.user`` of an API request: the key and its organization (the tenant of every query)."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def organization(self) -> Organization:
        return self.api_key.organization  # loaded on first use

    @property
    def organization_id(self) -> int:
        return self.api_key.organization_id

    @property
    def pk(self) -> int:
        return self.api_key.pk

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"
    invalid_message = "Invalid or revoked API key."

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # no credentials: the permission check answers 401 NotAuthenticated
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Bearer <api key>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(self.invalid_message) from exc
        failures = auth_failure_window()
        address = client_address(request)
        # A key's prefix names its throttle count; one that is not printable ASCII names nothing (and NUL could
        # not even be stored), so such a request counts under one shared name.
        prefix = key.partition(".")[0][:64]
        admit(request._request, address=address, prefix=prefix if prefix.isprintable() else "-")
        if failures is not None:
            wait = failures.retry_after(address, getattr(request._request, "_throttle_counts", None))
            if wait is not None:  # this address failed too often: refused before its key is looked at
                raise exceptions.Throttled(wait=max(1, math.ceil(wait)), detail="Too many failed authentications.")
        try:
            if not key.isprintable() or len(key) > MAX_KEY_LENGTH:
                raise exceptions.AuthenticationFailed(self.invalid_message)
            api_key = self._lookup(key)
        except exceptions.AuthenticationFailed:
            if failures is not None:
                failures.count(address)
            raise
        self._touch(api_key)
        return ApiClient(api_key), api_key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'

    def _lookup(self, key: str) -> ApiKey:
        prefix, _, secret = key.partition(".")
        api_key = None
        if prefix and secret:
            # No ORDER BY, no join (prefix is unique): one indexed lookup, cheap to compile on every request.
            found = list(ApiKey.objects.filter(prefix=prefix)[:1])
            api_key = found[0] if found else None
        if api_key is None:
            hmac.compare_digest(_DUMMY_HASH, hash_api_key(key))  # same cost as a real comparison
            raise exceptions.AuthenticationFailed(self.invalid_message)
        if not api_key.matches(key) or not api_key.is_active:
            raise exceptions.AuthenticationFailed(self.invalid_message)
        return api_key

    @staticmethod
    def _touch(api_key: ApiKey) -> None:
        now = timezone.now()
        if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
            return
        cutoff = now - LAST_USED_RESOLUTION
        ApiKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff), pk=api_key.pk).update(
            last_used_at=now
        )
        api_key.last_used_at = now
