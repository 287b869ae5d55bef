"""The API router: paths as documented (``/distributions``), with an optional trailing slash."""

from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """``^distributions/?$``: both ``/api/v1/distributions`` and ``/api/v1/distributions/`` answer, with no
    redirect (a redirect would drop the body of a POST). The schema lists the slash-less form."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
