"""What ``/distributions`` returns: the field declarations (``api.fields``) and their documentation.

Core: ``id, distributorId, status, value, triggerDate, dateCreated, dateModified``.

Extended (``?fields=`` or ``?include=extended``):

- ``distributorName``, ``distributorUnits``: the distributor's (a join, only when asked).
- ``periodStart``: the start of the period (the previous trigger date); the period is (periodStart, triggerDate].
- ``pool``: the pool computed at the trigger, rollover included (``null`` while pending).
- ``rolledOver``: unearned pool carried in from the previous period.
- ``unallocated``: what nobody earned and the organization keeps; ``carriedForward``: what nobody earned and
  was rolled into the next period (its ``rolledOver``). Once triggered, ``pool = value + unallocated +
  carriedForward``.
- ``triggeredAt``: when the engine triggered it (``null`` while pending or cancelled).
- ``allocationCount``: number of allocations (a counting subquery, only when asked).
- ``history``: its status moves, oldest first, ``{from, to, at, actor, reason}`` (its latest 50; one query for
  the whole page, ``api.history``).
- ``allocations`` (detail only): the first ``EMBEDDED_ALLOCATIONS`` (100) allocations, by rank then id (one
  query, only when asked); ``X-Allocation-Count`` and ``Link: rel="allocations"`` tell how many there are and
  where the rest are paged (``/distributions/{id}/allocations``, ``ALLOCATION_FIELDS``). The list refuses it
  (``DISTRIBUTION_LIST_FIELDS``): ``fields=allocations`` is a 400 and ``include=extended`` leaves it out.
  Each carries its calculation ``trace`` (``null`` for periods triggered before traces were recorded): the
  exact share ``pool × shareNumerator / shareDenominator`` (as ``floorValue + remainder / shareDenominator``
  and as the decimal ``exactValue``), whether it got a rounding unit and what decided it (``tieBreak``). The
  trace rides on the same query (a join on the distribution), so it costs nothing extra and is always there
  inside ``allocations``: ask for it with ``?fields=allocations`` or ``?include=extended``.

``/distributions/{id}/standings`` (``STANDING_FIELDS``) lists who would get what if the open period were
triggered now, with the same ``trace`` (see ``distributions.standings``).
"""

import functools
from collections import defaultdict
from decimal import ROUND_FLOOR, Decimal

from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber
from rest_framework import serializers

from api.fields import FieldSet, annotated, batched, column, computed
from api.history import status_history_field
from distributions.explain import TIE_BREAK_NAMES, exact_share, share_percent
from distributions.models import Allocation, Distribution, DistributionStatus, TieBreak
from distributors.api.serializers import DISTRIBUTOR_FIELDS
from obligations.models import ObligationStatus

STATUS_DESCRIPTIONS = {
    DistributionStatus.PENDING: "The open period: metric credits accumulate into it until its trigger date.",
    DistributionStatus.PROCESSING: "Triggered; some of its obligations are still pending or approved.",
    DistributionStatus.COMPLETE: "Settled: every obligation is fulfilled, rejected or cancelled "
    "(or the period paid nothing).",
    DistributionStatus.CANCELLED: "The open period was cancelled because its distributor was deleted.",
}


TIE_BREAK_DESCRIPTIONS = "; ".join(f"`{TIE_BREAK_NAMES[value]}`: {label}" for value, label in TieBreak.choices)
EXACT_VALUE_PLACES = 6


class TraceSerializer(serializers.Serializer):
    """How a share was computed (recorded at the trigger; computed now for standings)."""

    shareNumerator = serializers.IntegerField(
        allow_null=True, help_text="exact share = pool × shareNumerator / shareDenominator (null: not recorded)."
    )
    shareDenominator = serializers.IntegerField(
        allow_null=True, help_text="The split's common denominator (e.g. the total score)."
    )
    exactValue = serializers.CharField(
        allow_null=True,
        help_text=f"The exact share in the smallest unit, as a decimal rounded down to {EXACT_VALUE_PLACES} places.",
    )
    floorValue = serializers.IntegerField(allow_null=True, help_text="The exact share rounded down.")
    remainder = serializers.IntegerField(
        allow_null=True, help_text="exact share = floorValue + remainder / shareDenominator."
    )
    roundingUnit = serializers.BooleanField(
        help_text="Whether it got one of the units left over by rounding down (value = floorValue + 1)."
    )
    tieBreak = serializers.ChoiceField(
        choices=list(TIE_BREAK_NAMES.values()),
        help_text=f"What decided the rounding unit. {TIE_BREAK_DESCRIPTIONS}.",
    )

    class Meta:
        ref_name = "ShareTrace"


