import hashlib
import hmac
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not an IANA time zone name (e.g. Europe/Paris).")


class Organization(models.Model):
    """The tenant. Every tenant-owned row carries its organization; schedules run in its time zone."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class ApiKeyScope(models.TextChoices):
    READ = "read", "read"
    METRICS_WRITE = "metrics:write", "metrics:write"


API_KEY_PREFIX_LENGTH = 12


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKey(models.Model):
    """A bearer credential of one organization. Only the SHA-256 of the key is stored.

    A key reads ``<prefix>.<secret>``; the prefix (shown in the admin) finds the row through an index and
    the hash of the whole key is compared in constant time.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200)
    scopes = models.JSONField(default=list, help_text="Any of: read, metrics:write.")
    prefix = models.CharField(max_length=API_KEY_PREFIX_LENGTH, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        indexes = [models.Index(fields=["organization", "revoked_at"], name="apikey_org_revoked_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def clean(self) -> None:
        valid = set(ApiKeyScope.values)
        if not isinstance(self.scopes, list) or not set(self.scopes) <= valid:
            raise ValidationError({"scopes": f"Scopes must be a list drawn from: {', '.join(sorted(valid))}."})

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(self.key_hash, hash_api_key(key))

    def issue_secret(self) -> str:
        """Give this (unsaved) key a fresh prefix and secret; return the full key, which is never stored."""
        self.prefix = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2)
        key = f"{self.prefix}.{secrets.token_urlsafe(32)}"
        self.key_hash = hash_api_key(key)
        return key

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()


class Role(models.TextChoices):
    """What a staff member may do in an organization; each role may do everything the ones before it may.

    - ``viewer`` reads;
    - ``operator`` also moves the money: approves, rejects, cancels, fulfils, pays, adjusts and corrects;
    - ``admin`` also configures: distributors, API keys, revenue entries, collaborators and members.
    """

    VIEWER = "viewer", "viewer"
    OPERATOR = "operator", "operator"
    ADMIN = "admin", "admin"

    @classmethod
    def rank(cls, role: str | None) -> int:
        """0 for no role (``None``), then 1, 2, 3 in the order above."""
        return 0 if role is None else [member.value for member in cls].index(role) + 1

    @classmethod
    def covers(cls, held: str | None, required: str | None) -> bool:
        """Whether holding ``held`` is enough for ``required`` (``None`` required: superusers only)."""
        return required is not None and held is not None and cls.rank(held) >= cls.rank(required)


class Membership(models.Model):
    """A staff user's role in one organization. A staff user sees and moves only the rows of the organizations
    they are a member of (superusers: every organization); see ``organizations.admin.TenantAdminMixin``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_per_user_organization"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]
        indexes = [models.Index(fields=["organization", "role"], name="membership_org_role_idx")]

    def __str__(self) -> str:
        return f"{self.user} ({self.role} of {self.organization})"
