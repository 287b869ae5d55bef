from django.contrib import admin

from metrics.models import CreditRequest, MetricCredit
from organizations.admin import ReadOnlyAdminMixin


@admin.register(MetricCredit)
class MetricCreditAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "credited_at",
        "collaborator",
        "distributor",
        "metric_type",
        "quantity",
        "points",
        "request",
    ]
    list_filter = ["metric_type", "request__source", "organization"]
    list_select_related = ["collaborator", "distributor", "request"]
    search_fields = ["collaborator__full_name", "collaborator__email", "distributor__name", "metric_type"]
    date_hierarchy = "credited_at"
    show_full_result_count = False


@admin.register(CreditRequest)
class CreditRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "source", "actor", "idempotency_key", "organization"]
    list_filter = ["source", "organization"]
    list_select_related = ["organization"]
    search_fields = ["idempotency_key", "actor"]
    date_hierarchy = "created_at"
