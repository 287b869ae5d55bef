"""``manage.py set_minimum_payout``: set, clear or list an organization's minimum payout per units.

    manage.py set_minimum_payout --organization SLUG_OR_ID --units USD --amount 50.00   # create or update
    manage.py set_minimum_payout --organization SLUG_OR_ID --units USD --amount 0       # no minimum
    manage.py set_minimum_payout --organization SLUG_OR_ID --list                       # every minimum

Thin: ``--amount`` is in major units of ``--units`` (``50.00`` USD is 5000) and is read by the admin's own
form validation (``distributors.admin.MoneyInputFormMixin`` on a ``MinimumPayout`` model form: the units'
decimals, never rounded; 0 or more; units stored in their normalized spelling), so the command and the admin
accept and refuse the same amounts. A refusal is one line naming the option.

``--amount 0`` means no minimum and deletes the row: no row is what "no minimum" means everywhere
(``obligations.selectors.minimum_payouts`` has no entry for the units, the admin lists no row, the balances
pay every positive one); a row kept at 0 would be paid the same but listed as a minimum. A row found at 0
(created in the admin) is shown as "none".
"""

from django import forms
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from distributors.admin import MoneyInputFormMixin
from distributors.units import format_amount, normalize_units
from obligations.models import MinimumPayout
from obligations.selectors import minimum_payouts
from organizations.management.base import OrganizationCommand

OPTION_OF_FIELD = {"units": "--units", "amount": "--amount", "organization": "--organization"}


class MinimumPayoutForm(MoneyInputFormMixin, forms.ModelForm):
    """The admin's validation of a minimum payout: the amount typed in major units of the units."""

    money_inputs = {"amount": "units"}

    class Meta:
        model = MinimumPayout
        fields = ["units", "amount"]


def amount_text(amount: int | None, units: str) -> str:
    return format_amount(amount, units) if amount else "none"


class Command(OrganizationCommand):
    help = "Set an organization's minimum payout in some units (0: no minimum), or --list them."
    json_option = True

    def add_arguments(self, parser):
        parser.add_argument("--units", help="The units of the minimum: USD, EUR, points, ...")
        parser.add_argument(
            "--amount", help="The minimum in major units, with the units' decimals: 50.00 (USD), 500 (JPY); 0: none."
        )
        parser.add_argument("--list", action="store_true", help="Print the organization's minimums (changes nothing).")

    def handle(self, *args, organization, **options):
        if options["list"]:
            given = [flag for flag in ("--units", "--amount") if options[flag[2:]] is not None]
            if given:
                raise CommandError(f"{given[0]}: not with --list (it only prints the minimums).")
            return self.list_minimums(organization)
        for flag in ("--units", "--amount"):
            if options[flag[2:]] is None:
                raise CommandError(f"{flag}: required (or --list to print the minimums).")
        try:
            units = normalize_units(options["units"])
        except ValueError as exc:
            raise CommandError(f"--units: {exc}") from None

        try:
            with transaction.atomic():
                existing = (
                    MinimumPayout.objects.select_for_update().filter(organization=organization, units=units).first()
                )
                previous = existing.amount if existing is not None else None
                form = MinimumPayoutForm(
                    data={"units": units, "amount": options["amount"]},
                    instance=existing or MinimumPayout(organization=organization),
                )
                if not form.is_valid():
                    field, messages = next(iter(form.errors.items()))
                    option = OPTION_OF_FIELD.get(field)
                    raise CommandError(f"{option}: {messages[0]}" if option else messages[0])
                amount = form.cleaned_data["amount"]
                if amount == 0:
                    if existing is not None:
                        existing.delete()
                else:
                    form.save()
        except IntegrityError:
            raise CommandError(
                f"--units: a minimum payout in {units} was just created by someone else; run again."
            ) from None

        if self.json_output:
            self.write_json(
                {
                    "organization": organization.slug,
                    "units": units,
                    "amount": amount or None,
                    "previousAmount": previous or None,
                }
            )
        self.write_summary(
            f"Minimum payout for '{organization.slug}' in {units}: {amount_text(amount, units)} "
            f"(was {amount_text(previous, units)})."
        )

    def list_minimums(self, organization) -> None:
        minimums = {units: amount for units, amount in minimum_payouts(organization=organization).items() if amount}
        if self.json_output:
            self.write_json(
                {
                    "organization": organization.slug,
                    "minimums": [{"units": units, "amount": amount} for units, amount in sorted(minimums.items())],
                }
            )
        else:
            for units, amount in sorted(minimums.items()):
                self.stdout.write(f"{units}: {format_amount(amount, units)}")
        count = len(minimums)
        self.write_summary(
            f"Minimum payouts for '{organization.slug}': {count} (every other units: no minimum)."
            if count
            else f"Minimum payouts for '{organization.slug}': none (every positive balance is paid)."
        )
