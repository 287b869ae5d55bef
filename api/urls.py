"""Routes of /api/v1/."""

urlpatterns: list = []
