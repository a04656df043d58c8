"""Working-day clock: concrete PRC dates, suspensions, provisional years, edge rules.

Facts from chinese-calendar 1.11.0 (`get_holiday_detail`) that these tables rely on (2026):
- New Year: 01-01 (Thu) .. 01-03 off; Sunday 01-04 is a make-up working day.
- Spring Festival: 02-15 (Sun) .. 02-23 (Mon) off; Saturdays 02-14 and 02-28 are make-up days.
- Mid-autumn: Friday 09-25 off (with the weekend 09-26/27).
- National Day: 10-01 (Thu) .. 10-07 (Wed) off; Sunday 09-20 and Saturday 10-10 are make-up days.
- The package has no data for 2027 (it raises NotImplementedError): 2027 counts weekdays only.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from cases.clock import (
    Deadline,
    Limit,
    LimitUnit,
    Pause,
    add_working_time,
    deadline,
    merge_pauses,
    remaining,
    working_seconds,
)
from cases.workdays import work_calendar
from hallwatch.config import Schedule
from hallwatch.config_base import TimeRange

SH = ZoneInfo("Asia/Shanghai")
CAL = work_calendar(Schedule())
DAY = 7 * 3600  # office seconds in a default working day
WD, ND, WH = LimitUnit.WORKING_DAYS, LimitUnit.NATURAL_DAYS, LimitUnit.WORKING_HOURS


def at(text: str) -> dt.datetime:
    """'2026-10-08 17:30' in Shanghai time."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SH)


def test_calendar_facts_relied_on() -> None:
    off = ["2026-01-02", "2026-02-16", "2026-02-23", "2026-09-25", "2026-10-01", "2026-10-07"]
    make_up = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-09-20", "2026-10-10"]
    for day in off:
        assert chinese_calendar.is_holiday(dt.date.fromisoformat(day)), day
    for day in make_up:
        assert chinese_calendar.is_workday(dt.date.fromisoformat(day)), day
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(dt.date(2027, 1, 4))


@pytest.mark.parametrize(
    ("accepted", "limit", "expected"),
    [
        # ordinary weeks: the acceptance day is not counted
        ("2026-11-20 10:00", Limit(1), "2026-11-23 17:30"),  # Friday -> Monday close
        ("2026-11-20 08:00", Limit(1), "2026-11-23 17:30"),  # before opening: still not counted
        ("2026-11-21 10:00", Limit(1), "2026-11-23 17:30"),  # accepted on a Saturday (online)
        ("2026-11-16 10:00", Limit(5), "2026-11-23 17:30"),
        # National Day 2026 with its make-up days
        ("2026-09-30 10:00", Limit(1), "2026-10-08 17:30"),  # 10-01..10-07 off
        ("2026-09-29 10:00", Limit(3), "2026-10-09 17:30"),  # 09-30, 10-08, 10-09
        ("2026-10-09 10:00", Limit(1), "2026-10-10 17:30"),  # Saturday 10-10 is a working day
        ("2026-09-17 10:00", Limit(3), "2026-09-21 17:30"),  # 09-18, Sunday 09-20, 09-21
        ("2026-09-24 10:00", Limit(1), "2026-09-28 17:30"),  # Mid-autumn Friday 09-25 off
        # Spring Festival 2026
        ("2026-02-13 10:00", Limit(1), "2026-02-14 17:30"),  # make-up Saturday
        ("2026-02-13 10:00", Limit(2), "2026-02-24 17:30"),  # 02-15..02-23 off
        ("2026-02-12 10:00", Limit(5), "2026-02-26 17:30"),  # 13, 14, 24, 25, 26
        ("2026-02-27 10:00", Limit(1), "2026-02-28 17:30"),  # make-up Saturday 02-28
        # New Year 2026
        ("2025-12-31 10:00", Limit(1), "2026-01-04 17:30"),  # Sunday 01-04 is a working day
        # natural days: N calendar days, the last one moved off a holiday
        ("2026-11-20 10:00", Limit(1, ND), "2026-11-23 17:30"),  # Saturday -> Monday
        ("2026-11-16 10:00", Limit(3, ND), "2026-11-19 17:30"),
        ("2026-09-28 10:00", Limit(3, ND), "2026-10-08 17:30"),  # 10-01 off -> 10-08
        ("2026-10-06 10:00", Limit(3, ND), "2026-10-09 17:30"),
        ("2026-10-07 10:00", Limit(3, ND), "2026-10-10 17:30"),  # make-up Saturday counts
        ("2026-02-10 10:00", Limit(10, ND), "2026-02-24 17:30"),  # 02-20 off -> 02-24
        # same-day items (limit 0)
        ("2026-11-16 10:00", Limit(0), "2026-11-16 17:30"),
        ("2026-11-16 18:00", Limit(0), "2026-11-17 17:30"),  # after the close
        ("2026-11-21 10:00", Limit(0), "2026-11-23 17:30"),  # a Saturday
        ("2026-11-16 10:00", Limit(0, ND), "2026-11-16 17:30"),
        # working hours, counted from the acceptance instant
        ("2026-11-20 10:00", Limit(3, WH), "2026-11-20 14:30"),  # over the lunch break
        ("2026-11-20 16:00", Limit(4, WH), "2026-11-23 11:30"),  # 1.5 h Friday, 2.5 h Monday
        ("2026-09-30 16:30", Limit(2, WH), "2026-10-08 10:00"),  # over National Day
        ("2026-11-20 15:30", Limit(2, WH), "2026-11-20 17:30"),  # ends at the close exactly
    ],
)
def test_deadlines(accepted: str, limit: Limit, expected: str) -> None:
    result = deadline(CAL, at(accepted), limit)
    assert result == Deadline(at(expected), provisional=False, suspended=False)


