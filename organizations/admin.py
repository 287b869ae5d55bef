"""Organizations and API keys in the admin, and the admin plumbing every app's admin shares (this is the lowest
admin module, so each app builds on the same code).

Times. Every instant is stored in UTC and shown in its organization's zone, the zone always labelled:

- list columns read ``2026-09-30 00:00 CEST`` (hover: the IANA zone and the instant in UTC);
- change pages read ``2026-09-30 00:00:00 CEST (Europe/Paris)``;
- rows without an organization (engine runs) read ``… UTC``.

``OrganizationTimesMixin`` does it for a ModelAdmin: the ``DateTimeField`` names in ``list_display`` and the
read-only ones on the change page (and in its inlines, with ``OrganizationTimesInlineMixin``) are shown through
``format_instant``; the organization is reached through ``organization_path`` (``"organization"``; ``""`` for
the organization itself; ``None`` for UTC), joined in the list query. A date-time *typed* in a change form is
read in the organization's zone: the view runs in that zone (``django.utils.timezone.override``), so Django's
own form fields make the typed local time aware there, refuse one that does not exist or is ambiguous at a DST
change, show stored values in it and give the "Now" shortcut that zone's offset. An existing row's zone is its
organization's; a new row's is the organization chosen in the form (its ``organization`` field, read from the
submitted data before the form is validated); the field's help text names the zone.

``AdminDisplayMixin`` is the hook both the times (here) and the amounts (``distributors.admin.MoneyAdminMixin``)
use: a list column or a read-only value shown by a callable, the form left untouched.

Tenancy. ``TenantAdminMixin`` (every ModelAdmin, right before ``admin.ModelAdmin``) and ``TenantInlineMixin``
(every inline) keep each staff user to the rows of their organizations, their role (``Membership``) deciding what
they may do there; see its docstring. ``action_reason`` is the confirmation page of the actions that ask why,
``log_action`` keeps the reason in each changed row's history. ``StatusHistoryMixin`` ends the change page of an
object with a status with its status moves (``lifecycle``), read only. Django's users and groups are registered
again here under the same mixin (they belong to no organization: Django's permissions decide).
"""

import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group, User
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist, PermissionDenied
from django.db import models
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from lifecycle.selectors import HISTORY_LIMIT, status_history, status_history_count
from organizations.models import ApiKey, ApiKeyScope, Membership, Organization, Role
from organizations.selectors import member_roles
from organizations.services import api_key_create, api_keys_revoke

EMPTY = "-"  # the admin's default empty value display


class ReadOnlyAdminMixin:
    """Rows written only by services (the engine, crediting): staff look, never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def follow(obj, path: str | None):
    """``obj`` followed along a ``__``-separated attribute path (``"distribution__distributor"``); ``None`` when a
    step is missing (a null foreign key, a missing reverse one-to-one). ``""`` is ``obj`` itself."""
    if path is None:
        return None
    for part in path.split("__") if path else ():
        try:
            obj = getattr(obj, part)
        except ObjectDoesNotExist:
            return None
        if obj is None:
            return None
    return obj


# --- times ---------------------------------------------------------------------------------------------------


def zone_of(organization: Organization | None) -> tzinfo:
    """The organization's zone; UTC without one (engine runs)."""
    return organization.tzinfo if organization is not None else UTC


def zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or "UTC"


def format_instant(moment: datetime, zone: tzinfo, *, seconds: bool = False, name: bool = False) -> str:
    """``moment`` in ``zone`` with the zone's abbreviation (``2026-09-30 00:00 CEST``); ``name`` adds the IANA
    zone (``2026-09-30 00:00 CEST (Europe/Paris)``) unless it is the abbreviation itself (``UTC``)."""
    local = moment.astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
    key = zone_name(zone)
    if name and key != local.strftime("%Z"):
        text = f"{text} ({key})"
    return text


def instant_html(moment: datetime | None, zone: tzinfo, *, seconds: bool = False, name: bool = False):
    """``format_instant`` as a ``<time>`` element that never wraps; the hover shows the zone and UTC."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC)
    key = zone_name(zone)
    hover = f"{utc:%Y-%m-%d %H:%M:%S} UTC" if key == "UTC" else f"{key}; {utc:%Y-%m-%d %H:%M:%S} UTC"
    return format_html(
        '<time datetime="{}" title="{}" style="white-space:nowrap">{}</time>',
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        hover,
        format_instant(moment, zone, seconds=seconds, name=name),
    )


def local_time_column(
    field: str, *, organization: str | None = "organization", description: str | None = None
) -> Callable:
    """A list column showing ``field`` in the zone of the row's ``organization`` (a path; ``None``: UTC), sortable
    by the field. The organization must be joined (``list_select_related``)."""

    def column(obj):
        return instant_html(getattr(obj, field), zone_of(follow(obj, organization)))

    column.__name__ = field
    return admin.display(description=description or field.replace("_", " "), ordering=field)(column)


def format_period(start: datetime, end: datetime, zone: tzinfo) -> str:
    """A period (start, end] in ``zone``, on one line: ``2026-09-01 → 2026-10-01 CEST`` (times shown unless both
    are midnight; each end gets its abbreviation when a DST change falls inside)."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    pattern = "%Y-%m-%d" if first.time() == last.time() == datetime.min.time() else "%Y-%m-%d %H:%M"
    first_zone, last_zone = first.strftime("%Z"), last.strftime("%Z")
    if first_zone == last_zone:
        return f"{first.strftime(pattern)} → {last.strftime(pattern)} {last_zone}"
    return f"{first.strftime(pattern)} {first_zone} → {last.strftime(pattern)} {last_zone}"


