"""Scope checks. Every API view needs a key; each action names the scope it needs (``read`` by default).

A missing or invalid key is a 401; a valid key without the scope is a 403 (the key is known, the action is
refused). Tenancy is not a permission: another organization's rows are simply not in the queryset (404).
"""

from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from organizations.models import ApiKeyScope

DEFAULT_SCOPE = ApiKeyScope.READ.value


def required_scope(view) -> str:
    """The scope an action needs: ``view.action_scopes[action]``, else ``view.required_scope``, else read."""
    action = getattr(view, "action", None)
    scopes = getattr(view, "action_scopes", None) or {}
    return scopes.get(action) or getattr(view, "required_scope", DEFAULT_SCOPE)


class HasApiKeyScope(BasePermission):
    def has_permission(self, request, view) -> bool:
        api_key = request.auth
        if api_key is None:
            raise exceptions.NotAuthenticated("Authentication required: send 'Authorization: Bearer <api key>'.")
        scope = required_scope(view)
        if not api_key.has_scope(scope):
            raise exceptions.PermissionDenied(f"This API key lacks the '{scope}' scope.")
        return True
