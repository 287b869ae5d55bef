"""Every database constraint declared in a model's Meta refuses a violating row, on SQLite and PostgreSQL.

Each test writes a row that breaks exactly one constraint inside ``violates("<name>")``, which checks that
the database names that constraint in its error (PostgreSQL's ``diag.constraint_name``; SQLite's message
names check constraints and expression indexes, and lists the columns of a plain unique index).
``test_every_declared_constraint_is_violated_by_name_in_a_test`` reads this module's syntax tree and fails
when a CheckConstraint, UniqueConstraint or ``unique_together`` of a project model has no ``violates()`` of
its exact name in a test function (a literal, or a parametrized argument whose values are literals).
"""

import ast
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, connection, models, transaction

from collaborators.models import Collaborator, CollaboratorAlias
from distributions.models import Allocation, Distribution, EngineRun
from distributors.models import Distributor
from metrics.models import CreditRequest
from obligations.models import Fulfillment, MinimumPayout, Obligation, Payout
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
)
from tests.webhooks.factories import EventFactory, WebhookDeliveryFactory, WebhookEndpointFactory
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


def _project_models() -> list[type[models.Model]]:
    """Models of the apps that live in this repository (not Django's, not third-party packages)."""
    base = Path(settings.BASE_DIR).resolve()
    return [
        model
        for app_config in apps.get_app_configs()
        if Path(app_config.path).resolve().is_relative_to(base) and ".venv" not in Path(app_config.path).parts
        for model in app_config.get_models()
    ]


def _declared_constraints() -> dict[str, tuple[type[models.Model], models.BaseConstraint | tuple[str, ...]]]:
    """Every CheckConstraint and UniqueConstraint of a project model's Meta, by name; a ``unique_together``
    entry is listed as ``unique_together:<table>(<column>, ...)`` (the database names it with a hash)."""
    declared: dict = {}
    for model in _project_models():
        for constraint in model._meta.constraints:
            assert isinstance(constraint, models.CheckConstraint | models.UniqueConstraint), constraint
            declared[constraint.name] = (model, constraint)
        for fields in model._meta.unique_together:
            columns = tuple(model._meta.get_field(field).column for field in fields)
            declared[f"unique_together:{model._meta.db_table}({', '.join(columns)})"] = (model, columns)
    return declared


def _unique_columns(model, constraint) -> tuple[str, ...] | None:
    """The columns SQLite names when a unique constraint on plain fields fails; None for a check or an
    expression index (which SQLite names by its name)."""
    if isinstance(constraint, tuple):  # unique_together
        return constraint
    if isinstance(constraint, models.UniqueConstraint) and constraint.fields:
        return tuple(model._meta.get_field(field).column for field in constraint.fields)
    return None


def _database_name(model, constraint) -> str:
    """The constraint's name in the database."""
    if not isinstance(constraint, tuple):
        return constraint.name
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    (name,) = [name for name, info in found.items() if info["unique"] and tuple(info["columns"]) == constraint]
    return name


def _fired(error: IntegrityError) -> str:
    """What the database says fired: PostgreSQL's constraint name, or SQLite's message."""
    if connection.vendor == "postgresql":
        return error.__cause__.diag.constraint_name
    return str(error)


def _expected(model, constraint) -> str:
    if connection.vendor == "postgresql":
        return _database_name(model, constraint)
    columns = _unique_columns(model, constraint)
    if columns is not None:
        table = model._meta.db_table
        return "UNIQUE constraint failed: " + ", ".join(f"{table}.{column}" for column in columns)
    if isinstance(constraint, models.UniqueConstraint):
        return f"UNIQUE constraint failed: index '{constraint.name}'"
    return f"CHECK constraint failed: {constraint.name}"


@contextmanager
def violates(name: str):
    """Expect the block to raise the IntegrityError of the declared constraint called ``name``, and of no other
    (PostgreSQL: ``diag.constraint_name``; SQLite: its whole message, which names a check or an expression index,
    and lists the columns of a plain unique index)."""
    declared = _declared_constraints()
    assert name in declared, f"{name!r} is not a constraint declared on a project model"
    model, constraint = declared[name]
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    assert _fired(excinfo.value) == _expected(model, constraint), f"expected {name!r} to fire, got: {excinfo.value}"


