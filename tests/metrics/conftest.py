import pytest

from tests.factories import CollaboratorFactory, OrganizationFactory


@pytest.fixture
def org():
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def collaborator(org):
    return CollaboratorFactory(organization=org, full_name="Ada Lovelace")
