"""``POST /distributors/credit-metric`` and ``POST /distributors/credit-metric/batch``: the writes of the API
(routed in ``config.urls``).

A credit that waits longer than ``CREDIT_LOCK_TIMEOUT_MS`` for a trigger holding one of its distributors (the
hold's ``HoldTimeout``, or PostgreSQL's ``lock_timeout`` on any later statement of the credit) answers 503
with ``Retry-After`` and a message saying so; its transaction was rolled back, nothing was written, and the
same request (same keys) can simply be sent again.

The batch's errors (decisions where the issue is silent): a 400's ``errors`` names each failing input by its
path in the body, ``credits.<index>.<field>`` (index 0-based, field as sent: ``credits.3.collaboratorId``),
``credits`` for the list itself, or ``Idempotency-Key``; a 404 (an id or alias the organization does not
have) and a 409 (a key used for another credit) name the items in ``message``.
"""

from django.db import OperationalError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response

from api.errors import NON_FIELD_KEYS, Conflict, ErrorSerializer
from api.schema import error_responses
from api.viewsets import TenantAPIView
from collaborators.models import Collaborator
from collaborators.selectors import collaborator_resolve
from distributors.selectors import HoldTimeout
from metrics.api.serializers import (
    API_FIELD_OF_INPUT,
    KEY_PATTERN,
    CreditBatchResponseSerializer,
    CreditBatchSerializer,
    CreditMetricResponseSerializer,
    CreditMetricSerializer,
    batch_credits_fast,
    credit_batch_response,
    credit_metric_response,
)
from metrics.batch import (
    CreditBatchConflict,
    CreditBatchNotFound,
    CreditBatchRefused,
    CreditItem,
    metric_credit_batch,
)
from metrics.models import CreditSource
from metrics.services import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    CollaboratorNotFound,
    CreditRefused,
    IdempotencyConflict,
    metric_credit,
    metric_credit_by_id,
)

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: a lock wait longer than lock_timeout
CREDIT_RETRY_AFTER = 5  # seconds: a trigger holds its distributor for seconds at most
CREDIT_BUSY = (
    "A distribution of a distributor this credit lands on is being triggered; nothing was written. "
    "Retry after Retry-After seconds."
)

# The batch service's names of the batch's own inputs, in the API.
API_FIELD_OF_BATCH_INPUT = {"items": "credits", "idempotency_key": "Idempotency-Key"}


class CreditBusy(APIException):
    """503 with ``Retry-After`` (DRF sends the header for an exception with ``wait``)."""

    status_code = 503
    default_detail = CREDIT_BUSY
    default_code = "credit_busy"
    wait = CREDIT_RETRY_AFTER


