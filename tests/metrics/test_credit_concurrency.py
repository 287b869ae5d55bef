"""Concurrent crediting on PostgreSQL: each thread or process has its own connection and transaction.

A credit's instant decides its period, so a credit stamped inside a period must commit before that period's
scores are read. ``metric_credit`` share-locks the open periods before stamping: a trigger already holding
the period makes the credit wait (a real-time credit then falls in the next period; a back-dated one into
the closed period is refused, never written where it cannot count), and a trigger that comes while a credit
holds the period skips it until the next heartbeat.
"""

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from distributions import trigger
from distributions.models import Distribution
from distributions.services import distribution_open_first
from metrics.models import CreditRequest, CreditSource, MetricCredit
from metrics.services import metric_credit
from tests.factories import CollaboratorFactory, DistributorFactory
from tests.races import Race, run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JANUARY_15 = datetime(2026, 1, 15, tzinfo=UTC)
FEBRUARY_15 = datetime(2026, 2, 15, tzinfo=UTC)


def test_twenty_concurrent_credits_are_all_counted(org, collaborator):
    distributor = DistributorFactory(organization=org, metric_types={"sale": 3})

    results = run_together(
        20,
        lambda i: metric_credit(
            organization=org, collaborator=collaborator, metric_type="sale", quantity=i + 1, source=CreditSource.API
        ),
    )

    assert not any(outcome.replayed for outcome in results)
    assert MetricCredit.objects.filter(distributor=distributor).count() == 20
    assert sum(MetricCredit.objects.values_list("points", flat=True)) == 3 * sum(range(1, 21))


def test_requests_with_one_idempotency_key_wait_for_the_first_and_replay_it(org, collaborator):
    DistributorFactory(organization=org, metric_types={"sale": 5})

    def credit():
        return metric_credit(
            organization=org,
            collaborator=collaborator,
            metric_type="sale",
            quantity=2,
            source=CreditSource.API,
            idempotency_key="same-key",
        )

    with Race() as race:
        first = race.hold(credit)  # written, not committed: its request row holds the key
        repeats = [race.thread(credit) for _ in range(9)]
        race.wait_until_blocked(*repeats)  # each waits on the first's uncommitted key
        first.release()

    assert not first.result.replayed
    assert all(repeat.result.replayed for repeat in repeats)
    assert {repeat.result.request.pk for repeat in repeats} == {first.result.request.pk}
    assert all(repeat.result.credits == first.result.credits for repeat in repeats)
    assert CreditRequest.objects.count() == 1
    assert MetricCredit.objects.count() == 1
    assert MetricCredit.objects.get().points == 10


# -- credits racing the heartbeat -----------------------------------------------------------------------------


@pytest.fixture
def open_period():
    distributor = DistributorFactory(starts_at=datetime(2026, 1, 1, tzinfo=UTC))
    collaborator = CollaboratorFactory(organization=distributor.organization)
    return distribution_open_first(distributor=distributor), collaborator


def trigger_the_due_period():
    """What one heartbeat step does: lock the oldest due distribution and trigger it (in the caller's transaction)."""
    due = trigger.distribution_lock_next_due(as_of=FEBRUARY_15)
    assert due is not None, "nothing was due"
    return trigger.distribution_trigger(distribution=due)


def test_a_credit_waits_for_a_running_trigger_and_never_lands_in_the_closed_period(open_period):
    distribution, collaborator = open_period
    with Race() as race:
        heartbeat = race.hold(trigger_the_due_period)  # January triggered, not committed
        # A separate process, as a real credit would be: it must wait for the trigger to commit.
        credit = race.process(
            "credit_metric",
            "--organization",
            collaborator.organization.slug,
            "--collaborator",
            str(collaborator.pk),
            "--at",
            JANUARY_15.isoformat(),
        )
        race.wait_until_blocked(credit)
        heartbeat.release()
        credit.wait()

    assert heartbeat.result.distribution.pk == distribution.pk
    assert credit.returncode != 0
    assert "already distributed" in credit.stderr, credit.stderr
    assert not MetricCredit.objects.exists()


def test_a_trigger_skips_a_period_a_credit_is_being_written_into(open_period):
    distribution, collaborator = open_period
    with Race() as race:
        credit = race.hold(  # written, not committed: it holds the distributor against a trigger
            metric_credit,
            organization=collaborator.organization,
            collaborator=collaborator,
            source=CreditSource.COMMAND,
            now=JANUARY_15,
        )
        # A heartbeat meanwhile must skip the period, not wait for the credit (the race fails if it is still alive).
        heartbeat = race.thread(
            call_command, "run_distributions", "--now", FEBRUARY_15.isoformat(), stdout=io.StringIO()
        )
        race.finish(heartbeat, timeout=30)
        distribution.refresh_from_db()
        assert distribution.status == "pending"
        credit.release()
    call_command("run_distributions", "--now", FEBRUARY_15.isoformat(), stdout=io.StringIO())
    distribution.refresh_from_db()
    assert distribution.status == "processing"  # triggered, with the credit's share (its obligation pending)
    # The credit counted in the period it was stamped in.
    assert list(distribution.allocations.values_list("collaborator_id", "score")) == [(collaborator.pk, 1)]
    assert Distribution.objects.filter(distributor=distribution.distributor, status="pending").count() == 1
