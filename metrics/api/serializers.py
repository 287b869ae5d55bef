"""What ``POST /distributors/credit-metric`` and ``…/credit-metric/batch`` take and answer (camelCase exists
only here)."""

import re
from functools import lru_cache

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
        schema = {**auto_schema._map_basic_serializer(self.target, direction), "additionalProperties": False}
        for name, field in self.target.fields.items():  # list bounds, which drf-spectacular leaves out
            if isinstance(field, serializers.ListSerializer) and name in schema.get("properties", {}):
                bounds = {"minItems": field.min_length, "maxItems": field.max_length}
                schema["properties"][name].update({k: v for k, v in bounds.items() if v is not None})
        return schema


# An idempotency key as the schema states it (and the batch items' keys are checked): printable ASCII, no space
# at either end, 1 to 200 characters.
KEY_PATTERN = rf"^[\x21-\x7e]([\x20-\x7e]{{0,{IDEMPOTENCY_KEY_MAX_LENGTH - 2}}}[\x21-\x7e])?$"


class KeyField(serializers.RegexField):
    """``KEY_PATTERN``, whole: a regex ``$`` would also let a final newline through."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\n" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class CreditBatchItemSerializer(CreditMetricSerializer):
    """One item of ``POST /distributors/credit-metric/batch``: the fields of credit-metric, plus its own key."""

    key = KeyField(
        KEY_PATTERN,
        required=False,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        trim_whitespace=False,
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
        ref_name = "CreditBatch"


_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
_KEY = re.compile(KEY_PATTERN.removeprefix("^").removesuffix("$"))
_ITEM_FIELDS = frozenset(CreditBatchItemSerializer._declared_fields)


def _whole(value, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def batch_credits_fast(data) -> list[dict] | None:
    """``CreditBatchSerializer``'s ``validated_data["credits"]`` for a body every part of which is plainly valid,
    checked without building a field per value (a thousand items cost DRF about as much as writing them); ``None``
    for anything else, which the serializer then validates and, when invalid, explains. It accepts a subset of
    what the serializer accepts, so the answer to a valid body is the same either way."""
    if type(data) is not dict or data.keys() != {"credits"} or type(data["credits"]) is not list:
        return None
    credits = data["credits"]
    if not 1 <= len(credits) <= MAX_BATCH_SIZE:
        return None
    clean = []
    for item in credits:
        if type(item) is not dict or not item.keys() <= _ITEM_FIELDS:
            return None
        ref = item.get("collaboratorId")
        if _whole(ref, 1, MAX_ID):
            ref = CollaboratorRef(id=ref)
        elif type(ref) is str and len(ref) <= MAX_REF_LENGTH:
            ref = collaborator_ref_of(ref)
            if ref is None:
                return None
        else:
            return None
        distributor_id = item.get("distributorId")
        metric_type = item.get("metricType", "manual")
        quantity = item.get("quantity", 1)
        key = item.get("key")
        if distributor_id is not None and not _whole(distributor_id, 1, MAX_ID):
            return None
        if type(metric_type) is not str or len(metric_type) > 50 or not _SLUG.fullmatch(metric_type):
            return None
        if not _whole(quantity, 1, MAX_CREDIT_QUANTITY):
            return None
        if key is not None and (type(key) is not str or not _KEY.fullmatch(key)):
            return None
        entry = {"collaboratorId": ref, "metricType": metric_type, "quantity": quantity}
        if "distributorId" in item:
            entry["distributorId"] = distributor_id
        if key is not None:
            entry["key"] = key
        clean.append(entry)
    return clean


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


# A batch's entries share one instant: format it once, not once per entry.
_iso_utc = lru_cache(maxsize=64)(iso_utc)


def credit_metric_response(outcome: CreditOutcome) -> dict:
    """The API's answer to a credit (``CreditMetricResponseSerializer``)."""
    return {
        "id": outcome.request.pk,
        "collaboratorId": outcome.collaborator_id,
        "metricType": outcome.metric_type,
        "quantity": outcome.quantity,
        "creditedAt": _iso_utc(outcome.credited_at),
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
