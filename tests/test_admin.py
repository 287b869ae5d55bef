"""Admin smoke tests: every registered ModelAdmin opens within a query budget and without N+1 queries;
read-only admins refuse writes; API keys, distributors and obligation actions behave through the admin."""

import itertools
import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib import admin, messages
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from collaborators.models import Collaborator, CollaboratorAlias
from distributions.models import Allocation, Correction, Distribution, DistributionStatus, EngineRun
from distributions.services import distributor_save_with_periods
from distributions.trigger import distribution_period_pool
from distributors.models import Distributor, RevenueEntry
from metrics.models import CreditRequest, MetricCredit
from obligations.models import Fulfillment, MinimumPayout, Obligation, ObligationStatus, Payout
from organizations.models import ApiKey, Membership, Organization
from tests.factories import (
    EPOCH,
    AllocationFactory,
    ApiKeyFactory,
    CollaboratorAliasFactory,
    CollaboratorFactory,
    CreditRequestFactory,
    DistributionFactory,
    DistributorFactory,
    EngineRunFactory,
    FulfillmentFactory,
    MembershipFactory,
    MetricCreditFactory,
    MetricTypeFactory,
    ObligationFactory,
    OrganizationFactory,
    PayoutFactory,
    RevenueEntryFactory,
    correction_with_line,
)
from tests.webhooks.factories import WebhookEndpointFactory, delivery_with_attempt
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

MAX_QUERIES = 25
REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)
READ_ONLY = [Distribution, Allocation, Correction, MetricCredit, CreditRequest, EngineRun, WebhookDelivery]
_usernames = itertools.count()


def _obligation_with_payout():
    payout = PayoutFactory()
    return ObligationFactory(
        organization=payout.organization, collaborator=payout.collaborator, value=payout.amount, payout=payout
    )


# One more row of each registered model, with its own related rows, so that a missing join shows as N+1.
BUILDERS = {
    Organization: OrganizationFactory,
    ApiKey: ApiKeyFactory,
    Membership: MembershipFactory,
    Collaborator: CollaboratorFactory,
    CollaboratorAlias: CollaboratorAliasFactory,
    Distributor: lambda: DistributorFactory(metric_types={"manual": 1, "sale": 10}),
    RevenueEntry: RevenueEntryFactory,
    MetricCredit: MetricCreditFactory,
    CreditRequest: CreditRequestFactory,
    Obligation: _obligation_with_payout,
    Fulfillment: FulfillmentFactory,
    MinimumPayout: lambda: MinimumPayout.objects.create(organization=OrganizationFactory(), units="USD", amount=500),
    Payout: PayoutFactory,
    Distribution: DistributionFactory,
    Allocation: AllocationFactory,
    Correction: correction_with_line,
    EngineRun: EngineRunFactory,
    User: lambda: User.objects.create_user(username=f"user{next(_usernames)}"),
    Group: lambda: Group.objects.create(name=f"group {next(_usernames)}"),
    WebhookEndpoint: WebhookEndpointFactory,
    WebhookDelivery: delivery_with_attempt,
}


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _messages(response) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in response.context["messages"]]


@pytest.fixture
def graph(db, admin_user):
    """A full graph: one (or more) rows of every registered model."""
    organization = OrganizationFactory(timezone="Europe/Paris")
    ApiKeyFactory(organization=organization)
    MembershipFactory(organization=organization)
    ann = CollaboratorFactory(organization=organization)
    bob = CollaboratorFactory(organization=organization)
    CollaboratorAliasFactory(collaborator=ann)
    distributor = distributor_save_with_periods(
        distributor=DistributorFactory(organization=organization, metric_types={"manual": 1, "sale": 10})
    )
    distributor.eligible_collaborators.add(ann, bob)
    triggered = DistributionFactory(
        distributor=distributor,
        status=DistributionStatus.PROCESSING,
        period_start=EPOCH - timedelta(days=31),
        trigger_date=EPOCH,
        pool=1500,
        value=1500,
        triggered_at=EPOCH,
    )
    AllocationFactory(distribution=triggered, collaborator=ann, value=1000, score=20, rank=1)
    AllocationFactory(distribution=triggered, collaborator=bob, value=500, score=10, rank=2)
    correction_with_line(distribution=triggered)
    fulfillment = FulfillmentFactory(organization=organization, status="processing")
    payout = PayoutFactory(fulfillment=fulfillment, collaborator=ann, amount=700)
    ObligationFactory(organization=organization, collaborator=ann, value=700, status="approved", payout=payout)
    MetricCreditFactory(distributor=distributor, collaborator=ann, metric_type="sale", points_per_unit=10)
    EngineRunFactory(finished_at=EPOCH + timedelta(seconds=2), status="succeeded", triggered_count=1)
    RevenueEntryFactory(organization=organization)
    MinimumPayout.objects.create(organization=organization, units="USD", amount=1000)
    delivery_with_attempt(endpoint=WebhookEndpointFactory(organization=organization))
    Group.objects.create(name="staff")
    for model in REGISTERED:
        assert model._default_manager.exists(), f"the graph has no {model.__name__}"


