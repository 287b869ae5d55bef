"""The documentation page's assets (Swagger UI), served from the ``drf-spectacular-sidecar`` package.

Served by the application itself: nothing is fetched from a CDN and no ``collectstatic`` is needed. (Redoc
is not offered: its page pulls web fonts from Google.)
"""

from pathlib import Path

import drf_spectacular_sidecar
from django.views.static import serve

from api.errors import api_not_found

DOCS_ASSETS = Path(drf_spectacular_sidecar.__file__).resolve().parent / "static" / "drf_spectacular_sidecar"


def docs_asset(request, path: str):
    """A Swagger UI file from the sidecar package; anything that tries to leave its folder is a 404."""
    if ".." in path.split("/") or "\\" in path:
        return api_not_found(request)
    return serve(request, path, document_root=DOCS_ASSETS)
