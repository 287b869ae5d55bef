"""The fixtures shared by every test folder (each defined here once), and the PostgreSQL-only skip.

Organizations: ``org`` (slug ``acme``, UTC) and ``other_org`` (slug ``other``); the API tests call them
``organization`` and ``other_organization`` (the very same rows). Collaborators of ``org``: ``ada``, ``alan``,
and ``collaborator`` (Ada). Builders: ``make_distributor`` (with its first pending period),
``make_collaborators``, ``make_obligation``, ``make_triggered``; ``triggered`` is a processing distribution
owing Ada and Alan. API: ``api_key`` (both scopes) of ``org``, its client ``api``, ``other_api`` of
``other_org``, ``anon``. Factories are in ``tests/factories.py``; race helpers in ``tests/races.py``.
"""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from distributions.services import distribution_open_first
from organizations.models import Organization
from tests.api.helpers import client_for
from tests.factories import (
    AllocationFactory,
    ApiKeyFactory,
    CollaboratorFactory,
    DistributionFactory,
    DistributorFactory,
    ObligationFactory,
    OrganizationFactory,
)


def pytest_collection_modifyitems(config, items):
    """Skip ``@pytest.mark.postgres`` tests, with the reason, when the database is not PostgreSQL."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(
        reason=f"needs PostgreSQL (row locks, concurrent connections); running on {connection.vendor}"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# --- organizations -------------------------------------------------------------------------------------------


@pytest.fixture
def org(db) -> Organization:
    return OrganizationFactory(slug="acme", name="Acme", timezone="UTC")


@pytest.fixture
def other_org(db) -> Organization:
    return OrganizationFactory(slug="other", name="Other", timezone="UTC")


@pytest.fixture
def organization(org) -> Organization:
    """``org``, by the name the API tests use."""
    return org


@pytest.fixture
def other_organization(other_org) -> Organization:
    """``other_org``, by the name the API tests use."""
    return other_org


# --- collaborators -------------------------------------------------------------------------------------------


@pytest.fixture
def ada(org):
    return CollaboratorFactory(organization=org, full_name="Ada Lovelace", email="ada@example.com")


@pytest.fixture
def alan(org):
    return CollaboratorFactory(organization=org, full_name="Alan Turing", email="alan@example.com")


@pytest.fixture
def collaborator(ada):
    """One collaborator of ``org`` (Ada), for tests that need just one."""
    return ada


@pytest.fixture
def make_collaborators(org):
    def make(count: int, organization=None):
        return [CollaboratorFactory(organization=organization or org) for _ in range(count)]

    return make


# --- distributors, distributions, obligations ----------------------------------------------------------------


@pytest.fixture
def make_distributor(org):
    """A distributor (DistributorFactory defaults: monthly from 2026-01-01 UTC, fixed 100000 USD, proportional,
    counting ``manual`` at 1 point) with its first pending period (2026-01-01, 2026-02-01]."""

    def make(**fields):
        fields.setdefault("organization", org)
        distributor = DistributorFactory(**fields)
        distribution_open_first(distributor=distributor)
        return distributor

    return make


@pytest.fixture
def make_obligation(org):
    def make(collaborator, value=1000, units="USD", status="approved", **extra):
        return ObligationFactory(
            organization=org, collaborator=collaborator, value=value, units=units, status=status, **extra
        )

    return make


@pytest.fixture
def make_triggered(org):
    """``make_triggered((collaborator, value), ...)``: a triggered (processing) USD distribution of a new
    distributor of ``org``, with one allocation and pending obligation per pair, ranked in the given order."""

    def make(*owed):
        total = sum(value for _, value in owed)
        distribution = DistributionFactory(
            distributor=DistributorFactory(organization=org), status="processing", pool=total, value=total
        )
        for rank, (collaborator, value) in enumerate(owed, start=1):
            AllocationFactory(distribution=distribution, collaborator=collaborator, value=value, rank=rank)
        return distribution

    return make


@pytest.fixture
def triggered(make_triggered, ada, alan):
    """A triggered USD distribution owing 12.34 to Ada and 5.00 to Alan (obligations pending)."""
    return make_triggered((ada, 1234), (alan, 500))


# --- API keys and clients ------------------------------------------------------------------------------------


@pytest.fixture
def api_key(org):
    return ApiKeyFactory(organization=org, scopes=["read", "metrics:write"])


@pytest.fixture
def api(api_key) -> APIClient:
    """A client of ``org`` with both scopes."""
    return client_for(api_key)


@pytest.fixture
def other_api(other_org) -> APIClient:
    """A client of ``other_org``."""
    return client_for(ApiKeyFactory(organization=other_org))


@pytest.fixture
def anon() -> APIClient:
    return APIClient()