def test_every_registered_admin_has_a_builder():
    assert set(REGISTERED) <= set(BUILDERS)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_changelist_opens(model, graph, admin_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(MAX_QUERIES):
        response = admin_client.get(_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_change_page_opens(model, graph, admin_client, django_assert_max_num_queries):
    obj = model._default_manager.order_by("pk").first()
    with django_assert_max_num_queries(MAX_QUERIES):
        response = admin_client.get(_url(model, "change", obj.pk))
    assert response.status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_add_page_opens_where_allowed(model, graph, admin_client, admin_user, django_assert_max_num_queries):
    model_admin = admin.site._registry[model]
    with django_assert_max_num_queries(MAX_QUERIES):
        response = admin_client.get(_url(model, "add"))
    expected = 200 if model_admin.has_add_permission(_request(admin_user)) else 403
    assert response.status_code == expected


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_changelist_query_count_does_not_grow_with_rows(model, admin_client, admin_user):
    build = BUILDERS[model]
    while model._default_manager.count() < 1:
        build()
    assert model._default_manager.count() == 1
    url = _url(model, "changelist")

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url)
        assert response.status_code == 200
        return response.context["cl"].result_count, [query["sql"] for query in queries.captured_queries]

    count_queries()  # warm per-process caches (content types) so both measurements start alike
    rows_one, queries_one = count_queries()
    for _ in range(14):
        build()
    rows_many, queries_many = count_queries()
    assert (rows_one, rows_many) == (1, 15)
    assert len(queries_many) == len(queries_one), "\n".join(queries_many)


def _distribution_with_allocations():
    distribution = DistributionFactory(status=DistributionStatus.PROCESSING, pool=0, value=0)

    def add_child():
        AllocationFactory(distribution=distribution, value=1, rank=distribution.allocations.count() + 1)

    return distribution, add_child


def _fulfillment_with_payouts():
    fulfillment = FulfillmentFactory()
    return fulfillment, lambda: PayoutFactory(fulfillment=fulfillment)


def _collaborator_with_aliases():
    collaborator = CollaboratorFactory()
    return collaborator, lambda: CollaboratorAliasFactory(collaborator=collaborator)


def _distributor_with_metric_types():
    distributor = DistributorFactory(metric_types={})
    return distributor, lambda: MetricTypeFactory(distributor=distributor)


@pytest.mark.parametrize(
    "make_parent",
    [
        _distribution_with_allocations,
        _fulfillment_with_payouts,
        _collaborator_with_aliases,
        _distributor_with_metric_types,
    ],
    ids=["Distribution.allocations", "Fulfillment.payouts", "Collaborator.aliases", "Distributor.metric_types"],
)
def test_change_page_inline_query_count_does_not_grow_with_rows(make_parent, admin_client):
    parent, add_child = make_parent()
    url = _url(type(parent), "change", parent.pk)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url)
        assert response.status_code == 200
        inline_rows = sum(len(formset.formset.forms) for formset in response.context["inline_admin_formsets"])
        return inline_rows, [query["sql"] for query in queries.captured_queries]

    add_child()
    count_queries()  # warm per-process caches (content types) so both measurements start alike
    rows_one, queries_one = count_queries()
    for _ in range(14):
        add_child()
    rows_many, queries_many = count_queries()
    assert rows_many - rows_one == 14
    assert len(queries_many) == len(queries_one), "\n".join(queries_many)


