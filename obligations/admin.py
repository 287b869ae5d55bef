"""Obligations, fulfillments and payouts in the admin: every status move is an action calling a service.

An action that the lifecycle refuses changes nothing and shows the reason as an error message (never a
500). A manual obligation is editable only while pending (its value typed in major units); its organization is
its collaborator's. Amounts read ``155.07 USD`` and times are in the organization's zone (``distributors.admin``,
``organizations.admin``).

- Obligations: a distribution column (its allocation's distribution, or "manual") and a filter by distribution
  id typed in a box (listing every distribution of every tenant would be unbounded).
- Fulfillments: totals per units in the list (one query for the page) and on the change page, and
  "Download payouts CSV": the ``export_payouts`` file, read only (``export_payouts`` moves the fulfillment to
  processing; the download changes nothing).
- Holds, minimums, adjustments: an obligation shows when its hold ends (``release_at``); "Adjust" adds an
  adjustment (positive, or negative: a clawback) to one selected obligation, asking for the amount and a reason
  (``obligations.services.obligation_adjust``; adjustments of a distribution: ``manage.py adjust_obligation``).
  Minimum payouts per units are configured by organization admins. A fulfillment shows what it held back and why
  (below the minimum, a net debt, nets to zero): those obligations stayed approved for a later batch.
- Collaborators (registered here, with the obligations): the earnings history of the last periods and the
  totals per units on the change page (``obligations.selectors.collaborator_earnings``, two queries).
"""

from collections.abc import Iterable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from collaborators.admin import CollaboratorAdmin
from collaborators.models import Collaborator
from distributors.admin import MoneyAdminMixin, MoneyInlineMixin, amount_html, totals_html
from distributors.units import to_major, to_minor, units_decimal_places
from obligations.balances import HeldBalance
from obligations.exports import payouts_write_csv
from obligations.models import AwardType, Fulfillment, MinimumPayout, Obligation, ObligationStatus, Payout
from obligations.selectors import collaborator_earnings, fulfillment_payout_totals, payout_export_rows
from obligations.services import (
    fulfillments_mark_failed,
    obligation_adjust,
    obligation_manual_save,
    obligations_transition,
    payout_mark_paid,
    payout_mark_unpaid,
)
from organizations.admin import (
    EMPTY,
    BoundedInlineFormSet,
    InputFilter,
    OrganizationTimesInlineMixin,
    OrganizationTimesMixin,
    StatusHistoryMixin,
    TenantAdminMixin,
    TenantInlineMixin,
    action_page,
    action_reason,
    confirmed_post,
    format_period,
    log_action,
    period_html,
    zone_name,
    zone_of,
)
from organizations.models import Role


class NoHardDeleteMixin:
    """Obligations, payouts and fulfillments are never hard-deleted: removing one would return obligations to
    "approved, in no payout" (batched and paid again after the CSV went out), break the paid-payout
    constraint, or leave a payout's amount larger than its obligations. Cancel, reject or mark failed instead.
    """

    def has_delete_permission(self, request, obj=None):
        return False


def staff_actor(request) -> str:
    """The status history's actor of a move staff made in the admin."""
    return f"staff:{request.user.get_username()}"


def _run(model_admin, request, action, success, *, logged: str = "", reason: str = ""):
    """Call a service; report its refusal as an error message instead of raising. What it moved is logged in each
    row's admin history (``logged``, and the reason given)."""
    try:
        result = action()
    except ValidationError as exc:
        model_admin.message_user(request, f"Nothing changed: {exc.messages[0]}", messages.ERROR)
        return
    if logged:
        log_action(model_admin, request, result, logged, reason)
    model_admin.message_user(request, success(result), messages.SUCCESS)


def _change_link(app_model: str, pk: int, text: str, title: str = ""):
    return format_html(
        '<a href="{}" title="{}" style="white-space:nowrap">{}</a>',
        reverse(f"admin:{app_model}_change", args=[pk]),
        title,
        text,
    )


# --- obligations -----------------------------------------------------------------------------------------------


