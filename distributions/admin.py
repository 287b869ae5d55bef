"""Distributions, allocations and engine runs in the admin, and the registration of the admins whose actions
move distributions too (distributors, obligations, payouts): each is the lower app's admin with the use case
of ``distributions.services`` that keeps the distributions in step (the lower app never imports this one)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from collaborators.models import Collaborator
from collaborators.selectors import collaborator_resolve
from distributions.admin_explain import distribution_explanation
from distributions.corrections import distribution_correct, distribution_correction_plan
from distributions.explain import exact_share_text, format_amount, rounding_text, share_percent_text
from distributions.models import Allocation, Correction, CorrectionLine, Distribution, DistributionStatus, EngineRun
from distributions.services import (
    distributor_save_with_periods,
    distributor_set_status_with_periods,
    obligations_transition_and_follow,
    payouts_mark_paid_and_follow,
    payouts_mark_unpaid_and_follow,
)
from distributors.admin import DistributorAdmin, MoneyAdminMixin, amount_html
from distributors.models import Distributor
from obligations.admin import AdjustmentForm, ObligationAdmin, PayoutAdmin, adjustment_action
from obligations.models import Obligation, Payout
from obligations.services import obligation_adjust
from organizations.admin import (
    BoundedInlineFormSet,
    OrganizationTimesMixin,
    ReadOnlyAdminMixin,
    StatusHistoryMixin,
    TenantAdminMixin,
    TenantInlineMixin,
    action_page,
    confirmed_post,
    instant_html,
    local_time_column,
    log_action,
    period_column,
    zone_of,
)
from organizations.models import Role


@admin.display(description="status", ordering="obligation__status")
def obligation_status(allocation: Allocation) -> str:
    return allocation.obligation.get_status_display()


# The allocations of a triggered distribution, each with the trace its trigger recorded (``distributions.explain``).


@admin.display(description="value")
def allocation_value(allocation: Allocation) -> str:
    return format_amount(allocation.value, allocation.distribution.distributor.units)


@admin.display(description="share of the pool")
def allocation_share_percent(allocation: Allocation) -> str:
    return share_percent_text(allocation.value, allocation.distribution.pool)


@admin.display(description="exact share")
def allocation_exact_share(allocation: Allocation) -> str:
    distribution = allocation.distribution
    return exact_share_text(
        distribution.pool, allocation.share_numerator, distribution.share_denominator, distribution.distributor.units
    )


@admin.display(description="rounding unit")
def allocation_rounding(allocation: Allocation) -> str:
    return rounding_text(allocation.rounding_unit, allocation.tie_break)


ALLOCATION_INLINE_LIMIT = 100


class BoundedAllocationFormSet(BoundedInlineFormSet):
    """The first ``ALLOCATION_INLINE_LIMIT`` allocations by rank, and a link to all of them."""

    def get_limit(self) -> int:
        return ALLOCATION_INLINE_LIMIT

    def more_note(self) -> str:
        url = reverse("admin:distributions_allocation_changelist")
        return format_html(
            'The first {} of {} allocations, by rank. All of them: <a href="{}?distribution__id__exact={}">the '
            "allocations list</a> (paged), or <code>GET /api/v1/distributions/{}/standings</code>.",
            self.shown_count,
            self.total_count,
            url,
            self.instance.pk,
            self.instance.pk,
        )


class AllocationInline(ReadOnlyAdminMixin, TenantInlineMixin, admin.TabularInline):
    model = Allocation
    formset = BoundedAllocationFormSet
    fields = [
        "rank",
        "collaborator",
        "score",
        allocation_value,
        allocation_share_percent,
        allocation_exact_share,
        allocation_rounding,
        obligation_status,
        "obligation",
    ]
    readonly_fields = fields
    ordering = ["rank", "id"]
    extra = 0
    # Django's tabular inline without the row title (the allocation's __str__, "Allocation 16: 15507 to 9"); the
    # collaborator and the obligation are the row's links.
    template = "admin/organizations/tabular_untitled.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("collaborator", "obligation", "distribution__distributor")


@admin.display(description="correction")
def correction_link(correction: Correction):
    return format_html(
        '<a href="{}">Correction {}</a>',
        reverse("admin:distributions_correction_change", args=[correction.pk]),
        correction.pk,
    )


@admin.display(description="owed before → after")
def correction_owed(correction: Correction):
    units = correction.distribution.distributor.units
    return format_html("{} → {}", amount_html(correction.previous_value, units), amount_html(correction.value, units))


@admin.display(description="corrected at (organization's time)")
def correction_created_at(correction: Correction):
    return instant_html(correction.created_at, zone_of(correction.distribution.organization))


class CorrectionInline(ReadOnlyAdminMixin, TenantInlineMixin, admin.TabularInline):
    """The period's corrections (``manage.py correct_distribution``, the "Correct" action), oldest first."""

    model = Correction
    formset = BoundedInlineFormSet
    fields = [correction_link, correction_created_at, "actor", "reason", correction_owed, "late_credits"]
    readonly_fields = fields
    ordering = ["id"]
    extra = 0
    template = "admin/organizations/tabular_untitled.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("distribution__distributor", "distribution__organization")


