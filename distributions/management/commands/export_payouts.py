"""``manage.py export_payouts --fulfillment ID [--organization SLUG_OR_ID] [--mark-paid] [--output FILE]``.

The payout CSV. Thin: call ``distributions.services.fulfillment_export_and_follow`` and write its rows,
both in one transaction, so a write that fails (full disk, closed pipe) also undoes the status moves.
``--output`` is written to a temporary file renamed into place, so a reader never sees half a file. With the
CSV on stdout, the summary line goes to stderr (the command base's ``write_summary``) so that the CSV stays
clean.
"""

import io
import os
import tempfile

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction

from distributions.services import fulfillment_export_and_follow
from obligations.exports import payouts_write_csv
from obligations.models import Fulfillment
from organizations.management.base import OrganizationCommand


class Command(OrganizationCommand):
    help = (
        "Write a fulfillment's payouts as CSV; moves it to processing, and with --mark-paid marks them paid. "
        "With --organization, a fulfillment of another organization is refused."
    )
    organization_required = False

    def add_arguments(self, parser):
        parser.add_argument("--fulfillment", required=True, type=int, metavar="ID")
        parser.add_argument("--mark-paid", action="store_true", help="Mark every unpaid payout paid.")
        parser.add_argument("--output", metavar="FILE", help="Write the CSV here instead of stdout.")

    def handle(self, *args, organization, **options):
        output = options["output"]
        temp_path = None
        try:
            with transaction.atomic():
                export = fulfillment_export_and_follow(
                    fulfillment_id=options["fulfillment"],
                    organization=organization,
                    mark_paid=options["mark_paid"],
                    actor="command:export_payouts",
                )
                if output:
                    directory = os.path.dirname(os.path.abspath(output))
                    with tempfile.NamedTemporaryFile(
                        "w",
                        dir=directory,
                        prefix=".payouts-",
                        suffix=".csv",
                        delete=False,
                        encoding="utf-8",
                        newline="",
                    ) as file:
                        temp_path = file.name
                        payouts_write_csv(export.rows, file)
                    os.replace(temp_path, output)
                    temp_path = None
                else:
                    text = io.StringIO()
                    payouts_write_csv(export.rows, text)
                    self.stdout.write(text.getvalue(), ending="")
                    self.stdout.flush()
        except Fulfillment.DoesNotExist:
            where = f" in organization '{organization.slug}'" if organization else ""
            raise CommandError(f"--fulfillment: no fulfillment {options['fulfillment']}{where}.") from None
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        except OSError as exc:
            raise CommandError(f"Cannot write {output or 'stdout'}: {exc.strerror or exc}; nothing changed.") from None
        finally:
            if temp_path:
                os.unlink(temp_path)
        fulfillment = export.fulfillment
        paid = f", {export.marked_paid} payout(s) marked paid" if options["mark_paid"] else ""
        summary = (
            f"Exported {len(export.rows)} payout(s) of fulfillment {fulfillment.pk} to {output or 'stdout'}"
            f"{paid}; fulfillment is {fulfillment.status}."
        )
        self.write_summary(summary, data_on_stdout=not output)  # with the CSV on stdout, stdout stays pure CSV
