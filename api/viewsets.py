"""The one base of every API viewset: tenant scoping, ``?fields=``, filters, ordering and pagination.

Tenancy (PostHog style: owned by the base class, not remembered by each endpoint):

- Subclasses declare ``queryset`` (or override ``base_queryset()``); the base's ``get_queryset()`` always
  filters it by the API key's organization, and ``get_object()`` both fetches through that queryset and
  re-checks the object's organization.
- A subclass may still override ``get_queryset``/``get_object``: ``__init_subclass__`` wraps such an
  override so that its result is scoped (querysets) or checked (objects) all the same. Scoping is a
  module-level function, not a method a subclass could replace.
- Another organization's id is a 404, exactly like a missing id: never a 403, never data.
- Without an authenticated key there is no queryset at all (``NotAuthenticated``), except the empty one
  drf-spectacular gets while it introspects the views.

Lists (``list`` and the actions in ``list_actions``): ``?fields=``/``?include=`` (``api.fields``; a list may
serve fewer fields than its detail, ``list_fieldset``), the endpoint's django-filter ``FilterSet``,
``orderBy`` (one of ``ordering_fields``, default ``default_ordering``) with ``order`` ``ASC``/``DESC``
(case-insensitive, default ``DESC``) and ``id`` as the final tie-breaker, then ``number``/``offset``/``after``
(``api.pagination``). Every parameter is validated before the list runs a query; all bad parameters are
reported together in one 400. A page is one query for its rows (ids chosen on the filtered rows, fields
loaded for those ids only), one bounded count for ``X-Total-Count`` unless the page itself tells the total
(a first page that is also the last), and one per selected batched field: the same for a page of 1 and of
100, at offset 0 and at a deep offset or cursor.
"""

import functools
from typing import ClassVar

from django.db.models import QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from api.authentication import ApiKeyAuthentication
from api.fields import FieldSet, ResolveContext
from api.filters import ApiFilterSet
from api.pagination import NumberOffsetPagination, Total, bounded_total, page_ids
from api.permissions import HasApiKeyScope
from api.schema import TenantAutoSchema
from api.throttling import ApiKeyRateThrottle

EXPOSED_HEADERS = "X-Total-Count, Link, Retry-After, Idempotent-Replayed"
ORDER_DIRECTIONS = ("ASC", "DESC")


def _organization_id(view) -> int | None:
    request = getattr(view, "request", None)
    api_key = getattr(request, "auth", None)
    return None if api_key is None else api_key.organization_id


def _scoped(view, queryset: QuerySet) -> QuerySet:
    organization_id = _organization_id(view)
    if organization_id is None:
        if getattr(view, "swagger_fake_view", False):
            return queryset.none()
        raise NotAuthenticated()
    return queryset.filter(**{f"{view.organization_field}_id": organization_id})


def _check_owner(view, obj):
    organization_id = _organization_id(view)
    if organization_id is None or getattr(obj, f"{view.organization_field}_id", None) != organization_id:
        raise NotFound(f"{view.fieldset.name} not found.")
    return obj


def _scope_queryset_override(method):
    @functools.wraps(method)
    def get_queryset(self, *args, **kwargs):
        return _scoped(self, method(self, *args, **kwargs))

    get_queryset.tenant_scoped = True
    return get_queryset


def _scope_object_override(method):
    @functools.wraps(method)
    def get_object(self, *args, **kwargs):
        return _check_owner(self, method(self, *args, **kwargs))

    get_object.tenant_scoped = True
    return get_object


def _collect(errors: dict, parse):
    try:
        return parse()
    except ValidationError as exc:
        errors.update(exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail})
        return None


FIELD_PARAMS = ("fields", "include")
LIST_PARAMS = ("orderBy", "order", "number", "offset", "after")