# --- read-only admins --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda model: model.__name__)
def test_read_only_admins_refuse_writes(model, graph, admin_client, admin_user):
    model_admin = admin.site._registry[model]
    request = _request(admin_user)
    obj = model._default_manager.order_by("pk").first()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)
    assert model_admin.has_view_permission(request, obj)

    assert admin_client.get(_url(model, "add")).status_code == 403
    response = admin_client.get(_url(model, "change", obj.pk))
    assert response.status_code == 200
    content = response.content.decode()
    for button in ('name="_save"', 'name="_continue"', 'name="_addanother"'):
        assert button not in content
    assert _url(model, "delete", obj.pk) not in content
    assert admin_client.post(_url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model._default_manager.filter(pk=obj.pk).exists()
    changelist = admin_client.get(_url(model, "changelist"))
    assert "delete_selected" not in changelist.content.decode()


# --- API keys ----------------------------------------------------------------------------------------


def test_api_key_created_in_the_admin_shows_its_secret_once_and_stores_only_the_hash(admin_client):
    organization = OrganizationFactory()
    response = admin_client.post(
        _url(ApiKey, "add"),
        {"organization": organization.pk, "name": "ci", "scopes": ["read", "metrics:write"]},
        follow=True,
    )
    assert response.status_code == 200
    api_key = ApiKey.objects.get()
    assert (api_key.organization, api_key.name, api_key.scopes) == (organization, "ci", ["read", "metrics:write"])

    shown = [text for level, text in _messages(response) if level == messages.WARNING]
    (secret,) = re.findall(rf"{re.escape(api_key.prefix)}\.[A-Za-z0-9_\-]+", " ".join(shown))
    assert secret in response.content.decode()
    assert api_key.matches(secret)

    secret_part = secret.split(".", 1)[1]
    row = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert all(secret_part not in str(value) for value in row.values())
    assert row["key_hash"] != secret

    for url in (_url(ApiKey, "change", api_key.pk), _url(ApiKey, "changelist")):
        assert secret_part not in admin_client.get(url).content.decode()


# --- distributors ------------------------------------------------------------------------------------


def _distributor_form(organization, **changes):
    data = {
        "organization": organization.pk,
        "name": "Sales pool",
        "description": "",
        "status": "active",
        "units": "USD",
        "pool_resolver": "fixed",
        "pool_amount": "500.00",
        "pool_percent_bp": "0",
        "distribution_resolver": "performanceSharedPool",
        "tie_policy": "split",
        "top_n_weights": "[]",
        "obligation_start_status": "pending",
        "eligibility": "allActive",
        "schedule": "monthly",
        "starts_at_0": "2026-01-15",
        "starts_at_1": "10:00:00",
        "metric_types-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def test_distributor_added_with_metric_types_opens_its_first_period(admin_client):
    organization = OrganizationFactory(timezone="Europe/Paris")
    inline = {
        "metric_types-TOTAL_FORMS": "2",
        "metric_types-0-name": "sale",
        "metric_types-0-points": "10",
        "metric_types-1-name": "manual",
        "metric_types-1-points": "1",
    }
    response = admin_client.post(_url(Distributor, "add"), _distributor_form(organization, **inline))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    distributor = Distributor.objects.get()
    assert (distributor.organization, distributor.name, distributor.pool_amount) == (organization, "Sales pool", 50000)
    assert dict(distributor.metric_types.values_list("name", "points")) == {"sale": 10, "manual": 1}
    (pending,) = Distribution.objects.filter(distributor=distributor)
    assert pending.status == DistributionStatus.PENDING
    assert pending.organization == organization
    # Times are typed in the organization's zone (Paris, UTC+1 in January), like the schedule runs.
    assert pending.period_start == datetime(2026, 1, 15, 9, tzinfo=UTC)
    assert pending.trigger_date == datetime(2026, 1, 31, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"schedule": "FREQ=MINUTELY", "metric_types-TOTAL_FORMS": "0"}, "schedule"),
        ({"pool_amount": "-1", "metric_types-TOTAL_FORMS": "0"}, None),
        (
            {
                "metric_types-TOTAL_FORMS": "2",
                "metric_types-0-name": "sale",
                "metric_types-0-points": "1",
                "metric_types-1-name": "sale",
                "metric_types-1-points": "2",
            },
            "metric_types",
        ),
    ],
    ids=["bad-schedule", "negative-pool", "duplicate-metric-type"],
)
def test_distributor_add_refused_writes_nothing(changes, field, admin_client):
    response = admin_client.post(_url(Distributor, "add"), _distributor_form(OrganizationFactory(), **changes))
    assert response.status_code == 200
    form = response.context["adminform"].form
    formset = response.context["inline_admin_formsets"][0].formset
    if field == "metric_types":
        assert formset.total_error_count()
    elif field:
        assert field in form.errors
    else:
        assert form.errors
    assert not Distributor.objects.exists()
    assert not Distribution.objects.exists()


