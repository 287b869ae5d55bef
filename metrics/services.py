"""Crediting metrics: the one service behind the API endpoint, the admin and the ``credit_metric`` command.

Decisions (where the reference is silent):

- A credit is a set of append-only ``MetricCredit`` rows (one per distributor it lands on) grouped under one
  ``CreditRequest``, which records how (``source``), by whom (``actor``) and when (``created_at``, the real
  time of recording) it was made. ``credited_at`` is the instant the credit counts at: "now", or an earlier
  instant when an operator back-dates it (the command's ``--at``, ``seed_demo``).
- Points are ``quantity`` × the metric type's points *at credit time*, stored on the row, so changing a
  distributor's points later never rewrites history.
- A credit lands on every ``active`` distributor of the organization that counts the metric type and that
  the collaborator is eligible for (``allActive``, or ``selected`` with the collaborator selected), or only
  on ``distributor_id`` when given. Landing nowhere is refused (the caller learns that nothing counted).
- Only ``active`` collaborators earn; anything else is refused.
- A back-dated credit whose instant falls in a period the engine already triggered is refused: it could
  never count, and the allocation's recorded score would no longer match the ledger.
- Idempotency: the key is unique per organization. The fingerprint covers what the caller asked for
  (collaborator, metric type, quantity, distributor), not the instant, so a retry replays the first outcome
  (``replayed=True``) and credits nothing; the same key with another body raises ``IdempotencyConflict``.
  A refused request stores nothing, so retrying it with the same key is evaluated afresh. Concurrent requests
  with one key race on the unique constraint; the losers answer with the winner's outcome.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from collaborators.models import Collaborator, CollaboratorStatus
from distributions.models import Distribution, DistributionStatus
from distributors.models import Distributor, DistributorStatus, Eligibility, MetricType
from metrics.models import CreditRequest, MetricCredit
from organizations.models import Organization

MAX_QUANTITY = 2_147_483_647  # MetricCredit.quantity is a PositiveIntegerField.
IDEMPOTENCY_KEY_MAX_LENGTH = CreditRequest._meta.get_field("idempotency_key").max_length
ACTOR_MAX_LENGTH = CreditRequest._meta.get_field("actor").max_length


class CreditRefused(Exception):
    """The credit cannot be made; ``field`` names the input at fault (API name)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class IdempotencyConflict(CreditRefused):
    """The idempotency key was already used for a different request."""


@dataclass(frozen=True)
class CreditOutcome:
    request: CreditRequest
    replayed: bool

    @property
    def response(self) -> dict:
        return self.request.response


def _fingerprint(**fields) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _api_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def credit_targets(
    *, collaborator: Collaborator, metric_type: str, distributor_id: int | None = None
) -> list[MetricType]:
    """The metric types (with their distributors) a credit of ``metric_type`` lands on, in distributor order."""
    selected = Distributor.eligible_collaborators.through.objects.filter(
        distributor_id=OuterRef("distributor_id"), collaborator_id=collaborator.pk
    )
    eligible = Q(distributor__eligibility=Eligibility.ALL_ACTIVE) | Q(
        Exists(selected), distributor__eligibility=Eligibility.SELECTED
    )
    targets = MetricType.objects.filter(
        eligible,
        name=metric_type,
        distributor__organization_id=collaborator.organization_id,
        distributor__status=DistributorStatus.ACTIVE,
    ).select_related("distributor")
    if distributor_id is not None:
        targets = targets.filter(distributor_id=distributor_id)
    return list(targets.order_by("distributor_id"))


def _replay(organization: Organization, idempotency_key: str, fingerprint: str) -> CreditOutcome | None:
    previous = CreditRequest.objects.filter(organization=organization, idempotency_key=idempotency_key).first()
    if previous is None:
        return None
    if previous.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body.", field="Idempotency-Key"
        )
    return CreditOutcome(request=previous, replayed=True)


def _hold_open_periods(targets: list[MetricType]) -> None:
    """Share-lock the pending distributions of the credited distributors (PostgreSQL ``FOR KEY SHARE``, which
    conflicts with the heartbeat's ``FOR UPDATE`` but not with other credits). SQLite needs nothing: the
    project's write transactions begin IMMEDIATE, so a credit and a trigger never overlap."""
    if connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(Distribution._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE distributor_id = ANY(%s) AND status = %s ORDER BY id FOR KEY SHARE",
            [sorted({target.distributor_id for target in targets}), DistributionStatus.PENDING],
        )


def _refuse_closed_periods(targets: list[MetricType], credited_at: datetime) -> None:
    closed = (
        Distribution.objects.filter(
            distributor_id__in=[target.distributor_id for target in targets], trigger_date__gte=credited_at
        )
        .exclude(status__in=[DistributionStatus.PENDING, DistributionStatus.CANCELLED])
        .order_by("trigger_date", "distributor_id")
        .values_list("distributor_id", "trigger_date")
        .first()
    )
    if closed:
        distributor_id, trigger_date = closed
        raise CreditRefused(
            f"{_api_datetime(credited_at)} falls in a period of distributor {distributor_id} that was already "
            f"distributed (trigger date {_api_datetime(trigger_date)}); such a credit could never count.",
            field="creditedAt",
        )


