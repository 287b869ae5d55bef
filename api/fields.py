"""The field resolver (NetBox style): ``?fields=`` chooses both the output fields and the SQL behind them.

Each endpoint declares its fields once, as a ``FieldSet`` of ``ApiField``s. A field is *core* (returned
by default) or *extended* (returned only when named in ``?fields=a,b`` or with ``?include=extended``;
``id`` is always returned). How a field is loaded is part of its declaration, and only the selected
fields' loading is applied:

- ``column``: a ``.values()`` path; a path through a foreign key (``distributor__name``) adds its join.
- ``annotated``: a SQL expression (a ``Count``/``Subquery``) annotated on the page query.
- ``batched``: a many-valued field (``allocations``): one extra query for the whole page, keyed by id.
- ``computed``: derived in Python from other columns of the row (``requires``) and the request context.

Rows are the plain dicts of ``.values()``, keyed by API names in SQL, never built through DRF serializers,
and a list costs the same number of queries for a page of 1 as for a page of 100, and at offset 0 as at a
deep offset: the page query (the page's ids chosen by a subquery on the filtered rows alone, the fields
loaded for those ids only), the bounded total (``api.pagination.bounded_total``, when the page does not tell
it) and one query per selected batched field.
An ``annotated`` field's expression is built by its (cached) factory; ``annotate()`` resolves a copy.

The DRF serializer ``FieldSet.schema_serializer`` is derived from the same declarations and used only to
document the response in the OpenAPI schema.
"""

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db.models import Expression, F, QuerySet
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

INCLUDE_EXTENDED = "extended"
CORE_NOTE = "Core: returned by default, or when named in `fields`."
EXTENDED_NOTE = "Extended: returned only when named in `fields` or with `include=extended`."


@dataclass(frozen=True)
class ResolveContext:
    """What ``batched`` and ``computed`` fields may use besides the rows: the tenant and the request time."""

    organization_id: int
    now: datetime


Loader = Callable[[list[int], ResolveContext], dict[int, Any]]
Compute = Callable[[dict, ResolveContext], Any]


@dataclass(frozen=True, eq=False)
class ApiField:
    name: str
    schema: serializers.Field
    extended: bool = False
    source: str | None = None
    annotation: Callable[[], Expression] | None = None
    loader: Loader | None = None
    missing: Callable[[], Any] = lambda: None
    compute: Compute | None = None
    requires: tuple[str, ...] = field(default=())


def column(name: str, source: str, schema: serializers.Field, *, extended: bool = False) -> ApiField:
    return ApiField(name=name, schema=schema, extended=extended, source=source)


def annotated(
    name: str, expression: Callable[[], Expression], schema: serializers.Field, *, extended: bool = True
) -> ApiField:
    return ApiField(name=name, schema=schema, extended=extended, annotation=expression)


def batched(
    name: str, loader: Loader, schema: serializers.Field, *, missing: Callable[[], Any] = list, extended: bool = True
) -> ApiField:
    return ApiField(name=name, schema=schema, extended=extended, loader=loader, missing=missing)


def computed(
    name: str, compute: Compute, requires: Sequence[str], schema: serializers.Field, *, extended: bool = True
) -> ApiField:
    return ApiField(name=name, schema=schema, extended=extended, compute=compute, requires=tuple(requires))


class Selection:
    """The fields chosen for one request, compiled into the one ``.values()`` query that loads them.

    Rows come out of ``.values()`` already keyed by API names (``triggerDate=F("trigger_date")``,
    ``allocationCount=<expression>``), so a page of plain columns is returned as the database driver built
    it; only batched and computed fields touch each row again, and columns fetched only to compute a field
    (``requires``) are dropped afterwards.
    """

    def __init__(self, fields: Sequence[ApiField]):
        self.fields = tuple(fields)
        self.names = tuple(f.name for f in self.fields)
        columns = [f for f in self.fields if f.source]
        self.plain = tuple(dict.fromkeys(["id", *(f.name for f in columns if f.source == f.name)]))
        self.aliased = tuple((f.name, f.source) for f in columns if f.source != f.name)
        self.annotated = tuple(f for f in self.fields if f.annotation is not None)
        self.batched = tuple(f for f in self.fields if f.loader is not None)
        self.computed = tuple(f for f in self.fields if f.compute is not None)
        selected = {*self.names, *self.plain}
        self.hidden = tuple(dict.fromkeys(k for f in self.computed for k in f.requires if k not in selected))

    def fetch(self, queryset: QuerySet, context: ResolveContext) -> list[dict]:
        """Run the query (``queryset`` already filtered, ordered and sliced) and build the API rows."""
        return self._build(self._rows(queryset), context)

    def fetch_page(
        self, queryset: QuerySet, page_ids: QuerySet, ordering: Sequence[str], context: ResolveContext, *, number: int
    ) -> tuple[list[dict], bool]:
        """The first ``number`` rows of ``queryset`` (filtered) whose ids are ``page_ids``, in ``ordering``, and
        whether more came back (``page_ids`` reads one row beyond the page to tell that a next page exists).

        ``page_ids`` is the page chosen on the filtered rows alone (``api.pagination.page_ids``: ids only, no
        join, no annotation); it becomes a subquery (``WHERE id IN (SELECT id ... LIMIT n OFFSET m)``) of the one
        query that loads the selected fields, so joins and annotations run for the page's rows only, whatever
        the offset. The list's filters are applied again to those rows (cheap, and it keeps this query as
        scoped as the list); batched fields load for the returned rows only.
        """
        rows = self._rows(queryset.filter(pk__in=page_ids).order_by(*ordering))
        return self._build(rows[:number], context), len(rows) > number

    def _rows(self, queryset: QuerySet) -> list[dict]:
        expressions = {name: F(source) for name, source in self.aliased}
        expressions.update((f.name, f.annotation()) for f in self.annotated)
        return list(queryset.values(*self.plain, *self.hidden, **expressions))

    def _build(self, rows: list[dict], context: ResolveContext) -> list[dict]:
        drop = self.hidden
        if not rows or not (self.batched or self.computed or drop):
            return rows
        loaded = {f.name: (f.loader([row["id"] for row in rows], context), f.missing) for f in self.batched}
        for row in rows:
            for name, (values, missing) in loaded.items():
                row[name] = values[row["id"]] if row["id"] in values else missing()
            for f in self.computed:
                row[f.name] = f.compute(row, context)
            for key in drop:
                del row[key]
        return rows


