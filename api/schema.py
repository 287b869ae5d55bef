"""OpenAPI (drf-spectacular) for the tenant viewsets, generated from the same declarations that serve them.

- Response objects come from each endpoint's ``FieldSet`` (core fields required, extended optional).
- ``fields``/``include`` on list and retrieve (a list's enum is the fields it serves); ``orderBy``
  (enum)/``order`` on lists (``list`` and the view's ``list_actions``); filters come from the django-filter
  ``FilterSet`` and ``number``/``offset``/``after`` from the paginator.
- List responses document ``X-Total-Count`` and ``Link``; 401 documents ``WWW-Authenticate``, 429
  ``Retry-After``; every operation lists its error responses with the one error shape.
- The bearer scheme is declared by an authentication extension for ``ApiKeyAuthentication``.
- Routes accept an optional trailing slash; the schema lists each path once, without it.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from api.errors import ErrorSerializer
from api.pagination import TOTAL_COUNT_CAP

ERROR_DESCRIPTIONS = {
    400: "Invalid parameters or body: `errors` names each failing input by its API name.",
    401: "Missing, unknown or revoked API key.",
    403: "The API key lacks the scope this operation needs.",
    404: "No such object in the key's organization.",
    409: "Conflict.",
    429: "Too many requests for this API key; retry after `Retry-After` seconds.",
}


def error_responses(*codes: int, **descriptions: str) -> dict:
    """``{code: OpenApiResponse(Error)}`` for ``@extend_schema(responses=...)``; ``descriptions`` by ``e409=``."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=descriptions.get(f"e{code}", ERROR_DESCRIPTIONS[code]))
        for code in codes
    }


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "<prefix>.<secret>",
            "description": "An API key of your organization: `Authorization: Bearer <prefix>.<secret>`. "
            "Scopes: `read` (every GET), `metrics:write` (credit-metric).",
        }


def strip_optional_trailing_slash(endpoints, **kwargs):
    """Preprocessing hook: ``/api/v1/distributions/`` (the ``/?`` route) is documented as ``…/distributions``."""
    result = []
    for path, path_regex, method, callback in endpoints:
        if path_regex.endswith("/?$") and path.endswith("/"):
            path = path[:-1]
        result.append((path, path_regex, method, callback))
    return result


class TenantAutoSchema(AutoSchema):
    def _action(self) -> str | None:
        return getattr(self.view, "action", None)

    def _is_paged_list(self) -> bool:
        return self._action() in getattr(self.view, "list_actions", ("list",))

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        action = self._action()
        selectable = getattr(self.view, "selectable_fields", None)
        fieldset = selectable() if selectable is not None else getattr(self.view, "fieldset", None)
        if fieldset is not None and (action == "retrieve" or self._is_paged_list()):
            parameters += _field_parameters(fieldset)
        if self._is_paged_list():
            parameters += _list_parameters(self.view)
        return parameters + _error_header_parameters()

    def _error_codes(self) -> tuple[int, ...]:
        action = self._action()
        codes = [401, 403, 429]
        if action == "retrieve" or self._is_paged_list() or self.method != "GET":
            codes.append(400)
        if action == "retrieve" or (self._is_paged_list() and getattr(self.view, "detail", False)):
            codes.append(404)
        return tuple(sorted(codes))

    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if str(code) not in bodies:
                bodies[str(code)] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]),
                    str(code),
                    direction=direction,
                )
        return dict(sorted(bodies.items()))


def _field_parameters(fieldset) -> list[OpenApiParameter]:
    """``fields`` and ``include`` (list and retrieve); ``fieldset`` is what the operation serves."""
    return [
        OpenApiParameter(
            "fields",
            {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(fieldset.names)}},
            style="form",
            explode=False,
            description="Comma-separated fields to return (`id` is always returned). Default: the core "
            f"fields ({', '.join(fieldset.core_names)}). Extended fields: "
            f"{', '.join(fieldset.extended_names) or 'none'}. An unknown or empty name is a 400 listing the valid "
            "ones." + "".join(f" `{name}` is a 400 here: {reason}" for name, reason in fieldset.refused.items()),
        ),
        OpenApiParameter(
            "include",
            OpenApiTypes.STR,
            enum=["extended"],
            description="`extended` returns every field, core and extended.",
        ),
    ]


def _list_parameters(view) -> list[OpenApiParameter]:
    """Ordering and the pagination headers (list)."""
    ordering = list(view.ordering_fields)
    return [
        OpenApiParameter(
            "orderBy",
            OpenApiTypes.STR,
            enum=ordering,
            default=view.default_ordering,
            description="Sort key; `id` is always the final tie-breaker so pages are stable.",
        ),
        OpenApiParameter(
            "order",
            OpenApiTypes.STR,
            enum=["ASC", "DESC"],
            default="DESC",
            description="Sort direction (case-insensitive).",
        ),
        OpenApiParameter(
            "X-Total-Count",
            {"type": "string", "pattern": r"^[0-9]+\+?$"},
            location=OpenApiParameter.HEADER,
            response=[200],
            description="Number of rows matching the filters, regardless of the page and of `after`: exact up "
            f"to {TOTAL_COUNT_CAP}, `{TOTAL_COUNT_CAP}+` when more match (counting stops there, so a page never "
            "costs a scan of the whole list).",
        ),
        OpenApiParameter(
            "Link",
            OpenApiTypes.STR,
            location=OpenApiParameter.HEADER,
            response=[200],
            description='RFC 8288 links: `<url>; rel="next"` when another row follows, always a cursor '
            '(`after=<the last id of this page>`, no `offset`); `<url>; rel="prev"` when the request has an '
            "`offset` (a page reached by `after` alone has none).",
        ),
    ]


def _error_header_parameters() -> list[OpenApiParameter]:
    """The headers of a 401 and a 429 (every operation)."""
    return [
        OpenApiParameter(
            "WWW-Authenticate",
            OpenApiTypes.STR,
            location=OpenApiParameter.HEADER,
            response=[401],
            description='`Bearer realm="api"`',
        ),
        OpenApiParameter(
            "Retry-After",
            OpenApiTypes.INT,
            location=OpenApiParameter.HEADER,
            response=[429],
            description="Seconds to wait before retrying.",
        ),
    ]
