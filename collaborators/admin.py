from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from collaborators.models import Collaborator, CollaboratorAlias
from organizations.admin import OrganizationTimesMixin, TenantAdminMixin, TenantInlineMixin
from organizations.models import Role


def _alias_taken(*, organization_id: int | None, alias_type: str, code: str, exclude_pk: int | None) -> bool:
    return (
        CollaboratorAlias.objects.filter(organization_id=organization_id, type=alias_type, code=code)
        .exclude(pk=exclude_pk)
        .exists()
    )


class CollaboratorAliasForm(forms.ModelForm):
    """Checks ``type:code`` is free in the organization. The model form cannot: the alias's organization is
    its collaborator's, set on save, so it is not a form field and its unique constraint is skipped."""

    class Meta:
        model = CollaboratorAlias
        fields = ["collaborator", "type", "code"]

    def clean(self):
        cleaned = super().clean()
        collaborator, alias_type, code = cleaned.get("collaborator"), cleaned.get("type"), cleaned.get("code")
        if collaborator is not None and collaborator.organization_id and alias_type and code:
            taken = _alias_taken(
                organization_id=collaborator.organization_id,
                alias_type=alias_type,
                code=code,
                exclude_pk=self.instance.pk,
            )
            if taken:
                self.add_error("code", f"{alias_type}:{code} is already used in this organization.")
        return cleaned


class CollaboratorAliasFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            key = (form.cleaned_data.get("type"), form.cleaned_data.get("code"))
            if not all(key):
                continue
            if key in seen:
                raise ValidationError(f"{key[0]}:{key[1]} is listed twice.")
            seen.add(key)


class CollaboratorAliasInline(TenantInlineMixin, admin.TabularInline):
    model = CollaboratorAlias
    form = CollaboratorAliasForm
    formset = CollaboratorAliasFormSet
    fields = ["type", "code"]
    extra = 0


class CollaboratorForm(forms.ModelForm):
    def clean_status(self):
        status = self.cleaned_data["status"]
        current = self.instance.status
        if self.instance.pk and status != current:
            # Status moves follow the lifecycle (a deleted collaborator stays deleted).
            Collaborator.LIFECYCLE.check("Collaborator", current, status)
        return status


class CollaboratorAdmin(OrganizationTimesMixin, TenantAdminMixin, admin.ModelAdmin):
    """Registered by ``obligations.admin``, which adds the collaborator's earnings to the change page. Organization
    admins add and edit collaborators (a hard delete is for superusers: a collaborator is deleted by its status)."""

    form = CollaboratorForm
    list_display = ["full_name", "nickname", "email", "status", "organization", "created_at"]
    list_filter = ["status", "organization"]
    list_select_related = ["organization"]
    search_fields = ["full_name", "nickname", "email", "aliases__code"]
    autocomplete_fields = ["organization"]
    inlines = [CollaboratorAliasInline]

    def get_readonly_fields(self, request, obj=None):
        # A collaborator never changes tenant: its aliases, credits, obligations and payouts stay with it.
        return [*self.readonly_fields, "organization"] if obj else self.readonly_fields


@admin.register(CollaboratorAlias)
class CollaboratorAliasAdmin(TenantAdminMixin, admin.ModelAdmin):
    delete_role = Role.ADMIN
    form = CollaboratorAliasForm
    list_display = ["__str__", "collaborator", "organization"]
    list_filter = ["type", "organization"]
    list_select_related = ["collaborator", "organization"]
    search_fields = ["code", "collaborator__full_name"]
    autocomplete_fields = ["collaborator"]
    fields = ["collaborator", "type", "code"]
