from django.db import models
from django.db.models import F, Q

from collaborators.models import Collaborator
from distributions.engine import splits
from distributions.explain import period_label
from distributors.models import Distributor
from lifecycle import LifecycleModelMixin, StatusLifecycle
from obligations.models import Obligation
from organizations.models import Organization


class DistributionStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETE = "complete"
    CANCELLED = "cancelled"


class TieBreak(models.IntegerChoices):
    """What decided whether an allocation got a rounding unit (``distributions.engine.splits.TIE_BREAKS``)."""

    NONE = splits.TIE_BREAK_NONE, "exact share, nothing to round"
    REMAINDER = splits.TIE_BREAK_REMAINDER, "remainder size"
    SCORE = splits.TIE_BREAK_SCORE, "equal remainders: higher score"
    FIRST_CREDIT = splits.TIE_BREAK_FIRST_CREDIT, "equal remainders and scores: earlier first credit"
    COLLABORATOR_ID = splits.TIE_BREAK_COLLABORATOR_ID, "equal remainders, scores and first credits: lower id"
    UNFILLED = splits.TIE_BREAK_UNFILLED, "equal remainders with the unfilled places: collaborators first"


class Distribution(LifecycleModelMixin, models.Model):
    """One period of a distributor, (period_start, trigger_date].

    ``pending`` is the open period. Triggering computes ``pool`` (the period's pool plus ``rolled_over``
    from the previous period), splits it into allocations and records their sum as ``value``. What
    nobody earned is either ``unallocated`` (kept by the organization) or, when the distributor has
    ``rollover_unearned``, ``carried_forward``: it becomes the next period's ``rolled_over``.
    ``pool = value + unallocated + carried_forward`` is a database constraint.

    The trigger also records how it got there, so that the page explains a period whatever the distributor's
    rules say today: the pool's derivation (``pool_resolver``, ``period_pool``, and for a revenue share
    ``pool_percent_bp`` of ``revenue_entries`` entries totalling ``revenue_total``; ``pool = period_pool +
    rolled_over``), the split rule and tie policy (``distribution_resolver``, ``tie_policy``,
    ``top_n_weights``), ``scorer_count`` and the common ``share_denominator`` of the allocations'
    ``share_numerator``. All of them are blank/null on periods triggered before they were recorded
    ("not recorded"), and while pending.
    """

    LIFECYCLE = StatusLifecycle(
        {
            DistributionStatus.PENDING: {
                DistributionStatus.PROCESSING,
                DistributionStatus.COMPLETE,
                DistributionStatus.CANCELLED,
            },
            DistributionStatus.PROCESSING: {DistributionStatus.COMPLETE},
            # A payout taken back (paid -> unpaid) reopens an obligation and so its distribution.
            DistributionStatus.COMPLETE: {DistributionStatus.PROCESSING},
            DistributionStatus.CANCELLED: set(),
        }
    )

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="distributions")
    distributor = models.ForeignKey(Distributor, on_delete=models.CASCADE, related_name="distributions")
    status = models.CharField(max_length=16, choices=DistributionStatus.choices, default=DistributionStatus.PENDING)
    period_start = models.DateTimeField()
    trigger_date = models.DateTimeField()
    rolled_over = models.BigIntegerField(default=0, help_text="Unearned pool carried in from the previous period.")
    pool = models.BigIntegerField(null=True, blank=True, help_text="Computed when triggered, rollover included.")
    value = models.BigIntegerField(default=0, help_text="Sum of the allocations.")
    unallocated = models.BigIntegerField(default=0, help_text="Unearned and kept (not rolled over).")
    carried_forward = models.BigIntegerField(
        default=0, help_text="Unearned and rolled over: the next period's rolled_over."
    )
    triggered_at = models.DateTimeField(null=True, blank=True)
    # The trace of the trigger (see the class docstring); blank/null: not recorded.
    # db_default: rows inserted by hand (SQL, older code) read "not recorded" rather than failing.
    pool_resolver = models.CharField(
        max_length=32, blank=True, default="", db_default="", help_text="How the period's pool was found."
    )
    period_pool = models.BigIntegerField(null=True, blank=True, help_text="The period's own pool (rollover excluded).")
    pool_percent_bp = models.PositiveIntegerField(
        null=True, blank=True, help_text="Revenue share in basis points (1000 = 10 %)."
    )
    revenue_entries = models.PositiveIntegerField(null=True, blank=True, help_text="Revenue entries in the period.")
    revenue_total = models.BigIntegerField(null=True, blank=True, help_text="Their total, in the smallest unit.")
    distribution_resolver = models.CharField(
        max_length=32, blank=True, default="", db_default="", help_text="The split rule applied."
    )
    tie_policy = models.CharField(
        max_length=16, blank=True, default="", db_default="", help_text="The tie policy applied."
    )
    top_n_weights = models.JSONField(null=True, blank=True, help_text="topN: the place weights applied.")
    scorer_count = models.PositiveIntegerField(null=True, blank=True, help_text="Collaborators with a score.")
    share_denominator = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Common denominator of the exact shares: share = pool x share_numerator / share_denominator.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["distributor"],
                condition=Q(status=DistributionStatus.PENDING),
                name="distribution_one_pending_per_distributor",
            ),
            models.UniqueConstraint(fields=["distributor", "trigger_date"], name="distribution_unique_trigger"),
            models.CheckConstraint(condition=Q(trigger_date__gt=F("period_start")), name="distribution_period_order"),
            models.CheckConstraint(
                condition=Q(value__gte=0, unallocated__gte=0, rolled_over__gte=0, carried_forward__gte=0)
                & (Q(pool__isnull=True) | Q(pool__gte=0))
                & (Q(period_pool__isnull=True) | Q(period_pool__gte=0))
                & (Q(revenue_total__isnull=True) | Q(revenue_total__gte=0))
                & (Q(share_denominator__isnull=True) | Q(share_denominator__gte=0)),
                name="distribution_amounts_nonneg",
            ),
            models.CheckConstraint(
                condition=Q(pool__isnull=True) | Q(pool=F("value") + F("unallocated") + F("carried_forward")),
                name="distribution_pool_accounted",
            ),
            models.CheckConstraint(condition=Q(status__in=DistributionStatus.values), name="distribution_status_valid"),
            models.CheckConstraint(
                condition=Q(period_pool__isnull=True) | Q(pool=F("period_pool") + F("rolled_over")),
                name="distribution_pool_derivation",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "trigger_date"], name="distribution_org_status_idx"),
            models.Index(fields=["organization", "distributor", "trigger_date"], name="distribution_org_dist_idx"),
            models.Index(fields=["organization", "trigger_date"], name="distribution_org_trigger_idx"),
            # The heartbeat's due lookup across all organizations.
            models.Index(fields=["status", "trigger_date"], name="distribution_due_idx"),
        ]

    def __str__(self) -> str:
        """``Monthly pool · 1 Sep – 30 Sep 2026 (Europe/Paris)``: the period in local dates of the organization.

        Reads the distributor and its organization (``select_related("distributor__organization")`` where
        many are shown)."""
        organization = self.distributor.organization
        period = period_label(self.period_start, self.trigger_date, organization.tzinfo)
        return f"{self.distributor.name} · {period} ({organization.timezone})"

    @property
    def trace_recorded(self) -> bool:
        """Whether the trigger recorded its calculation (periods triggered before it did have none)."""
        return bool(self.distribution_resolver)


