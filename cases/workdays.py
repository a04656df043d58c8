"""A site's legal working days and office hours, as one line of office time.

Rules:

- Legal working days are Monday to Friday plus make-up working days (调休), minus statutory
  holidays and the site's local holidays. They do not follow the days the hall serves on: a hall
  that also opens on Saturdays still counts case time on legal working days only. The days come
  from `hallwatch.calendar.is_service_day` over the site's `Schedule` with its weekdays forced to
  Monday–Friday, so the site's `holidays` / `workdays` lists override the statutory data.
- Office hours are the schedule's `hours` minus its `lunch_break` (by default 09:00–12:00 and
  13:30–17:30: 7 hours a day). Times are the site's local wall-clock times.
- A year that the chinese-calendar package does not cover and that the site did not list
  (`CalendarSource.WEEKDAYS_ONLY`) counts weekdays only; whatever is computed over such a year
  is provisional (`WorkCalendar.provisional_between`).

Office time lies on one line: `position(calendar, t)` is the office time in microseconds between
the calendar's origin (2000-01-01, local) and the instant t. It never decreases, and it stands
still outside office hours. The office time between two instants is the difference of their
positions; `instant_at` is its inverse (the earliest instant at a position). Both are day-level
arithmetic on a sorted table of working-day ordinals (bisect), built once per calendar and cached
on the calendar object, which is immutable and hashable.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from hallwatch.calendar import CalendarSource, calendar_source, is_service_day

if TYPE_CHECKING:
    from hallwatch.config import Schedule

ORIGIN = dt.date(2000, 1, 1)
LAST_YEAR = 9990
LEGAL_WEEKDAYS = [1, 2, 3, 4, 5]
MICROS = 1_000_000
_DAY_MICROS = 86_400 * MICROS
_FIRST_TABLE_YEAR = 2030  # the first table covers at least 2000..2030
_MARGIN_DAYS = 400  # a table always reaches this far past what was asked


@dataclass(frozen=True, slots=True)
class WorkdayTable:
    """Working days from the origin through `last_ordinal`, and the years counted provisionally."""

    ordinals: list[int]  # sorted proleptic ordinals of the working days
    last_ordinal: int  # the last day the table covers (inclusive)
    provisional_years: tuple[int, ...]  # sorted years with CalendarSource.WEEKDAYS_ONLY


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """The legal working-day calendar of a site. Build it with `work_calendar(schedule)`.

    Equal calendars (same zone, office periods, statutory flag and site lists) hash equal; the
    working-day table is built lazily and cached on the object.
    """

    zone_name: str
    periods: tuple[tuple[int, int], ...]  # office periods, microseconds after local midnight
    statutory: bool
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    schedule: Schedule = field(compare=False, repr=False)
    zone: ZoneInfo = field(compare=False, repr=False)
    day_micros: int = field(compare=False, repr=False)  # office time in one working day
    _box: dict[str, WorkdayTable] = field(default_factory=dict, compare=False, repr=False)

    @property
    def close_micros(self) -> int:
        """Close of office hours, microseconds after local midnight."""
        return self.periods[-1][1]

    def table(self, through_ordinal: int) -> WorkdayTable:
        """The working-day table, extended when it does not reach `through_ordinal` + a margin."""
        current = self._box.get("table")
        if current is not None and current.last_ordinal >= through_ordinal + _MARGIN_DAYS:
            return current
        if through_ordinal > dt.date(LAST_YEAR, 1, 1).toordinal():
            raise ValueError(f"date beyond the year {LAST_YEAR}")
        wanted = dt.date.fromordinal(through_ordinal + _MARGIN_DAYS).year + 2
        built = _build_table(self.schedule, max(wanted, _FIRST_TABLE_YEAR))
        self._box["table"] = built
        return built

    def table_with_index(self, index: int) -> WorkdayTable:
        """A table holding at least `index` + 1 working days."""
        table = self.table(ORIGIN.toordinal())
        while len(table.ordinals) <= index:
            table = self.table(table.last_ordinal + 366)
        return table

    def provisional_between(self, first: dt.date, last: dt.date) -> bool:
        """Whether any year from `first` to `last` is counted on weekdays only (provisional)."""
        years = self.table(last.toordinal()).provisional_years
        index = bisect_left(years, first.year)
        return index < len(years) and years[index] <= last.year


def work_calendar(schedule: Schedule) -> WorkCalendar:
    """The legal working-day calendar of a site's schedule (weekdays forced to Monday–Friday)."""
    legal = schedule.model_copy(update={"weekdays": list(LEGAL_WEEKDAYS)})
    periods = office_periods(schedule)
    return WorkCalendar(
        zone_name=schedule.timezone,
        periods=periods,
        statutory=schedule.statutory_calendar,
        holidays=frozenset(schedule.holidays),
        workdays=frozenset(schedule.workdays),
        schedule=legal,
        zone=ZoneInfo(schedule.timezone),
        day_micros=sum(end - start for start, end in periods),
    )


