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
- A back-dated credit whose instant falls in a period the engine already triggered (at or before the
  distributor's ``distributed_through``) is refused: it could never count, and the allocation's recorded
  score would no longer match the ledger. Booking it anyway is explicit: ``late_reason`` (the command's
  ``--late-reason``; not offered by the API) accepts it and keeps the reason on the ``CreditRequest``, with
  its source and actor. Such a credit changes nothing already distributed; it counts when the period is
  corrected (``distributions.corrections``).
- Domain in, domain out: the outcome is the ledger rows; refusals name the domain input at fault
  (``collaborator``, ``metric_type``, ``quantity``, ``distributor``, ``idempotency_key``, ``credited_at``),
  and each interface (API, admin, command) maps those names to its own once.
- Idempotency: the key is unique per organization. The fingerprint covers what the caller asked for
  (collaborator, metric type, quantity, distributor), not the instant, so a retry replays the first outcome
  (``replayed=True``, rebuilt from the append-only ledger rows of the first request) and credits nothing;
  the same key with another body raises ``IdempotencyConflict``.
  A refused request stores nothing, so retrying it with the same key is evaluated afresh. Concurrent requests
  with one key race on the unique constraint; the losers answer with the winner's outcome.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clock import iso_utc
from collaborators.models import Collaborator, CollaboratorStatus
from distributors.models import Distributor
from distributors.selectors import distributors_hold_for_credit
from metrics.events import record_credits
from metrics.models import MAX_CREDIT_QUANTITY, CreditRequest, MetricCredit
from metrics.selectors import CreditPlan, CreditTarget, credit_plan
from organizations.models import Organization

IDEMPOTENCY_KEY_MAX_LENGTH = CreditRequest._meta.get_field("idempotency_key").max_length
ACTOR_MAX_LENGTH = CreditRequest._meta.get_field("actor").max_length


class CreditRefused(Exception):
    """The credit cannot be made; ``field`` names the domain input at fault (see the module docstring)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class IdempotencyConflict(CreditRefused):
    """The idempotency key was already used for a different request."""


class CollaboratorNotFound(CreditRefused):
    """No such collaborator in the organization (the API's 404)."""


@dataclass(frozen=True)
class CreditOutcome:
    """A credit request and its ledger rows (one per distributor credited, in distributor order)."""

    request: CreditRequest
    credits: list[MetricCredit]
    replayed: bool

    @property
    def collaborator_id(self) -> int:
        return self.credits[0].collaborator_id

    @property
    def metric_type(self) -> str:
        return self.credits[0].metric_type

    @property
    def quantity(self) -> int:
        return self.credits[0].quantity

    @property
    def credited_at(self) -> datetime:
        return self.credits[0].credited_at

    @property
    def total_points(self) -> int:
        return sum(credit.points for credit in self.credits)


def _fingerprint(**fields) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _replay(organization: Organization, idempotency_key: str, fingerprint: str) -> CreditOutcome | None:
    previous = CreditRequest.objects.filter(organization=organization, idempotency_key=idempotency_key).first()
    if previous is None:
        return None
    if previous.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This idempotency key was already used with a different request.", field="idempotency_key"
        )
    credits = list(MetricCredit.objects.filter(request=previous).order_by("distributor_id", "pk"))
    return CreditOutcome(request=previous, credits=credits, replayed=True)


def _replayed(request_id: int) -> CreditOutcome:
    """The outcome of an earlier request, from its ledger rows (one query: each request has at least one)."""
    credits = list(
        MetricCredit.objects.filter(request_id=request_id).select_related("request").order_by("distributor_id", "pk")
    )
    return CreditOutcome(request=credits[0].request, credits=credits, replayed=True)


def _validate_input(
    *,
    organization: Organization,
    collaborator: Collaborator,
    metric_type: str,
    quantity: int,
    distributor_id: int | None,
    idempotency_key: str | None,
    now: datetime | None,
) -> None:
    if collaborator.organization_id != organization.pk:
        raise CreditRefused("Collaborator not found.", field="collaborator")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_CREDIT_QUANTITY:
        raise CreditRefused(f"The quantity must be a whole number from 1 to {MAX_CREDIT_QUANTITY}.", field="quantity")
    if not isinstance(metric_type, str) or not metric_type:
        raise CreditRefused("The metric type must be a non-empty metric type name.", field="metric_type")
    if distributor_id is not None and (isinstance(distributor_id, bool) or not isinstance(distributor_id, int)):
        raise CreditRefused("The distributor must be a distributor id.", field="distributor")
    if idempotency_key is not None and len(idempotency_key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise CreditRefused(
            f"The idempotency key must be at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters.", field="idempotency_key"
        )
    if now is not None and timezone.is_naive(now):
        raise CreditRefused("The credit instant must be timezone-aware.", field="credited_at")


def _credit_targets_checked(
    plan: CreditPlan,
    *,
    organization: Organization,
    collaborator: Collaborator,
    metric_type: str,
    distributor_id: int | None,
) -> list[CreditTarget]:
    """The targets of the credit, or the refusal that says why there are none."""
    # The caller's instance may be stale; the status that matters is the stored one (read by the plan).
    if plan.status is None:
        raise CollaboratorNotFound(f"Collaborator {collaborator.pk} not found.", field="collaborator")
    if plan.status != CollaboratorStatus.ACTIVE:
        raise CreditRefused(
            f"Collaborator {collaborator.pk} is {plan.status}; only active collaborators earn.", field="collaborator"
        )
    if plan.targets:
        return plan.targets
    if (
        distributor_id is not None
        and not Distributor.objects.filter(pk=distributor_id, organization=organization).exists()
    ):
        raise CreditRefused(f"Distributor {distributor_id} not found.", field="distributor")
    where = f"distributor {distributor_id}" if distributor_id is not None else "any active distributor"
    raise CreditRefused(
        f"Metric type '{metric_type}' is not counted by {where} that collaborator {collaborator.pk} is eligible for.",
        field="distributor" if distributor_id is not None else "metric_type",
    )


def closed_period_refusal(distributed_through: dict[int, datetime | None], credited_at: datetime) -> str | None:
    """Why a credit at ``credited_at`` on these distributors (id → ``distributed_through``) is refused, if it is:
    its instant falls in a period already distributed."""
    closed = sorted(
        (through, distributor_id)
        for distributor_id, through in distributed_through.items()
        if through is not None and credited_at <= through
    )
    if not closed:
        return None
    through, distributor_id = closed[0]
    return (
        f"{iso_utc(credited_at)} falls in a period of distributor {distributor_id} that was already "
        f"distributed (trigger date {iso_utc(through)}); such a credit could never count."
    )


def _refuse_closed_periods(distributed_through: dict[int, datetime | None], credited_at: datetime) -> None:
    refusal = closed_period_refusal(distributed_through, credited_at)
    if refusal:
        raise CreditRefused(refusal, field="credited_at")


def _credit_write(
    *,
    organization: Organization,
    collaborator: Collaborator,
    targets: list[CreditTarget],
    metric_type: str,
    quantity: int,
    fingerprint: str,
    source: str,
    actor: str,
    idempotency_key: str | None,
    now: datetime | None,
    late_reason: str = "",
) -> CreditOutcome:
    with transaction.atomic():
        # Hold the credited distributors whose open period our instant may fall in against a trigger, before
        # stamping the credit: a trigger that already holds one makes us wait (boundedly) until it has
        # committed (our instant then falls after its trigger date, in the next period); one that comes later
        # waits for us. A live credit stamped after the open period's trigger date holds nothing (it belongs to
        # the next period), so a stream of credits never starves the heartbeat. So no credit can land in a
        # period whose scores were already read (``distributors.selectors.CREDIT_NEEDS_HOLD_SQL``).
        distributed_through = distributors_hold_for_credit(
            distributor_ids=[t.distributor_id for t in targets], credited_at=now or timezone.now()
        )
        recorded_at = timezone.now()
        credited_at = now or recorded_at
        if not late_reason:
            _refuse_closed_periods(distributed_through, credited_at)
        request = CreditRequest(
            organization=organization,
            idempotency_key=idempotency_key or None,
            request_fingerprint=fingerprint,
            source=source,
            actor=actor[:ACTOR_MAX_LENGTH],
            created_at=recorded_at,
        )
        credits = [
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
        ]
        if connection.vendor == "postgresql":
            _write_postgresql(request, credits, collaborator=collaborator, targets=targets)
        else:
            request.save(force_insert=True)
            MetricCredit.objects.bulk_create(credits)
        if late_reason:  # the one extra statement of a late booking (the writers above leave the default)
            CreditRequest.objects.filter(pk=request.pk).update(late_reason=late_reason)
            request.late_reason = late_reason
        record_credits(organization.pk, [(request, credits)])
    return CreditOutcome(request=request, credits=credits, replayed=False)


def _write_postgresql(
    request: CreditRequest, credits: list[MetricCredit], *, collaborator: Collaborator, targets: list[CreditTarget]
) -> None:
    """Insert the request and its ledger rows in one statement (the batch's writer), then give the instances the
    ids the database chose."""
    from metrics.batch import CreditItem, write_credits_postgresql  # the batch module builds on this one

    item = CreditItem(
        collaborator=None,
        metric_type=credits[0].metric_type,
        quantity=credits[0].quantity,
        key=request.idempotency_key,
        credited_at=credits[0].credited_at,
    )
    written, credit_rows = write_credits_postgresql(
        organization=request.organization,
        rows=[(0, item, request.request_fingerprint, collaborator.pk, targets)],
        source=request.source,
        actor=request.actor,
        recorded_at=request.created_at,
    )
    request.pk = written[0].pk
    request._state.adding = False
    ids = {row.distributor_id: row.pk for row in credit_rows[request.pk]}
    for credit in credits:
        credit.pk = ids[credit.distributor_id]
        credit.request_id = request.pk
        credit._state.adding = False


def metric_credit_by_id(*, organization: Organization, collaborator_id: int, **credit) -> CreditOutcome:
    """``metric_credit`` for a collaborator named by id, without loading it first: the credit's one read
    (``metrics.selectors.credit_plan``) finds it in the organization, or ``CollaboratorNotFound`` is raised.
    ``credit`` takes the other arguments of ``metric_credit``."""
    reference = Collaborator(pk=collaborator_id, organization_id=organization.pk)  # a foreign key's target only
    return metric_credit(organization=organization, collaborator=reference, **credit)


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
    late_reason: str = "",
) -> CreditOutcome:
    """Credit ``quantity`` × ``metric_type`` to ``collaborator`` at ``now`` (default: the current time) on every
    active distributor that counts the type and that the collaborator is eligible for (or only
    ``distributor_id``); it counts in the period (periodStart, triggerDate] containing that instant. See the
    module docstring for the rules (idempotency, refusals)."""
    _validate_input(
        organization=organization,
        collaborator=collaborator,
        metric_type=metric_type,
        quantity=quantity,
        distributor_id=distributor_id,
        idempotency_key=idempotency_key,
        now=now,
    )
    late_reason = (late_reason or "").strip()
    if len(late_reason) > CreditRequest._meta.get_field("late_reason").max_length:
        raise CreditRefused(
            f"At most {CreditRequest._meta.get_field('late_reason').max_length} characters.", field="late_reason"
        )
    fingerprint = _fingerprint(
        collaborator=collaborator.pk, metric_type=metric_type, quantity=quantity, distributor=distributor_id
    )
    # One statement reads the stored status, the targets and the earlier request holding the key.
    plan = credit_plan(
        organization_id=organization.pk,
        collaborator_id=collaborator.pk,
        metric_type=metric_type,
        distributor_id=distributor_id,
        idempotency_key=idempotency_key,
    )
    if idempotency_key and plan.previous_request_id is not None:
        if plan.previous_fingerprint != fingerprint:
            raise IdempotencyConflict(
                "This idempotency key was already used with a different request.", field="idempotency_key"
            )
        return _replayed(plan.previous_request_id)
    targets = _credit_targets_checked(
        plan,
        organization=organization,
        collaborator=collaborator,
        metric_type=metric_type,
        distributor_id=distributor_id,
    )
    try:
        return _credit_write(
            organization=organization,
            collaborator=collaborator,
            targets=targets,
            metric_type=metric_type,
            quantity=quantity,
            fingerprint=fingerprint,
            source=source,
            actor=actor,
            idempotency_key=idempotency_key,
            now=now,
            late_reason=late_reason,
        )
    except IntegrityError:
        # A concurrent request with the same key won the race (we waited on its row, then hit the unique
        # constraint): answer as its replay. The savepoint above kept any outer transaction usable.
        if idempotency_key:
            replay = _replay(organization, idempotency_key, fingerprint)
            if replay:
                return replay
        raise
