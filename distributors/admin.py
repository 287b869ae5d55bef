from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count

from distributors.models import Distributor, DistributorStatus, MetricType, RevenueEntry
from distributors.services import distributor_save, distributor_set_status


class MetricTypeInline(admin.TabularInline):
    model = MetricType
    fields = ["name", "points"]
    extra = 1


class DistributorForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or (
            self.instance.organization if self.instance.organization_id else None
        )
        foreign = [
            collaborator
            for collaborator in cleaned.get("eligible_collaborators") or []
            if organization is not None and collaborator.organization_id != organization.pk
        ]
        if foreign:
            names = ", ".join(str(collaborator) for collaborator in foreign)
            self.add_error("eligible_collaborators", f"Not collaborators of {organization}: {names}.")
        return cleaned


class DistributorAdmin(admin.ModelAdmin):
    """Registered by ``distributions.admin`` (with the periods)."""

    form = DistributorForm
    list_display = [
        "name",
        "organization",
        "status",
        "units",
        "pool_resolver",
        "distribution_resolver",
        "schedule",
        "metric_type_count",
    ]
    list_filter = ["status", "pool_resolver", "distribution_resolver", "organization"]
    list_select_related = ["organization"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["organization", "eligible_collaborators"]
    inlines = [MetricTypeInline]
    ordering = ["name", "id"]
    readonly_fields = ["created_at", "modified_at"]
    actions = ["make_active", "make_inactive", "soft_delete"]
    fieldsets = [
        (None, {"fields": ["organization", "name", "description", "status", "units"]}),
        ("Pool", {"fields": ["pool_resolver", "pool_amount", "pool_percent_bp", "rollover_unearned"]}),
        (
            "Split",
            {"fields": ["distribution_resolver", "tie_policy", "top_n_weights", "obligation_start_status"]},
        ),
        ("Eligibility", {"fields": ["eligibility", "eligible_collaborators"]}),
        ("Schedule", {"fields": ["schedule", "starts_at"]}),
        ("Timestamps", {"fields": ["created_at", "modified_at"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(metric_type_total=Count("metric_types"))

    @admin.display(description="metric types", ordering="metric_type_total")
    def metric_type_count(self, obj):
        return obj.metric_type_total

    def get_readonly_fields(self, request, obj=None):
        # Status moves go through the lifecycle (the actions), not through the form; a distributor never
        # changes tenant (its distributions, credits and obligations stay in its organization).
        return [*self.readonly_fields, "status", "organization"] if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        # Deleting is the soft "deleted" status (the action), which cancels the open period; a hard delete
        # would erase the distributions, allocations and credit ledger of past periods.
        return False

    # The use cases behind the form and the actions; the admin registered (``distributions.admin``) adds the
    # distributor's periods to them.
    def save_distributor(self, distributor: Distributor) -> None:
        distributor_save(distributor=distributor)

    def set_distributor_status(self, distributor: Distributor, status: str) -> None:
        distributor_set_status(distributor=distributor, status=status)

    def save_model(self, request, obj, form, change):
        if not change:  # the eligible collaborators need its id; an existing one is saved by save_distributor
            obj.save()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The first period opens once the metric types and eligibility are in place.
        self.save_distributor(form.instance)

    def _set_status(self, request, queryset, status):
        moved = 0
        for distributor in queryset:
            try:
                self.set_distributor_status(distributor, status)
                moved += 1
            except ValidationError as exc:
                self.message_user(request, f"{distributor}: {exc.messages[0]}", messages.ERROR)
        self.message_user(request, f"{moved} distributor(s) now {status}.")

    @admin.action(description="Make active")
    def make_active(self, request, queryset):
        self._set_status(request, queryset, DistributorStatus.ACTIVE)

    @admin.action(description="Make inactive (the open period stays pending)")
    def make_inactive(self, request, queryset):
        self._set_status(request, queryset, DistributorStatus.INACTIVE)

    @admin.action(description="Delete (soft; cancels the open period)")
    def soft_delete(self, request, queryset):
        self._set_status(request, queryset, DistributorStatus.DELETED)


@admin.register(RevenueEntry)
class RevenueEntryAdmin(admin.ModelAdmin):
    list_display = ["reference", "organization", "amount", "units", "occurred_at"]
    list_filter = ["units", "organization"]
    list_select_related = ["organization"]
    search_fields = ["reference"]
    autocomplete_fields = ["organization"]
    date_hierarchy = "occurred_at"
