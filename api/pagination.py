"""``number``/``offset``/``after`` pagination. A list is a bare JSON array; the total and the neighbours are headers.

- ``number``: page size, default 10; from 101 to ``MAX_REQUESTED`` it is capped at 100 (not an error, so a
  client asking for "as many as possible" works); empty, 0, negative, non-integer or above ``MAX_REQUESTED``
  is a 400.
- ``offset``: rows to skip, default 0, at most ``MAX_OFFSET``; empty, negative, non-integer or above is a
  400; past the end answers ``[]`` with the real ``X-Total-Count``.
- ``after``: a keyset cursor, the id of a row: the page starts just after that row in the list's order
  (``orderBy``/``order``). With the default ``orderBy=id`` any id works (``order=DESC``: smaller ids;
  ``ASC``: larger), whether or not that row still exists. With another ``orderBy`` the cursor row's current
  sort value is read in the same query and the page continues after ``(value, id)``; if that row no longer
  exists (or is not the tenant's) nothing follows it and the page is empty. ``offset`` still applies, counted
  from the cursor. A deep page through ``after`` costs what the first page costs; a deep ``offset`` still
  walks the skipped rows (ids only, in an index), so ``after`` is the way to read a long list.
- ``X-Total-Count``: the rows matching the filters (never narrowed by ``after``), counted separately from
  the page and at most ``TOTAL_COUNT_CAP`` of them: exact up to the cap, ``10000+`` above it. The first
  page of a list that fits in it needs no count at all.
- ``Link``: RFC 8288. ``rel="next"`` is present when another row follows the page (the page query reads one
  row more than it returns) and is always a cursor: the request's URL with ``after`` set to the last row's id
  and ``offset`` removed. ``rel="prev"`` is present when the request has an ``offset`` (the same URL with
  ``offset`` moved back); a page reached by a cursor without ``offset`` has none (a cursor walks forward).

Every list is ordered (the viewset adds ``id`` as the final tie-breaker), so pages and cursors are stable.
"""

from dataclasses import dataclass

from django.db.models import Q, QuerySet, Subquery
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.utils.urls import remove_query_param, replace_query_param

DEFAULT_NUMBER = 10
MAX_NUMBER = 100
MAX_OFFSET = 10**9
MAX_REQUESTED = 10**9  # the largest ``number`` accepted (and capped to MAX_NUMBER): what the schema documents
MAX_AFTER = 2**63 - 1  # ids are bigints
TOTAL_COUNT_CAP = 10_000  # X-Total-Count counts at most this many rows (then says "10000+")
_MAX_DIGITS = 19  # a bigint; longer is refused before int() (no multi-kilobyte numbers)


def _whole_number(name: str, raw: str | None, *, default: int, minimum: int, maximum: int | None = None) -> int:
    if raw is None:
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_DIGITS:
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
    after: int | None = None

    @property
    def stop(self) -> int:
        return self.offset + self.number


@dataclass(frozen=True)
class Total:
    """``X-Total-Count``: ``count`` rows, or at least that many when not ``exact`` (the count stopped at the cap)."""

    count: int
    exact: bool = True

    def __str__(self) -> str:
        return str(self.count) if self.exact else f"{self.count}+"


def bounded_total(queryset: QuerySet, *, cap: int | None = None) -> Total:
    """How many rows ``queryset`` (filtered, not paged) matches, counting at most ``cap`` + 1 of them: one
    ``SELECT COUNT(*) FROM (SELECT id ... LIMIT cap + 1)``, so a tenant's size never makes a page slower."""
    cap = TOTAL_COUNT_CAP if cap is None else cap
    counted = queryset.order_by().values("pk")[: cap + 1].count()
    return Total(cap, exact=False) if counted > cap else Total(counted)


