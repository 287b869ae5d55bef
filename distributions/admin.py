"""Distributions, allocations and engine runs in the admin, and the registration of the admins whose actions
move distributions too (distributors, obligations, payouts): each is the lower app's admin with the use case
of ``distributions.services`` that keeps the distributions in step (the lower app never imports this one)."""

from django.contrib import admin

from distributions.models import Allocation, Distribution, EngineRun
from distributions.services import (
    distributor_save_with_periods,
    distributor_set_status_with_periods,
    obligations_transition_and_follow,
    payouts_mark_paid_and_follow,
    payouts_mark_unpaid_and_follow,
)
from distributors.admin import DistributorAdmin
from distributors.models import Distributor
from obligations.admin import ObligationAdmin, PayoutAdmin
from obligations.models import Obligation, Payout
from organizations.admin import ReadOnlyAdminMixin


@admin.display(description="status", ordering="obligation__status")
def obligation_status(allocation: Allocation) -> str:
    return allocation.obligation.get_status_display()


class AllocationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Allocation
    fields = ["rank", "collaborator", "score", "value", obligation_status, "obligation"]
    readonly_fields = fields
    ordering = ["rank", "id"]
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("collaborator", "obligation")


@admin.register(Distribution)
class DistributionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "distributor",
        "status",
        "trigger_date",
        "period_start",
        "rolled_over",
        "pool",
        "value",
        "unallocated",
        "carried_forward",
        "organization",
    ]
    list_filter = ["status", "organization"]
    list_select_related = ["distributor", "organization"]
    search_fields = ["distributor__name"]
    date_hierarchy = "trigger_date"
    inlines = [AllocationInline]


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "distribution", "collaborator", "rank", "score", "value", obligation_status, "obligation"]
    list_filter = ["obligation__status", "organization"]
    list_select_related = ["distribution__distributor", "collaborator", "obligation"]
    search_fields = ["collaborator__full_name", "collaborator__email"]


@admin.register(EngineRun)
class EngineRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "started_at",
        "finished_at",
        "as_of",
        "status",
        "triggered_count",
        "opened_count",
        "skipped_count",
        "error_count",
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


@admin.register(Distributor)
class DistributorWithPeriodsAdmin(DistributorAdmin):
    """Saves and status moves open or cancel the distributor's period."""

    def save_distributor(self, distributor: Distributor) -> None:
        distributor_save_with_periods(distributor=distributor)

    def set_distributor_status(self, distributor: Distributor, status: str) -> None:
        distributor_set_status_with_periods(distributor=distributor, status=status)


@admin.register(Obligation)
class ObligationFollowedAdmin(ObligationAdmin):
    """Approving, rejecting or cancelling an obligation moves its distribution along."""

    def transition_obligations(self, obligation_ids: list[int], status: str) -> list[Obligation]:
        return obligations_transition_and_follow(obligation_ids=obligation_ids, status=status)


@admin.register(Payout)
class PayoutFollowedAdmin(PayoutAdmin):
    """Paying or taking back a payout moves the distributions of its obligations along."""

    def mark_payouts_paid(self, payout_ids: list[int]) -> list[Payout]:
        return payouts_mark_paid_and_follow(payouts=payout_ids)

    def mark_payouts_unpaid(self, payout_ids: list[int]) -> list[Payout]:
        return payouts_mark_unpaid_and_follow(payouts=payout_ids)
