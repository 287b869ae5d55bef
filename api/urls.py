"""Routes of /api/v1/: the three resources, the OpenAPI schema, the documentation page and its assets.

Resource paths take an optional trailing slash (``/distributions`` and ``/distributions/`` both answer,
without a redirect). The documentation page (Swagger UI) loads its assets from the
``drf-spectacular-sidecar`` package through ``docs/assets/``, served by the application itself: nothing is
fetched from a CDN and no ``collectstatic`` is needed. (Redoc is not offered: its page pulls web fonts from
Google.) Anything else under /api/v1/ is a JSON 404.
"""

from pathlib import Path

import drf_spectacular_sidecar
from django.urls import re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.errors import api_not_found
from api.routers import OptionalSlashRouter
from distributions.api.views import DistributionViewSet
from distributors.api.views import DistributorViewSet
from obligations.api.views import ObligationViewSet

DOCS_ASSETS = Path(drf_spectacular_sidecar.__file__).resolve().parent / "static" / "drf_spectacular_sidecar"


def docs_asset(request, path: str):
    """A Swagger UI file from the sidecar package; anything that tries to leave its folder is a 404."""
    if ".." in path.split("/") or "\\" in path:
        return api_not_found(request)
    return serve(request, path, document_root=DOCS_ASSETS)


router = OptionalSlashRouter()
router.register("distributions", DistributionViewSet, basename="distribution")
router.register("distributors", DistributorViewSet, basename="distributor")
router.register("obligations", ObligationViewSet, basename="obligation")

urlpatterns = [
    *router.urls,
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="api-schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^docs/assets/(?P<path>swagger-ui-dist/.+)$", docs_asset, name="api-docs-assets"),
    re_path(r"", api_not_found),
]
