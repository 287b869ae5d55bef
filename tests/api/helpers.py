"""Helpers of the API tests: authenticated clients and bulk seeding."""

from datetime import UTC, datetime, timedelta

from rest_framework.test import APIClient

from distributions.models import Allocation, Distribution, DistributionStatus
from distributors.models import Distributor
from obligations.models import AwardType, Obligation
from organizations.models import Organization
from tests.factories import CollaboratorFactory, DistributorFactory

BASE = "/api/v1"


def client_for(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    return client


def seed_distributions(
    organization: Organization, count: int, *, allocations_per: int = 2, distributor: Distributor | None = None
) -> list[Distribution]:
    """``count`` complete distributions of one distributor, each with ``allocations_per`` allocations, in bulk."""
    distributor = distributor or DistributorFactory(organization=organization)
    collaborators = [CollaboratorFactory(organization=organization) for _ in range(allocations_per)]
    start = datetime(2020, 1, 1, tzinfo=UTC)
    value = 100 * allocations_per
    distributions = Distribution.objects.bulk_create(
        Distribution(
            organization=organization,
            distributor=distributor,
            status=DistributionStatus.COMPLETE,
            period_start=start + timedelta(days=i),
            trigger_date=start + timedelta(days=i + 1),
            pool=value,
            value=value,
        )
        for i in range(count)
    )
    pairs = [(d, c) for d in distributions for c in collaborators]
    obligations = Obligation.objects.bulk_create(
        Obligation(
            organization=organization,
            collaborator=c,
            value=100,
            units=distributor.units,
            status="rejected",
            award_type=AwardType.DISTRIBUTION,
        )
        for d, c in pairs
    )
    Allocation.objects.bulk_create(
        Allocation(
            organization=organization,
            distribution=d,
            obligation=o,
            collaborator=c,
            value=100,
            score=max(10 - rank, 0),
            rank=rank + 1,
        )
        for ((d, c), o), rank in zip(
            zip(pairs, obligations, strict=True), [i % allocations_per for i in range(len(pairs))], strict=True
        )
    )
    return distributions
