"""Card rules: the card (预警 / 黄牌 / 红牌) an approval case deserves, and how cards change.

Rules of `evaluate(calendar, rules, case, now)` (office time as in `cases.clock`):

- The case is judged at `now`, or at its completion when it is completed (a completed case's
  evaluation never changes with time). A withdrawn case deserves no card.
- warning (临近承诺时限), open cases only: the office time left before the promised deadline is
  at most `rules.warning_working_days` working days (default 1), or, when
  `rules.warning_fraction` is set, at most that fraction of the office time the promised limit
  allows (from the clock's start to the deadline without pauses).
- yellow (超过承诺时限): past the promised deadline.
- red (超过督办宽限期): past the promised deadline plus `rules.grace_working_days` (default 2)
  working days of supervision grace.
- red (超过法定时限): past the statutory (legal) deadline, when the case has one and
  `rules.red_past_legal` (default on).
- red, abnormal handling: a step that overruns its own node limit (环节超时：审核; the step's
  clock starts at its start, the day of its start not counted for day limits, and the case's
  suspensions pause it too), a refusal (不予许可) or a non-acceptance (不予受理) without a reason,
  a completed case with no recorded acceptance (办结无受理记录; a non-acceptance needs none).
- "Past" a deadline means strictly after it; the level is the highest of the reasons.
- A completed case is on time when it completed by the promised deadline, and early when at
  least `rules.early_working_days` (default 1) working days of office time were left (a case
  finished on its last day is on time, not early).
- `Evaluation.next_change_at` is the first instant at which the level or the reasons can change
  without a new event (None: never); until then re-evaluating gives the same card, so a store
  only needs to re-evaluate the cases whose instant has come. A deadline held back by a
  still-open suspension moves with time (the remaining office time stands still): it yields a
  change instant only where the pause starts to count (the end of the acceptance date) or, for
  natural days, where the deadline jumps to the next day.
- Without new events an open case's level only rises with time, with one exception: while a
  case with a natural-day limit is suspended its deadline moves in whole days (the paused time
  moves the natural end past a midnight), so its level may drop; `transition` never lowers an
  open card.

`transition(previous, evaluation)` turns an evaluation into card history: raise a card when none
exists, escalate an open card to a higher level (clearing its acknowledgement), keep it otherwise
(an open card is never de-escalated), close it when the case completes or is withdrawn (a
completed case that deserved a card but had none gets one raised and closed at once, for the
record; a withdrawn case never raises one). A closed card is never reopened; it can only be
escalated when late events show the completed case deserved more.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from cases.clock import (
    Deadline,
    Limit,
    LimitUnit,
    Pause,
    add_working_time,
    clock_start,
    deadline,
    limit_office_seconds,
    merge_pauses,
    natural_day_change,
    signed_working_seconds,
    subtract_working_time,
)
from cases.workdays import WorkCalendar, local

_TICK = dt.timedelta(microseconds=1)


class CardLevel(StrEnum):
    WARNING = "warning"  # 预警
    YELLOW = "yellow"  # 黄牌
    RED = "red"  # 红牌

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {CardLevel.WARNING: 1, CardLevel.YELLOW: 2, CardLevel.RED: 3}


class Outcome(StrEnum):
    APPROVED = "approved"  # 准予许可
    REFUSED = "refused"  # 不予许可
    NOT_ACCEPTED = "not_accepted"  # 不予受理


class CaseStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class CardRules:
    """Card thresholds of a site or an item (the defaults follow common supervision practice)."""

    warning_working_days: float = 1.0
    warning_fraction: float | None = None  # set: warn at this fraction of the limit instead
    grace_working_days: float = 2.0
    red_past_legal: bool = True
    early_working_days: float = 1.0

    def __post_init__(self) -> None:
        for name in ("warning_working_days", "grace_working_days", "early_working_days"):
            if not 0 <= getattr(self, name) <= 1000:
                raise ValueError(f"{name} must be within 0..1000 working days")
        fraction = self.warning_fraction
        if fraction is not None and not 0 < fraction <= 1:
            raise ValueError("warning_fraction must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class Step:
    """A handling step (承办 / 审核 / 批准 ...) with its own node limit, if any."""

    name: str
    start: dt.datetime
    end: dt.datetime | None = None
    limit: Limit | None = None


@dataclass(frozen=True, slots=True)
class CaseView:
    """What the card rules need to know about one case."""

    promised: Limit
    accepted_at: dt.datetime | None = None
    legal: Limit | None = None
    pauses: tuple[Pause, ...] = ()
    steps: tuple[Step, ...] = ()
    completed_at: dt.datetime | None = None
    outcome: Outcome | None = None
    reason: str | None = None  # the written reason of a refusal or non-acceptance
    withdrawn: bool = False

    def __post_init__(self) -> None:
        if (self.completed_at is None) != (self.outcome is None):
            raise ValueError("a completed case needs both completed_at and outcome")


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # machine code, e.g. "past_promised"
    text: str  # Chinese text for operators, e.g. "超过承诺时限"
    level: CardLevel


@dataclass(frozen=True, slots=True)
class Completion:
    on_time: bool  # completed by the promised deadline
    early: bool  # with at least `early_working_days` left


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The card a case deserves at `as_of`, with why, and what decides it."""

    status: CaseStatus
    level: CardLevel | None
    reasons: tuple[Reason, ...]
    as_of: dt.datetime
    promised: Deadline | None = None
    legal: Deadline | None = None
    remaining_s: float | None = None  # office seconds left before the promised deadline
    completion: Completion | None = None
    next_change_at: dt.datetime | None = None
    provisional: bool = False


