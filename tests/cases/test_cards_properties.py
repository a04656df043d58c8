"""Properties of the card rules (hypothesis): levels only rise with time, the evaluation holds
until `next_change_at` and changes there, transitions never lower an open card."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import assume, given
from hypothesis import strategies as st

from cases.cards import (
    CardLevel,
    CardRules,
    CardState,
    CaseView,
    Evaluation,
    Step,
    evaluate,
    transition,
)
from cases.clock import Limit, LimitUnit, Pause
from cases.workdays import work_calendar
from hallwatch.config import Schedule

SH = ZoneInfo("Asia/Shanghai")
CAL = work_calendar(Schedule())
ACCEPTED = dt.datetime(2026, 9, 1, tzinfo=SH)

offsets = st.integers(min_value=0, max_value=60 * 86_400).map(lambda s: dt.timedelta(seconds=s))
limits = st.builds(
    Limit,
    st.integers(min_value=0, max_value=20),
    st.sampled_from([LimitUnit.WORKING_DAYS, LimitUnit.NATURAL_DAYS]),
) | st.builds(Limit, st.integers(min_value=1, max_value=40), st.just(LimitUnit.WORKING_HOURS))
rules = st.builds(
    CardRules,
    warning_working_days=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    warning_fraction=st.none() | st.sampled_from([0.1, 0.2, 0.5]),
    grace_working_days=st.sampled_from([0.0, 1.0, 2.0]),
    red_past_legal=st.booleans(),
)


@st.composite
def open_cases(draw: st.DrawFn) -> tuple[CaseView, dt.datetime]:
    """An open case accepted around National Day 2026 and an instant `now` after acceptance.

    What it holds is known at `now`: its pauses (the last one maybe still open) start and end by
    then, its steps start by then (and may end later).
    """
    accepted = ACCEPTED + draw(offsets)
    now = accepted + draw(offsets)
    shares = st.floats(min_value=0, max_value=1)
    pauses = []
    for first, second in draw(st.lists(st.tuples(shares, shares), max_size=2)):
        begin, end = sorted(
            (accepted + (now - accepted) * first, accepted + (now - accepted) * second)
        )
        pauses.append(Pause(begin, end))
    if draw(st.booleans()):
        pauses.append(Pause(accepted + (now - accepted) * draw(shares)))
    steps = []
    for share, took, limit in draw(
        st.lists(st.tuples(shares, offsets | st.none(), limits), max_size=2)
    ):
        begin = accepted + (now - accepted) * share
        steps.append(Step("审核", begin, None if took is None else begin + took, limit))
    case = CaseView(draw(limits), accepted, draw(st.none() | limits), tuple(pauses), tuple(steps))
    return case, now


def codes(evaluation: Evaluation) -> tuple[str, ...]:
    return tuple(reason.code for reason in evaluation.reasons)


def rank(level: CardLevel | None) -> int:
    return 0 if level is None else level.rank


def suspended(case: CaseView) -> bool:
    return any(pause.end is None for pause in case.pauses)


@given(open_cases(), rules, offsets)
def test_the_evaluation_holds_until_its_next_change(
    drawn: tuple[CaseView, dt.datetime], card_rules: CardRules, later: dt.timedelta
) -> None:
    case, now = drawn
    result = evaluate(CAL, card_rules, case, now)
    change = result.next_change_at
    moment = now + later
    if change is None or moment < change:
        assert codes(evaluate(CAL, card_rules, case, moment)) == codes(result)
    if change is not None:
        assert change > now
        if not suspended(case):  # else it may be when an open pause starts to count
            assert codes(evaluate(CAL, card_rules, case, change)) != codes(result)


@given(open_cases(), rules, offsets)
def test_levels_only_rise_with_time_while_no_natural_day_limit_is_suspended(
    drawn: tuple[CaseView, dt.datetime], card_rules: CardRules, later: dt.timedelta
) -> None:
    case, now = drawn
    limits = [limit for limit in (case.promised, case.legal) if limit is not None] + [
        step.limit for step in case.steps if step.limit is not None
    ]
    # the documented exception: a suspended natural-day deadline moves in whole days
    natural = any(limit.unit is LimitUnit.NATURAL_DAYS for limit in limits)
    assume(not (suspended(case) and natural))
    before = evaluate(CAL, card_rules, case, now).level
    after = evaluate(CAL, card_rules, case, now + later).level
    assert rank(after) >= rank(before)


levels = st.none() | st.sampled_from(list(CardLevel))


@given(open_cases(), rules, st.lists(offsets, max_size=6), levels)
def test_transitions_never_lower_an_open_card(
    drawn: tuple[CaseView, dt.datetime],
    card_rules: CardRules,
    moments: list[dt.timedelta],
    start: CardLevel | None,
) -> None:
    case, now = drawn
    state = None if start is None else CardState(start)
    for offset in moments:
        result = transition(state, evaluate(CAL, card_rules, case, now + offset))
        assert result.state is not None or state is None
        if state is not None and result.state is not None:
            assert result.state.open
            assert result.state.level.rank >= state.level.rank
        state = result.state
