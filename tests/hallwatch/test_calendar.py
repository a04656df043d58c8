"""Service days and hours: statutory calendar, site overrides, and the beyond-data fallback."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallwatch.calendar import in_service, is_service_day
from hallwatch.config import Schedule, TimeRange

SH = ZoneInfo("Asia/Shanghai")
DEFAULT = Schedule()


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SH)


@pytest.mark.parametrize(
    ("day", "serving"),
    [
        (dt.date(2026, 10, 1), False),  # National Day (statutory holiday, a Thursday)
        (dt.date(2026, 10, 9), True),  # an ordinary Friday after the holiday
        (dt.date(2026, 11, 21), False),  # an ordinary Saturday
        (dt.date(2026, 11, 23), True),  # an ordinary Monday
        (dt.date(2027, 1, 1), True),  # beyond the package data: weekday rule, never raises
        (dt.date(2027, 1, 2), False),  # a Saturday in 2027
    ],
)
def test_service_days(day: dt.date, serving: bool) -> None:
    assert is_service_day(DEFAULT, day) is serving


def test_statutory_make_up_working_day() -> None:
    # 2026-09-20 (Sunday) is a make-up working day for National Day 2026 in chinese-calendar
    import chinese_calendar

    sunday = dt.date(2026, 9, 20)
    assert is_service_day(DEFAULT, sunday) is chinese_calendar.is_workday(sunday)


def test_site_lists_override_everything() -> None:
    schedule = Schedule(holidays=[dt.date(2027, 1, 1)], workdays=[dt.date(2027, 2, 6)])
    assert is_service_day(schedule, dt.date(2027, 1, 1)) is False
    assert is_service_day(schedule, dt.date(2027, 2, 6)) is True  # a Saturday
    local = Schedule(holidays=[dt.date(2026, 11, 23)])
    assert is_service_day(local, dt.date(2026, 11, 23)) is False


@pytest.mark.parametrize(
    ("hour", "minute", "serving"),
    [(8, 59, False), (9, 0, True), (11, 59, True), (12, 0, False), (13, 29, False),
     (13, 30, True), (17, 29, True), (17, 30, False), (23, 0, False)],
)  # fmt: skip
def test_hours_and_lunch_edges(hour: int, minute: int, serving: bool) -> None:
    assert in_service(DEFAULT, at(dt.date(2026, 11, 23), hour, minute)) is serving


def test_timezone_is_applied() -> None:
    # 01:30 UTC is 09:30 in Shanghai
    utc = dt.datetime(2026, 11, 23, 1, 30, tzinfo=dt.UTC)
    assert in_service(DEFAULT, utc) is True
    assert in_service(Schedule(timezone="UTC"), utc) is False


def test_no_lunch_break() -> None:
    schedule = Schedule(lunch_break=None, hours=TimeRange(start=dt.time(8), end=dt.time(18)))
    assert in_service(schedule, at(dt.date(2026, 11, 23), 12, 30)) is True


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 12, 31)))
def test_never_raises_for_any_date(moment: dt.datetime) -> None:
    in_service(DEFAULT, moment.replace(tzinfo=SH))
