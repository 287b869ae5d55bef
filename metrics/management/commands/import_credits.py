"""``manage.py import_credits FILE --organization SLUG_OR_ID``: credit metrics from a CSV or NDJSON file.

Thin: read the file (``metrics.imports``), hand it to ``metrics.batch.metric_credit_batch`` in chunks of up to
1,000 credits (the batch endpoint's service and rules), print one summary line. See ``help`` for what stays
written when a chunk is refused.
"""

import getpass
from itertools import islice

from django.core.management.base import CommandError
from django.db import OperationalError, transaction
from django.utils import timezone

from distributors.selectors import HoldTimeout
from metrics.batch import (
    MAX_BATCH_SIZE,
    CreditBatchConflict,
    CreditBatchNotFound,
    CreditBatchRefused,
    metric_credit_batch,
)
from metrics.imports import FIELDS, FORMATS, CreditFileError, credit_file_items, format_of
from metrics.models import CreditSource
from organizations.management.base import OrganizationCommand, progress_callback

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: a lock wait longer than lock_timeout

# The batch service names the input at fault with its domain name; the file names it as its column.
COLUMN_OF_FIELD = {
    "collaborator": "collaboratorId",
    "metric_type": "metricType",
    "quantity": "quantity",
    "distributor": "distributorId",
    "key": "key",
    "credited_at": "creditedAt",
}


class _DryRun(Exception):
    """Rolls a dry run's chunk back."""


def command_actor() -> str:
    try:
        return f"import_credits ({getpass.getuser()})"
    except (KeyError, OSError):
        return "import_credits"


class Command(OrganizationCommand):
    help = (
        f"Credit metrics from FILE: CSV with a header row, or NDJSON (one JSON object a line). Fields: "
        f"{', '.join(FIELDS)} (collaboratorId required; the others as in POST /distributors/credit-metric/batch; "
        "creditedAt back-dates, never into a distributed period). The whole file is read and checked first: a "
        "malformed line writes nothing. Credits are then written in chunks of up to 1,000, each all or nothing "
        "with the batch endpoint's rules; a refused chunk writes nothing and stops the import, but the chunks "
        "before it stay written (the error says which lines). Give each row a key: re-running the file then "
        "credits nothing twice. --dry-run checks every chunk against the database and writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE")
        parser.add_argument("--format", choices=FORMATS, help="csv or ndjson (default: from the file's extension).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every credit, rules included, and write nothing."
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=MAX_BATCH_SIZE,
            metavar="N",
            help=f"Credits per chunk, 1 to {MAX_BATCH_SIZE} (default {MAX_BATCH_SIZE}).",
        )

    def _items(self, path: str, file_format: str, now):
        try:
            with open(path, encoding="utf-8-sig", newline="") as file:
                yield from credit_file_items(file, file_format=file_format, now=now)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text.") from None
        except CreditFileError as exc:
            raise CommandError(f"{path}: nothing imported; {exc}") from None

    def handle(self, *args, organization, **options):
        path, chunk_size, dry_run = options["file"], options["chunk_size"], options["dry_run"]
        if not 1 <= chunk_size <= MAX_BATCH_SIZE:
            raise CommandError(f"--chunk-size: give a number from 1 to {MAX_BATCH_SIZE}.")
        try:
            file_format = format_of(path, options["format"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        now = timezone.now()
        total = sum(1 for _ in self._items(path, file_format, now))  # the whole file is read before any write
        if total == 0:
            raise CommandError(f"{path}: no credits in the file; nothing imported.")

        credited = replayed = done = chunks = 0
        records = self._items(path, file_format, now)
        with progress_callback(desc="credits", unit="credit") as report:
            while chunk := list(islice(records, chunk_size)):
                lines = [line for line, _ in chunk]
                outcome = self._credit_chunk(organization, chunk, lines, dry_run=dry_run, done=done, path=path)
                chunks += 1
                done += len(chunk)
                if outcome is not None:
                    credited += outcome.credited
                    replayed += len(chunk) - outcome.credited
                report(done, total)
        if dry_run:
            self.write_summary(
                f"Dry run: the {total} credit{'s' if total != 1 else ''} of {path} can be imported into "
                f"'{organization.slug}' ({chunks} chunk{'s' if chunks != 1 else ''}); nothing written."
            )
            return
        self.write_summary(
            f"Imported {path} into '{organization.slug}': {credited} credit{'s' if credited != 1 else ''} written, "
            f"{replayed} already credited (key used before), in {chunks} chunk{'s' if chunks != 1 else ''}."
        )

    def _credit_chunk(self, organization, chunk, lines, *, dry_run: bool, done: int, path: str):
        items = [item for _, item in chunk]
        stays = f"; lines before {lines[0]} ({done} credits) stay written" if done and not dry_run else ""
        where = f"{path}, lines {lines[0]}-{lines[-1]}: nothing written for these lines{stays}"
        try:
            with transaction.atomic():
                outcome = metric_credit_batch(
                    organization=organization, items=items, source=CreditSource.COMMAND, actor=command_actor()
                )
                if dry_run:
                    raise _DryRun()
            return outcome
        except _DryRun:
            return None
        except CreditBatchRefused as exc:
            (index, fields), *rest = exc.errors.items() if exc.errors else [(None, exc.batch_errors)]
            field, messages = next(iter(fields.items()))
            line = f"line {lines[index]}, " if index is not None else ""
            more = sum(len(f) for _, f in rest) + len(fields) - 1
            tail = f" (and {more} more)" if more > 0 else ""
            raise CommandError(f"{where}. {line}{COLUMN_OF_FIELD.get(field, field)}: {messages[0]}{tail}") from None
        except CreditBatchNotFound as exc:
            shown = ", ".join(str(lines[index]) for index in exc.indexes[:5])
            more = f" and {len(exc.indexes) - 5} more" if len(exc.indexes) > 5 else ""
            raise CommandError(
                f"{where}. collaboratorId: no such collaborator in '{organization.slug}' on line(s) {shown}{more}."
            ) from None
        except CreditBatchConflict as exc:
            shown = ", ".join(str(lines[index]) for index in exc.indexes[:5])
            raise CommandError(
                f"{where}. key: already used for a different credit on line(s) {shown}"
                f"{' and more' if len(exc.indexes) > 5 else ''}."
            ) from None
        except HoldTimeout:
            raise CommandError(
                f"{where}. A distribution of a credited distributor is being triggered; run the import again shortly."
            ) from None
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise CommandError(
                    f"{where}. A lock wait timed out (a distribution is being triggered); run the import again shortly."
                ) from None
            raise