def _micros(clock: dt.time) -> int:
    return ((clock.hour * 60 + clock.minute) * 60 + clock.second) * MICROS + clock.microsecond


def office_periods(schedule: Schedule) -> tuple[tuple[int, int], ...]:
    """Office hours as (start, end) microseconds after midnight: `hours` minus `lunch_break`."""
    start, end = _micros(schedule.hours.start), _micros(schedule.hours.end)
    lunch = schedule.lunch_break
    if lunch is None:
        return ((start, end),)
    pieces = ((start, _micros(lunch.start)), (_micros(lunch.end), end))
    return tuple((a, b) for a, b in pieces if b > a)


def _build_table(schedule: Schedule, last_year: int) -> WorkdayTable:
    last = dt.date(last_year, 12, 31)
    ordinals: list[int] = []
    day = ORIGIN
    step = dt.timedelta(days=1)
    while day <= last:
        if is_service_day(schedule, day):
            ordinals.append(day.toordinal())
        day += step
    provisional = tuple(
        year
        for year in range(ORIGIN.year, last_year + 1)
        if calendar_source(schedule, year) is CalendarSource.WEEKDAYS_ONLY
    )
    return WorkdayTable(ordinals, last.toordinal(), provisional)


def local(calendar: WorkCalendar, when: dt.datetime) -> dt.datetime:
    """`when` in the site's zone; naive datetimes and dates before the origin are rejected."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime {when.isoformat()}: give a timezone-aware one")
    moment = when.astimezone(calendar.zone)
    if moment.date() < ORIGIN:
        raise ValueError(f"{moment.isoformat()} is before the calendar origin {ORIGIN}")
    return moment


def _office_before(periods: tuple[tuple[int, int], ...], micros: int) -> int:
    """Office time in a working day before `micros` after midnight."""
    total = 0
    for start, end in periods:
        if micros <= start:
            break
        total += min(micros, end) - start
    return total


def _clock_at(periods: tuple[tuple[int, int], ...], into: int) -> int:
    """Earliest time of day (microseconds) at which `into` (0 < into <= a day's) has passed."""
    for start, end in periods:
        if into <= end - start:
            return start + into
        into -= end - start
    raise ValueError("office time beyond one working day")


def position(calendar: WorkCalendar, when: dt.datetime) -> int:
    """Office time (µs) from the origin to `when`: working days before it plus today's part."""
    moment = local(calendar, when)
    ordinal = moment.toordinal()
    ordinals = calendar.table(ordinal).ordinals
    index = bisect_left(ordinals, ordinal)
    passed = index * calendar.day_micros
    if index < len(ordinals) and ordinals[index] == ordinal:
        micros = (
            (moment.hour * 60 + moment.minute) * 60 + moment.second
        ) * MICROS + moment.microsecond
        passed += _office_before(calendar.periods, micros)
    return passed


def at_clock(calendar: WorkCalendar, ordinal: int, micros: int) -> dt.datetime:
    """The aware instant of local day `ordinal` at `micros` after midnight."""
    day = dt.date.fromordinal(ordinal)
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=calendar.zone)
    return midnight + dt.timedelta(microseconds=micros)


def instant_at(calendar: WorkCalendar, target: int) -> dt.datetime:
    """The earliest instant whose position is `target` (> 0), in the site's zone.

    A position on a day boundary is the close of the earlier working day, not the next opening.
    """
    if target <= 0:
        raise ValueError("office-time position must be positive")
    index, into = divmod(target, calendar.day_micros)
    if into == 0:
        index, into = index - 1, calendar.day_micros
    ordinal = calendar.table_with_index(index).ordinals[index]
    return at_clock(calendar, ordinal, _clock_at(calendar.periods, into))


def working_days_through(calendar: WorkCalendar, day: dt.date) -> int:
    """Number of working days from the origin up to and including `day`."""
    ordinal = day.toordinal()
    return bisect_right(calendar.table(ordinal).ordinals, ordinal)


def close_on_or_after(calendar: WorkCalendar, day: dt.date) -> dt.datetime:
    """Close of office hours on `day`, or on the first working day after it."""
    ordinal = day.toordinal()
    ordinals = calendar.table(ordinal).ordinals
    found = ordinals[bisect_left(ordinals, ordinal)]
    return at_clock(calendar, found, calendar.close_micros)
