"""``number``/``offset`` pagination. A list is a bare JSON array; the total and the neighbours are headers.

- ``number``: page size, default 10; from 101 to ``MAX_REQUESTED`` it is capped at 100 (not an error, so a
  client asking for "as many as possible" works); empty, 0, negative, non-integer or above ``MAX_REQUESTED``
  is a 400.
- ``offset``: rows to skip, default 0, at most ``MAX_OFFSET``; empty, negative, non-integer or above is a
  400; past the end answers ``[]`` with the real ``X-Total-Count``.
- ``X-Total-Count``: the number of rows matching the filters. ``Link``: RFC 8288 ``rel="next"`` and
  ``rel="prev"`` URLs (the request's URL with ``offset`` moved), present only when such a page exists.

Every list is ordered (the viewset adds ``id`` as the final tie-breaker), so pages are stable.
"""

from dataclasses import dataclass

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.utils.urls import remove_query_param, replace_query_param

DEFAULT_NUMBER = 10
MAX_NUMBER = 100
MAX_OFFSET = 10**9
MAX_REQUESTED = 10**9  # the largest ``number`` accepted (and capped to MAX_NUMBER): what the schema documents


def _whole_number(name: str, raw: str | None, *, default: int, minimum: int, maximum: int | None = None) -> int:
    if raw is None:
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise ValidationError({name: [f"{name} must be a whole number of at least {minimum}, got '{raw}'."]})
    value = int(text)
    if value < minimum:
        raise ValidationError({name: [f"{name} must be a whole number of at least {minimum}, got '{raw}'."]})
    if maximum is not None and value > maximum:
        raise ValidationError({name: [f"{name} must be at most {maximum}."]})
    return value


@dataclass(frozen=True)
class Page:
    number: int
    offset: int

    @property
    def stop(self) -> int:
        return self.offset + self.number


class NumberOffsetPagination(BasePagination):
    """Parses ``number``/``offset`` and writes the list headers; the viewset runs the queries."""

    def parse(self, request) -> Page:
        params, errors, values = request.query_params, {}, {}
        for name, default, minimum, maximum in (
            ("number", DEFAULT_NUMBER, 1, MAX_REQUESTED),
            ("offset", 0, 0, MAX_OFFSET),
        ):
            try:
                values[name] = _whole_number(name, params.get(name), default=default, minimum=minimum, maximum=maximum)
            except ValidationError as exc:
                errors.update(exc.detail)
        if errors:
            raise ValidationError(errors)
        return Page(number=min(values["number"], MAX_NUMBER), offset=values["offset"])

    def headers(self, request, page: Page, total: int) -> dict[str, str]:
        url = request.build_absolute_uri()
        links = []
        if page.stop < total:
            links.append(f'<{self._url(url, page, page.stop)}>; rel="next"')
        if page.offset > 0:
            links.append(f'<{self._url(url, page, max(page.offset - page.number, 0))}>; rel="prev"')
        headers = {"X-Total-Count": str(total)}
        if links:
            headers["Link"] = ", ".join(links)
        return headers

    @staticmethod
    def _url(url: str, page: Page, offset: int) -> str:
        url = replace_query_param(url, "number", page.number)
        return replace_query_param(url, "offset", offset) if offset else remove_query_param(url, "offset")

    # OpenAPI: the parameters, and the response stays a bare array (headers are documented by the schema).
    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "number",
                "in": "query",
                "required": False,
                "description": f"Page size, default {DEFAULT_NUMBER}; values above {MAX_NUMBER} (up to "
                f"{MAX_REQUESTED}) are capped at {MAX_NUMBER}; 0 or less, or above {MAX_REQUESTED}, is a 400.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_REQUESTED, "default": DEFAULT_NUMBER},
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "description": f"Rows to skip, default 0, at most {MAX_OFFSET}. Past the end the answer is an "
                "empty array.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
            },
        ]

    def get_paginated_response_schema(self, schema):
        return schema
