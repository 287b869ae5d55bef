"""Bench-only URLconf: the product's routes plus ``/bench/bare-distributions``, the baseline of ``bench/api.py``.

The bare view answers what ``GET /api/v1/distributions?number=100&fields=<every extended field but
allocations>`` answers (the same JSON: ``id`` and those fields, newest first), straight from
``.values()`` into ``JsonResponse``: no authentication, no throttling, no parameter parsing, no count,
no headers. It is what the API's overhead is measured against.
"""

from django.db.models import F
from django.http import JsonResponse
from django.urls import path
from rest_framework.utils.encoders import JSONEncoder

from config.urls import handler404, handler500  # noqa: F401
from config.urls import urlpatterns as product_urlpatterns
from distributions.api.serializers import allocation_count
from distributions.models import Distribution


def bare_distributions(request):
    rows = (
        Distribution.objects.filter(organization_id=int(request.GET["organization"]))
        .order_by("-id")
        .values(
            "id",
            "pool",
            "unallocated",
            distributorName=F("distributor__name"),
            distributorUnits=F("distributor__units"),
            periodStart=F("period_start"),
            rolledOver=F("rolled_over"),
            carriedForward=F("carried_forward"),
            triggeredAt=F("triggered_at"),
            allocationCount=allocation_count(),
        )[:100]
    )
    return JsonResponse(list(rows), safe=False, encoder=JSONEncoder, json_dumps_params={"separators": (",", ":")})


urlpatterns = [path("bench/bare-distributions", bare_distributions), *product_urlpatterns]