class TenantReadOnlyViewSet(GenericViewSet):
    """Read-only list and retrieve over the key's organization; subclasses declare, the base enforces."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    throttle_classes = [ApiKeyRateThrottle]
    pagination_class = NumberOffsetPagination
    filter_backends = [DjangoFilterBackend]
    schema = TenantAutoSchema()
    lookup_value_regex = r"[0-9]{1,18}"  # ids fit a bigint; longer is no route (404), never a DB error

    fieldset: ClassVar[FieldSet]
    # What ``list`` serves when it serves less than the detail (``FieldSet.without``); None: ``fieldset``.
    list_fieldset: ClassVar[FieldSet | None] = None
    # The actions that are paged lists (``paged_list``): their parameters are checked and documented as a list's.
    list_actions: ClassVar[frozenset[str]] = frozenset({"list"})
    organization_field: ClassVar[str] = "organization"
    ordering_fields: ClassVar[dict[str, str]] = {"id": "id"}
    default_ordering: ClassVar[str] = "id"
    required_scope: ClassVar[str] = "read"
    action_scopes: ClassVar[dict[str, str]] = {}
    # The query parameters of custom actions (``{"status_types": set()}``); an action not listed is not checked.
    action_query_params: ClassVar[dict[str, set[str]]] = {"status_types": set()}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        wrappers = {"get_queryset": _scope_queryset_override, "get_object": _scope_object_override}
        for name, wrap in wrappers.items():
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "tenant_scoped", False):
                setattr(cls, name, wrap(method))

    # -- tenancy ---------------------------------------------------------------------------------------------

    @property
    def organization(self):
        """The key's organization (one query the first time: scoping itself needs only its id)."""
        if _organization_id(self) is None:
            raise NotAuthenticated()
        return self.request.auth.organization

    def base_queryset(self) -> QuerySet:
        """The unscoped rows of the endpoint; override instead of ``get_queryset``."""
        assert self.queryset is not None, f"{type(self).__name__} must declare queryset or base_queryset()"
        return self.queryset.all()

    def get_queryset(self) -> QuerySet:
        return _scoped(self, self.base_queryset())

    def get_object(self):
        obj = self.get_queryset().filter(pk=self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)).first()
        if obj is None:
            raise NotFound(f"{self.fieldset.name} {self.kwargs.get('pk')} not found.")
        return _check_owner(self, obj)

    get_queryset.tenant_scoped = True
    get_object.tenant_scoped = True

    # -- reading ---------------------------------------------------------------------------------------------

    def get_serializer_class(self):
        return self.fieldset.schema_serializer

    def selectable_fields(self) -> FieldSet:
        """The fields ``?fields=``/``?include=`` choose from for the current action."""
        if self.action == "list" and self.list_fieldset is not None:
            return self.list_fieldset
        return self.fieldset

    def resolve_context(self) -> ResolveContext:
        organization_id = _organization_id(self)
        if organization_id is None:
            raise NotAuthenticated()
        return ResolveContext(organization_id=organization_id, now=timezone.now())

    def ordering(self, request) -> list[str]:
        order_by = request.query_params.get("orderBy", self.default_ordering)  # present but empty is a 400
        direction = request.query_params.get("order", "DESC").strip().upper()
        errors = {}
        if order_by not in self.ordering_fields:
            errors["orderBy"] = [f"Unknown orderBy '{order_by}'. Valid values: {', '.join(self.ordering_fields)}."]
        if direction not in ORDER_DIRECTIONS:
            errors["order"] = [f"order must be ASC or DESC, got '{request.query_params.get('order')}'."]
        if errors:
            raise ValidationError(errors)
        prefix = "-" if direction == "DESC" else ""
        columns = [prefix + self.ordering_fields[order_by]]
        if self.ordering_fields[order_by] != "id":
            columns.append(prefix + "id")
        return columns

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        """Filters of the FilterSet; without any of its parameters, its ``unfiltered`` default (no form built)."""
        filterset_class = getattr(self, "filterset_class", None)
        if (
            isinstance(filterset_class, type)
            and issubclass(filterset_class, ApiFilterSet)
            and not filterset_class.requested(self.request.query_params)
        ):
            return filterset_class.unfiltered(queryset)
        return super().filter_queryset(queryset)

    def allowed_query_params(self) -> set[str] | None:
        """The query parameters the current action understands (``None``: not checked, for custom actions
        that declare none). Anything else is a 400 naming the valid ones: a typo such as
        ``collaboratorID`` must not silently return every row."""
        if self.action in self.list_actions:
            filters = set(getattr(self.filterset_class, "base_filters", {}) or {})
            return {*FIELD_PARAMS, *LIST_PARAMS, *filters}
        if self.action == "retrieve":
            return set(FIELD_PARAMS)
        return getattr(self, "action_query_params", {}).get(self.action)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, scope and throttle come first
        allowed = self.allowed_query_params()
        if allowed is None:
            return
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            valid = ", ".join(sorted(allowed)) or "none"
            raise ValidationError({name: [f"Unknown query parameter. Valid parameters: {valid}."] for name in unknown})

    def list(self, request, *args, **kwargs):
        return self.paged_list(request)

    def paged_list(self, request, rows: QuerySet | None = None) -> Response:
        """One page of ``rows`` (default: ``get_queryset()``, the tenant's rows), filtered, ordered and paged
        by the request, with ``X-Total-Count`` and ``Link``. ``rows`` given by an action is scoped all the same."""
        errors: dict = {}
        rows = self.get_queryset() if rows is None else _scoped(self, rows)
        selection = _collect(errors, lambda: self.selectable_fields().select(request.query_params))
        page = _collect(errors, lambda: self.paginator.parse(request))
        ordering = _collect(errors, lambda: self.ordering(request))
        queryset = _collect(errors, lambda: self.filter_queryset(rows))
        if errors:
            raise ValidationError(errors)
        ids = page_ids(queryset, page, ordering, cursor_rows=rows)
        found, more = selection.fetch_page(queryset, ids, ordering, self.resolve_context(), number=page.number)
        whole = page.offset == 0 and page.after is None and not more  # the list is this page: nothing to count
        total = Total(len(found)) if whole else bounded_total(queryset)
        headers = self.paginator.headers(request, page, total, next_after=found[-1]["id"] if more else None)
        return Response(found, headers=headers)

    def retrieve(self, request, *args, **kwargs):
        selection = self.fieldset.select(request.query_params)
        pk = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        rows = selection.fetch(self.get_queryset().filter(pk=pk), self.resolve_context())
        if not rows:
            raise NotFound(f"{self.fieldset.name} {pk} not found.")
        return Response(rows[0])

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response


class TenantAPIView(APIView):
    """A write endpoint of the key's organization (``POST /distributors/credit-metric``): the same key, scope
    and throttle checks as the read-only viewsets; ``organization`` is the key's, the only tenant it may touch."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    throttle_classes = [ApiKeyRateThrottle]
    schema = TenantAutoSchema()
    required_scope: ClassVar[str] = "read"

    @property
    def organization(self):
        if _organization_id(self) is None:
            raise NotAuthenticated()
        return self.request.auth.organization

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response


def status_types_response(choices, descriptions: dict[str, str]) -> Response:
    """The ``status-types`` answer: every value of a status choice list with its label and meaning."""
    return Response(
        [{"value": value, "label": str(label), "description": descriptions.get(value, "")} for value, label in choices]
    )


class StatusTypeSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="The status as it appears in `status` fields and filters.")
    label = serializers.CharField(help_text="A display label.")
    description = serializers.CharField(help_text="What the status means.")

    class Meta:
        ref_name = "StatusType"
