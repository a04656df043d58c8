"""Properties of the working-day clock (hypothesis), checked against a day-by-day reference.

The reference counts office time day by day from chinese-calendar directly (weekdays only for
2027, which the package does not cover), independent of the bisect tables in `cases.workdays`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar
from hypothesis import assume, given
from hypothesis import strategies as st

from cases.clock import (
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

SH = ZoneInfo("Asia/Shanghai")
CAL = work_calendar(Schedule())
OFFICE = ((dt.time(9), dt.time(12)), (dt.time(13, 30), dt.time(17, 30)))

instants = st.datetimes(min_value=dt.datetime(2025, 9, 1), max_value=dt.datetime(2027, 3, 31)).map(
    lambda moment: moment.replace(tzinfo=SH)
)
limits = st.builds(
    Limit,
    st.integers(min_value=0, max_value=40),
    st.sampled_from([LimitUnit.WORKING_DAYS, LimitUnit.NATURAL_DAYS]),
) | st.builds(Limit, st.integers(min_value=1, max_value=200), st.just(LimitUnit.WORKING_HOURS))
durations = st.integers(min_value=0, max_value=30 * 86_400 * 1_000_000).map(
    lambda micros: dt.timedelta(microseconds=micros)
)


def micros(seconds: float) -> int:
    """Float seconds as whole microseconds, for exact sums (the clock is exact to 1 µs)."""
    return round(seconds * 1_000_000)


def legal_working_day(day: dt.date) -> bool:
    if day.year >= 2027:
        return day.isoweekday() <= 5
    return bool(chinese_calendar.is_workday(day))


def reference_seconds(start: dt.datetime, end: dt.datetime) -> float:
    """Office seconds between two instants, summed day by day."""
    total = dt.timedelta()
    first, last = start.astimezone(SH), end.astimezone(SH)
    day = first.date()
    while day <= last.date():
        if legal_working_day(day):
            for opens, closes in OFFICE:
                lo = max(first, dt.datetime.combine(day, opens, SH))
                hi = min(last, dt.datetime.combine(day, closes, SH))
                total += max(hi - lo, dt.timedelta())
        day += dt.timedelta(days=1)
    return total.total_seconds()


def clock_start(accepted: dt.datetime, limit: Limit) -> dt.datetime:
    """Where the clock starts: the end of the acceptance date, or acceptance for 0 days / hours."""
    if limit.amount == 0 or limit.unit is LimitUnit.WORKING_HOURS:
        return accepted
    day = accepted.astimezone(SH).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), SH)


@given(instants, instants)
def test_working_seconds_match_the_day_by_day_reference(a: dt.datetime, b: dt.datetime) -> None:
    assert working_seconds(CAL, a, b) == reference_seconds(a, b)


@given(instants, instants, instants)
def test_working_seconds_grow_with_end_and_add_up(
    a: dt.datetime, b: dt.datetime, c: dt.datetime
) -> None:
    a, b, c = sorted((a, b, c))
    assert working_seconds(CAL, a, b) <= working_seconds(CAL, a, c)
    whole = micros(working_seconds(CAL, a, c))
    assert whole == micros(working_seconds(CAL, a, b)) + micros(working_seconds(CAL, b, c))


@given(st.dates(min_value=dt.date(2025, 9, 1), max_value=dt.date(2027, 3, 31)))
def test_holidays_never_count(day: dt.date) -> None:
    midnight = dt.datetime.combine(day, dt.time(), SH)
    seconds = working_seconds(CAL, midnight, midnight + dt.timedelta(days=1))
    assert seconds == (7 * 3600 if legal_working_day(day) else 0)


@given(instants, st.integers(min_value=1, max_value=400 * 3600 * 1_000_000))
def test_added_time_lands_in_office_hours_of_a_working_day(start: dt.datetime, micros: int) -> None:
    result = add_working_time(CAL, start, micros / 1_000_000)
    assert legal_working_day(result.date())
    clock = result.timetz().replace(tzinfo=None)
    assert any(opens < clock <= closes for opens, closes in OFFICE)


@given(instants, st.integers(min_value=0, max_value=400 * 3600 * 1_000_000))
def test_add_working_time_round_trip(start: dt.datetime, amount: int) -> None:
    result = add_working_time(CAL, start, amount / 1_000_000)
    assert result >= start
    assert micros(working_seconds(CAL, start, result)) == amount


@given(instants, instants)
def test_adding_the_office_time_between_never_passes_the_end(
    start: dt.datetime, end: dt.datetime
) -> None:
    assume(start <= end)
    result = add_working_time(CAL, start, working_seconds(CAL, start, end))
    assert start <= result <= end
    assert working_seconds(CAL, result, end) == 0


@given(instants, instants, limits)
def test_a_later_acceptance_never_gives_an_earlier_deadline(
    a: dt.datetime, b: dt.datetime, limit: Limit
) -> None:
    a, b = sorted((a, b))
    assert deadline(CAL, a, limit).at <= deadline(CAL, b, limit).at


@given(instants, limits)
def test_deadlines_fall_on_working_days_and_are_provisional_only_over_2027(
    accepted: dt.datetime, limit: Limit
) -> None:
    result = deadline(CAL, accepted, limit)
    assert result.at > accepted or limit.amount == 0
    assert legal_working_day(result.at.date())
    if limit.unit is not LimitUnit.WORKING_HOURS:
        assert result.at.timetz().replace(tzinfo=None) == dt.time(17, 30)
    assert result.provisional is (result.at.year >= 2027)


@given(instants, limits, st.lists(st.tuples(st.floats(0, 1), durations), min_size=1, max_size=3))
def test_pauses_before_the_deadline_add_exactly_their_office_time(
    accepted: dt.datetime, limit: Limit, raw: list[tuple[float, dt.timedelta]]
) -> None:
    assume(limit.unit is not LimitUnit.NATURAL_DAYS)
    base = deadline(CAL, accepted, limit).at
    start = clock_start(accepted, limit)
    assume(start < base)
    begins = [(start + (base - start) * share, length) for share, length in raw]
    assume(all(begin < base for begin, _ in begins))
    pauses = [Pause(begin, begin + length) for begin, length in begins]
    paused = deadline(CAL, accepted, limit, pauses).at
    added = sum(micros(working_seconds(CAL, a, b)) for a, b in merge_pauses(pauses))
    assert paused >= base
    assert micros(working_seconds(CAL, base, paused)) == added


@given(instants, st.integers(0, 40), st.floats(0, 1), st.integers(0, 30))
def test_whole_days_paused_extend_natural_limits_by_as_many_days(
    accepted: dt.datetime, days: int, share: float, paused_days: int
) -> None:
    base = deadline(CAL, accepted, Limit(days, LimitUnit.NATURAL_DAYS)).at
    start = clock_start(accepted, Limit(days, LimitUnit.NATURAL_DAYS))
    assume(start < base)
    begin = start + (base - start) * share
    assume(begin < base)
    pause = Pause(begin, begin + dt.timedelta(days=paused_days))
    paused = deadline(CAL, accepted, Limit(days, LimitUnit.NATURAL_DAYS), [pause]).at
    assert paused == deadline(CAL, accepted, Limit(days + paused_days, LimitUnit.NATURAL_DAYS)).at


@given(instants, limits, st.lists(st.tuples(instants, durations), max_size=4))
def test_pause_order_and_overlap_do_not_matter(
    accepted: dt.datetime, limit: Limit, raw: list[tuple[dt.datetime, dt.timedelta]]
) -> None:
    pauses = [Pause(begin, begin + length) for begin, length in raw]
    doubled = [*pauses, *pauses]
    shuffled = list(reversed(doubled))
    merged = [Pause(a, b) for a, b in merge_pauses(pauses)]
    expected = deadline(CAL, accepted, limit, merged)
    assert deadline(CAL, accepted, limit, shuffled) == expected
    assert expected.at >= deadline(CAL, accepted, limit).at


@given(instants, limits, st.floats(0, 1), durations, durations)
def test_remaining_time_stands_still_while_suspended(
    accepted: dt.datetime,
    limit: Limit,
    share: float,
    first: dt.timedelta,
    second: dt.timedelta,
) -> None:
    assume(limit.unit is not LimitUnit.NATURAL_DAYS)
    base = deadline(CAL, accepted, limit).at
    start = clock_start(accepted, limit)
    assume(start < base)
    begin = start + (base - start) * share
    assume(begin < base)
    pauses = [Pause(begin)]
    early, late = sorted((begin + first, begin + second))
    left = remaining(CAL, accepted, limit, pauses, early)
    assert remaining(CAL, accepted, limit, pauses, late) == left
    assert left == working_seconds(CAL, begin, base)
