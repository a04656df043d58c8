"""Bulk judgement: the card rules of `cases.cards` over arrays of open cases.

`cases.cards.evaluate` is the reference: one case at a time, with every rule written out in its
docstring. This module computes the same evaluation for many open, accepted cases at once with
numpy, so that re-judging every open case (after a change of rules or calendar, or when many
deadlines pass at once) costs a few array passes instead of a Python evaluation per case. A
property test (tests/cases/test_judge.py) checks it against the reference on random cases.

Conventions: instants are integer microseconds since the UNIX epoch; office positions are those
of `cases.workdays.position` (microseconds of office time since the calendar's origin). Works
for calendars whose zone keeps one UTC offset over the years it covers (China Standard Time has
since 1991): `fixed_offset(calendar)`; for others the caller judges case by case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np
import numpy.typing as npt

from cases.cards import CardRules
from cases.clock import LimitUnit, Pause, merge_pauses
from cases.workdays import ORIGIN, WorkCalendar

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

US = 1_000_000
DAY_US = 86_400 * US
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
NEVER = np.iinfo(np.int64).max  # no instant: a threshold that never comes
ALWAYS = np.iinfo(np.int64).min  # a threshold that holds from the beginning
UNIT_CODES = {LimitUnit.WORKING_DAYS: 0, LimitUnit.NATURAL_DAYS: 1, LimitUnit.WORKING_HOURS: 2}
NATURAL, HOURS = UNIT_CODES[LimitUnit.NATURAL_DAYS], UNIT_CODES[LimitUnit.WORKING_HOURS]
_FIRST = ORIGIN.toordinal()
_NEW_YEARS = np.array(
    [dt.date(year, 1, 1).toordinal() for year in range(ORIGIN.year, 10_000)], dtype=np.int64
)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def instant_us(when: dt.datetime) -> int:
    """An aware instant as integer microseconds since the UNIX epoch (exact)."""
    return (when - _EPOCH) // dt.timedelta(microseconds=1)


def fixed_offset(calendar: WorkCalendar, last_year: int = 2100) -> int | None:
    """The zone's one UTC offset (µs) from the calendar's origin to `last_year`, else None."""
    offsets = set()
    for year in range(ORIGIN.year, last_year + 1):
        for month in (1, 4, 7, 10):
            moment = dt.datetime(year, month, 1, 12, tzinfo=calendar.zone)
            offset = moment.utcoffset()
            assert offset is not None
            offsets.add(offset // dt.timedelta(microseconds=1))
    return offsets.pop() if len(offsets) == 1 else None


class Line:
    """A calendar's office time as arrays: positions and instants, vectorised."""

    def __init__(self, calendar: WorkCalendar, offset_us: int) -> None:
        self.calendar = calendar
        self.offset = offset_us
        self.day = calendar.day_micros
        self.starts = np.array([start for start, _ in calendar.periods], dtype=np.int64)
        self.lengths = np.array([end - start for start, end in calendar.periods], dtype=np.int64)
        self.cumulative = np.cumsum(self.lengths)
        self.close = calendar.close_micros
        self._load(ORIGIN.toordinal())

    def _load(self, through_ordinal: int) -> None:
        table = self.calendar.table(through_ordinal)
        self.ordinals = np.asarray(table.ordinals, dtype=np.int64)
        self.last_ordinal = table.last_ordinal
        self.provisional_years = np.asarray(table.provisional_years, dtype=np.int64)
        # per day from the origin: whether it is a working day, and how many come before it
        # (lookups instead of a binary search of the working days for every instant)
        working = np.zeros(table.last_ordinal - _FIRST + 1, dtype=bool)
        working[self.ordinals - _FIRST] = True
        self.working = working
        self.before = np.cumsum(working) - working

    def _day(self, ordinal: Ints) -> tuple[Ints, Bools]:
        """(working days before each day, whether it is one); days before the origin: (0, no)."""
        offset = ordinal - _FIRST
        inside = offset >= 0
        offset = np.maximum(offset, 0)
        return np.where(inside, self.before[offset], 0), inside & self.working[offset]

    def cover(self, ordinals: Ints) -> None:
        """Make the table reach the latest of `ordinals` (the calendar adds its own margin)."""
        if ordinals.size and int(ordinals.max()) > self.last_ordinal:
            self._load(int(ordinals.max()))

    def cover_index(self, index: Ints) -> None:
        """Make the table hold working day number `index.max()`."""
        while index.size and int(index.max()) >= len(self.ordinals):
            self._load(self.last_ordinal + 366)

    def ordinal(self, t: Ints) -> Ints:
        """The local day (proleptic ordinal) of each instant."""
        return (t + self.offset) // DAY_US + EPOCH_ORDINAL

    def midnight(self, ordinal: Ints) -> Ints:
        """Local midnight that starts day `ordinal`, as an instant."""
        return (ordinal - EPOCH_ORDINAL) * DAY_US - self.offset

    def position(self, t: Ints) -> Ints:
        ordinal = self.ordinal(t)
        self.cover(ordinal)
        index, working = self._day(ordinal)
        into = (t + self.offset) % DAY_US
        before = np.clip(into[..., None] - self.starts, 0, self.lengths).sum(axis=-1)
        return index * self.day + np.where(working, before, 0)

    def instant_at(self, target: Ints) -> Ints:
        """The earliest instant at each position (> 0); a day boundary is the earlier close."""
        index, into = np.divmod(target, self.day)
        boundary = into == 0
        index = index - boundary
        into = np.where(boundary, self.day, into)
        self.cover_index(index)
        period = np.searchsorted(self.cumulative, into, side="left")
        clock = self.starts[period] + into - (self.cumulative[period] - self.lengths[period])
        return self.midnight(self.ordinals[index]) + clock

    def through(self, ordinal: Ints) -> Ints:
        """Working days from the origin up to and including each day."""
        self.cover(ordinal)
        before, working = self._day(ordinal)
        return before + working

    def close_on_or_after(self, ordinal: Ints) -> Ints:
        self.cover(ordinal)
        index, _ = self._day(ordinal)
        self.cover_index(index)
        return self.midnight(self.ordinals[index]) + self.close

    def provisional(self, first: Ints, last: Ints) -> Bools:
        """Whether a year from each `first` to `last` instant is counted on weekdays only."""
        years = self.provisional_years
        if not years.size:
            return np.zeros(first.shape, dtype=bool)
        first_year, last_year = self.year(first), self.year(last)
        index = np.searchsorted(years, first_year, side="left")
        found = years[np.minimum(index, years.size - 1)]
        return (index < years.size) & (found <= last_year)

    def year(self, t: Ints) -> Ints:
        found: Ints = np.searchsorted(_NEW_YEARS, self.ordinal(t), side="right").astype(np.int64)
        return ORIGIN.year - 1 + found


