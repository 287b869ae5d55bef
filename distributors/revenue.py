"""Importing revenue entries (the input of revenue-share pools) from CSV.

Decisions:

- Columns ``amount, units, occurredAt, reference`` (a header row is required; other columns are ignored so
  an export from another system can be used as is). ``amount`` is a decimal in the units' major unit
  (``12.34`` USD), converted exactly with ``distributors.units.to_minor``; more decimals than the units
  allow, negative amounts, exponents and thousands separators are errors, never rounded. ``units`` is
  normalized (``usd`` → ``USD``). ``occurredAt`` must be ISO 8601 with a time zone; it is stored in UTC.
- All or nothing: every row is validated first and a file with any bad row imports nothing. The error
  names the line number (of the CSV file, header = line 1) and the column, plus how many other errors.
- Re-importing is safe: ``reference`` is unique per organization. A row whose reference is already stored
  with the same amount, units and instant is skipped (so is a repeat within the file); the same reference
  with other values is an error, since silently keeping either would be wrong.
- Imports of one organization are serialized by locking its row, so two overlapping imports cannot both
  decide that a reference is new.
- Revenue dated inside a period that a revenue-share distributor in those units has already distributed
  (after its start, at or before its ``distributed_through``) is refused: it would count in no pool. The
  import holds those distributors against a trigger (as a credit does), so a period being triggered at
  the same moment either waits for the import or is read after it. Booking it anyway is explicit:
  ``late_reason`` (``import_revenue --late-reason``) stores the entries with that reason; they change nothing
  already distributed and count when the period is corrected (``manage.py correct_distribution``).
"""

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from django.db import IntegrityError, transaction

from clock import InstantError, iso_utc, parse_instant
from distributors.models import RevenueEntry
from distributors.selectors import distributors_hold_for_revenue
from distributors.units import normalize_units, to_major, to_minor
from organizations.models import Organization

REVENUE_COLUMNS = ("amount", "units", "occurredAt", "reference")
MAX_AMOUNT = 2**63 - 1
REFERENCE_MAX_LENGTH = RevenueEntry._meta.get_field("reference").max_length
LOOKUP_CHUNK = 500


class RevenueImportError(Exception):
    """A file that cannot be imported; ``line`` and ``column`` locate the first problem."""

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None, more: int = 0):
        self.message, self.line, self.column, self.more = message, line, column, more
        where = ", ".join(
            part for part in (f"line {line}" if line else "", f"column {column}" if column else "") if part
        )
        text = f"{where}: {message}" if where else message
        if more:
            text += f" (and {more} more error{'s' if more > 1 else ''})"
        super().__init__(text)


@dataclass(frozen=True)
class RevenueRow:
    line: int
    amount: int
    units: str
    occurred_at: datetime
    reference: str

    def same_values(self, entry: "RevenueRow | RevenueEntry") -> bool:
        return (self.amount, self.units, self.occurred_at) == (entry.amount, entry.units, entry.occurred_at)

    def first_difference(self, entry: "RevenueRow | RevenueEntry") -> tuple[str, str, str]:
        """(column, stored value, this row's value) of the first column that differs."""
        if self.units != entry.units:
            return "units", entry.units, self.units
        if self.amount != entry.amount:
            return "amount", to_major(entry.amount, entry.units), to_major(self.amount, self.units)
        return "occurredAt", iso_utc(entry.occurred_at), iso_utc(self.occurred_at)


@dataclass(frozen=True)
class RevenueImportResult:
    created: int
    skipped: int


