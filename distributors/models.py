from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from collaborators.models import Collaborator
from distributors import rules
from distributors.units import clean_units_field, format_amount
from lifecycle import LifecycleModelMixin, StatusLifecycle
from organizations.models import Organization


class DistributorStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DELETED = "deleted"


class PoolResolver(models.TextChoices):
    FIXED = rules.POOL_FIXED, "Fixed amount per period"
    REVENUE_SHARE = rules.POOL_REVENUE_SHARE, "Share of the period's revenue"


class DistributionResolver(models.TextChoices):
    PERFORMANCE_SHARED_POOL = rules.PERFORMANCE_SHARED_POOL, "Proportional to score"
    SHARED_ENGAGEMENT_POOL = rules.SHARED_ENGAGEMENT_POOL, "Equal among non-zero scores"
    TOP_SCORE_WINS = rules.TOP_SCORE_WINS, "Highest score takes the pool"
    TOP_N = rules.TOP_N, "Ranked shares (e.g. 50/30/20)"


class TiePolicy(models.TextChoices):
    SPLIT = rules.TIE_SPLIT, "Tied collaborators share their places equally"
    EARLIEST = rules.TIE_EARLIEST, "Earlier first credit wins the tie"


class Eligibility(models.TextChoices):
    ALL_ACTIVE = "allActive", "Every active collaborator of the organization"
    SELECTED = "selected", "Only the selected collaborators"


