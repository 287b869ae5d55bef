"""Fulfillment: generating payouts, exporting them, paying, taking back, failing."""

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from distributions.services import (
    obligations_transition_and_follow,
    payouts_mark_paid_and_follow,
    payouts_mark_unpaid_and_follow,
)
from lifecycle import IllegalTransition
from obligations.models import Fulfillment, Obligation, Payout
from obligations.services import fulfillment_generate, fulfillment_mark_failed
from tests.factories import CollaboratorFactory, ObligationFactory

pytestmark = pytest.mark.django_db


def command(name, *args):
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def batch(org, ada, alan, make_obligation):
    """Approved obligations: Ada 12.34 + 0.66 USD and 300 points, Alan 5.00 USD; one fulfillment of them."""
    obligations = [
        make_obligation(ada, 1234, "USD"),
        make_obligation(ada, 66, "USD"),
        make_obligation(ada, 300, "points"),
        make_obligation(alan, 500, "USD"),
    ]
    return fulfillment_generate(organization=org), obligations


def test_generate_groups_approved_obligations_per_collaborator_and_units(org, ada, alan, make_obligation):
    wanted = [
        make_obligation(ada, 1234, "USD"),
        make_obligation(ada, 66, "USD"),
        make_obligation(ada, 300, "points"),
        make_obligation(alan, 500, "USD"),
    ]
    make_obligation(ada, 999, "USD", status="pending")
    make_obligation(alan, 999, "USD", status="rejected")
    ObligationFactory(status="approved")  # another organization

    fulfillment = fulfillment_generate(organization=org)

    assert fulfillment.status == "pending" and fulfillment.organization == org
    payouts = {(p.collaborator_id, p.units): p for p in fulfillment.payouts.all()}
    assert {key: p.amount for key, p in payouts.items()} == {
        (ada.pk, "USD"): 1300,
        (ada.pk, "points"): 300,
        (alan.pk, "USD"): 500,
    }
    for obligation in wanted:
        obligation.refresh_from_db()
        assert obligation.payout == payouts[(obligation.collaborator_id, obligation.units)]
        assert obligation.status == "approved"
    assert Obligation.objects.filter(payout__isnull=False).count() == 4
    # Everything approved is batched: a second run has nothing to do.
    assert fulfillment_generate(organization=org) is None
    assert Fulfillment.objects.count() == 1


def test_generate_fulfillment_command(org, ada, alan, make_obligation):
    make_obligation(ada, 1234, "USD")
    make_obligation(alan, 500, "USD")
    make_obligation(alan, 7, "points")
    out, _ = command("generate_fulfillment", "--organization", "acme")
    fulfillment = Fulfillment.objects.get()
    # Amounts as the admin shows them (distributors.units.format_totals), joined by " · " (never a comma).
    assert out == f"Fulfillment {fulfillment.pk} for 'acme': 3 payout(s) from 3 obligation(s), 17.34 USD · 7 points.\n"


def test_generate_fulfillment_with_nothing_to_do_says_so_and_creates_nothing(org, ada, make_obligation):
    make_obligation(ada, status="pending")
    out, _ = command("generate_fulfillment", "--organization", "acme")
    assert out == "Nothing to fulfil for 'acme': no approved obligation outside a payout.\n"
    assert not Fulfillment.objects.exists() and not Payout.objects.exists()
    with pytest.raises(CommandError, match=r"^--organization: no organization 'nope' \(give its slug or id\)\.$"):
        command("generate_fulfillment", "--organization", "nope")