def trace_json(pool, numerator, denominator, rounding_unit, tie_break) -> dict | None:
    """The API's ``trace`` of one share; None when the trigger recorded none."""
    if rounding_unit is None or tie_break is None:
        return None
    parts = exact_share(pool, numerator, denominator)
    floor, remainder = parts if parts is not None else (None, None)
    exact = None
    if parts is not None:
        exact = str(
            (Decimal(pool * numerator) / Decimal(denominator)).quantize(
                Decimal(1).scaleb(-EXACT_VALUE_PLACES), rounding=ROUND_FLOOR
            )
            if remainder
            else Decimal(floor)
        )
    return {
        "shareNumerator": numerator if parts is not None else None,
        "shareDenominator": denominator if parts is not None else None,
        "exactValue": exact,
        "floorValue": floor,
        "remainder": remainder,
        "roundingUnit": bool(rounding_unit),
        "tieBreak": TIE_BREAK_NAMES.get(tie_break, str(tie_break)),
    }


# The trace: the allocation's columns and, joined, its distribution's pool and denominator.
TRACE_COLUMNS = (
    "distribution__pool",
    "share_numerator",
    "distribution__share_denominator",
    "rounding_unit",
    "tie_break",
)


def allocation_trace(row: dict, context) -> dict | None:
    return trace_json(*(row[column] for column in TRACE_COLUMNS))


# ``/distributions/{id}/allocations`` and the items of a distribution's embedded ``allocations``: one
# declaration, one shape. An allocation's status is its obligation's (one join, no copy to keep in step);
# the join, and the trace's join on the distribution, run for the page's rows only.
ALLOCATION_FIELDS = FieldSet(
    "Allocation",
    [
        column("id", "id", serializers.IntegerField()),
        column("distributionId", "distribution_id", serializers.IntegerField()),
        column("obligationId", "obligation_id", serializers.IntegerField(help_text="The obligation it is owed by.")),
        column("collaboratorId", "collaborator_id", serializers.IntegerField()),
        column(
            "status",
            "obligation__status",
            serializers.ChoiceField(
                choices=ObligationStatus.choices, help_text="Mirrors the status of its obligation."
            ),
        ),
        column(
            "value",
            "value",
            serializers.IntegerField(help_text="Share, in the smallest unit of the distributor's units."),
        ),
        column(
            "score",
            "score",
            serializers.IntegerField(help_text="The collaborator's score in the period the share is based on."),
        ),
        column("rank", "rank", serializers.IntegerField(help_text="1 for the highest score.")),
        computed(
            "trace",
            allocation_trace,
            TRACE_COLUMNS,
            TraceSerializer(
                allow_null=True,
                help_text="How the share was computed; null for periods triggered before it was recorded.",
            ),
            extended=False,
        ),
    ],
)
ALLOCATION_ORDERING = {
    "id": "id",
    "rank": "rank",
    "value": "value",
    "score": "score",
    "collaboratorId": "collaborator_id",
}
# A distribution's detail embeds at most this many of its allocations (by rank then id); the rest are paged
# by ``/distributions/{id}/allocations`` (the detail's ``Link: rel="allocations"`` continues after them).
EMBEDDED_ALLOCATIONS = 100
EMBEDDED_ORDER = ("rank", "id")


def load_allocations(ids, context) -> dict[int, list[dict]]:
    """The first ``EMBEDDED_ALLOCATIONS`` allocations of each distribution in ``ids``, by rank then id: one
    query (a detail asks for one distribution: a LIMIT; several: a per-distribution row number)."""
    rows = Allocation.objects.filter(organization_id=context.organization_id, distribution_id__in=ids)
    if len(ids) == 1:
        rows = rows.order_by(*EMBEDDED_ORDER)[:EMBEDDED_ALLOCATIONS]
    else:
        place = Window(RowNumber(), partition_by=F("distribution_id"), order_by=[F(name) for name in EMBEDDED_ORDER])
        rows = (
            rows.annotate(place=place)
            .filter(place__lte=EMBEDDED_ALLOCATIONS)
            .order_by("distribution_id", *EMBEDDED_ORDER)
        )
    result: dict[int, list[dict]] = defaultdict(list)
    for allocation in ALLOCATION_FIELDS.core.fetch(rows, context):
        result[allocation["distributionId"]].append(allocation)
    return result


class StandingSerializer(serializers.Serializer):
    """One line of a distribution's standings: a share a trigger would write now (or wrote)."""

    rank = serializers.IntegerField(help_text="Competition rank by score (1, 1, 3, …).")
    collaboratorId = serializers.IntegerField()
    collaboratorName = serializers.CharField()
    score = serializers.IntegerField(help_text="Score in the period so far (the trigger's score once triggered).")
    value = serializers.IntegerField(help_text="Share, in the smallest unit of the distributor's units.")
    sharePercent = serializers.FloatField(allow_null=True, help_text="value as a percentage of the pool (4 places).")
    trace = TraceSerializer(allow_null=True, help_text="How the share is computed; null when not recorded.")

    class Meta:
        ref_name = "Standing"