def metric_credit(
    *,
    organization: Organization,
    collaborator: Collaborator,
    metric_type: str = "manual",
    quantity: int = 1,
    distributor_id: int | None = None,
    source: str,
    actor: str = "",
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> CreditOutcome:
    """Credit ``quantity`` × ``metric_type`` to ``collaborator``, now, on every active distributor that counts
    the metric type and that the collaborator is eligible for (or only ``distributor_id``).

    Each credit is a new ledger row stamped with the instant of crediting (``now``, default the current time),
    so it counts in the period (periodStart, triggerDate] that contains that instant: a credit made after a
    trigger date but before the heartbeat ran belongs to the next period. With ``idempotency_key``, a repeat
    of the same request returns the first outcome and credits nothing; the same key with another request is
    refused. See the module docstring for the rules.
    """
    if collaborator.organization_id != organization.pk:
        raise CreditRefused("Collaborator not found.", field="collaboratorId")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise CreditRefused(f"quantity must be a whole number from 1 to {MAX_QUANTITY}.", field="quantity")
    if not isinstance(metric_type, str) or not metric_type:
        raise CreditRefused("metricType must be a non-empty metric type name.", field="metricType")
    if distributor_id is not None and (isinstance(distributor_id, bool) or not isinstance(distributor_id, int)):
        raise CreditRefused("distributorId must be a distributor id.", field="distributorId")
    if idempotency_key is not None and len(idempotency_key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise CreditRefused(
            f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters.", field="Idempotency-Key"
        )
    if now is not None and timezone.is_naive(now):
        raise CreditRefused("The credit instant must be timezone-aware.", field="creditedAt")
    fingerprint = _fingerprint(
        collaborator=collaborator.pk, metric_type=metric_type, quantity=quantity, distributor=distributor_id
    )
    if idempotency_key:
        replay = _replay(organization, idempotency_key, fingerprint)
        if replay:
            return replay

    # The caller's instance may be stale; the status that matters is the stored one.
    status = Collaborator.objects.filter(pk=collaborator.pk).values_list("status", flat=True).first()
    if status != CollaboratorStatus.ACTIVE:
        raise CreditRefused(
            f"Collaborator {collaborator.pk} is {status}; only active collaborators earn.", field="collaboratorId"
        )
    if (
        distributor_id is not None
        and not Distributor.objects.filter(pk=distributor_id, organization=organization).exists()
    ):
        raise CreditRefused(f"Distributor {distributor_id} not found.", field="distributorId")
    targets = credit_targets(collaborator=collaborator, metric_type=metric_type, distributor_id=distributor_id)
    if not targets:
        where = f"distributor {distributor_id}" if distributor_id is not None else "any active distributor"
        raise CreditRefused(
            f"Metric type '{metric_type}' is not counted by {where} that collaborator {collaborator.pk} "
            "is eligible for.",
            field="distributorId" if distributor_id is not None else "metricType",
        )

    try:
        with transaction.atomic():
            # Hold the open periods against a trigger before stamping the credit: a heartbeat that already
            # holds one makes us wait until it has committed (our instant then falls after its trigger
            # date, in the next period); one that comes later skips that period until we have committed.
            # So no credit can land in a period whose scores were already read.
            _hold_open_periods(targets)
            recorded_at = timezone.now()
            credited_at = now or recorded_at
            _refuse_closed_periods(targets, credited_at)
            request = CreditRequest.objects.create(
                organization=organization,
                idempotency_key=idempotency_key or None,
                request_fingerprint=fingerprint,
                source=source,
                actor=actor[:ACTOR_MAX_LENGTH],
                created_at=recorded_at,
            )
            credits = MetricCredit.objects.bulk_create(
                MetricCredit(
                    organization=organization,
                    request=request,
                    distributor_id=target.distributor_id,
                    collaborator=collaborator,
                    metric_type=metric_type,
                    quantity=quantity,
                    points_per_unit=target.points,
                    points=quantity * target.points,
                    credited_at=credited_at,
                )
                for target in targets
            )
            request.response = {
                "id": request.pk,
                "collaboratorId": collaborator.pk,
                "metricType": metric_type,
                "quantity": quantity,
                "creditedAt": _api_datetime(credited_at),
                "credits": [
                    {
                        "distributorId": credit.distributor_id,
                        "pointsPerUnit": credit.points_per_unit,
                        "points": credit.points,
                    }
                    for credit in credits
                ],
                "totalPoints": sum(credit.points for credit in credits),
            }
            request.save(update_fields=["response"])
    except IntegrityError:
        # A concurrent request with the same key won the race (we waited on its row, then hit the unique
        # constraint): answer as its replay. The savepoint above kept any outer transaction usable.
        if idempotency_key:
            replay = _replay(organization, idempotency_key, fingerprint)
            if replay:
                return replay
        raise
    return CreditOutcome(request=request, replayed=False)
