"""The working-day clock of statutory case deadlines (《行政许可法》 Art. 42 and 45).

All functions are pure: timezone-aware datetimes in (naive ones raise ValueError), aware datetimes
in the site's zone out. Working days and office hours are those of `cases.workdays`.

Office time:

- `working_seconds(cal, start, end)`: office seconds between two instants, 0 when end <= start.
- `add_working_time(cal, start, seconds)`: the earliest instant at which `seconds` of office time
  have passed since `start`; counting begins at the next opening when `start` is outside office
  hours. `seconds == 0` returns `start` unchanged. Exactly `seconds` of office time lie between
  `start` and the result (round trip, to the microsecond), and a positive amount that runs out at
  a close of office hours ends at that close (17:30), not at the next opening.

Deadlines (`deadline(cal, accepted_at, limit, pauses, now)`):

- The day of acceptance is not counted (the general rule on periods): the clock starts at the
  end of the acceptance date, whatever the time of acceptance, also on a non-working day.
- N working days end at the close of office hours of the N-th working day after the acceptance
  date (accepted Friday 10:00, 1 working day -> Monday 17:30, unless Monday is a holiday).
- N natural days end at the close of office hours of the N-th calendar day after the acceptance
  date; when that day is not a working day, at the close of the next working day (期间届满的最后
  一日是法定节假日的，以节假日后的第一日为期间届满的日期).
- A limit of 0 days (a same-day item, 即办件) ends at the close of the acceptance date, or of the
  next working day when office hours are over or it is not a working day; its clock starts at the
  acceptance instant.
- N working hours end when N hours of office time have passed since the acceptance instant.
- Pauses (补正, 特别程序: hearing, tender, inspection, expert review, which Art. 45 excludes)
  stop the clock. Pauses are merged first (overlapping, touching or out of order ones count once)
  and clipped to the clock's start (a pause on the uncounted acceptance date adds nothing). A
  pause counts when it begins before the deadline as known so far; it then moves the deadline
  later by exactly the office time inside it (working days, hours) or by exactly its calendar
  time (natural days: the natural end moves, then the holiday rule above applies again). A pause
  that begins at or after the deadline does not rescue an overdue case.
- An open pause (end None) is counted as if it ended at `now`, which the caller must then pass:
  the result is a lower bound that moves later while the case stays suspended, and the returned
  `Deadline.suspended` says so. The remaining office time (`remaining`) stands still meanwhile.
- `Deadline.provisional` is True when any year from the acceptance date to the deadline is
  counted on weekdays only (beyond the statutory data and not listed by the site); the deadline
  must be recomputed when the site enters that year's holidays and make-up days.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from cases.workdays import (
    MICROS,
    WorkCalendar,
    close_on_or_after,
    instant_at,
    local,
    position,
    working_days_through,
)

MAX_LIMIT = 10_000
_TICK = dt.timedelta(microseconds=1)


class LimitUnit(StrEnum):
    WORKING_DAYS = "working_days"
    NATURAL_DAYS = "natural_days"
    WORKING_HOURS = "working_hours"


@dataclass(frozen=True, slots=True)
class Limit:
    """A time limit from the approval system: `amount` (0..10 000) of `unit`."""

    amount: int
    unit: LimitUnit = LimitUnit.WORKING_DAYS

    def __post_init__(self) -> None:
        if not 0 <= self.amount <= MAX_LIMIT:
            raise ValueError(f"limit amount {self.amount} outside 0..{MAX_LIMIT}")
        if self.unit is LimitUnit.WORKING_HOURS and self.amount == 0:
            raise ValueError("a limit in working hours must be at least 1 hour")


def _aware(when: dt.datetime, what: str) -> dt.datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} {when.isoformat()} is naive: give a timezone-aware datetime")
    return when


@dataclass(frozen=True, slots=True)
class Pause:
    """A suspension of the clock from `start` to `end` (None: still suspended)."""

    start: dt.datetime
    end: dt.datetime | None = None

    def __post_init__(self) -> None:
        _aware(self.start, "pause start")
        if self.end is not None and _aware(self.end, "pause end") < self.start:
            raise ValueError(f"pause ends {self.end.isoformat()} before it starts")


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a limit runs out. `provisional`: computed on weekdays only for some year;
    `suspended`: a pause is still open, so `at` is a lower bound that moves while it lasts."""

    at: dt.datetime
    provisional: bool
    suspended: bool = False