@contextmanager
def violates_unique(model: type[models.Model], field: str):
    """Expect the block to raise the IntegrityError of ``model.field``'s own unique constraint (``unique=True``
    or a one-to-one), and of no other."""
    column = model._meta.get_field(field).column
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(cursor, model._meta.db_table)
        names = {name for name, info in found.items() if info["unique"] and info["columns"] == [column]}
        assert _fired(excinfo.value) in names, f"expected {model.__name__}.{field} to be unique, got: {excinfo.value}"
    else:
        assert str(excinfo.value) == f"UNIQUE constraint failed: {model._meta.db_table}.{column}", excinfo.value


# --- the meta-test: every declared constraint is violated by name in a test here ---------------------------------


def _parametrized_values(function: ast.FunctionDef, argument: str, module: ast.Module) -> list[ast.expr] | None:
    """The values ``@pytest.mark.parametrize`` gives ``argument`` of ``function`` (literal lists, or a
    module-level name bound to one), or None if it is not a parametrized argument."""
    assignments = {
        target.id: node.value
        for node in module.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for decorator in function.decorator_list:
        if not (isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.parametrize"):
            continue
        names_node, values_node = decorator.args[:2]
        names = ast.literal_eval(names_node)
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if argument not in names:
            continue
        values_node = assignments.get(values_node.id, values_node) if isinstance(values_node, ast.Name) else values_node
        assert isinstance(values_node, ast.List | ast.Tuple), f"line {decorator.lineno}: parametrize values not literal"
        index = names.index(argument)
        return [row if len(names) == 1 else row.elts[index] for row in values_node.elts]
    return None


def violated_names(source: str) -> tuple[set[str], list[str]]:
    """The constraint names that ``violates(...)`` is called with inside a ``test_*`` function of ``source``
    (a literal, or a parametrized argument whose every value is a literal); and what could not be read."""
    module = ast.parse(source)
    names, problems = set(), []
    for function in ast.walk(module):
        if not isinstance(function, ast.FunctionDef) or not function.name.startswith("test_"):
            continue
        for node in ast.walk(function):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "violates"):
                continue
            (argument,) = node.args
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                names.add(argument.value)
                continue
            values = _parametrized_values(function, argument.id, module) if isinstance(argument, ast.Name) else None
            if values is None or not all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in values):
                problems.append(f"line {node.lineno}: violates({ast.unparse(argument)}) names no literal constraint")
                continue
            names.update(value.value for value in values)
    return names, problems


def test_every_declared_constraint_is_violated_by_name_in_a_test():
    declared = _declared_constraints()
    assert declared, "no constraints found: are the project models found?"
    violated, problems = violated_names(Path(__file__).read_text())
    assert not problems, problems
    untested = sorted(set(declared) - violated)
    assert not untested, f"constraints no test of {Path(__file__).name} violates by name: {untested}"
    assert not violated - set(declared), f"violates() of undeclared constraints: {sorted(violated - set(declared))}"


def test_the_meta_test_reads_calls_not_mentions():
    """A name in a string, a comment, a helper or a non-literal call is not a test of that constraint."""
    source = """
NAMES = ["in_a_list"]
ROWS = [("a", "from_rows"), ("b", "from_rows_too")]
def helper():
    with violates("in_a_helper"): pass
def test_mentions():
    "in_a_docstring"  # in_a_comment
    assert "in_an_assert"
    violates_something("wrong_helper")
    with violates("literal"): pass
@pytest.mark.parametrize(("x", "name"), ROWS)
def test_rows(x, name):
    with violates(name): pass
@pytest.mark.parametrize("name", ["p1", pytest.param("p2")])
def test_computed(name):
    with violates(name): pass
    with violates(NAMES[0]): pass
"""
    names, problems = violated_names(source)
    assert names == {"literal", "from_rows", "from_rows_too"}
    assert len(problems) == 2 and "violates(name)" in problems[0] and "violates(NAMES[0])" in problems[1]


def test_project_models_are_found():
    labels = {model._meta.app_label for model in _project_models()}
    assert labels >= {"organizations", "collaborators", "distributors", "metrics", "obligations", "distributions"}
    assert not any(model._meta.app_label in ("auth", "admin", "contenttypes") for model in _project_models())


# --- Organizations and API keys (field-level unique, not Meta constraints) ----------------------------


def test_organization_slug_unique():
    Organization.objects.create(name="A", slug="acme")
    with violates_unique(Organization, "slug"):
        Organization.objects.create(name="B", slug="acme")