def revenue_csv_rows(file: TextIO) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line number, row)`` from a CSV file with the revenue header; header problems raise at once."""
    reader = csv.reader(file)
    try:
        header = next(reader, None)
        if header is None:
            raise RevenueImportError(f"the file is empty; expected the header {','.join(REVENUE_COLUMNS)}.", line=1)
        names = [name.strip() for name in header]
        missing = [column for column in REVENUE_COLUMNS if column not in names]
        if missing:
            raise RevenueImportError(
                f"the header lacks {', '.join(missing)}; expected {','.join(REVENUE_COLUMNS)}.", line=1
            )
        duplicated = sorted({name for name in names if name in REVENUE_COLUMNS and names.count(name) > 1})
        if duplicated:
            raise RevenueImportError(f"the header repeats {', '.join(duplicated)}.", line=1)
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue  # blank line
            if len(fields) != len(names):
                yield reader.line_num, {"__fields__": str(len(fields)), "__expected__": str(len(names))}
                continue
            yield reader.line_num, dict(zip(names, fields, strict=True))
    except csv.Error as exc:
        raise RevenueImportError(f"not valid CSV: {exc}.", line=reader.line_num) from None


def _parse_row(line: int, raw: dict[str, str]) -> RevenueRow:
    """One CSV row → RevenueRow, or RevenueImportError naming the line and column."""
    if "__fields__" in raw:
        raise RevenueImportError(f"{raw['__fields__']} fields where the header has {raw['__expected__']}.", line=line)
    try:
        units = normalize_units(raw["units"])
    except ValueError as exc:
        raise RevenueImportError(str(exc), line=line, column="units") from None
    try:
        amount = to_minor(raw["amount"], units)
    except ValueError as exc:
        raise RevenueImportError(str(exc), line=line, column="amount") from None
    if amount < 0:
        raise RevenueImportError(
            f"'{raw['amount']}' is negative; revenue amounts are 0 or more.", line=line, column="amount"
        )
    if amount > MAX_AMOUNT:
        raise RevenueImportError(f"'{raw['amount']}' is too large.", line=line, column="amount")
    try:
        occurred_at = parse_instant(raw["occurredAt"])
    except InstantError as exc:
        raise RevenueImportError(str(exc), line=line, column="occurredAt") from None
    reference = raw["reference"].strip()
    if not reference:
        raise RevenueImportError("the reference is empty.", line=line, column="reference")
    if len(reference) > REFERENCE_MAX_LENGTH:
        raise RevenueImportError(
            f"the reference is longer than {REFERENCE_MAX_LENGTH} characters.", line=line, column="reference"
        )
    return RevenueRow(line, amount, units, occurred_at.astimezone(UTC), reference)


def _raise_first(errors: list[RevenueImportError]) -> None:
    if errors:
        errors.sort(key=lambda error: error.line or 0)
        first = errors[0]
        raise RevenueImportError(first.message, line=first.line, column=first.column, more=len(errors) - 1)


def _parse_rows(rows: Iterable[tuple[int, dict[str, str]]]) -> tuple[dict[str, RevenueRow], int]:
    """Every row parsed, keyed by reference, and how many repeated an earlier row of the file; every bad row
    is collected and the first one raised."""
    parsed: dict[str, RevenueRow] = {}
    errors: list[RevenueImportError] = []
    skipped = 0
    for line, raw in rows:
        try:
            row = _parse_row(line, raw)
        except RevenueImportError as exc:
            errors.append(exc)
            continue
        earlier = parsed.get(row.reference)
        if earlier is None:
            parsed[row.reference] = row
        elif row.same_values(earlier):
            skipped += 1
        else:
            column, before, now = row.first_difference(earlier)
            errors.append(
                RevenueImportError(
                    f"reference '{row.reference}' is also on line {earlier.line} with {column} {before}, here {now}.",
                    line=line,
                    column=column,
                )
            )
    _raise_first(errors)
    return parsed, skipped


def _stored_entries(organization: Organization, references: list[str]) -> dict[str, RevenueEntry]:
    stored: dict[str, RevenueEntry] = {}
    for start in range(0, len(references), LOOKUP_CHUNK):
        chunk = references[start : start + LOOKUP_CHUNK]
        stored.update(
            (entry.reference, entry)
            for entry in RevenueEntry.objects.filter(organization=organization, reference__in=chunk)
        )
    return stored


def _new_rows(parsed: dict[str, RevenueRow], stored: dict[str, RevenueEntry]) -> tuple[list[RevenueRow], int]:
    """The rows not stored yet and how many were stored before with the same values; a reference stored with
    other values is an error (the first raised)."""
    new: list[RevenueRow] = []
    errors: list[RevenueImportError] = []
    skipped = 0
    for reference, row in parsed.items():
        entry = stored.get(reference)
        if entry is None:
            new.append(row)
        elif row.same_values(entry):
            skipped += 1
        else:
            column, before, now = row.first_difference(entry)
            errors.append(
                RevenueImportError(
                    f"reference '{reference}' was imported before with {column} {before}; this row says {now}.",
                    line=row.line,
                    column=column,
                )
            )
    _raise_first(errors)
    return new, skipped


def _refuse_distributed_periods(organization: Organization, rows: list[RevenueRow]) -> None:
    if not rows:
        return
    held = sorted(distributors_hold_for_revenue(organization_id=organization.pk, units={r.units for r in rows}).items())
    errors = []
    for row in rows:
        for pk, distributor in held:
            through = distributor.distributed_through
            if distributor.units == row.units and through and distributor.starts_at < row.occurred_at <= through:
                errors.append(
                    RevenueImportError(
                        f"{iso_utc(row.occurred_at)} falls in a period of distributor {pk} that was already "
                        f"distributed (through {iso_utc(through)}); it would count in no pool.",
                        line=row.line,
                        column="occurredAt",
                    )
                )
                break
    _raise_first(errors)


def revenue_import(
    *, organization: Organization, rows: Iterable[tuple[int, dict[str, str]]], late_reason: str = ""
) -> RevenueImportResult:
    """Validate every row, then store the new entries in one transaction; a bad row imports nothing.
    ``late_reason``: accept entries dated in periods already distributed, keeping why on each new entry."""
    late_reason = (late_reason or "").strip()
    if len(late_reason) > RevenueEntry._meta.get_field("late_reason").max_length:
        raise RevenueImportError(
            f"--late-reason: at most {RevenueEntry._meta.get_field('late_reason').max_length} characters."
        )
    parsed, skipped_in_file = _parse_rows(rows)
    try:
        with transaction.atomic():
            Organization.objects.select_for_update().filter(pk=organization.pk).first()
            new, skipped_stored = _new_rows(parsed, _stored_entries(organization, list(parsed)))
            if not late_reason:
                _refuse_distributed_periods(organization, new)
            RevenueEntry.objects.bulk_create(
                (
                    RevenueEntry(
                        organization=organization,
                        amount=row.amount,
                        units=row.units,
                        occurred_at=row.occurred_at,
                        reference=row.reference,
                        late_reason=late_reason,
                    )
                    for row in new
                ),
                batch_size=LOOKUP_CHUNK,
            )
    except IntegrityError:
        raise RevenueImportError(
            "another import stored some of these references at the same moment; run the import again."
        ) from None
    return RevenueImportResult(created=len(new), skipped=skipped_in_file + skipped_stored)
