"""Schedules: presets and RFC 5545 rules at local time in the organization's zone, across DST changes."""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from distributors.models import Distributor, validate_schedule
from distributors.schedules import next_trigger_after, parse_schedule, upcoming_triggers

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: ZoneInfo, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


def triggers(schedule, *, tz, after, count=3, anchor=ANCHOR):
    return upcoming_triggers(schedule, tz=tz, anchor=anchor, after=after, count=count)


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        (
            "daily",
            local(PARIS, 2026, 1, 10, 12),
            [local(PARIS, 2026, 1, 11), local(PARIS, 2026, 1, 12), local(PARIS, 2026, 1, 13)],
        ),
        (
            # 2026-01-10 is a Saturday; weekly is Monday midnight.
            "weekly",
            local(PARIS, 2026, 1, 10, 12),
            [local(PARIS, 2026, 1, 12), local(PARIS, 2026, 1, 19), local(PARIS, 2026, 1, 26)],
        ),
        (
            "monthly",
            local(PARIS, 2026, 1, 10, 12),
            [local(PARIS, 2026, 2, 1), local(PARIS, 2026, 3, 1), local(PARIS, 2026, 4, 1)],
        ),
        (
            "quarterly",
            local(PARIS, 2026, 1, 10, 12),
            [local(PARIS, 2026, 4, 1), local(PARIS, 2026, 7, 1), local(PARIS, 2026, 10, 1)],
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_presets_at_local_midnight(schedule, after, expected):
    result = triggers(schedule, tz=PARIS, after=after)
    assert result == expected
    assert all(moment.utcoffset() == timedelta(0) for moment in result)
    assert all(moment.astimezone(PARIS).time() == datetime.min.time() for moment in result)


def test_presets_are_case_and_space_insensitive():
    after = utc(2026, 1, 10)
    assert triggers(" Monthly ", tz=PARIS, after=after) == triggers("monthly", tz=PARIS, after=after)
    assert triggers("WEEKLY", tz=PARIS, after=after) == triggers("weekly", tz=PARIS, after=after)


def test_daily_across_paris_spring_forward():
    # 2026-03-29: 02:00 CET -> 03:00 CEST. Local midnight moves from 23:00 to 22:00 UTC.
    assert triggers("daily", tz=PARIS, after=utc(2026, 3, 27, 12)) == [
        utc(2026, 3, 27, 23),
        utc(2026, 3, 28, 23),
        utc(2026, 3, 29, 22),
    ]


def test_daily_across_paris_fall_back():
    # 2026-10-25: 03:00 CEST -> 02:00 CET. Local midnight moves from 22:00 to 23:00 UTC.
    assert triggers("daily", tz=PARIS, after=utc(2026, 10, 23, 12)) == [
        utc(2026, 10, 23, 22),
        utc(2026, 10, 24, 22),
        utc(2026, 10, 25, 23),
    ]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # 2026-03-08: EST -> EDT.
        (utc(2026, 3, 7, 12), [utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), utc(2026, 3, 10, 4)]),
        # 2026-11-01: EDT -> EST.
        (utc(2026, 10, 31, 12), [utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), utc(2026, 11, 3, 5)]),
    ],
    ids=["spring", "fall"],
)
def test_daily_across_new_york_dst(after, expected):
    assert triggers("daily", tz=NEW_YORK, after=after) == expected


def test_monthly_across_dst_keeps_local_midnight():
    result = triggers("monthly", tz=NEW_YORK, after=utc(2026, 1, 15), count=4)
    assert result == [utc(2026, 2, 1, 5), utc(2026, 3, 1, 5), utc(2026, 4, 1, 4), utc(2026, 5, 1, 4)]


def test_rule_hour_in_the_spring_gap_resolves_after_the_gap():
    # 02:00 does not exist in Paris on 2026-03-29; it becomes 03:00 CEST (01:00 UTC).
    assert triggers("FREQ=DAILY;BYHOUR=2", tz=PARIS, after=utc(2026, 3, 28, 12)) == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0),
        utc(2026, 3, 31, 0),
    ]


