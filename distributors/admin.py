"""Distributors and revenue entries in the admin, and the money plumbing every higher app's admin shares.

Amounts are stored in minor units and always shown as people read them, with their units and decimals
(``distributors.units.format_amount``: ``155.07 USD``, ``1,000 points``, ``500 JPY``, ``1.250 KWD``), never
wrapped. ``MoneyAdminMixin`` (``money_fields``: field → path from the row to its units) does it for list
columns (still sortable by the field), read-only change-page values and inlines (``MoneyInlineMixin``); an
amount *typed* in a change form is typed in major units too (``500.00`` for 500 USD) and stored as minor
units, refused when it has more decimals than its units allow (never rounded).
"""

from collections.abc import Callable, Mapping
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.html import format_html, format_html_join

from distributors.models import Distributor, DistributorStatus, MetricType, PoolResolver, RevenueEntry
from distributors.services import distributor_save, distributor_set_status
from distributors.units import format_amount, to_major, to_minor, units_decimal_places
from organizations.admin import (
    EMPTY,
    AdminDisplayMixin,
    InlineDisplayMixin,
    OrganizationTimesMixin,
    StatusHistoryMixin,
    TenantAdminMixin,
    TenantInlineMixin,
    action_reason,
    follow,
    log_action,
)
from organizations.models import Role

# --- money -----------------------------------------------------------------------------------------------------

_AMOUNT_STYLE = "white-space:nowrap;font-variant-numeric:tabular-nums"


def amount_html(amount: int | None, units: str | None):
    """``format_amount`` in a span that never wraps (``None`` without an amount or units)."""
    if amount is None or not units:
        return None
    return format_html('<span class="amount" style="{}">{}</span>', _AMOUNT_STYLE, format_amount(amount, units))


def totals_html(totals: Mapping[str, int]):
    """Amounts in several units, one unbreakable span each, joined by `` · `` (``None`` when empty)."""
    if not totals:
        return None
    return format_html_join(
        " · ",
        '<span class="amount" style="{}">{}</span>',
        ((_AMOUNT_STYLE, format_amount(total, units)) for units, total in sorted(totals.items())),
    )


class FixedUnits(str):
    """Units that are not read from the row: ``money_fields = {"points": FixedUnits("points")}``."""


def units_of(obj, units: str) -> str | None:
    """The units ``units`` names for ``obj``: a path from the row (``"units"``, ``"distributor__units"``) or
    ``FixedUnits``."""
    return str(units) if isinstance(units, FixedUnits) else follow(obj, units)


def amount_column(field: str, *, units: str = "units", description: str | None = None) -> Callable:
    """A list column showing ``field`` with the units at ``units`` (a path from the row: ``"units"``,
    ``"distributor__units"``, joined by the list; or ``FixedUnits``), sortable by ``field``."""

    def column(obj):
        return amount_html(getattr(obj, field), units_of(obj, units))

    column.__name__ = field
    return admin.display(description=description or field.replace("_", " "), ordering=field)(column)


def readonly_amount(field: str, *, units: str = "units", label: str | None = None) -> Callable:
    def value(obj):
        return amount_html(getattr(obj, field, None), units_of(obj, units)) or EMPTY

    value.__name__ = field
    return admin.display(description=label or field.replace("_", " "))(value)


class MoneyInputFormMixin:
    """For a ModelForm: amount fields typed in major units (``"155.07"`` USD) and cleaned to minor units.

    ``money_inputs``: form field → the units field (a field of the form, else read from the instance).
    """

    money_inputs: dict[str, str] = {}

    def _instance_units(self, units_field: str) -> str | None:
        return getattr(self.instance, units_field, None) if self.instance.pk else None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, units_field in self.money_inputs.items():
            model_field = self.fields.get(name)
            if model_field is None:
                continue
            units = self._instance_units(units_field)
            if units:
                sample = 15507 if units_decimal_places(units) else 500
                where = f"In {units}, with its decimals: {to_major(sample, units)} for {format_amount(sample, units)}."
            else:
                where = "In the units above, with their decimals: 155.07 for 155.07 USD, 500 for 500 JPY or 500 points."
            base_help = (
                (model_field.help_text or "")
                .replace(", in the smallest unit.", ".")
                .replace(" in the smallest unit", "")
            )
            self.fields[name] = forms.CharField(
                label=model_field.label,
                required=model_field.required,
                help_text=f"{base_help} {where}".strip(),
                widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 18, "class": "vTextField"}),
            )
            current = self.initial.get(name)
            if isinstance(current, int) and not isinstance(current, bool):
                self.initial[name] = to_major(current, units or self.initial.get(units_field) or "")

    def clean(self):
        cleaned = super().clean()
        for name, units_field in self.money_inputs.items():
            if name not in self.fields or name not in cleaned:
                continue
            units = cleaned.get(units_field) if units_field in self.fields else self._instance_units(units_field)
            if not units:
                del cleaned[name]
                if units_field not in self.errors:
                    self.add_error(name, "Enter the units first: the amount is read in them.")
                continue
            try:
                minor = to_minor(cleaned[name], units)
            except ValueError as exc:
                self.add_error(name, str(exc))
                continue
            if minor < 0:
                self.add_error(name, "Enter an amount of 0 or more.")
                continue
            cleaned[name] = minor
        return cleaned