def test_api_key_prefix_unique():
    key = ApiKeyFactory()
    with violates_unique(ApiKey, "prefix"):
        ApiKey.objects.create(organization=key.organization, name="copy", prefix=key.prefix, key_hash="0" * 64)


def test_one_membership_per_user_and_organization():
    membership = MembershipFactory()
    with violates("membership_unique_per_user_organization"):
        Membership.objects.create(user=membership.user, organization=membership.organization, role="admin")


def test_membership_role_from_its_list():
    membership = MembershipFactory()
    with violates("membership_role_valid"):
        Membership.objects.filter(pk=membership.pk).update(role="owner")
    membership.refresh_from_db()
    assert membership.role == "viewer"


# --- Distribution ------------------------------------------------------------------------------------


def test_one_pending_distribution_per_distributor():
    distributor = DistributorFactory()
    DistributionFactory(distributor=distributor, status="pending")
    with violates("distribution_one_pending_per_distributor"):
        DistributionFactory(distributor=distributor, status="pending")


def test_pending_is_unique_only_among_pending_rows():
    distributor = DistributorFactory()
    DistributionFactory(distributor=distributor, status="pending")
    DistributionFactory(distributor=distributor, status="cancelled")
    DistributionFactory(distributor=distributor, status="cancelled")
    DistributionFactory(distributor=distributor, status="complete", pool=0)
    DistributionFactory(distributor=DistributorFactory(), status="pending")
    assert Distribution.objects.filter(status="pending").count() == 2


def test_one_distribution_per_distributor_and_trigger_date():
    distributor = DistributorFactory()
    trigger = EPOCH + timedelta(days=31)
    DistributionFactory(distributor=distributor, status="complete", pool=0, trigger_date=trigger)
    DistributionFactory(distributor=DistributorFactory(), status="complete", pool=0, trigger_date=trigger)
    with violates("distribution_unique_trigger"):
        DistributionFactory(distributor=distributor, status="cancelled", trigger_date=trigger)


@pytest.mark.parametrize("trigger_offset", [timedelta(0), timedelta(seconds=-1)], ids=["equal", "before"])
def test_distribution_trigger_date_after_period_start(trigger_offset):
    DistributionFactory(period_start=EPOCH, trigger_date=EPOCH + timedelta(microseconds=1))
    with violates("distribution_period_order"):
        DistributionFactory(period_start=EPOCH, trigger_date=EPOCH + trigger_offset)


AMOUNT_FIELDS = [
    field.name
    for field in Distribution._meta.get_fields()
    if isinstance(field, models.BigIntegerField) and field.name not in ("id", "pool")
]


@pytest.mark.parametrize("field", AMOUNT_FIELDS)
def test_distribution_amounts_non_negative(field):
    # pool stays NULL (not triggered) so that only the non-negative check can refuse the row.
    DistributionFactory(status="pending", pool=None, **{field: 0})
    with violates("distribution_amounts_nonneg"):
        DistributionFactory(status="complete", pool=None, **{field: -1})


def test_distribution_pool_non_negative():
    # pool >= 0 cannot break alone: pool = value + unallocated (+ ...) with all of them >= 0 implies it.
    with violates("distribution_amounts_nonneg"):
        DistributionFactory(status="complete", value=0, unallocated=-1, pool=-1)


def _field_refs(node) -> set[str]:
    if isinstance(node, models.F):
        return {node.name}
    if isinstance(node, tuple):  # a Q child: (lookup, value)
        return _field_refs(node[1])
    children = node.children if isinstance(node, models.Q) else getattr(node, "get_source_expressions", list)()
    return set().union(*(_field_refs(child) for child in children))


def _accounted_parts() -> list[str]:
    """The fields the model's pool_accounted constraint adds up (read from the constraint itself)."""
    _, constraint = _declared_constraints()["distribution_pool_accounted"]
    return sorted(_field_refs(constraint.condition))


