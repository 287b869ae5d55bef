"""Money after the trigger: holding periods, minimum payouts with carry-over, adjustments and clawbacks."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from distributions.services import payouts_mark_paid_and_follow
from events.models import Event
from obligations.balances import BELOW_MINIMUM, NET_DEBT, NET_ZERO, hold_reason, split_balances
from obligations.models import Fulfillment, MinimumPayout, Obligation
from obligations.selectors import balances_held_back
from obligations.services import (
    fulfillment_generate,
    obligation_adjust,
    obligation_manual_save,
    obligations_release_held,
    obligations_transition,
)
from tests.distributions.helpers import at, credit, run_engine
from tests.factories import (
    AllocationFactory,
    CollaboratorFactory,
    DistributionFactory,
    DistributorFactory,
)

pytestmark = pytest.mark.django_db

DUE = at("2026-03-01T00:00:00Z")


def command(name, *args):
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def held_obligation(org, collaborator, *, release_at, status="pending", value=1000):
    """A distribution's obligation (with its allocation) held until ``release_at``."""
    allocation = AllocationFactory(
        distribution__distributor__organization=org,
        collaborator=collaborator,
        value=value,
        obligation__status=status,
        obligation__release_at=release_at,
    )
    return allocation.obligation


# --- holding period --------------------------------------------------------------------------------------------


def test_a_trigger_holds_the_obligations_of_a_distributor_with_a_hold(make_distributor, ada, alan):
    held = make_distributor(name="held", hold_days=14)
    plain = make_distributor(name="plain")
    for distributor in (held, plain):
        credit(ada, distributor, 3, at("2026-01-10T00:00:00Z"))
        credit(alan, distributor, 1, at("2026-01-11T00:00:00Z"))
    run_engine("--now", "2026-02-01T00:00:00Z")

    held_ones = list(Obligation.objects.filter(allocation__distribution__distributor=held))
    distribution = held_ones[0].allocation.distribution
    assert len(held_ones) == 2
    assert {o.status for o in held_ones} == {"pending"}
    # The trigger's write instant (the distribution's triggered_at) plus 14 days of 24 hours.
    assert {o.release_at for o in held_ones} == {distribution.triggered_at + timedelta(days=14)}
    assert set(Obligation.objects.filter(allocation__distribution__distributor=plain).values_list("release_at")) == {
        (None,)
    }


def test_a_hold_needs_obligations_that_start_pending(org):
    distributor = DistributorFactory.build(organization=org, hold_days=3, obligation_start_status="approved")
    with pytest.raises(ValidationError) as error:
        distributor.full_clean(exclude=["eligible_collaborators"])
    assert "hold_days" in error.value.message_dict


def test_release_approves_pending_obligations_whose_hold_passed_and_no_others(org, ada, alan):
    due = held_obligation(org, ada, release_at=DUE)
    early = held_obligation(org, alan, release_at=DUE - timedelta(days=3))
    later = held_obligation(org, ada, release_at=DUE + timedelta(seconds=1))
    rejected = held_obligation(org, alan, release_at=DUE, status="rejected")
    cancelled = held_obligation(org, ada, release_at=DUE, status="cancelled")
    unheld = AllocationFactory(distribution__distributor__organization=org, collaborator=ada).obligation

    assert obligations_release_held(as_of=DUE) == 2

    status = dict(Obligation.objects.values_list("pk", "status"))
    assert (status[due.pk], status[early.pk]) == ("approved", "approved")
    assert (status[later.pk], status[rejected.pk], status[cancelled.pk], status[unheld.pk]) == (
        "pending",
        "rejected",
        "cancelled",
        "pending",
    )
    events = Event.objects.filter(type="obligation.approved").order_by("object_key")
    assert sorted(event.payload["id"] for event in events) == sorted([due.pk, early.pk])
    assert {event.payload["status"] for event in events} == {"approved"}
    assert obligations_release_held(as_of=DUE) == 0  # released once


def test_release_runs_in_bounded_batches_of_one_statement(org, ada):
    for minutes in range(5):
        held_obligation(org, ada, release_at=DUE - timedelta(minutes=minutes))
    with CaptureQueriesContext(connection) as queries:
        assert obligations_release_held(as_of=DUE, batch_size=2) == 5
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 3  # 2 + 2 + 1
    assert Obligation.objects.filter(status="approved").count() == 5