def period_html(start: datetime, end: datetime, zone: tzinfo):
    """``format_period`` that never wraps; the hover shows the zone and the period in UTC."""
    hover = f"({start.astimezone(UTC):%Y-%m-%d %H:%M}, {end.astimezone(UTC):%Y-%m-%d %H:%M}] UTC; {zone_name(zone)}"
    return format_html('<span title="{}" style="white-space:nowrap">{}</span>', hover, format_period(start, end, zone))


def period_column(
    start: str = "period_start",
    end: str = "trigger_date",
    *,
    organization: str | None = "organization",
    description: str = "period",
) -> Callable:
    """A list column for a period (start, end] in the organization's zone (``format_period``), sortable by its
    end."""

    def column(obj):
        return period_html(getattr(obj, start), getattr(obj, end), zone_of(follow(obj, organization)))

    column.__name__ = end
    return admin.display(description=description, ordering=end)(column)


def readonly_time(field: str, zone: tzinfo, *, label: str | None = None) -> Callable:
    """A change page's read-only value of ``field`` in ``zone``, seconds and IANA zone shown."""

    def value(obj):
        shown = instant_html(getattr(obj, field, None), zone, seconds=True, name=True)
        return EMPTY if shown is None else shown

    value.__name__ = field
    return admin.display(description=label or field.replace("_", " "))(value)


def _is_field(model, name, field_class) -> bool:
    if not isinstance(name, str):
        return False
    try:
        return isinstance(model._meta.get_field(name), field_class)
    except FieldDoesNotExist:
        return False


def _substitute(fieldsets, readonly_fields, replacements: dict):
    """Fieldsets and read-only fields with the names in ``replacements`` replaced by their callables, read-only
    ones only (an editable field stays a form field)."""
    readonly = {name for name in readonly_fields if isinstance(name, str)}
    swap = {name: replacements[name] for name in readonly if name in replacements}
    if not swap:
        return fieldsets, readonly_fields

    def fields(names):
        return [
            tuple(swap.get(name, name) for name in item) if isinstance(item, list | tuple) else swap.get(item, item)
            for item in names
        ]

    new_fieldsets = [(title, {**options, "fields": fields(options["fields"])}) for title, options in fieldsets]
    return new_fieldsets, [swap.get(name, name) if isinstance(name, str) else name for name in readonly_fields]


