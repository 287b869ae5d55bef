"""Reading credits from a file for ``manage.py import_credits``: CSV with a header row, or NDJSON (one JSON object
a line). Pure parsing, no database: each record becomes ``(line number, CreditItem)`` or a ``CreditFileError``
naming the line and the field.

Fields (the API's names, as in ``POST /distributors/credit-metric/batch``): ``collaboratorId`` (required: an id
or an alias ``type:code``), ``distributorId``, ``metricType`` (default ``manual``), ``quantity`` (default 1),
``key`` (the credit's idempotency key: give one per row so that a re-run credits nothing twice) and
``creditedAt`` (ISO 8601 with a UTC offset, never in the future: back-dates the credit; default the moment of
writing). In CSV an empty cell is an absent field; unknown columns or keys are refused (a typo must not
default). Blank lines are skipped.
"""

import csv
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import TextIO

import clock
from collaborators.refs import MAX_ID, parse_collaborator_ref
from metrics.batch import CreditItem
from metrics.models import MAX_CREDIT_QUANTITY
from metrics.services import IDEMPOTENCY_KEY_MAX_LENGTH

FIELDS = ("collaboratorId", "distributorId", "metricType", "quantity", "key", "creditedAt")
FORMATS = ("csv", "ndjson")
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")


class CreditFileError(Exception):
    """A record that cannot be read; ``line`` (1-based) and ``field`` locate it."""

    def __init__(self, message: str, *, line: int, field: str | None = None):
        self.message, self.line, self.field = message, line, field
        where = f"line {line}" + (f", {field}" if field else "")
        super().__init__(f"{where}: {message}")


def format_of(path: str, given: str | None) -> str:
    """``given``, else the format the file name says (``.csv``; ``.ndjson``/``.jsonl``)."""
    if given:
        return given
    lowered = path.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".ndjson", ".jsonl")):
        return "ndjson"
    raise ValueError(f"cannot tell the format of {path} from its name; give --format csv or --format ndjson.")


def _whole(value, *, line: int, field: str, low: int, high: int) -> int:
    if isinstance(value, str):
        text = value.strip()
        number = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None
    else:
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if number is None or not low <= number <= high:
        raise CreditFileError(f"'{value}' is not a whole number from {low} to {high}.", line=line, field=field)
    return number


def credit_item(record: dict, *, line: int, now: datetime) -> CreditItem:
    """One record (field name → value; absent or ``None``/empty means the default) as a ``CreditItem``."""
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise CreditFileError(f"unknown field; the fields are {', '.join(FIELDS)}.", line=line, field=unknown[0])
    values = {name: value for name, value in record.items() if value is not None and value != ""}
    if "collaboratorId" not in values:
        raise CreditFileError("required (a collaborator id or an alias type:code).", line=line, field="collaboratorId")
    raw = values["collaboratorId"]
    ref = parse_collaborator_ref(raw) if isinstance(raw, str | int) else None
    if ref is None:
        raise CreditFileError(
            f"'{raw}' is not a collaborator id or an alias type:code.", line=line, field="collaboratorId"
        )
    metric_type = values.get("metricType", "manual")
    if not isinstance(metric_type, str) or not _SLUG.fullmatch(metric_type.strip()):
        raise CreditFileError(
            f"'{metric_type}' is not a metric type name (letters, digits, - and _, at most 50).",
            line=line,
            field="metricType",
        )
    quantity = _whole(values.get("quantity", 1), line=line, field="quantity", low=1, high=MAX_CREDIT_QUANTITY)
    distributor_id = None
    if "distributorId" in values:
        distributor_id = _whole(values["distributorId"], line=line, field="distributorId", low=1, high=MAX_ID)
    key = values.get("key")
    if key is not None:
        key = key.strip() if isinstance(key, str) else None
        if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
            raise CreditFileError(
                f"a key is 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable characters.", line=line, field="key"
            )
    credited_at = None
    if "creditedAt" in values:
        try:
            credited_at = clock.parse_instant(str(values["creditedAt"]), not_after=now)
        except clock.InstantError as exc:
            raise CreditFileError(str(exc), line=line, field="creditedAt") from None
    return CreditItem(
        collaborator=ref,
        metric_type=metric_type.strip(),
        quantity=quantity,
        distributor_id=distributor_id,
        key=key,
        credited_at=credited_at,
    )


def _csv_records(file: TextIO) -> Iterator[tuple[int, dict]]:
    reader = csv.reader(file)
    try:
        header = next(reader, None)
        if header is None:
            raise CreditFileError(f"the file is empty; expected a header row of {','.join(FIELDS)}.", line=1)
        names = [name.strip() for name in header]
        if "collaboratorId" not in names:
            raise CreditFileError(f"the header lacks collaboratorId; the fields are {','.join(FIELDS)}.", line=1)
        unknown = [name for name in names if name not in FIELDS]
        if unknown:
            raise CreditFileError(f"unknown column; the fields are {','.join(FIELDS)}.", line=1, field=unknown[0])
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise CreditFileError("the header repeats this column.", line=1, field=repeated[0])
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                raise CreditFileError(f"{len(cells)} cells where the header has {len(names)}.", line=reader.line_num)
            yield reader.line_num, dict(zip(names, cells, strict=True))
    except csv.Error as exc:
        raise CreditFileError(f"not valid CSV: {exc}.", line=reader.line_num) from None


def _ndjson_records(file: TextIO) -> Iterator[tuple[int, dict]]:
    for number, text in enumerate(file, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise CreditFileError(f"not a JSON object ({exc}).", line=number) from None
        if not isinstance(record, dict):
            raise CreditFileError("not a JSON object.", line=number)
        yield number, record


def credit_file_items(file: TextIO, *, file_format: str, now: datetime) -> Iterator[tuple[int, CreditItem]]:
    """``(line number, CreditItem)`` for every record of ``file``; the first unreadable one raises."""
    records = _csv_records(file) if file_format == "csv" else _ndjson_records(file)
    for line, record in records:
        yield line, credit_item(record, line=line, now=now)
