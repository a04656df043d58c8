"""The bulk judgement (cases.judge) gives the reference evaluation (cases.cards.evaluate) for
every open case: level, reasons in order, deadlines, remaining time, next change, provisional."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.cards import CardRules, CaseView, Evaluation, evaluate
from cases.clock import Limit, LimitUnit, Pause
from cases.judge import (
    NEVER,
    UNIT_CODES,
    Limits,
    Line,
    OpenCases,
    Pauses,
    RuleArrays,
    fixed_offset,
    instant_us,
    judge,
    padded_spans,
    pause_facts,
)
from cases.workdays import WorkCalendar, work_calendar
from hallwatch.config import Schedule
from tests.cases.test_cards_properties import ACCEPTED, SH, open_cases, rules

CAL = work_calendar(Schedule())
CHAIN = {1: "near_deadline", 2: "past_promised", 3: "past_grace"}
LEVELS = {None: 0, "warning": 1, "yellow": 2, "red": 3}


def limits(values: Sequence[Limit | None]) -> Limits:
    amount = [-1 if v is None else v.amount for v in values]
    unit = [0 if v is None else UNIT_CODES[v.unit] for v in values]
    return Limits(np.asarray(amount, dtype=np.int64), np.asarray(unit, dtype=np.int64))


def arrays(values: Sequence[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def columns(cases: Sequence[CaseView], case_rules: Sequence[CardRules]) -> OpenCases:
    """The cases as the ledger hands them to the bulk judgement."""
    pause_rows: list[tuple[int, int, int]] = []
    open_start, suspended = [], []
    steps: list[tuple[int, int, int, bool, Limit]] = []
    for row, case in enumerate(cases):
        closed, opened = pause_facts(case.pauses)
        pause_rows += [(row, instant_us(start), instant_us(end)) for start, end in closed]
        open_start.append(0 if opened is None else instant_us(opened))
        suspended.append(opened is not None)
        for step in case.steps:
            if step.limit is not None:
                end = step.end
                steps.append((row, instant_us(step.start), 0 if end is None else instant_us(end), end is not None,
                               step.limit))  # fmt: skip
    n = len(cases)
    spans = padded_spans(
        n,
        arrays([r for r, _, _ in pause_rows]),
        arrays([s for _, s, _ in pause_rows]),
        arrays([e for _, _, e in pause_rows]),
    )
    accepted = [case.accepted_at for case in cases]
    assert all(a is not None for a in accepted)
    return OpenCases(
        accepted=arrays([instant_us(a) for a in accepted if a is not None]),
        promised=limits([case.promised for case in cases]),
        legal=limits([case.legal for case in cases]),
        pauses=Pauses(spans, arrays(open_start), np.asarray(suspended, dtype=bool)),
        rules=RuleArrays.of(list(case_rules), np.arange(n)),
        step_case=arrays([s[0] for s in steps]),
        step_start=arrays([s[1] for s in steps]),
        step_end=arrays([s[2] for s in steps]),
        step_ended=np.asarray([s[3] for s in steps], dtype=bool),
        step_limit=limits([s[4] for s in steps]),
    )


def expected(evaluation: Evaluation) -> dict[str, object]:
    assert evaluation.promised is not None and evaluation.remaining_s is not None
    nxt = evaluation.next_change_at
    return {
        "level": LEVELS[None if evaluation.level is None else evaluation.level.value],
        "codes": [reason.code for reason in evaluation.reasons],
        "promised_at": instant_us(evaluation.promised.at),
        "legal_at": None if evaluation.legal is None else instant_us(evaluation.legal.at),
        "remaining_us": round(evaluation.remaining_s * 1_000_000),
        "next_change_at": None if nxt is None else instant_us(nxt),
        "provisional": evaluation.provisional,
    }


def judged(
    calendar: WorkCalendar, cases: Sequence[CaseView], case_rules: Sequence[CardRules],
    now: Sequence[dt.datetime],
) -> list[dict[str, object]]:  # fmt: skip
    offset = fixed_offset(calendar)
    assert offset is not None
    table = columns(cases, case_rules)
    result = judge(Line(calendar, offset), table, arrays([instant_us(t) for t in now]))
    found = []
    for row in range(len(cases)):
        codes = [CHAIN[int(result.chain[row])]] if result.chain[row] else []
        if result.past_legal[row]:
            codes.append("past_legal")
        overdue = result.step_overdue[table.step_case == row]
        codes += ["step_overdue"] * int(overdue.sum())
        legal = int(result.legal_at[row])
        nxt = int(result.next_change_at[row])
        found.append({
            "level": int(result.level[row]),
            "codes": codes,
            "promised_at": int(result.promised_at[row]),
            "legal_at": None if table.legal.amount[row] < 0 else legal,
            "remaining_us": int(result.remaining_us[row]),
            "next_change_at": None if nxt == NEVER else nxt,
            "provisional": bool(result.provisional[row]),
        })  # fmt: skip
    return found


def check(
    cases: Sequence[CaseView], case_rules: Sequence[CardRules], now: Sequence[dt.datetime],
    calendar: WorkCalendar = CAL,
) -> None:  # fmt: skip
    found = judged(calendar, cases, case_rules, now)
    for case, rule, when, got in zip(cases, case_rules, now, found, strict=True):
        assert got == expected(evaluate(calendar, rule, case, when)), (case, rule, when)


@settings(max_examples=150)
@given(st.lists(st.tuples(open_cases(), rules), min_size=1, max_size=25))
def test_bulk_judgement_equals_the_reference(
    drawn: list[tuple[tuple[CaseView, dt.datetime], CardRules]],
) -> None:
    check([c for (c, _), _ in drawn], [r for _, r in drawn], [n for (_, n), _ in drawn])


def test_known_cases_with_every_reason() -> None:
    at = ACCEPTED
    day = dt.timedelta(days=1)
    cases = [
        CaseView(Limit(5), at),  # plain
        CaseView(Limit(5), at, Limit(10), (Pause(at + 2 * day, at + 4 * day),)),
        CaseView(Limit(3, LimitUnit.NATURAL_DAYS), at, None, (Pause(at + day),)),  # suspended
        CaseView(Limit(8, LimitUnit.WORKING_HOURS), at),
        CaseView(Limit(20), at, Limit(2)),  # past the legal limit first
    ]
    rule = [CardRules(), CardRules(warning_fraction=0.5), CardRules(), CardRules(grace_working_days=0),
            CardRules()]  # fmt: skip
    for days in (0, 3, 6, 12, 40):
        check(cases, rule, [at + days * day] * len(cases))


def test_the_year_without_a_holiday_table_is_provisional() -> None:
    late = dt.datetime(2026, 12, 20, 10, tzinfo=SH)
    cases = [CaseView(Limit(10), late), CaseView(Limit(1), dt.datetime(2026, 11, 2, tzinfo=SH))]
    check(cases, [CardRules()] * 2, [late + dt.timedelta(days=1)] * 2)


def test_a_zone_with_summer_time_is_not_for_the_bulk_judgement() -> None:
    assert fixed_offset(CAL) == 8 * 3600 * 1_000_000
    berlin = work_calendar(Schedule(timezone="Europe/Berlin"))
    assert fixed_offset(berlin) is None


@pytest.mark.parametrize("count", [0, 1])
def test_no_cases_or_one(count: int) -> None:
    cases = [CaseView(Limit(5), ACCEPTED)][:count]
    check(cases, [CardRules()] * count, [ACCEPTED + dt.timedelta(days=9)] * count)