def test_export_writes_decimals_at_the_units_precision_and_moves_the_fulfillment_to_processing(batch, ada, alan):
    fulfillment, _ = batch
    out, err = command("export_payouts", "--fulfillment", str(fulfillment.pk))
    ids = {(p.collaborator_id, p.units): p.pk for p in fulfillment.payouts.all()}
    assert out.splitlines() == [
        "payoutId,collaboratorId,collaboratorName,email,units,amount,status",
        f"{ids[(ada.pk, 'USD')]},{ada.pk},Ada Lovelace,ada@example.com,USD,13.00,unpaid",
        f"{ids[(ada.pk, 'points')]},{ada.pk},Ada Lovelace,ada@example.com,points,300,unpaid",
        f"{ids[(alan.pk, 'USD')]},{alan.pk},Alan Turing,alan@example.com,USD,5.00,unpaid",
    ]
    assert err == f"Exported 3 payout(s) of fulfillment {fulfillment.pk} to stdout; fulfillment is processing.\n"
    fulfillment.refresh_from_db()
    assert fulfillment.status == "processing"
    assert not Payout.objects.filter(status="paid").exists()


def test_export_to_a_file_with_mark_paid_settles_everything(batch, tmp_path):
    fulfillment, obligations = batch
    path = tmp_path / "payouts.csv"
    out, _ = command("export_payouts", "--fulfillment", str(fulfillment.pk), "--mark-paid", "--output", str(path))
    assert out == (
        f"Exported 3 payout(s) of fulfillment {fulfillment.pk} to {path}, 3 payout(s) marked paid; "
        "fulfillment is complete.\n"
    )
    lines = path.read_text().splitlines()
    assert lines[0] == "payoutId,collaboratorId,collaboratorName,email,units,amount,status"
    assert [line.rsplit(",", 3)[1:] for line in lines[1:]] == [
        ["USD", "13.00", "paid"],
        ["points", "300", "paid"],
        ["USD", "5.00", "paid"],
    ]
    assert {o.status for o in Obligation.objects.filter(pk__in=[o.pk for o in obligations])} == {"fulfilled"}
    fulfillment.refresh_from_db()
    assert fulfillment.status == "complete" and fulfillment.completed_at is not None
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_export_refusals_are_readable(batch, org, other_org):
    fulfillment, _ = batch
    with pytest.raises(CommandError, match=r"^--fulfillment: no fulfillment 999999\.$"):
        command("export_payouts", "--fulfillment", "999999")
    with pytest.raises(CommandError, match=f"no fulfillment {fulfillment.pk} in organization 'other'"):
        command("export_payouts", "--fulfillment", str(fulfillment.pk), "--organization", other_org.slug)
    with pytest.raises(CommandError, match=r"^Cannot write /nonexistent/dir/p\.csv: .*; nothing changed\.$"):
        command("export_payouts", "--fulfillment", str(fulfillment.pk), "--output", "/nonexistent/dir/p.csv")
    fulfillment.refresh_from_db()
    assert fulfillment.status == "pending"
    fulfillment_mark_failed(fulfillment=fulfillment)
    with pytest.raises(CommandError, match="failed; its obligations went back to approved"):
        command("export_payouts", "--fulfillment", str(fulfillment.pk))


def test_mark_paid_fulfils_obligations_and_completes_the_fulfillment_when_all_are_paid(batch, ada):
    fulfillment, _ = batch
    ada_usd = fulfillment.payouts.get(collaborator=ada, units="USD")
    payouts_mark_paid_and_follow(payouts=[ada_usd])
    ada_usd.refresh_from_db()
    assert ada_usd.status == "paid" and ada_usd.paid_at is not None
    assert set(ada_usd.obligations.values_list("status", flat=True)) == {"fulfilled"}
    fulfillment.refresh_from_db()
    assert fulfillment.status == "processing"  # paying started, not finished
    with pytest.raises(IllegalTransition):
        payouts_mark_paid_and_follow(payouts=[ada_usd])
    payouts_mark_paid_and_follow(payouts=fulfillment.payouts.filter(status="unpaid"))
    fulfillment.refresh_from_db()
    assert fulfillment.status == "complete"
    assert set(Obligation.objects.values_list("status", flat=True)) == {"fulfilled"}


