"""The route table: the admin and /api/v1/ (the three resources, credit-metric, the schema and the docs).

Resource paths take an optional trailing slash (``/distributions`` and ``/distributions/`` both answer,
without a redirect). Anything else under /api/v1/ is a JSON 404.
"""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularSwaggerView

from api.docs import SchemaView, docs_asset
from api.errors import api_not_found
from api.routers import OptionalSlashRouter
from config import health
from distributions.api.views import DistributionViewSet, DistributorViewSet
from events.api.views import EventListView
from metrics.api.views import CreditMetricBatchView, CreditMetricView
from obligations.api.views import ObligationViewSet

admin.site.site_header = "Distribution engine"
admin.site.site_title = "Distribution engine"
# No app-list sidebar beside every page: at 1366 px it took 300 px from the lists, whose amount columns were then
# clipped. The app list is on the index (Home in the breadcrumbs).
admin.site.enable_nav_sidebar = False
# The index with the money dashboard above the app list (distributions/templates/admin/dashboard_index.html).
admin.site.index_template = "admin/dashboard_index.html"

router = OptionalSlashRouter()
router.register("distributions", DistributionViewSet, basename="distribution")
router.register("distributors", DistributorViewSet, basename="distributor")
router.register("obligations", ObligationViewSet, basename="obligation")

api_patterns = [
    re_path(r"^distributors/credit-metric/?$", CreditMetricView.as_view(), name="distributor-credit-metric"),
    re_path(r"^distributors/credit-metric/batch/?$", CreditMetricBatchView.as_view(), name="credit-metric-batch"),
    re_path(r"^events/?$", EventListView.as_view(), name="event-list"),
    *router.urls,
    re_path(r"^schema/?$", SchemaView.as_view(), name="api-schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^docs/assets/(?P<path>swagger-ui-dist/.+)$", docs_asset, name="api-docs-assets"),
    re_path(r"", api_not_found),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", health.liveness, name="healthz"),
    path("readyz", health.readiness, name="readyz"),
    path("api/v1/", include(api_patterns)),
]

# JSON 400/404/500 on /api/ paths (Django's own pages elsewhere); only used with DEBUG off.
handler400 = "api.errors.handler400"
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
