"""Four heartbeats started at once over fifty due distributions trigger each exactly once, and the result
equals a single run's (PostgreSQL: row locks with SKIP LOCKED)."""

from datetime import UTC, datetime, timedelta

import pytest

from distributions.models import Allocation, Distribution, EngineRun
from distributions.services import distribution_open_first
from metrics.models import CreditRequest, MetricCredit
from obligations.models import Obligation
from tests.factories import CollaboratorFactory, DistributorFactory, OrganizationFactory
from tests.proofs.helpers import assert_nothing_half_written, results_snapshot
from tests.races import Race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DISTRIBUTORS = 50
PROCESSES = 4


def build_fifty_due_distributions():
    organization = OrganizationFactory(slug="busy")
    collaborators = CollaboratorFactory.create_batch(6, organization=organization)
    request = CreditRequest.objects.create(
        organization=organization, request_fingerprint="f" * 64, source="command", created_at=datetime.now(UTC)
    )
    credits = []
    for n in range(DISTRIBUTORS):
        distributor = DistributorFactory(
            organization=organization,
            pool_amount=10_000 + 37 * n,
            starts_at=datetime(2026, 1, 1, tzinfo=UTC),
            schedule="monthly",
            distribution_resolver=["performanceSharedPool", "sharedEngagementPool", "topScoreWins"][n % 3],
        )
        distribution_open_first(distributor=distributor)
        for index, collaborator in enumerate(collaborators):
            credits.append(
                MetricCredit(
                    organization=organization,
                    request=request,
                    distributor=distributor,
                    collaborator=collaborator,
                    metric_type="manual",
                    quantity=1 + (n * 7 + index * 3) % 11,
                    points_per_unit=1,
                    points=1 + (n * 7 + index * 3) % 11,
                    credited_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=1 + index),
                )
            )
    MetricCredit.objects.bulk_create(credits)


def reset_engine_output():
    Allocation.objects.all().delete()
    Obligation.objects.all().delete()
    EngineRun.objects.all().delete()
    Distribution.objects.exclude(trigger_date=datetime(2026, 2, 1, tzinfo=UTC)).delete()
    Distribution.objects.update(status="pending", pool=None, value=0, unallocated=0, triggered_at=None)
    for field in ("carried_forward",):
        if hasattr(Distribution, field):
            Distribution.objects.update(**{field: 0})


def test_four_concurrent_heartbeats_trigger_each_distribution_once():
    build_fifty_due_distributions()
    now = "2026-02-15T00:00:00Z"  # one period (January) due for each of the fifty distributors

    with Race(timeout=300) as race:
        processes = [race.process("run_distributions", "--now", now, "--json") for _ in range(PROCESSES)]
    for process in processes:
        assert process.returncode == 0, process.stderr

    runs = list(EngineRun.objects.all())
    assert len(runs) == PROCESSES
    assert sum(run.triggered_count for run in runs) == DISTRIBUTORS
    assert (
        Distribution.objects.filter(trigger_date=datetime(2026, 2, 1, tzinfo=UTC)).exclude(status="pending").count()
        == DISTRIBUTORS
    )
    assert Distribution.objects.filter(status="pending").count() == DISTRIBUTORS
    assert Distribution.objects.count() == 2 * DISTRIBUTORS
    assert_nothing_half_written()
    concurrent = results_snapshot()

    reset_engine_output()
    with Race(timeout=300) as race:
        single = race.process("run_distributions", "--now", now, "--json")
    assert single.returncode == 0, single.stderr
    assert results_snapshot() == concurrent
    assert sum(v for _, _, _, v, _, _ in concurrent["shares"]) == sum(10_000 + 37 * n for n in range(DISTRIBUTORS))