class Allocation(models.Model):
    """One collaborator's share of a triggered distribution, owed through exactly one obligation.

    Its status is its obligation's (``allocation.obligation.status``): one row holds it, nothing to keep in step.
    """

    # No single-column indexes on organization and distribution: the composite indexes below start with
    # them, and a trigger writes up to 100 000 allocations at once, so every index kept costs.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    distribution = models.ForeignKey(Distribution, on_delete=models.CASCADE, related_name="allocations", db_index=False)
    obligation = models.OneToOneField(Obligation, on_delete=models.PROTECT, related_name="allocation")
    collaborator = models.ForeignKey(Collaborator, on_delete=models.PROTECT, related_name="allocations")
    value = models.BigIntegerField()
    score = models.BigIntegerField()
    rank = models.PositiveIntegerField()
    # The trace of the split (null: not recorded, or for share_numerator too large to store):
    # exact share = distribution.pool x share_numerator / distribution.share_denominator; value is its floor,
    # plus one when rounding_unit; tie_break says what decided that unit.
    share_numerator = models.BigIntegerField(null=True, blank=True)
    rounding_unit = models.BooleanField(null=True, blank=True, help_text="Got one leftover unit of the rounding.")
    tie_break = models.PositiveSmallIntegerField(
        null=True, blank=True, choices=TieBreak.choices, help_text="What decided the rounding unit."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["distribution", "collaborator"], name="allocation_unique_per_collaborator"),
            models.CheckConstraint(condition=Q(value__gt=0), name="allocation_value_positive"),
            models.CheckConstraint(condition=Q(score__gte=0), name="allocation_score_nonneg"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="allocation_rank_positive"),
        ]
        indexes = [models.Index(fields=["organization", "collaborator"], name="allocation_org_collab_idx")]

    def __str__(self) -> str:
        # No amount: its units are the distributor's (a query); the admin shows the value with them.
        return f"Allocation {self.pk} (rank {self.rank}) to collaborator {self.collaborator_id}"


class EngineRunStatus(models.TextChoices):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"  # its process died (killed, machine lost) before it could record an end


