"""The payout CSV that whoever pays a fulfillment outside the system receives (``export_payouts``, the
admin's download).

Cells are neutralised against formula injection (OWASP "CSV injection"): a text cell starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return is written with a leading ``'``, so a spreadsheet shows it
as text instead of evaluating it (a collaborator named ``=HYPERLINK(...)`` stays a name). Plain decimal
numbers (``-12.50``, ``137.40``) are left as they are: a spreadsheet reads them as numbers, never as
formulas. A carriage return inside a cell is written as a line feed: Python's writer quotes a cell only
for the line terminator's characters, so a bare CR would otherwise split the row for a reader.
"""

import csv
import re
from typing import TextIO

PAYOUT_CSV_COLUMNS = ("payoutId", "collaboratorId", "collaboratorName", "email", "units", "amount", "status")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def csv_safe(value):
    """``value`` as a spreadsheet will show it literally (see the module docstring)."""
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n")


def payouts_write_csv(rows: list[dict], stream: TextIO) -> None:
    """Write payout rows (``obligations.selectors.payout_export_rows``) as CSV with a header (``\\n`` line
    endings, minimal quoting), every cell neutralised."""
    writer = csv.DictWriter(stream, fieldnames=PAYOUT_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: csv_safe(value) for key, value in row.items()} for row in rows)