class MoneyAdminMixin(AdminDisplayMixin):
    """Amounts with their units: list columns, read-only values and typed inputs (see the module docstring).

    ``money_fields``: amount field → path from the row to its units.
    """

    money_fields: dict[str, str] = {}

    def _money_label(self, name: str) -> str:
        return str(self.model._meta.get_field(name).verbose_name)

    def column_replacements(self, request):
        replacements = super().column_replacements(request)
        for name, units in self.money_fields.items():
            if name in self.list_display:
                replacements[name] = amount_column(name, units=units, description=self._money_label(name))
        return replacements

    def readonly_replacements(self, request, obj):
        replacements = super().readonly_replacements(request, obj)
        for name, units in self.money_fields.items():
            replacements[name] = readonly_amount(name, units=units, label=self._money_label(name))
        return replacements

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        inputs = {
            name: units
            for name, units in self.money_fields.items()
            # A typed amount needs the row's own units field.
            if name in form.base_fields and "__" not in units and not isinstance(units, FixedUnits)
        }
        if not inputs:
            return form
        money_form = type(form.__name__, (MoneyInputFormMixin, form), {"money_inputs": inputs})
        money_form.base_fields = form.base_fields  # as built (help texts included), not rebuilt from the model
        return money_form


class MoneyInlineMixin(InlineDisplayMixin):
    """An inline's read-only amounts with their units (``money_fields`` as on ``MoneyAdminMixin``)."""

    money_fields: dict[str, str] = {}

    def readonly_replacements(self, request, parent):
        replacements = super().readonly_replacements(request, parent)
        for name, units in self.money_fields.items():
            label = str(self.model._meta.get_field(name).verbose_name)
            replacements[name] = readonly_amount(name, units=units, label=label)
        return replacements


# --- distributors ----------------------------------------------------------------------------------------------


class MetricTypeInline(TenantInlineMixin, admin.TabularInline):
    model = MetricType
    fields = ["name", "points"]
    extra = 1


class DistributorForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "hold_days" in self.fields:
            self.fields["hold_days"].required = False  # left empty: no hold

    def clean_hold_days(self):
        value = self.cleaned_data.get("hold_days")
        return 0 if value is None else value

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


@admin.display(description="pool per period", ordering="pool_amount")
def distributor_pool(distributor: Distributor):
    if distributor.pool_resolver == PoolResolver.REVENUE_SHARE:
        percent = format(Decimal(distributor.pool_percent_bp).scaleb(-2).normalize(), "f")  # basis points → %
        return format_html('<span style="white-space:nowrap">{} % of {} revenue</span>', percent, distributor.units)
    return amount_html(distributor.pool_amount, distributor.units)


class DistributorAdmin(StatusHistoryMixin, MoneyAdminMixin, OrganizationTimesMixin, TenantAdminMixin, admin.ModelAdmin):
    """Registered by ``distributions.admin`` (with the periods). ``starts_at`` is typed in the organization's
    zone (the chosen organization's for a new distributor; ``organizations.admin``). Organization admins configure
    distributors and move their status; deleting one (softly) asks why."""

    form = DistributorForm
    money_fields = {"pool_amount": "units"}
    list_display = [
        "name",
        "organization",
        "status",
        distributor_pool,
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
    readonly_fields = ["distributed_through", "created_at", "modified_at"]
    actions = ["make_active", "make_inactive", "soft_delete"]
    fieldsets = [
        (None, {"fields": ["organization", "name", "description", "status", "units"]}),
        ("Pool", {"fields": ["pool_resolver", "pool_amount", "pool_percent_bp", "rollover_unearned"]}),
        (
            "Split",
            {
                "fields": [
                    "distribution_resolver",
                    "tie_policy",
                    "top_n_weights",
                    "obligation_start_status",
                    "hold_days",
                ]
            },
        ),
        ("Eligibility", {"fields": ["eligibility", "eligible_collaborators"]}),
        ("Schedule", {"fields": ["schedule", "starts_at", "distributed_through"]}),
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

    def set_distributor_status(self, distributor: Distributor, status: str, reason: str = "", actor: str = "") -> None:
        distributor_set_status(distributor=distributor, status=status, reason=reason, actor=actor)

    def save_model(self, request, obj, form, change):
        if not change:  # the eligible collaborators need its id; an existing one is saved by save_distributor
            obj.save()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The first period opens once the metric types and eligibility are in place.
        self.save_distributor(form.instance)

    def _set_status(self, request, queryset, status, reason=""):
        moved = []
        for distributor in queryset:
            try:
                self.set_distributor_status(
                    distributor, status, reason=reason, actor=f"staff:{request.user.get_username()}"
                )
                moved.append(distributor)
            except ValidationError as exc:
                self.message_user(request, f"{distributor}: {exc.messages[0]}", messages.ERROR)
        log_action(self, request, moved, f"Made {status}.", reason)
        self.message_user(request, f"{len(moved)} distributor(s) now {status}.")

    @admin.action(description="Make active")
    def make_active(self, request, queryset):
        self._set_status(request, queryset, DistributorStatus.ACTIVE)

    @admin.action(description="Make inactive (the open period stays pending)")
    def make_inactive(self, request, queryset):
        self._set_status(request, queryset, DistributorStatus.INACTIVE)

    @admin.action(description="Delete (soft; cancels the open period)")
    def soft_delete(self, request, queryset):
        reason = action_reason(self, request, queryset, verb="Delete")
        if not isinstance(reason, str):
            return reason
        self._set_status(request, queryset, DistributorStatus.DELETED, reason)


@admin.register(RevenueEntry)
class RevenueEntryAdmin(MoneyAdminMixin, OrganizationTimesMixin, TenantAdminMixin, admin.ModelAdmin):
    """``amount`` typed in major units, ``occurred_at`` in the organization's zone. Organization admins add, edit
    and delete them."""

    delete_role = Role.ADMIN

    money_fields = {"amount": "units"}
    list_display = ["reference", "organization", "amount", "occurred_at"]
    list_filter = ["units", "organization"]
    list_select_related = ["organization"]
    search_fields = ["reference"]
    autocomplete_fields = ["organization"]
    date_hierarchy = "occurred_at"
