import pytest

from tests.factories import (
    AllocationFactory,
    CollaboratorFactory,
    DistributionFactory,
    DistributorFactory,
    ObligationFactory,
    OrganizationFactory,
)


@pytest.fixture
def org(db):
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def ada(org):
    return CollaboratorFactory(organization=org, full_name="Ada Lovelace", email="ada@example.com")


@pytest.fixture
def alan(org):
    return CollaboratorFactory(organization=org, full_name="Alan Turing", email="alan@example.com")


@pytest.fixture
def triggered(org, ada, alan):
    """A triggered USD distribution owing 12.34 to Ada and 5.00 to Alan (obligations pending)."""
    distribution = DistributionFactory(
        distributor=DistributorFactory(organization=org), status="processing", pool=1734, value=1734
    )
    for collaborator, value in ((ada, 1234), (alan, 500)):
        AllocationFactory(distribution=distribution, collaborator=collaborator, value=value)
    return distribution


@pytest.fixture
def make_obligation(org):
    def make(collaborator, value=1000, units="USD", status="approved"):
        return ObligationFactory(organization=org, collaborator=collaborator, value=value, units=units, status=status)

    return make