class DistributionIdFilter(InputFilter):
    """Obligations of one distribution, by its id (the distributions list links here from each row)."""

    title = "distribution"
    parameter_name = "distribution"
    placeholder = "id, e.g. 12"

    def clean(self, text):
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 2**63 - 1:
            raise ValueError(f"'{text[:30]}' is not a distribution id (a whole number).")
        return int(text)

    def queryset(self, request, queryset):
        if self.value() is None or not self.value().strip():
            return queryset
        value = self.cleaned_value()
        return queryset.none() if value is None else queryset.filter(allocation__distribution_id=value)

    def describe(self, value):
        found = (
            self.model_admin.get_queryset(self.request)  # the user's organizations' only
            .filter(allocation__distribution_id=value)
            .values_list("allocation__distribution__distributor__name", flat=True)
            .first()
        )
        return f"Distribution {value} of {found}" if found else f"No obligation of distribution {value}."


@admin.display(description="distribution", ordering="allocation__distribution_id")
def obligation_distribution(obligation: Obligation):
    """The distribution that created it (via its allocation), "manual", or what an adjustment corrects."""
    if obligation.award_type == AwardType.ADJUSTMENT:
        if obligation.adjusts_obligation_id is not None:
            return _change_link(
                "obligations_obligation",
                obligation.adjusts_obligation_id,
                f"adjusts obligation #{obligation.adjusts_obligation_id}",
                obligation.reason,
            )
        return _change_link(
            "distributions_distribution",
            obligation.adjusts_distribution_id,
            f"adjusts distribution #{obligation.adjusts_distribution_id}",
            obligation.reason,
        )
    try:
        distribution = obligation.allocation.distribution
    except Obligation.allocation.RelatedObjectDoesNotExist:
        return "manual" if obligation.award_type == AwardType.MANUAL else EMPTY
    zone = zone_of(obligation.organization)
    return _change_link(
        "distributions_distribution",
        distribution.pk,
        f"#{distribution.pk} {distribution.distributor.name}",
        f"period {format_period(distribution.period_start, distribution.trigger_date, zone)}",
    )


@admin.display(description="payout", ordering="payout_id")
def obligation_payout(obligation: Obligation):
    if obligation.payout_id is None:
        return None
    return _change_link(
        "obligations_payout", obligation.payout_id, f"#{obligation.payout_id} {obligation.payout.status}"
    )