class AdminDisplayMixin:
    """List columns and read-only change-page values shown through callables, without touching the form.

    Subclasses (mixins) extend ``column_replacements`` (``list_display`` name → column callable) and
    ``readonly_replacements`` (read-only field name → value callable, given the page's object). Inlines using
    ``InlineDisplayMixin`` get the parent object.
    """

    def column_replacements(self, request) -> dict[str, Callable]:
        """Built once per admin instance (the first list request); must not depend on the request."""
        return {}

    def readonly_replacements(self, request, obj) -> dict[str, Callable]:
        return {}

    def get_list_display(self, request):
        # Built once per admin: the sortable columns (``get_sortable_by``) are matched by identity.
        replacements = self.__dict__.get("_column_replacements")
        if replacements is None:
            replacements = self.__dict__.setdefault("_column_replacements", self.column_replacements(request))
        return [
            replacements.get(name, name) if isinstance(name, str) else name
            for name in super().get_list_display(request)
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        adminform = context.get("adminform")
        if adminform is not None:
            adminform.fieldsets, adminform.readonly_fields = _substitute(
                adminform.fieldsets, adminform.readonly_fields, self.readonly_replacements(request, obj)
            )
        for inline_formset in context.get("inline_admin_formsets", ()):
            inline = inline_formset.opts
            if isinstance(inline, InlineDisplayMixin):
                inline_formset.fieldsets, inline_formset.readonly_fields = _substitute(
                    inline_formset.fieldsets, inline_formset.readonly_fields, inline.readonly_replacements(request, obj)
                )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


class InlineDisplayMixin:
    """For an inline of an ``AdminDisplayMixin`` admin: ``readonly_replacements(request, parent)``."""

    def readonly_replacements(self, request, parent) -> dict[str, Callable]:
        return {}


class OrganizationTimesMixin(AdminDisplayMixin):
    """Times in the organization's zone, labelled, on the list and the change page; typed times read in it.

    ``organization_path``: from a row to its organization (``""``: the row is the organization; ``None``: no
    organization, times in UTC). See the module docstring.
    """

    organization_path: str | None = "organization"

    def _datetime_names(self, names) -> list[str]:
        return [name for name in names if _is_field(self.model, name, models.DateTimeField)]

    def column_replacements(self, request):
        replacements = super().column_replacements(request)
        for name in self._datetime_names(self.list_display):
            label = self.model._meta.get_field(name).verbose_name
            replacements[name] = local_time_column(name, organization=self.organization_path, description=label)
        return replacements

    def get_list_select_related(self, request):
        selected = super().get_list_select_related(request)
        path = self.organization_path
        if not path or selected is True:
            return selected
        selected = list(selected or ())
        return selected if path in selected else [*selected, path]

    def organization_of(self, obj) -> Organization | None:
        return follow(obj, self.organization_path)

    def readonly_replacements(self, request, obj):
        replacements = super().readonly_replacements(request, obj)
        zone = zone_of(self.organization_of(obj)) if obj is not None else UTC
        for field in self.model._meta.fields:
            if isinstance(field, models.DateTimeField):
                replacements[field.name] = readonly_time(field.name, zone, label=field.verbose_name)
        return replacements

    # -- typed times ----------------------------------------------------------------------------------------

    def form_zone(self, request, object_id) -> tuple[tzinfo, bool]:
        """The zone a change form reads and shows times in, and whether it is known (an add form knows it once
        an organization is chosen: the submitted ``organization``, or ``?organization=ID``)."""
        path = self.organization_path
        if path is None:
            return UTC, True
        if object_id is not None:
            lookup = f"{path}__timezone" if path else "timezone"
            name = self.model._default_manager.filter(pk=object_id).values_list(lookup, flat=True).first()
        else:
            chosen = request.POST.get("organization") or request.GET.get("organization")
            if not chosen or not str(chosen).isdigit():
                return UTC, False
            chosen_organization = Organization.objects.filter(pk=chosen)
            if isinstance(self, TenantRules):  # only an organization the user may write in names the zone
                chosen_organization = self.scope_choices(request, chosen_organization)
            name = chosen_organization.values_list("timezone", flat=True).first()
        return (ZoneInfo(name), True) if name else (UTC, False)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        zone, known = self.form_zone(request, object_id)
        request.organization_form_zone = (zone, known)  # for get_form (the admin instance is shared)
        with timezone.override(zone):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            # Rendered inside the zone: stored values shown in it, the "Now" shortcut given its offset.
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
        return response

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        zone, known = getattr(request, "organization_form_zone", (UTC, True))
        if known and self.organization_path is not None:
            where = f"Local time in {zone_name(zone)}, the organization's time zone; stored in UTC."
        elif known:
            where = "In UTC."
        else:
            where = "Local time in the time zone of the organization chosen above; stored in UTC."
        for name, field in list(form.base_fields.items()):
            if isinstance(field, forms.DateTimeField | forms.SplitDateTimeField):
                field = copy.deepcopy(field)
                field.help_text = f"{field.help_text} {where}".strip()
                form.base_fields[name] = field
        return form


class OrganizationTimesInlineMixin(InlineDisplayMixin):
    """An inline's read-only times in the parent's organization zone (its rows are of that organization)."""

    def readonly_replacements(self, request, parent):
        replacements = super().readonly_replacements(request, parent)
        organization_of = getattr(self.admin_site._registry.get(type(parent)), "organization_of", None)
        zone = zone_of(organization_of(parent)) if parent is not None and organization_of else UTC
        for field in self.model._meta.fields:
            if isinstance(field, models.DateTimeField):
                replacements[field.name] = readonly_time(field.name, zone, label=field.verbose_name)
        return replacements


# --- status history ------------------------------------------------------------------------------------------


def status_label(model, value: str) -> str:
    """A recorded status as the model's ``status`` field names it (``Approved``); capitalized when the model has
    no such choice (an API key's ``active`` / ``revoked``: ``Active``, ``Revoked``)."""
    try:
        choices = dict(model._meta.get_field("status").flatchoices)
    except FieldDoesNotExist:
        choices = {}
    return str(choices.get(value) or value.replace("_", " ").capitalize())


def status_history_html(obj, zone: tzinfo, *, limit: int = HISTORY_LIMIT):
    """``obj``'s status history (``lifecycle.models.StatusChange``) as a read-only timeline, newest last: each
    move's time in ``zone`` (hover: UTC), from → to, who moved it and why. At most the latest ``limit`` moves,
    with "N earlier moves not shown" above them when there are more. One query (and a count only when the
    limit is reached)."""
    model = obj._meta.concrete_model
    changes = status_history(model=model, object_ids=[obj.pk], limit=limit).get(obj.pk, [])
    if not changes:
        return format_html('<p class="status-history-empty">{}</p>', "No status move recorded yet.")
    earlier = status_history_count(model=model, object_id=obj.pk) - len(changes) if len(changes) >= limit else 0
    note = (
        format_html(
            '<p class="status-history-earlier help">{} earlier move{} not shown (the latest {} are).</p>',
            earlier,
            "" if earlier == 1 else "s",
            len(changes),
        )
        if earlier > 0
        else ""
    )
    rows = format_html_join(
        "",
        '<tr><td class="status-history-time">{}</td><td class="status-history-move">{} → {}</td>'
        '<td class="status-history-actor">{}</td><td class="status-history-reason">{}</td></tr>',
        (
            (
                instant_html(change.at, zone, seconds=True),
                status_label(model, change.from_status),
                status_label(model, change.to_status),
                change.actor or EMPTY,
                change.reason or EMPTY,
            )
            for change in changes
        ),
    )
    return format_html(
        '{}<table class="status-history"><thead><tr><th scope="col">Time ({})</th>'
        '<th scope="col">Move</th><th scope="col">By</th><th scope="col">Reason</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        note,
        zone_name(zone),
        rows,
    )


class StatusHistoryMixin:
    """A change page's read-only "Status history" fieldset, after the model's own: ``status_history_html`` in
    the zone of the row's organization (``organization_of``: ``OrganizationTimesMixin``). Added when the page
    is rendered, never to the form (nothing in it is editable); not on an add page. Put it first in the bases
    (its ``render_change_form`` adds the fieldset before the read-only values are substituted)."""

    status_history_limit = HISTORY_LIMIT

    @property
    def media(self):
        return super().media + forms.Media(css={"all": ["organizations/status_history.css"]})

    def status_history_zone(self, obj) -> tzinfo:
        organization_of = getattr(self, "organization_of", None)
        if organization_of is None:
            return zone_of(follow(obj, organization_path_of(type(obj))))
        return zone_of(organization_of(obj))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        adminform = context.get("adminform")
        if obj is not None and obj.pk is not None and adminform is not None:
            zone, limit = self.status_history_zone(obj), self.status_history_limit

            @admin.display(description="moves")
            def status_history(shown):
                return status_history_html(shown, zone, limit=limit)

            adminform.fieldsets = [*adminform.fieldsets, ("Status history", {"fields": [status_history]})]
            adminform.readonly_fields = [*adminform.readonly_fields, status_history]
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


# --- list filters ----------------------------------------------------------------------------------------------


class BoundedInlineFormSet(BaseInlineFormSet):
    """A read-only inline's first ``get_limit()`` rows (a distribution can have 100,000 allocations, a
    fulfillment a payout per collaborator): the page stays a page. ``total_count``/``shown_count`` and
    ``more_note()`` (where to see them all) are shown below the table by the template
    ``admin/organizations/tabular_untitled.html``. Read-only, so a sliced queryset is never saved."""

    def get_limit(self) -> int:
        return 100

    def more_note(self) -> str:
        return ""

    def get_queryset(self):
        if not hasattr(self, "_bounded"):
            full = super().get_queryset()
            limit = self.get_limit()
            self.total_count = full.count()
            self._bounded = full[:limit]
            self.shown_count = min(self.total_count, limit)
        return self._bounded


class InputFilter(admin.SimpleListFilter):
    """A list filter that is a text box, for a choice among rows too many to list (every distribution of every
    tenant): no query to draw it. Subclasses set ``title``, ``parameter_name``, ``placeholder`` and implement
    ``queryset``; ``clean`` turns the typed text into a value or raises ``ValueError`` (an error shown in the
    filter and an empty list, never a 500); ``describe`` names the chosen value."""

    template = "admin/organizations/input_filter.html"
    placeholder = ""

    def __init__(self, request, params, model, model_admin):
        self.request, self.model_admin = request, model_admin  # ``describe`` reads the user's rows only
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return ()

    def has_output(self):
        return True

    def clean(self, text: str):
        return text

    def cleaned_value(self):
        text = (self.value() or "").strip()
        if not text:
            return None
        try:
            return self.clean(text)
        except ValueError:
            return None

    def error(self) -> str | None:
        text = (self.value() or "").strip()
        if not text:
            return None
        try:
            self.clean(text)
        except ValueError as exc:
            return str(exc)
        return None

    def describe(self, value) -> str | None:
        return None

    def choices(self, changelist):
        value = self.cleaned_value()
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "parameter_name": self.parameter_name,
            "placeholder": self.placeholder,
            "value": self.value() or "",
            "error": self.error(),
            "described": self.describe(value) if value is not None else None,
            "hidden": [
                (name, item)
                for name, values in changelist.filter_params.items()
                if name != self.parameter_name
                for item in values
            ],
        }