def test_release_scope_organization_and_distributor(org, other_org, ada):
    mine = held_obligation(org, ada, release_at=DUE)
    other = held_obligation(other_org, CollaboratorFactory(organization=other_org), release_at=DUE)
    assert obligations_release_held(as_of=DUE, organization_id=other_org.pk) == 1
    assert Obligation.objects.get(pk=mine.pk).status == "pending"
    distributor_id = mine.allocation.distribution.distributor_id
    assert obligations_release_held(as_of=DUE, distributor_id=distributor_id + 1000) == 0
    assert obligations_release_held(as_of=DUE, distributor_id=distributor_id) == 1
    assert {Obligation.objects.get(pk=pk).status for pk in (mine.pk, other.pk)} == {"approved"}


def test_the_heartbeat_releases_held_obligations_and_says_so(make_distributor, ada):
    distributor = make_distributor(hold_days=7)
    credit(ada, distributor, 3, at("2026-01-10T00:00:00Z"))
    out, _ = command("run_distributions", "--now", "2026-02-01T00:00:00Z")
    assert "released 0 held obligation(s)" in out
    obligation = Obligation.objects.get(collaborator=ada)
    assert obligation.status == "pending"
    # Seven days later (the hold is counted from the real write; moved back here instead of waiting a week).
    Obligation.objects.filter(pk=obligation.pk).update(release_at=at("2026-02-08T00:00:00Z"))
    dry, _ = command("run_distributions", "--dry-run", "--now", "2026-02-09T00:00:00Z")
    assert "release 1 held obligation(s)" in dry
    assert Obligation.objects.get(pk=obligation.pk).status == "pending"
    out, _ = command("run_distributions", "--now", "2026-02-09T00:00:00Z")
    assert "released 1 held obligation(s)" in out
    obligation.refresh_from_db()
    assert obligation.status == "approved"
    obligation.allocation.distribution.refresh_from_db()
    assert obligation.allocation.distribution.status == "processing"  # still open: approved, not paid


def test_a_held_obligation_rejected_before_its_release_stays_rejected(org, ada):
    obligation = held_obligation(org, ada, release_at=DUE)
    obligations_transition(obligation_ids=[obligation.pk], status="rejected")
    assert obligations_release_held(as_of=DUE + timedelta(days=1)) == 0
    assert Obligation.objects.get(pk=obligation.pk).status == "rejected"


def test_the_api_shows_release_at(api, org, ada):
    obligation = held_obligation(org, ada, release_at=DUE)
    body = api.get(f"/api/v1/obligations/{obligation.pk}", {"fields": "releaseAt"}).json()
    assert body == {"id": obligation.pk, "releaseAt": "2026-03-01T00:00:00Z"}


# --- balances (pure) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("balance", "minimum", "reason"),
    [(-1, 0, NET_DEBT), (0, 0, NET_ZERO), (1, 0, None), (999, 1000, BELOW_MINIMUM), (1000, 1000, None)],
)
def test_hold_reason(balance, minimum, reason):
    assert hold_reason(balance, minimum) == reason


def test_split_balances_uses_the_minimum_of_each_units():
    paid, held = split_balances({(1, "USD"): 500, (1, "points"): 500, (2, "USD"): -5}, {"USD": 1000})
    assert paid == [(1, "points")]
    assert held == {(1, "USD"): BELOW_MINIMUM, (2, "USD"): NET_DEBT}


# --- minimum payout --------------------------------------------------------------------------------------------


