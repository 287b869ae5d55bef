"""HTTP hygiene for every response, and the API's answer when the database is gone.

- ``HeadWithoutBody``: a HEAD response carries the headers of the GET (``Content-Length`` included) and no
  body. Django's development server drops the body itself; gunicorn sends what the view returned, and a
  client on a keep-alive connection then reads that body as the start of the next response.
- ``ApiDatabaseUnavailable``: an ``OperationalError``/``InterfaceError`` raised on an ``/api/`` path outside
  a DRF view (DRF's own are handled by ``api.errors.exception_handler``) answers 503 JSON with
  ``Retry-After`` instead of a 500.
"""

from django.db import InterfaceError, OperationalError

from api.errors import database_unavailable_response


class HeadWithoutBody:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method == "HEAD" and not response.streaming:
            if not response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
            response.content = b""  # Content-Length stays the GET's, as RFC 9110 allows for HEAD
        return response


class ApiDatabaseUnavailable:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if request.path.startswith("/api/") and isinstance(exception, OperationalError | InterfaceError):
            return database_unavailable_response()
        return None