def test_distribution_pool_accounted():
    parts = _accounted_parts()
    assert {"value", "unallocated"} <= set(parts)
    DistributionFactory(status="pending", pool=None)
    for part in parts:  # the whole pool in any one part balances
        DistributionFactory(status="complete", pool=1000, **{name: 1000 if name == part else 0 for name in parts})
    amounts = {name: 100 * (index + 1) for index, name in enumerate(parts)}
    DistributionFactory(status="complete", pool=sum(amounts.values()), **amounts)
    with violates("distribution_pool_accounted"):
        DistributionFactory(status="complete", pool=sum(amounts.values()) + 1, **amounts)
    with violates("distribution_pool_accounted"):
        DistributionFactory(status="complete", pool=sum(amounts.values()) - 1, **amounts)
    for part in parts:  # every part counts: leaving one out unbalances the pool
        with violates("distribution_pool_accounted"):
            DistributionFactory(status="complete", pool=sum(amounts.values()) - amounts[part], **amounts)


def test_distribution_pool_derivation():
    # The recorded period pool plus what rolled over is the pool; a period without a recorded one is free.
    DistributionFactory(status="complete", pool=1000, value=1000, rolled_over=0, period_pool=None)
    DistributionFactory(status="complete", pool=1000, value=1000, rolled_over=250, period_pool=750)
    with violates("distribution_pool_derivation"):
        DistributionFactory(status="complete", pool=1000, value=1000, rolled_over=250, period_pool=1000)


# --- Allocation --------------------------------------------------------------------------------------


def test_one_allocation_per_distribution_and_collaborator():
    allocation = AllocationFactory()
    AllocationFactory(distribution=allocation.distribution)  # another collaborator: fine
    with violates("allocation_unique_per_collaborator"):
        AllocationFactory(distribution=allocation.distribution, collaborator=allocation.collaborator)


def test_allocation_obligation_is_one_to_one():
    allocation = AllocationFactory()
    other = DistributionFactory(
        distributor=allocation.distribution.distributor, status="processing", pool=1000, value=1000
    )
    with violates_unique(Allocation, "obligation"):
        AllocationFactory(distribution=other, collaborator=allocation.collaborator, obligation=allocation.obligation)


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("value", 0, "allocation_value_positive"),
        ("value", -5, "allocation_value_positive"),
        ("score", -1, "allocation_score_nonneg"),
        ("rank", 0, "allocation_rank_positive"),
    ],
)
def test_allocation_value_score_rank(field, value, name):
    AllocationFactory(score=0, rank=1, value=1)
    with violates(name):
        AllocationFactory(obligation__value=1, **{field: value})


# --- Collaborator ------------------------------------------------------------------------------------


def test_collaborator_email_unique_per_organization_case_insensitively():
    organization = OrganizationFactory()
    # bulk_create skips Collaborator.save (which lowercases), so the functional index itself is tested.
    Collaborator.objects.bulk_create([Collaborator(organization=organization, full_name="A", email="Ann@Example.com")])
    with violates("collaborator_email_unique_per_org"):
        Collaborator.objects.bulk_create(
            [Collaborator(organization=organization, full_name="B", email="aNN@example.COM")]
        )


def test_collaborator_same_email_in_another_organization():
    CollaboratorFactory(email="ann@example.com")
    CollaboratorFactory(email="ANN@example.com")
    assert Collaborator.objects.filter(email="ann@example.com").count() == 2


def test_collaborator_save_normalizes_email_before_the_index():
    existing = CollaboratorFactory(email="ann@example.com")
    with violates("collaborator_email_unique_per_org"):
        CollaboratorFactory(organization=existing.organization, email="  Ann@EXAMPLE.com ")


def test_alias_unique_per_organization():
    alias = CollaboratorAliasFactory(type="tracking", code="REF1")
    CollaboratorAliasFactory(type="coupon", code="REF1", collaborator__organization=alias.organization)
    CollaboratorAliasFactory(type="tracking", code="REF1")  # another organization
    with violates("alias_unique_per_org"):
        CollaboratorAliasFactory(
            type="tracking", code="REF1", collaborator=CollaboratorFactory(organization=alias.organization)
        )


def test_alias_code_not_empty():
    with violates("alias_code_not_empty"):
        CollaboratorAliasFactory(code="")


# --- Distributor, metric types, revenue --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"pool_amount": -1}, "distributor_pool_amount_nonneg"),
        ({"pool_percent_bp": 10_001}, "distributor_pool_percent_le_100"),
        ({"pool_resolver": "bogus"}, "distributor_pool_valid"),
        ({"distribution_resolver": "bogus"}, "distributor_resolver_valid"),
        ({"hold_days": 3, "obligation_start_status": "approved"}, "distributor_hold_needs_pending_start"),
        ({"hold_days": 3661}, "distributor_hold_days_le_3660"),
    ],
)
def test_distributor_checks(fields, name):
    DistributorFactory(pool_amount=0, pool_percent_bp=10_000)
    with violates(name):
        DistributorFactory(**fields)