class EngineRun(models.Model):
    """One run of the heartbeat: when, as of which instant, what it did and what went wrong."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    as_of = models.DateTimeField(help_text="The 'now' the run processed (the --now option, or the real time).")
    status = models.CharField(max_length=16, choices=EngineRunStatus.choices, default=EngineRunStatus.RUNNING)
    options = models.JSONField(default=dict)
    host = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    triggered_count = models.PositiveIntegerField(default=0)
    opened_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0, help_text="Due but locked by another run.")
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=EngineRunStatus.values), name="engine_run_status_valid"),
        ]
        indexes = [
            models.Index(fields=["-started_at"], name="engine_run_started_idx"),
            # The next heartbeat looks for runs still marked running (a handful) to find the abandoned ones.
            models.Index(fields=["status"], name="engine_run_running_idx", condition=Q(status="running")),
        ]

    def __str__(self) -> str:
        return f"Engine run {self.pk} ({self.status})"


class Correction(models.Model):
    """One correction of a triggered period: the period recomputed from the ledger as it is now (credits and
    revenue booked late included) under the rules its trigger recorded, and the adjustments written for the
    differences (``lines``). The distribution and its allocations are never edited.

    - ``previous_value``: what the period owed before this correction: Σ its allocations plus the adjustments
      of its earlier corrections. ``value``: the corrected split's total. ``adjustment_total``: Σ of this
      correction's adjustments. ``previous_value + adjustment_total = value`` is a constraint, so after any
      number of corrections Σ allocations + Σ corrections' adjustments = the latest corrected value.
    - ``pool = value + unallocated + carried_forward`` like a distribution's. What the corrected split would
      carry forward is recorded, not moved into the next period (which was opened, and maybe triggered, with
      the original figure).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    distribution = models.ForeignKey(Distribution, on_delete=models.PROTECT, related_name="corrections")
    created_at = models.DateTimeField()
    actor = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=500)
    period_pool = models.BigIntegerField(help_text="The period's own pool, recomputed (rollover excluded).")
    revenue_entries = models.PositiveIntegerField(null=True, blank=True)
    revenue_total = models.BigIntegerField(null=True, blank=True)
    pool = models.BigIntegerField(help_text="The corrected pool, the period's original rollover included.")
    value = models.BigIntegerField(help_text="The corrected split's total.")
    unallocated = models.BigIntegerField(default=0)
    carried_forward = models.BigIntegerField(default=0)
    scorer_count = models.PositiveIntegerField(default=0)
    previous_value = models.BigIntegerField(help_text="Σ allocations + earlier corrections' adjustments.")
    adjustment_total = models.BigIntegerField(default=0)
    late_credits = models.PositiveIntegerField(default=0, help_text="Ledger rows booked after the trigger.")
    late_revenue_entries = models.PositiveIntegerField(default=0, help_text="Revenue entries booked after it.")

    class Meta:
        ordering = ["distribution", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="correction_has_reason"),
            models.CheckConstraint(
                condition=Q(pool=F("value") + F("unallocated") + F("carried_forward")), name="correction_pool_split"
            ),
            models.CheckConstraint(
                condition=Q(value=F("previous_value") + F("adjustment_total")), name="correction_balances"
            ),
            models.CheckConstraint(
                condition=Q(value__gte=0, unallocated__gte=0, carried_forward__gte=0, pool__gte=0),
                name="correction_amounts_nonneg",
            ),
        ]

    def __str__(self) -> str:
        return f"Correction {self.pk} of distribution {self.distribution_id}"


class CorrectionLine(models.Model):
    """One collaborator's difference in a correction: ``previous_value`` (their allocation plus earlier
    corrections' adjustments) to ``corrected_value``, paid by ``adjustment`` (an adjustment obligation of
    ``corrected_value - previous_value``, linked to the distribution and, through ``allocation``, to the
    original allocation when the collaborator had one)."""

    correction = models.ForeignKey(Correction, on_delete=models.CASCADE, related_name="lines")
    collaborator = models.ForeignKey(Collaborator, on_delete=models.PROTECT, related_name="+")
    allocation = models.ForeignKey(
        "distributions.Allocation", on_delete=models.PROTECT, null=True, blank=True, related_name="correction_lines"
    )
    adjustment = models.OneToOneField(Obligation, on_delete=models.PROTECT, related_name="correction_line")
    score = models.BigIntegerField(help_text="The corrected score.")
    previous_value = models.BigIntegerField()
    corrected_value = models.BigIntegerField()
    difference = models.BigIntegerField()

    class Meta:
        ordering = ["correction", "id"]
        constraints = [
            models.UniqueConstraint(fields=["correction", "collaborator"], name="correction_line_unique_collaborator"),
            models.CheckConstraint(
                condition=Q(difference=F("corrected_value") - F("previous_value")), name="correction_line_difference"
            ),
            models.CheckConstraint(condition=~Q(difference=0), name="correction_line_nonzero"),
            models.CheckConstraint(condition=Q(corrected_value__gte=0), name="correction_line_corrected_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.collaborator_id}: {self.previous_value} → {self.corrected_value}"
