from django.db import models
from django.db.models import Q

from events.models import Event
from organizations.models import Organization


class WebhookEndpoint(models.Model):
    """A URL of one organization that receives the events it subscribes to, signed per Standard Webhooks.

    ``secret`` signs every delivery (``whsec_…``, shown once when created or rotated). After a rotation the
    previous secret keeps signing too until ``previous_secret_expires_at`` (both signatures are sent), so a
    receiver can switch without losing a delivery. ``event_types`` empty means every type. An endpoint
    whose deliveries have failed since ``failing_since`` for ``WEBHOOKS_DISABLE_AFTER_DAYS`` is disabled
    (``disabled_at``, ``disabled_reason``); it receives the events that occur while it is active only.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "active"], name="webhookendpoint_org_active_idx")]

    def __str__(self) -> str:
        return f"Webhook endpoint {self.pk}: {self.url}"

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    """One event to one endpoint: retried with backoff until it succeeds or is given up (``failed``).

    ``object_key`` (the event's) keeps each object's events in order: a delivery is sent only when no earlier
    event of its object is still pending for the endpoint. ``claimed_until`` is a deliverer's short lease.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event_type = models.CharField(max_length=64)
    object_key = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    give_up_at = models.DateTimeField(help_text="Retried until then, then failed.")
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhookdelivery_one_per_endpoint_event"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="webhookdelivery_status_valid"),
            # A pending delivery is always due at some time (else it would never be sent: a lost event); a
            # finished one is due never.
            models.CheckConstraint(
                condition=Q(status=DeliveryStatus.PENDING, next_attempt_at__isnull=False)
                | (~Q(status=DeliveryStatus.PENDING) & Q(next_attempt_at__isnull=True)),
                name="webhookdelivery_next_attempt_matches_status",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status=DeliveryStatus.PENDING),
                name="webhookdelivery_due_idx",
            ),
            models.Index(fields=["endpoint", "object_key", "event"], name="webhookdelivery_object_idx"),
            models.Index(fields=["organization", "id"], name="webhookdelivery_org_id_idx"),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk}: {self.event_type} to endpoint {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: when, how long, the answer's status code and first bytes, or the error."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_attempts")
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    attempted_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["delivery", "attempted_at"], name="webhookattempt_delivery_idx")]

    def __str__(self) -> str:
        return f"Attempt {self.pk} of delivery {self.delivery_id}"