def test_hall_open_on_saturdays_counts_legal_working_days_only() -> None:
    calendar = work_calendar(Schedule(weekdays=[1, 2, 3, 4, 5, 6]))
    assert deadline(calendar, at("2026-11-20 10:00"), Limit(1)).at == at("2026-11-23 17:30")


def test_local_holiday_and_custom_hours() -> None:
    schedule = Schedule(
        holidays=[dt.date(2026, 11, 23)],
        hours=TimeRange(start=dt.time(8, 30), end=dt.time(17)),
        lunch_break=None,
    )
    calendar = work_calendar(schedule)
    assert deadline(calendar, at("2026-11-20 10:00"), Limit(1)).at == at("2026-11-24 17:00")
    assert working_seconds(calendar, at("2026-11-24 08:00"), at("2026-11-24 12:30")) == 4 * 3600


def test_without_statutory_calendar_national_day_is_a_working_day() -> None:
    calendar = work_calendar(Schedule(statutory_calendar=False))
    assert deadline(calendar, at("2026-09-30 10:00"), Limit(1)) == Deadline(
        at("2026-10-01 17:30"), provisional=False
    )


def test_deadline_in_2027_is_provisional_until_the_site_lists_the_year() -> None:
    accepted = at("2026-12-28 10:00")  # Monday
    # 12-29, 12-30, 12-31, Friday 2027-01-01 (weekday rule, no 2027 data), Monday 01-04
    provisional = deadline(CAL, accepted, Limit(5))
    assert provisional == Deadline(at("2027-01-04 17:30"), provisional=True)
    # the site enters New Year 2027 (say 01-01 off and Saturday 01-09 a make-up day)
    listed = work_calendar(Schedule(holidays=[dt.date(2027, 1, 1)], workdays=[dt.date(2027, 1, 9)]))
    assert listed != CAL
    assert deadline(listed, accepted, Limit(5)) == Deadline(at("2027-01-05 17:30"), False)
    # a deadline that stays in 2026 is not provisional, one accepted in 2027 is
    assert deadline(CAL, accepted, Limit(3)) == Deadline(at("2026-12-31 17:30"), False)
    assert deadline(CAL, at("2027-03-01 10:00"), Limit(1)).provisional is True
    assert deadline(listed, at("2027-03-01 10:00"), Limit(1)).provisional is False


def test_suspension_spanning_national_day_working_days() -> None:
    accepted = at("2026-09-28 10:00")  # Monday; 5 working days: 09-29, 09-30, 10-08, 10-09, 10-10
    assert deadline(CAL, accepted, Limit(5)).at == at("2026-10-10 17:30")
    # suspended from 09-30 opening to 10-09 opening: office days 09-30 and 10-08 are excluded
    pause = Pause(at("2026-09-30 09:00"), at("2026-10-09 09:00"))
    assert working_seconds(CAL, pause.start, pause.end or pause.start) == 2 * DAY
    assert deadline(CAL, accepted, Limit(5), [pause]).at == at("2026-10-13 17:30")


def test_suspension_spanning_national_day_natural_days() -> None:
    accepted = at("2026-09-28 10:00")
    assert deadline(CAL, accepted, Limit(10, ND)).at == at("2026-10-08 17:30")
    # 9 calendar days paused: the natural end moves from 10-08 to 10-17 (Saturday) -> 10-19
    pause = Pause(at("2026-09-30 09:00"), at("2026-10-09 09:00"))
    assert deadline(CAL, accepted, Limit(10, ND), [pause]).at == at("2026-10-19 17:30")


def test_suspension_within_spring_festival_adds_nothing_to_working_days() -> None:
    accepted = at("2026-02-12 10:00")
    pause = Pause(at("2026-02-15 09:00"), at("2026-02-23 18:00"))  # all inside the holiday
    assert deadline(CAL, accepted, Limit(5), [pause]).at == at("2026-02-26 17:30")


def test_open_pause_counts_until_now_and_freezes_the_remaining_time() -> None:
    accepted = at("2026-11-16 10:00")  # 5 working days -> 11-23 17:30
    pauses = [Pause(at("2026-11-17 09:00"))]
    with pytest.raises(ValueError, match="still open"):
        deadline(CAL, accepted, Limit(5), pauses)
    now = at("2026-11-18 09:00")
    assert deadline(CAL, accepted, Limit(5), pauses, now) == Deadline(
        at("2026-11-24 17:30"), provisional=False, suspended=True
    )
    left = remaining(CAL, accepted, Limit(5), pauses, now)
    assert left == 5 * DAY  # 11-18, 19, 20, 23, 24
    assert remaining(CAL, accepted, Limit(5), pauses, at("2026-11-20 15:00")) == left