def _is_lock_timeout(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE


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


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH, "pattern": KEY_PATTERN},
    location=OpenApiParameter.HEADER,
    description="Any unique string (1-200 characters), e.g. a UUID. A retry with the same key and body "
    "credits nothing more and answers the first response again; the same key with another body is a 409.",
)
REPLAYED_HEADER = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    location=OpenApiParameter.HEADER,
    response=[201],
    enum=["true"],
    description="Present (`true`) when the answer is the replay of an earlier request.",
)
RETRY_AFTER_HEADER = OpenApiParameter(
    "Retry-After",
    {"type": "string", "pattern": "^[0-9]+$"},
    location=OpenApiParameter.HEADER,
    response=[503],
    description="Seconds to wait before sending the same request again.",
)
BUSY_RESPONSE = OpenApiResponse(
    ErrorSerializer,
    description="A trigger of a credited distributor held it longer than the credit may wait: nothing was "
    "written; send the same request again after `Retry-After` seconds (the database being unavailable answers "
    "the same way).",
)


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
            503: BUSY_RESPONSE,
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER, REPLAYED_HEADER, RETRY_AFTER_HEADER],
    )
    def post(self, request):
        """Credit `quantity` × `metricType` to a collaborator, now, on every active distributor that counts the
        metric type and that the collaborator is eligible for (or only `distributorId`).

        Needs the `metrics:write` scope. The credit counts in the period that contains the instant of the
        request. A replay (same `Idempotency-Key`, same body) answers 201 with the first response and the header
        `Idempotent-Replayed: true`, and credits nothing. While a trigger holds a credited distributor longer
        than the credit may wait, the answer is 503 with `Retry-After` and nothing is written.
        """
        serializer = CreditMetricSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        idempotency_key = _idempotency_key(request)
        organization = self.organization
        not_found = f"Collaborator '{request.data['collaboratorId']}' not found."
        ref = data["collaboratorId"]
        credit = {
            "metric_type": data["metricType"],
            "quantity": data["quantity"],
            "distributor_id": data.get("distributorId"),
            "source": CreditSource.API,
            "actor": f"api:{request.auth.prefix}",
            "idempotency_key": idempotency_key,
        }
        try:
            if ref.id is not None:  # found (or not) by the credit's own read: one statement less
                outcome = metric_credit_by_id(organization=organization, collaborator_id=ref.id, **credit)
            else:
                collaborator = collaborator_resolve(organization=organization, ref=ref)
                outcome = metric_credit(organization=organization, collaborator=collaborator, **credit)
        except (Collaborator.DoesNotExist, CollaboratorNotFound) as exc:
            raise NotFound(not_found) from exc
        except IdempotencyConflict as exc:
            raise Conflict(exc.message) from exc
        except CreditRefused as exc:
            raise ValidationError({API_FIELD_OF_INPUT.get(exc.field, "non_field_errors"): [exc.message]}) from exc
        except HoldTimeout as exc:
            raise CreditBusy() from exc
        except OperationalError as exc:
            if _is_lock_timeout(exc):
                raise CreditBusy() from exc
            raise
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        return Response(credit_metric_response(outcome), status=status.HTTP_201_CREATED, headers=headers)


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """A nested ValidationError detail as ``{"credits.3.quantity": [...]}`` (see the module docstring)."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for name, value in detail.items():
            path = str(name) if not prefix else prefix if str(name) in NON_FIELD_KEYS else f"{prefix}.{name}"
            for key, messages in flatten_errors(value, path).items():
                flat.setdefault(key, []).extend(messages)
        return flat
    if isinstance(detail, list | tuple):
        if all(not isinstance(value, dict | list | tuple) for value in detail):
            return {prefix: [str(value) for value in detail]} if detail else {}
        flat = {}
        for index, value in enumerate(detail):
            for key, messages in flatten_errors(value, f"{prefix}.{index}").items():
                flat.setdefault(key, []).extend(messages)
        return flat
    return {prefix: [str(detail)]}


class CreditMetricBatchView(TenantAPIView):
    """Credit up to ``MAX_BATCH_SIZE`` metrics at once (``metrics:write`` scope), all or nothing."""

    required_scope = "metrics:write"

    @extend_schema(
        summary="Credit metrics in bulk (up to 1,000)",
        request=CreditBatchSerializer,
        responses={
            201: OpenApiResponse(
                CreditBatchResponseSerializer,
                description="Every item credited (an item whose key was already used for the same credit is the "
                "earlier credit, `replayed: true`), one entry per item in the order sent; or, with "
                "`Idempotent-Replayed: true`, the first answer to this Idempotency-Key and body again.",
            ),
            **error_responses(
                400,
                404,
                409,
                e400="Nothing credited: `errors` names every failing input by its path, "
                "`credits.<index>.<field>` (e.g. `credits.3.collaboratorId`: an inactive collaborator; "
                "`credits.0.metricType`: counted by no eligible active distributor), `credits` or "
                "`Idempotency-Key`.",
                e404="Nothing credited: an item names a collaborator id or alias the key's organization does "
                "not have (`message` lists the items, `credits.<index>.collaboratorId`).",
                e409="Nothing credited: an item's `key` was already used for another credit (`message` lists the "
                "items), or this Idempotency-Key was already used with another body.",
            ),
            503: BUSY_RESPONSE,
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER, REPLAYED_HEADER, RETRY_AFTER_HEADER],
    )
    def post(self, request):
        """Credit every item of `credits` (1 to 1,000), each exactly as `POST /distributors/credit-metric`
        would (same fields and defaults, same rules), all or nothing, at the instant of the request.

        Needs the `metrics:write` scope. Each item may carry its own `key`, the idempotency key of that credit
        alone (shared with credit-metric's `Idempotency-Key`); the `Idempotency-Key` header makes the whole
        batch idempotent (its own namespace). Each credited item is one `metrics.credited` event.
        """
        sent = batch_credits_fast(request.data)
        if sent is None:
            serializer = CreditBatchSerializer(data=request.data)
            if not serializer.is_valid():
                raise ValidationError(flatten_errors(serializer.errors))
            sent = serializer.validated_data["credits"]
        idempotency_key = _idempotency_key(request)
        items = [
            CreditItem(
                collaborator=item["collaboratorId"],
                metric_type=item["metricType"],
                quantity=item["quantity"],
                distributor_id=item.get("distributorId"),
                key=item.get("key"),
            )
            for item in sent
        ]
        try:
            outcome = metric_credit_batch(
                organization=self.organization,
                items=items,
                source=CreditSource.API,
                actor=f"api:{request.auth.prefix}",
                idempotency_key=idempotency_key,
            )
        except CreditBatchNotFound as exc:
            raw = request.data["credits"]
            shown = "; ".join(
                f"credits.{index}.collaboratorId: collaborator '{raw[index]['collaboratorId']}'"
                for index in exc.indexes[:5]
            )
            more = f" and {len(exc.indexes) - 5} more" if len(exc.indexes) > 5 else ""
            raise NotFound(f"Not found, nothing credited: {shown}{more}.") from exc
        except CreditBatchConflict as exc:
            if not exc.indexes:
                raise Conflict("This Idempotency-Key was already used with a different batch.") from exc
            shown = ", ".join(f"credits.{index}.key" for index in exc.indexes[:10])
            more = f" and {len(exc.indexes) - 10} more" if len(exc.indexes) > 10 else ""
            raise Conflict(
                f"Nothing credited: {shown}{more} already used for a different credit (a key names one credit)."
            ) from exc
        except CreditBatchRefused as exc:
            errors = {
                API_FIELD_OF_BATCH_INPUT.get(field, field): messages for field, messages in exc.batch_errors.items()
            }
            for index, fields in exc.errors.items():
                for field, messages in fields.items():
                    errors[f"credits.{index}.{API_FIELD_OF_INPUT.get(field, field)}"] = messages
            raise ValidationError(errors) from exc
        except HoldTimeout as exc:
            raise CreditBusy() from exc
        except OperationalError as exc:
            if _is_lock_timeout(exc):
                raise CreditBusy() from exc
            raise
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        return Response(credit_batch_response(outcome), status=status.HTTP_201_CREATED, headers=headers)