# --- units: typed in the admin, stored in the spelling the revenue import uses ----------------------------
# The revenue import normalizes units (``usd`` -> ``USD``), but a distributor saved in the admin with ``usd``
# kept ``usd``; its revenue-share pool sums the entries in exactly its units, so every period's pool was 0 and
# the revenue share was silently never paid. Revenue entries typed in the admin had the same problem.


def _revenue_share_form(organization, **changes):
    revenue_share = {
        "name": "Revenue pool",
        "units": "usd",
        "pool_resolver": "revenueShare",
        "pool_amount": "0",
        "pool_percent_bp": "1000",
        "starts_at_0": "2026-01-01",
        "starts_at_1": "00:00:00",
        "metric_types-TOTAL_FORMS": "0",
    }
    return _distributor_form(organization, **(revenue_share | changes))


def test_admin_distributor_units_match_imported_revenue(admin_client, org, tmp_path):
    response = admin_client.post(_url(Distributor, "add"), _revenue_share_form(org))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    distributor = Distributor.objects.get()
    assert distributor.units == "USD"

    csv = tmp_path / "revenue.csv"
    csv.write_text("amount,units,occurredAt,reference\n100.00,USD,2026-01-10T00:00:00Z,order-1\n")
    call_command("import_revenue", str(csv), "--organization", org.slug, stdout=StringIO(), stderr=StringIO())
    pool = distribution_period_pool(
        distributor=distributor,
        period_start=datetime(2026, 1, 1, tzinfo=UTC),
        trigger_date=datetime(2026, 2, 1, tzinfo=UTC),
    )
    assert pool == 1000  # 10 % of 100.00 USD


def test_admin_distributor_refuses_a_units_that_is_not_a_code(admin_client, org):
    response = admin_client.post(_url(Distributor, "add"), _revenue_share_form(org, units="US $"))
    assert response.status_code == 200
    assert "units" in response.context["adminform"].form.errors
    assert not Distributor.objects.exists()


