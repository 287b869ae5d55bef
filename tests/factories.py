"""factory-boy factories for every model. Tenant-owned rows take their organization from their parent."""

from datetime import UTC, datetime

import factory
from django.contrib.auth.models import User
from factory.django import DjangoModelFactory

from collaborators.models import Collaborator, CollaboratorAlias
from distributions.models import Allocation, Distribution, EngineRun
from distributors.models import Distributor, MetricType, RevenueEntry
from metrics.models import CreditRequest, CreditSource, MetricCredit
from obligations.models import AwardType, Fulfillment, Obligation, Payout
from organizations.models import ApiKey, Membership, Organization, Role

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class OrganizationFactory(DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    timezone = "UTC"


class ApiKeyFactory(DjangoModelFactory):
    """Build with ``ApiKeyFactory()``; the plain key is on ``.secret`` (never stored)."""

    class Meta:
        model = ApiKey
        exclude = ["secret"]

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"key {n}")
    scopes = factory.LazyFunction(lambda: ["read", "metrics:write"])
    secret = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        api_key = model_class(*args, **kwargs)
        api_key.secret = api_key.issue_secret()
        api_key.save()
        return api_key


class StaffUserFactory(DjangoModelFactory):
    """An active staff user (not a superuser), password ``pw``."""

    class Meta:
        model = User
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    is_staff = True
    password = factory.django.Password("pw")


