"""Health endpoints for load balancers and orchestrators (no API key, JSON, never cached).

- ``GET /healthz``: liveness. The process answers; nothing else is checked (a database outage must not get
  every web process restarted).
- ``GET /readyz``: readiness. 200 when the database answers, with how overdue the oldest due period is
  (``oldestDueSeconds``: seconds since the trigger date of the oldest pending distribution of an active
  distributor, ``0`` when none is due; a heartbeat that stopped shows as a growing number, which monitoring
  can alert on without taking the web out of rotation); 503 with ``Retry-After`` when the database does not.
"""

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from api.errors import DATABASE_RETRY_AFTER
from distributions.selectors import distributions_due


@never_cache
@require_safe
def liveness(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readiness(request):
    now = timezone.now()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        oldest = distributions_due(as_of=now).values_list("trigger_date", flat=True).first()
    except DatabaseError:
        return JsonResponse(
            {"status": "unavailable", "database": "unavailable"},
            status=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
        )
    overdue = int((now - oldest).total_seconds()) if oldest else 0
    return JsonResponse({"status": "ok", "database": "ok", "oldestDueSeconds": overdue})