def test_mark_unpaid_reverses_everything(batch, triggered, org):
    obligations_transition_and_follow(
        obligation_ids=triggered.allocations.values_list("obligation_id", flat=True), status="approved"
    )
    second = fulfillment_generate(organization=org)
    payouts_mark_paid_and_follow(payouts=second.payouts.all())
    triggered.refresh_from_db()
    second.refresh_from_db()
    assert (triggered.status, second.status) == ("complete", "complete")

    payout = second.payouts.first()
    payouts_mark_unpaid_and_follow(payouts=[payout])

    payout.refresh_from_db()
    assert (payout.status, payout.paid_at) == ("unpaid", None)
    assert set(payout.obligations.values_list("status", flat=True)) == {"approved"}
    assert set(payout.obligations.values_list("status", flat=True)) == {"approved"}
    triggered.refresh_from_db()
    second.refresh_from_db()
    assert (triggered.status, second.status, second.completed_at) == ("processing", "processing", None)
    with pytest.raises(IllegalTransition):
        payouts_mark_unpaid_and_follow(payouts=[payout])


def test_a_failed_fulfillment_returns_its_obligations_to_approved_for_the_next_batch(batch, org):
    fulfillment, obligations = batch
    fulfillment_mark_failed(fulfillment=fulfillment)
    fulfillment.refresh_from_db()
    assert fulfillment.status == "failed"
    for obligation in obligations:
        obligation.refresh_from_db()
        assert (obligation.status, obligation.payout) == ("approved", None)
    with pytest.raises(ValidationError, match="belongs to failed fulfillment"):
        payouts_mark_paid_and_follow(payouts=fulfillment.payouts.all())
    with pytest.raises(IllegalTransition):
        fulfillment_mark_failed(fulfillment=fulfillment)
    again = fulfillment_generate(organization=org)
    assert again.payouts.count() == 3
    # Now the obligations can be cancelled again (after failing the batch they sit in).
    fulfillment_mark_failed(fulfillment=again)
    obligations_transition_and_follow(obligation_ids=[obligations[0].pk], status="cancelled")


def test_a_fulfillment_with_a_paid_payout_or_complete_cannot_fail(batch):
    fulfillment, _ = batch
    payouts_mark_paid_and_follow(payouts=[fulfillment.payouts.first()])
    with pytest.raises(ValidationError, match="has paid payout"):
        fulfillment_mark_failed(fulfillment=fulfillment)
    payouts_mark_paid_and_follow(payouts=fulfillment.payouts.filter(status="unpaid"))
    with pytest.raises(IllegalTransition, match="from 'complete' to 'failed'"):
        fulfillment_mark_failed(fulfillment=fulfillment)
    assert set(Obligation.objects.values_list("status", flat=True)) == {"fulfilled"}


def test_payouts_keep_collaborators_of_one_organization_apart(org, other_org, ada, make_obligation):
    make_obligation(ada, 100, "USD")
    ObligationFactory(
        organization=other_org, collaborator=CollaboratorFactory(organization=other_org), status="approved"
    )
    fulfillment = fulfillment_generate(organization=org)
    assert list(fulfillment.payouts.values_list("collaborator_id", flat=True)) == [ada.pk]
    assert Obligation.objects.filter(organization=other_org, payout__isnull=True).count() == 1


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_payout_csv_neutralises_formula_cells(name):
    from io import StringIO

    from obligations.exports import payouts_write_csv

    stream = StringIO()
    row = {"payoutId": 1, "collaboratorId": 2, "collaboratorName": name, "email": "a@example.com", "units": "USD"}
    payouts_write_csv([{**row, "amount": "-12.50", "status": "unpaid"}], stream)
    import csv

    [written] = list(csv.DictReader(StringIO(stream.getvalue())))
    assert written["collaboratorName"] == "'" + name.replace("\r", "\n")
    assert written["amount"] == "-12.50"  # a plain number is never a formula
    assert written["email"] == "a@example.com"
