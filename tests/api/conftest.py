"""Fixtures of the API tests: an organization with a key and a client, a second organization."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from organizations.models import Organization
from tests.api.helpers import client_for
from tests.factories import ApiKeyFactory, OrganizationFactory


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def organization(db) -> Organization:
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def other_organization(db) -> Organization:
    return OrganizationFactory(name="Globex", slug="globex")


@pytest.fixture
def api_key(organization):
    return ApiKeyFactory(organization=organization, scopes=["read", "metrics:write"])


@pytest.fixture
def api(api_key) -> APIClient:
    """A client of ``organization`` with both scopes."""
    return client_for(api_key)


@pytest.fixture
def other_api(other_organization) -> APIClient:
    """A client of ``other_organization``."""
    return client_for(ApiKeyFactory(organization=other_organization))


@pytest.fixture
def anon() -> APIClient:
    return APIClient()