def test_rule_hour_in_the_autumn_overlap_takes_the_first_occurrence():
    # 02:00 happens twice in Paris on 2026-10-25; the first (CEST, 00:00 UTC) is taken, once.
    assert triggers("FREQ=DAILY;BYHOUR=2", tz=PARIS, after=utc(2026, 10, 24, 12)) == [
        utc(2026, 10, 25, 0),
        utc(2026, 10, 26, 1),
        utc(2026, 10, 27, 1),
    ]


def test_hourly_across_spring_forward_has_no_duplicate_instant():
    # Wall times 02:00 (in the gap) and 03:00 CEST are the same instant, which triggers once.
    result = triggers("FREQ=HOURLY", tz=PARIS, after=utc(2026, 3, 28, 23, 30), count=4)
    assert result == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2), utc(2026, 3, 29, 3)]


def test_hourly_across_fall_back_triggers_once_per_wall_time():
    # Wall time 02:00 happens twice on 2026-10-25; it triggers once (the first, 00:00 UTC), so the
    # period ending at 03:00 CET (02:00 UTC) is two hours long rather than two periods of one hour.
    result = triggers("FREQ=HOURLY", tz=PARIS, after=utc(2026, 10, 24, 22, 30), count=4)
    assert result == [utc(2026, 10, 24, 23), utc(2026, 10, 25, 0), utc(2026, 10, 25, 2), utc(2026, 10, 25, 3)]


@pytest.mark.parametrize(
    ("schedule", "tz", "after", "expected"),
    [
        # 2026-01-01 is a Thursday: the next Friday is the 2nd, local midnight (CET).
        ("RRULE:FREQ=WEEKLY;BYDAY=FR", PARIS, utc(2026, 1, 1), [utc(2026, 1, 1, 23), utc(2026, 1, 8, 23)]),
        ("FREQ=WEEKLY;BYDAY=FR", PARIS, utc(2026, 1, 1), [utc(2026, 1, 1, 23), utc(2026, 1, 8, 23)]),
        ("rrule:freq=weekly;byday=fr", PARIS, utc(2026, 1, 1), [utc(2026, 1, 1, 23), utc(2026, 1, 8, 23)]),
        # 09:00 local on the 15th: EST in February, EDT from March.
        (
            "FREQ=MONTHLY;BYMONTHDAY=15;BYHOUR=9",
            NEW_YORK,
            utc(2026, 2, 1),
            [utc(2026, 2, 15, 14), utc(2026, 3, 15, 13)],
        ),
        (
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=15;BYHOUR=9;BYMINUTE=30",
            PARIS,
            utc(2026, 3, 15, 8, 30),
            [utc(2026, 4, 15, 7, 30), utc(2026, 5, 15, 7, 30)],
        ),
        ("FREQ=MONTHLY;BYDAY=-1FR", UTC, utc(2026, 1, 1), [utc(2026, 1, 30), utc(2026, 2, 27)]),
    ],
)
def test_rrule_strings(schedule, tz, after, expected):
    assert triggers(schedule, tz=tz, after=after, count=2) == expected


def test_interval_counts_from_the_distributor_start():
    # Every other Friday, counted from the week the distributor starts (Thursday 2026-01-01).
    result = triggers("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR", tz=UTC, after=utc(2026, 1, 1), count=3)
    assert result == [utc(2026, 1, 2), utc(2026, 1, 16), utc(2026, 1, 30)]
    shifted = triggers(
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR", tz=UTC, after=utc(2026, 1, 1), count=3, anchor=utc(2026, 1, 8)
    )
    assert shifted == [utc(2026, 1, 9), utc(2026, 1, 23), utc(2026, 2, 6)]


@pytest.mark.parametrize("tz", [PARIS, NEW_YORK, UTC], ids=str)
@pytest.mark.parametrize("schedule", ["daily", "weekly", "monthly", "quarterly", "FREQ=DAILY;BYHOUR=2"])
def test_strictly_after(schedule, tz):
    """A trigger instant is not 'after' itself; one microsecond earlier it is the next trigger."""
    first = next_trigger_after(schedule, tz=tz, anchor=ANCHOR, after=utc(2026, 3, 1))
    assert first > utc(2026, 3, 1)
    assert next_trigger_after(schedule, tz=tz, anchor=ANCHOR, after=first - timedelta(microseconds=1)) == first
    second = next_trigger_after(schedule, tz=tz, anchor=ANCHOR, after=first)
    assert second > first
    # Chaining next_trigger_after (as the engine does when it opens the next period) walks the same list.
    chained = [first]
    for _ in range(11):
        chained.append(next_trigger_after(schedule, tz=tz, anchor=ANCHOR, after=chained[-1]))
    assert chained == triggers(schedule, tz=tz, after=utc(2026, 3, 1), count=12)


