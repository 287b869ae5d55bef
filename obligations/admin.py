from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from obligations.models import Fulfillment, Obligation, ObligationStatus, Payout
from obligations.services import obligations_transition


@admin.register(Obligation)
class ObligationAdmin(admin.ModelAdmin):
    list_display = ["id", "collaborator", "value", "units", "status", "award_type", "payout", "created_at"]
    list_filter = ["status", "award_type", "units", "organization"]
    list_select_related = ["collaborator", "payout"]
    search_fields = ["collaborator__full_name", "collaborator__email", "description"]
    autocomplete_fields = ["organization", "collaborator"]
    readonly_fields = ["status", "payout", "created_at", "modified_at"]
    actions = ["approve", "reject", "cancel"]

    def get_readonly_fields(self, request, obj=None):
        if obj and obj.award_type != "manual":
            # What a distribution owes is fixed by the distribution; only its status moves.
            return [*self.readonly_fields, "organization", "collaborator", "value", "units", "award_type"]
        return self.readonly_fields

    def _move(self, request, queryset, status):
        try:
            moved = obligations_transition(obligation_ids=queryset.values_list("pk", flat=True), status=status)
        except ValidationError as exc:
            self.message_user(request, f"Nothing changed: {exc.messages[0]}", messages.ERROR)
            return
        self.message_user(request, f"{len(moved)} obligation(s) now {status}.")

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
class FulfillmentAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "status", "created_at", "completed_at"]
    list_filter = ["status", "organization"]
    list_select_related = ["organization"]
    readonly_fields = ["organization", "status", "created_at", "modified_at", "completed_at"]
    inlines = [PayoutInline]

    def has_add_permission(self, request):
        return False


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False
