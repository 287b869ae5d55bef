"""Rate limiting per API key (a DRF throttle keyed by the key's prefix). Refusals are 429 with ``Retry-After``.

The rate is ``settings.API_THROTTLE_RATE`` (``"1200/min"``, ``"20/s"``, ``"50000/hour"``, ``"off"``), read on
every request so tests can override it.

Sliding window, approximated with two counters: the estimate is this window's count plus the previous
window's, weighted by how much of the previous window still overlaps the last ``duration`` seconds. Each
request costs one ``get_many`` and one ``add``/``incr`` whatever the rate; DRF's ``SimpleRateThrottle``
instead stores (and pickles) the timestamp of every request of the window, which at a high rate costs
more than the request itself. Refused requests are not counted, so a client that backs off recovers.

Counts live in the default cache: with the default per-process ``LocMemCache`` each worker counts on its
own, so configure a shared cache (Redis, Memcached) to enforce the rate exactly across workers.
"""

import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

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


class ApiKeyRateThrottle(BaseThrottle):
    cache_prefix = "throttle:api_key"

    def __init__(self):
        self.retry_after: float | None = None

    def allow_request(self, request, view) -> bool:
        rate = parse_rate(getattr(settings, "API_THROTTLE_RATE", None))
        api_key = request.auth
        if rate is None or api_key is None:
            return True  # unauthenticated requests are refused before they cost anything
        limit, duration = rate
        now = time.time()
        window = int(now // duration)
        elapsed = now - window * duration
        base = f"{self.cache_prefix}:{api_key.prefix}:{duration}"
        current_key, previous_key = f"{base}:{window}", f"{base}:{window - 1}"
        counts = cache.get_many([current_key, previous_key])
        current, previous = counts.get(current_key, 0), counts.get(previous_key, 0)
        if previous * (1 - elapsed / duration) + current >= limit:
            self.retry_after = self._wait(limit, duration, elapsed, current, previous)
            return False
        if not cache.add(current_key, 1, timeout=2 * duration):
            try:
                cache.incr(current_key)
            except ValueError:  # expired between add and incr
                cache.set(current_key, 1, timeout=2 * duration)
        return True

    @staticmethod
    def _wait(limit: int, duration: int, elapsed: float, current: int, previous: int) -> float:
        """Seconds until the estimate drops below ``limit`` (no new requests counted meanwhile)."""
        if current >= limit:
            # This window's count becomes the next window's "previous"; wait until its weight is low enough.
            return (duration - elapsed) + duration * (1 - limit / current)
        return duration * (1 - (limit - current) / previous) - elapsed

    def wait(self) -> float | None:
        return None if self.retry_after is None else max(1, math.ceil(self.retry_after))
