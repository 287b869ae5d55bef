from django.db import models
from django.db.models import Q

from collaborators.models import Collaborator
from distributors.units import clean_units_field, format_amount
from lifecycle import LifecycleModelMixin, StatusLifecycle
from organizations.models import Organization


class ObligationStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


OPEN_OBLIGATION_STATUSES = (ObligationStatus.PENDING, ObligationStatus.APPROVED)


class AwardType(models.TextChoices):
    """What created an obligation: a distribution's trigger, staff by hand, or a correction (``adjustment``)."""

    DISTRIBUTION = "distribution"
    MANUAL = "manual"
    ADJUSTMENT = "adjustment"


class Obligation(LifecycleModelMixin, models.Model):
    """An amount owed to a collaborator, in ``units``; created by a distribution, by hand, or as an adjustment.

    An approved obligation joins a fulfillment (``payout`` is set) and becomes ``fulfilled`` when its
    payout is marked paid; a failed fulfillment clears ``payout`` and leaves it ``approved``.

    - ``release_at``: set by a trigger whose distributor holds its obligations (``hold_days``): the trigger's
      write instant plus the hold. The heartbeat approves a still pending obligation once it has passed.
    - An ``adjustment`` corrects what was owed (positive, or negative: a clawback) and is never edited: it names
      exactly one obligation (``adjusts_obligation``) or distribution (``adjusts_distribution``) it corrects
      and a ``reason``. Only an adjustment may be negative; a fulfillment nets it against the collaborator's
      other approved obligations in the same units.
    """

    LIFECYCLE = StatusLifecycle(
        {
            ObligationStatus.PENDING: {
                ObligationStatus.APPROVED,
                ObligationStatus.REJECTED,
                ObligationStatus.CANCELLED,
            },
            ObligationStatus.APPROVED: {
                ObligationStatus.FULFILLED,
                ObligationStatus.REJECTED,
                ObligationStatus.CANCELLED,
            },
            ObligationStatus.REJECTED: {ObligationStatus.CANCELLED},
            # Only when staff take back a payout marked paid by mistake (payout paid -> unpaid).
            ObligationStatus.FULFILLED: {ObligationStatus.APPROVED},
            ObligationStatus.CANCELLED: set(),
        }
    )

    # No index on organization alone: the composite indexes below start with it.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="obligations", db_index=False)
    collaborator = models.ForeignKey(Collaborator, on_delete=models.PROTECT, related_name="obligations")
    value = models.BigIntegerField()
    units = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=ObligationStatus.choices, default=ObligationStatus.PENDING)
    award_type = models.CharField(max_length=16, choices=AwardType.choices, default=AwardType.MANUAL)
    description = models.CharField(max_length=300, blank=True)
    reason = models.CharField(max_length=500, blank=True, help_text="Why this adjustment was made (required for one).")
    # The link of an adjustment to what it corrects; the distribution is referenced by name (this app never
    # imports the distributions app, which sits above it).
    adjusts_obligation = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="adjustments",
        db_index=False,  # ``obligation_adj_obligation_idx``: only adjustments have an entry
        help_text="The obligation this adjustment corrects.",
    )
    adjusts_distribution = models.ForeignKey(
        "distributions.Distribution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="adjustments",
        db_index=False,  # ``obligation_adj_distrib_idx``
        help_text="The distribution this adjustment corrects.",
    )
    release_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the heartbeat approves it, if it is still pending (its distributor's hold).",
    )
    # Indexed only where set (``obligation_payout_idx``): a new obligation has none, so it costs no index entry.
    payout = models.ForeignKey(
        "obligations.Payout",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="obligations",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Only an adjustment may be negative (a clawback); it is never zero (it would correct nothing).
            models.CheckConstraint(
                condition=Q(value__gte=0) | Q(award_type=AwardType.ADJUSTMENT), name="obligation_value_nonneg"
            ),
            models.CheckConstraint(
                condition=~Q(award_type=AwardType.ADJUSTMENT) | ~Q(value=0), name="obligation_adjustment_nonzero"
            ),
            models.CheckConstraint(condition=Q(status__in=ObligationStatus.values), name="obligation_status_valid"),
            models.CheckConstraint(condition=Q(award_type__in=AwardType.values), name="obligation_award_type_valid"),
            # An adjustment names exactly one thing it corrects, and why; no other obligation names either.
            models.CheckConstraint(
                condition=Q(
                    award_type=AwardType.ADJUSTMENT,
                    adjusts_obligation__isnull=False,
                    adjusts_distribution__isnull=True,
                )
                | Q(
                    award_type=AwardType.ADJUSTMENT,
                    adjusts_obligation__isnull=True,
                    adjusts_distribution__isnull=False,
                )
                | (
                    ~Q(award_type=AwardType.ADJUSTMENT)
                    & Q(adjusts_obligation__isnull=True, adjusts_distribution__isnull=True)
                ),
                name="obligation_adjustment_links_one",
            ),
            models.CheckConstraint(
                condition=~Q(award_type=AwardType.ADJUSTMENT) | ~Q(reason=""), name="obligation_adjustment_has_reason"
            ),
            # A hold delays the approval of a distribution's obligation; nothing else is held.
            models.CheckConstraint(
                condition=Q(release_at__isnull=True) | Q(award_type=AwardType.DISTRIBUTION),
                name="obligation_release_only_distribution",
            ),
            models.CheckConstraint(
                condition=~Q(status=ObligationStatus.FULFILLED) | Q(payout__isnull=False),
                name="obligation_fulfilled_has_payout",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "id"], name="obligation_org_status_idx"),
            models.Index(fields=["organization", "collaborator", "id"], name="obligation_org_collab_idx"),
            # A payout's obligations (paying, taking back, failing a fulfillment; the key's checks on delete).
            models.Index(fields=["payout"], name="obligation_payout_idx", condition=Q(payout__isnull=False)),
            models.Index(
                fields=["adjusts_obligation"],
                name="obligation_adj_obligation_idx",
                condition=Q(adjusts_obligation__isnull=False),
            ),
            models.Index(
                fields=["adjusts_distribution"],
                name="obligation_adj_distrib_idx",
                condition=Q(adjusts_distribution__isnull=False),
            ),
            # The heartbeat's release: pending obligations whose hold has passed, oldest first. Only held ones
            # have an entry.
            models.Index(
                fields=["release_at", "id"],
                name="obligation_release_idx",
                condition=Q(status=ObligationStatus.PENDING, release_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Obligation {self.pk}: {format_amount(self.value, self.units)} ({self.status})"

    def clean(self) -> None:
        clean_units_field(self)


class FulfillmentStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETE = "complete"
    FAILED = "failed"


class Fulfillment(LifecycleModelMixin, models.Model):
    """A batch of approved obligations, grouped into one payout per collaborator and units (their net sum)."""

    LIFECYCLE = StatusLifecycle(
        {
            FulfillmentStatus.PENDING: {FulfillmentStatus.PROCESSING, FulfillmentStatus.FAILED},
            FulfillmentStatus.PROCESSING: {FulfillmentStatus.COMPLETE, FulfillmentStatus.FAILED},
            # Only when staff take back a payout marked paid by mistake (payout paid -> unpaid).
            FulfillmentStatus.COMPLETE: {FulfillmentStatus.PROCESSING},
            FulfillmentStatus.FAILED: set(),
        }
    )

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="fulfillments")
    status = models.CharField(max_length=16, choices=FulfillmentStatus.choices, default=FulfillmentStatus.PENDING)
    # What this batch left out, per collaborator and units, when it was generated (``HeldBalance.as_dict``):
    # a balance below the organization's minimum, or a net debt. Those obligations stayed approved.
    held_back = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=FulfillmentStatus.values), name="fulfillment_status_valid"),
        ]
        indexes = [models.Index(fields=["organization", "status"], name="fulfillment_org_status_idx")]

    def __str__(self) -> str:
        return f"Fulfillment {self.pk} ({self.status})"


