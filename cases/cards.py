"""Card rules: the card (预警 / 黄牌 / 红牌) an approval case deserves, and how cards change.

Rules of `evaluate(calendar, rules, case, now)` (office time as in `cases.clock`):

- The case is judged at `now`, or at its completion when it is completed (a completed case's
  evaluation never changes with time). A withdrawn case deserves no card.
- warning (临近承诺时限): the office time left before the promised deadline is at most
  `rules.warning_working_days` working days (default 1), or, when `rules.warning_fraction` is
  set, at most that fraction of the office time the promised limit allows.
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
  without a new event (None: never); until then re-evaluating gives the same card. Deadlines held
  back by a still-open suspension move with time, so they yield no change instant.

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
    Pause,
    add_working_time,
    deadline,
    limit_office_seconds,
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
    """A reason that holds from `start` on (inclusive); `moving`: held back by a suspension."""

    start: dt.datetime | None  # None: holds from the beginning
    reason: Reason
    moving: bool


def _moving(calendar: WorkCalendar, begin: dt.datetime, limit: Limit, case: CaseView) -> bool:
    """Whether a still-open pause holds this deadline back (so it moves later with time)."""
    open_starts = [pause.start for pause in case.pauses if pause.end is None]
    if not open_starts:
        return False
    closed = [Pause(pause.start, pause.end or pause.start) for pause in case.pauses]
    return min(open_starts) < deadline(calendar, begin, limit, closed).at


def _promised_thresholds(
    calendar: WorkCalendar, rules: CardRules, case: CaseView, promised: Deadline, moving: bool
) -> Iterator[_Threshold]:
    accepted = case.accepted_at
    assert accepted is not None
    day = calendar.day_micros / 1_000_000
    if rules.warning_fraction is not None:
        allowed = limit_office_seconds(calendar, accepted, case.promised)
        warn_s = rules.warning_fraction * allowed
    else:
        warn_s = rules.warning_working_days * day
    warn_from = subtract_working_time(calendar, promised.at, warn_s)
    yield _Threshold(warn_from, Reason("near_deadline", "临近承诺时限", CardLevel.WARNING), moving)
    yield _Threshold(
        promised.at + _TICK, Reason("past_promised", "超过承诺时限", CardLevel.YELLOW), moving
    )
    red_at = add_working_time(calendar, promised.at, rules.grace_working_days * day)
    yield _Threshold(red_at + _TICK, Reason("past_grace", "超过督办宽限期", CardLevel.RED), moving)


def _step_thresholds(
    calendar: WorkCalendar, case: CaseView, as_of: dt.datetime
) -> Iterator[tuple[_Threshold, dt.datetime | None]]:
    """Each limited step's overrun threshold, with the step's end (None: still running)."""
    for step in case.steps:
        if step.limit is None:
            continue
        running_until = step.end if step.end is not None and step.end <= as_of else None
        due = deadline(calendar, step.start, step.limit, case.pauses, as_of).at
        reason = Reason("step_overdue", f"环节超时：{step.name}", CardLevel.RED)
        moving = running_until is None and _moving(calendar, step.start, step.limit, case)
        yield _Threshold(due + _TICK, reason, moving), running_until


def _holds(threshold: _Threshold, at: dt.datetime) -> bool:
    return threshold.start is None or at >= threshold.start


def _time_thresholds(
    calendar: WorkCalendar, rules: CardRules, case: CaseView, as_of: dt.datetime, promised: Deadline
) -> list[tuple[_Threshold, dt.datetime]]:
    """Every time-based threshold of an accepted case, each with the instant it is judged at."""
    accepted = case.accepted_at
    assert accepted is not None
    moving = _moving(calendar, accepted, case.promised, case)
    chain = list(_promised_thresholds(calendar, rules, case, promised, moving))
    held = [threshold for threshold in chain if _holds(threshold, as_of)]
    if case.completed_at is not None:
        held = [threshold for threshold in held if threshold.reason.level is not CardLevel.WARNING]
    # of the promised chain keep the highest reason that holds, and the ones still to come
    kept = held[-1:] + [threshold for threshold in chain if not _holds(threshold, as_of)]
    judged = [(threshold, as_of) for threshold in kept]
    if case.legal is not None and rules.red_past_legal:
        legal = deadline(calendar, accepted, case.legal, case.pauses, as_of)
        reason = Reason("past_legal", "超过法定时限", CardLevel.RED)
        legal_moving = _moving(calendar, accepted, case.legal, case)
        judged.append((_Threshold(legal.at + _TICK, reason, legal_moving), as_of))
    for threshold, ended in _step_thresholds(calendar, case, as_of):
        judged.append((threshold, ended or as_of))
    return judged


def _next_change(
    judged: list[tuple[_Threshold, dt.datetime]], as_of: dt.datetime
) -> dt.datetime | None:
    """First start of a threshold that does not hold yet, is judged now and does not move."""
    starts = [
        threshold.start
        for threshold, at in judged
        if threshold.start is not None
        and at == as_of
        and not threshold.moving
        and not _holds(threshold, at)
    ]
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
    judged = _time_thresholds(calendar, rules, case, as_of, promised)
    reasons += [threshold.reason for threshold, at in judged if _holds(threshold, at)]
    found = tuple(reasons)
    completed = case.completed_at is not None
    latest = max([as_of] + [t.start for t, _ in judged if t.start is not None])
    return Evaluation(
        status=CaseStatus.COMPLETED if completed else CaseStatus.OPEN,
        level=_highest(found),
        reasons=found,
        as_of=as_of,
        promised=promised,
        legal=legal,
        remaining_s=signed_working_seconds(calendar, as_of, promised.at),
        completion=_completion(calendar, rules, as_of, promised) if completed else None,
        next_change_at=None if completed else _next_change(judged, as_of),
        provisional=calendar.provisional_between(local(calendar, accepted).date(), latest.date()),
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
