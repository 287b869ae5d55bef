"""What ``POST /distributors/credit-metric`` and ``…/credit-metric/batch`` take and answer (camelCase exists
only here)."""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.filters import REF_PATTERN, collaborator_ref_of
from clock import iso_utc
from collaborators.refs import MAX_ID, MAX_REF_LENGTH, CollaboratorRef
from metrics.batch import MAX_BATCH_SIZE, BatchOutcome
from metrics.models import MAX_CREDIT_QUANTITY
from metrics.services import IDEMPOTENCY_KEY_MAX_LENGTH, CreditOutcome

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
        "oneOf": [
            {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
            {"type": "string", "maxLength": MAX_REF_LENGTH, "pattern": REF_PATTERN},
        ],
        "description": 'A collaborator id (42 or "42") or an alias `type:code` (e.g. `tracking:REF123`; no '
        "control characters). An id or alias no collaborator of the organization has is a 404.",
    }
)
class CollaboratorRefField(serializers.Field):
    """Cleans to a ``CollaboratorRef`` (``collaborators.refs``, the one parser of ids and aliases)."""

    default_error_messages = {"invalid": "Enter a collaborator id or an alias 'type:code'."}

    def to_internal_value(self, data) -> CollaboratorRef:
        if isinstance(data, int) and not isinstance(data, bool):
            ref = CollaboratorRef(id=data) if 1 <= data <= MAX_ID else None
        else:
            ref = collaborator_ref_of(data) if isinstance(data, str) and len(data) <= MAX_REF_LENGTH else None
        if ref is None:
            self.fail("invalid")
        return ref

    def to_representation(self, value):
        return value


class ClosedSerializer(serializers.Serializer):
    """A body whose unknown keys are refused (a typo must not default), documented ``additionalProperties: false``
    (``ClosedSerializerSchema``)."""

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


class CreditMetricSerializer(ClosedSerializer):
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

    class Meta:
        ref_name = "CreditMetricRequest"


class ClosedSerializerSchema(OpenApiSerializerExtension):
    """OpenAPI: a closed body (``additionalProperties: false``), as ``ClosedSerializer.to_internal_value`` enforces."""

    target_class = ClosedSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        return {**auto_schema._map_basic_serializer(self.target, direction), "additionalProperties": False}


# An idempotency key as the schema states it (and the batch items' keys are checked): printable ASCII, no space
# at either end, 1 to 200 characters.
KEY_PATTERN = rf"^[\x21-\x7e]([\x20-\x7e]{{0,{IDEMPOTENCY_KEY_MAX_LENGTH - 2}}}[\x21-\x7e])?$"


class CreditBatchItemSerializer(CreditMetricSerializer):
    """One item of ``POST /distributors/credit-metric/batch``: the fields of credit-metric, plus its own key."""

    key = serializers.RegexField(
        KEY_PATTERN,
        required=False,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        help_text="This credit's idempotency key (unique per organization, shared with credit-metric's "
        "`Idempotency-Key`): an item whose key was already used for the same credit is replayed, not credited "
        "again; used for another credit, the batch is a 409.",
        error_messages={
            "invalid": f"A key is 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters, without a space "
            "at either end."
        },
    )

    class Meta:
        ref_name = "CreditBatchItem"


class CreditBatchSerializer(ClosedSerializer):
    """The body of ``POST /distributors/credit-metric/batch``."""

    credits = CreditBatchItemSerializer(
        many=True, min_length=1, max_length=MAX_BATCH_SIZE, help_text=f"1 to {MAX_BATCH_SIZE} credits."
    )

    class Meta:
        ref_name = "CreditBatchRequest"


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


class CreditBatchEntrySerializer(CreditMetricResponseSerializer):
    replayed = serializers.BooleanField(
        help_text="True when the item's key was already used for this credit: the earlier credit, not credited again."
    )

    class Meta:
        ref_name = "CreditBatchEntry"


class CreditBatchResponseSerializer(serializers.Serializer):
    credits = CreditBatchEntrySerializer(many=True, help_text="One entry per item, in the order sent.")

    class Meta:
        ref_name = "CreditBatchResponse"


def credit_batch_response(outcome: BatchOutcome) -> dict:
    """The API's answer to a batch (``CreditBatchResponseSerializer``)."""
    return {"credits": [{**credit_metric_response(entry), "replayed": entry.replayed} for entry in outcome.entries]}
