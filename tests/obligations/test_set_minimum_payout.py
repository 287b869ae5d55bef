"""``manage.py set_minimum_payout``: an organization's minimum payout per units, typed in major units and read
by the admin's validation; ``--amount 0`` deletes the row (no minimum); ``--list`` prints them."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from obligations.models import MinimumPayout
from obligations.selectors import minimum_payouts
from obligations.services import fulfillment_generate

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("set_minimum_payout", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refusal(*args) -> str:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return str(caught.value)


def stored(org) -> list[tuple[str, int]]:
    return list(MinimumPayout.objects.filter(organization=org).values_list("units", "amount"))


def test_creates_then_updates_the_minimum_in_minor_units(org):
    out, _ = run("--organization", "acme", "--units", "usd", "--amount", "50.00")
    assert out == "Minimum payout for 'acme' in USD: 50.00 USD (was none).\n"
    assert stored(org) == [("USD", 5000)]

    out, _ = run("--organization", str(org.pk), "--units", "USD", "--amount", "1250.5")
    assert out == "Minimum payout for 'acme' in USD: 1,250.50 USD (was 50.00 USD).\n"
    assert stored(org) == [("USD", 125050)]
    assert minimum_payouts(organization=org) == {"USD": 125050}


def test_the_units_decimals_are_used(org):
    run("--organization", "acme", "--units", "JPY", "--amount", "500")
    run("--organization", "acme", "--units", "KWD", "--amount", "1.250")
    run("--organization", "acme", "--units", "points", "--amount", "30")
    assert sorted(stored(org)) == [("JPY", 500), ("KWD", 1250), ("points", 30)]


def test_zero_deletes_the_row_and_means_no_minimum(org, ada, make_obligation):
    MinimumPayout.objects.create(organization=org, units="USD", amount=2000)
    out, _ = run("--organization", "acme", "--units", "USD", "--amount", "0")
    assert out == "Minimum payout for 'acme' in USD: none (was 20.00 USD).\n"
    assert stored(org) == [] and minimum_payouts(organization=org) == {}
    make_obligation(ada, 1, "USD")
    assert fulfillment_generate(organization=org).payouts.get().amount == 1  # every positive balance is paid

    out, _ = run("--organization", "acme", "--units", "USD", "--amount", "0.00")
    assert out == "Minimum payout for 'acme' in USD: none (was none).\n"


def test_a_row_at_zero_from_the_admin_counts_as_none(org):
    MinimumPayout.objects.create(organization=org, units="EUR", amount=0)
    out, _ = run("--organization", "acme", "--units", "EUR", "--amount", "10")
    assert out == "Minimum payout for 'acme' in EUR: 10.00 EUR (was none).\n"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("12.345", "--amount: '12.345' has more decimal places than USD allows (2)."),
        ("-5.00", "--amount: Enter an amount of 0 or more."),
        ("abc", "--amount: 'abc' is not a decimal number such as 12.34."),
        ("1e3", "--amount: '1e3' is not a decimal number such as 12.34."),
        ("", "--amount: This field is required."),
    ],
)
def test_bad_amounts_are_one_line_naming_the_option(org, amount, message):
    MinimumPayout.objects.create(organization=org, units="USD", amount=1000)
    assert refusal("--organization", "acme", "--units", "USD", "--amount", amount) == message
    assert stored(org) == [("USD", 1000)]


def test_bad_or_missing_options_are_refused(org):
    assert refusal("--organization", "acme", "--units", "US D", "--amount", "1") == (
        "--units: 'US D' is not a units code such as USD or points."
    )
    assert refusal("--organization", "acme", "--units", "JPY", "--amount", "1.5") == (
        "--amount: '1.5' has more decimal places than JPY allows (0)."
    )
    assert refusal("--organization", "acme", "--amount", "1") == "--units: required (or --list to print the minimums)."
    assert refusal("--organization", "acme", "--units", "USD") == (
        "--amount: required (or --list to print the minimums)."
    )
    assert refusal("--organization", "acme", "--list", "--units", "USD") == (
        "--units: not with --list (it only prints the minimums)."
    )
    assert refusal("--organization", "nope", "--list") == (
        "--organization: no organization 'nope' (give its slug or id)."
    )
    assert stored(org) == []


def test_list_prints_only_this_organizations_minimums(org, other_org):
    out, _ = run("--organization", "acme", "--list")
    assert out == "Minimum payouts for 'acme': none (every positive balance is paid).\n"
    MinimumPayout.objects.create(organization=org, units="USD", amount=5000)
    MinimumPayout.objects.create(organization=org, units="points", amount=100)
    MinimumPayout.objects.create(organization=org, units="EUR", amount=0)
    MinimumPayout.objects.create(organization=other_org, units="GBP", amount=700)
    out, _ = run("--organization", "acme", "--list")
    assert out.splitlines() == [
        "USD: 50.00 USD",
        "points: 100 points",
        "Minimum payouts for 'acme': 2 (every other units: no minimum).",
    ]


def test_json(org):
    out, err = run("--organization", "acme", "--units", "USD", "--amount", "50", "--json")
    assert json.loads(out) == {"organization": "acme", "units": "USD", "amount": 5000, "previousAmount": None}
    assert err == "Minimum payout for 'acme' in USD: 50.00 USD (was none).\n"
    out, _ = run("--organization", "acme", "--units", "USD", "--amount", "0", "--json")
    assert json.loads(out) == {"organization": "acme", "units": "USD", "amount": None, "previousAmount": 5000}
    run("--organization", "acme", "--units", "JPY", "--amount", "300")
    out, err = run("--organization", "acme", "--list", "--json")
    assert json.loads(out) == {"organization": "acme", "minimums": [{"units": "JPY", "amount": 300}]}
    assert err == "Minimum payouts for 'acme': 1 (every other units: no minimum).\n"
