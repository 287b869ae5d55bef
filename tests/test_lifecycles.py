"""Status lifecycles, generated from each model's ``LIFECYCLE`` declaration, and the services that move them."""

import copy
import pickle
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from collaborators.models import Collaborator
from distributions.models import Allocation, Distribution, DistributionStatus
from distributions.services import (
    distributor_save_with_periods,
    distributor_set_status_with_periods,
    obligations_transition_and_follow,
    payouts_mark_paid_and_follow,
    payouts_mark_unpaid_and_follow,
)
from distributors.models import Distributor, DistributorStatus
from lifecycle import IllegalTransition, LifecycleModelMixin
from obligations.models import Fulfillment, Obligation, ObligationStatus, Payout
from obligations.services import fulfillment_generate
from tests.factories import (
    DistributorFactory,
    ObligationFactory,
    OrganizationFactory,
)

LIFECYCLE_MODELS = [Collaborator, Distributor, Distribution, Obligation, Fulfillment, Payout]


def _statuses(model) -> list[str]:
    return [value for value, _ in model._meta.get_field("status").choices]


def _pairs(allowed: bool):
    for model in LIFECYCLE_MODELS:
        for current in _statuses(model):
            for target in _statuses(model):
                if (target in model.LIFECYCLE.allowed_from(current)) is allowed:
                    yield pytest.param(model, current, target, id=f"{model.__name__}:{current}->{target}")


def test_every_lifecycle_model_is_listed():
    from django.apps import apps

    declared = {model for model in apps.get_models() if issubclass(model, LifecycleModelMixin)}
    assert declared == set(LIFECYCLE_MODELS)


@pytest.mark.parametrize("model", LIFECYCLE_MODELS, ids=lambda m: m.__name__)
def test_lifecycle_declares_every_status_and_only_known_ones(model):
    statuses = set(_statuses(model))
    assert set(model.LIFECYCLE.moves) == statuses, "every status needs an entry (an empty set for a final state)"
    for current, targets in model.LIFECYCLE.moves.items():
        assert targets <= statuses, f"{current} moves to unknown statuses {targets - statuses}"
        assert current not in targets, f"{current} -> {current} is not a move"
    assert model._meta.get_field("status").default in statuses


@pytest.mark.parametrize(("model", "current", "target"), list(_pairs(allowed=True)))
def test_allowed_move(model, current, target):
    instance = model(status=current)
    assert instance.can_transition_to(target)
    instance.transition_to(target)
    assert instance.status == target


@pytest.mark.parametrize(("model", "current", "target"), list(_pairs(allowed=False)))
def test_disallowed_move(model, current, target):
    instance = model(status=current)
    assert not instance.can_transition_to(target)
    with pytest.raises(IllegalTransition) as excinfo:
        instance.transition_to(target)
    assert instance.status == current
    error = excinfo.value
    assert isinstance(error, ValidationError)
    assert (error.current, error.target, error.code) == (current, target, "illegal_transition")
    message = error.messages[0]
    assert model.__name__ in message
    assert f"from '{current}' to '{target}'" in message
    allowed_part = message.split("allowed from", 1)[1]
    allowed = model.LIFECYCLE.allowed_from(current)
    for status in allowed:
        assert status in allowed_part
    for status in set(_statuses(model)) - allowed - {current}:
        assert f" {status}" not in allowed_part.split(":", 1)[1], f"{status} is not an allowed move"
    if not allowed:
        assert "final state" in allowed_part


# --- distributors.services ---------------------------------------------------------------------------


def _pending(distributor) -> list[Distribution]:
    return list(Distribution.objects.filter(distributor=distributor, status=DistributionStatus.PENDING))


@pytest.fixture
def open_distributor(db):
    return distributor_save_with_periods(distributor=DistributorFactory())


@pytest.mark.django_db
def test_deleting_a_distributor_cancels_its_pending_distribution(open_distributor):
    (pending,) = _pending(open_distributor)
    distributor_set_status_with_periods(distributor=open_distributor, status=DistributorStatus.DELETED)
    pending.refresh_from_db()
    assert pending.status == DistributionStatus.CANCELLED
    assert Distributor.objects.get(pk=open_distributor.pk).status == DistributorStatus.DELETED
    assert open_distributor.status == DistributorStatus.DELETED
    assert _pending(open_distributor) == []


@pytest.mark.django_db
def test_deleting_an_inactive_distributor_cancels_its_pending_distribution(open_distributor):
    (pending,) = _pending(open_distributor)
    distributor_set_status_with_periods(distributor=open_distributor, status=DistributorStatus.INACTIVE)
    distributor_set_status_with_periods(distributor=open_distributor, status=DistributorStatus.DELETED)
    pending.refresh_from_db()
    assert pending.status == DistributionStatus.CANCELLED