Span = tuple[dt.datetime, dt.datetime]


def merge_pauses(pauses: Iterable[Pause], now: dt.datetime | None = None) -> list[Span]:
    """Pauses as sorted, disjoint, non-empty spans; an open pause ends at `now`.

    Raises ValueError for an open pause when `now` is None.
    """
    spans: list[Span] = []
    for pause in pauses:
        end = pause.end
        if end is None:
            if now is None:
                raise ValueError("a pause is still open: pass `now` to count it")
            end = max(pause.start, _aware(now, "now"))
        if end > pause.start:
            spans.append((pause.start, end))
    spans.sort()
    merged: list[Span] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def working_seconds(calendar: WorkCalendar, start: dt.datetime, end: dt.datetime) -> float:
    """Office seconds between `start` and `end`; 0 when `end` <= `start`."""
    _aware(start, "start")
    if _aware(end, "end") <= start:
        return 0.0
    return (position(calendar, end) - position(calendar, start)) / MICROS


def signed_working_seconds(calendar: WorkCalendar, start: dt.datetime, end: dt.datetime) -> float:
    """Office seconds from `start` to `end`, negative when `end` is before `start`."""
    return (position(calendar, end) - position(calendar, start)) / MICROS


def add_working_time(calendar: WorkCalendar, start: dt.datetime, seconds: float) -> dt.datetime:
    """The earliest instant at which `seconds` (>= 0) of office time have passed after `start`."""
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"office time to add must be finite and >= 0, got {seconds}")
    micros = round(seconds * MICROS)
    if micros == 0:
        return _aware(start, "start")
    return instant_at(calendar, position(calendar, start) + micros)


def subtract_working_time(
    calendar: WorkCalendar, end: dt.datetime, seconds: float
) -> dt.datetime | None:
    """The earliest instant from which at most `seconds` (>= 0) of office time remain until
    `end`; None when that is before the calendar's origin. With `seconds == 0` and `end` in
    office hours it is `end`; outside them it is the last close before `end`."""
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"office time to subtract must be finite and >= 0, got {seconds}")
    target = position(calendar, _aware(end, "end")) - round(seconds * MICROS)
    return instant_at(calendar, target) if target > 0 else None


