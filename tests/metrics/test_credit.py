"""metrics.services.metric_credit: where credits land, points, idempotency, refusals, traceability."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from collaborators.models import Collaborator
from collaborators.selectors import collaborator_resolve
from distributors.models import Distributor
from metrics.models import CreditRequest, CreditSource, MetricCredit
from metrics.services import CreditRefused, IdempotencyConflict, metric_credit
from tests.factories import (
    CollaboratorAliasFactory,
    CollaboratorFactory,
    DistributionFactory,
    DistributorFactory,
)

pytestmark = pytest.mark.django_db


def credit(org, collaborator, **kwargs):
    kwargs.setdefault("source", CreditSource.API)
    return metric_credit(organization=org, collaborator=collaborator, **kwargs)


def landed(outcome):
    return {c.distributor_id: c.points for c in outcome.credits}


def test_credit_lands_on_every_active_distributor_that_counts_the_type_and_the_collaborator_is_eligible_for(
    org, collaborator
):
    other = CollaboratorFactory(organization=org)
    all_active = DistributorFactory(organization=org, metric_types={"sale": 10})
    # allActive ignores the selection, even when other collaborators are selected.
    all_active.eligible_collaborators.add(other)
    selected_in = DistributorFactory(organization=org, eligibility="selected", metric_types={"sale": 3})
    selected_in.eligible_collaborators.add(collaborator, other)
    selected_out = DistributorFactory(organization=org, eligibility="selected", metric_types={"sale": 1})
    selected_out.eligible_collaborators.add(other)
    DistributorFactory(organization=org, status="inactive", metric_types={"sale": 1})
    DistributorFactory(organization=org, status="deleted", metric_types={"sale": 1})
    DistributorFactory(organization=org, metric_types={"signup": 1, "manual": 1})
    DistributorFactory(metric_types={"sale": 1})  # another organization

    outcome = credit(org, collaborator, metric_type="sale", quantity=2)

    assert landed(outcome) == {all_active.pk: 20, selected_in.pk: 6}
    assert outcome.total_points == 26
    assert not outcome.replayed
    rows = MetricCredit.objects.order_by("distributor_id")
    assert [(r.distributor_id, r.quantity, r.points_per_unit, r.points) for r in rows] == [
        (all_active.pk, 2, 10, 20),
        (selected_in.pk, 2, 3, 6),
    ]
    assert {r.collaborator_id for r in rows} == {collaborator.pk}
    assert {r.organization_id for r in rows} == {org.pk}


def test_distributor_id_restricts_the_credit_to_that_distributor(org, collaborator):
    first = DistributorFactory(organization=org)
    second = DistributorFactory(organization=org)
    outcome = credit(org, collaborator, distributor_id=second.pk)
    assert landed(outcome) == {second.pk: 1}
    assert not MetricCredit.objects.filter(distributor=first).exists()


@pytest.mark.parametrize(
    ("setup", "field"),
    [
        (lambda org: {"distributor_id": DistributorFactory().pk}, "distributor"),  # another organization's
        (lambda org: {"distributor_id": 987654}, "distributor"),
        (lambda org: {"distributor_id": DistributorFactory(organization=org, status="inactive").pk}, "distributor"),
        (lambda org: {"metric_type": "unknown"}, "metric_type"),
        (lambda org: {"quantity": 0}, "quantity"),
        (lambda org: {"quantity": -3}, "quantity"),
        (lambda org: {"quantity": True}, "quantity"),
        (lambda org: {"quantity": "2"}, "quantity"),
        (lambda org: {"quantity": 2**31}, "quantity"),
        (lambda org: {"metric_type": ""}, "metric_type"),
        (lambda org: {"idempotency_key": "k" * 201}, "idempotency_key"),
        (lambda org: {"now": datetime(2026, 1, 5)}, "credited_at"),
    ],
)
def test_bad_requests_are_refused_with_the_domain_field_and_write_nothing(org, collaborator, setup, field):
    DistributorFactory(organization=org)
    with pytest.raises(CreditRefused) as refused:
        credit(org, collaborator, **setup(org))
    assert refused.value.field == field
    assert not CreditRequest.objects.exists()
    assert not MetricCredit.objects.exists()


@pytest.mark.parametrize("status", ["inactive", "pending", "rejected", "deleted"])
def test_only_active_collaborators_earn(org, status):
    DistributorFactory(organization=org)
    collaborator = CollaboratorFactory(organization=org, status=status)
    with pytest.raises(CreditRefused, match=f"is {status}") as refused:
        credit(org, collaborator)
    assert refused.value.field == "collaborator"
    assert not MetricCredit.objects.exists()


def test_a_stale_collaborator_instance_does_not_let_a_deactivated_collaborator_earn(org, collaborator):
    DistributorFactory(organization=org)
    Collaborator.objects.filter(pk=collaborator.pk).update(status="inactive")
    with pytest.raises(CreditRefused):
        credit(org, collaborator)


def test_another_organizations_collaborator_is_not_found(org):
    DistributorFactory(organization=org)
    stranger = CollaboratorFactory()
    with pytest.raises(CreditRefused, match="not found") as refused:
        credit(org, stranger)
    assert refused.value.field == "collaborator"


def test_points_are_quantity_times_the_points_at_credit_time(org, collaborator):
    distributor = DistributorFactory(organization=org, metric_types={"sale": 5})
    credit(org, collaborator, metric_type="sale", quantity=3)
    distributor.metric_types.filter(name="sale").update(points=7)
    credit(org, collaborator, metric_type="sale", quantity=3)
    assert list(MetricCredit.objects.order_by("pk").values_list("points_per_unit", "points")) == [(5, 15), (7, 21)]


def test_same_idempotency_key_and_body_replays_the_first_response_and_credits_once(org, collaborator):
    DistributorFactory(organization=org, metric_types={"sale": 10})
    first = credit(org, collaborator, metric_type="sale", quantity=2, idempotency_key="order-1")
    again = credit(org, collaborator, metric_type="sale", quantity=2, idempotency_key="order-1")
    assert again.replayed and not first.replayed
    assert (again.credits, again.credited_at, again.total_points) == (first.credits, first.credited_at, 20)
    assert again.request.pk == first.request.pk
    assert CreditRequest.objects.count() == 1
    assert MetricCredit.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_a_conflict(org, collaborator):
    DistributorFactory(organization=org)
    credit(org, collaborator, quantity=1, idempotency_key="k")
    with pytest.raises(IdempotencyConflict) as conflict:
        credit(org, collaborator, quantity=2, idempotency_key="k")
    assert conflict.value.field == "idempotency_key"
    assert MetricCredit.objects.count() == 1


def test_idempotency_keys_belong_to_one_organization(org, other_org, collaborator):
    DistributorFactory(organization=org)
    DistributorFactory(organization=other_org)
    credit(org, collaborator, idempotency_key="k")
    outcome = credit(other_org, CollaboratorFactory(organization=other_org), idempotency_key="k")
    assert not outcome.replayed
    assert MetricCredit.objects.count() == 2


def test_a_refused_request_stores_nothing_so_a_corrected_retry_with_the_same_key_credits(org, collaborator):
    DistributorFactory(organization=org)
    Collaborator.objects.filter(pk=collaborator.pk).update(status="inactive")
    with pytest.raises(CreditRefused):
        credit(org, collaborator, idempotency_key="k")
    Collaborator.objects.filter(pk=collaborator.pk).update(status="active")
    assert not credit(org, collaborator, idempotency_key="k").replayed


def test_every_credit_is_traceable_to_when_how_and_by_whom(org, collaborator):
    DistributorFactory(organization=org)
    before = timezone.now()
    outcome = credit(org, collaborator, source=CreditSource.ADMIN, actor="alice")
    request = CreditRequest.objects.get()
    assert (request.source, request.actor, request.organization_id) == ("admin", "alice", org.pk)
    assert before <= request.created_at <= timezone.now()
    row = MetricCredit.objects.get()
    assert row.request_id == request.pk and row.credited_at == request.created_at
    assert (outcome.request, outcome.credits, outcome.replayed) == (request, [row], False)
    assert (outcome.collaborator_id, outcome.metric_type, outcome.quantity, outcome.total_points) == (
        collaborator.pk,
        "manual",
        1,
        1,
    )
    assert outcome.credited_at == row.credited_at


def test_a_back_dated_credit_counts_at_its_instant_but_records_the_real_time(org, collaborator):
    DistributorFactory(organization=org)
    at = datetime(2026, 1, 10, 12, tzinfo=UTC)
    outcome = credit(org, collaborator, now=at)
    request = CreditRequest.objects.get()
    assert MetricCredit.objects.get().credited_at == at
    assert request.created_at > at + timedelta(days=30)
    assert outcome.credited_at == at


def test_a_back_dated_credit_into_an_already_distributed_period_is_refused(org, collaborator):
    distributor = DistributorFactory(organization=org)
    DistributionFactory(
        distributor=distributor,
        status="processing",
        period_start=datetime(2026, 1, 1, tzinfo=UTC),
        trigger_date=datetime(2026, 2, 1, tzinfo=UTC),
    )
    # What the trigger of that period records on its distributor (tests/distributions checks that it does).
    Distributor.objects.filter(pk=distributor.pk).update(distributed_through=datetime(2026, 2, 1, tzinfo=UTC))
    with pytest.raises(CreditRefused, match="already distributed") as refused:
        credit(org, collaborator, now=datetime(2026, 1, 20, tzinfo=UTC))
    assert refused.value.field == "credited_at"
    # After that trigger date it counts in the next period.
    credit(org, collaborator, now=datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC))
    assert MetricCredit.objects.count() == 1


def test_collaborator_resolve_takes_an_id_or_an_alias_of_the_organization_only(org, collaborator):
    alias = CollaboratorAliasFactory(collaborator=collaborator, type="tracking", code="REF:1")
    assert collaborator_resolve(organization=org, ref=str(collaborator.pk)) == collaborator
    assert collaborator_resolve(organization=org, ref=f" {collaborator.pk} ") == collaborator
    assert collaborator_resolve(organization=org, ref=f"tracking:{alias.code}") == collaborator
    stranger = CollaboratorAliasFactory(type="tracking", code="REF9")
    for ref in [str(stranger.collaborator.pk), "tracking:REF9", "tracking:nope", "tracking:", ":REF:1", "", "abc"]:
        with pytest.raises(Collaborator.DoesNotExist):
            collaborator_resolve(organization=org, ref=ref)