def test_metric_type_unique_per_distributor():
    distributor = DistributorFactory(metric_types={"manual": 1})
    MetricTypeFactory(name="manual")  # another distributor
    MetricTypeFactory(distributor=distributor, name="sale")
    with violates("metric_type_unique_per_distributor"):
        MetricTypeFactory(distributor=distributor, name="manual", points=5)


def test_revenue_reference_unique_per_organization():
    entry = RevenueEntryFactory(reference="order-1")
    RevenueEntryFactory(reference="order-1")  # another organization
    with violates("revenue_reference_unique_per_org"):
        RevenueEntryFactory(organization=entry.organization, reference="order-1", amount=1)


def test_revenue_amount_non_negative():
    RevenueEntryFactory(amount=0)
    with violates("revenue_amount_nonneg"):
        RevenueEntryFactory(amount=-1)


# --- Metric credits ----------------------------------------------------------------------------------


def test_metric_credit_quantity_positive():
    with violates("metric_credit_quantity_positive"):
        MetricCreditFactory(quantity=0, points_per_unit=3, points=0)


@pytest.mark.parametrize(("quantity", "points_per_unit", "points"), [(2, 3, 5), (2, 3, 7), (1, 0, 1)])
def test_metric_credit_points_consistent(quantity, points_per_unit, points):
    MetricCreditFactory(quantity=2, points_per_unit=3, points=6)
    MetricCreditFactory(quantity=1, points_per_unit=0, points=0)
    with violates("metric_credit_points_consistent"):
        MetricCreditFactory(quantity=quantity, points_per_unit=points_per_unit, points=points)


def test_credit_request_idempotency_key_unique_per_organization():
    request = CreditRequestFactory(idempotency_key="key-1")
    CreditRequestFactory(idempotency_key="key-1")  # another organization
    with violates("credit_request_idempotency_unique"):
        CreditRequestFactory(organization=request.organization, idempotency_key="key-1")


def test_credit_request_without_key_many_times():
    organization = OrganizationFactory()
    CreditRequestFactory.create_batch(3, organization=organization, idempotency_key=None)
    assert CreditRequest.objects.filter(organization=organization, idempotency_key__isnull=True).count() == 3


# --- Obligations, fulfillments, payouts --------------------------------------------------------------


def test_obligation_value_non_negative():
    ObligationFactory(value=0)
    with violates("obligation_value_nonneg"):
        ObligationFactory(value=-1)
    with violates("obligation_value_nonneg"):
        ObligationFactory(value=-1, award_type="distribution")


def _adjustment(**fields):
    target = ObligationFactory()
    defaults = {
        "organization": target.organization,
        "collaborator": target.collaborator,
        "award_type": "adjustment",
        "value": -500,
        "reason": "refund",
        "adjusts_obligation": target,
    }
    return ObligationFactory(**{**defaults, **fields})


def test_only_an_adjustment_may_be_negative_and_never_zero():
    assert _adjustment(value=-500).value == -500  # a clawback
    assert _adjustment(value=500).value == 500
    with violates("obligation_adjustment_nonzero"):
        _adjustment(value=0)


def test_obligation_award_type_from_its_list():
    for award_type in ("distribution", "manual"):
        ObligationFactory(award_type=award_type)
    with violates("obligation_award_type_valid"):
        ObligationFactory(award_type="bogus")


def test_an_adjustment_names_exactly_one_thing_it_corrects():
    distribution = DistributionFactory(status="processing", pool=0, value=0)
    _adjustment(adjusts_obligation=None, adjusts_distribution=distribution)
    with violates("obligation_adjustment_links_one"):
        _adjustment(adjusts_obligation=None)
    with violates("obligation_adjustment_links_one"):
        _adjustment(adjusts_distribution=distribution)
    target = ObligationFactory()
    with violates("obligation_adjustment_links_one"):  # only an adjustment names what it corrects
        ObligationFactory(organization=target.organization, collaborator=target.collaborator, adjusts_obligation=target)


def test_an_adjustment_has_a_reason():
    with violates("obligation_adjustment_has_reason"):
        _adjustment(reason="")


