"""The payout CSV that whoever pays a fulfillment outside the system receives (``export_payouts``)."""

import csv
from typing import TextIO

PAYOUT_CSV_COLUMNS = ("payoutId", "collaboratorId", "collaboratorName", "email", "units", "amount", "status")


def payouts_write_csv(rows: list[dict], stream: TextIO) -> None:
    """Write payout rows (``obligations.selectors.payout_export_rows``) as CSV with a header (``\\n`` line
    endings, minimal quoting)."""
    writer = csv.DictWriter(stream, fieldnames=PAYOUT_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
