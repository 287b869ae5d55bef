"""What ``POST /distributors/credit-metric`` takes and answers (camelCase exists only here)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clock import iso_utc
from collaborators.refs import MAX_ID, REF_PATTERN, CollaboratorRef, parse_collaborator_ref
from metrics.models import MAX_CREDIT_QUANTITY
from metrics.services import CreditOutcome

# The service's refusals name its inputs (domain names); the API names them as the client sent them.
API_FIELD_OF_INPUT = {
    "collaborator": "collaboratorId",
    "metric_type": "metricType",
    "quantity": "quantity",
    "distributor": "distributorId",
    "idempotency_key": "Idempotency-Key",
    "credited_at": "creditedAt",
}


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: ``"5"``, ``5.0`` and ``true`` are refused (DRF's IntegerField would coerce them)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": REF_PATTERN}],
        "description": 'A collaborator id (42 or "42") or an alias `type:code` (e.g. `tracking:REF123`).',
    }
)
class CollaboratorRefField(serializers.Field):
    """Cleans to a ``CollaboratorRef`` (``collaborators.refs``, the one parser of ids and aliases)."""

    default_error_messages = {"invalid": "Enter a collaborator id or an alias 'type:code'."}

    def to_internal_value(self, data) -> CollaboratorRef:
        ref = parse_collaborator_ref(data)
        if ref is None:
            self.fail("invalid")
        return ref

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
        required=False,
        default=1,
        min_value=1,
        max_value=MAX_CREDIT_QUANTITY,
        help_text="Units to credit (whole number).",
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
    """The answer to a credit, the same on a replay."""

    id = serializers.IntegerField(help_text="The credit request's id (the same on a replay).")
    collaboratorId = serializers.IntegerField(help_text="The resolved collaborator id (also when given an alias).")
    metricType = serializers.CharField()
    quantity = serializers.IntegerField()
    creditedAt = serializers.DateTimeField(help_text="The instant credited: it counts in the period containing it.")
    credits = CreditSerializer(many=True, help_text="One line per distributor credited.")
    totalPoints = serializers.IntegerField()

    class Meta:
        ref_name = "CreditMetricResponse"


def credit_metric_response(outcome: CreditOutcome) -> dict:
    """The API's answer to a credit (``CreditMetricResponseSerializer``)."""
    return {
        "id": outcome.request.pk,
        "collaboratorId": outcome.collaborator_id,
        "metricType": outcome.metric_type,
        "quantity": outcome.quantity,
        "creditedAt": iso_utc(outcome.credited_at),
        "credits": [
            {"distributorId": c.distributor_id, "pointsPerUnit": c.points_per_unit, "points": c.points}
            for c in outcome.credits
        ],
        "totalPoints": outcome.total_points,
    }