class MembershipFactory(DjangoModelFactory):
    """A staff user's role in an organization (a new staff user and organization unless given)."""

    class Meta:
        model = Membership

    user = factory.SubFactory(StaffUserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.VIEWER


class CollaboratorFactory(DjangoModelFactory):
    class Meta:
        model = Collaborator

    organization = factory.SubFactory(OrganizationFactory)
    full_name = factory.Sequence(lambda n: f"Collaborator {n}")
    nickname = factory.Sequence(lambda n: f"c{n}")
    email = factory.Sequence(lambda n: f"collaborator{n}@example.com")
    status = "active"


class CollaboratorAliasFactory(DjangoModelFactory):
    class Meta:
        model = CollaboratorAlias

    collaborator = factory.SubFactory(CollaboratorFactory)
    organization = factory.SelfAttribute("collaborator.organization")
    type = "tracking"
    code = factory.Sequence(lambda n: f"REF{n:05d}")


class DistributorFactory(DjangoModelFactory):
    """A monthly fixed-pool proportional distributor counting ``manual`` at 1 point (no pending period;
    call ``distributions.services.distribution_open_first`` or use ``distributor_save`` for that)."""

    class Meta:
        model = Distributor
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Distributor {n}")
    units = "USD"
    pool_resolver = "fixed"
    pool_amount = 100_000
    distribution_resolver = "performanceSharedPool"
    schedule = "monthly"
    starts_at = EPOCH

    @factory.post_generation
    def metric_types(self, create, extracted, **kwargs):
        if not create:
            return
        for name, points in (extracted if extracted is not None else {"manual": 1}).items():
            MetricType.objects.create(distributor=self, name=name, points=points)


class MetricTypeFactory(DjangoModelFactory):
    class Meta:
        model = MetricType

    distributor = factory.SubFactory(DistributorFactory, metric_types={})
    name = factory.Sequence(lambda n: f"metric-{n}")
    points = 1


class RevenueEntryFactory(DjangoModelFactory):
    class Meta:
        model = RevenueEntry

    organization = factory.SubFactory(OrganizationFactory)
    amount = 10_000
    units = "USD"
    occurred_at = EPOCH
    reference = factory.Sequence(lambda n: f"order-{n}")


class DistributionFactory(DjangoModelFactory):
    class Meta:
        model = Distribution

    distributor = factory.SubFactory(DistributorFactory)
    organization = factory.SelfAttribute("distributor.organization")
    status = "pending"
    period_start = EPOCH
    trigger_date = factory.Sequence(lambda n: datetime(2026, 2, 1, tzinfo=UTC).replace(year=2026 + n))


class CreditRequestFactory(DjangoModelFactory):
    class Meta:
        model = CreditRequest

    organization = factory.SubFactory(OrganizationFactory)
    request_fingerprint = "0" * 64
    source = CreditSource.COMMAND
    created_at = EPOCH


class MetricCreditFactory(DjangoModelFactory):
    class Meta:
        model = MetricCredit

    distributor = factory.SubFactory(DistributorFactory)
    organization = factory.SelfAttribute("distributor.organization")
    collaborator = factory.SubFactory(CollaboratorFactory, organization=factory.SelfAttribute("..organization"))
    request = factory.SubFactory(CreditRequestFactory, organization=factory.SelfAttribute("..organization"))
    metric_type = "manual"
    quantity = 1
    points_per_unit = 1
    points = factory.LazyAttribute(lambda o: o.quantity * o.points_per_unit)
    credited_at = EPOCH


class FulfillmentFactory(DjangoModelFactory):
    class Meta:
        model = Fulfillment

    organization = factory.SubFactory(OrganizationFactory)


class PayoutFactory(DjangoModelFactory):
    class Meta:
        model = Payout

    fulfillment = factory.SubFactory(FulfillmentFactory)
    organization = factory.SelfAttribute("fulfillment.organization")
    collaborator = factory.SubFactory(CollaboratorFactory, organization=factory.SelfAttribute("..organization"))
    units = "USD"
    amount = 1000


class ObligationFactory(DjangoModelFactory):
    class Meta:
        model = Obligation

    organization = factory.SubFactory(OrganizationFactory)
    collaborator = factory.SubFactory(CollaboratorFactory, organization=factory.SelfAttribute("..organization"))
    value = 1000
    units = "USD"
    award_type = AwardType.MANUAL


class AllocationFactory(DjangoModelFactory):
    class Meta:
        model = Allocation

    distribution = factory.SubFactory(DistributionFactory, status="processing", pool=1000, value=1000)
    organization = factory.SelfAttribute("distribution.organization")
    collaborator = factory.SubFactory(CollaboratorFactory, organization=factory.SelfAttribute("..organization"))
    obligation = factory.SubFactory(
        ObligationFactory,
        organization=factory.SelfAttribute("..organization"),
        collaborator=factory.SelfAttribute("..collaborator"),
        award_type=AwardType.DISTRIBUTION,
        value=factory.SelfAttribute("..value"),
    )
    value = 1000
    score = 10
    rank = 1


class EngineRunFactory(DjangoModelFactory):
    class Meta:
        model = EngineRun

    started_at = EPOCH
    as_of = EPOCH


def correction_with_line(distribution=None, **fields):
    """A stored correction of a triggered distribution (one by default) with one line and its adjustment: the
    shape ``distributions.corrections`` writes, for admin and constraint tests."""
    from distributions.models import Correction, CorrectionLine

    allocation = AllocationFactory(
        **({"distribution": distribution} if distribution is not None else {}), value=1000, score=10
    )
    distribution = allocation.distribution
    if distribution.triggered_at is None:
        distribution.triggered_at = distribution.trigger_date
        distribution.save(update_fields=["triggered_at"])
    adjustment = ObligationFactory(
        organization=distribution.organization,
        collaborator=allocation.collaborator,
        value=200,
        status="approved",
        award_type=AwardType.ADJUSTMENT,
        reason="late credits",
        adjusts_distribution=distribution,
    )
    correction = Correction.objects.create(
        organization=distribution.organization,
        distribution=distribution,
        created_at=distribution.trigger_date,
        actor="command:test",
        reason=fields.pop("reason", "late credits"),
        period_pool=1200,
        pool=1200,
        value=1200,
        previous_value=1000,
        adjustment_total=200,
        **fields,
    )
    CorrectionLine.objects.create(
        correction=correction,
        collaborator=allocation.collaborator,
        allocation=allocation,
        adjustment=adjustment,
        score=12,
        previous_value=1000,
        corrected_value=1200,
        difference=200,
    )
    return correction