def test_after_a_trigger_instant_exactly():
    first_of_march = utc(2026, 2, 28, 23)  # 2026-03-01 00:00 in Paris
    assert next_trigger_after("monthly", tz=PARIS, anchor=ANCHOR, after=first_of_march) == utc(2026, 3, 31, 22)


@pytest.mark.parametrize("count", [1, 5, 24])
def test_upcoming_triggers_count(count):
    result = triggers("weekly", tz=PARIS, after=utc(2026, 1, 1), count=count)
    assert len(result) == count
    assert result == sorted(set(result))
    assert all(moment > utc(2026, 1, 1) for moment in result)


def test_upcoming_triggers_zero():
    assert triggers("daily", tz=PARIS, after=utc(2026, 1, 1), count=0) == []


REFUSED = [
    "FREQ=DAILY;COUNT=3",
    "RRULE:FREQ=WEEKLY;BYDAY=FR;COUNT=10",
    "FREQ=DAILY;UNTIL=20270101T000000Z",
    "FREQ=daily;until=20270101",
    "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY",
    "DTSTART:20260101T000000Z RRULE:FREQ=DAILY",
    "FREQ=MINUTELY",
    "FREQ=SECONDLY",
    "RRULE:FREQ=MINUTELY;INTERVAL=90",
    "garbage",
    "FREQ=FORTNIGHTLY",
    "FREQ=DAILY;BYHOUR=25",
    "FREQ=MONTHLY;BYMONTHDAY=banana",
    "EXRULE:FREQ=DAILY",
    "RDATE:20260101T000000Z",
    "",
    "   ",
    "RRULE:",
    "FREQ=DAILY\nFREQ=WEEKLY",
]


@pytest.mark.parametrize("schedule", REFUSED)
def test_refused_schedules_raise_value_error(schedule):
    with pytest.raises(ValueError):
        parse_schedule(schedule)
    with pytest.raises(ValueError):
        upcoming_triggers(schedule, tz=PARIS, anchor=ANCHOR, after=ANCHOR, count=1)


@pytest.mark.parametrize("schedule", REFUSED)
def test_model_validator_turns_refusals_into_validation_errors(schedule):
    with pytest.raises(ValidationError):
        validate_schedule(schedule)


@pytest.mark.parametrize("schedule", ["FREQ=MINUTELY", "FREQ=DAILY;COUNT=3", "garbage"])
def test_distributor_full_clean_reports_the_schedule_field(schedule):
    distributor = Distributor(name="d", schedule=schedule, starts_at=ANCHOR)
    with pytest.raises(ValidationError) as excinfo:
        distributor.clean_fields(exclude=["organization"])
    assert list(excinfo.value.message_dict) == ["schedule"]


@pytest.mark.parametrize(
    "schedule", ["daily", "weekly", "monthly", "quarterly", "RRULE:FREQ=WEEKLY;BYDAY=FR", "FREQ=HOURLY"]
)
def test_valid_schedules_pass_the_validator(schedule):
    validate_schedule(schedule)


@pytest.mark.parametrize("schedule", ["FREQ=DAILY;BYSECOND=0,1,2", "FREQ=HOURLY;BYMINUTE=0,30"])
def test_sub_hourly_rules_through_by_lists_are_refused(schedule):
    with pytest.raises(ValueError):
        parse_schedule(schedule)


@pytest.mark.parametrize("schedule", ["FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31"])
def test_a_rule_that_never_fires_is_refused_quickly(schedule):
    started = time.monotonic()
    with pytest.raises(ValidationError, match="never triggers"):
        validate_schedule(schedule)
    assert time.monotonic() - started < 2, "the validator must not search to the year 9999"
