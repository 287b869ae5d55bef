"""Obligations, fulfillments and payouts in the admin: every status move is an action calling a service.

An action that the lifecycle refuses changes nothing and shows the reason as an error message (never a
500). A manual obligation is editable only while pending; its organization is its collaborator's.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from obligations.models import AwardType, Fulfillment, Obligation, ObligationStatus, Payout
from obligations.services import (
    fulfillments_mark_failed,
    obligation_manual_save,
    obligations_transition,
    payout_mark_paid,
    payout_mark_unpaid,
)


class NoHardDeleteMixin:
    """Obligations, payouts and fulfillments are never hard-deleted: removing one would return obligations to
    "approved, in no payout" (batched and paid again after the CSV went out), break the paid-payout
    constraint, or leave a payout's amount larger than its obligations. Cancel, reject or mark failed instead.
    """

    def has_delete_permission(self, request, obj=None):
        return False


def _run(model_admin, request, action, success):
    """Call a service; report its refusal as an error message instead of raising."""
    try:
        result = action()
    except ValidationError as exc:
        model_admin.message_user(request, f"Nothing changed: {exc.messages[0]}", messages.ERROR)
        return
    model_admin.message_user(request, success(result), messages.SUCCESS)


class ObligationAdmin(NoHardDeleteMixin, admin.ModelAdmin):
    """Registered by ``distributions.admin``, whose ``transition_obligations`` moves the distributions too."""

    list_display = ["id", "collaborator", "value", "units", "status", "award_type", "payout", "created_at"]
    list_filter = ["status", "award_type", "units", "organization"]
    list_select_related = ["collaborator", "payout"]
    search_fields = ["collaborator__full_name", "collaborator__email", "description"]
    autocomplete_fields = ["collaborator"]
    fields = [
        "organization",
        "collaborator",
        "value",
        "units",
        "award_type",
        "description",
        "status",
        "payout",
        "created_at",
        "modified_at",
    ]
    readonly_fields = ["organization", "status", "payout", "created_at", "modified_at"]
    actions = ["approve", "reject", "cancel"]

    def get_readonly_fields(self, request, obj=None):
        if obj and (obj.award_type != AwardType.MANUAL or obj.status != ObligationStatus.PENDING):
            # What a distribution owes is fixed by the distribution, and an approved obligation may already
            # be in a payout whose amount includes it; only the status moves (through the actions).
            return [*self.readonly_fields, "collaborator", "value", "units", "award_type"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        try:
            obligation_manual_save(obligation=obj)
        except ValidationError as exc:
            self.message_user(request, f"Nothing changed: {exc.messages[0]}", messages.ERROR)

    def transition_obligations(self, obligation_ids: list[int], status: str) -> list[Obligation]:
        return obligations_transition(obligation_ids=obligation_ids, status=status)

    def _move(self, request, queryset, status):
        ids = list(queryset.values_list("pk", flat=True))
        _run(
            self,
            request,
            lambda: self.transition_obligations(ids, status),
            lambda moved: f"{len(moved)} obligation(s) now {status}.",
        )

    @admin.action(description="Approve selected obligations")
    def approve(self, request, queryset):
        self._move(request, queryset, ObligationStatus.APPROVED)

    @admin.action(description="Reject selected obligations")
    def reject(self, request, queryset):
        self._move(request, queryset, ObligationStatus.REJECTED)

    @admin.action(description="Cancel selected obligations")
    def cancel(self, request, queryset):
        self._move(request, queryset, ObligationStatus.CANCELLED)


class PayoutInline(admin.TabularInline):
    model = Payout
    fields = ["collaborator", "units", "amount", "status", "paid_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("collaborator")


@admin.register(Fulfillment)
class FulfillmentAdmin(NoHardDeleteMixin, admin.ModelAdmin):
    list_display = ["id", "organization", "status", "created_at", "completed_at"]
    list_filter = ["status", "organization"]
    list_select_related = ["organization"]
    readonly_fields = ["organization", "status", "created_at", "modified_at", "completed_at"]
    inlines = [PayoutInline]
    actions = ["mark_failed"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Mark failed (obligations return to approved)")
    def mark_failed(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        _run(
            self,
            request,
            lambda: fulfillments_mark_failed(fulfillment_ids=ids),
            lambda failed: f"{len(failed)} fulfillment(s) now failed.",
        )


class PayoutAdmin(NoHardDeleteMixin, admin.ModelAdmin):
    """Registered by ``distributions.admin``, whose hooks move the distributions too."""

    list_display = ["id", "collaborator", "amount", "units", "status", "paid_at", "fulfillment"]
    list_filter = ["status", "units", "organization"]
    list_select_related = ["collaborator", "fulfillment"]
    search_fields = ["collaborator__full_name", "collaborator__email"]
    readonly_fields = [
        "organization",
        "fulfillment",
        "collaborator",
        "units",
        "amount",
        "status",
        "paid_at",
        "created_at",
        "modified_at",
    ]
    actions = ["mark_paid", "mark_unpaid"]

    def has_add_permission(self, request):
        return False

    def mark_payouts_paid(self, payout_ids: list[int]) -> list[Payout]:
        return payout_mark_paid(payouts=payout_ids)

    def mark_payouts_unpaid(self, payout_ids: list[int]) -> list[Payout]:
        return payout_mark_unpaid(payouts=payout_ids)

    @admin.action(description="Mark paid (obligations become fulfilled)")
    def mark_paid(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        _run(self, request, lambda: self.mark_payouts_paid(ids), lambda paid: f"{len(paid)} payout(s) now paid.")

    @admin.action(description="Mark unpaid (correction: obligations return to approved)")
    def mark_unpaid(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        _run(
            self,
            request,
            lambda: self.mark_payouts_unpaid(ids),
            lambda unpaid: f"{len(unpaid)} payout(s) now unpaid.",
        )