class FieldSet:
    """The fields of one endpoint, in output order. ``id`` must be the first, core field."""

    def __init__(self, name: str, fields: Iterable[ApiField], *, refused: dict[str, str] | None = None):
        self.name = name
        self.fields = tuple(fields)
        # Names this endpoint knows but will not serve, each with the reason a 400 gives (``without``).
        self.refused = dict(refused or {})
        self.by_name = {f.name: f for f in self.fields}
        assert len(self.by_name) == len(self.fields), f"{name}: duplicate field names"
        assert self.fields and self.fields[0].name == "id" and not self.fields[0].extended, f"{name}: id first"
        for f in self.fields:  # a computed field reads its inputs by their database names
            for key in f.requires:
                other = self.by_name.get(key)
                assert other is None or other.source == key, f"{name}.{f.name}: '{key}' is another field's API name"
        self.core_names = tuple(f.name for f in self.fields if not f.extended)
        self.extended_names = tuple(f.name for f in self.fields if f.extended)
        self.core = Selection([f for f in self.fields if not f.extended])
        self.everything = Selection(self.fields)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.by_name)

    def extended_with(self, *fields: ApiField) -> "FieldSet":
        """The same object with ``fields`` appended: how a higher app adds what only it can load (the
        distributions app adds a distributor's open period) without the lower app importing it."""
        return FieldSet(self.name, (*self.fields, *fields), refused=self.refused)

    def without(self, reasons: dict[str, str]) -> "FieldSet":
        """The same object without the fields named in ``reasons``: ``?fields=`` naming one is a 400 on
        ``fields`` with its reason, and ``?include=extended`` leaves them out (how a list refuses what only a
        detail serves, e.g. a distribution's embedded ``allocations``)."""
        assert set(reasons) <= set(self.by_name), f"{self.name}: unknown fields {set(reasons) - set(self.by_name)}"
        kept = [f for f in self.fields if f.name not in reasons]
        return FieldSet(self.name, kept, refused={**self.refused, **reasons})

    def select(self, query_params) -> Selection:
        """The selection asked for by ``?fields=`` and ``?include=``; a 400 naming the valid values otherwise."""
        include = [v.strip() for raw in query_params.getlist("include") for v in raw.split(",")]
        unknown_include = [v for v in include if v != INCLUDE_EXTENDED]
        if unknown_include:
            raise ValidationError({"include": [f"Unknown value '{unknown_include[0]}'; the only value is 'extended'."]})
        requested = [v.strip() for raw in query_params.getlist("fields") for v in raw.split(",")]
        if "" in requested:  # ``fields=`` or ``fields=a,,b``: the schema's enum has no empty name
            raise ValidationError({"fields": [f"Empty field name. Valid fields: {', '.join(self.names)}."]})
        refused = [name for name in requested if name in self.refused]
        if refused:
            raise ValidationError({"fields": [self.refused[name] for name in dict.fromkeys(refused)]})
        unknown = [name for name in requested if name not in self.by_name]
        if unknown:
            raise ValidationError(
                {
                    "fields": [
                        f"Unknown field{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)}. "
                        f"Valid fields: {', '.join(self.names)}."
                        + (f" Not served here: {', '.join(self.refused)}." if self.refused else "")
                    ]
                }
            )
        if include:
            return self.everything
        if not requested:
            return self.core
        wanted = {"id", *requested}
        return Selection([f for f in self.fields if f.name in wanted])

    @cached_property
    def schema_serializer(self) -> type[serializers.Serializer]:
        """A DRF serializer documenting the object.

        Only ``id`` is required: ``?fields=`` can leave out any other field, core ones included. Each field's
        description says whether it is core (returned by default) or extended (only when asked for).
        """
        attrs: dict[str, Any] = {}
        for f in self.fields:
            # DRF re-creates fields from their constructor arguments, so the changes go there.
            kwargs = {**copy.deepcopy(f.schema._kwargs), "required": f.name == "id"}
            if f.name != "id":
                note = EXTENDED_NOTE if f.extended else CORE_NOTE
                kwargs["help_text"] = f"{kwargs.get('help_text') or ''} {note}".strip()
            attrs[f.name] = type(f.schema)(*copy.deepcopy(f.schema._args), **kwargs)
        attrs["Meta"] = type("Meta", (), {"ref_name": self.name})
        return type(f"{self.name}Serializer", (serializers.Serializer,), attrs)