@pytest.mark.django_db
def test_inactive_keeps_the_pending_distribution_and_reactivating_keeps_it(open_distributor):
    (pending,) = _pending(open_distributor)
    distributor_set_status_with_periods(distributor=open_distributor, status=DistributorStatus.INACTIVE)
    assert _pending(open_distributor) == [pending]
    distributor_set_status_with_periods(distributor=open_distributor, status=DistributorStatus.ACTIVE)
    assert _pending(open_distributor) == [pending]
    assert Distribution.objects.filter(distributor=open_distributor).count() == 1


@pytest.mark.django_db
def test_activating_a_distributor_that_never_had_a_period_opens_one():
    distributor = distributor_save_with_periods(distributor=DistributorFactory(status=DistributorStatus.INACTIVE))
    assert not Distribution.objects.filter(distributor=distributor).exists()
    distributor_set_status_with_periods(distributor=distributor, status=DistributorStatus.ACTIVE)
    (pending,) = _pending(distributor)
    assert pending.period_start == distributor.starts_at


@pytest.mark.django_db
def test_illegal_distributor_move_changes_nothing(open_distributor):
    distributor_set_status_with_periods(distributor=open_distributor, status=DistributorStatus.DELETED)
    with pytest.raises(IllegalTransition, match="final state"):
        distributor_set_status_with_periods(distributor=open_distributor, status=DistributorStatus.ACTIVE)
    assert Distributor.objects.get(pk=open_distributor.pk).status == DistributorStatus.DELETED
    assert _pending(open_distributor) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("timezone", "starts_at", "trigger_date"),
    [
        # Mid-month start in Paris: first of next month, local midnight (CET, UTC+1).
        ("Europe/Paris", datetime(2026, 1, 15, 10, tzinfo=UTC), datetime(2026, 1, 31, 23, tzinfo=UTC)),
        # Starting exactly on a trigger instant: strictly after, and across the March DST change (CEST).
        ("Europe/Paris", datetime(2026, 2, 28, 23, tzinfo=UTC), datetime(2026, 3, 31, 22, tzinfo=UTC)),
        # 03:00 UTC on 1 March is still 28 February in New York.
        ("America/New_York", datetime(2026, 3, 1, 3, tzinfo=UTC), datetime(2026, 3, 1, 5, tzinfo=UTC)),
        ("UTC", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
    ],
)
def test_distributor_save_opens_the_first_period(timezone, starts_at, trigger_date):
    organization = OrganizationFactory(timezone=timezone)
    distributor = DistributorFactory.build(organization=organization, schedule="monthly", starts_at=starts_at)
    distributor_save_with_periods(distributor=distributor)
    (pending,) = _pending(distributor)
    assert (pending.period_start, pending.trigger_date) == (starts_at, trigger_date)
    assert pending.organization_id == organization.pk
    # Saving again does not open a second period.
    distributor_save_with_periods(distributor=distributor)
    assert Distribution.objects.filter(distributor=distributor).count() == 1


@pytest.mark.django_db
def test_distributor_save_refuses_an_invalid_distributor_and_writes_nothing():
    distributor = DistributorFactory.build(organization=OrganizationFactory(), schedule="FREQ=MINUTELY")
    with pytest.raises(ValidationError) as excinfo:
        distributor_save_with_periods(distributor=distributor)
    assert "schedule" in excinfo.value.message_dict
    assert not Distributor.objects.exists()
    assert not Distribution.objects.exists()


@pytest.mark.django_db
def test_distributor_save_inactive_opens_no_period():
    distributor = distributor_save_with_periods(distributor=DistributorFactory(status=DistributorStatus.INACTIVE))
    assert not Distribution.objects.filter(distributor=distributor).exists()


# --- obligations.services ----------------------------------------------------------------------------


@pytest.fixture
def triggered_three(make_triggered, make_collaborators):
    """A processing distribution with three pending distribution obligations (of 10.00 each), in rank order."""
    distribution = make_triggered(*((collaborator, 1000) for collaborator in make_collaborators(3)))
    return distribution, [allocation.obligation for allocation in distribution.allocations.order_by("rank")]


def _with_shown(rows):
    shown = dict(rows.values_list("pk", "obligation__status"))
    return [(a, shown[a.pk]) for a in rows.select_related("obligation")]


def _state(distribution):
    distribution.refresh_from_db()
    rows = Allocation.objects.filter(distribution=distribution).order_by("obligation_id")
    # The allocation's status is its obligation's, read as the API reads it (through the allocation).
    return distribution.status, [(a.obligation.status, shown) for a, shown in _with_shown(rows)]


