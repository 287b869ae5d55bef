"""What ``/distributors`` returns and what ``credit-metric`` takes.

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
- ``currentDistribution``: the pending distribution (``{id, triggerDate, periodStart}``) or ``null``
  (one query for the page).
"""

import functools
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Case, Count, IntegerField, OuterRef, Subquery, When
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import FieldSet, annotated, batched, column, computed
from api.filters import MAX_ID
from collaborators.models import Collaborator, CollaboratorStatus
from distributions.models import Distribution, DistributionStatus
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
QUANTITY_MAX = 1_000_000

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


def load_current_distribution(ids, context) -> dict[int, dict]:
    rows = Distribution.objects.filter(
        organization_id=context.organization_id, distributor_id__in=ids, status=DistributionStatus.PENDING
    ).values_list("distributor_id", "id", "trigger_date", "period_start")
    return {
        distributor_id: {"id": pk, "triggerDate": trigger_date, "periodStart": period_start}
        for distributor_id, pk, trigger_date, period_start in rows
    }


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


class CurrentDistributionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    triggerDate = serializers.DateTimeField()
    periodStart = serializers.DateTimeField()

    class Meta:
        ref_name = "DistributorCurrentDistribution"


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
        batched(
            "currentDistribution",
            load_current_distribution,
            CurrentDistributionSerializer(allow_null=True, help_text="The open (pending) period, if any."),
            missing=lambda: None,
        ),
    ],
)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: ``"5"``, ``5.0`` and ``true`` are refused (DRF's IntegerField would coerce them)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^(\d+|[^:]+:.+)$"}],
        "description": 'A collaborator id (42 or "42") or an alias `type:code` (e.g. `tracking:REF123`).',
    }
)
class CollaboratorRefField(serializers.Field):
    default_error_messages = {"invalid": "Enter a collaborator id or an alias 'type:code'."}

    def to_internal_value(self, data) -> str:
        if isinstance(data, int) and not isinstance(data, bool):
            if not 1 <= data <= MAX_ID:
                self.fail("invalid")
            return str(data)
        if not isinstance(data, str):
            self.fail("invalid")
        text = data.strip()
        if not text or len(text) > 255 or not text.isprintable():
            self.fail("invalid")
        if text.isascii() and text.isdigit():
            if len(text) > 19 or not 1 <= int(text) <= MAX_ID:
                self.fail("invalid")
            return text
        alias_type, sep, code = text.partition(":")
        if not sep or not alias_type or not code:
            self.fail("invalid")
        return text

    def to_representation(self, value):
        return value


class CreditMetricSerializer(serializers.Serializer):
    """The body of ``POST /distributors/credit-metric``; unknown keys are refused (a typo must not default)."""

    collaboratorId = CollaboratorRefField()
    distributorId = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_ID,
        help_text="Credit only this distributor (else every active distributor counting metricType).",
    )
    metricType = serializers.SlugField(
        required=False, default="manual", max_length=50, help_text="A metric type name the distributor counts."
    )
    quantity = StrictIntegerField(
        required=False, default=1, min_value=1, max_value=QUANTITY_MAX, help_text="Units to credit (whole number)."
    )

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        errors = {name: [f"Unknown field. Valid fields: {', '.join(self.fields)}."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            raise serializers.ValidationError({**detail, **errors}) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return value

    class Meta:
        ref_name = "CreditMetricRequest"


class CreditSerializer(serializers.Serializer):
    distributorId = serializers.IntegerField()
    pointsPerUnit = serializers.IntegerField(help_text="The metric type's points on that distributor, at credit time.")
    points = serializers.IntegerField(help_text="quantity × the metric type's points on that distributor.")

    class Meta:
        ref_name = "MetricCreditLine"


class CreditMetricResponseSerializer(serializers.Serializer):
    """The service's record of the credit (``metrics.services.metric_credit``), replayed as is."""

    id = serializers.IntegerField(help_text="The credit request's id (the same on a replay).")
    collaboratorId = serializers.IntegerField(help_text="The resolved collaborator id (also when given an alias).")
    metricType = serializers.CharField()
    quantity = serializers.IntegerField()
    creditedAt = serializers.DateTimeField(help_text="The instant credited: it counts in the period containing it.")
    credits = CreditSerializer(many=True, help_text="One line per distributor credited.")
    totalPoints = serializers.IntegerField()

    class Meta:
        ref_name = "CreditMetricResponse"
