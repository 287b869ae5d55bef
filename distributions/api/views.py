from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from api.errors import Conflict
from api.pagination import Total, bounded_total
from api.schema import error_responses
from api.viewsets import EXPOSED_HEADERS, StatusTypeSerializer, TenantReadOnlyViewSet, status_types_response
from clock import iso_utc
from distributions.api.filters import AllocationFilterSet, DistributionFilterSet
from distributions.api.serializers import (
    ALLOCATION_FIELDS,
    ALLOCATION_ORDERING,
    DISTRIBUTION_FIELDS,
    DISTRIBUTION_LIST_FIELDS,
    DISTRIBUTOR_WITH_PERIOD_FIELDS,
    EMBEDDED_ALLOCATIONS,
    STATUS_DESCRIPTIONS,
    StandingSerializer,
    standing_json,
)
from distributions.models import Allocation, Distribution, DistributionStatus
from distributions.standings import STANDINGS_CACHE_SECONDS, StandingsUnavailable, distribution_standings
from distributors.api import views as distributor_views

STANDINGS_HEADERS = ("X-Standings-Pool", "X-Standings-As-Of")
DETAIL_HEADERS = ("X-Allocation-Count",)
ALLOCATIONS_DESCRIPTION = """The distribution's allocations (one per collaborator paid), paged like every list:
`fields`/`include`, the filters `status` (its obligation's) and `collaboratorId`, `orderBy`/`order` (default
`id` descending), `number`, `offset` and the cursor `after`, `X-Total-Count` and `Link`. Another organization's
distribution, like a missing one, is a 404. The detail `GET /distributions/{id}?fields=allocations` embeds the
first 100 by rank; this endpoint pages all of them (`orderBy=rank&order=ASC` for the same order)."""
STANDINGS_DESCRIPTION = f"""Who would get what if this distribution were triggered now.

- **pending** (the open period): computed by the very plan the trigger writes (`distribution_plan`), as of
  `X-Standings-As-Of`: the collaborators who would earn, by rank then tie-break order (higher score, earlier
  first credit, lower id), with their projected `value`, `sharePercent` of the projected pool
  (`X-Standings-Pool`, rollover included) and `trace`. Cached for up to {STANDINGS_CACHE_SECONDS} s, and
  recomputed as soon as a credit (or a revenue entry, or the distributor's rules) changes the period.
- **processing / complete**: the final standings, i.e. its stored allocations in the same shape (`trace` null
  when the trigger did not record one); `X-Standings-As-Of` is when it was triggered.
- **cancelled**: a 409; a cancelled period has no standings. So is an open period whose distributor's rules
  cannot be applied (the trigger would fail the same way, and the engine run records it).

Paged like every list (`number`, `offset`, `X-Total-Count`, `Link`)."""


