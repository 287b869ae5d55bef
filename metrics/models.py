"""Metric credits: an append-only ledger of points.

A score is never stored as a running total: a collaborator's score for a metric type in a period is the
sum of the credits made in (periodStart, triggerDate]. Appending rows means concurrent credits can never
lose an update, closed periods stay readable, and every point traces to when, how and by whom it was
credited. Allocations keep the score they were based on.
"""

from django.db import models
from django.db.models import F, Q

from collaborators.models import Collaborator
from distributors.models import Distributor
from organizations.models import Organization

MAX_CREDIT_QUANTITY = 1_000_000
"""The most units one credit may carry, in every interface (API, admin, command)."""


class CreditSource(models.TextChoices):
    API = "api"
    ADMIN = "admin"
    COMMAND = "command"
    SEED = "seed"


class CreditRequest(models.Model):
    """One act of crediting (an API call, an admin save, a command run); holds its idempotency key.

    The same key with the same body replays the first outcome (its ledger rows); the same key with another
    body is refused.

    ``late_reason``: set when the credit was booked late on purpose, into a period the engine had already
    distributed (``credit_metric --late-reason``); such a credit counts only when the period is corrected
    (``manage.py correct_distribution``). Empty for every ordinary credit.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=CreditSource.choices)
    actor = models.CharField(max_length=200, blank=True, help_text="API key prefix, staff username or command.")
    created_at = models.DateTimeField()
    late_reason = models.CharField(
        max_length=500,
        blank=True,
        default="",
        db_default="",
        help_text="Why this credit was booked into a period already distributed (empty: an ordinary credit).",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="credit_request_idempotency_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} credit request {self.pk}"


class CreditBatch(models.Model):
    """One batch of credits made under an idempotency key (``POST /distributors/credit-metric/batch`` with an
    ``Idempotency-Key``): what answers a retry of the whole batch.

    Batch keys are their own namespace (a batch key never matches a single credit's key); the items' own keys
    are ``CreditRequest`` keys. ``items`` lists, per item in order, ``[credit request id, replayed]``: the
    request that credited it and whether that request was an earlier one (an item key already used), so a
    retry answers exactly the first response. Written only for keyed batches.
    """

    # The unique constraint's index leads with the organization: the foreign key needs no index of its own.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    idempotency_key = models.CharField(max_length=200)
    request_fingerprint = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=CreditSource.choices)
    actor = models.CharField(max_length=200, blank=True, help_text="API key prefix, staff username or command.")
    items = models.JSONField(help_text="[credit request id, replayed] per item, in the batch's order.")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "idempotency_key"], name="credit_batch_idempotency_unique")
        ]

    def __str__(self) -> str:
        return f"{self.source} credit batch {self.pk}"


class MetricCredit(models.Model):
    """Points credited to a collaborator on one distributor, at one instant (read-only once written)."""

    # Only the indexes the ledger's queries use (README "Write path"): organization and distributor lead the
    # composite indexes below, and nothing looks credits up by metric type alone, so none of the three has
    # its own. collaborator (cascades, the foreign key's checks) and request (replays) keep theirs.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    request = models.ForeignKey(CreditRequest, on_delete=models.PROTECT, related_name="credits")
    distributor = models.ForeignKey(
        Distributor, on_delete=models.CASCADE, related_name="metric_credits", db_index=False
    )
    collaborator = models.ForeignKey(Collaborator, on_delete=models.CASCADE, related_name="metric_credits")
    metric_type = models.SlugField(max_length=50, db_index=False)
    quantity = models.PositiveIntegerField()
    points_per_unit = models.PositiveIntegerField()
    points = models.BigIntegerField()
    credited_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="metric_credit_quantity_positive"),
            models.CheckConstraint(
                condition=Q(points=F("quantity") * F("points_per_unit")),
                name="metric_credit_points_consistent",
            ),
        ]
        indexes = [
            # The engine's score query: one distributor, one period, summed per collaborator.
            models.Index(fields=["distributor", "credited_at", "collaborator", "points"], name="credit_period_idx"),
            models.Index(fields=["organization", "collaborator", "credited_at"], name="credit_org_collab_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.collaborator_id}: {self.quantity} × {self.metric_type} on {self.distributor_id}"