# List columns: amounts in the distributor's units, the period in the organization's zone (``organizations.admin``
# and ``distributors.admin``), each sortable by its field; what was rolled over is in the pool's hover and the
# unallocated and carried-forward amounts share one "unearned" column, so the list fits 1366 px.


@admin.display(description="allocated", ordering="value")
def distribution_allocated(distribution: Distribution):
    """The allocated value, linking to the distribution's obligations."""
    if distribution.pool is None:  # pending: nothing allocated yet
        return None
    return format_html(
        '<a href="{}?distribution={}" title="Its obligations">{}</a>',
        reverse("admin:obligations_obligation_changelist"),
        distribution.pk,
        amount_html(distribution.value, distribution.distributor.units),
    )


@admin.display(description="pool", ordering="pool")
def distribution_pool(distribution: Distribution):
    """The pool; what was rolled over into it is in the hover (its own column would rarely be non-zero)."""
    units = distribution.distributor.units
    if distribution.pool is None:
        return format_html('<span title="Computed when triggered">{}</span>', "pending")
    return format_html(
        '<span title="{}">{}</span>',
        f"includes {format_amount(distribution.rolled_over, units)} rolled over from the previous period",
        amount_html(distribution.pool, units),
    )


@admin.display(description="unearned", ordering="unallocated")
def distribution_unearned(distribution: Distribution):
    """What nobody earned: kept (unallocated) or carried into the next period (marked "→ next")."""
    if distribution.pool is None:
        return None
    units = distribution.distributor.units
    kept = amount_html(distribution.unallocated, units)
    if not distribution.carried_forward:
        return format_html('<span title="Kept by the organization (not rolled over)">{}</span>', kept)
    carried = format_html(
        '<span title="Carried forward: the next period\'s rolled over" style="white-space:nowrap">{} → next</span>',
        amount_html(distribution.carried_forward, units),
    )
    return carried if not distribution.unallocated else format_html("{} + {}", kept, carried)


