import pytest

from tests.factories import AllocationFactory, ApiKeyFactory, MetricCreditFactory, PayoutFactory


@pytest.mark.django_db
def test_factories_build_a_consistent_graph():
    allocation = AllocationFactory()
    assert allocation.obligation.collaborator == allocation.collaborator
    assert allocation.organization == allocation.distribution.distributor.organization
    credit = MetricCreditFactory()
    assert credit.points == credit.quantity * credit.points_per_unit
    assert PayoutFactory().collaborator.organization == PayoutFactory._meta.model.objects.first().organization
    key = ApiKeyFactory()
    assert key.matches(key.secret) and key.secret not in key.key_hash