class ObligationAdmin(
    StatusHistoryMixin, MoneyAdminMixin, OrganizationTimesMixin, NoHardDeleteMixin, TenantAdminMixin, admin.ModelAdmin
):
    """Registered by ``distributions.admin``, whose ``transition_obligations`` moves the distributions too.
    Operators approve, reject and cancel (rejecting and cancelling ask why) and add or edit manual obligations."""

    write_role = Role.OPERATOR

    money_fields = {"value": "units"}
    list_display = [
        "id",
        "collaborator",
        "value",
        "status",
        obligation_distribution,
        obligation_payout,
        "created_at",
        "release_at",
    ]
    list_filter = ["status", DistributionIdFilter, "award_type", "units", "organization"]
    list_select_related = ["collaborator", "payout", "organization", "allocation__distribution__distributor"]
    search_fields = ["collaborator__full_name", "collaborator__email", "description"]
    autocomplete_fields = ["collaborator"]
    fields = [
        "organization",
        "collaborator",
        "value",
        "units",
        "award_type",
        obligation_distribution,
        "description",
        "reason",
        "status",
        "release_at",
        "payout",
        "created_at",
        "modified_at",
    ]
    readonly_fields = [
        "organization",
        obligation_distribution,
        "reason",
        "status",
        "release_at",
        "payout",
        "created_at",
        "modified_at",
    ]
    actions = ["approve", "reject", "cancel", "adjust"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        award_type = form.base_fields.get("award_type")
        if award_type is not None:  # an adjustment is made with the "Adjust" action, never typed in
            award_type.choices = [
                (value, label) for value, label in award_type.choices if value != AwardType.ADJUSTMENT
            ]
        return form

    def get_readonly_fields(self, request, obj=None):
        if obj and (obj.award_type != AwardType.MANUAL or obj.status != ObligationStatus.PENDING):
            # What a distribution owes is fixed by the distribution, and an approved obligation may already
            # be in a payout whose amount includes it; only the status moves (through the actions).
            return [*self.readonly_fields, "collaborator", "value", "units", "award_type"]
        return self.readonly_fields

    def form_zone(self, request, object_id):
        # No time is typed here, and a new obligation's organization is its collaborator's.
        zone, _ = super().form_zone(request, object_id) if object_id is not None else (zone_of(None), True)
        return zone, True

    def save_model(self, request, obj, form, change):
        try:
            obligation_manual_save(obligation=obj)
        except ValidationError as exc:
            self.message_user(request, f"Nothing changed: {exc.messages[0]}", messages.ERROR)

    def transition_obligations(
        self, obligation_ids: list[int], status: str, reason: str = "", actor: str = ""
    ) -> list[Obligation]:
        return obligations_transition(obligation_ids=obligation_ids, status=status, reason=reason, actor=actor)

    def _move(self, request, queryset, status, *, verb: str, reason_required: bool):
        reason = action_reason(self, request, queryset, verb=verb, required=reason_required)
        if not isinstance(reason, str):
            return reason  # the confirmation page
        ids = list(queryset.values_list("pk", flat=True))
        _run(
            self,
            request,
            lambda: self.transition_obligations(ids, status, reason=reason, actor=staff_actor(request)),
            lambda moved: f"{len(moved)} obligation(s) now {status}.",
            logged=f"{str(status).capitalize()}.",  # "Approved.", "Rejected.", "Cancelled."
            reason=reason,
        )
        return None

    @admin.action(description="Approve selected obligations")
    def approve(self, request, queryset):
        return self._move(request, queryset, ObligationStatus.APPROVED, verb="Approve", reason_required=False)

    @admin.action(description="Reject selected obligations")
    def reject(self, request, queryset):
        return self._move(request, queryset, ObligationStatus.REJECTED, verb="Reject", reason_required=True)

    @admin.action(description="Cancel selected obligations")
    def cancel(self, request, queryset):
        return self._move(request, queryset, ObligationStatus.CANCELLED, verb="Cancel", reason_required=True)

    @admin.action(description="Adjust the selected obligation (adjustment or clawback)")
    def adjust(self, request, queryset):
        """One obligation: a page asks for the amount (negative claws back) and the reason, then creates the
        adjustment for its collaborator, in its units, linked to it. The obligation itself is not changed."""
        chosen = list(queryset.select_related("collaborator", "organization").order_by("pk")[:2])
        if len(chosen) != 1:
            self.message_user(request, "Nothing changed: select exactly one obligation to adjust.", messages.ERROR)
            return None
        obligation = chosen[0]
        return adjustment_action(
            self,
            request,
            form=AdjustmentForm(confirmed_post(request), units=obligation.units),
            target=f"obligation {obligation.pk}",
            create=lambda data: obligation_adjust(
                organization=obligation.organization,
                collaborator=obligation.collaborator,
                value=data["value"],
                units=obligation.units,
                reason=data["reason"],
                adjusts_obligation=obligation,
            ),
            template="admin/obligations/obligation/adjust.html",
            title=f"Adjust obligation {obligation.pk}?",
            selected=[obligation.pk],
            obligation=obligation,
        )


def adjustment_action(
    model_admin, request, *, form, target: str, create, template: str, log_also: Iterable = (), **page
):
    """The one flow of the Adjust actions (an obligation's, a distribution's): the page with ``form`` (the amount,
    the reason, whatever else the form asks) until it is posted valid; then ``create(cleaned_data)`` makes the
    adjustment of ``target`` (e.g. ``"obligation 12"``), logged in the adjustment's admin history with the reason
    (and in that of ``log_also``, rows of another admin: "Adjusted by adjustment N."), and the list says what was
    made. A refusal is an error message and changes nothing. ``page``: the page's title, selected rows and
    context (``organizations.admin.action_page``)."""
    if form.is_bound and form.is_valid():
        data = form.cleaned_data

        def made_and_logged():
            made = create(data)
            log_action(model_admin, request, log_also, f"Adjusted by adjustment {made.pk}.", data["reason"])
            return [made]

        _run(
            model_admin,
            request,
            made_and_logged,
            lambda made: f"Adjustment {made[0]} created for {target} (approved: the next fulfillment nets it).",
            logged=f"Created as an adjustment of {target}.",
            reason=data["reason"],
        )
        return None
    return action_page(model_admin, request, template, form=form, default_action="adjust", **page)


class AdjustmentForm(forms.Form):
    """The amount of an adjustment, typed in major units of the adjusted obligation (``-5.00`` claws back 5 USD),
    and why."""

    value = forms.CharField(
        label="Amount",
        max_length=40,
        error_messages={"required": "Enter the amount (negative to claw back)."},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 18, "class": "vTextField"}),
    )
    reason = forms.CharField(
        max_length=Obligation._meta.get_field("reason").max_length,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70, "class": "vLargeTextField"}),
        help_text="Required. Kept on the adjustment and in the admin's history.",
        error_messages={"required": "An adjustment needs a reason."},
    )

    def __init__(self, *args, units: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.units = units
        sample = 500 if units_decimal_places(units) else 5
        self.fields[
            "value"
        ].help_text = (
            f"In {units}, with its decimals: {to_major(sample, units)} adds, -{to_major(sample, units)} claws back."
        )

    def clean_value(self) -> int:
        try:
            value = to_minor(self.cleaned_data["value"], self.units)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if value == 0:
            raise forms.ValidationError("Enter a non-zero amount (negative to claw back).")
        if abs(value) > 2**63 - 1:
            raise forms.ValidationError("The amount is too large.")
        return value

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("An adjustment needs a reason.")
        return reason


# --- fulfillments and payouts ----------------------------------------------------------------------------------


PAYOUT_INLINE_LIMIT = 100


class BoundedPayoutFormSet(BoundedInlineFormSet):
    """The first ``PAYOUT_INLINE_LIMIT`` payouts, and a link to all of them."""

    def get_limit(self) -> int:
        return PAYOUT_INLINE_LIMIT

    def more_note(self) -> str:
        url = reverse("admin:obligations_payout_changelist")
        return format_html(
            'The first {} of {} payouts. All of them: <a href="{}?fulfillment__id__exact={}">the payouts list</a> '
            "(paged), or the CSV download above.",
            self.shown_count,
            self.total_count,
            url,
            self.instance.pk,
        )


@admin.display(description="payout")
def payout_link(payout: Payout):
    url = reverse("admin:obligations_payout_change", args=[payout.pk])
    return format_html('<a href="{}">#{}</a>', url, payout.pk)


class PayoutInline(MoneyInlineMixin, OrganizationTimesInlineMixin, TenantInlineMixin, admin.TabularInline):
    model = Payout
    formset = BoundedPayoutFormSet
    template = "admin/organizations/tabular_untitled.html"
    money_fields = {"amount": "units"}
    fields = [payout_link, "collaborator", "amount", "status", "paid_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["pk"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("collaborator")


def _totals_of(fulfillment: Fulfillment):
    return getattr(fulfillment, "payout_totals", None)


@admin.display(description="payouts")
def fulfillment_payout_count(fulfillment: Fulfillment):
    totals = _totals_of(fulfillment)
    return None if totals is None else sum(part.count for part in totals.values())


@admin.display(description="total")
def fulfillment_total(fulfillment: Fulfillment):
    totals = _totals_of(fulfillment)
    return totals_html({units: part.amount for units, part in (totals or {}).items()})


@admin.display(description="paid")
def fulfillment_paid(fulfillment: Fulfillment):
    totals = _totals_of(fulfillment)
    return totals_html({units: part.paid for units, part in (totals or {}).items()})


@admin.display(description="CSV")
def fulfillment_csv_link(fulfillment: Fulfillment):
    return format_html(
        '<a href="{}" title="The payouts as export_payouts writes them; changes nothing">download</a>',
        reverse("admin:obligations_fulfillment_payouts_csv", args=[fulfillment.pk]),
    )


@admin.display(description="held back")
def fulfillment_held_back_count(fulfillment: Fulfillment):
    """How many collaborator balances this batch left out (their obligations stayed approved)."""
    return len(fulfillment.held_back or []) or None


@admin.display(description="held back")
def fulfillment_held_back(fulfillment: Fulfillment):
    """The balances this batch left out, per collaborator and units, and why; their obligations stayed approved."""
    held = [HeldBalance.from_dict(entry) for entry in fulfillment.held_back or []]
    if not held:
        return "Nothing: every approved balance was paid."
    url = reverse("admin:obligations_obligation_changelist")
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td class="money">{}</td><td>{}</td><td>'
        '<a href="{}?collaborator__id__exact={}&amp;status__exact=approved&amp;units__exact={}">{} obligation(s)</a>'
        "</td></tr>",
        (
            (
                reverse("admin:collaborators_collaborator_change", args=[entry.collaborator_id]),
                entry.collaborator_name or f"#{entry.collaborator_id}",
                amount_html(entry.balance, entry.units),
                entry.reason_text,
                url,
                entry.collaborator_id,
                entry.units,
                entry.obligation_count,
            )
            for entry in held
        ),
    )
    return format_html(
        '<table class="held-back"><thead><tr><th>collaborator</th><th>balance</th><th>why</th><th>carried over'
        "</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


@admin.register(Fulfillment)
class FulfillmentAdmin(
    StatusHistoryMixin, OrganizationTimesMixin, NoHardDeleteMixin, TenantAdminMixin, admin.ModelAdmin
):
    """Operators mark fulfillments failed (which asks why); the payouts CSV is read by any member."""

    write_role = Role.OPERATOR
    list_display = [
        "id",
        "organization",
        "status",
        fulfillment_payout_count,
        fulfillment_total,
        fulfillment_paid,
        fulfillment_held_back_count,
        "created_at",
        "completed_at",
        fulfillment_csv_link,
    ]
    list_filter = ["status", "organization"]
    list_select_related = ["organization"]
    fields = [
        "organization",
        "status",
        fulfillment_payout_count,
        fulfillment_total,
        fulfillment_paid,
        fulfillment_held_back,
        "created_at",
        "modified_at",
        "completed_at",
    ]
    readonly_fields = fields
    inlines = [PayoutInline]
    actions = ["mark_failed"]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Every field is read-only (the status moves by the actions): no Save buttons that would save nothing.
        extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request):
        return False

    def _with_totals(self, fulfillments) -> None:
        totals = fulfillment_payout_totals(fulfillment_ids=[fulfillment.pk for fulfillment in fulfillments])
        for fulfillment in fulfillments:
            fulfillment.payout_totals = totals.get(fulfillment.pk, {})

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        self._with_totals(list(changelist.result_list))  # the page's rows, cached on the queryset: one query
        return changelist

    def get_object(self, request, object_id, from_field=None):
        fulfillment = super().get_object(request, object_id, from_field)
        if fulfillment is not None:
            self._with_totals([fulfillment])
        return fulfillment

    def get_urls(self):
        csv_view = self.admin_site.admin_view(self.payouts_csv_view)
        return [
            path("<path:object_id>/payouts.csv", csv_view, name="obligations_fulfillment_payouts_csv"),
            *super().get_urls(),
        ]

    def payouts_csv_view(self, request, object_id):
        """The payout CSV of ``export_payouts``, downloaded: a read, no status moves (GET only)."""
        if request.method != "GET":
            return HttpResponse(status=405, headers={"Allow": "GET"})
        fulfillment = self.get_queryset(request).filter(pk=unquote(object_id)).first() if object_id.isdigit() else None
        if fulfillment is None:
            raise Http404(f"No fulfillment {object_id}.")
        if not self.has_view_permission(request, fulfillment):
            raise PermissionDenied
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="fulfillment-{fulfillment.pk}-payouts.csv"'
        payouts_write_csv(payout_export_rows(fulfillment=fulfillment), response)
        return response

    @admin.action(description="Mark failed (obligations return to approved)")
    def mark_failed(self, request, queryset):
        reason = action_reason(self, request, queryset, verb="Mark failed")
        if not isinstance(reason, str):
            return reason
        ids = list(queryset.values_list("pk", flat=True))
        _run(
            self,
            request,
            lambda: fulfillments_mark_failed(fulfillment_ids=ids, reason=reason, actor=staff_actor(request)),
            lambda failed: f"{len(failed)} fulfillment(s) now failed.",
            logged="Marked failed.",
            reason=reason,
        )
        return None


@admin.display(description="fulfillment", ordering="fulfillment_id")
def payout_fulfillment(payout: Payout):
    return _change_link(
        "obligations_fulfillment", payout.fulfillment_id, f"#{payout.fulfillment_id} {payout.fulfillment.status}"
    )


class PayoutAdmin(
    StatusHistoryMixin, MoneyAdminMixin, OrganizationTimesMixin, NoHardDeleteMixin, TenantAdminMixin, admin.ModelAdmin
):
    """Registered by ``distributions.admin``, whose hooks move the distributions too. Operators mark payouts paid
    and unpaid (taking one back asks why)."""

    ordering = ["-id"]  # newest first, and a stable order for autocomplete's pages
    write_role = Role.OPERATOR

    money_fields = {"amount": "units"}
    list_display = ["id", "collaborator", "amount", "status", "paid_at", payout_fulfillment, "created_at"]
    list_filter = ["status", "units", "organization"]
    list_select_related = ["collaborator", "fulfillment", "organization"]
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

    def mark_payouts_paid(self, payout_ids: list[int], reason: str = "", actor: str = "") -> list[Payout]:
        return payout_mark_paid(payouts=payout_ids, reason=reason, actor=actor)

    def mark_payouts_unpaid(self, payout_ids: list[int], reason: str = "", actor: str = "") -> list[Payout]:
        return payout_mark_unpaid(payouts=payout_ids, reason=reason, actor=actor)

    @admin.action(description="Mark paid (obligations become fulfilled)")
    def mark_paid(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        _run(
            self,
            request,
            lambda: self.mark_payouts_paid(ids, actor=staff_actor(request)),
            lambda paid: f"{len(paid)} payout(s) now paid.",
            logged="Marked paid.",
        )

    @admin.action(description="Mark unpaid (correction: obligations return to approved)")
    def mark_unpaid(self, request, queryset):
        reason = action_reason(self, request, queryset, verb="Mark unpaid")
        if not isinstance(reason, str):
            return reason
        ids = list(queryset.values_list("pk", flat=True))
        _run(
            self,
            request,
            lambda: self.mark_payouts_unpaid(ids, reason=reason, actor=staff_actor(request)),
            lambda unpaid: f"{len(unpaid)} payout(s) now unpaid.",
            logged="Marked unpaid.",
            reason=reason,
        )
        return None


# --- minimum payouts -------------------------------------------------------------------------------------------


@admin.register(MinimumPayout)
class MinimumPayoutAdmin(MoneyAdminMixin, OrganizationTimesMixin, TenantAdminMixin, admin.ModelAdmin):
    """The organization's minimum payout per units, typed in major units; configured by organization admins. A
    balance below it waits in approved obligations until it adds up (``generate_fulfillment``)."""

    delete_role = Role.ADMIN

    money_fields = {"amount": "units"}
    list_display = ["amount", "units", "organization", "modified_at"]  # the amount first: it names the row
    list_filter = ["units", "organization"]
    list_select_related = ["organization"]
    autocomplete_fields = ["organization"]
    fields = ["organization", "units", "amount", "created_at", "modified_at"]
    readonly_fields = ["created_at", "modified_at"]
    ordering = ["organization__name", "units"]

    def get_readonly_fields(self, request, obj=None):
        # A minimum stays in its organization and units; change the amount, or delete it.
        return [*self.readonly_fields, "organization", "units"] if obj else self.readonly_fields


# --- collaborators, with their earnings ------------------------------------------------------------------------


@admin.register(Collaborator)
class CollaboratorWithEarningsAdmin(CollaboratorAdmin):
    """The collaborator's change page shows its earnings: the last periods, per units, and the totals."""

    change_form_template = "admin/collaborators/collaborator/change_form.html"

    def earnings_context(self, collaborator: Collaborator) -> dict:
        earnings = collaborator_earnings(collaborator=collaborator)
        zone = zone_of(collaborator.organization)
        periods = [
            {
                "period": period_html(row.period_start, row.trigger_date, zone),
                "count": row.earnings.count,
                "earned": amount_html(row.earnings.earned, row.units),
                "paid": amount_html(row.earnings.paid, row.units),
                "open": amount_html(row.earnings.open, row.units),
                "void": amount_html(row.earnings.void, row.units),
            }
            for row in earnings.periods
        ]

        def sums(parts: dict, name: str):
            return totals_html({units: getattr(part, name) for units, part in parts.items()})

        return {
            "periods": periods,
            "more": earnings.more,
            "limit": len(earnings.periods),
            "zone": zone_name(zone),
            "manual": {name: sums(earnings.manual, name) for name in ("earned", "paid", "open", "void")}
            if earnings.manual
            else None,
            "manual_count": sum(part.count for part in earnings.manual.values()),
            "totals": {name: sums(earnings.totals, name) for name in ("earned", "paid", "open", "void")}
            if earnings.totals
            else None,
            "total_count": sum(part.count for part in earnings.totals.values()),
            "obligations_url": f"{reverse('admin:obligations_obligation_changelist')}?collaborator__id__exact="
            f"{collaborator.pk}",
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        collaborator = self.get_object(request, unquote(object_id))
        if collaborator is not None and self.has_view_or_change_permission(request, collaborator):
            extra_context = {**(extra_context or {}), "earnings": self.earnings_context(collaborator)}
        return super().change_view(request, object_id, form_url, extra_context)