def test_obligations_transition_moves_all_and_mirrors_allocations(triggered_three):
    distribution, obligations = triggered_three
    moved = obligations_transition_and_follow(
        obligation_ids=[o.pk for o in obligations], status=ObligationStatus.APPROVED
    )
    assert sorted(o.pk for o in moved) == sorted(o.pk for o in obligations)
    assert _state(distribution) == (DistributionStatus.PROCESSING, [("approved", "approved")] * 3)


def test_obligations_transition_moves_none_when_one_is_illegal(triggered_three):
    distribution, (first, second, third) = triggered_three
    obligations_transition_and_follow(obligation_ids=[third.pk], status=ObligationStatus.CANCELLED)
    before = _state(distribution)
    modified = {o.pk: o.modified_at for o in Obligation.objects.all()}
    with pytest.raises(IllegalTransition) as excinfo:
        obligations_transition_and_follow(
            obligation_ids=[first.pk, second.pk, third.pk], status=ObligationStatus.APPROVED
        )
    assert "'cancelled' to 'approved'" in excinfo.value.messages[0]
    assert _state(distribution) == before
    assert before[1] == [("pending", "pending"), ("pending", "pending"), ("cancelled", "cancelled")]
    assert {o.pk: o.modified_at for o in Obligation.objects.all()} == modified


def test_distribution_follows_its_obligations(triggered_three):
    distribution, (first, second, third) = triggered_three
    obligations_transition_and_follow(obligation_ids=[first.pk], status=ObligationStatus.REJECTED)
    assert _state(distribution)[0] == DistributionStatus.PROCESSING
    obligations_transition_and_follow(obligation_ids=[second.pk], status=ObligationStatus.APPROVED)
    obligations_transition_and_follow(obligation_ids=[third.pk], status=ObligationStatus.CANCELLED)
    assert _state(distribution)[0] == DistributionStatus.PROCESSING  # second is still approved
    obligations_transition_and_follow(obligation_ids=[second.pk], status=ObligationStatus.CANCELLED)
    assert _state(distribution) == (
        DistributionStatus.COMPLETE,
        [("rejected", "rejected"), ("cancelled", "cancelled"), ("cancelled", "cancelled")],
    )


def test_distribution_completes_when_paid_and_reopens_when_a_payout_is_taken_back(triggered_three):
    distribution, obligations = triggered_three
    obligations_transition_and_follow(obligation_ids=[o.pk for o in obligations], status=ObligationStatus.APPROVED)
    fulfillment = fulfillment_generate(organization=distribution.organization)
    payouts = list(fulfillment.payouts.all())
    payouts_mark_paid_and_follow(payouts=payouts)
    assert _state(distribution) == (DistributionStatus.COMPLETE, [("fulfilled", "fulfilled")] * 3)
    payouts_mark_unpaid_and_follow(payouts=payouts[:1])
    status, rows = _state(distribution)
    assert status == DistributionStatus.PROCESSING
    assert sorted(rows) == [("approved", "approved"), ("fulfilled", "fulfilled"), ("fulfilled", "fulfilled")]


def test_manual_obligations_move_without_a_distribution(db):
    obligation = ObligationFactory()
    obligations_transition_and_follow(obligation_ids=[obligation.pk], status=ObligationStatus.APPROVED)
    obligation.refresh_from_db()
    assert obligation.status == ObligationStatus.APPROVED


def test_obligations_transition_never_moves_to_or_from_fulfilled(triggered_three):
    """'fulfilled' is reached and left only through payouts; the service refuses and changes nothing."""
    distribution, (first, *_) = triggered_three
    obligations_transition_and_follow(obligation_ids=[first.pk], status=ObligationStatus.APPROVED)
    before = _state(distribution)
    with pytest.raises(ValidationError):
        obligations_transition_and_follow(obligation_ids=[first.pk], status=ObligationStatus.FULFILLED)
    assert _state(distribution) == before

    fulfillment = fulfillment_generate(organization=distribution.organization)
    payouts_mark_paid_and_follow(payouts=list(fulfillment.payouts.all()))
    before = _state(distribution)
    with pytest.raises(ValidationError):
        obligations_transition_and_follow(obligation_ids=[first.pk], status=ObligationStatus.APPROVED)
    assert _state(distribution) == before


@pytest.mark.parametrize("clone", [copy.copy, copy.deepcopy, lambda e: pickle.loads(pickle.dumps(e))])
def test_illegal_transition_survives_copy_and_pickle(clone):
    error = IllegalTransition("Obligation", "cancelled", "approved", frozenset())
    cloned = clone(error)
    assert isinstance(cloned, IllegalTransition)
    assert (cloned.current, cloned.target, cloned.code) == ("cancelled", "approved", "illegal_transition")
    assert cloned.messages == error.messages
