"""The engine's behaviour, period by period: pools, scores, splits, rollover, catch-up, time zones, statuses.

Most tests drive the real heartbeat (``run_distributions --now …``); the statement-count tests call the
trigger service directly.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from collaborators.models import CollaboratorStatus
from distributions import trigger
from distributions.models import Allocation, Distribution, DistributionStatus
from distributions.services import distributor_set_status_with_periods
from distributors.models import DistributorStatus, Eligibility
from obligations.models import AwardType, Obligation
from tests.distributions.helpers import (
    APR_1,
    FEB_1,
    JAN_1,
    MAR_1,
    allocations_of,
    at,
    credit,
    pending,
    run_engine,
    triggered,
)
from tests.factories import DistributionFactory, MetricCreditFactory, RevenueEntryFactory

pytestmark = pytest.mark.django_db


def test_three_collaborators_share_the_pool_by_score(make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=100_000)
    ada, bob, cy = make_collaborators(3)
    credit(ada, distributor, 500, at("2026-01-10T12:00:00Z"))
    credit(bob, distributor, 200, at("2026-01-11T12:00:00Z"))
    credit(bob, distributor, 100, at("2026-01-20T12:00:00Z"))
    credit(cy, distributor, 200, at("2026-01-12T12:00:00Z"))

    summary = run_engine("--now", "2026-02-01T00:00:00Z")  # exactly the trigger date: due

    assert summary["counts"] == {"triggered": 1, "opened": 1, "skipped": 0, "errors": 0}
    [distribution] = triggered(distributor)
    assert (distribution.status, distribution.pool, distribution.value, distribution.unallocated) == (
        DistributionStatus.PROCESSING,
        100_000,
        100_000,
        0,
    )
    assert distribution.triggered_at is not None
    assert allocations_of(distribution) == [
        (ada.pk, 50_000, 500, 1),
        (bob.pk, 30_000, 300, 2),
        (cy.pk, 20_000, 200, 3),
    ]
    for allocation in Allocation.objects.filter(distribution=distribution).select_related("obligation"):
        obligation = allocation.obligation
        assert (obligation.collaborator_id, obligation.value, obligation.units) == (
            allocation.collaborator_id,
            allocation.value,
            "USD",
        )
        assert obligation.award_type == AwardType.DISTRIBUTION
        assert obligation.status == "pending"
        assert obligation.organization_id == distribution.organization_id
    following = pending(distributor)
    assert (following.period_start, following.trigger_date, following.rolled_over) == (FEB_1, MAR_1, 0)


def test_a_credit_after_the_trigger_date_but_before_the_heartbeat_lands_in_the_next_period(
    make_distributor, make_collaborators
):
    distributor = make_distributor()
    ada, bob, cy = make_collaborators(3)
    credit(ada, distributor, 10, at("2026-01-15T00:00:00Z"))
    credit(cy, distributor, 10, FEB_1)  # on the trigger instant: (start, trigger] includes it
    credit(bob, distributor, 10, FEB_1 + timedelta(seconds=1))  # the heartbeat has not run yet

    run_engine("--now", "2026-02-01T00:05:00Z")
    [january] = triggered(distributor)
    assert [row[:2] for row in allocations_of(january)] == [(ada.pk, 50_000), (cy.pk, 50_000)]

    run_engine("--now", "2026-03-01T00:00:00Z")
    january, february = triggered(distributor)
    assert allocations_of(february) == [(bob.pk, 100_000, 10, 1)]


def test_equal_split_of_an_indivisible_pool(make_distributor, make_collaborators):
    distributor = make_distributor(distribution_resolver="sharedEngagementPool", pool_amount=100)
    low, high, middle = make_collaborators(3)
    credit(low, distributor, 1, at("2026-01-02T00:00:00Z"))
    credit(high, distributor, 5, at("2026-01-03T00:00:00Z"))
    credit(middle, distributor, 3, at("2026-01-04T00:00:00Z"))

    run_engine("--now", "2026-02-01T00:00:00Z")

    [distribution] = triggered(distributor)
    # 100 / 3 = 33 each and one unit left, which goes first in tie-break order (the higher score).
    assert allocations_of(distribution) == [(high.pk, 34, 5, 1), (middle.pk, 33, 3, 2), (low.pk, 33, 1, 3)]
    assert distribution.value == 100 and distribution.unallocated == 0


@pytest.mark.parametrize(
    ("tie_policy", "expected"),
    [
        # Split: the two tied leaders share 1001; the odd unit goes to the earlier first credit.
        ("split", [("early", 501, 1), ("late", 500, 1)]),
        # Earliest: the earlier first credit takes everything.
        ("earliest", [("early", 1001, 1)]),
    ],
)
def test_top_score_wins_with_a_tie(make_distributor, make_collaborators, tie_policy, expected):
    distributor = make_distributor(distribution_resolver="topScoreWins", tie_policy=tie_policy, pool_amount=1001)
    late, early, third = make_collaborators(3)  # 'late' has the lower id: the first credit decides, not the id
    credit(early, distributor, 20, at("2026-01-05T00:00:00Z"))
    credit(late, distributor, 50, at("2026-01-06T00:00:00Z"))
    credit(early, distributor, 30, at("2026-01-07T00:00:00Z"))
    credit(third, distributor, 10, at("2026-01-01T00:00:01Z"))

    run_engine("--now", "2026-02-01T00:00:00Z")

    [distribution] = triggered(distributor)
    names = {early.pk: "early", late.pk: "late", third.pk: "third"}
    assert [(names[c], value, rank) for c, value, _, rank in allocations_of(distribution)] == expected
    assert distribution.value == 1001


def test_an_empty_period_without_rollover_leaves_the_pool_unallocated(make_distributor):
    distributor = make_distributor(pool_amount=100_000, rollover_unearned=False)

    run_engine("--now", "2026-02-01T00:00:00Z")

    [distribution] = triggered(distributor)
    assert (distribution.status, distribution.pool, distribution.value) == (DistributionStatus.COMPLETE, 100_000, 0)
    assert (distribution.unallocated, distribution.carried_forward) == (100_000, 0)
    assert not Obligation.objects.exists()
    assert pending(distributor).rolled_over == 0


def test_an_empty_period_with_rollover_carries_the_pool_into_the_next(make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=100_000, rollover_unearned=True)
    [ada] = make_collaborators(1)

    run_engine("--now", "2026-02-01T00:00:00Z")

    [january] = triggered(distributor)
    assert (january.status, january.value, january.unallocated, january.carried_forward) == (
        DistributionStatus.COMPLETE,
        0,
        0,
        100_000,
    )
    assert pending(distributor).rolled_over == 100_000

    credit(ada, distributor, 1, at("2026-02-10T00:00:00Z"))
    run_engine("--now", "2026-03-01T00:00:00Z")

    _, february = triggered(distributor)
    assert (february.rolled_over, february.pool, february.value, february.carried_forward) == (
        100_000,
        200_000,
        200_000,
        0,
    )
    assert allocations_of(february) == [(ada.pk, 200_000, 1, 1)]
    assert pending(distributor).rolled_over == 0


def test_top_n_places_nobody_filled_roll_over(make_distributor, make_collaborators):
    distributor = make_distributor(
        distribution_resolver="topN", top_n_weights=[50, 30, 20], pool_amount=1000, rollover_unearned=True
    )
    ada, bob = make_collaborators(2)
    credit(ada, distributor, 9, at("2026-01-02T00:00:00Z"))
    credit(bob, distributor, 4, at("2026-01-03T00:00:00Z"))

    run_engine("--now", "2026-02-01T00:00:00Z")

    [distribution] = triggered(distributor)
    assert allocations_of(distribution) == [(ada.pk, 500, 9, 1), (bob.pk, 300, 4, 2)]
    assert (distribution.value, distribution.unallocated, distribution.carried_forward) == (800, 0, 200)
    assert pending(distributor).rolled_over == 200


def test_three_missed_months_are_caught_up_oldest_first(make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=1000)
    ada, bob = make_collaborators(2)
    credit(ada, distributor, 10, at("2026-01-20T00:00:00Z"))
    credit(bob, distributor, 10, at("2026-02-20T00:00:00Z"))
    credit(ada, distributor, 30, at("2026-03-20T00:00:00Z"))
    credit(bob, distributor, 10, at("2026-03-21T00:00:00Z"))

    summary = run_engine("--now", "2026-04-15T09:00:00Z")

    assert [d["trigger_date"] for d in summary["distributions"]] == [
        "2026-02-01T00:00:00Z",
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
    ]
    january, february, march = triggered(distributor)
    assert [d.period_start for d in (january, february, march)] == [JAN_1, FEB_1, MAR_1]
    assert january.pk < february.pk < march.pk
    assert january.triggered_at <= february.triggered_at <= march.triggered_at
    assert allocations_of(january) == [(ada.pk, 1000, 10, 1)]
    assert allocations_of(february) == [(bob.pk, 1000, 10, 1)]
    assert allocations_of(march) == [(ada.pk, 750, 30, 1), (bob.pk, 250, 10, 2)]
    following = pending(distributor)
    assert (following.period_start, following.trigger_date) == (APR_1, at("2026-05-01T00:00:00Z"))


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York"])
def test_monthly_periods_end_at_local_midnight_across_a_dst_change(org, make_distributor, make_collaborators, zone):
    org.timezone = zone
    org.save()
    local = ZoneInfo(zone)
    march_1, april_1, may_1 = (datetime(2026, month, 1, tzinfo=local) for month in (3, 4, 5))
    assert march_1.utcoffset() != april_1.utcoffset()  # the period crosses the spring-forward change
    distributor = make_distributor(starts_at=datetime(2026, 2, 1, tzinfo=local))
    assert pending(distributor).trigger_date == march_1
    ada, bob, cy = make_collaborators(3)
    half_hour = timedelta(minutes=30)
    credit(ada, distributor, 1, march_1 - half_hour)  # last local day of February
    credit(bob, distributor, 1, march_1 + half_hour)  # first local half hour of March
    credit(ada, distributor, 1, april_1 - half_hour)  # 23:30 local on March 31 (summer time)
    credit(cy, distributor, 1, april_1 + half_hour)  # 00:30 local on April 1: April

    run_engine("--now", april_1.isoformat())

    february, march = triggered(distributor)
    assert [d.trigger_date for d in (february, march)] == [march_1, april_1]
    for distribution in (february, march):
        local_trigger = distribution.trigger_date.astimezone(local)
        assert (local_trigger.day, local_trigger.hour, local_trigger.minute) == (1, 0, 0)
    assert [row[0] for row in allocations_of(february)] == [ada.pk]
    assert sorted(row[0] for row in allocations_of(march)) == [ada.pk, bob.pk]
    assert (pending(distributor).period_start, pending(distributor).trigger_date) == (april_1, may_1)

    run_engine("--now", may_1.isoformat())
    assert [row[0] for row in allocations_of(triggered(distributor)[-1])] == [cy.pk]


def test_an_inactive_distributor_is_not_triggered_and_catches_up_once_reactivated(make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=1000)
    [ada] = make_collaborators(1)
    credit(ada, distributor, 5, at("2026-01-10T00:00:00Z"))
    distributor_set_status_with_periods(distributor=distributor, status=DistributorStatus.INACTIVE)

    summary = run_engine("--now", "2026-03-15T00:00:00Z")

    assert summary["counts"]["triggered"] == 0
    assert triggered(distributor) == []
    assert pending(distributor).trigger_date == FEB_1

    distributor_set_status_with_periods(distributor=distributor, status=DistributorStatus.ACTIVE)
    summary = run_engine("--now", "2026-03-15T00:00:00Z")

    assert summary["counts"]["triggered"] == 2
    january, february = triggered(distributor)
    assert allocations_of(january) == [(ada.pk, 1000, 5, 1)]
    assert (february.status, february.unallocated) == (DistributionStatus.COMPLETE, 1000)
    assert pending(distributor).trigger_date == APR_1


def test_a_deleted_distributor_is_never_triggered(make_distributor):
    distributor = make_distributor()
    distributor_set_status_with_periods(distributor=distributor, status=DistributorStatus.DELETED)

    assert run_engine("--now", "2026-06-01T00:00:00Z")["counts"] == {
        "triggered": 0,
        "opened": 0,
        "skipped": 0,
        "errors": 0,
    }
    assert list(Distribution.objects.values_list("status", flat=True)) == [DistributionStatus.CANCELLED]


def test_a_collaborator_made_inactive_before_the_trigger_does_not_earn(make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=1000)
    ada, bob = make_collaborators(2)
    credit(ada, distributor, 10, at("2026-01-10T00:00:00Z"))
    credit(bob, distributor, 90, at("2026-01-11T00:00:00Z"))
    bob.transition_to(CollaboratorStatus.INACTIVE)
    bob.save()

    run_engine("--now", "2026-02-01T00:00:00Z")

    [distribution] = triggered(distributor)
    assert allocations_of(distribution) == [(ada.pk, 1000, 10, 1)]


def test_selected_eligibility_counts_only_the_selected_collaborators(make_distributor, make_collaborators):
    ada, bob = make_collaborators(2)
    distributor = make_distributor(pool_amount=1000, eligibility=Eligibility.SELECTED)
    distributor.eligible_collaborators.set([ada])
    credit(ada, distributor, 10, at("2026-01-10T00:00:00Z"))
    # bob was credited while selected, then taken off the list: he no longer earns.
    MetricCreditFactory(distributor=distributor, collaborator=bob, quantity=50, credited_at=at("2026-01-11T00:00:00Z"))

    run_engine("--now", "2026-02-01T00:00:00Z")

    assert allocations_of(triggered(distributor)[0]) == [(ada.pk, 1000, 10, 1)]


def test_a_revenue_share_pool_is_a_share_of_the_period_revenue_in_the_distributor_units(
    org, make_distributor, make_collaborators
):
    distributor = make_distributor(pool_resolver="revenueShare", pool_percent_bp=1000, pool_amount=0)
    [ada] = make_collaborators(1)
    credit(ada, distributor, 1, at("2026-01-10T00:00:00Z"))
    for amount, when, units in [
        (10_000, "2026-01-05T00:00:00Z", "USD"),
        (5_005, "2026-02-01T00:00:00Z", "USD"),  # on the trigger instant: in
        (7_000, "2026-01-01T00:00:00Z", "USD"),  # on the period start: previous period
        (9_000, "2026-02-01T00:00:01Z", "USD"),  # next period
        (8_000, "2026-01-06T00:00:00Z", "EUR"),  # other units
    ]:
        RevenueEntryFactory(organization=org, amount=amount, occurred_at=at(when), units=units)

    run_engine("--now", "2026-02-01T00:00:00Z")

    [distribution] = triggered(distributor)
    assert distribution.pool == 1500  # 10 % of 15 005, rounded down
    assert allocations_of(distribution) == [(ada.pk, 1500, 1, 1)]


def test_obligations_start_approved_when_the_distributor_says_so(make_distributor, make_collaborators):
    distributor = make_distributor(obligation_start_status="approved")
    [ada] = make_collaborators(1)
    credit(ada, distributor, 1, at("2026-01-10T00:00:00Z"))

    run_engine("--now", "2026-02-01T00:00:00Z")

    [distribution] = triggered(distributor)
    assert distribution.status == DistributionStatus.PROCESSING
    assert list(Allocation.objects.values_list("obligation__status", flat=True)) == ["approved"]


def test_the_heartbeat_opens_the_missing_period_of_an_active_distributor(org, make_collaborators):
    from tests.factories import DistributorFactory

    distributor = DistributorFactory(organization=org)  # saved without its first period
    assert not Distribution.objects.exists()

    summary = run_engine("--now", "2026-01-15T00:00:00Z")

    opened = pending(distributor)
    assert (opened.period_start, opened.trigger_date) == (JAN_1, FEB_1)
    assert summary["opened"] == [
        {
            "distribution_id": opened.pk,
            "distributor_id": distributor.pk,
            "period_start": "2026-01-01T00:00:00Z",
            "trigger_date": "2026-02-01T00:00:00Z",
            "rolled_over": 0,
        }
    ]


def test_writing_a_plan_refuses_a_distribution_that_is_no_longer_pending(make_distributor):
    distributor = make_distributor()
    distribution = Distribution.objects.select_related("distributor__organization").get(distributor=distributor)
    stale = Distribution.objects.select_related("distributor__organization").get(pk=distribution.pk)
    trigger.distribution_trigger(distribution=distribution)

    with pytest.raises(trigger.DistributionAlreadyTriggered), transaction.atomic():
        trigger.distribution_trigger(distribution=stale)
    assert Distribution.objects.filter(distributor=distributor).count() == 2


def test_the_pool_must_be_accounted_for_in_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        DistributionFactory(status="complete", pool=100, value=60, unallocated=30, carried_forward=0)
    DistributionFactory(status="complete", pool=100, value=60, unallocated=30, carried_forward=10)


def _trigger_statements(make_distributor, make_collaborators, collaborators: int) -> int:
    distributor = make_distributor(pool_amount=1_000_003)
    for index, collaborator in enumerate(make_collaborators(collaborators), start=1):
        MetricCreditFactory(
            distributor=distributor, collaborator=collaborator, quantity=index, credited_at=at("2026-01-10T00:00:00Z")
        )
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        locked = trigger.distribution_lock_next_due(as_of=FEB_1, distributor_id=distributor.pk)
        outcome = trigger.distribution_trigger(distribution=locked)
    assert Allocation.objects.filter(distribution=outcome.distribution).count() == collaborators
    assert outcome.distribution.value == 1_000_003
    return len(queries)


def test_triggering_costs_the_same_statements_for_3_or_40_collaborators(make_distributor, make_collaborators):
    small = _trigger_statements(make_distributor, make_collaborators, 3)
    large = _trigger_statements(make_distributor, make_collaborators, 40)
    assert small == large


@pytest.mark.postgres
def test_on_postgresql_the_trigger_statement_count_does_not_grow_with_collaborators(
    make_distributor, make_collaborators
):
    small = _trigger_statements(make_distributor, make_collaborators, 2)
    large = _trigger_statements(make_distributor, make_collaborators, 400)
    # savepoint, lock the distribution, bound the wait (lock_timeout), lock the distributor, unbind, settings,
    # scores, one INSERT for obligations + allocations + their events, update, its status history (one INSERT),
    # the distributor's distributed_through, the distribution's event, next period, release
    assert small == large == 14


def test_an_active_distributor_left_without_a_pending_period_gets_the_next_one(make_distributor):
    distributor = make_distributor(rollover_unearned=True, pool_amount=300)
    run_engine("--now", "2026-02-01T00:00:00Z")
    pending(distributor).delete()  # e.g. removed by hand; the engine itself never leaves this state

    run_engine("--now", "2026-02-02T00:00:00Z")

    repaired = pending(distributor)
    assert (repaired.period_start, repaired.trigger_date, repaired.rolled_over) == (FEB_1, MAR_1, 300)


def test_the_heartbeat_reports_progress_including_the_periods_a_catch_up_adds(make_distributor):
    from distributions.heartbeat import heartbeat_run

    make_distributor()
    make_distributor()
    calls = []

    report = heartbeat_run(as_of=MAR_1, progress=lambda done, total: calls.append((done, total)))

    assert len(report.plans) == 4
    assert calls == [(1, 3), (2, 4), (3, 4), (4, 4)]


def test_a_trigger_closes_its_period_to_back_dated_credits(make_distributor, make_collaborators):
    """The trigger records its trigger date on the distributor, in the same transaction; from then on the
    crediting service refuses an instant in that period (it could never count) and accepts the next one."""
    from metrics.models import CreditSource
    from metrics.services import CreditRefused, metric_credit

    distributor = make_distributor(pool_amount=100)
    [ada] = make_collaborators(1)
    credit(ada, distributor, 5, at("2026-01-10T12:00:00Z"))
    assert distributor.distributed_through is None

    run_engine("--now", "2026-03-15T00:00:00Z")  # January and February triggered (catch-up)

    distributor.refresh_from_db()
    assert distributor.distributed_through == MAR_1
    kwargs = {"organization": distributor.organization, "collaborator": ada, "source": CreditSource.COMMAND}
    with pytest.raises(CreditRefused, match="already distributed") as refused:
        metric_credit(now=at("2026-02-20T00:00:00Z"), **kwargs)
    assert refused.value.field == "credited_at"
    assert metric_credit(now=MAR_1 + timedelta(seconds=1), **kwargs).total_points == 1
