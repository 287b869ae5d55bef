from django.contrib import admin

from collaborators.models import Collaborator, CollaboratorAlias


class CollaboratorAliasInline(admin.TabularInline):
    model = CollaboratorAlias
    fields = ["type", "code"]
    extra = 0


@admin.register(Collaborator)
class CollaboratorAdmin(admin.ModelAdmin):
    list_display = ["full_name", "nickname", "email", "status", "organization", "created_at"]
    list_filter = ["status", "organization"]
    list_select_related = ["organization"]
    search_fields = ["full_name", "nickname", "email", "aliases__code"]
    autocomplete_fields = ["organization"]
    inlines = [CollaboratorAliasInline]


@admin.register(CollaboratorAlias)
class CollaboratorAliasAdmin(admin.ModelAdmin):
    list_display = ["__str__", "collaborator", "organization"]
    list_filter = ["type", "organization"]
    list_select_related = ["collaborator", "organization"]
    search_fields = ["code", "collaborator__full_name"]
    autocomplete_fields = ["collaborator"]
    fields = ["collaborator", "type", "code"]
