"""Card history: raise, escalate, keep, close; never de-escalate an open card."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from cases.cards import (
    CardAction,
    CardLevel,
    CardRules,
    CardState,
    CaseStatus,
    CaseView,
    Evaluation,
    Outcome,
    evaluate,
    transition,
)
from cases.clock import Limit, Pause
from cases.workdays import work_calendar
from hallwatch.config import Schedule

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 20, 10, tzinfo=SH)
WARN, YELLOW, RED = CardLevel.WARNING, CardLevel.YELLOW, CardLevel.RED
OPEN, DONE, GONE = CaseStatus.OPEN, CaseStatus.COMPLETED, CaseStatus.WITHDRAWN
RAISE, ESCALATE, KEEP, CLOSE = (
    CardAction.RAISE,
    CardAction.ESCALATE,
    CardAction.KEEP,
    CardAction.CLOSE,
)


def evaluation(status: CaseStatus, level: CardLevel | None) -> Evaluation:
    return Evaluation(status, level, (), NOW)


@pytest.mark.parametrize(
    ("previous", "status", "level", "actions", "after"),
    [
        # no card yet
        (None, OPEN, None, (KEEP,), None),
        (None, OPEN, WARN, (RAISE,), CardState(WARN)),
        (None, OPEN, RED, (RAISE,), CardState(RED)),
        (None, DONE, None, (KEEP,), None),
        (None, DONE, YELLOW, (RAISE, CLOSE), CardState(YELLOW, open=False)),  # for the record
        (None, GONE, None, (KEEP,), None),
        # an open card goes up, never down
        (CardState(WARN, acknowledged=True), OPEN, YELLOW, (ESCALATE,), CardState(YELLOW)),
        (CardState(YELLOW), OPEN, RED, (ESCALATE,), CardState(RED)),
        (CardState(YELLOW, acknowledged=True), OPEN, YELLOW, (KEEP,), CardState(YELLOW, acknowledged=True)),
        (CardState(YELLOW), OPEN, WARN, (KEEP,), CardState(YELLOW)),  # e.g. a late pause event
        (CardState(RED), OPEN, None, (KEEP,), CardState(RED)),
        # completion or withdrawal closes an open card (escalating it first if it deserves more)
        (CardState(WARN), DONE, None, (CLOSE,), CardState(WARN, open=False)),
        (CardState(YELLOW, acknowledged=True), DONE, YELLOW, (CLOSE,), CardState(YELLOW, False, True)),
        (CardState(YELLOW), DONE, RED, (ESCALATE, CLOSE), CardState(RED, open=False)),
        (CardState(RED), DONE, WARN, (CLOSE,), CardState(RED, open=False)),
        (CardState(YELLOW), GONE, None, (CLOSE,), CardState(YELLOW, open=False)),
        # a closed card is final: never reopened, only escalated by late facts of a completion
        (CardState(YELLOW, open=False), DONE, RED, (ESCALATE,), CardState(RED, open=False)),
        (CardState(YELLOW, open=False), DONE, None, (KEEP,), CardState(YELLOW, open=False)),
        (CardState(YELLOW, open=False), OPEN, RED, (KEEP,), CardState(YELLOW, open=False)),
        (CardState(YELLOW, open=False), GONE, None, (KEEP,), CardState(YELLOW, open=False)),
    ],
)  # fmt: skip
def test_transitions(
    previous: CardState | None,
    status: CaseStatus,
    level: CardLevel | None,
    actions: tuple[CardAction, ...],
    after: CardState | None,
) -> None:
    result = transition(previous, evaluation(status, level))
    assert result.actions == actions
    assert result.state == after


def test_a_case_through_national_day_and_its_cards() -> None:
    """Accepted 09-28 with 3 working days (09-29, 09-30, 10-08); grace 10-09 and Saturday 10-10."""
    calendar, rules = work_calendar(Schedule()), CardRules()
    case = CaseView(Limit(3), dt.datetime(2026, 9, 28, 10, tzinfo=SH))
    history: list[tuple[CardAction, ...]] = []
    state: CardState | None = None
    for day, hour in [(29, 10), (30, 18), (8, 10), (9, 10), (10, 12), (12, 9)]:
        month = 9 if day > 20 else 10
        now = dt.datetime(2026, month, day, hour, tzinfo=SH)
        step = transition(state, evaluate(calendar, rules, case, now))
        history.append(step.actions)
        state = step.state
    assert history == [(KEEP,), (RAISE,), (KEEP,), (ESCALATE,), (KEEP,), (ESCALATE,)]
    assert state == CardState(RED)
    done = CaseView(
        Limit(3),
        dt.datetime(2026, 9, 28, 10, tzinfo=SH),
        completed_at=dt.datetime(2026, 10, 12, 11, tzinfo=SH),
        outcome=Outcome.APPROVED,
    )
    closing = transition(
        state, evaluate(calendar, rules, done, dt.datetime(2026, 10, 12, 12, tzinfo=SH))
    )
    assert closing.actions == (CLOSE,)
    assert closing.state == CardState(RED, open=False)


def test_a_suspension_never_lowers_an_open_card() -> None:
    calendar, rules = work_calendar(Schedule()), CardRules()
    accepted = dt.datetime(2026, 11, 16, 10, tzinfo=SH)
    now = dt.datetime(2026, 11, 24, 10, tzinfo=SH)
    late = evaluate(calendar, rules, CaseView(Limit(5), accepted), now)
    assert late.level is YELLOW
    # a pause event arrives late: it covered 11-18 .. 11-25, the case is no longer overdue
    paused = CaseView(
        Limit(5),
        accepted,
        pauses=(
            Pause(dt.datetime(2026, 11, 18, 9, tzinfo=SH), dt.datetime(2026, 11, 25, 9, tzinfo=SH)),
        ),
    )
    relaxed = evaluate(calendar, rules, paused, now)
    assert relaxed.level is None
    assert transition(CardState(YELLOW), relaxed) == transition(CardState(YELLOW), late)
    assert transition(CardState(YELLOW), relaxed).actions == (KEEP,)