def test_admin_revenue_entry_units_are_normalized(admin_client, org):
    response = admin_client.post(
        _url(RevenueEntry, "add"),
        {
            "organization": org.pk,
            "amount": "1000",
            "units": "usd",
            "occurred_at_0": "2026-01-10",
            "occurred_at_1": "00:00:00",
            "reference": "order-1",
        },
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert RevenueEntry.objects.get().units == "USD"


# --- obligation actions ------------------------------------------------------------------------------


def _obligations_of(distribution) -> list[Obligation]:
    return list(Obligation.objects.filter(allocation__distribution=distribution).order_by("allocation__rank"))


def _run_action(client, action, obligations):
    """The action, its confirmation answered (``post``, with a reason: rejecting and cancelling ask why)."""
    return client.post(
        _url(Obligation, "changelist"),
        {
            "action": action,
            "_selected_action": [obligation.pk for obligation in obligations],
            "post": "yes",
            "reason": "test",
        },
        follow=True,
    )


def _statuses(obligations):
    rows = Obligation.objects.filter(pk__in=[o.pk for o in obligations]).order_by("pk")
    # The allocation's status is its obligation's, read as the API reads it (through the allocation).
    shown = dict(Allocation.objects.filter(obligation__in=rows).values_list("obligation_id", "obligation__status"))
    return [(o.status, shown[o.pk]) for o in rows]


@pytest.mark.parametrize(
    ("action", "status", "distribution_status"),
    [
        ("approve", ObligationStatus.APPROVED, DistributionStatus.PROCESSING),
        ("reject", ObligationStatus.REJECTED, DistributionStatus.COMPLETE),
        ("cancel", ObligationStatus.CANCELLED, DistributionStatus.COMPLETE),
    ],
)
def test_obligation_action(action, status, distribution_status, triggered, admin_client):
    distribution, obligations = triggered, _obligations_of(triggered)
    response = _run_action(admin_client, action, obligations)
    assert response.status_code == 200
    assert (messages.SUCCESS, f"2 obligation(s) now {status}.") in _messages(response)
    assert _statuses(obligations) == [(status, status)] * 2
    distribution.refresh_from_db()
    assert distribution.status == distribution_status


def test_obligation_action_with_an_illegal_move_changes_nothing(triggered, admin_client):
    distribution, (first, second) = triggered, _obligations_of(triggered)
    _run_action(admin_client, "reject", [second])
    before = _statuses([first, second])

    response = _run_action(admin_client, "approve", [first, second])
    assert response.status_code == 200
    errors = [text for level, text in _messages(response) if level == messages.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("Nothing changed:")
    assert "'rejected' to 'approved'" in errors[0]
    assert not [text for level, text in _messages(response) if level == messages.SUCCESS]
    assert _statuses([first, second]) == before == [("pending", "pending"), ("rejected", "rejected")]
    distribution.refresh_from_db()
    assert distribution.status == DistributionStatus.PROCESSING


# --- tenant and lifecycle rules the admin forms enforce ------------------------------------------------


def _collaborator_form(collaborator, **changes):
    data = {
        "organization": collaborator.organization_id,
        "full_name": collaborator.full_name,
        "nickname": collaborator.nickname,
        "email": collaborator.email,
        "status": collaborator.status,
        "aliases-TOTAL_FORMS": "0",
        "aliases-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def test_alias_taken_in_the_organization_is_a_form_error(admin_client):
    alias = CollaboratorAliasFactory(type="tracking", code="REF1")
    other = CollaboratorFactory(organization=alias.organization)
    response = admin_client.post(
        _url(CollaboratorAlias, "add"), {"collaborator": other.pk, "type": "tracking", "code": "REF1"}
    )
    assert response.status_code == 200
    assert "code" in response.context["adminform"].form.errors
    assert CollaboratorAlias.objects.count() == 1

    elsewhere = CollaboratorFactory()
    response = admin_client.post(
        _url(CollaboratorAlias, "add"), {"collaborator": elsewhere.pk, "type": "tracking", "code": "REF1"}
    )
    assert response.status_code == 302
    assert CollaboratorAlias.objects.get(collaborator=elsewhere).organization == elsewhere.organization


@pytest.mark.parametrize(
    "rows",
    [[("tracking", "REF1")], [("coupon", "X"), ("coupon", "X")]],
    ids=["taken-by-another-collaborator", "twice-in-one-form"],
)
def test_alias_inline_duplicates_are_form_errors(rows, admin_client):
    alias = CollaboratorAliasFactory(type="tracking", code="REF1")
    collaborator = CollaboratorFactory(organization=alias.organization)
    inline = {"aliases-TOTAL_FORMS": str(len(rows))}
    for index, (alias_type, code) in enumerate(rows):
        inline |= {f"aliases-{index}-type": alias_type, f"aliases-{index}-code": code}
    response = admin_client.post(
        _url(Collaborator, "change", collaborator.pk), _collaborator_form(collaborator, **inline)
    )
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.total_error_count()
    assert not collaborator.aliases.exists()


def test_collaborator_status_follows_its_lifecycle_in_the_admin(admin_client):
    collaborator = CollaboratorFactory(status="active")
    url = _url(Collaborator, "change", collaborator.pk)
    assert admin_client.post(url, _collaborator_form(collaborator, status="deleted")).status_code == 302
    collaborator.refresh_from_db()
    assert collaborator.status == "deleted"

    response = admin_client.post(url, _collaborator_form(collaborator, status="active"))
    assert response.status_code == 200
    assert "final state" in response.context["adminform"].form.errors["status"][0]
    collaborator.refresh_from_db()
    assert collaborator.status == "deleted"


def test_collaborator_and_distributor_never_change_organization_in_the_admin(admin_client):
    collaborator = CollaboratorFactory()
    other = OrganizationFactory()
    response = admin_client.post(
        _url(Collaborator, "change", collaborator.pk), _collaborator_form(collaborator, organization=other.pk)
    )
    assert response.status_code == 302
    collaborator.refresh_from_db()
    assert collaborator.organization != other

    distributor = distributor_save_with_periods(distributor=DistributorFactory())
    response = admin_client.post(
        _url(Distributor, "change", distributor.pk),
        {**_distributor_form(other), "metric_types-TOTAL_FORMS": "0", "metric_types-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 302
    distributor.refresh_from_db()
    assert distributor.organization != other
    assert Distribution.objects.get(distributor=distributor).organization == distributor.organization


def test_distributor_eligible_collaborators_must_be_of_its_organization(admin_client):
    organization = OrganizationFactory()
    own, foreign = CollaboratorFactory(organization=organization), CollaboratorFactory()
    data = {**_distributor_form(organization), "eligibility": "selected", "metric_types-TOTAL_FORMS": "0"}
    response = admin_client.post(_url(Distributor, "add"), {**data, "eligible_collaborators": [own.pk, foreign.pk]})
    assert response.status_code == 200
    assert "eligible_collaborators" in response.context["adminform"].form.errors
    assert not Distributor.objects.exists()

    response = admin_client.post(_url(Distributor, "add"), {**data, "eligible_collaborators": [own.pk]})
    assert response.status_code == 302
    assert list(Distributor.objects.get().eligible_collaborators.all()) == [own]


def test_distributors_are_deleted_softly_only(admin_client, admin_user):
    distributor = distributor_save_with_periods(distributor=DistributorFactory())
    assert not admin.site._registry[Distributor].has_delete_permission(_request(admin_user), distributor)
    assert admin_client.get(_url(Distributor, "delete", distributor.pk)).status_code == 403
    response = admin_client.post(
        _url(Distributor, "changelist"),
        {"action": "soft_delete", "_selected_action": [distributor.pk], "post": "yes", "reason": "retired"},
        follow=True,
    )
    assert (messages.INFO, "1 distributor(s) now deleted.") in _messages(response)
    assert Distribution.objects.get(distributor=distributor).status == DistributionStatus.CANCELLED


def test_a_revoked_api_key_cannot_be_brought_back_by_editing_it(admin_client):
    key = ApiKeyFactory(revoked_at=datetime.now(UTC))
    admin_client.post(
        reverse("admin:organizations_apikey_change", args=[key.pk]),
        {"name": key.name, "scopes": ["read"], "revoked_at_0": "", "revoked_at_1": ""},
    )
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


# --- amounts with their units, times with their zone, on every page -------------------------------------------

# An amount shown as stored ("1500 USD", "10000 points"), or a time as Django shows one by default ("Jan. 1, 2026,
# midnight": no zone); Django's own auth admin (users, groups) is left as Django makes it.
BARE_AMOUNT = re.compile(r"(?<![\d,.])(\d+ (USD|JPY|KWD)|\d{4,} points?)\b")
ZONELESS_TIME = re.compile(r"\b(a\.m\.|p\.m\.|midnight|noon)(?![\w-])")
OURS = [model for model in REGISTERED if model._meta.app_label not in {"auth"}]


def _visible_text(response) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("model", OURS, ids=lambda model: model._meta.label)
def test_pages_show_amounts_with_units_and_times_with_zones(model, graph, admin_client):
    obj = model._default_manager.order_by("pk").first()
    urls = [_url(model, "changelist"), _url(model, "change", obj.pk)]
    if model is Distribution:
        urls.pop()  # its change page (the explanation) is built separately; its list is checked here
    for url in urls:
        text = _visible_text(admin_client.get(url))
        assert not BARE_AMOUNT.search(text), f"{url}: {BARE_AMOUNT.search(text).group()!r}"
        assert not ZONELESS_TIME.search(text), f"{url}: {ZONELESS_TIME.search(text).group()!r}"


@pytest.mark.parametrize(
    "schedule", ["RRULE:FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29", "RRULE:FREQ=DAILY;BYHOUR=25"]
)
def test_a_schedule_that_never_fires_from_its_start_is_a_form_error_not_a_500(admin_client, schedule):
    organization = OrganizationFactory()
    data = _distributor_form(organization, schedule=schedule, **{"metric_types-TOTAL_FORMS": "0"})
    response = admin_client.post(_url(Distributor, "add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["schedule"], errors
    assert not Distributor.objects.exists()
