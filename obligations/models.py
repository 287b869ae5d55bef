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
    DISTRIBUTION = "distribution"
    MANUAL = "manual"


class Obligation(LifecycleModelMixin, models.Model):
    """An amount owed to a collaborator, in ``units``; created by a distribution or by hand.

    An approved obligation joins a fulfillment (``payout`` is set) and becomes ``fulfilled`` when its
    payout is marked paid; a failed fulfillment clears ``payout`` and leaves it ``approved``.
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

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="obligations")
    collaborator = models.ForeignKey(Collaborator, on_delete=models.PROTECT, related_name="obligations")
    value = models.BigIntegerField()
    units = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=ObligationStatus.choices, default=ObligationStatus.PENDING)
    award_type = models.CharField(max_length=16, choices=AwardType.choices, default=AwardType.MANUAL)
    description = models.CharField(max_length=300, blank=True)
    payout = models.ForeignKey(
        "obligations.Payout", on_delete=models.SET_NULL, null=True, blank=True, related_name="obligations"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="obligation_value_nonneg"),
            models.CheckConstraint(condition=Q(status__in=ObligationStatus.values), name="obligation_status_valid"),
            models.CheckConstraint(
                condition=~Q(status=ObligationStatus.FULFILLED) | Q(payout__isnull=False),
                name="obligation_fulfilled_has_payout",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "id"], name="obligation_org_status_idx"),
            models.Index(fields=["organization", "collaborator", "id"], name="obligation_org_collab_idx"),
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
    """A batch of approved obligations, grouped into one payout per collaborator and units."""

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
