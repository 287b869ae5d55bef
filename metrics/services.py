"""Crediting metrics: the one service behind the API endpoint, the admin and the ``credit_metric`` command."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from collaborators.models import Collaborator, CollaboratorStatus
from distributors.models import Distributor, DistributorStatus, Eligibility, MetricType
from metrics.models import CreditRequest, MetricCredit
from organizations.models import Organization


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


def credit_targets(
    *, collaborator: Collaborator, metric_type: str, distributor_id: int | None = None
) -> list[MetricType]:
    """The metric types (with their distributors) a credit of ``metric_type`` lands on, in distributor order."""
    eligible = Q(distributor__eligibility=Eligibility.ALL_ACTIVE) | Q(
        distributor__eligibility=Eligibility.SELECTED, distributor__eligible_collaborators=collaborator
    )
    targets = MetricType.objects.filter(
        eligible,
        name=metric_type,
        distributor__organization_id=collaborator.organization_id,
        distributor__status=DistributorStatus.ACTIVE,
    ).select_related("distributor")
    if distributor_id is not None:
        targets = targets.filter(distributor_id=distributor_id)
    return list(targets.order_by("distributor_id").distinct())


def _replay(organization: Organization, idempotency_key: str, fingerprint: str) -> CreditOutcome | None:
    previous = CreditRequest.objects.filter(organization=organization, idempotency_key=idempotency_key).first()
    if previous is None:
        return None
    if previous.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body.", field="Idempotency-Key"
        )
    return CreditOutcome(request=previous, replayed=True)


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

    Each credit is a new ledger row stamped with the instant of crediting, so it counts in the period
    (periodStart, triggerDate] that contains that instant: a credit made after a trigger date but before
    the heartbeat ran belongs to the next period. With ``idempotency_key``, a repeat of the same request
    returns the first outcome and credits nothing; the same key with another request is refused.
    """
    if collaborator.organization_id != organization.pk:
        raise CreditRefused("Collaborator not found.", field="collaboratorId")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise CreditRefused("quantity must be a whole number of at least 1.", field="quantity")
    fingerprint = _fingerprint(
        collaborator=collaborator.pk, metric_type=metric_type, quantity=quantity, distributor=distributor_id
    )
    if idempotency_key:
        replay = _replay(organization, idempotency_key, fingerprint)
        if replay:
            return replay

    if collaborator.status != CollaboratorStatus.ACTIVE:
        raise CreditRefused(
            f"Collaborator {collaborator.pk} is {collaborator.status}; only active collaborators earn.",
            field="collaboratorId",
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

    credited_at = now or timezone.now()
    try:
        with transaction.atomic():
            request = CreditRequest.objects.create(
                organization=organization,
                idempotency_key=idempotency_key or None,
                request_fingerprint=fingerprint,
                source=source,
                actor=actor,
                created_at=credited_at,
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
                "collaboratorId": collaborator.pk,
                "metricType": metric_type,
                "quantity": quantity,
                "creditedAt": credited_at.isoformat().replace("+00:00", "Z"),
                "credits": [{"distributorId": credit.distributor_id, "points": credit.points} for credit in credits],
                "totalPoints": sum(credit.points for credit in credits),
            }
            request.save(update_fields=["response"])
    except IntegrityError:
        # A concurrent request with the same key won the race: answer as its replay.
        if idempotency_key:
            replay = _replay(organization, idempotency_key, fingerprint)
            if replay:
                return replay
        raise
    return CreditOutcome(request=request, replayed=False)