class PayoutStatus(models.TextChoices):
    UNPAID = "unpaid"
    PAID = "paid"


class Payout(LifecycleModelMixin, models.Model):
    """What one collaborator is paid in one units within a fulfillment; staff pay it and mark it paid."""

    LIFECYCLE = StatusLifecycle({PayoutStatus.UNPAID: {PayoutStatus.PAID}, PayoutStatus.PAID: {PayoutStatus.UNPAID}})

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    fulfillment = models.ForeignKey(Fulfillment, on_delete=models.CASCADE, related_name="payouts")
    collaborator = models.ForeignKey(Collaborator, on_delete=models.PROTECT, related_name="payouts")
    units = models.CharField(max_length=16)
    amount = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=PayoutStatus.choices, default=PayoutStatus.UNPAID)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["fulfillment", "collaborator", "units"], name="payout_unique_per_fulfillment"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="payout_amount_nonneg"),
            models.CheckConstraint(
                condition=Q(status=PayoutStatus.UNPAID, paid_at__isnull=True)
                | Q(status=PayoutStatus.PAID, paid_at__isnull=False),
                name="payout_paid_at_matches_status",
            ),
        ]
        indexes = [models.Index(fields=["organization", "status"], name="payout_org_status_idx")]

    def __str__(self) -> str:
        return f"Payout {self.pk}: {format_amount(self.amount, self.units)} ({self.status})"


class MinimumPayout(models.Model):
    """The smallest payout an organization makes in ``units``: a smaller approved balance waits (carries over)
    until it adds up. No row, or ``amount`` 0: every positive balance is paid."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="minimum_payouts")
    units = models.CharField(max_length=16)
    amount = models.BigIntegerField(help_text="The minimum payout, in the smallest unit.")
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization_id", "units"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "units"], name="minimum_payout_unique_per_units"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="minimum_payout_amount_nonneg"),
        ]

    def __str__(self) -> str:
        return f"Minimum payout {format_amount(self.amount, self.units)}"

    def clean(self) -> None:
        clean_units_field(self)
