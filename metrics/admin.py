"""Metric credits in the admin: the ledger is read-only; staff credit through "Credit a metric".

The credit view is a plain form on the MetricCredit changelist that calls ``metrics.services.metric_credit``
(``source=admin``, the staff username as actor), so staff follow exactly the rules of the API. A hidden
idempotency key generated when the form is shown makes a double-submitted form credit once.
"""

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from clock import InstantError, parse_instant
from collaborators.models import Collaborator
from distributors.admin import FixedUnits, MoneyAdminMixin
from distributors.models import Distributor
from distributors.units import format_amount
from metrics.models import MAX_CREDIT_QUANTITY, CreditRequest, CreditSource, MetricCredit
from metrics.services import CreditRefused, metric_credit
from organizations.admin import OrganizationTimesMixin, ReadOnlyAdminMixin, TenantAdminMixin
from organizations.models import Organization, Role

# The service's refusals name its inputs; those the form shows (the others are form-wide errors).
FORM_FIELDS = {"collaborator", "metric_type", "quantity", "distributor", "credited_at", "late_reason"}


class CreditMetricForm(forms.Form):
    organization = forms.ModelChoiceField(Organization.objects.all())
    collaborator = forms.ModelChoiceField(Collaborator.objects.all(), help_text="Search by name, email or alias.")
    metric_type = forms.SlugField(max_length=50, initial="manual")
    quantity = forms.IntegerField(min_value=1, max_value=MAX_CREDIT_QUANTITY, initial=1)
    distributor = forms.ModelChoiceField(
        Distributor.objects.all(),
        required=False,
        help_text="Leave empty to credit every active distributor that counts this metric type.",
    )
    # Booking late (into a period already distributed) is explicit: an instant with its offset and a reason.
    credited_at = forms.CharField(
        required=False,
        label="Back-date to",
        help_text="Optional: the instant the credit counts at, with its UTC offset (2026-01-20T09:00:00+01:00). "
        "Empty: now.",
    )
    late_reason = forms.CharField(
        required=False,
        max_length=CreditRequest._meta.get_field("late_reason").max_length,
        help_text="Only to book into a period already distributed: why. It counts once the period is corrected "
        "(Distributions → Correct).",
    )
    # Generated when the form is shown; a form posted without one simply is not protected from a double submit.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200, required=False)

    def clean_credited_at(self):
        text = (self.cleaned_data.get("credited_at") or "").strip()
        if not text:
            return None
        try:
            return parse_instant(text, not_after=timezone.now())
        except InstantError as exc:
            raise forms.ValidationError(f"{exc} Credits can only be back-dated.") from None

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("collaborator", "distributor"):
            field = self.fields[name]
            field.widget = AutocompleteSelect(MetricCredit._meta.get_field(name), admin_site)
            field.widget.choices = field.choices

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization")
        if organization:
            for name in ("collaborator", "distributor"):
                obj = cleaned.get(name)
                if obj is not None and obj.organization_id != organization.pk:
                    self.add_error(name, f"{obj} belongs to another organization.")
        return cleaned


@admin.register(MetricCredit)
class MetricCreditAdmin(
    MoneyAdminMixin, OrganizationTimesMixin, ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin
):
    # Operators credit (the form's choices and autocompletes: their organizations' collaborators and distributors).
    write_role = Role.OPERATOR

    money_fields = {"points": FixedUnits("points"), "points_per_unit": FixedUnits("points")}
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
    change_list_template = "admin/metrics/metriccredit/change_list.html"

    def has_credit_permission(self, request) -> bool:
        # The ledger rows are never added by hand: crediting is the operator's move (superusers: always).
        return self.has_role_permission(request, self.write_role)

    def credit_form(self, request, *args, **kwargs) -> CreditMetricForm:
        form = CreditMetricForm(*args, admin_site=self.admin_site, **kwargs)
        for name in ("organization", "collaborator", "distributor"):
            field = form.fields[name]
            field.queryset = self.scope_choices(request, field.queryset)
        return form

    def get_urls(self):
        urls = [
            path("credit/", self.admin_site.admin_view(self.credit_view), name="metrics_metriccredit_credit"),
        ]
        return urls + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "has_credit_permission": self.has_credit_permission(request)}
        return super().changelist_view(request, extra_context)

    def credit_view(self, request):
        if not self.has_credit_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = self.credit_form(request, request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    outcome = metric_credit(
                        organization=data["organization"],
                        collaborator=data["collaborator"],
                        metric_type=data["metric_type"],
                        quantity=data["quantity"],
                        distributor_id=data["distributor"].pk if data["distributor"] else None,
                        source=CreditSource.ADMIN,
                        actor=request.user.get_username(),
                        idempotency_key=data["idempotency_key"] or None,
                        now=data["credited_at"],
                        late_reason=data["late_reason"],
                    )
                except CreditRefused as exc:
                    message = exc.message
                    if exc.field == "credited_at" and "already distributed" in message:
                        message += " To book it anyway, give a late reason."
                    form.add_error(exc.field if exc.field in FORM_FIELDS else None, message)
                else:
                    landed = ", ".join(
                        f"distributor {c.distributor_id} +{format_amount(c.points, 'points')}" for c in outcome.credits
                    )
                    total = format_amount(outcome.total_points, "points")
                    if outcome.replayed:
                        self.message_user(request, "This form was already submitted; nothing more was credited.")
                    else:
                        self.message_user(
                            request,
                            f"Credited {outcome.quantity} × {outcome.metric_type} to "
                            f"{data['collaborator']}: {landed}; {total} in all.",
                            messages.SUCCESS,
                        )
                    return redirect(reverse("admin:metrics_metriccredit_changelist"))
        else:
            form = self.credit_form(
                request, initial={**request.GET.dict(), "idempotency_key": f"admin-{uuid.uuid4().hex}"}
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Credit a metric",
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/metrics/metriccredit/credit_form.html", context)


@admin.register(CreditRequest)
class CreditRequestAdmin(OrganizationTimesMixin, ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    ordering = ["-id"]  # newest first, and a stable order for autocomplete's pages
    list_display = ["id", "created_at", "source", "actor", "idempotency_key", "late_reason", "organization"]
    list_filter = ["source", "organization"]
    list_select_related = ["organization"]
    search_fields = ["idempotency_key", "actor"]
    date_hierarchy = "created_at"
