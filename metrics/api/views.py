"""``POST /distributors/credit-metric``: the one write of the API (routed in ``config.urls``)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from api.errors import Conflict
from api.schema import error_responses
from api.viewsets import TenantAPIView
from collaborators.models import Collaborator
from collaborators.selectors import collaborator_resolve
from metrics.api.serializers import (
    API_FIELD_OF_INPUT,
    CreditMetricResponseSerializer,
    CreditMetricSerializer,
    credit_metric_response,
)
from metrics.models import CreditSource
from metrics.services import IDEMPOTENCY_KEY_MAX_LENGTH, CreditRefused, IdempotencyConflict, metric_credit


def _idempotency_key(request) -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
        raise ValidationError(
            {"Idempotency-Key": [f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable characters."]}
        )
    return key


class CreditMetricView(TenantAPIView):
    """Credit a metric (``metrics:write`` scope); the tenant is the key's organization."""

    required_scope = "metrics:write"

    @extend_schema(
        summary="Credit a metric to a collaborator",
        request=CreditMetricSerializer,
        responses={
            201: OpenApiResponse(
                CreditMetricResponseSerializer,
                description="Credited (or, with `Idempotent-Replayed: true`, the replay of an earlier identical "
                "request, which credited nothing more).",
            ),
            **error_responses(
                400,
                404,
                409,
                e400="Invalid body or Idempotency-Key, an inactive collaborator, or a metric type no eligible "
                "active distributor counts: `errors` names the field.",
                e404="No collaborator with this id or alias in the key's organization.",
                e409="This Idempotency-Key was already used with a different body.",
            ),
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
                    "pattern": rf"^[\x21-\x7e]([\x20-\x7e]{{0,{IDEMPOTENCY_KEY_MAX_LENGTH - 2}}}[\x21-\x7e])?$",
                },
                location=OpenApiParameter.HEADER,
                description="Any unique string (1-200 characters), e.g. a UUID. A retry with the same key and body "
                "credits nothing more and answers the first response again; the same key with another body is a 409.",
            ),
            OpenApiParameter(
                "Idempotent-Replayed",
                str,
                location=OpenApiParameter.HEADER,
                response=[201],
                enum=["true"],
                description="Present (`true`) when the answer is the replay of an earlier request.",
            ),
        ],
    )
    def post(self, request):
        """Credit `quantity` × `metricType` to a collaborator, now, on every active distributor that counts the
        metric type and that the collaborator is eligible for (or only `distributorId`).

        Needs the `metrics:write` scope. The credit counts in the period that contains the instant of the
        request. A replay (same `Idempotency-Key`, same body) answers 201 with the first response and the header
        `Idempotent-Replayed: true`, and credits nothing.
        """
        serializer = CreditMetricSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        idempotency_key = _idempotency_key(request)
        organization = self.organization
        try:
            collaborator = collaborator_resolve(organization=organization, ref=data["collaboratorId"])
        except Collaborator.DoesNotExist as exc:
            raise NotFound(f"Collaborator '{request.data['collaboratorId']}' not found.") from exc
        try:
            outcome = metric_credit(
                organization=organization,
                collaborator=collaborator,
                metric_type=data["metricType"],
                quantity=data["quantity"],
                distributor_id=data.get("distributorId"),
                source=CreditSource.API,
                actor=f"api:{request.auth.prefix}",
                idempotency_key=idempotency_key,
            )
        except IdempotencyConflict as exc:
            raise Conflict(exc.message) from exc
        except CreditRefused as exc:
            raise ValidationError({API_FIELD_OF_INPUT.get(exc.field, "non_field_errors"): [exc.message]}) from exc
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        return Response(credit_metric_response(outcome), status=status.HTTP_201_CREATED, headers=headers)