@dataclass(frozen=True, slots=True)
class Spans:
    """Per row, sorted disjoint pause spans, padded: `valid` marks the real ones."""

    start: Ints  # (rows, k)
    end: Ints
    valid: Bools

    def rows(self, index: Ints) -> Spans:
        return Spans(self.start[index], self.end[index], self.valid[index])


def with_open(closed: Spans, open_start: Ints, suspended: Bools, now: Ints) -> Spans:
    """The closed spans merged with the open pause of each suspended row, counted to `now`
    (an open pause ends at max(its start, now); an empty one counts nothing)."""
    end = np.maximum(open_start, now)
    live = suspended & (end > open_start)
    lo, hi = open_start[:, None], end[:, None]
    touch = closed.valid & live[:, None] & (closed.end >= lo) & (closed.start <= hi)
    merged_start = np.minimum(
        open_start, np.where(touch, closed.start, NEVER).min(axis=1, initial=NEVER)
    )
    merged_end = np.maximum(end, np.where(touch, closed.end, ALWAYS).max(axis=1, initial=ALWAYS))
    starts = np.concatenate([closed.start, merged_start[:, None]], axis=1)
    ends = np.concatenate([closed.end, merged_end[:, None]], axis=1)
    valid = np.concatenate([closed.valid & ~touch, live[:, None]], axis=1)
    order = np.argsort(np.where(valid, starts, NEVER), axis=1, kind="stable")
    return Spans(
        np.take_along_axis(starts, order, axis=1),
        np.take_along_axis(ends, order, axis=1),
        np.take_along_axis(valid, order, axis=1),
    )


@dataclass(frozen=True, slots=True)
class Limits:
    amount: Ints
    unit: Ints  # UNIT_CODES

    def rows(self, index: Ints) -> Limits:
        return Limits(self.amount[index], self.unit[index])


def clock_start(line: Line, begin: Ints, limit: Limits) -> Ints:
    at_begin = (limit.unit == HOURS) | (limit.amount == 0)
    return np.where(at_begin, begin, line.midnight(line.ordinal(begin) + 1))