def test_pauses_merge_overlapping_and_out_of_order() -> None:
    late = Pause(at("2026-11-17 12:00"), at("2026-11-18 12:00"))
    early = Pause(at("2026-11-17 09:00"), at("2026-11-17 17:30"))
    merged = merge_pauses([late, early])
    assert merged == [(at("2026-11-17 09:00"), at("2026-11-18 12:00"))]
    accepted = at("2026-11-16 10:00")
    one = deadline(CAL, accepted, Limit(5), [Pause(*merged[0])])
    assert deadline(CAL, accepted, Limit(5), [late, early]) == one
    assert one.at == at("2026-11-25 12:00")  # 7 h + 3 h of office time after 11-23 17:30


def test_pause_on_the_acceptance_day_or_after_the_deadline_adds_nothing() -> None:
    accepted = at("2026-11-16 10:00")
    same_day = Pause(at("2026-11-16 11:00"), at("2026-11-16 17:00"))
    after = Pause(at("2026-11-23 17:30"), at("2026-11-25 12:00"))
    assert deadline(CAL, accepted, Limit(5), [same_day, after]).at == at("2026-11-23 17:30")
    # 5 natural days end on Saturday 11-21, moved to Monday
    assert deadline(CAL, accepted, Limit(5, ND), [same_day]).at == at("2026-11-23 17:30")


def test_remaining_goes_negative_when_overdue() -> None:
    accepted = at("2026-11-16 10:00")
    assert remaining(CAL, accepted, Limit(5), [], at("2026-11-23 16:30")) == 3600
    assert remaining(CAL, accepted, Limit(5), [], at("2026-11-23 20:00")) == 0
    assert remaining(CAL, accepted, Limit(5), [], at("2026-11-24 10:00")) == -3600


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        ("2026-11-20 10:00", "2026-11-23 10:00", DAY),  # over a weekend
        ("2026-11-20 11:00", "2026-11-20 14:00", 5400),  # the lunch break does not count
        ("2026-09-30 09:00", "2026-10-08 09:00", DAY),  # over National Day
        ("2026-10-09 17:30", "2026-10-12 09:00", DAY),  # make-up Saturday 10-10 counts
        ("2026-11-20 10:00", "2026-11-20 09:00", 0),  # end before start
        ("2026-11-21 10:00", "2026-11-22 16:00", 0),  # a weekend
    ],
)
def test_working_seconds(start: str, end: str, seconds: float) -> None:
    assert working_seconds(CAL, at(start), at(end)) == seconds


@pytest.mark.parametrize(
    ("start", "seconds", "expected"),
    [
        ("2026-11-20 17:00", 1800, "2026-11-20 17:30"),  # runs out at the close, not Monday
        ("2026-11-20 20:00", 1, "2026-11-23 09:00:01"),  # counting starts at the next opening
        ("2026-11-20 20:00", 0, "2026-11-20 20:00"),  # zero returns the start unchanged
        ("2026-11-20 11:30", 3600, "2026-11-20 14:00"),
        ("2026-11-20 11:00", 3600, "2026-11-20 12:00"),  # runs out at the lunch break
        ("2026-09-30 17:00", DAY, "2026-10-08 17:00"),
    ],
)
def test_add_working_time(start: str, seconds: float, expected: str) -> None:
    assert add_working_time(CAL, at(start), seconds) == at(expected)


def test_other_time_zones_in_site_time_out() -> None:
    utc = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    result = deadline(CAL, utc, Limit(1)).at
    assert result == at("2026-11-23 17:30")
    assert result.utcoffset() == dt.timedelta(hours=8)


def test_naive_datetimes_and_bad_limits_are_rejected() -> None:
    naive = dt.datetime(2026, 11, 20, 10)
    with pytest.raises(ValueError, match="naive"):
        deadline(CAL, naive, Limit(1))
    with pytest.raises(ValueError, match="naive"):
        working_seconds(CAL, naive, at("2026-11-21 10:00"))
    with pytest.raises(ValueError, match="naive"):
        add_working_time(CAL, naive, 60)
    with pytest.raises(ValueError, match="naive"):
        Pause(naive)
    with pytest.raises(ValueError, match="before it starts"):
        Pause(at("2026-11-20 10:00"), at("2026-11-20 09:00"))
    with pytest.raises(ValueError, match=">= 0"):
        add_working_time(CAL, at("2026-11-20 10:00"), -1)
    with pytest.raises(ValueError, match="outside"):
        Limit(-1)
    with pytest.raises(ValueError, match="at least 1 hour"):
        Limit(0, WH)


def test_calendar_is_hashable_and_cached() -> None:
    again = work_calendar(Schedule())
    assert again == CAL
    assert hash(again) == hash(CAL)
    assert len({CAL, again}) == 1
    table = CAL.table(dt.date(2026, 1, 1).toordinal())
    assert CAL.table(dt.date(2026, 6, 1).toordinal()) is table