def test_only_a_distribution_obligation_is_held():
    ObligationFactory(award_type="distribution", release_at=EPOCH)
    with violates("obligation_release_only_distribution"):
        ObligationFactory(award_type="manual", release_at=EPOCH)
    with violates("obligation_release_only_distribution"):
        _adjustment(release_at=EPOCH)


def test_one_minimum_payout_per_organization_and_units():
    minimum = MinimumPayout.objects.create(organization=OrganizationFactory(), units="USD", amount=1000)
    MinimumPayout.objects.create(organization=minimum.organization, units="EUR", amount=1000)
    MinimumPayout.objects.create(organization=OrganizationFactory(), units="USD", amount=1000)
    with violates("minimum_payout_unique_per_units"):
        MinimumPayout.objects.create(organization=minimum.organization, units="USD", amount=5)


def test_minimum_payout_amount_non_negative():
    MinimumPayout.objects.create(organization=OrganizationFactory(), units="USD", amount=0)
    with violates("minimum_payout_amount_nonneg"):
        MinimumPayout.objects.create(organization=OrganizationFactory(), units="USD", amount=-1)


def test_obligation_fulfilled_requires_payout():
    payout = PayoutFactory(status="paid", paid_at=EPOCH)
    ObligationFactory(
        organization=payout.organization, collaborator=payout.collaborator, status="fulfilled", payout=payout
    )
    with violates("obligation_fulfilled_has_payout"):
        ObligationFactory(status="fulfilled", payout=None)


def test_obligation_losing_its_payout_while_fulfilled_is_refused():
    payout = PayoutFactory(status="paid", paid_at=EPOCH)
    obligation = ObligationFactory(
        organization=payout.organization, collaborator=payout.collaborator, status="fulfilled", payout=payout
    )
    with violates("obligation_fulfilled_has_payout"):
        Obligation.objects.filter(pk=obligation.pk).update(payout=None)


def test_payout_unique_per_fulfillment_collaborator_and_units():
    payout = PayoutFactory(units="USD")
    PayoutFactory(fulfillment=payout.fulfillment, collaborator=payout.collaborator, units="EUR")
    PayoutFactory(collaborator=payout.collaborator, units="USD")  # another fulfillment
    with violates("payout_unique_per_fulfillment"):
        PayoutFactory(fulfillment=payout.fulfillment, collaborator=payout.collaborator, units="USD")


def test_payout_amount_non_negative():
    PayoutFactory(amount=0)
    with violates("payout_amount_nonneg"):
        PayoutFactory(amount=-1)


@pytest.mark.parametrize(
    ("status", "paid_at"),
    [("paid", None), ("unpaid", EPOCH)],
    ids=["paid-without-date", "unpaid-with-date"],
)
def test_payout_paid_at_matches_status(status, paid_at):
    PayoutFactory(status="paid", paid_at=EPOCH)
    PayoutFactory(status="unpaid", paid_at=None)
    with violates("payout_paid_at_matches_status"):
        PayoutFactory(status=status, paid_at=paid_at)


# --- Webhooks ----------------------------------------------------------------------------------------


def test_one_delivery_per_endpoint_and_event():
    delivery = WebhookDeliveryFactory()
    WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=delivery.organization), event=delivery.event)
    WebhookDeliveryFactory(endpoint=delivery.endpoint, event=EventFactory(organization=delivery.organization))
    with violates("webhookdelivery_one_per_endpoint_event"):
        WebhookDeliveryFactory(endpoint=delivery.endpoint, event=delivery.event)


@pytest.mark.parametrize(
    ("status", "due"),
    [("pending", False), ("succeeded", True), ("failed", True)],
    ids=["pending-never-due", "succeeded-still-due", "failed-still-due"],
)
def test_a_pending_delivery_is_due_and_a_finished_one_is_not(status, due):
    WebhookDeliveryFactory(status="pending", next_attempt_at=EPOCH)
    WebhookDeliveryFactory(status="failed", next_attempt_at=None)
    with violates("webhookdelivery_next_attempt_matches_status"):
        WebhookDeliveryFactory(status=status, next_attempt_at=EPOCH if due else None)


# --- Status values -----------------------------------------------------------------------------------