# --- tenancy: who sees and moves which rows ------------------------------------------------------------------

_UNSET = object()  # "not given" where ``None`` means something (a path of no organization, superusers only)


def organization_path_of(model) -> str | None:
    """The path from a row of ``model`` to its organization: ``""`` for the organization itself, its foreign key to
    ``Organization`` (``"organization"``), else through a foreign key to a model that has one (a metric type:
    ``"distributor__organization"``); ``None`` for rows of no organization (engine runs, users, groups)."""
    if model._meta.concrete_model is Organization:
        return ""
    relations = [
        field for field in model._meta.get_fields() if field.concrete and (field.many_to_one or field.one_to_one)
    ]
    for field in relations:
        if field.related_model is Organization:
            return field.name
    for field in relations:
        if field.related_model is not model and field.related_model is not None:
            inner = next(
                (
                    inner.name
                    for inner in field.related_model._meta.get_fields()
                    if inner.concrete
                    and (inner.many_to_one or inner.one_to_one)
                    and inner.related_model is Organization
                ),
                None,
            )
            if inner is not None:
                return f"{field.name}__{inner}"
    return None


def organization_lookup(path: str) -> str:
    """The ``filter()`` keyword selecting rows by their organization's id among several."""
    return "pk__in" if path == "" else f"{path}__in"