def standing_json(row, *, pool, denominator) -> dict:
    percent = share_percent(row.value, pool)
    return {
        "rank": row.rank,
        "collaboratorId": row.collaborator_id,
        "collaboratorName": row.collaborator_name,
        "score": row.score,
        "value": row.value,
        "sharePercent": float(percent) if percent is not None else None,
        "trace": trace_json(pool, row.share_numerator, denominator, row.rounding_unit, row.tie_break),
    }


@functools.cache  # built once; annotate() resolves a copy on every use
def allocation_count():
    counts = (
        Allocation.objects.filter(distribution=OuterRef("pk"))
        .order_by()
        .values("distribution")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


DISTRIBUTION_FIELDS = FieldSet(
    "Distribution",
    [
        column("id", "id", serializers.IntegerField()),
        column("distributorId", "distributor_id", serializers.IntegerField(help_text="The distributor it belongs to.")),
        column("status", "status", serializers.ChoiceField(choices=DistributionStatus.choices)),
        column(
            "value",
            "value",
            serializers.IntegerField(help_text="Total of its allocations, in the smallest unit (0 while pending)."),
        ),
        column(
            "triggerDate", "trigger_date", serializers.DateTimeField(help_text="End of the period: when it triggers.")
        ),
        column("dateCreated", "created_at", serializers.DateTimeField()),
        column("dateModified", "modified_at", serializers.DateTimeField()),
        column("distributorName", "distributor__name", serializers.CharField(), extended=True),
        column(
            "distributorUnits",
            "distributor__units",
            serializers.CharField(help_text="Units of every amount (a currency such as USD, or points)."),
            extended=True,
        ),
        column(
            "periodStart",
            "period_start",
            serializers.DateTimeField(help_text="Start of the period (exclusive): the previous trigger date."),
            extended=True,
        ),
        column(
            "pool",
            "pool",
            serializers.IntegerField(allow_null=True, help_text="Pool computed at the trigger, rollover included."),
            extended=True,
        ),
        column(
            "rolledOver",
            "rolled_over",
            serializers.IntegerField(help_text="Unearned pool carried in from the previous period."),
            extended=True,
        ),
        column(
            "unallocated",
            "unallocated",
            serializers.IntegerField(help_text="Pool nobody earned, kept by the organization."),
            extended=True,
        ),
        column(
            "carriedForward",
            "carried_forward",
            serializers.IntegerField(
                help_text="Pool nobody earned, rolled into the next period. "
                "pool = value + unallocated + carriedForward."
            ),
            extended=True,
        ),
        column(
            "triggeredAt",
            "triggered_at",
            serializers.DateTimeField(allow_null=True, help_text="When the engine triggered it."),
            extended=True,
        ),
        annotated("allocationCount", allocation_count, serializers.IntegerField(help_text="Number of allocations.")),
        status_history_field(Distribution, DistributionStatus.choices),
        batched(
            "allocations",
            load_allocations,
            ALLOCATION_FIELDS.schema_serializer(
                many=True,
                help_text=f"Its first {EMBEDDED_ALLOCATIONS} allocations, by rank then id. Detail only: on the list "
                "`fields=allocations` is a 400 and `include=extended` leaves it out. When it is named, the answer's "
                "`X-Allocation-Count` header says how many there are and, when there are more, "
                '`Link: <...>; rel="allocations"` pages the rest (`/distributions/{id}/allocations`).',
            ),
        ),
    ],
)
# ``/distributions`` (the list) serves every field but the embedded allocations: a page of 100 distributions
# would otherwise embed any number of rows.
DISTRIBUTION_LIST_FIELDS = DISTRIBUTION_FIELDS.without(
    {
        "allocations": "'allocations' is served by /distributions/{id} (its first 100) and paged by "
        "/distributions/{id}/allocations; on the list ask for 'allocationCount'."
    }
)


class CurrentDistributionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    triggerDate = serializers.DateTimeField()
    periodStart = serializers.DateTimeField()

    class Meta:
        ref_name = "DistributorCurrentDistribution"


def load_current_distribution(ids, context) -> dict[int, dict]:
    rows = Distribution.objects.filter(
        organization_id=context.organization_id, distributor_id__in=ids, status=DistributionStatus.PENDING
    ).values_list("distributor_id", "id", "trigger_date", "period_start")
    return {
        distributor_id: {"id": pk, "triggerDate": trigger_date, "periodStart": period_start}
        for distributor_id, pk, trigger_date, period_start in rows
    }


# ``/distributors`` as routed: the distributors app's fields plus the open period, which this app owns.
DISTRIBUTOR_WITH_PERIOD_FIELDS = DISTRIBUTOR_FIELDS.extended_with(
    batched(
        "currentDistribution",
        load_current_distribution,
        CurrentDistributionSerializer(allow_null=True, help_text="The open (pending) period, if any."),
        missing=lambda: None,
    ),
)
