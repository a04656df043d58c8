"""Service days and hours: PRC statutory calendar with site overrides and a safe fallback.

The `chinese-calendar` package covers a fixed range of years (it raises for later ones). A date
beyond its data never raises here: it falls back to the site's own lists, then to weekdays.
"""

from __future__ import annotations

import datetime as dt
import functools
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import chinese_calendar

if TYPE_CHECKING:
    from hallwatch.config import Schedule


class CalendarSource(StrEnum):
    STATUTORY = "statutory"  # the chinese-calendar package has the year
    SITE = "site"  # the site lists the year's holidays / make-up days itself
    WEEKDAYS_ONLY = "weekdays_only"  # nothing known: weekdays only, provisional


@functools.lru_cache(maxsize=64)
def statutory_covers(year: int) -> bool:
    """True when the chinese-calendar package has data for `year`."""
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
        chinese_calendar.is_workday(dt.date(year, 12, 31))
    except NotImplementedError:
        return False
    return True


def calendar_source(schedule: Schedule, year: int) -> CalendarSource:
    if schedule.statutory_calendar and statutory_covers(year):
        return CalendarSource.STATUTORY
    listed = [day for day in (*schedule.holidays, *schedule.workdays) if day.year == year]
    if listed or not schedule.statutory_calendar:
        return CalendarSource.SITE
    return CalendarSource.WEEKDAYS_ONLY


def _statutory_service_day(schedule: Schedule, day: dt.date) -> bool:
    is_holiday, name = chinese_calendar.get_holiday_detail(day)
    if is_holiday and name is not None:
        return False  # a named statutory holiday (国庆节, 春节, ...)
    if not is_holiday and day.isoweekday() >= 6:
        return True  # a make-up working day (调休) on a weekend
    return day.isoweekday() in schedule.weekdays


def is_service_day(schedule: Schedule, day: dt.date) -> bool:
    """Whether the hall serves on `day`; never raises for years beyond the calendar data."""
    if day in schedule.holidays:
        return False
    if day in schedule.workdays:
        return True
    if schedule.statutory_calendar and statutory_covers(day.year):
        return _statutory_service_day(schedule, day)
    return day.isoweekday() in schedule.weekdays


def in_service(schedule: Schedule, when: dt.datetime) -> bool:
    """Whether `when` (timezone-aware) falls inside service hours, outside the lunch break."""
    local = when.astimezone(ZoneInfo(schedule.timezone))
    if not is_service_day(schedule, local.date()):
        return False
    clock = local.time().replace(tzinfo=None)
    if not schedule.hours.start <= clock < schedule.hours.end:
        return False
    lunch = schedule.lunch_break
    return lunch is None or not lunch.start <= clock < lunch.end
