import pytest

from tests.factories import CollaboratorFactory, ObligationFactory, OrganizationFactory


@pytest.fixture
def org(db):
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def ada(org):
    return CollaboratorFactory(organization=org, full_name="Ada Lovelace", email="ada@example.com")


@pytest.fixture
def make_obligation(org):
    def make(collaborator, value=1000, units="USD", status="approved", **extra):
        return ObligationFactory(
            organization=org, collaborator=collaborator, value=value, units=units, status=status, **extra
        )

    return make