def _office_bounds(
    calendar: WorkCalendar, accepted_at: dt.datetime, limit: Limit
) -> tuple[int, int]:
    """(clock start, end) positions of an office-time limit before any pause."""
    if limit.unit is LimitUnit.WORKING_HOURS:
        start = position(calendar, accepted_at)
        return start, start + limit.amount * 3600 * MICROS
    if limit.amount == 0:
        start = position(calendar, accepted_at)
        return start, (start // calendar.day_micros + 1) * calendar.day_micros
    through = working_days_through(calendar, local(calendar, accepted_at).date())
    return through * calendar.day_micros, (through + limit.amount) * calendar.day_micros


def _office_deadline(
    calendar: WorkCalendar, accepted_at: dt.datetime, limit: Limit, spans: list[Span]
) -> dt.datetime:
    start, target = _office_bounds(calendar, accepted_at, limit)
    for pause_start, pause_end in spans:
        begin = max(position(calendar, pause_start), start)
        if begin >= target:
            break  # this pause and the later ones begin after the deadline
        target += max(position(calendar, pause_end) - begin, 0)
    return instant_at(calendar, target)


def _midnight_after(calendar: WorkCalendar, day: dt.date, days: int) -> dt.datetime:
    """Local midnight that ends the `days`-th day after `day`, in UTC."""
    later = day + dt.timedelta(days=days + 1)
    midnight = dt.datetime(later.year, later.month, later.day, tzinfo=calendar.zone)
    return midnight.astimezone(dt.UTC)


def _natural_close(calendar: WorkCalendar, natural_end: dt.datetime) -> dt.datetime:
    """Close of office on the day in which `natural_end` falls (a midnight ends the day before),
    moved to the next working day when that day is not one."""
    day = local(calendar, natural_end - _TICK).date()
    return close_on_or_after(calendar, day)


def _natural_deadline(
    calendar: WorkCalendar, accepted_at: dt.datetime, days: int, spans: list[Span]
) -> tuple[dt.datetime, dt.datetime]:
    """(deadline, natural end): the natural end is the limit's end in calendar time, moved by
    the paused time; the deadline is the close of office on its day, or the next working day."""
    accepted_day = local(calendar, accepted_at).date()
    start = accepted_at if days == 0 else _midnight_after(calendar, accepted_day, 0)
    natural_end = _midnight_after(calendar, accepted_day, days)
    at = _natural_close(calendar, natural_end)
    for pause_start, pause_end in spans:
        begin = max(pause_start, start)
        if begin >= at:
            break  # this pause and the later ones begin after the deadline
        if pause_end > begin:
            natural_end += pause_end - begin
            at = _natural_close(calendar, natural_end)
    return at, natural_end


def natural_day_change(
    calendar: WorkCalendar,
    accepted_at: dt.datetime,
    limit: Limit,
    pauses: Iterable[Pause],
    now: dt.datetime,
) -> dt.datetime:
    """While an open pause holds a natural-day limit back, its natural end moves with time and
    its deadline jumps a day each time the natural end passes a midnight: the first instant
    after `now` at which that happens."""
    spans = merge_pauses(pauses, now)
    _, natural_end = _natural_deadline(calendar, accepted_at, limit.amount, spans)
    moment = natural_end.astimezone(calendar.zone)
    midnight = dt.datetime(moment.year, moment.month, moment.day, tzinfo=calendar.zone)
    if midnight < moment:
        midnight = _midnight_after(calendar, moment.date(), 0)
    return _aware(now, "now") + (midnight - natural_end) + _TICK


def clock_start(calendar: WorkCalendar, accepted_at: dt.datetime, limit: Limit) -> dt.datetime:
    """When a limit's clock starts running: the local midnight that ends the acceptance date,
    or the acceptance instant itself for limits in hours and limits of 0 days."""
    if limit.unit is LimitUnit.WORKING_HOURS or limit.amount == 0:
        return _aware(accepted_at, "accepted_at")
    day = local(calendar, accepted_at).date()
    return _midnight_after(calendar, day, 0).astimezone(calendar.zone)


def limit_office_seconds(calendar: WorkCalendar, accepted_at: dt.datetime, limit: Limit) -> float:
    """Office seconds a limit allows, from the clock's start to its deadline without pauses
    (N working days: N full days; natural days: the office time the calendar days hold)."""
    _aware(accepted_at, "accepted_at")
    if limit.unit is not LimitUnit.NATURAL_DAYS:
        start, end = _office_bounds(calendar, accepted_at, limit)
        return (end - start) / MICROS
    at, _ = _natural_deadline(calendar, accepted_at, limit.amount, [])
    return working_seconds(calendar, clock_start(calendar, accepted_at, limit), at)


def deadline(
    calendar: WorkCalendar,
    accepted_at: dt.datetime,
    limit: Limit,
    pauses: Iterable[Pause] = (),
    now: dt.datetime | None = None,
) -> Deadline:
    """When `limit` runs out for a case accepted at `accepted_at`, given its pauses.

    The rules are in the module docstring. `now` is required when a pause is still open.
    """
    _aware(accepted_at, "accepted_at")
    pauses = tuple(pauses)
    spans = merge_pauses(pauses, now)
    if limit.unit is LimitUnit.NATURAL_DAYS:
        at, _ = _natural_deadline(calendar, accepted_at, limit.amount, spans)
    else:
        at = _office_deadline(calendar, accepted_at, limit, spans)
    first = local(calendar, accepted_at).date()
    provisional = calendar.provisional_between(first, at.date())
    suspended = any(pause.end is None for pause in pauses)
    return Deadline(at, provisional, suspended)


def remaining(
    calendar: WorkCalendar,
    accepted_at: dt.datetime,
    limit: Limit,
    pauses: Iterable[Pause],
    now: dt.datetime,
) -> float:
    """Office seconds left at `now` before the deadline; 0 or negative once it has passed
    (overdue itself is `now > deadline.at`: after the close on the last day 0 seconds remain).

    An open pause ends at `now`, so the remaining time stands still while a case is suspended.
    """
    at = deadline(calendar, accepted_at, limit, pauses, now).at
    return signed_working_seconds(calendar, _aware(now, "now"), at)