STATUS_CONSTRAINTS = [
    (Collaborator, CollaboratorFactory, "collaborator_status_valid"),
    (Distributor, DistributorFactory, "distributor_status_valid"),
    (Distribution, DistributionFactory, "distribution_status_valid"),
    (Obligation, ObligationFactory, "obligation_status_valid"),
    (Fulfillment, FulfillmentFactory, "fulfillment_status_valid"),
    # A payout's status is pinned by the paid_at check: only (unpaid, NULL) and (paid, a date) pass.
    (Payout, PayoutFactory, "payout_paid_at_matches_status"),
    (EngineRun, EngineRunFactory, "engine_run_status_valid"),
    (WebhookDelivery, WebhookDeliveryFactory, "webhookdelivery_status_valid"),
]


@pytest.mark.parametrize(
    ("model", "factory", "name"), STATUS_CONSTRAINTS, ids=lambda value: getattr(value, "__name__", "")
)
def test_unknown_status_refused_by_the_database(model, factory, name):
    row = factory()
    with violates(name):
        model.objects.filter(pk=row.pk).update(status="bogus")
    row.refresh_from_db()
    assert row.status != "bogus"


def test_every_status_field_is_covered_here():
    status_models = {
        model for model in _project_models() if any(field.name == "status" for field in model._meta.get_fields())
    }
    assert status_models == {model for model, _, _ in STATUS_CONSTRAINTS}
    assert CollaboratorAlias not in status_models


def test_credit_batch_idempotency_key_unique_per_organization():
    from django.utils import timezone

    from metrics.models import CreditBatch

    organization, other = OrganizationFactory(), OrganizationFactory()

    def batch(org):
        return CreditBatch.objects.create(
            organization=org,
            idempotency_key="batch-1",
            request_fingerprint="f",
            source="api",
            items=[],
            created_at=timezone.now(),
        )

    batch(organization)
    batch(other)  # another organization
    with violates("credit_batch_idempotency_unique"):
        batch(organization)


def test_a_status_change_moves():
    from django.utils import timezone

    from lifecycle.models import StatusChange

    row = {"organization_id": 1, "model": "obligations.obligation", "object_id": 1, "at": timezone.now()}
    StatusChange.objects.create(**row, from_status="pending", to_status="approved")
    with violates("statuschange_moves"):
        StatusChange.objects.create(**row, from_status="approved", to_status="approved")


def test_a_correction_balances_and_has_a_reason():
    from distributions.models import Correction
    from tests.factories import correction_with_line

    stored = correction_with_line()
    fields = {
        "organization": stored.organization,
        "distribution": stored.distribution,
        "created_at": stored.created_at,
        "reason": "again",
        "period_pool": 1300,
        "pool": 1300,
        "value": 1300,
        "previous_value": 1200,
        "adjustment_total": 100,
    }
    Correction.objects.create(**fields)
    with violates("correction_balances"):
        Correction.objects.create(**{**fields, "adjustment_total": 50})  # 1200 + 50 != 1300
    with violates("correction_pool_split"):
        Correction.objects.create(**{**fields, "pool": 1400})  # 1400 != 1300 + 0 + 0
    with violates("correction_has_reason"):
        Correction.objects.create(**{**fields, "reason": ""})
    with violates("correction_amounts_nonneg"):
        Correction.objects.create(
            **{**fields, "pool": 1300, "value": 1400, "unallocated": -100, "previous_value": 1300}
        )


def test_a_correction_line_is_its_non_zero_difference_once_per_collaborator():
    from distributions.models import CorrectionLine
    from tests.factories import correction_with_line

    correction = correction_with_line()
    line = correction.lines.get()

    def another(**changes):
        adjustment = ObligationFactory(
            organization=correction.organization,
            collaborator=line.collaborator,
            value=5,
            award_type="adjustment",
            reason="r",
            adjusts_distribution=correction.distribution,
        )
        fields = {
            "correction": correction,
            "collaborator": CollaboratorFactory(organization=correction.organization),
            "adjustment": adjustment,
            "score": 1,
            "previous_value": 10,
            "corrected_value": 15,
            "difference": 5,
        }
        return CorrectionLine.objects.create(**{**fields, **changes})

    another()
    with violates("correction_line_difference"):
        another(difference=4)
    with violates("correction_line_nonzero"):
        another(corrected_value=10, difference=0)
    with violates("correction_line_corrected_nonneg"):
        another(previous_value=0, corrected_value=-5, difference=-5)
    with violates("correction_line_unique_collaborator"):
        another(collaborator=line.collaborator)
