from django.db import models
from django.db.models.functions import Lower

from lifecycle import LifecycleModelMixin, StatusLifecycle
from organizations.models import Organization


class CollaboratorStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    PENDING = "pending"
    REJECTED = "rejected"
    DELETED = "deleted"


class Collaborator(LifecycleModelMixin, models.Model):
    """Someone the organization pays (affiliate, creator, rep). Only ``active`` collaborators earn."""

    LIFECYCLE = StatusLifecycle(
        {
            CollaboratorStatus.PENDING: {
                CollaboratorStatus.ACTIVE,
                CollaboratorStatus.REJECTED,
                CollaboratorStatus.DELETED,
            },
            CollaboratorStatus.ACTIVE: {CollaboratorStatus.INACTIVE, CollaboratorStatus.DELETED},
            CollaboratorStatus.INACTIVE: {CollaboratorStatus.ACTIVE, CollaboratorStatus.DELETED},
            CollaboratorStatus.REJECTED: {CollaboratorStatus.PENDING, CollaboratorStatus.DELETED},
            CollaboratorStatus.DELETED: set(),
        }
    )

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="collaborators")
    full_name = models.CharField(max_length=200)
    nickname = models.CharField(max_length=100, blank=True)
    email = models.EmailField()
    status = models.CharField(max_length=16, choices=CollaboratorStatus.choices, default=CollaboratorStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["full_name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), "organization", name="collaborator_email_unique_per_org"),
            models.CheckConstraint(
                condition=models.Q(status__in=CollaboratorStatus.values), name="collaborator_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["organization", "status"], name="collab_org_status_idx")]

    def __str__(self) -> str:
        return self.full_name

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class CollaboratorAlias(models.Model):
    """An external code for a collaborator, written ``type:code`` (e.g. ``tracking:REF123``) in the API."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    collaborator = models.ForeignKey(Collaborator, on_delete=models.CASCADE, related_name="aliases")
    type = models.SlugField(max_length=50)
    code = models.CharField(max_length=200)

    class Meta:
        verbose_name_plural = "collaborator aliases"
        constraints = [
            models.UniqueConstraint(fields=["organization", "type", "code"], name="alias_unique_per_org"),
            models.CheckConstraint(condition=~models.Q(code=""), name="alias_code_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.type}:{self.code}"

    def save(self, *args, **kwargs):
        self.organization_id = self.collaborator.organization_id
        super().save(*args, **kwargs)