# the promised chain, in rising order, and the other time reasons (cases.judge names them by these)
NEAR_DEADLINE = Reason("near_deadline", "临近承诺时限", CardLevel.WARNING)
PAST_PROMISED = Reason("past_promised", "超过承诺时限", CardLevel.YELLOW)
PAST_GRACE = Reason("past_grace", "超过督办宽限期", CardLevel.RED)
PROMISED_CHAIN = (NEAR_DEADLINE, PAST_PROMISED, PAST_GRACE)
PAST_LEGAL = Reason("past_legal", "超过法定时限", CardLevel.RED)


def step_overdue(name: str) -> Reason:
    return Reason("step_overdue", f"环节超时：{name}", CardLevel.RED)


def _highest(reasons: tuple[Reason, ...]) -> CardLevel | None:
    return max((reason.level for reason in reasons), key=_RANK.__getitem__, default=None)


def handling_reasons(case: CaseView) -> Iterator[Reason]:
    """Abnormal handling visible without any clock: missing reasons, missing acceptance."""
    no_reason = case.reason is None or not case.reason.strip()
    if case.outcome is Outcome.REFUSED and no_reason:
        yield Reason("refused_without_reason", "不予许可未说明理由", CardLevel.RED)
    if case.outcome is Outcome.NOT_ACCEPTED and no_reason:
        yield Reason("not_accepted_without_reason", "不予受理未说明理由", CardLevel.RED)
    accepted_needed = case.outcome is not None and case.outcome is not Outcome.NOT_ACCEPTED
    if accepted_needed and case.accepted_at is None:
        yield Reason("completed_without_acceptance", "办结无受理记录", CardLevel.RED)


@dataclass(frozen=True, slots=True)
class _Threshold:
    """A reason that holds from `start` on (inclusive); a step's overrun is judged at the step's
    end (`until`) once it has ended; `moving`: held back by a suspension, it moves with time."""

    start: dt.datetime | None  # None: holds from the beginning
    reason: Reason
    moving: bool = False
    until: dt.datetime | None = None
    wake: dt.datetime | None = None  # when an open pause starts to move it

    def holds(self, as_of: dt.datetime) -> bool:
        if self.start is None:
            return True
        return (as_of if self.until is None else min(as_of, self.until)) >= self.start

    def may_start_after(self, as_of: dt.datetime) -> bool:
        """Whether it starts holding later, with time alone."""
        if self.start is None or self.moving or self.holds(as_of):
            return False
        return self.until is None or self.start <= self.until