def organization_id_of(obj, path: str | None) -> int | None:
    """The id of ``obj``'s organization along ``path`` (no query for a direct foreign key); ``None`` if it has none."""
    if obj is None or path is None:
        return None
    if path == "":
        return obj.pk
    *steps, last = path.split("__")
    holder = follow(obj, "__".join(steps))
    return None if holder is None else getattr(holder, f"{last}_id", None)


@dataclass(frozen=True)
class StaffAccess:
    """What the request's user may reach: every organization (an active superuser) or their memberships."""

    superuser: bool
    roles: Mapping[int, str]  # organization id → role

    def organizations(self, role: str | None) -> list[int]:
        """The ids of the organizations where the user holds ``role`` or more (``None``: superusers only)."""
        return sorted(pk for pk, held in self.roles.items() if Role.covers(held, role))

    def allows(self, role: str | None, organization_id=None) -> bool:
        """Whether the user holds ``role`` in ``organization_id`` (``ANY``: in some organization)."""
        if self.superuser:
            return True
        if organization_id is ANY:
            return bool(self.organizations(role))
        return Role.covers(self.roles.get(organization_id), role)


ANY = object()  # ``StaffAccess.allows``: in some organization


def staff_access(request) -> StaffAccess:
    """The request's user's access, read once per request (one query for a member, none for a superuser) and
    cached on the request."""
    user = request.user
    cached = getattr(request, "_staff_access", None)
    if cached is not None and cached[0] == user.pk:
        return cached[1]
    if not user.is_active:
        access = StaffAccess(superuser=False, roles={})
    elif user.is_superuser:
        access = StaffAccess(superuser=True, roles={})
    else:
        access = StaffAccess(superuser=False, roles=member_roles(user=user))
    request._staff_access = (user.pk, access)
    return access


def tenant_path_of(model, admin_site=admin.site) -> str | None:
    """``model``'s organization path as its registered admin resolves it (``organization_path_of`` otherwise)."""
    registered = admin_site._registry.get(model)
    if isinstance(registered, TenantRules):
        return registered.tenant_path()
    return organization_path_of(model)


class TenantRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """Django's related-field list filter listing only the related rows of the user's organizations."""

    def field_choices(self, field, request, model_admin):
        path = tenant_path_of(field.related_model, model_admin.admin_site)
        access = staff_access(request)
        if access.superuser or path is None:
            return super().field_choices(field, request, model_admin)
        ordering = self.field_admin_ordering(field, request, model_admin)
        organizations = access.organizations(getattr(model_admin, "view_role", Role.VIEWER))
        return field.get_choices(
            include_blank=False, ordering=ordering, limit_choices_to=Q(**{organization_lookup(path): organizations})
        )