def test_a_balance_below_the_minimum_is_held_back_and_carries_over(org, ada, alan, make_obligation):
    MinimumPayout.objects.create(organization=org, units="USD", amount=1000)
    small = make_obligation(ada, 600, "USD")
    enough = make_obligation(alan, 1000, "USD")
    points = make_obligation(ada, 5, "points")  # no minimum in points

    fulfillment = fulfillment_generate(organization=org)

    assert {(p.collaborator_id, p.units, p.amount) for p in fulfillment.payouts.all()} == {
        (alan.pk, "USD", 1000),
        (ada.pk, "points", 5),
    }
    assert fulfillment.held_back == [
        {
            "collaborator_id": ada.pk,
            "collaborator_name": "Ada Lovelace",
            "units": "USD",
            "balance": 600,
            "minimum": 1000,
            "obligation_count": 1,
            "reason": "below_minimum",
        }
    ]
    small.refresh_from_db()
    assert (small.status, small.payout_id) == ("approved", None)
    assert Obligation.objects.get(pk=enough.pk).payout_id is not None
    assert Obligation.objects.get(pk=points.pk).payout_id is not None

    # Nothing else to pay: no fulfillment, and the command says who waits and why.
    assert fulfillment_generate(organization=org) is None
    out, _ = command("generate_fulfillment", "--organization", "acme")
    assert out == (
        "Nothing to fulfil for 'acme': no balance to pay; held back (obligations stay approved): "
        f"Ada Lovelace ({ada.pk}) 6.00 USD below the minimum 10.00 USD.\n"
    )

    # More earnings add up: the carried-over obligation is paid with them.
    later = make_obligation(ada, 400, "USD")
    out, _ = command("generate_fulfillment", "--organization", "acme")
    second = Fulfillment.objects.latest("pk")
    assert out == f"Fulfillment {second.pk} for 'acme': 1 payout(s) from 2 obligation(s), 10.00 USD.\n"
    assert second.held_back == []
    payout = second.payouts.get()
    assert (payout.collaborator_id, payout.amount) == (ada.pk, 1000)
    assert set(payout.obligations.values_list("pk", flat=True)) == {small.pk, later.pk}


def test_the_command_summary_names_what_a_fulfillment_held_back(org, ada, alan, make_obligation):
    MinimumPayout.objects.create(organization=org, units="USD", amount=2000)
    make_obligation(ada, 1999, "USD")
    make_obligation(alan, 2500, "USD")
    out, _ = command("generate_fulfillment", "--organization", "acme")
    fulfillment = Fulfillment.objects.get()
    assert out == (
        f"Fulfillment {fulfillment.pk} for 'acme': 1 payout(s) from 1 obligation(s), 25.00 USD; held back "
        f"(obligations stay approved): Ada Lovelace ({ada.pk}) 19.99 USD below the minimum 20.00 USD.\n"
    )


def test_a_minimum_of_zero_pays_every_positive_balance(org, ada, make_obligation):
    MinimumPayout.objects.create(organization=org, units="USD", amount=0)
    make_obligation(ada, 1, "USD")
    assert fulfillment_generate(organization=org).payouts.get().amount == 1


# --- adjustments and clawbacks ---------------------------------------------------------------------------------


@pytest.fixture
def paid(org, ada, make_obligation):
    """Ada's 10.00 USD obligation, fulfilled (its payout paid)."""
    obligation = make_obligation(ada, 1000, "USD")
    fulfillment = fulfillment_generate(organization=org)
    payouts_mark_paid_and_follow(payouts=fulfillment.payouts.all())
    obligation.refresh_from_db()
    assert obligation.status == "fulfilled"
    return obligation


def adjust(org, collaborator, value, target, reason="refunded order"):
    key = "adjusts_obligation" if isinstance(target, Obligation) else "adjusts_distribution"
    return obligation_adjust(organization=org, collaborator=collaborator, value=value, reason=reason, **{key: target})


def test_a_clawback_of_a_paid_obligation_is_a_new_approved_obligation(org, ada, paid):
    before = Obligation.objects.filter(pk=paid.pk).values().get()
    clawback = adjust(org, ada, -300, paid)

    assert (clawback.award_type, clawback.status, clawback.value, clawback.units) == (
        "adjustment",
        "approved",
        -300,
        "USD",
    )
    assert (clawback.adjusts_obligation_id, clawback.reason) == (paid.pk, "refunded order")
    assert Obligation.objects.filter(pk=paid.pk).values().get() == before  # the fulfilled one is untouched
    created = Event.objects.get(type="obligation.created", object_key=f"obligation:{clawback.pk}")
    assert (created.payload["value"], created.payload["awardType"]) == (-300, "adjustment")


def test_a_negative_adjustment_nets_against_later_earnings(org, ada, alan, paid, make_obligation):
    clawback = adjust(org, ada, -300, paid)
    earned = make_obligation(ada, 1000, "USD")
    make_obligation(alan, 200, "USD")

    fulfillment = fulfillment_generate(organization=org)

    payouts = {p.collaborator_id: p for p in fulfillment.payouts.all()}
    assert (payouts[ada.pk].amount, payouts[alan.pk].amount) == (700, 200)
    assert set(payouts[ada.pk].obligations.values_list("pk", flat=True)) == {clawback.pk, earned.pk}
    payouts_mark_paid_and_follow(payouts=[payouts[ada.pk]])
    assert set(Obligation.objects.filter(pk__in=[clawback.pk, earned.pk]).values_list("status", flat=True)) == {
        "fulfilled"
    }