@admin.register(Distribution)
class DistributionAdmin(
    StatusHistoryMixin, MoneyAdminMixin, OrganizationTimesMixin, ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin
):
    ordering = ["-id"]  # newest first, and a stable order for autocomplete's pages
    list_display = [
        "id",
        "distributor",
        "status",
        period_column("period_start", "trigger_date", description="period (organization's time)"),
        distribution_pool,
        distribution_allocated,
        distribution_unearned,
    ]
    list_filter = ["status", "organization"]
    # ``distributor__organization``: the action checkbox's label is each row's ``str()``, which reads it.
    list_select_related = ["distributor__organization", "organization"]
    search_fields = ["distributor__name"]
    date_hierarchy = "trigger_date"
    inlines = [AllocationInline, CorrectionInline]

    # The change page explains itself (``distributions.admin_explain``): the pool's derivation, the rule, the
    # rounding, a chart of score against share, and for the open period its standings so far.
    change_form_template = "admin/distributions/distribution/change_form.html"
    # The change page's amounts in the distributor's units and its times in the organization's zone.
    money_fields = dict.fromkeys(
        ("rolled_over", "pool", "value", "unallocated", "carried_forward", "period_pool", "revenue_total"),
        "distributor__units",
    )
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("organization", "distributor"),
                    "status",
                    ("period_start", "trigger_date"),
                    ("rolled_over", "pool", "value", "unallocated", "carried_forward"),
                    ("triggered_at", "created_at", "modified_at"),
                ]
            },
        ),
        (
            "Recorded trace (as stored by the trigger)",
            {
                "classes": ["collapse"],
                "fields": [
                    ("pool_resolver", "period_pool", "pool_percent_bp", "revenue_entries", "revenue_total"),
                    ("distribution_resolver", "tie_policy", "top_n_weights"),
                    ("scorer_count", "share_denominator"),
                ],
            },
        ),
    ]

    def get_object(self, request, object_id, from_field=None):
        """Django's, with the distributor and its organization joined (the title and the explanation read them)."""
        queryset = self.get_queryset(request).select_related("distributor__organization")
        field = Distribution._meta.pk if from_field is None else Distribution._meta.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (Distribution.DoesNotExist, ValidationError, ValueError):
            return None

    def get_fieldsets(self, request, obj=None):
        """The recorded trace's raw columns only where a trigger recorded them (not while pending or cancelled)."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.status in (DistributionStatus.PENDING, DistributionStatus.CANCELLED):
            return fieldsets[:1]
        return fieldsets

    def get_inline_instances(self, request, obj=None):
        """No allocations table for a period that has none (pending: its standings are shown instead), and no
        corrections table for a period never corrected."""
        if obj is None or obj.status in (DistributionStatus.PENDING, DistributionStatus.CANCELLED):
            return []
        inlines = super().get_inline_instances(request, obj)
        if not obj.corrections.exists():  # the corrections table only once the period was corrected
            inlines = [inline for inline in inlines if not isinstance(inline, CorrectionInline)]
        return inlines

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["explanation"] = distribution_explanation(request, obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    actions = ["adjust", "correct"]
    action_roles = {"adjust": Role.OPERATOR, "correct": Role.OPERATOR}

    @admin.action(description="Adjust the selected distribution for one collaborator")
    def adjust(self, request, queryset):
        """One triggered distribution: a page asks for the collaborator (id or alias), the amount (negative claws
        back) and the reason, then creates the adjustment in the distributor's units, linked to the distribution
        (``obligations.services.obligation_adjust``). The distribution itself is not changed."""
        chosen = list(queryset.select_related("distributor__organization", "organization").order_by("pk")[:2])
        if len(chosen) != 1:
            self.message_user(request, "Nothing changed: select exactly one distribution to adjust.", messages.ERROR)
            return None
        distribution = chosen[0]
        if distribution.triggered_at is None:
            self.message_user(
                request,
                f"Nothing changed: distribution {distribution.pk} is {distribution.status}; only a triggered "
                "distribution can be adjusted.",
                messages.ERROR,
            )
            return None
        units = distribution.distributor.units
        return adjustment_action(
            self,
            request,
            form=DistributionAdjustmentForm(
                confirmed_post(request), units=units, organization=distribution.organization
            ),
            target=f"distribution {distribution.pk}",
            create=lambda data: obligation_adjust(
                organization=distribution.organization,
                collaborator=data["collaborator"],
                value=data["value"],
                units=units,
                reason=data["reason"],
                adjusts_distribution=distribution,
            ),
            template="admin/distributions/distribution/adjust.html",
            title=f"Adjust distribution {distribution.pk}?",
            selected=[distribution.pk],
            log_also=[distribution],
            distribution=distribution,
            units=units,
        )

    class Media:
        css = {"all": ["distributions/distribution_list.css"]}

    @admin.action(description="Correct the selected distribution from the ledger")
    def correct(self, request, queryset):
        """One triggered distribution: a page shows the period recomputed from the ledger as it is now (late
        bookings included) and the difference per collaborator; confirming with a reason writes the adjustment
        obligations (``distributions.corrections``). The distribution itself is never changed."""
        chosen = list(queryset.select_related("distributor", "organization").order_by("pk")[:2])
        if len(chosen) != 1:
            self.message_user(request, "Nothing changed: select exactly one distribution to correct.", messages.ERROR)
            return None
        distribution = chosen[0]
        form = CorrectionForm(confirmed_post(request))
        try:
            if form.is_bound and form.is_valid():
                reason = form.cleaned_data["reason"]
                plan = distribution_correct(
                    distribution=distribution,
                    apply=True,
                    reason=reason,
                    actor=f"staff:{request.user.get_username()}",
                    expect=request.POST.get("expect", ""),  # the fingerprint of the lines the page showed
                    accept_uncertain=request.POST.get("accept_uncertain") == "yes",
                )
                if plan.correction is None:
                    self.message_user(
                        request,
                        f"Nothing to correct: distribution {distribution.pk} matches the ledger.",
                        messages.INFO,
                    )
                    return None
                log_action(self, request, [distribution], f"Corrected (correction {plan.correction.pk}).", reason)
                pending = plan.pending_count
                approved = len(plan.lines) - pending
                written = [f"{approved} approved (the next fulfillment nets them)"] if approved else []
                if pending:
                    written.append(f"{pending} pending (a payment of theirs in the period is not approved)")
                self.message_user(
                    request,
                    f"Correction {plan.correction.pk} of distribution {distribution.pk}: {len(plan.lines)} "
                    f"adjustment(s), {format_amount(plan.adjustment_total, plan.units)} in all: "
                    f"{', '.join(written)}.",
                    messages.SUCCESS,
                )
                return None
        except ValidationError as exc:
            if not {"expect", "accept_uncertain"} & set(getattr(exc, "message_dict", {})):
                self.message_user(request, f"Nothing changed: {exc.messages[0]}", messages.ERROR)
                return None
            # The ledger moved since the page was shown, or the uncertain lines were not confirmed: nothing was
            # written; show the page again as it is now.
            self.message_user(request, f"Nothing changed: {exc.messages[0]}", messages.WARNING)
        try:
            plan = distribution_correction_plan(distribution=distribution)
        except ValidationError as exc:
            self.message_user(request, f"Nothing changed: {exc.messages[0]}", messages.ERROR)
            return None
        shown = plan.lines[:CORRECTION_LINES_SHOWN]
        names = dict(
            Collaborator.objects.filter(pk__in=[line.collaborator_id for line in shown]).values_list("pk", "full_name")
        )
        rows = [
            {
                "collaborator_id": line.collaborator_id,
                "name": names.get(line.collaborator_id, ""),
                "score": line.score,
                "allocation_id": line.allocation_id,
                "previous": amount_html(line.previous_value, plan.units),
                "corrected": amount_html(line.corrected_value, plan.units),
                "difference": amount_html(line.difference, plan.units),
                "status": line.status,
            }
            for line in shown
        ]
        return action_page(
            self,
            request,
            "admin/distributions/distribution/correct.html",
            title=f"Correct distribution {distribution.pk}?",
            form=form,
            selected=[distribution.pk],
            default_action="correct",
            distribution=distribution,
            period=period_column()(distribution),
            plan=plan,
            pool=amount_html(plan.corrected_pool, plan.units),
            original_pool=amount_html(distribution.pool, plan.units),
            previous_value=amount_html(plan.previous_value, plan.units),
            value=amount_html(plan.value, plan.units),
            adjustment_total=amount_html(plan.adjustment_total, plan.units),
            staff_adjustments_total=amount_html(plan.staff_adjustments[1], plan.units),
            rows=rows,
            more=len(plan.lines) - len(shown),
            submit_label=f"Write the {len(plan.lines)} adjustment{'' if len(plan.lines) == 1 else 's'}",
        )


CORRECTION_LINES_SHOWN = 200


class DistributionAdjustmentForm(AdjustmentForm):
    """``AdjustmentForm`` plus who the adjustment is for: a collaborator of the distribution's organization, by id
    or alias ``type:code``."""

    field_order = ["collaborator", "value", "reason"]

    collaborator = forms.CharField(
        max_length=200,
        help_text="Id, or alias type:code, of a collaborator of the distribution's organization.",
        error_messages={"required": "Name the collaborator the adjustment is for."},
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_collaborator(self):
        ref = self.cleaned_data["collaborator"].strip()
        try:
            return collaborator_resolve(organization=self.organization, ref=ref)
        except Collaborator.DoesNotExist:
            raise forms.ValidationError(
                f"No collaborator '{ref}' in organization '{self.organization.slug}'."
            ) from None


class CorrectionForm(forms.Form):
    reason = forms.CharField(
        max_length=Correction._meta.get_field("reason").max_length,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why the period is corrected; kept on the correction and on each adjustment.",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A correction needs a reason.")
        return reason


@admin.display(description="distribution", ordering="distribution_id")
def allocation_distribution(allocation: Allocation):
    distribution = allocation.distribution
    return format_html(
        '<a href="{}" style="white-space:nowrap">#{} {}</a>',
        reverse("admin:distributions_distribution_change", args=[distribution.pk]),
        distribution.pk,
        distribution.distributor.name,
    )


@admin.display(description="obligation", ordering="obligation_id")
def allocation_obligation(allocation: Allocation):
    return format_html(
        '<a href="{}">#{}</a>',
        reverse("admin:obligations_obligation_change", args=[allocation.obligation_id]),
        allocation.obligation_id,
    )


@admin.register(Allocation)
class AllocationAdmin(MoneyAdminMixin, OrganizationTimesMixin, ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    money_fields = {"value": "distribution__distributor__units"}
    list_display = [
        "id",
        allocation_distribution,
        "collaborator",
        "rank",
        "score",
        "value",
        obligation_status,
        allocation_obligation,
    ]
    list_filter = ["obligation__status", "organization"]
    list_select_related = ["distribution__distributor", "collaborator", "obligation"]
    search_fields = ["collaborator__full_name", "collaborator__email"]


def _count_column(field: str, description: str):
    """An engine run's count under a short header (the list fits 1366 px)."""

    def column(run: EngineRun) -> int:
        return getattr(run, field)

    column.__name__ = field
    return admin.display(description=description, ordering=field)(column)