def after_filter(ordering: list[str], after: int, cursor_rows: QuerySet) -> Q:
    """The rows that follow row ``after`` in ``ordering`` (``["-status", "-id"]``: sort columns, ``id`` last).

    By id alone: ``id < after`` (descending) or ``id > after``. With a sort column ``c`` before it, the
    cursor row's value ``v`` is a subquery on ``cursor_rows`` (the tenant's rows) and the condition is
    ``c <= v AND (c < v OR id < after)`` (mirrored for ascending): the same as the row comparison
    ``(c, id) < (v, after)``, written so that an index on ``c`` bounds the scan. A missing cursor row makes
    ``v`` NULL, so nothing follows it.
    """
    *columns, last = ordering
    descending = last.startswith("-")
    condition = Q(pk__lt=after) if descending else Q(pk__gt=after)
    for column in reversed(columns):
        name = column.lstrip("-")
        value = Subquery(cursor_rows.filter(pk=after).values(name)[:1])
        strict, loose = ("lt", "lte") if column.startswith("-") else ("gt", "gte")
        condition = Q(**{f"{name}__{loose}": value}) & (Q(**{f"{name}__{strict}": value}) | condition)
    return condition


def page_ids(queryset: QuerySet, page: Page, ordering: list[str], cursor_rows: QuerySet) -> QuerySet:
    """The ids of the page as a subquery (``SELECT id ... ORDER BY ... LIMIT number + 1 OFFSET offset``), read
    without the joins or annotations of the selected fields; one row more than the page tells whether a
    next page exists."""
    ids = queryset.order_by(*ordering)
    if page.after is not None:
        ids = ids.filter(after_filter(ordering, page.after, cursor_rows))
    return ids.values("pk")[page.offset : page.stop + 1]


class NumberOffsetPagination(BasePagination):
    """Parses ``number``/``offset``/``after`` and writes the list headers; the viewset runs the queries."""

    def parse(self, request, *, cursor: bool = True) -> Page:
        """The page asked for; ``cursor=False`` for lists that only page by offset (``after`` is then
        refused as an unknown parameter by the view before this runs)."""
        params, errors, values = request.query_params, {}, {}
        specs = [("number", DEFAULT_NUMBER, 1, MAX_REQUESTED), ("offset", 0, 0, MAX_OFFSET)]
        if cursor:
            specs.append(("after", None, 0, MAX_AFTER))
        for name, default, minimum, maximum in specs:
            try:
                values[name] = _whole_number(name, params.get(name), default=default, minimum=minimum, maximum=maximum)
            except ValidationError as exc:
                errors.update(exc.detail)
        if errors:
            raise ValidationError(errors)
        return Page(number=min(values["number"], MAX_NUMBER), offset=values["offset"], after=values.get("after"))

    def headers(self, request, page: Page, total: int | Total, *, next_after: int | None = None) -> dict[str, str]:
        """``X-Total-Count`` and ``Link``. With ``next_after`` (the last row's id, given when another row
        follows) the next link is a cursor; without it, the offset lists (standings) link by ``total``."""
        url = request.build_absolute_uri()
        links = []
        if next_after is not None:
            links.append(f'<{self._cursor_url(url, page, next_after)}>; rel="next"')
        elif not isinstance(total, Total) and page.stop < total:
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

    @staticmethod
    def _cursor_url(url: str, page: Page, after: int) -> str:
        url = replace_query_param(url, "number", page.number)
        return replace_query_param(remove_query_param(url, "offset"), "after", after)

    # OpenAPI: the parameters, and the response stays a bare array (headers are documented by the schema).
    def get_schema_operation_parameters(self, view):
        parameters = [
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
                "description": f"Rows to skip, default 0, at most {MAX_OFFSET} (counted from `after` when "
                "given). Past the end the answer is an empty array. For deep pages prefer `after`.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
            },
        ]
        allowed = view.allowed_query_params() if hasattr(view, "allowed_query_params") else None
        if allowed is None or "after" in allowed:
            parameters.append(
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "description": "Keyset cursor: the id of a row; the page starts just after it in the list's "
                    'order (`Link: rel="next"` carries it). With `orderBy=id` any id works; with another '
                    "`orderBy` the page continues after that row's current value, and is empty if the row is "
                    "gone. A deep page by `after` costs what the first page costs.",
                    "schema": {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_AFTER},
                }
            )
        return parameters

    def get_paginated_response_schema(self, schema):
        return schema