def test_a_net_debt_carries_forward_until_covered(org, ada, alan, paid, make_obligation):
    clawback = adjust(org, ada, -1500, paid)
    first = make_obligation(ada, 1000, "USD")  # 10.00 against a 15.00 debt: -5.00
    make_obligation(alan, 200, "USD")

    fulfillment = fulfillment_generate(organization=org)
    assert [(p.collaborator_id, p.amount) for p in fulfillment.payouts.all()] == [(alan.pk, 200)]
    assert fulfillment.held_back == [
        {
            "collaborator_id": ada.pk,
            "collaborator_name": "Ada Lovelace",
            "units": "USD",
            "balance": -500,
            "minimum": 0,
            "obligation_count": 2,
            "reason": "net_debt",
        }
    ]
    assert set(Obligation.objects.filter(pk__in=[clawback.pk, first.pk]).values_list("status", "payout")) == {
        ("approved", None)
    }
    out, _ = command("generate_fulfillment", "--organization", "acme")
    assert out == (
        "Nothing to fulfil for 'acme': no balance to pay; held back (obligations stay approved): "
        f"Ada Lovelace ({ada.pk}) net debt -5.00 USD.\n"
    )

    make_obligation(ada, 500, "USD")  # covers the debt exactly: nets to zero, still nothing to pay
    assert fulfillment_generate(organization=org) is None
    assert [(b.reason, b.balance, b.obligation_count) for b in balances_held_back(organization=org)] == [
        (NET_ZERO, 0, 3)
    ]

    make_obligation(ada, 250, "USD")
    payout = fulfillment_generate(organization=org).payouts.get()
    assert (payout.collaborator_id, payout.amount, payout.obligations.count()) == (ada.pk, 250, 4)


def test_netting_is_per_units(org, ada, paid, make_obligation):
    adjust(org, ada, -500, paid)
    make_obligation(ada, 300, "points")
    fulfillment = fulfillment_generate(organization=org)
    assert [(p.units, p.amount) for p in fulfillment.payouts.all()] == [("points", 300)]
    assert [(entry["units"], entry["balance"]) for entry in fulfillment.held_back] == [("USD", -500)]


def test_an_adjustment_of_a_distribution(org, ada, alan):
    distribution = AllocationFactory(distribution__distributor__organization=org, collaborator=ada).distribution
    distribution.triggered_at = DUE
    distribution.save(update_fields=["triggered_at"])
    bonus = adjust(org, alan, 250, distribution, reason="missed credit")  # someone the period missed
    assert (bonus.adjusts_distribution_id, bonus.adjusts_obligation_id, bonus.units) == (distribution.pk, None, "USD")
    assert list(distribution.adjustments.all()) == [bonus]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": "   "}, "reason"),
        ({"value": 0}, "value"),
        ({"value": 1.5}, "value"),
        ({"collaborator": "alan"}, "collaborator"),
        ({"units": "EUR"}, "units"),
        ({"organization": "other"}, "obligation"),
    ],
)
def test_an_adjustment_refused_names_its_field(org, other_org, ada, alan, paid, change, field):
    arguments = {"organization": org, "collaborator": ada, "value": -100, "reason": "why", "adjusts_obligation": paid}
    arguments.update(change)
    if change.get("collaborator") == "alan":
        arguments["collaborator"] = alan
    if change.get("organization") == "other":
        arguments["organization"] = other_org
        arguments["collaborator"] = CollaboratorFactory(organization=other_org)
    with pytest.raises(ValidationError) as error:
        obligation_adjust(**arguments)
    assert field in error.value.message_dict
    assert not Obligation.objects.filter(award_type="adjustment").exists()


def test_an_adjustment_names_exactly_one_target_and_a_triggered_distribution(org, ada, paid):
    pending = DistributionFactory(distributor__organization=org)
    with pytest.raises(ValidationError) as neither:
        obligation_adjust(organization=org, collaborator=ada, value=5, reason="x")
    with pytest.raises(ValidationError) as both:
        obligation_adjust(
            organization=org,
            collaborator=ada,
            value=5,
            reason="x",
            adjusts_obligation=paid,
            adjusts_distribution=pending,
        )
    with pytest.raises(ValidationError) as untriggered:
        adjust(org, ada, 5, pending)
    assert "adjusts" in neither.value.message_dict and "adjusts" in both.value.message_dict
    assert "only a triggered distribution" in untriggered.value.message_dict["distribution"][0]