@admin.register(EngineRun)
class EngineRunAdmin(OrganizationTimesMixin, ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    organization_path = None  # a run spans organizations: its times are in UTC, and say so

    list_display = [
        "id",
        "started_at",
        "finished_at",
        "as_of",
        "status",
        _count_column("triggered_count", "triggered"),
        _count_column("opened_count", "opened"),
        _count_column("skipped_count", "skipped"),
        _count_column("error_count", "errors"),
        "host",
    ]
    list_filter = ["status"]
    date_hierarchy = "started_at"
    fields = [
        ("started_at", "finished_at", "as_of"),
        "status",
        ("triggered_count", "opened_count", "skipped_count", "error_count"),
        "errors",
        "options",
        ("host", "pid"),
    ]


@admin.display(description="collaborator", ordering="collaborator_id")
def line_collaborator(line: CorrectionLine):
    return line.collaborator


def _line_amount(field: str, description: str):
    """A correction line's amount in its distributor's units."""

    def column(line: CorrectionLine):
        return amount_html(getattr(line, field), line.correction.distribution.distributor.units)

    column.__name__ = field
    return admin.display(description=description)(column)


class CorrectionLineInline(ReadOnlyAdminMixin, TenantInlineMixin, admin.TabularInline):
    model = CorrectionLine
    formset = BoundedInlineFormSet
    fields = [
        "collaborator",
        "score",
        _line_amount("previous_value", "owed before"),
        _line_amount("corrected_value", "corrected"),
        _line_amount("difference", "difference"),
        "allocation",
        "adjustment",
    ]
    readonly_fields = fields
    ordering = ["id"]
    extra = 0
    template = "admin/organizations/tabular_untitled.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("collaborator", "allocation", "adjustment", "correction__distribution__distributor")
        )


