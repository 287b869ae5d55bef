"""What ``/distributors`` returns (``credit-metric`` is the metrics app's: ``metrics.api``).

Core: ``id, name, description, status, units, poolType, poolAmount, distributionType, dateCreated,
dateModified``.

Extended (``?fields=`` or ``?include=extended``):

- ``poolPercentBp``: revenue-share pools: basis points of the period's revenue (1000 = 10 %).
- ``eligibility``: ``allActive`` or ``selected``.
- ``schedule``: ``daily``/``weekly``/``monthly``/``quarterly`` or an RFC 5545 rule; ``startsAt``: first period start.
- ``collaboratorCount``: eligible collaborators who are active (a counting subquery, only when asked).
- ``metricTypes``: ``[{name, points}]`` (one query for the page).
- ``nextTriggerDates``: the next ``NEXT_TRIGGER_COUNT`` schedule occurrences after now, in UTC; empty
  for an inactive or deleted distributor (it does not trigger; an inactive one catches up when reactivated).
- ``currentDistribution``: added by the distributions app (``distributions.api.serializers``), which owns it.
"""

import functools
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Case, Count, IntegerField, OuterRef, Subquery, When
from django.db.models.functions import Coalesce
from rest_framework import serializers

from api.fields import FieldSet, annotated, batched, column, computed
from collaborators.models import Collaborator, CollaboratorStatus
from distributors.models import (
    DistributionResolver,
    Distributor,
    DistributorStatus,
    Eligibility,
    MetricType,
    PoolResolver,
)
from distributors.schedules import upcoming_triggers

NEXT_TRIGGER_COUNT = 5

STATUS_DESCRIPTIONS = {
    DistributorStatus.ACTIVE: "Triggers on its schedule; metric credits count.",
    DistributorStatus.INACTIVE: "Paused: does not trigger; its open period triggers (catching up) when reactivated.",
    DistributorStatus.DELETED: "Removed: its open period was cancelled. Listed only with status=deleted.",
}


@functools.cache  # built once; annotate() resolves a copy on every use
def collaborator_count():
    active_in_organization = (
        Collaborator.objects.filter(organization=OuterRef("organization"), status=CollaboratorStatus.ACTIVE)
        .order_by()
        .values("organization")
        .annotate(n=Count("pk"))
        .values("n")
    )
    selected_active = (
        Distributor.eligible_collaborators.through.objects.filter(
            distributor=OuterRef("pk"), collaborator__status=CollaboratorStatus.ACTIVE
        )
        .order_by()
        .values("distributor")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Case(
        When(
            eligibility=Eligibility.ALL_ACTIVE,
            then=Coalesce(Subquery(active_in_organization, output_field=IntegerField()), 0),
        ),
        default=Coalesce(Subquery(selected_active, output_field=IntegerField()), 0),
        output_field=IntegerField(),
    )


def load_metric_types(ids, context) -> dict[int, list[dict]]:
    rows = (
        MetricType.objects.filter(distributor_id__in=ids, distributor__organization_id=context.organization_id)
        .order_by("distributor_id", "name")
        .values_list("distributor_id", "name", "points")
    )
    result: dict[int, list[dict]] = defaultdict(list)
    for distributor_id, name, points in rows:
        result[distributor_id].append({"name": name, "points": points})
    return result


@functools.lru_cache(maxsize=512)
def _upcoming(schedule: str, timezone_name: str, anchor: datetime, after: datetime) -> tuple[datetime, ...]:
    try:
        return tuple(
            upcoming_triggers(
                schedule, tz=ZoneInfo(timezone_name), anchor=anchor, after=after, count=NEXT_TRIGGER_COUNT
            )
        )
    except ValueError:  # a schedule invalid since it was saved: nothing to announce
        return ()


def next_trigger_dates(row: dict, context) -> list[datetime]:
    if row["status"] != DistributorStatus.ACTIVE:
        return []
    return list(_upcoming(row["schedule"], row["organization__timezone"], row["starts_at"], context.now))


class MetricTypeSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The metricType credit-metric takes, e.g. manual, sale.")
    points = serializers.IntegerField(help_text="Points one unit of it is worth.")

    class Meta:
        ref_name = "DistributorMetricType"


DISTRIBUTOR_FIELDS = FieldSet(
    "Distributor",
    [
        column("id", "id", serializers.IntegerField()),
        column("name", "name", serializers.CharField()),
        column("description", "description", serializers.CharField(allow_blank=True)),
        column("status", "status", serializers.ChoiceField(choices=DistributorStatus.choices)),
        column(
            "units",
            "units",
            serializers.CharField(help_text="Units of every amount: a currency such as USD, or points."),
        ),
        column("poolType", "pool_resolver", serializers.ChoiceField(choices=PoolResolver.choices)),
        column(
            "poolAmount",
            "pool_amount",
            serializers.IntegerField(help_text="Fixed pools: the amount per period, in the smallest unit."),
        ),
        column(
            "distributionType",
            "distribution_resolver",
            serializers.ChoiceField(choices=DistributionResolver.choices, help_text="How the pool is split."),
        ),
        column("dateCreated", "created_at", serializers.DateTimeField()),
        column("dateModified", "modified_at", serializers.DateTimeField()),
        column(
            "poolPercentBp",
            "pool_percent_bp",
            serializers.IntegerField(help_text="Revenue-share pools: basis points of revenue (1000 = 10 %)."),
            extended=True,
        ),
        column("eligibility", "eligibility", serializers.ChoiceField(choices=Eligibility.choices), extended=True),
        column(
            "schedule",
            "schedule",
            serializers.CharField(help_text="daily, weekly, monthly, quarterly or an RFC 5545 rule."),
            extended=True,
        ),
        column(
            "startsAt", "starts_at", serializers.DateTimeField(help_text="Start of the first period."), extended=True
        ),
        annotated(
            "collaboratorCount",
            collaborator_count,
            serializers.IntegerField(help_text="Eligible collaborators who are active."),
        ),
        batched("metricTypes", load_metric_types, MetricTypeSerializer(many=True)),
        computed(
            "nextTriggerDates",
            next_trigger_dates,
            ("status", "schedule", "starts_at", "organization__timezone"),
            serializers.ListField(
                child=serializers.DateTimeField(),
                help_text=f"The next {NEXT_TRIGGER_COUNT} schedule occurrences after now (empty unless active).",
            ),
        ),
    ],
)
