"""One error shape for every API response: ``{"message": "...", "errors": {"fieldApiName": ["..."]}}``.

``errors`` is present only for validation failures (400) and names the failing inputs by their API names
(query parameters, body fields or headers). Everything else, from a 401 to a 500, carries only
``message``. ``exception_handler`` is DRF's hook; ``handler400``/``handler404``/``handler500`` (wired in the
root URLconf) and ``api_not_found`` (the catch-all of ``/api/v1/``) give the same shape to what never
reaches a DRF view (a body over the upload limit, an unknown Host, a malformed request), and leave
non-API paths to Django's defaults.

A database that is down or unreachable is a 503 with ``Retry-After`` (``DATABASE_RETRY_AFTER`` seconds),
never a 500: the request changed nothing and can simply be retried.
"""

from django.core.exceptions import DisallowedHost, RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

DATABASE_RETRY_AFTER = 5
DATABASE_UNAVAILABLE = "The database is unavailable; nothing was changed. Retry shortly."

NON_FIELD_KEYS = {"non_field_errors", "__all__"}


def _messages(detail) -> list[str]:
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in _messages(value)]
    if isinstance(detail, list | tuple):
        return [message for value in detail for message in _messages(value)]
    return [str(detail)]


def validation_body(detail) -> dict:
    """``{"message", "errors"}`` for a ValidationError's ``detail`` (a dict by field, or a list)."""
    if not isinstance(detail, dict):
        messages = _messages(detail)
        return {"message": " ".join(messages) or "Invalid request.", "errors": {}}
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    for field, value in detail.items():
        if field in NON_FIELD_KEYS:
            general.extend(_messages(value))
        else:
            errors[str(field)] = _messages(value)
    if general:
        message = " ".join(general)
    elif len(errors) == 1:
        (field, messages), *_ = errors.items()
        message = f"{field}: {' '.join(messages)}"
    else:
        message = f"Invalid request: {', '.join(errors)} are invalid."
    return {"message": message, "errors": errors}


def database_unavailable_response() -> JsonResponse:
    return JsonResponse(
        {"message": DATABASE_UNAVAILABLE}, status=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER)}
    )


def exception_handler(exc, context):
    if isinstance(exc, OperationalError | InterfaceError):
        return Response(
            {"message": DATABASE_UNAVAILABLE}, status=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER)}
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's handler500 answers (JSON on /api/ paths)
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_body(exc.detail)
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
        response.data = {"message": " ".join(_messages(detail)) if detail is not None else "Error."}
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def api_not_found(request, *args, **kwargs):
    return JsonResponse({"message": f"No API endpoint at {request.path}."}, status=404)


def handler400(request, exception=None):
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent):
        message = "The request body is too large."
    elif isinstance(exception, DisallowedHost):
        message = "Unknown host."
    else:
        message = "Bad request."
    return JsonResponse({"message": message}, status=400)


def handler404(request, exception=None):
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return JsonResponse({"message": "Internal server error."}, status=500)
    return defaults.server_error(request)


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    message = serializers.CharField(help_text="What went wrong, for a human.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation failures only: the failing inputs by API name, each with its messages.",
    )

    class Meta:
        ref_name = "Error"


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "The request conflicts with an earlier one."
    default_code = "conflict"