def test_adjustments_and_fulfilled_obligations_are_never_edited(org, ada, paid):
    clawback = adjust(org, ada, -100, paid)
    for obligation in (paid, clawback):
        obligation.refresh_from_db()
        obligation.value = 1
        with pytest.raises(ValidationError):
            obligation_manual_save(obligation=obligation)
    assert Obligation.objects.get(pk=paid.pk).value == 1000
    assert Obligation.objects.get(pk=clawback.pk).value == -100
    typed = Obligation(organization=org, collaborator=ada, value=-5, units="USD", award_type="adjustment")
    with pytest.raises(ValidationError) as error:
        obligation_manual_save(obligation=typed)  # an adjustment is never typed in as a manual obligation
    assert "award_type" in error.value.message_dict


# --- adjust_obligation -----------------------------------------------------------------------------------------


def test_adjust_obligation_command(org, ada, paid):
    out, _ = command(
        "adjust_obligation",
        "--organization",
        "acme",
        "--obligation",
        str(paid.pk),
        "--value",
        "-2.50",
        "--reason",
        "fraud",
    )
    clawback = Obligation.objects.get(award_type="adjustment")
    assert (clawback.value, clawback.collaborator_id, clawback.adjusts_obligation_id, clawback.reason) == (
        -250,
        ada.pk,
        paid.pk,
        "fraud",
    )
    assert out == (
        f"Adjustment {clawback.pk} for Ada Lovelace ({ada.pk}): -2.50 USD, correcting obligation {paid.pk}; "
        "approved, the next fulfillment nets it.\n"
    )


def test_adjust_obligation_command_for_a_distribution(org, ada, alan):
    distribution = AllocationFactory(distribution__distributor__organization=org, collaborator=ada).distribution
    distribution.triggered_at = DUE
    distribution.save(update_fields=["triggered_at"])
    command(
        "adjust_obligation",
        "--organization",
        "acme",
        "--distribution",
        str(distribution.pk),
        "--collaborator",
        str(alan.pk),
        "--value",
        "12.50",
        "--units",
        "usd",
        "--reason",
        "late credit",
    )
    bonus = Obligation.objects.get(award_type="adjustment")
    assert (bonus.value, bonus.units, bonus.collaborator_id, bonus.adjusts_distribution_id) == (
        1250,
        "USD",
        alan.pk,
        distribution.pk,
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--value", "-1.005", "--reason", "x"], "--value: '-1.005' has more decimal places than USD allows (2)."),
        (["--value", "0", "--reason", "x"], "--value: An adjustment is a non-zero whole amount"),
        (["--value", "1", "--reason", " "], "--reason: An adjustment needs a reason."),
        (["--value", "1", "--reason", "x", "--units", "EUR"], "--units: Obligation"),
        (["--value", "1", "--reason", "x", "--units", "$$"], "--units: '$$' is not a units code"),
        (["--value", "1", "--reason", "x", "--collaborator", "999999"], "--collaborator: no collaborator '999999'"),
    ],
)
def test_adjust_obligation_refusals_are_one_line(paid, arguments, message):
    with pytest.raises(CommandError) as error:
        command("adjust_obligation", "--organization", "acme", "--obligation", str(paid.pk), *arguments)
    assert str(error.value).startswith(message)
    assert not Obligation.objects.filter(award_type="adjustment").exists()


def test_adjust_obligation_never_reaches_another_organization(org, other_org, paid):
    base = ["adjust_obligation", "--value", "1", "--reason", "x"]
    with pytest.raises(CommandError) as error:
        command(*base, "--organization", "other", "--obligation", str(paid.pk))
    assert str(error.value) == f"--obligation: no obligation '{paid.pk}' in organization 'other'."
    foreign = DistributionFactory(distributor__organization=other_org)
    with pytest.raises(CommandError) as error:
        command(*base, "--organization", "acme", "--distribution", str(foreign.pk))
    assert str(error.value) == f"--distribution: no distribution '{foreign.pk}' in organization 'acme'."
    own = DistributionFactory(distributor__organization=org)
    with pytest.raises(CommandError) as error:
        command(*base, "--organization", "acme", "--distribution", str(own.pk))
    assert str(error.value).startswith("--collaborator: required with --distribution")


