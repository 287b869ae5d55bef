"""The documentation page's assets (Swagger UI), served from the ``drf-spectacular-sidecar`` package.

Served by the application itself: nothing is fetched from a CDN and no ``collectstatic`` is needed. (Redoc
is not offered: its page pulls web fonts from Google.)
"""

from pathlib import Path

import drf_spectacular_sidecar
from django.conf import settings
from django.http import JsonResponse
from django.views.static import serve
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView

from api.errors import api_not_found

DOCS_ASSETS = Path(drf_spectacular_sidecar.__file__).resolve().parent / "static" / "drf_spectacular_sidecar"


def docs_asset(request, path: str):
    """A Swagger UI file from the sidecar package; anything that tries to leave its folder is a 404."""
    if ".." in path.split("/") or "\\" in path:
        return api_not_found(request)
    return serve(request, path, document_root=DOCS_ASSETS)


SCHEMA_FORMATS = ("json", "yaml", "openapi", "openapi-json")


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema; only the query parameters it understands, with their known values.

    drf-spectacular would pass ``version`` and ``lang`` through (``version`` even into the
    ``Content-Disposition`` header, where a CR/LF is a 500); anything but the documented values is a 400 in
    the API's error shape.
    """

    @extend_schema(exclude=True)  # the schema does not document itself (as drf-spectacular's own view)
    def get(self, request, *args, **kwargs):
        allowed = {
            "format": SCHEMA_FORMATS,
            "version": (settings.SPECTACULAR_SETTINGS.get("VERSION", ""),),
            "lang": tuple(code for code, _ in settings.LANGUAGES),
        }
        errors = {}
        for name in request.GET:
            if name not in allowed:
                errors[name] = [f"Unknown query parameter. Valid parameters: {', '.join(allowed)}."]
            elif request.GET.get(name) not in allowed[name]:
                errors[name] = [f"Unknown value. Valid values: {', '.join(allowed[name])}."]
        if errors:
            message = f"{next(iter(errors))}: {next(iter(errors.values()))[0]}"
            return JsonResponse({"message": message, "errors": errors}, status=400)
        return super().get(request, *args, **kwargs)
