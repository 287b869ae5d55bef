"""Rate limiting per API key (a DRF throttle keyed by the key's prefix). Refusals are 429 with ``Retry-After``.

The rate is ``settings.API_THROTTLE_RATE`` (``"1200/min"``, ``"20/s"``, ``"50000/hour"``, ``"off"``), read on
every request so tests can override it.

Sliding window, approximated with two counters: the estimate is this window's count plus the previous
window's, weighted by how much of the previous window still overlaps the last ``duration`` seconds. Each
request costs one ``get_many`` and one ``add``/``incr`` whatever the rate; DRF's ``SimpleRateThrottle``
instead stores (and pickles) the timestamp of every request of the window, which at a high rate costs
more than the request itself. With the cache stores refused requests are not counted, so a client that backs
off recovers; the database store counts every request, refused ones too (``admit``).

Counts live in the store ``THROTTLE_CACHE`` chooses: ``db`` (the default) keeps them in the database table
``api_throttle_count``, so every worker and every machine shares one count, at one statement per request on
PostgreSQL (``admit``: count it and read the windows; two on SQLite); ``redis://...`` and ``locmem`` use the
``throttle`` cache of
``settings.CACHES`` (``locmem`` counts per process: tests, a single worker).

Failed authentication is throttled per client address (``API_AUTH_FAILURE_RATE``, default ``30/min``):
past the limit, requests from that address get a 429 before their key is even looked at, so keys cannot be
guessed at speed. The address is ``REMOTE_ADDR``: behind a proxy, have it set the real client address.
"""

import math
import random
import time

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from rest_framework.throttling import BaseThrottle

TABLE = "api_throttle_count"
PRUNE_EVERY = 1000  # on average once per this many counts, expired rows are deleted

DURATIONS = {
    **dict.fromkeys(("s", "sec", "second"), 1),
    **dict.fromkeys(("m", "min", "minute"), 60),
    **dict.fromkeys(("h", "hour"), 3600),
    **dict.fromkeys(("d", "day"), 86400),
}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"1200/min"`` -> ``(1200, 60)``; ``None``/``"off"`` -> ``None``. A malformed rate is a startup-class error."""
    if rate is None or str(rate).strip().lower() in {"", "off", "none", "0"}:
        return None
    count, _, period = str(rate).strip().partition("/")
    period = period.strip().lower()
    unit = period.rstrip("s") if period not in DURATIONS else period
    if not count.strip().isdigit() or unit not in DURATIONS:
        raise ValueError(f"API_THROTTLE_RATE must look like '1200/min', got {rate!r}.")
    return int(count), DURATIONS[unit]


class CacheStore:
    """Counts in the ``throttle`` cache (``locmem``, Redis)."""

    def counts(self, keys: list[str]) -> dict[str, int]:
        return caches["throttle"].get_many(keys)

    def bump(self, key: str, ttl: int) -> None:
        cache = caches["throttle"]
        if not cache.add(key, 1, timeout=ttl):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=ttl)

    def clear(self) -> None:
        caches["throttle"].clear()


class DatabaseStore:
    """Counts in ``api_throttle_count``, shared by every process using the database (PostgreSQL, SQLite)."""

    UPSERT = (
        f"INSERT INTO {TABLE} (subject, hits, expires_at) VALUES (%s, 1, %s) ON CONFLICT (subject) DO UPDATE "
        f"SET hits = CASE WHEN {TABLE}.expires_at > %s THEN {TABLE}.hits + 1 ELSE 1 END, "
        "expires_at = excluded.expires_at RETURNING subject, hits"
    )

    @staticmethod
    def _read(keys: list[str]) -> str:
        return (
            f"SELECT subject, hits FROM {TABLE} WHERE subject IN ({', '.join(['%s'] * len(keys))}) AND expires_at > %s"
        )

    def counts(self, keys: list[str]) -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute(self._read(keys), [*keys, int(time.time())])
            return dict(cursor.fetchall())

    def bump(self, key: str, ttl: int) -> None:
        self.bump_and_counts(key, ttl, [])

    def bump_and_counts(self, key: str, ttl: int, others: list[str]) -> dict[str, int]:
        """Count one for ``key`` and read ``others``: one statement on PostgreSQL (a data-modifying CTE), two
        elsewhere. The result has ``key``'s count after this one."""
        now = int(time.time())
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and others:
                cursor.execute(
                    f"WITH bumped AS ({self.UPSERT}) SELECT * FROM bumped UNION ALL {self._read(others)}",
                    [key, now + ttl, now, *others, now],
                )
                found = dict(cursor.fetchall())
            else:
                cursor.execute(self.UPSERT, [key, now + ttl, now])
                found = dict(cursor.fetchall())
                if others:
                    cursor.execute(self._read(others), [*others, now])
                    found.update(cursor.fetchall())
            if random.randrange(PRUNE_EVERY) == 0:
                cursor.execute(f"DELETE FROM {TABLE} WHERE expires_at <= %s", [now])
        return found

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")


