"""Schedules: presets and RFC 5545 recurrence rules, evaluated in the organization's time zone.

Occurrences fall at local midnight unless the rule says otherwise (BYHOUR, BYMINUTE). Rules are
anchored at local midnight of the day the distributor starts, which matters for INTERVAL > 1. A
schedule never ends: COUNT and UNTIL are refused (make the distributor inactive to stop it), as are
rules more frequent than hourly.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule
from dateutil.relativedelta import relativedelta

from clock import iso_utc

PRESET_RULES = {
    "daily": "FREQ=DAILY",
    "weekly": "FREQ=WEEKLY;BYDAY=MO",
    "monthly": "FREQ=MONTHLY;BYMONTHDAY=1",
    "quarterly": "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYMONTHDAY=1",
}
_TOO_FREQUENT = {rrule.SECONDLY, rrule.MINUTELY}
# A rule must fire within this horizon of its anchor; longer gaps are refused as a likely mistake.
_HORIZON = relativedelta(years=5)


def _rule_text(schedule: str) -> str:
    text = schedule.strip()
    if text.lower() in PRESET_RULES:
        return PRESET_RULES[text.lower()]
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    return text


def parse_schedule(schedule: str, dtstart: datetime | None = None) -> rrule.rrule:
    """Return the rule of ``schedule``; ``dtstart`` is a naive local datetime. Raise ValueError if invalid."""
    text = _rule_text(schedule)
    if not text or "\n" in text or "DTSTART" in text.upper():
        raise ValueError(
            f"Schedule '{schedule}' must be one of {', '.join(PRESET_RULES)} or a single RRULE without DTSTART."
        )
    upper = text.upper()
    if "COUNT=" in upper or "UNTIL=" in upper:
        raise ValueError("A schedule cannot end (COUNT/UNTIL); make the distributor inactive to stop it.")
    try:
        rule = rrule.rrulestr(text, dtstart=dtstart or datetime(2000, 1, 1))  # noqa: DTZ001 - naive local
    except (ValueError, TypeError) as exc:
        raise ValueError(f"Schedule '{schedule}' is not a valid RFC 5545 rule: {exc}.") from exc
    if not isinstance(rule, rrule.rrule):
        raise ValueError(f"Schedule '{schedule}' must be a single RRULE.")
    if rule._freq in _TOO_FREQUENT or len(rule._byminute or ()) > 1 or len(rule._bysecond or ()) > 1:
        raise ValueError("A schedule may not trigger more often than hourly.")
    if _days_never_in_months(rule) or next(iter(rule.replace(until=rule._dtstart + _HORIZON)), None) is None:
        raise ValueError(f"Schedule '{schedule}' never triggers (no occurrence within five years).")
    return rule


_LONGEST_MONTH = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}


def _days_never_in_months(rule: rrule.rrule) -> bool:
    """True for rules such as BYMONTH=2;BYMONTHDAY=30, which dateutil would search for until the year 9999."""
    if not rule._bymonthday or rule._bynmonthday:
        return False
    months = rule._bymonth or range(1, 13)
    return all(day > _LONGEST_MONTH.get(month, 31) for month in months for day in rule._bymonthday)


def _local_midnight(moment: datetime, tz: ZoneInfo) -> datetime:
    return datetime.combine(moment.astimezone(tz).date(), time(0))


def _localize(naive_local: datetime, tz: ZoneInfo) -> datetime:
    # A local time skipped by a DST change resolves to the instant just after the gap (fold=0 semantics).
    aware = naive_local.replace(tzinfo=tz)
    return aware.astimezone(ZoneInfo("UTC"))


def next_trigger_after(schedule: str, *, tz: ZoneInfo, anchor: datetime, after: datetime) -> datetime:
    """The first occurrence of ``schedule`` strictly after the aware datetime ``after``, in UTC."""
    return upcoming_triggers(schedule, tz=tz, anchor=anchor, after=after, count=1)[0]


def upcoming_triggers(schedule: str, *, tz: ZoneInfo, anchor: datetime, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` occurrences strictly after ``after`` (aware), as aware UTC datetimes."""
    rule = parse_schedule(schedule, dtstart=_local_midnight(anchor, tz))
    # Step in local wall time, then compare in UTC: around a DST change a local time can map to an
    # instant that is not after ``after`` even though the wall time is.
    cursor = after.astimezone(tz).replace(tzinfo=None) - timedelta(hours=3)
    # Bounded, so that even an unusual rule cannot make the search run to the year 9999.
    rule = rule.replace(until=max(cursor, rule._dtstart) + _HORIZON)
    found: list[datetime] = []
    while len(found) < count:
        nxt = rule.after(cursor, inc=False)
        if nxt is None:
            raise ValueError(f"Schedule '{schedule}' has no occurrence within five years after {iso_utc(after)}.")
        cursor = nxt
        moment = _localize(nxt, tz)
        if moment > after and (not found or moment > found[-1]):
            found.append(moment)
    return found
