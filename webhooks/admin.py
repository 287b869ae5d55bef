"""Webhook endpoints and deliveries in the admin.

- **Endpoints** (an organization's ``admin`` configures them): URL, description, the event types wanted (checkboxes
  from ``events.catalog``; none checked means every type), active flag. Creating one shows its signing secret
  once (a message, like an API key's); the "Rotate the signing secret" action shows the new one once, and the
  previous one keeps signing for ``WEBHOOKS_SECRET_OVERLAP_HOURS``. The secret itself is never on a page again.
  Saves go through ``webhooks.services`` (URL rules, reactivation clearing an automatic disabling).
- **Deliveries** are read-only: status, attempts, the next attempt, and each attempt (time, duration, status
  code, the first bytes of the answer or the error) inline. "Redeliver" queues the selected ones again (same
  ``webhook-id``; a failed one gets a new retry window), for the organization's ``admin``.

Every time is shown in the organization's zone, labelled (``organizations.admin.OrganizationTimesMixin``).
"""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from events.catalog import EVENT_TYPES
from events.selectors import event_representation
from organizations.admin import (
    EMPTY,
    BoundedInlineFormSet,
    OrganizationTimesInlineMixin,
    OrganizationTimesMixin,
    ReadOnlyAdminMixin,
    TenantAdminMixin,
    TenantInlineMixin,
    format_instant,
    log_action,
    zone_of,
)
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    deliveries_redeliver,
    endpoint_create,
    endpoint_rotate_secret,
    endpoint_save,
    endpoint_validate_url,
)

RESPONSE_SHOWN = 200  # characters of an answer shown in the attempts table (up to 1024 are kept)
ATTEMPTS_LISTED = 100


# --- endpoints -----------------------------------------------------------------------------------------------


