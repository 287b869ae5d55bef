from django.contrib import admin

from distributions.models import Allocation, Distribution, EngineRun
from organizations.admin import ReadOnlyAdminMixin


class AllocationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Allocation
    fields = ["rank", "collaborator", "score", "value", "status", "obligation"]
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
    list_display = ["id", "distribution", "collaborator", "rank", "score", "value", "status", "obligation"]
    list_filter = ["status", "organization"]
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
