from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Distribution engine"
admin.site.site_title = "Distribution engine"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
]

# JSON 404/500 on /api/ paths (Django's own pages elsewhere); only used with DEBUG off.
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