def throttle_store() -> CacheStore | DatabaseStore:
    return DatabaseStore() if getattr(settings, "THROTTLE_STORE", "cache") == "db" else CacheStore()


class SlidingWindow:
    """A sliding-window count per ``subject`` in the throttle cache (see the module docstring)."""

    def __init__(self, prefix: str, rate: tuple[int, int]):
        self.prefix = prefix
        self.limit, self.duration = rate

    def _keys(self, subject: str) -> tuple[str, str, float]:
        now = time.time()
        window = int(now // self.duration)
        base = f"{self.prefix}:{subject}:{self.duration}"
        return f"{base}:{window}", f"{base}:{window - 1}", now - window * self.duration

    def retry_after(self, subject: str, counts: dict[str, int] | None = None, *, counted: bool = False) -> float | None:
        """Seconds to wait when ``subject`` is over the limit, else ``None``. ``counts`` (read already) saves the
        query; ``counted``: they include this very request."""
        current_key, previous_key, elapsed = self._keys(subject)
        if counts is None:
            counts = throttle_store().counts([current_key, previous_key])
        current, previous = counts.get(current_key, 0) - counted, counts.get(previous_key, 0)
        if previous * (1 - elapsed / self.duration) + current >= self.limit:
            return _wait(self.limit, self.duration, elapsed, max(current, 1), previous)
        return None

    def count(self, subject: str) -> None:
        current_key, _, _ = self._keys(subject)
        throttle_store().bump(current_key, 2 * self.duration)


def _wait(limit: int, duration: int, elapsed: float, current: int, previous: int) -> float:
    """Seconds until the estimate drops below ``limit`` (no new requests counted meanwhile)."""
    if current >= limit:
        # This window's count becomes the next window's "previous"; wait until its weight is low enough.
        return (duration - elapsed) + duration * (1 - limit / current)
    return duration * (1 - (limit - current) / previous) - elapsed


def key_window() -> SlidingWindow | None:
    rate = parse_rate(getattr(settings, "API_THROTTLE_RATE", None))
    return SlidingWindow(ApiKeyRateThrottle.cache_prefix, rate) if rate else None


def admit(request, *, address: str, prefix: str) -> None:
    """The database store's one statement per request, at authentication: count this request for its key's
    prefix and read the key's previous window and the address's failures, kept on the request for the checks
    (``auth_failure_retry_after`` and ``ApiKeyRateThrottle``). With this store every request counts, refused
    ones too: a client must back off for its window to slide."""
    if getattr(settings, "THROTTLE_STORE", "cache") != "db":
        return
    keys, failures = key_window(), auth_failure_window()
    others = []
    if failures is not None:
        current, previous, _ = failures._keys(address)
        others += [current, previous]
    if keys is None:
        request._throttle_counts = throttle_store().counts(others) if others else {}
        return
    current, previous, _ = keys._keys(prefix)
    request._throttle_counts = throttle_store().bump_and_counts(current, 2 * keys.duration, [previous, *others])
    request._throttle_prefix = prefix


def auth_failure_window() -> SlidingWindow | None:
    rate = parse_rate(getattr(settings, "API_AUTH_FAILURE_RATE", None))
    return SlidingWindow("throttle:auth_failure", rate) if rate else None


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


class ApiKeyRateThrottle(BaseThrottle):
    cache_prefix = "throttle:api_key"

    def __init__(self):
        self.retry_after: float | None = None

    def allow_request(self, request, view) -> bool:
        rate = parse_rate(getattr(settings, "API_THROTTLE_RATE", None))
        api_key = request.auth
        if rate is None or api_key is None:
            return True  # unauthenticated requests are refused before they cost anything
        window = SlidingWindow(self.cache_prefix, rate)
        admitted = getattr(request._request, "_throttle_counts", None)
        if admitted is not None and getattr(request._request, "_throttle_prefix", None) == api_key.prefix:
            self.retry_after = window.retry_after(api_key.prefix, admitted, counted=True)  # no query: read at admission
            return self.retry_after is None
        self.retry_after = window.retry_after(api_key.prefix)
        if self.retry_after is not None:
            return False
        window.count(api_key.prefix)
        return True

    def wait(self) -> float | None:
        return None if self.retry_after is None else max(1, math.ceil(self.retry_after))