@admin.display(description="distribution", ordering="distribution_id")
def correction_distribution(correction: Correction):
    return format_html(
        '<a href="{}" style="white-space:nowrap">#{} {}</a>',
        reverse("admin:distributions_distribution_change", args=[correction.distribution_id]),
        correction.distribution_id,
        correction.distribution.distributor.name,
    )


@admin.register(Correction)
class CorrectionAdmin(MoneyAdminMixin, OrganizationTimesMixin, ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    """Corrections are written by the "Correct" action and ``manage.py correct_distribution``; never edited."""

    money_fields = dict.fromkeys(
        ("pool", "period_pool", "value", "previous_value", "adjustment_total", "unallocated", "carried_forward"),
        "distribution__distributor__units",
    )
    list_display = [
        "id",
        correction_distribution,
        local_time_column("created_at", description="corrected at (organization's time)"),
        "actor",
        "previous_value",
        "value",
        "adjustment_total",
        "reason",
    ]
    list_select_related = ["distribution__distributor", "organization"]
    list_filter = ["organization"]
    search_fields = ["reason", "actor"]
    ordering = ["-id"]
    fields = [
        ("organization", "distribution"),
        ("created_at", "actor"),
        "reason",
        ("period_pool", "pool", "value", "unallocated", "carried_forward"),
        ("previous_value", "adjustment_total"),
        ("scorer_count", "late_credits", "late_revenue_entries", "revenue_entries", "revenue_total"),
    ]
    inlines = [CorrectionLineInline]


@admin.register(Distributor)
class DistributorWithPeriodsAdmin(DistributorAdmin):
    """Saves and status moves open or cancel the distributor's period."""

    def save_distributor(self, distributor: Distributor) -> None:
        distributor_save_with_periods(distributor=distributor)

    def set_distributor_status(self, distributor: Distributor, status: str, reason: str = "", actor: str = "") -> None:
        distributor_set_status_with_periods(distributor=distributor, status=status, reason=reason, actor=actor)


@admin.register(Obligation)
class ObligationFollowedAdmin(ObligationAdmin):
    """Approving, rejecting or cancelling an obligation moves its distribution along."""

    def transition_obligations(
        self, obligation_ids: list[int], status: str, reason: str = "", actor: str = ""
    ) -> list[Obligation]:
        return obligations_transition_and_follow(
            obligation_ids=obligation_ids, status=status, reason=reason, actor=actor
        )


@admin.register(Payout)
class PayoutFollowedAdmin(PayoutAdmin):
    """Paying or taking back a payout moves the distributions of its obligations along."""

    def mark_payouts_paid(self, payout_ids: list[int], reason: str = "", actor: str = "") -> list[Payout]:
        return payouts_mark_paid_and_follow(payouts=payout_ids, reason=reason, actor=actor)

    def mark_payouts_unpaid(self, payout_ids: list[int], reason: str = "", actor: str = "") -> list[Payout]:
        return payouts_mark_unpaid_and_follow(payouts=payout_ids, reason=reason, actor=actor)
