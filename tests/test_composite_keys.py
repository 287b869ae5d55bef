"""The composite organization keys of obligations and allocations (``distributions`` migration 0008, PostgreSQL):
a row whose organization differs from its collaborator's (obligation) or its distribution's (allocation) is
refused at commit by the named key, and a row of the right organization is accepted as before."""

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import (
    AllocationFactory,
    CollaboratorFactory,
    DistributionFactory,
    ObligationFactory,
    OrganizationFactory,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _refused_by(name: str, write) -> None:
    """``write()`` then check every deferred key at once, inside a savepoint; the error must name ``name``."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        write()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert excinfo.value.__cause__.diag.constraint_name == name, excinfo.value


def test_the_composite_keys_exist_and_replace_the_plain_ones():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid::regclass::text IN ('obligations_obligation', 'distributions_allocation')"
        )
        keys = {(table, definition.split(" REFERENCES")[0]) for table, _, definition in cursor.fetchall()}
    assert ("obligations_obligation", "FOREIGN KEY (collaborator_id, organization_id)") in keys
    assert ("distributions_allocation", "FOREIGN KEY (distribution_id, organization_id)") in keys
    for table, column in [
        ("obligations_obligation", "organization_id"),
        ("obligations_obligation", "collaborator_id"),
        ("distributions_allocation", "organization_id"),
        ("distributions_allocation", "distribution_id"),
    ]:
        assert (table, f"FOREIGN KEY ({column})") not in keys, (table, column)


def test_an_obligation_of_another_organization_than_its_collaborator_is_refused():
    collaborator = CollaboratorFactory()
    other = OrganizationFactory()
    _refused_by(
        "obligation_collaborator_same_org_fk",
        lambda: ObligationFactory(collaborator=collaborator, organization=other),
    )
    ObligationFactory(collaborator=collaborator, organization=collaborator.organization)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_an_allocation_of_another_organization_than_its_distribution_is_refused():
    distribution = DistributionFactory()
    other = OrganizationFactory()

    def write():
        allocation = AllocationFactory(distribution=distribution)
        type(allocation).objects.filter(pk=allocation.pk).update(organization=other)

    _refused_by("allocation_distribution_same_org_fk", write)