def _suspension(
    calendar: WorkCalendar, begin: dt.datetime, limit: Limit, case: CaseView, as_of: dt.datetime
) -> tuple[bool, dt.datetime | None]:
    """Whether a still-open pause holds this deadline back, so that it moves later with time;
    else, the instant such a pause will start to hold it back (None: none will).

    An open pause holds a deadline back from the first instant after the clock's start that no
    closed pause already covers, when that instant is before the deadline.
    """
    open_starts = [pause.start for pause in case.pauses if pause.end is None]
    if not open_starts:
        return False, None
    closed = [pause for pause in case.pauses if pause.end is not None]
    counts_from = max(min(open_starts), clock_start(calendar, begin, limit))
    for start, end in merge_pauses(closed):
        if start <= counts_from < end:
            counts_from = end
    without = deadline(calendar, begin, limit, closed).at
    if counts_from >= without:
        return False, None  # the pause begins after the deadline: it does not count
    if counts_from > as_of:
        return False, counts_from
    if limit.unit is LimitUnit.NATURAL_DAYS:  # moves in whole days: fixed until the next jump
        return False, natural_day_change(calendar, begin, limit, case.pauses, as_of)
    return True, None


def _promised_thresholds(
    calendar: WorkCalendar,
    rules: CardRules,
    case: CaseView,
    promised: Deadline,
    suspension: tuple[bool, dt.datetime | None],
) -> list[_Threshold]:
    """The warning / yellow / red chain of the promised deadline, in rising order."""
    accepted = case.accepted_at
    assert accepted is not None
    day = calendar.day_micros / 1_000_000
    if rules.warning_fraction is not None:
        allowed = limit_office_seconds(calendar, accepted, case.promised)
        warn_s = rules.warning_fraction * allowed
    else:
        warn_s = rules.warning_working_days * day
    warn_from = subtract_working_time(calendar, promised.at, warn_s)
    red_at = add_working_time(calendar, promised.at, rules.grace_working_days * day)
    moving, wake = suspension
    reasons = [
        (warn_from, NEAR_DEADLINE),
        (promised.at + _TICK, PAST_PROMISED),
        (red_at + _TICK, PAST_GRACE),
    ]
    return [_Threshold(start, reason, moving, None, wake) for start, reason in reasons]


def _step_thresholds(
    calendar: WorkCalendar, case: CaseView, as_of: dt.datetime
) -> Iterator[_Threshold]:
    """Each limited step's overrun threshold; a finished step is judged at its end."""
    for step in case.steps:
        if step.limit is None:
            continue
        ended = step.end is not None and step.end <= as_of
        judged = step.end if step.end is not None and ended else as_of
        due = deadline(calendar, step.start, step.limit, case.pauses, judged).at
        reason = step_overdue(step.name)
        moving, wake = False, None
        if not ended:
            moving, wake = _suspension(calendar, step.start, step.limit, case, as_of)
        yield _Threshold(due + _TICK, reason, moving, step.end, wake)


def _time_thresholds(
    calendar: WorkCalendar,
    rules: CardRules,
    case: CaseView,
    as_of: dt.datetime,
    deadlines: tuple[Deadline, Deadline | None],
) -> list[_Threshold]:
    """Every time-based threshold of an accepted case (promised, legal, steps)."""
    accepted = case.accepted_at
    assert accepted is not None
    promised, legal = deadlines
    suspension = _suspension(calendar, accepted, case.promised, case, as_of)
    chain = _promised_thresholds(calendar, rules, case, promised, suspension)
    held = [threshold for threshold in chain if threshold.holds(as_of)]
    if case.completed_at is not None:  # a warning looks ahead: none for a completed case
        held = [threshold for threshold in held if threshold.reason.level is not CardLevel.WARNING]
    # of the promised chain keep the highest reason that holds, and the ones still to come
    kept = held[-1:] + [threshold for threshold in chain if not threshold.holds(as_of)]
    if case.legal is not None and legal is not None and rules.red_past_legal:
        reason = PAST_LEGAL
        moving, wake = _suspension(calendar, accepted, case.legal, case, as_of)
        kept.append(_Threshold(legal.at + _TICK, reason, moving, None, wake))
    return kept + list(_step_thresholds(calendar, case, as_of))


def _next_change(thresholds: list[_Threshold], as_of: dt.datetime) -> dt.datetime | None:
    """The first instant the evaluation can change: a threshold still to come that does not
    move, or the instant an open pause starts to hold one back (its deadline moves from then)."""
    starts = [t.start for t in thresholds if t.start is not None and t.may_start_after(as_of)]
    starts += [t.wake for t in thresholds if t.wake is not None]
    return min(starts, default=None)


