"""Obligations under concurrency (PostgreSQL, READ COMMITTED): each thread has its own connection."""

from datetime import UTC, datetime

import pytest

from distributions.models import Distribution
from distributions.services import obligations_transition_and_follow
from events.models import Event
from obligations.models import Fulfillment, Obligation, Payout
from obligations.services import fulfillment_generate, obligations_release_held, obligations_transition
from tests.factories import AllocationFactory, CollaboratorFactory, DistributionFactory, DistributorFactory
from tests.races import Race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_generate_run_waiting_for_another_batches_nothing_twice(org, make_obligation):
    collaborators = [CollaboratorFactory(organization=org) for _ in range(5)]
    for index in range(40):
        make_obligation(collaborators[index % 5], 100)

    with Race() as race:
        first = race.hold(fulfillment_generate, organization=org)  # batched, not committed: the rows locked
        others = [race.thread(fulfillment_generate, organization=org) for _ in range(5)]
        race.wait_until_blocked(*others)  # each waits for the first's row locks
        first.release()

    assert [other.result for other in others] == [None] * 5  # they re-read the rows: already in a payout
    assert list(Fulfillment.objects.all()) == [first.result]
    assert Obligation.objects.filter(payout__isnull=True).count() == 0
    assert sum(Payout.objects.values_list("amount", flat=True)) == 40 * 100


def test_closing_the_last_two_obligations_concurrently_completes_the_distribution():
    """``distributions_follow_obligations`` once computed "has an open obligation" in the same statement that took
    the distribution's row lock. Two staff closing the two open obligations of one distribution at the same
    time: the second waits for the first's lock, then decides with the snapshot its statement took before the
    first committed, still sees the first obligation open, and leaves the distribution ``processing`` for ever
    although none of its obligations is open (a distribution is complete once none is pending or approved)."""
    distributor = DistributorFactory()
    distribution = DistributionFactory(distributor=distributor, status="processing", pool=300, value=300)
    first, second = (
        AllocationFactory(
            distribution=distribution,
            collaborator=CollaboratorFactory(organization=distributor.organization),
            value=150,
        ).obligation_id
        for _ in range(2)
    )

    with Race() as race:
        holder = race.hold(obligations_transition_and_follow, obligation_ids=[first], status="cancelled")
        closing = race.thread(obligations_transition_and_follow, obligation_ids=[second], status="cancelled")
        race.wait_until_blocked(closing)  # on the distribution's row lock the first still holds
        holder.release()

    distribution.refresh_from_db()
    assert distribution.status == "complete"
    assert Distribution.objects.filter(pk=distribution.pk, allocations__obligation__status="cancelled").count() == 2


def _held_distribution_obligations(count: int) -> list[int]:
    from datetime import UTC, datetime

    distributor = DistributorFactory()
    distribution = DistributionFactory(
        distributor=distributor, status="processing", pool=100 * count, value=100 * count
    )
    return [
        AllocationFactory(
            distribution=distribution,
            collaborator=CollaboratorFactory(organization=distributor.organization),
            value=100,
            obligation__release_at=datetime(2026, 3, 1, tzinfo=UTC),
        ).obligation_id
        for _ in range(count)
    ]


def test_the_release_skips_an_obligation_staff_hold_and_never_waits():
    ids = _held_distribution_obligations(4)
    as_of = datetime(2026, 3, 2, tzinfo=UTC)
    with Race() as race:
        staff = race.hold(obligations_transition, obligation_ids=[ids[0]], status="rejected")  # row locked
        release = race.thread(obligations_release_held, as_of=as_of)
        release.join(timeout=30)
        assert not release.is_alive()  # it skipped the locked row instead of waiting for it
        staff.release()
    assert release.result == 3
    assert dict(Obligation.objects.filter(pk__in=ids).values_list("pk", "status")) == {
        ids[0]: "rejected",
        **dict.fromkeys(ids[1:], "approved"),
    }


def test_two_releases_at_once_approve_each_obligation_once():
    ids = _held_distribution_obligations(6)
    as_of = datetime(2026, 3, 2, tzinfo=UTC)
    with Race() as race:
        first = race.hold(obligations_release_held, as_of=as_of)  # released, not committed: the rows locked
        second = race.thread(obligations_release_held, as_of=as_of)
        second.join(timeout=30)
        first.release()
    assert (first.result, second.result) == (6, 0)
    assert Obligation.objects.filter(pk__in=ids, status="approved").count() == 6
    assert Event.objects.filter(type="obligation.approved").count() == 6
