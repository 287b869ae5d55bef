"""``manage.py import_revenue FILE.csv --organization SLUG_OR_ID``: load revenue entries for revenue-share pools.

Thin: open the file, hand the rows to ``distributors.revenue.revenue_import`` (which holds the rules: all or
nothing, re-imports add nothing), print one summary line. Safe to re-run from cron on the same file.
"""

from django.core.management.base import CommandError

from distributors.revenue import RevenueImportError, revenue_csv_rows, revenue_import
from organizations.management.base import OrganizationCommand, progress


class Command(OrganizationCommand):
    help = "Import revenue entries (CSV columns amount, units, occurredAt, reference) for one organization."

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE.csv")
        parser.add_argument(
            "--late-reason",
            metavar="TEXT",
            help="Accept entries dated in periods already distributed, for this reason (kept on each entry); "
            "they count when the period is corrected with correct_distribution.",
        )

    def handle(self, *args, organization, **options):
        path = options["file"]
        try:
            with open(path, encoding="utf-8-sig", newline="") as file:
                rows = progress(revenue_csv_rows(file), desc="rows")
                result = revenue_import(organization=organization, rows=rows, late_reason=options["late_reason"] or "")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text.") from None
        except RevenueImportError as exc:
            hint = (
                " To book it anyway (it counts once the period is corrected), add --late-reason."
                if ("already distributed" in str(exc))
                else ""
            )
            raise CommandError(f"{path}: nothing imported; {exc}{hint}") from None
        self.write_summary(
            f"Imported {result.created} revenue entr{'y' if result.created == 1 else 'ies'} into "
            f"'{organization.slug}' from {path}; {result.skipped} already present, skipped."
        )