class ObligationStart(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"


def validate_schedule(value: str) -> None:
    from distributors.schedules import parse_schedule

    try:
        parse_schedule(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class Distributor(LifecycleModelMixin, models.Model):
    """A reward rule paying on a schedule: units, pool, split rule, counted metric types, eligibility.

    Money is an integer in the smallest unit of ``units`` (1500 = 15.00 USD). A revenue-share pool is
    ``pool_percent_bp`` basis points (1/100 %) of the revenue entries in ``units`` recorded in the period.
    ``hold_days``: its obligations start pending and the heartbeat approves them once the hold has passed (counted
    from the trigger's write, in days of 24 hours); it needs ``obligation_start_status`` pending, at most 3660.
    """

    LIFECYCLE = StatusLifecycle(
        {
            DistributorStatus.ACTIVE: {DistributorStatus.INACTIVE, DistributorStatus.DELETED},
            DistributorStatus.INACTIVE: {DistributorStatus.ACTIVE, DistributorStatus.DELETED},
            DistributorStatus.DELETED: set(),
        }
    )

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="distributors")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=DistributorStatus.choices, default=DistributorStatus.ACTIVE)
    units = models.CharField(max_length=16, default="USD", help_text="A currency code such as USD, or 'points'.")

    pool_resolver = models.CharField(max_length=32, choices=PoolResolver.choices, default=PoolResolver.FIXED)
    pool_amount = models.BigIntegerField(default=0, help_text="Fixed pool per period, in the smallest unit.")
    pool_percent_bp = models.PositiveIntegerField(
        default=0, help_text="Revenue share in basis points: 1000 = 10 % of the period's revenue."
    )
    rollover_unearned = models.BooleanField(
        default=False,
        help_text="Carry a pool nobody earned into the next period instead of leaving it unallocated.",
    )

    distribution_resolver = models.CharField(
        max_length=32,
        choices=DistributionResolver.choices,
        default=DistributionResolver.PERFORMANCE_SHARED_POOL,
    )
    tie_policy = models.CharField(max_length=16, choices=TiePolicy.choices, default=TiePolicy.SPLIT)
    top_n_weights = models.JSONField(
        default=list, blank=True, help_text="topN only: percentages per place, e.g. [50, 30, 20]."
    )
    obligation_start_status = models.CharField(
        max_length=16, choices=ObligationStart.choices, default=ObligationStart.PENDING
    )
    hold_days = models.PositiveIntegerField(
        default=0,
        help_text="Holding period: the heartbeat approves this distributor's pending obligations this many days "
        "after the trigger wrote them, unless they were rejected or cancelled before. 0: no hold (staff approve).",
    )

    eligibility = models.CharField(max_length=16, choices=Eligibility.choices, default=Eligibility.ALL_ACTIVE)
    eligible_collaborators = models.ManyToManyField(Collaborator, blank=True, related_name="distributors")

    schedule = models.CharField(
        max_length=500,
        default="monthly",
        validators=[validate_schedule],
        help_text="daily, weekly, monthly, quarterly, or an RFC 5545 rule such as 'RRULE:FREQ=WEEKLY;BYDAY=FR'.",
    )
    starts_at = models.DateTimeField(help_text="Start of the first period.")
    distributed_through = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Trigger date of the latest triggered period: credits at or before it can no longer count.",
    )
    open_until = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Trigger date of the open (pending) period, kept by the engine: a credit stamped at or before "
        "it holds the distributor against that period's trigger; one stamped after it belongs to a later period.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(pool_amount__gte=0), name="distributor_pool_amount_nonneg"),
            models.CheckConstraint(condition=Q(pool_percent_bp__lte=10000), name="distributor_pool_percent_le_100"),
            models.CheckConstraint(condition=Q(status__in=DistributorStatus.values), name="distributor_status_valid"),
            models.CheckConstraint(condition=Q(pool_resolver__in=PoolResolver.values), name="distributor_pool_valid"),
            models.CheckConstraint(
                condition=Q(distribution_resolver__in=DistributionResolver.values),
                name="distributor_resolver_valid",
            ),
            # A hold delays the approval of obligations that start pending; approved ones have nothing to wait for.
            models.CheckConstraint(
                condition=Q(hold_days=0) | Q(obligation_start_status=ObligationStart.PENDING),
                name="distributor_hold_needs_pending_start",
            ),
            models.CheckConstraint(condition=Q(hold_days__lte=3660), name="distributor_hold_days_le_3660"),
        ]
        indexes = [models.Index(fields=["organization", "status"], name="distributor_org_status_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        try:
            clean_units_field(self)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if self.distribution_resolver == DistributionResolver.TOP_N:
            weights = self.top_n_weights
            if (
                not isinstance(weights, list)
                or not weights
                or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in weights)
                or sum(weights) != 100
            ):
                errors["top_n_weights"] = "topN needs a list of whole percentages that sum to 100, e.g. [50, 30, 20]."
        if self.hold_days and self.obligation_start_status != ObligationStart.PENDING:
            errors["hold_days"] = (
                "A holding period needs obligations that start pending (they are approved when it ends); "
                "set the obligation start status to pending, or the hold to 0."
            )
        if self.pool_resolver == PoolResolver.REVENUE_SHARE and not self.pool_percent_bp:
            errors["pool_percent_bp"] = "A revenue-share pool needs a percentage above zero."
        schedule_error = self._schedule_error_from_start()
        if schedule_error and "schedule" not in errors:
            errors["schedule"] = schedule_error
        if errors:
            raise ValidationError(errors)

    def _schedule_error_from_start(self) -> str | None:
        """The schedule checked from this distributor's own start in its organization's zone (the field
        validator can only check it from a fixed date): ``YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29`` fires
        from a leap year but never from 2026. Its first two periods must both end within five years."""
        from distributors.schedules import upcoming_triggers

        if not self.schedule or self.starts_at is None or self.organization_id is None:
            return None
        try:
            upcoming_triggers(
                self.schedule, tz=self.organization.tzinfo, anchor=self.starts_at, after=self.starts_at, count=2
            )
        except ValueError as exc:
            return f"{exc} Counted from this distributor's start, {self.starts_at:%Y-%m-%d}."
        return None


class MetricType(models.Model):
    """A metric a distributor counts, with the whole number of points one unit of it is worth."""

    distributor = models.ForeignKey(Distributor, on_delete=models.CASCADE, related_name="metric_types")
    name = models.SlugField(max_length=50, help_text="e.g. manual, sale, signup")
    points = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["distributor", "name"], name="metric_type_unique_per_distributor"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points} pt)"


class RevenueEntry(models.Model):
    """Revenue that feeds revenue-share pools; the reference is unique so a re-import adds nothing."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="revenue_entries")
    amount = models.BigIntegerField()
    units = models.CharField(max_length=16)
    occurred_at = models.DateTimeField()
    reference = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    late_reason = models.CharField(
        max_length=500,
        blank=True,
        default="",
        db_default="",
        help_text="Why this entry was booked into a period already distributed (empty: an ordinary entry).",
    )

    class Meta:
        verbose_name_plural = "revenue entries"
        constraints = [
            models.UniqueConstraint(fields=["organization", "reference"], name="revenue_reference_unique_per_org"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="revenue_amount_nonneg"),
        ]
        indexes = [models.Index(fields=["organization", "units", "occurred_at"], name="revenue_org_units_time_idx")]

    def __str__(self) -> str:
        return f"{self.reference}: {format_amount(self.amount, self.units)}"

    def clean(self) -> None:
        clean_units_field(self)
