"""Data for the tenancy tests (``test_tenancy_admin.py``, ``tests/e2e/test_admin_operator.py``): a world of one
(or more) row of every registered tenant model per organization, members with roles, and snapshots of an
organization's rows to prove that nothing changed."""

import itertools
from datetime import timedelta

from django.contrib import admin
from django.contrib.admin.models import LogEntry

from distributions.services import distributor_save_with_periods
from distributors.models import Distributor, MetricType
from obligations.models import MinimumPayout
from organizations.admin import organization_lookup, tenant_path_of
from organizations.models import Organization, Role
from tests.factories import (
    EPOCH,
    AllocationFactory,
    ApiKeyFactory,
    CollaboratorAliasFactory,
    CollaboratorFactory,
    DistributionFactory,
    DistributorFactory,
    FulfillmentFactory,
    MembershipFactory,
    MetricCreditFactory,
    ObligationFactory,
    OrganizationFactory,
    PayoutFactory,
    RevenueEntryFactory,
    StaffUserFactory,
    correction_with_line,
)
from tests.webhooks.factories import WebhookEndpointFactory, delivery_with_attempt

ROLES = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
_serial = itertools.count()


def tenant_models() -> list:
    """The registered models whose rows belong to an organization, by label."""
    return sorted(
        (model for model in admin.site._registry if tenant_path_of(model) is not None),
        key=lambda model: model._meta.label,
    )


def global_models() -> list:
    """The registered models of no organization (engine runs, users, groups), by label."""
    return sorted(
        (model for model in admin.site._registry if tenant_path_of(model) is None),
        key=lambda model: model._meta.label,
    )


def rows_of(model, organization: Organization):
    """``model``'s rows of ``organization`` (along the path its admin resolves)."""
    return model._default_manager.filter(**{organization_lookup(tenant_path_of(model)): [organization.pk]})


def organization(marker: str, timezone: str = "UTC") -> Organization:
    return OrganizationFactory(name=f"{marker} Org", slug=marker.lower(), timezone=timezone)


def world(organization: Organization, marker: str) -> None:
    """In ``organization``, rows whose names carry ``marker``: two collaborators (one alias), an API key, a
    member, an active distributor with its pending period and eligible collaborators, a triggered period owing
    both (pending obligations), a pending manual obligation, a processing fulfillment with an unpaid payout (its
    obligation approved) and a complete one with a paid payout (fulfilled), a credit, a revenue entry, and a
    webhook endpoint with a failed delivery (one attempt)."""
    tag = marker.lower()
    people = [
        CollaboratorFactory(
            organization=organization,
            full_name=f"{marker} person {n}",
            email=f"{tag}-{n}-{next(_serial)}@example.com",
        )
        for n in range(2)
    ]
    CollaboratorAliasFactory(collaborator=people[0])
    ApiKeyFactory(organization=organization, name=f"{marker} key")
    MembershipFactory(
        organization=organization,
        user=StaffUserFactory(username=f"{tag}-member-{next(_serial)}"),
    )
    distributor = distributor_save_with_periods(
        distributor=DistributorFactory(
            organization=organization, name=f"{marker} pool", metric_types={"manual": 1, "sale": 10}
        )
    )
    distributor.eligible_collaborators.add(*people)
    triggered = DistributionFactory(
        distributor=distributor,
        status="processing",
        period_start=EPOCH - timedelta(days=31),
        trigger_date=EPOCH,
        pool=1500,
        value=1500,
        triggered_at=EPOCH,
    )
    AllocationFactory(distribution=triggered, collaborator=people[0], value=1000, score=20, rank=1)
    AllocationFactory(distribution=triggered, collaborator=people[1], value=500, score=10, rank=2)
    correction_with_line(distribution=triggered, reason=f"{marker} late credits")
    ObligationFactory(organization=organization, collaborator=people[0], value=300, description=f"{marker} bonus")
    processing = FulfillmentFactory(organization=organization, status="processing")
    unpaid = PayoutFactory(fulfillment=processing, collaborator=people[0], amount=700)
    ObligationFactory(organization=organization, collaborator=people[0], value=700, status="approved", payout=unpaid)
    complete = FulfillmentFactory(organization=organization, status="complete", completed_at=EPOCH)
    paid = PayoutFactory(fulfillment=complete, collaborator=people[1], amount=200, status="paid", paid_at=EPOCH)
    ObligationFactory(organization=organization, collaborator=people[1], value=200, status="fulfilled", payout=paid)
    MetricCreditFactory(distributor=distributor, collaborator=people[0], metric_type="sale", points_per_unit=10)
    RevenueEntryFactory(organization=organization, reference=f"{tag}-order-{next(_serial)}")
    # One per units: each call adds a row in units of its own (the tests call this more than once).
    MinimumPayout.objects.create(organization=organization, units=f"P{next(_serial)}", amount=1000)
    endpoint = WebhookEndpointFactory(organization=organization, url=f"https://{marker}.example.com/hooks")
    delivery_with_attempt(endpoint=endpoint, object_key=f"obligation:{next(_serial)}")


def member(role: str, *organizations: Organization, username: str | None = None):
    """A staff user (password ``pw``) holding ``role`` in each of ``organizations``."""
    user = StaffUserFactory(**({"username": username} if username else {}))
    for each in organizations:
        MembershipFactory(user=user, organization=each, role=role)
    return user


def snapshot(organization: Organization) -> dict:
    """Every row of ``organization`` in every registered tenant model, field by field (``modified_at``
    included, so any save shows), with the metric types, the eligible collaborators and the admin's history."""
    rows = {model._meta.label: list(rows_of(model, organization).order_by("pk").values()) for model in tenant_models()}
    rows["metric types"] = list(
        MetricType.objects.filter(distributor__organization=organization).order_by("pk").values()
    )
    rows["eligible"] = sorted(
        Distributor.eligible_collaborators.through.objects.filter(distributor__organization=organization).values_list(
            "distributor_id", "collaborator_id"
        )
    )
    rows["history"] = LogEntry.objects.count()
    return rows
