from django.contrib import admin, messages

from organizations.models import ApiKey, ApiKeyScope, Organization
from organizations.services import api_key_create


class ReadOnlyAdminMixin:
    """Rows written only by services (the engine, crediting): staff look, never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "organization", "scopes", "created_at", "last_used_at", "revoked_at"]
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
        return {"scopes": [ApiKeyScope.READ]}

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
        from django.utils import timezone

        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).")
