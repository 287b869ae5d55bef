"""Organizations and API keys in the admin: scopes as checkboxes saved as the same JSON list; times in the
organization's zone."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from organizations.models import ApiKey, ApiKeyScope
from tests.factories import ApiKeyFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:organizations_apikey_add")


def _checkboxes(page: str) -> dict[str, bool]:
    """Scope checkbox → checked."""
    boxes = re.findall(r'<input type="checkbox" name="scopes" value="([^"]+)"([^>]*)>', page)
    return {value: "checked" in rest for value, rest in boxes}


def test_the_add_form_offers_every_scope_as_a_checkbox_read_checked(admin_client):
    assert _checkboxes(admin_client.get(ADD).content.decode()) == {"read": True, "metrics:write": False}
    assert set(ApiKeyScope.values) == {"read", "metrics:write"}


@pytest.mark.parametrize(
    ("checked", "stored"),
    [
        (["read"], ["read"]),
        (["metrics:write"], ["metrics:write"]),
        (["metrics:write", "read"], ["read", "metrics:write"]),  # stored in the scopes' order
    ],
)
def test_scopes_round_trip_as_the_json_list(checked, stored, admin_client):
    organization = OrganizationFactory()
    response = admin_client.post(ADD, {"organization": organization.pk, "name": "ci", "scopes": checked})
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    key = ApiKey.objects.get()
    assert key.scopes == stored
    assert ApiKey.objects.filter(pk=key.pk).values_list("scopes", flat=True).get() == stored  # a JSON list

    change = reverse("admin:organizations_apikey_change", args=[key.pk])
    shown = _checkboxes(admin_client.get(change).content.decode())
    assert shown == {scope: scope in stored for scope in ApiKeyScope.values}

    # Edited: the other set of boxes.
    other = [scope for scope in ApiKeyScope.values if scope not in stored] or ["read"]
    response = admin_client.post(change, {"name": "ci", "scopes": other})
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    key.refresh_from_db()
    assert key.scopes == other


@pytest.mark.parametrize(
    ("scopes", "message"),
    [([], "Choose at least one scope."), (["admin"], "Select a valid choice"), ('["read"]', "Select a valid choice")],
    ids=["none", "unknown", "json-text"],
)
def test_scopes_that_are_not_a_choice_are_a_form_error(scopes, message, admin_client):
    organization = OrganizationFactory()
    response = admin_client.post(ADD, {"organization": organization.pk, "name": "ci", "scopes": scopes})
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["scopes"])
    assert not ApiKey.objects.exists()


def test_api_key_times_are_in_the_organizations_zone(admin_client):
    key = ApiKeyFactory(organization=OrganizationFactory(timezone="Europe/Paris"), scopes=["read", "metrics:write"])
    ApiKey.objects.filter(pk=key.pk).update(
        created_at=datetime(2026, 9, 29, 22, tzinfo=UTC), last_used_at=datetime(2026, 12, 31, 23, tzinfo=UTC)
    )
    listing = admin_client.get(reverse("admin:organizations_apikey_changelist")).content.decode()
    assert "2026-09-30 00:00 CEST" in listing and "2027-01-01 00:00 CET" in listing
    assert "read, metrics:write" in listing
    change = admin_client.get(reverse("admin:organizations_apikey_change", args=[key.pk])).content.decode()
    assert "2026-09-30 00:00:00 CEST (Europe/Paris)" in change