class DistributionViewSet(TenantReadOnlyViewSet):
    """Distributions: one period of a distributor each, read-only (the engine creates them).

    Default order: ``id`` descending (newest first).
    """

    queryset = Distribution.objects.all()
    fieldset = DISTRIBUTION_FIELDS
    list_fieldset = DISTRIBUTION_LIST_FIELDS
    list_actions = frozenset({"list", "allocations"})
    filterset_class = DistributionFilterSet
    ordering_fields = {
        "id": "id",
        "status": "status",
        "distributorId": "distributor_id",
        "triggerDate": "trigger_date",
        "dateCreated": "created_at",
    }

    @extend_schema(summary="List distributions")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Retrieve a distribution",
        parameters=[
            OpenApiParameter(
                "X-Allocation-Count",
                {"type": "string", "pattern": r"^[0-9]+\+?$"},
                location=OpenApiParameter.HEADER,
                response=[200],
                description="Only when `allocations` is returned: how many allocations the distribution has "
                "(exact up to 10000, then `10000+`; `allocationCount` is always exact).",
            ),
            OpenApiParameter(
                "Link",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                response=[200],
                description=f"Only when `allocations` holds {EMBEDDED_ALLOCATIONS} and more exist: "
                '`<url>; rel="allocations"`, the allocations endpoint in the same order '
                "(`orderBy=rank&order=ASC`), after the last one embedded.",
            ),
        ],
    )
    def retrieve(self, request, *args, **kwargs):
        """A distribution. ``allocations`` embeds at most ``EMBEDDED_ALLOCATIONS``; the headers say how many
        exist and where the rest are (counted only when the embedded list is full)."""
        response = super().retrieve(request, *args, **kwargs)
        embedded = response.data.get("allocations")
        if embedded is None:
            return response
        if len(embedded) < EMBEDDED_ALLOCATIONS:
            count = Total(len(embedded))
        else:
            rows = Allocation.objects.filter(
                organization_id=self.request.auth.organization_id, distribution_id=kwargs["pk"]
            )
            count = bounded_total(rows)
        response["X-Allocation-Count"] = str(count)
        if count.count > len(embedded) or not count.exact:
            url = request.build_absolute_uri(f"{request.path.rstrip('/')}/allocations")
            rest = f"{url}?orderBy=rank&order=ASC&number={EMBEDDED_ALLOCATIONS}&after={embedded[-1]['id']}"
            response["Link"] = f'<{rest}>; rel="allocations"'
        return response

    @extend_schema(
        summary="List a distribution's allocations",
        description=ALLOCATIONS_DESCRIPTION,
        responses={200: ALLOCATION_FIELDS.schema_serializer(many=True)},
    )
    @action(
        detail=True,
        url_path="allocations",
        queryset=Allocation.objects.all(),
        fieldset=ALLOCATION_FIELDS,
        filterset_class=AllocationFilterSet,
        ordering_fields=ALLOCATION_ORDERING,
    )
    def allocations(self, request, pk=None):
        """The distribution's allocations: its tenant's (a 404 otherwise), paged as a list."""
        if not Distribution.objects.filter(organization_id=self.resolve_context().organization_id, pk=pk).exists():
            raise NotFound(f"Distribution {pk} not found.")
        return self.paged_list(request, self.get_queryset().filter(distribution_id=pk))

    @extend_schema(summary="Distribution statuses", responses=StatusTypeSerializer(many=True))
    @action(detail=False, url_path="status-types", filter_backends=[], pagination_class=None)
    def status_types(self, request):
        """Every distribution status with its label and meaning."""
        return status_types_response(DistributionStatus.choices, STATUS_DESCRIPTIONS)

    # Only the paging parameters (``api.viewsets``: anything else is a 400 naming them).
    action_query_params = {
        **getattr(TenantReadOnlyViewSet, "action_query_params", {}),
        "standings": {"number", "offset"},
    }

    @extend_schema(
        summary="Standings of a distribution",
        description=STANDINGS_DESCRIPTION,
        responses={200: StandingSerializer(many=True), **error_responses(400, 404, 409)},
        parameters=[
            OpenApiParameter(
                "X-Total-Count",
                OpenApiTypes.INT,
                location=OpenApiParameter.HEADER,
                response=[200],
                description="Number of standings rows, regardless of the page.",
            ),
            OpenApiParameter(
                "Link",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                response=[200],
                description='RFC 8288 links to the neighbouring pages: `<url>; rel="next"`, `<url>; rel="prev"`.',
            ),
            OpenApiParameter(
                "X-Standings-Pool",
                OpenApiTypes.INT,
                location=OpenApiParameter.HEADER,
                response=[200],
                description="The pool being split (projected while pending), rollover included, smallest unit.",
            ),
            OpenApiParameter(
                "X-Standings-As-Of",
                OpenApiTypes.DATETIME,
                location=OpenApiParameter.HEADER,
                response=[200],
                description="When the standings were computed (pending) or the distribution was triggered.",
            ),
        ],
    )
    @action(detail=True, url_path="standings", filter_backends=[])
    def standings(self, request, pk=None):
        page = self.paginator.parse(request, cursor=False)
        distribution = self.get_queryset().select_related("distributor__organization").filter(pk=pk).first()
        if distribution is None:
            raise NotFound(f"Distribution {pk} not found.")
        try:
            standings = distribution_standings(distribution, offset=page.offset, limit=page.number)
        except StandingsUnavailable as exc:
            raise Conflict(str(exc)) from None
        rows = [
            standing_json(row, pool=standings.pool, denominator=standings.share_denominator) for row in standings.rows
        ]
        headers = self.paginator.headers(request, page, standings.total)
        if standings.pool is not None:
            headers["X-Standings-Pool"] = str(standings.pool)
        if standings.as_of is not None:
            headers["X-Standings-As-Of"] = iso_utc(standings.as_of)
        return Response(rows, headers=headers)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(self, "action", None) == "standings":
            response["Access-Control-Expose-Headers"] = ", ".join((EXPOSED_HEADERS, *STANDINGS_HEADERS))
        elif getattr(self, "action", None) == "retrieve":
            response["Access-Control-Expose-Headers"] = ", ".join((EXPOSED_HEADERS, *DETAIL_HEADERS))
        return response


class DistributorViewSet(distributor_views.DistributorViewSet):
    """Distributors (read-only) and the one write of the API, ``credit-metric``.

    Default order: ``id`` descending. Deleted distributors are listed only with ``status=deleted``.
    """

    # ``/distributors`` as routed: the distributors app's endpoint plus ``currentDistribution``, which this
    # app owns; ``credit-metric`` is ``metrics.api.views.CreditMetricView`` (``config.urls``).
    fieldset = DISTRIBUTOR_WITH_PERIOD_FIELDS
