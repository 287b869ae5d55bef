"""Instants as the system reads and writes them: one parser and one formatter for every interface.

- ``parse_instant``: an ISO 8601 date-time *with* a UTC offset (``2026-03-01T12:00:00Z``,
  ``2026-03-01T13:00+01:00``). A naive, malformed or out-of-range value raises ``InstantError`` whose message
  says what is wrong and what would be right; ``not_after`` refuses instants later than it (commands refuse
  the future).
- ``iso_utc``: the instant in UTC, ``Z``-suffixed (``2026-03-01T12:00:00Z``), as the API, the JSON summaries
  and every message show it.

Pure functions (no database, no settings), the lowest layer of the project.
"""

from datetime import UTC, datetime

__all__ = ["InstantError", "iso_utc", "parse_instant"]


class InstantError(ValueError):
    """The text is not an instant the system accepts; the message is one readable line."""


def parse_instant(value: str | datetime, *, not_after: datetime | None = None) -> datetime:
    """The aware datetime ``value`` names; see the module docstring for what is refused."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InstantError(f"'{value}' is not an ISO 8601 date-time; use e.g. 2026-04-01T00:00:00Z.") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InstantError(
            f"'{value}' has no UTC offset; add one, e.g. 2026-04-01T00:00:00Z or 2026-04-01T00:00:00+02:00."
        )
    try:
        moment.astimezone(UTC)  # what the database stores; 0001-01-01T00:00+14:00 is before year 1 in UTC
    except OverflowError:
        raise InstantError(f"'{value}' is out of range (years 1 to 9999 in UTC).") from None
    if not_after is not None and moment > not_after:
        raise InstantError(f"'{value}' is in the future.")
    return moment


def iso_utc(moment: datetime | None) -> str | None:
    """``moment`` in UTC as ISO 8601 with a ``Z`` suffix (``None`` stays ``None``)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