class WebhookEndpointForm(forms.ModelForm):
    """Event types as checkboxes (the catalog, in its order), saved as the same JSON list; the URL checked by the
    service's rule (https unless ``WEBHOOKS_ALLOW_HTTP``), so a bad one is a form error, never a 500."""

    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="https:// (http:// only where WEBHOOKS_ALLOW_HTTP is on). It must resolve to public addresses; "
        "that is checked at every send.",
    )
    event_types = forms.MultipleChoiceField(
        choices=[(name, format_html("<code>{}</code> {}", name, text)) for name, text in EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None checked: every event type, including types added later.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["organization", "url", "description", "event_types", "active"]
        help_texts = {
            "active": "Untick to stop deliveries. Ticking it again clears an automatic disabling; the endpoint gets "
            "the events that occur while it is active, and its pending deliveries resume."
        }

    def clean_event_types(self):
        chosen = set(self.cleaned_data["event_types"])
        return [name for name in EVENT_TYPES if name in chosen]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            endpoint_validate_url(url)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["url"]) from exc
        return url


@admin.display(description="event types")
def endpoint_event_types(endpoint: WebhookEndpoint) -> str:
    if not endpoint.event_types:
        return "every type"
    if len(endpoint.event_types) <= 3:
        return ", ".join(endpoint.event_types)
    return f"{', '.join(endpoint.event_types[:2])} and {len(endpoint.event_types) - 2} more"


@admin.display(description="state")
def endpoint_state(endpoint: WebhookEndpoint):
    if not endpoint.active:
        label = "disabled automatically" if endpoint.disabled_at else "inactive"
        return format_html('<span style="color:var(--error-fg)">{}</span>', label)
    if endpoint.failing_since:
        return format_html('<span style="color:var(--message-warning-bg, #b58a00)">failing</span>')
    return "active"


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(OrganizationTimesMixin, TenantAdminMixin, admin.ModelAdmin):
    form = WebhookEndpointForm
    ordering = ["-id"]
    list_display = ["url", "organization", endpoint_state, endpoint_event_types, "failing_since", "created_at"]
    list_filter = ["active", "organization"]
    list_select_related = ["organization"]
    search_fields = ["url", "description", "organization__name"]
    autocomplete_fields = ["organization"]
    readonly_fields = [
        "deliveries_link",
        "previous_secret_expires_at",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "modified_at",
    ]
    actions = ["rotate_secret"]

    class Media:
        css = {"all": ["webhooks/endpoint_form.css"]}

    def get_fields(self, request, obj=None):
        if obj is None:  # a new endpoint is active; its secret is shown once it is saved
            return ["organization", "url", "description", "event_types"]
        return ["organization", "url", "description", "event_types", "active", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "organization"] if obj else self.readonly_fields

    @admin.display(description="deliveries")
    def deliveries_link(self, endpoint: WebhookEndpoint):
        url = reverse("admin:webhooks_webhookdelivery_changelist")
        return format_html(
            '<a href="{}?endpoint__id__exact={}">Its deliveries and their attempts</a>', url, endpoint.pk
        )

    def save_model(self, request, obj, form, change):
        if change:
            endpoint_save(endpoint=obj)
            return
        created, secret = endpoint_create(
            organization=obj.organization, url=obj.url, event_types=obj.event_types, description=obj.description
        )
        obj.pk, obj.secret, obj.created_at, obj.modified_at = created.pk, created.secret, created.created_at, None
        messages.warning(
            request,
            "Webhook endpoint created. Copy its signing secret now; it is shown only once: "
            f"{secret} (verify each delivery with it: standardwebhooks' Webhook(secret).verify).",
        )

    @admin.action(description="Rotate the signing secret (the previous one keeps signing for the overlap)")
    def rotate_secret(self, request, queryset):
        endpoints = list(queryset.select_related("organization").order_by("pk"))
        for endpoint in endpoints:
            secret = endpoint_rotate_secret(endpoint=endpoint)
            until = format_instant(endpoint.previous_secret_expires_at, zone_of(endpoint.organization), name=True)
            messages.warning(
                request,
                f"New signing secret of {endpoint.url} (endpoint {endpoint.pk}), shown only once: {secret}. "
                f"The previous secret keeps signing too until {until}.",
            )
        log_action(self, request, endpoints, "Rotated the signing secret.")


# --- deliveries and their attempts ---------------------------------------------------------------------------


class BoundedAttemptFormSet(BoundedInlineFormSet):
    def get_limit(self) -> int:
        return ATTEMPTS_LISTED

    def more_note(self) -> str:
        return f"The first {self.shown_count} of {self.total_count} attempts."


@admin.display(description="answer (first bytes) or error")
def attempt_answer(attempt: WebhookAttempt):
    text = attempt.error or attempt.response_body
    if not text:
        return EMPTY
    shown = text if len(text) <= RESPONSE_SHOWN else text[:RESPONSE_SHOWN] + "…"
    return format_html('<code title="{}" style="white-space:pre-wrap">{}</code>', text, shown)


@admin.display(description="duration")
def attempt_duration(attempt: WebhookAttempt) -> str:
    return f"{attempt.duration_ms} ms"


@admin.display(description="status code")
def attempt_status_code(attempt: WebhookAttempt) -> str:
    return str(attempt.status_code) if attempt.status_code is not None else "no answer"


class WebhookAttemptInline(OrganizationTimesInlineMixin, TenantInlineMixin, admin.TabularInline):
    model = WebhookAttempt
    formset = BoundedAttemptFormSet
    template = "admin/organizations/tabular_untitled.html"
    fields = ["attempted_at", attempt_duration, attempt_status_code, "succeeded", attempt_answer]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["attempted_at", "pk"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.display(description="endpoint", ordering="endpoint__url")
def delivery_endpoint(delivery: WebhookDelivery):
    return format_html(
        '<a href="{}">{}</a>',
        reverse("admin:webhooks_webhookendpoint_change", args=[delivery.endpoint_id]),
        delivery.endpoint.url,
    )


@admin.display(description="body sent")
def delivery_body(delivery: WebhookDelivery):
    body = json.dumps(event_representation(delivery.event), indent=2, ensure_ascii=False)
    return format_html('<pre style="margin:0;white-space:pre-wrap">{}</pre>', body)


@admin.display(description="webhook-id")
def delivery_webhook_id(delivery: WebhookDelivery) -> str:
    return f"evt_{delivery.event_id}"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, OrganizationTimesMixin, TenantAdminMixin, admin.ModelAdmin):
    ordering = ["-id"]
    list_display = [
        "id",
        "event_type",
        "object_key",
        delivery_endpoint,
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event_type", "organization"]
    list_select_related = ["endpoint", "organization"]
    search_fields = ["object_key", "endpoint__url"]
    fields = [
        delivery_endpoint,
        delivery_webhook_id,
        "event_type",
        "object_key",
        "status",
        "attempts",
        "next_attempt_at",
        "give_up_at",
        "last_attempt_at",
        "created_at",
        delivery_body,
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("_change"):
            queryset = queryset.select_related("endpoint", "event", "organization")
        return queryset

    @admin.action(description="Redeliver (the same webhook-id, due now)")
    def redeliver(self, request, queryset):
        deliveries = list(queryset.order_by("pk"))
        count = deliveries_redeliver(delivery_ids=[delivery.pk for delivery in deliveries])
        log_action(self, request, deliveries, "Queued for redelivery.")
        pending = sum(delivery.status == DeliveryStatus.PENDING for delivery in deliveries)
        note = f" ({pending} were still pending: now due at once)" if pending else ""
        self.message_user(
            request, f"{count} delivery(ies) queued again; the next deliver_webhooks run sends them{note}."
        )