# --- admin -----------------------------------------------------------------------------------------------------


def test_the_adjust_action_asks_then_creates(admin_client, org, ada, paid):
    url = reverse("admin:obligations_obligation_changelist")
    page = admin_client.post(url, {"action": "adjust", "_selected_action": [str(paid.pk)]})
    assert page.status_code == 200 and b"Create the adjustment" in page.content
    refused = admin_client.post(
        url, {"action": "adjust", "_selected_action": [str(paid.pk)], "post": "yes", "value": "-1.234", "reason": ""}
    )
    assert refused.status_code == 200
    assert set(refused.context["form"].errors) == {"value", "reason"}
    assert not Obligation.objects.filter(award_type="adjustment").exists()

    done = admin_client.post(
        url,
        {"action": "adjust", "_selected_action": [str(paid.pk)], "post": "yes", "value": "-1.23", "reason": "refund"},
        follow=True,
    )
    clawback = Obligation.objects.get(award_type="adjustment")
    assert (clawback.value, clawback.adjusts_obligation_id, clawback.reason) == (-123, paid.pk, "refund")
    assert [str(m) for m in done.context["messages"]] == [
        f"Adjustment {clawback} created for obligation {paid.pk} (approved: the next fulfillment nets it)."
    ]
    listed = admin_client.get(url).content.decode()
    assert f"adjusts obligation #{paid.pk}" in listed and "-1.23 USD" in listed


def test_the_adjust_action_takes_one_obligation(admin_client, org, ada, make_obligation):
    ids = [str(make_obligation(ada).pk), str(make_obligation(ada).pk)]
    response = admin_client.post(
        reverse("admin:obligations_obligation_changelist"), {"action": "adjust", "_selected_action": ids}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [
        "Nothing changed: select exactly one obligation to adjust."
    ]


def test_minimum_payouts_in_the_admin(admin_client, org):
    url = reverse("admin:obligations_minimumpayout_add")
    refused = admin_client.post(url, {"organization": org.pk, "units": "USD", "amount": "-1"})
    assert refused.status_code == 200 and "amount" in refused.context["adminform"].form.errors
    admin_client.post(url, {"organization": org.pk, "units": "usd", "amount": "25.00"})
    assert list(MinimumPayout.objects.values_list("units", "amount")) == [("USD", 2500)]
    duplicate = admin_client.post(url, {"organization": org.pk, "units": "USD", "amount": "1"})
    assert duplicate.status_code == 200 and duplicate.context["adminform"].form.errors
    assert "25.00 USD" in admin_client.get(reverse("admin:obligations_minimumpayout_changelist")).content.decode()


def test_the_fulfillment_page_says_what_was_held_back(admin_client, org, ada, alan, paid, make_obligation):
    adjust(org, ada, -1500, paid)
    make_obligation(alan, 200, "USD")
    fulfillment = fulfillment_generate(organization=org)
    page = admin_client.get(reverse("admin:obligations_fulfillment_change", args=[fulfillment.pk])).content.decode()
    assert "Ada Lovelace" in page and "-15.00 USD" in page and "<td>net debt</td>" in page
    listed = admin_client.get(reverse("admin:obligations_fulfillment_changelist")).content.decode()
    assert "Held back" in listed and '<td class="field-fulfillment_held_back_count">1</td>' in listed


def test_the_obligation_admin_shows_release_at_and_offers_no_adjustment_type(admin_client, org, ada):
    obligation = held_obligation(org, ada, release_at=DUE)
    page = admin_client.get(reverse("admin:obligations_obligation_change", args=[obligation.pk])).content.decode()
    assert "2026-03-01 00:00" in page
    add = admin_client.get(reverse("admin:obligations_obligation_add"))
    assert [value for value, _ in add.context["adminform"].form.fields["award_type"].choices] == [
        "distribution",
        "manual",
    ]


def test_the_distributor_admin_shows_the_hold(admin_client, make_distributor):
    distributor = make_distributor(hold_days=5)
    page = admin_client.get(reverse("admin:distributors_distributor_change", args=[distributor.pk])).content.decode()
    assert 'name="hold_days"' in page and 'value="5"' in page