class TenantRules:
    """What ``TenantAdminMixin`` and ``TenantInlineMixin`` share: roles, the row's organization, scoped rows."""

    view_role: str | None = Role.VIEWER
    write_role: str | None = Role.ADMIN  # add and change (and the actions, unless ``action_roles`` says otherwise)
    delete_role: str | None = None  # hard deletes: superusers only unless an admin says otherwise

    def tenant_path(self) -> str | None:
        """From a row to its organization: the admin's ``organization_path`` (``OrganizationTimesMixin``) when it
        has one, else ``organization_path_of(model)``."""
        path = getattr(self, "organization_path", _UNSET)
        return organization_path_of(self.model) if path is _UNSET else path

    def _role_decides(self, request, role: str | None, organization_id) -> bool | None:
        """The role's answer, or ``None`` when Django's model permissions decide (superusers; rows of no
        organization)."""
        access = staff_access(request)
        if access.superuser or self.tenant_path() is None:
            return None
        return access.allows(role, organization_id)

    def scope_queryset(self, request, queryset, role: str | None = _UNSET, path: str | None = _UNSET):
        """``queryset`` cut to the organizations where the user holds ``role`` (default: ``view_role``)."""
        access = staff_access(request)
        path = self.tenant_path() if path is _UNSET else path
        if access.superuser or path is None:
            return queryset
        return queryset.filter(
            **{organization_lookup(path): access.organizations(self.view_role if role is _UNSET else role)}
        )

    def scope_choices(self, request, queryset, role: str | None = _UNSET):
        """``queryset`` (of any model) cut to the organizations where the user holds ``role`` (default:
        ``write_role``): the choices this admin's forms may offer."""
        return self.scope_queryset(
            request,
            queryset,
            self.write_role if role is _UNSET else role,
            path=tenant_path_of(queryset.model, self.admin_site),
        )

    def _scoped_formfield(self, request, formfield):
        if formfield is not None and getattr(formfield, "queryset", None) is not None:
            formfield.queryset = self.scope_choices(request, formfield.queryset)
        return formfield

    def get_queryset(self, request):
        return self.scope_queryset(request, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return self._scoped_formfield(request, super().formfield_for_foreignkey(db_field, request, **kwargs))

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return self._scoped_formfield(request, super().formfield_for_manytomany(db_field, request, **kwargs))


class TenantAdminMixin(TenantRules):
    """Every ModelAdmin of the project: a staff user sees and moves only the rows of their organizations.

    The rule (DESIGN.md §7):

    - **Superusers** reach every organization; Django's model permissions (always granted to them) decide.
    - **Members** (staff with a ``Membership``): the role in the row's organization is the source of truth, and
      Django's model permissions are not consulted (a group granting ``change_obligation`` grants nothing). A
      ``viewer`` reads; an ``operator`` also runs the money actions and the manual obligations (admins set
      ``write_role = Role.OPERATOR``); an ``admin`` also configures (the default ``write_role``). Hard deletes
      are for superusers unless an admin sets ``delete_role``. Staff without a membership see no tenant rows.
    - **Rows of no organization** (engine runs, users, groups: ``tenant_path()`` is ``None``): Django's model
      permissions, as a superuser granted them.

    Each row's organization is reached through ``tenant_path()`` (``organization_path`` where the admin names it,
    else found from the model: ``"organization"``, ``"distributor__organization"``, ``""`` for the organization
    itself). Put the mixin right before ``admin.ModelAdmin`` in the bases: the admin's own restrictions
    (read-only, no hard deletes) come first and this replaces Django's model-permission check for members.

    It scopes: the rows (``get_queryset``: lists, search, filters' counts, change, delete and history pages; a
    change page of another organization's row is Django's "doesn't exist" redirect), the foreign-key choices and
    the organization list filters (``write_role`` / ``view_role`` organizations), the autocomplete endpoint (the
    rows of the organizations where the user may write the *source* form), ``has_*_permission(request, obj)``
    (the role in ``obj``'s organization), the actions offered (``action_roles``: action name → role, default
    ``write_role``; ``delete_selected``: ``delete_role``), and each action run again: if any selected row is of an
    organization where the user lacks the role, the action changes nothing. Saved forms are checked once more:
    a row bound for an organization where the user may not write is refused (403).

    The membership lookup is one query per request, cached on it (``staff_access``); none for superusers.
    """

    action_roles: dict[str, str | None] = {}

    # -- permissions --------------------------------------------------------------------------------------------

    def has_role_permission(self, request, role: str | None, obj=None) -> bool:
        """Whether the user holds ``role`` in ``obj``'s organization (no ``obj``: in some organization); for
        custom views and buttons (``Credit a metric``). Superusers: always."""
        organization = ANY if obj is None else organization_id_of(obj, self.tenant_path())
        return staff_access(request).allows(role, organization)

    def _decide(self, request, role, obj):
        return self._role_decides(request, role, ANY if obj is None else organization_id_of(obj, self.tenant_path()))

    def has_view_permission(self, request, obj=None):
        decided = self._decide(request, self.view_role, obj)
        return super().has_view_permission(request, obj) if decided is None else decided

    def has_add_permission(self, request):
        decided = self._decide(request, self.write_role, None)
        return super().has_add_permission(request) if decided is None else decided

    def has_change_permission(self, request, obj=None):
        decided = self._decide(request, self.write_role, obj)
        return super().has_change_permission(request, obj) if decided is None else decided

    def has_delete_permission(self, request, obj=None):
        decided = self._decide(request, self.delete_role, obj)
        return super().has_delete_permission(request, obj) if decided is None else decided

    def has_module_permission(self, request):
        decided = self._decide(request, self.view_role, None)
        return super().has_module_permission(request) if decided is None else decided

    # -- lists, filters, autocomplete ---------------------------------------------------------------------------

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if staff_access(request).superuser or self.tenant_path() is None:
            return filters
        return [self._scoped_list_filter(entry) for entry in filters]

    def _scoped_list_filter(self, entry):
        """A related-field filter (``"organization"``, or with Django's ``RelatedFieldListFilter``) listing only the
        user's organizations' rows; any other filter as it is."""
        if isinstance(entry, str):
            name = entry
        elif isinstance(entry, list | tuple) and entry[1] is admin.RelatedFieldListFilter:
            name = entry[0]
        else:
            return entry
        try:
            field = get_fields_from_path(self.model, name)[-1]
        except (FieldDoesNotExist, NotRelationField):
            return entry
        if field.is_relation and tenant_path_of(field.related_model, self.admin_site) is not None:
            return (name, TenantRelatedFieldListFilter)
        return entry

    def _autocomplete_role(self, request):
        """For the autocomplete endpoint: the role the *source* form needs (``_UNSET`` elsewhere, or when the
        source is not a tenant admin: the rows are then those the user may view)."""
        match = getattr(request, "resolver_match", None)
        if match is None or match.url_name != "autocomplete":
            return _UNSET
        try:
            source = apps.get_model(request.GET.get("app_label", ""), request.GET.get("model_name", ""))
        except (LookupError, ValueError):
            return _UNSET
        source_admin = self.admin_site._registry.get(source)
        return source_admin.write_role if isinstance(source_admin, TenantRules) else _UNSET

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        role = self._autocomplete_role(request)
        if role is not _UNSET:
            queryset = self.scope_queryset(request, queryset, role)
        return queryset, may_have_duplicates

    # -- actions ------------------------------------------------------------------------------------------------

    def action_role(self, name: str) -> str | None:
        if name == "delete_selected":
            return self.delete_role
        return self.action_roles.get(name, self.write_role)

    def get_actions(self, request):
        actions = super().get_actions(request)
        access = staff_access(request)
        if access.superuser or self.tenant_path() is None:
            return actions
        return {
            name: (self._guarded_action(func, name, self.action_role(name)), action_name, description)
            for name, (func, action_name, description) in actions.items()
            if access.allows(self.action_role(name), ANY)
        }

    def _guarded_action(self, func, name: str, role: str | None):
        """``func`` run only on rows of organizations where the user holds ``role``; if any selected row is of
        another organization, nothing runs (the queryset is already the user's rows: ``get_queryset``)."""

        @functools.wraps(func)
        def guarded(model_admin, request, queryset):
            if not queryset.exists():  # ids of no row of the user's (another organization's, or gone)
                self.message_user(
                    request,
                    "Items must be selected in order to perform actions on them. No items have been changed.",
                    messages.WARNING,
                )
                return None
            organizations = staff_access(request).organizations(role)
            lookup = organization_lookup(self.tenant_path())
            if role is None or queryset.exclude(**{lookup: organizations}).exists():
                self.message_user(
                    request,
                    f"Nothing changed: your role does not allow “{name.replace('_', ' ')}” on every selected row.",
                    messages.ERROR,
                )
                return None
            return func(model_admin, request, queryset.filter(**{lookup: organizations}))

        return guarded

    # -- saving -------------------------------------------------------------------------------------------------

    def save_form(self, request, form, change):
        obj = super().save_form(request, form, change)
        organization_id = organization_id_of(obj, self.tenant_path())
        decided = self._role_decides(request, self.write_role, organization_id)
        if decided is False and organization_id is not None:
            raise PermissionDenied
        return obj


class TenantInlineMixin(TenantRules):
    """``TenantAdminMixin`` for an inline: the role in the *parent* row's organization decides; its rows and
    choices are scoped alike. ``delete_role`` defaults to ``write_role`` (an inline row is part of its parent's
    configuration)."""

    delete_role = _UNSET

    def _parent_decides(self, request, role, parent):
        path = tenant_path_of(self.parent_model, self.admin_site)
        if path is None:
            return None
        organization = ANY if parent is None else organization_id_of(parent, path)
        return self._role_decides(request, role, organization)

    def _delete_role(self):
        return self.write_role if self.delete_role is _UNSET else self.delete_role

    def has_view_permission(self, request, obj=None):
        decided = self._parent_decides(request, self.view_role, obj)
        return super().has_view_permission(request, obj) if decided is None else decided

    def has_add_permission(self, request, obj):
        decided = self._parent_decides(request, self.write_role, obj)
        return super().has_add_permission(request, obj) if decided is None else decided

    def has_change_permission(self, request, obj=None):
        decided = self._parent_decides(request, self.write_role, obj)
        return super().has_change_permission(request, obj) if decided is None else decided

    def has_delete_permission(self, request, obj=None):
        decided = self._parent_decides(request, self._delete_role(), obj)
        return super().has_delete_permission(request, obj) if decided is None else decided


# --- actions that ask why ------------------------------------------------------------------------------------

REASONS_LISTED = 20


class ActionReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70, "class": "vLargeTextField"}),
        help_text="Kept in the admin's history of each row changed.",
    )

    def __init__(self, *args, required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["reason"]
        field.required = required
        if not required:
            field.label = "Note (optional)"


def action_reason(model_admin, request, queryset, *, verb: str, required: bool = True):
    """The reason an action asks for before it runs: the confirmation page (Django's admin style: the rows, a
    reason field, "Yes, I'm sure"), or the reason once that page was posted valid (``""`` for an optional one
    left empty). The action returns the page when this returns one:

        reason = action_reason(self, request, queryset, verb="Reject")
        if not isinstance(reason, str):
            return reason
    """
    form = ActionReasonForm(confirmed_post(request), required=required)
    if form.is_bound and form.is_valid():
        return form.cleaned_data["reason"].strip()
    opts = model_admin.model._meta
    count = queryset.count()
    shown = list(queryset[:REASONS_LISTED])
    select_across = request.POST.get("select_across") == "1"
    # Every selected row again (``select_across``: the list's filters, in the URL the page posts to, select them).
    selected = (
        request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if select_across
        else [obj.pk for obj in shown]
        if count == len(shown)
        else list(queryset.values_list("pk", flat=True))
    )
    noun = opts.verbose_name if count == 1 else opts.verbose_name_plural
    return action_page(
        model_admin,
        request,
        "admin/organizations/action_reason.html",
        title=f"{verb} {count} {noun}?",
        form=form,
        selected=selected,
        verb=verb,
        objects=shown,
        more=count - len(shown),
        select_across=select_across,
    )


def confirmed_post(request):
    """The posted data of an action's own page once it was confirmed (its hidden ``post=yes``), else ``None``:
    the list's first post of the action only opens the page."""
    return request.POST if request.POST.get("post") == "yes" else None


def action_page(model_admin, request, template: str, *, title: str, form, selected, default_action: str = "", **extra):
    """An action's own page (a reason to confirm, an adjustment, a correction): the admin's context, the page's
    ``form`` and the hidden inputs that post it back to the list with the same action and ``selected`` rows
    (``admin/organizations/action_form.html``), plus the page's ``extra`` context."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "form": form,
        "action": request.POST.get("action", default_action),
        "selected": selected,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": model_admin.media,
        **extra,
    }
    return TemplateResponse(request, template, context)


def log_action(model_admin, request, objects, message: str, reason: str = "") -> None:
    """One admin history entry per row an action changed (``message``, and the reason given), in one query."""
    objects = list(objects)
    if not objects:
        return
    text = f"{message} Reason: {reason}" if reason else message
    LogEntry.objects.log_actions(
        user_id=request.user.pk, queryset=objects, action_flag=CHANGE, change_message=text[:2000]
    )


# --- organizations, members and API keys ---------------------------------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(OrganizationTimesMixin, TenantAdminMixin, admin.ModelAdmin):
    """Members see their organizations; creating, editing and deleting organizations is for superusers."""

    organization_path = ""
    write_role = None
    list_display = ["name", "slug", "timezone", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "modified_at"]


@admin.register(Membership)
class MembershipAdmin(OrganizationTimesMixin, TenantAdminMixin, admin.ModelAdmin):
    """Who is a member of which organization, with which role; managed by the organization's admins (and
    superusers). A membership never moves (user and organization are fixed once saved: delete it and add
    another), and nobody but a superuser changes or removes their own. The users offered are the members of the
    admin's organizations and the active staff of no organization yet (a superuser creates users); never the
    members of other organizations only."""

    write_role = Role.ADMIN
    delete_role = Role.ADMIN
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name", "organization__name"]
    autocomplete_fields = ["organization"]
    fields = ["user", "organization", "role", "created_at", "modified_at"]
    readonly_fields = ["created_at", "modified_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "user", "organization"] if obj else self.readonly_fields

    def _own(self, request, obj) -> bool:
        return obj is not None and obj.user_id == request.user.pk and not staff_access(request).superuser

    def has_change_permission(self, request, obj=None):
        return not self._own(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._own(request, obj) and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        access = staff_access(request)
        if db_field.name == "user" and formfield is not None and not access.superuser:
            mine = Membership.objects.filter(organization_id__in=access.organizations(self.write_role))
            formfield.queryset = formfield.queryset.filter(
                Q(pk__in=mine.values("user_id")) | (~Q(pk__in=Membership.objects.values("user_id")) & Q(is_staff=True)),
                is_active=True,
                is_superuser=False,
            )
        return formfield


class ApiKeyForm(forms.ModelForm):
    """Scopes as checkboxes, saved as the same JSON list (in ``ApiKeyScope`` order)."""

    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="read: the GET endpoints; metrics:write: POST /distributors/credit-metric.",
        error_messages={"required": "Choose at least one scope."},
    )

    class Meta:
        model = ApiKey
        fields = ["organization", "name", "scopes"]

    def clean_scopes(self):
        chosen = set(self.cleaned_data["scopes"])
        return [scope for scope in ApiKeyScope.values if scope in chosen]


@admin.display(description="scopes")
def api_key_scopes(api_key: ApiKey) -> str:
    return ", ".join(api_key.scopes) or EMPTY


@admin.register(ApiKey)
class ApiKeyAdmin(StatusHistoryMixin, OrganizationTimesMixin, TenantAdminMixin, admin.ModelAdmin):
    """Organization admins create and revoke their organizations' keys (deleting one is for superusers)."""

    form = ApiKeyForm
    list_display = ["name", "prefix", "organization", api_key_scopes, "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "organization"]
    list_select_related = ["organization"]
    search_fields = ["name", "prefix", "organization__name"]
    autocomplete_fields = ["organization"]
    # Revocation is one-way and goes through the action: a revoked key is never brought back by an edit.
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "name", "scopes"]
        return ["organization", "name", "scopes", "prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (["organization"] if obj else [])

    def get_changeform_initial_data(self, request):
        return {"scopes": [ApiKeyScope.READ], **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created, secret = api_key_create(organization=obj.organization, name=obj.name, scopes=obj.scopes)
        obj.pk, obj.prefix, obj.key_hash = created.pk, created.prefix, created.key_hash
        messages.warning(
            request,
            f"API key created. Copy it now; it is shown only once and stored only as a hash: {secret}",
        )

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request, queryset):
        reason = action_reason(self, request, queryset, verb="Revoke")
        if not isinstance(reason, str):
            return reason
        revoked = api_keys_revoke(
            api_key_ids=list(queryset.values_list("pk", flat=True)),
            reason=reason,
            actor=f"staff:{request.user.get_username()}",
        )
        log_action(self, request, revoked, "Revoked.", reason)
        self.message_user(request, f"Revoked {len(revoked)} key(s).")


# --- Django's users and groups, under the same rule (they belong to no organization: Django's permissions) -----


class UserAdmin(TenantAdminMixin, auth_admin.UserAdmin):
    """Django's user admin. Users belong to no organization: superusers (and staff a superuser gave Django's
    user permissions) manage them; organization admins manage memberships instead."""


class GroupAdmin(TenantAdminMixin, auth_admin.GroupAdmin):
    """Django's group admin (Django's permissions decide; a group grants nothing on organizations' rows)."""


for _model, _admin_class in ((User, UserAdmin), (Group, GroupAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