def _completion(
    calendar: WorkCalendar, rules: CardRules, completed_at: dt.datetime, promised: Deadline
) -> Completion:
    left = signed_working_seconds(calendar, completed_at, promised.at)
    on_time = completed_at <= promised.at
    early_s = rules.early_working_days * calendar.day_micros / 1_000_000
    return Completion(on_time=on_time, early=on_time and left >= early_s)


def _evaluate_accepted(
    calendar: WorkCalendar,
    rules: CardRules,
    case: CaseView,
    as_of: dt.datetime,
    reasons: list[Reason],
) -> Evaluation:
    accepted = case.accepted_at
    assert accepted is not None
    promised = deadline(calendar, accepted, case.promised, case.pauses, as_of)
    legal = None
    if case.legal is not None:
        legal = deadline(calendar, accepted, case.legal, case.pauses, as_of)
    thresholds = _time_thresholds(calendar, rules, case, as_of, (promised, legal))
    reasons += [threshold.reason for threshold in thresholds if threshold.holds(as_of)]
    found = tuple(reasons)
    completed = case.completed_at is not None
    latest = max([as_of] + [t.start for t in thresholds if t.start is not None])
    return Evaluation(
        status=CaseStatus.COMPLETED if completed else CaseStatus.OPEN,
        level=_highest(found),
        reasons=found,
        as_of=as_of,
        promised=promised,
        legal=legal,
        remaining_s=signed_working_seconds(calendar, as_of, promised.at),
        completion=_completion(calendar, rules, as_of, promised) if completed else None,
        next_change_at=None if completed else _next_change(thresholds, as_of),
        provisional=calendar.provisional_between(
            local(calendar, accepted).date(), local(calendar, latest).date()
        ),
    )


def evaluate(
    calendar: WorkCalendar, rules: CardRules, case: CaseView, now: dt.datetime
) -> Evaluation:
    """The card `case` deserves at `now` (at its completion when completed); rules above."""
    if case.withdrawn:
        return Evaluation(CaseStatus.WITHDRAWN, None, (), now)
    as_of = case.completed_at or now
    local(calendar, as_of)  # rejects naive datetimes
    reasons = list(handling_reasons(case))
    if case.accepted_at is not None:
        return _evaluate_accepted(calendar, rules, case, as_of, reasons)
    found = tuple(reasons)
    status = CaseStatus.OPEN if case.completed_at is None else CaseStatus.COMPLETED
    return Evaluation(status, _highest(found), found, as_of)


class CardAction(StrEnum):
    RAISE = "raise"
    ESCALATE = "escalate"
    KEEP = "keep"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class CardState:
    """A case's card: its level, whether it is open, whether the current level was acknowledged."""

    level: CardLevel
    open: bool = True
    acknowledged: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    actions: tuple[CardAction, ...]  # in order, e.g. (RAISE, CLOSE); (KEEP,) when nothing
    state: CardState | None  # the card after the actions; None: still no card


def _raise(evaluation: Evaluation, level: CardLevel) -> Transition:
    if evaluation.status is CaseStatus.COMPLETED:
        return Transition((CardAction.RAISE, CardAction.CLOSE), CardState(level, open=False))
    return Transition((CardAction.RAISE,), CardState(level))


def transition(previous: CardState | None, evaluation: Evaluation) -> Transition:
    """What happens to a case's card given its new evaluation (rules in the module docstring)."""
    level = evaluation.level
    finished = evaluation.status is not CaseStatus.OPEN
    if previous is None:
        if level is None or evaluation.status is CaseStatus.WITHDRAWN:
            return Transition((CardAction.KEEP,), None)
        return _raise(evaluation, level)
    actions: list[CardAction] = []
    state = previous
    higher = level is not None and level.rank > previous.level.rank
    if (
        higher
        and level is not None
        and (previous.open or evaluation.status is CaseStatus.COMPLETED)
    ):
        actions.append(CardAction.ESCALATE)
        state = CardState(level, previous.open, acknowledged=False)
    if previous.open and finished:
        actions.append(CardAction.CLOSE)
        state = CardState(state.level, open=False, acknowledged=state.acknowledged)
    return Transition(tuple(actions) or (CardAction.KEEP,), state)