def office_bounds(line: Line, begin: Ints, limit: Limits) -> tuple[Ints, Ints]:
    at = line.position(begin)
    through = line.through(line.ordinal(begin))
    hours, zero = limit.unit == HOURS, limit.amount == 0
    start = np.where(hours | zero, at, through * line.day)
    end = np.where(
        hours,
        at + limit.amount * 3600 * US,
        np.where(zero, (at // line.day + 1) * line.day, (through + limit.amount) * line.day),
    )
    return start, end


def office_deadline(line: Line, begin: Ints, limit: Limits, spans: Spans) -> Ints:
    start, target = office_bounds(line, begin, limit)
    active = np.ones(begin.shape, dtype=bool)
    for k in range(spans.start.shape[1]):
        valid = spans.valid[:, k] & active
        if not valid.any():
            continue
        since = np.maximum(line.position(spans.start[:, k]), start)
        stop = valid & (since >= target)
        active &= ~stop
        grow = valid & ~stop
        target = target + np.where(grow, np.maximum(line.position(spans.end[:, k]) - since, 0), 0)
    return line.instant_at(target)


def natural_close(line: Line, natural_end: Ints) -> Ints:
    return line.close_on_or_after(line.ordinal(natural_end - 1))


def natural_deadline(line: Line, begin: Ints, amount: Ints, spans: Spans) -> tuple[Ints, Ints]:
    """(deadline, natural end) of natural-day limits, as cases.clock._natural_deadline."""
    day = line.ordinal(begin)
    start = np.where(amount == 0, begin, line.midnight(day + 1))
    natural_end = line.midnight(day + amount + 1)
    at = natural_close(line, natural_end)
    active = np.ones(begin.shape, dtype=bool)
    for k in range(spans.start.shape[1]):
        valid = spans.valid[:, k] & active
        if not valid.any():
            continue
        since = np.maximum(spans.start[:, k], start)
        stop = valid & (since >= at)
        active &= ~stop
        grow = valid & ~stop & (spans.end[:, k] > since)
        natural_end = natural_end + np.where(grow, spans.end[:, k] - since, 0)
        at = np.where(grow, natural_close(line, natural_end), at)
    return at, natural_end


def deadline(line: Line, begin: Ints, limit: Limits, spans: Spans) -> Ints:
    natural = limit.unit == NATURAL
    at = np.zeros(begin.shape, dtype=np.int64)
    if natural.any():
        index = np.flatnonzero(natural)
        at[index] = natural_deadline(line, begin[index], limit.amount[index], spans.rows(index))[0]
    if not natural.all():
        index = np.flatnonzero(~natural)
        at[index] = office_deadline(line, begin[index], limit.rows(index), spans.rows(index))
    return at


@dataclass(frozen=True, slots=True)
class Pauses:
    """Each row's closed pauses (merged) and its open one, if suspended."""

    closed: Spans
    open_start: Ints
    suspended: Bools

    def rows(self, index: Ints) -> Pauses:
        return Pauses(self.closed.rows(index), self.open_start[index], self.suspended[index])

    def until(self, now: Ints) -> Spans:
        return with_open(self.closed, self.open_start, self.suspended, now)


def suspension(
    line: Line, begin: Ints, limit: Limits, pauses: Pauses, as_of: Ints
) -> tuple[Bools, Ints]:
    """(moving, wake) as cases.cards._suspension: whether an open pause holds the deadline back
    now; else the instant it starts to (NEVER: it will not)."""
    moving = np.zeros(begin.shape, dtype=bool)
    wake = np.full(begin.shape, NEVER, dtype=np.int64)
    if not pauses.suspended.any():
        return moving, wake
    counts_from = np.maximum(pauses.open_start, clock_start(line, begin, limit))
    closed = pauses.closed
    for k in range(closed.start.shape[1]):
        inside = closed.valid[:, k] & (closed.start[:, k] <= counts_from)
        inside &= counts_from < closed.end[:, k]
        counts_from = np.where(inside, closed.end[:, k], counts_from)
    without = deadline(line, begin, limit, closed)
    counts = pauses.suspended & (counts_from < without)
    later = counts & (counts_from > as_of)
    natural = counts & ~later & (limit.unit == NATURAL)
    moving = counts & ~later & ~natural
    wake = np.where(later, counts_from, wake)
    if natural.any():
        index = np.flatnonzero(natural)
        part = pauses.rows(index)
        change = natural_day_change(
            line, begin[index], limit.amount[index], part.until(as_of[index]), as_of[index]
        )
        wake[index] = change
    return moving, wake


def natural_day_change(line: Line, begin: Ints, amount: Ints, spans: Spans, now: Ints) -> Ints:
    """As cases.clock.natural_day_change: when a held-back natural end next passes a midnight."""
    _, natural_end = natural_deadline(line, begin, amount, spans)
    midnight = line.midnight(line.ordinal(natural_end))
    midnight = np.where(midnight < natural_end, midnight + DAY_US, midnight)
    return now + (midnight - natural_end) + 1


@dataclass(frozen=True, slots=True)
class RuleArrays:
    """Card rules per row (see cases.cards.CardRules)."""

    warning_days: Floats
    warning_fraction: Floats  # NaN: not set
    grace_days: Floats
    red_past_legal: Bools

    @staticmethod
    def of(rules: list[CardRules], index: Ints) -> RuleArrays:
        def column(values: list[float]) -> Floats:
            return np.asarray(values, dtype=np.float64)[index]

        fractions = [np.nan if r.warning_fraction is None else r.warning_fraction for r in rules]
        return RuleArrays(
            column([r.warning_working_days for r in rules]),
            column(fractions),
            column([r.grace_working_days for r in rules]),
            np.asarray([r.red_past_legal for r in rules], dtype=bool)[index],
        )


@dataclass(frozen=True, slots=True)
class OpenCases:
    """Open, accepted cases as arrays; steps are rows of their own (`case`: their row here)."""

    accepted: Ints
    promised: Limits
    legal: Limits  # amount -1: none
    pauses: Pauses
    rules: RuleArrays
    step_case: Ints
    step_start: Ints
    step_end: Ints  # meaningful where step_ended
    step_ended: Bools  # has an end (at any time)
    step_limit: Limits


@dataclass(frozen=True, slots=True)
class Judgement:
    """The evaluation of each case (as cases.cards.Evaluation, in codes)."""

    level: Ints  # 0 none, 1 warning, 2 yellow, 3 red
    chain: Ints  # the promised-chain reason kept: 0 none, 1 near, 2 past promised, 3 past grace
    past_legal: Bools
    step_overdue: Bools  # per step row
    promised_at: Ints
    legal_at: Ints  # NEVER where there is no legal limit
    remaining_us: Ints
    next_change_at: Ints  # NEVER: never without a new event
    provisional: Bools


def limit_office_us(line: Line, accepted: Ints, limit: Limits) -> Ints:
    """As cases.clock.limit_office_seconds, in µs."""
    start, end = office_bounds(line, accepted, limit)
    office = end - start
    natural = limit.unit == NATURAL
    if natural.any():
        index = np.flatnonzero(natural)
        empty = Spans(*(np.zeros((index.size, 0), dtype=t) for t in (np.int64, np.int64, bool)))
        at, _ = natural_deadline(line, accepted[index], limit.amount[index], empty)
        begin = clock_start(line, accepted[index], limit.rows(index))
        office[index] = np.where(at > begin, line.position(at) - line.position(begin), 0)
    return office


def promised_starts(line: Line, cases: OpenCases, promised_at: Ints) -> tuple[Ints, Ints, Ints]:
    """When the warning, the yellow and the red card of the promised chain start to hold."""
    rules = cases.rules
    day_s = line.day / US
    fraction = ~np.isnan(rules.warning_fraction)
    warn_s = rules.warning_days * day_s
    if fraction.any():
        allowed = limit_office_us(line, cases.accepted, cases.promised) / US
        warn_s = np.where(fraction, rules.warning_fraction * allowed, warn_s)
    at = line.position(promised_at)
    warn_target = at - np.round(warn_s * US).astype(np.int64)
    warn_from = np.where(warn_target > 0, line.instant_at(np.maximum(warn_target, 1)), ALWAYS)
    grace = np.round(rules.grace_days * day_s * US).astype(np.int64)
    red_at = np.where(grace == 0, promised_at, line.instant_at(at + np.maximum(grace, 1)))
    return warn_from, promised_at + 1, red_at + 1


def _min(*values: Ints) -> Ints:
    return reduce(np.minimum, values)


def judge(line: Line, cases: OpenCases, now: Ints) -> Judgement:
    """The evaluation of every open case at `now` (one instant per case)."""
    spans = cases.pauses.until(now)
    promised_at = deadline(line, cases.accepted, cases.promised, spans)
    moving, wake = suspension(line, cases.accepted, cases.promised, cases.pauses, now)
    chain_starts = promised_starts(line, cases, promised_at)
    holds = [now >= start for start in chain_starts]
    chain = np.where(holds[2], 3, np.where(holds[1], 2, np.where(holds[0], 1, 0)))
    upcoming = [np.where(~h & ~moving, s, NEVER) for h, s in zip(holds, chain_starts, strict=True)]
    next_change = _min(*upcoming, wake)
    latest = np.maximum(now, chain_starts[2])

    legal_on = (cases.legal.amount >= 0) & cases.rules.red_past_legal
    legal_at = np.full(now.shape, NEVER, dtype=np.int64)
    past_legal = np.zeros(now.shape, dtype=bool)
    if legal_on.any():
        index = np.flatnonzero(legal_on)
        part = cases.pauses.rows(index)
        limit = cases.legal.rows(index)
        at = deadline(line, cases.accepted[index], limit, spans.rows(index))
        l_moving, l_wake = suspension(line, cases.accepted[index], limit, part, now[index])
        legal_at[index] = at
        past_legal[index] = now[index] >= at + 1
        own = np.where(~past_legal[index] & ~l_moving, at + 1, NEVER)
        next_change[index] = _min(next_change[index], own, l_wake)
        latest[index] = np.maximum(latest[index], at + 1)

    overdue, step_next, step_latest = judge_steps(line, cases, now)
    step_level = np.zeros(now.shape, dtype=np.int64)
    np.maximum.at(step_level, cases.step_case, np.where(overdue, 3, 0))
    np.minimum.at(next_change, cases.step_case, step_next)
    np.maximum.at(latest, cases.step_case, step_latest)

    level = np.maximum(chain, np.where(past_legal, 3, 0))
    level = np.maximum(level, step_level)
    remaining = line.position(promised_at) - line.position(now)
    # a legal limit the rules ignore still has its deadline reported
    ignored = (cases.legal.amount >= 0) & ~cases.rules.red_past_legal
    if ignored.any():
        index = np.flatnonzero(ignored)
        legal_at[index] = deadline(
            line, cases.accepted[index], cases.legal.rows(index), spans.rows(index)
        )
    return Judgement(
        level=level,
        chain=chain,
        past_legal=past_legal,
        step_overdue=overdue,
        promised_at=promised_at,
        legal_at=legal_at,
        remaining_us=remaining,
        next_change_at=next_change,
        provisional=line.provisional(cases.accepted, latest),
    )


def judge_steps(line: Line, cases: OpenCases, now: Ints) -> tuple[Bools, Ints, Ints]:
    """Per step row: overdue now, the instant it may next change (NEVER: not by time), and its
    threshold (for the provisional check)."""
    rows = cases.step_case
    if not rows.size:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=bool), empty, empty
    as_of = now[rows]
    pauses = cases.pauses.rows(rows)
    ended = cases.step_ended & (cases.step_end <= as_of)
    judged = np.where(ended, cases.step_end, as_of)
    due = deadline(line, cases.step_start, cases.step_limit, pauses.until(judged))
    start = due + 1
    moving, wake = suspension(line, cases.step_start, cases.step_limit, pauses, as_of)
    moving &= ~ended
    wake = np.where(ended, NEVER, wake)
    judged_at = np.where(cases.step_ended, np.minimum(as_of, cases.step_end), as_of)
    holds = judged_at >= start
    may = ~holds & ~moving & (~cases.step_ended | (start <= cases.step_end))
    return holds, np.minimum(np.where(may, start, NEVER), wake), start


def padded_spans(rows: int, case: Ints, start: Ints, end: Ints) -> Spans:
    """Pause rows (case index, start, end; sorted by case, then start) as padded spans."""
    counts = np.bincount(case, minlength=rows)
    width = int(counts.max()) if counts.size else 0
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]) if rows else counts
    slot = np.arange(case.size) - first[case]
    starts = np.zeros((rows, width), dtype=np.int64)
    ends = np.zeros((rows, width), dtype=np.int64)
    valid = np.zeros((rows, width), dtype=bool)
    starts[case, slot], ends[case, slot], valid[case, slot] = start, end, True
    return Spans(starts, ends, valid)


def pause_facts(
    pauses: Sequence[Pause],
) -> tuple[list[tuple[dt.datetime, dt.datetime]], dt.datetime | None]:
    """What the bulk judgement keeps of a case's pauses: its closed ones merged, and the start
    of its earliest open one (all open pauses end at `now`, so the later ones add nothing)."""
    closed = merge_pauses([pause for pause in pauses if pause.end is not None])
    opened = [pause.start for pause in pauses if pause.end is None]
    return closed, min(opened, default=None)
