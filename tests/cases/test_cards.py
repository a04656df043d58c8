"""Card rules: table tests over PRC holidays, 调休 Saturdays and suspensions spanning holidays.

Calendar facts (chinese-calendar 1.11.0, 2026): National Day 10-01..10-07 off, Saturday 10-10 a
make-up working day; Spring Festival 02-15..02-23 off, Saturday 02-14 a make-up working day;
2027 is not in the package data (weekdays only, provisional). Office hours 09:00–12:00 and
13:30–17:30 (7 h a working day).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from cases.cards import (
    CardLevel,
    CardRules,
    CaseStatus,
    CaseView,
    Completion,
    Outcome,
    Step,
    evaluate,
)
from cases.clock import Limit, LimitUnit, Pause
from cases.workdays import work_calendar
from hallwatch.config import Schedule

SH = ZoneInfo("Asia/Shanghai")
CAL = work_calendar(Schedule())
RULES = CardRules()
HOUR = 3600
WARN, YELLOW, RED = CardLevel.WARNING, CardLevel.YELLOW, CardLevel.RED


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SH)


def view(accepted: str | None, days: int, **more: object) -> CaseView:
    return CaseView(Limit(days), at(accepted) if accepted else None, **more)  # type: ignore[arg-type]


# accepted Monday 11-16 10:00, 5 working days: due Monday 11-23 17:30
ORDINARY = view("2026-11-16 10:00", 5)
# accepted Monday 09-28, 3 working days: 09-29, 09-30, 10-08 -> due 10-08 17:30;
# grace: 10-09 and the make-up Saturday 10-10 -> red after 10-10 17:30
NATIONAL_DAY = view("2026-09-28 10:00", 3)
# accepted Thursday 02-12, 2 working days: 02-13 and make-up Saturday 02-14 -> due 02-14 17:30;
# grace: 02-24, 02-25 after the Spring Festival -> red after 02-25 17:30
SPRING = view("2026-02-12 10:00", 2)
# accepted Monday 09-28, 5 working days (due 10-10 17:30), suspended 09-30 09:00 .. 10-09 09:00:
# the office days 09-30 and 10-08 are excluded -> due Tuesday 10-13 17:30
SUSPENDED = view(
    "2026-09-28 10:00", 5, pauses=(Pause(at("2026-09-30 09:00"), at("2026-10-09 09:00")),)
)


@pytest.mark.parametrize(
    ("case", "now", "level", "codes"),
    [
        (ORDINARY, "2026-11-19 10:00", None, ()),
        (ORDINARY, "2026-11-20 17:29", None, ()),
        (ORDINARY, "2026-11-20 17:30", WARN, ("near_deadline",)),  # 1 working day left
        (ORDINARY, "2026-11-23 17:30", WARN, ("near_deadline",)),  # at the deadline: not past
        (ORDINARY, "2026-11-23 17:30:00.000001", YELLOW, ("past_promised",)),
        (ORDINARY, "2026-11-25 17:30", YELLOW, ("past_promised",)),  # grace ends 11-25 17:30
        (ORDINARY, "2026-11-26 09:00", RED, ("past_grace",)),
        (NATIONAL_DAY, "2026-09-30 12:00", None, ()),  # 4 h today + 10-08
        (NATIONAL_DAY, "2026-10-05 12:00", WARN, ("near_deadline",)),  # only 10-08 left
        (NATIONAL_DAY, "2026-10-09 10:00", YELLOW, ("past_promised",)),
        (NATIONAL_DAY, "2026-10-10 12:00", YELLOW, ("past_promised",)),  # make-up Saturday
        (NATIONAL_DAY, "2026-10-11 12:00", RED, ("past_grace",)),
        (SPRING, "2026-02-14 10:00", WARN, ("near_deadline",)),  # make-up Saturday is the last
        (SPRING, "2026-02-20 10:00", YELLOW, ("past_promised",)),  # inside the holiday
        (SPRING, "2026-02-25 17:00", YELLOW, ("past_promised",)),
        (SPRING, "2026-02-26 09:00", RED, ("past_grace",)),
        (SUSPENDED, "2026-10-12 10:00", None, ()),  # 13 h left; yellow without the pause
        (SUSPENDED, "2026-10-13 10:00", WARN, ("near_deadline",)),
        (SUSPENDED, "2026-10-14 10:00", YELLOW, ("past_promised",)),
    ],
)
def test_time_cards(case: CaseView, now: str, level: CardLevel | None, codes: tuple[str]) -> None:
    result = evaluate(CAL, RULES, case, at(now))
    assert result.status is CaseStatus.OPEN
    assert result.level is level
    assert tuple(reason.code for reason in result.reasons) == codes


def test_reason_texts_and_remaining_time() -> None:
    result = evaluate(CAL, RULES, ORDINARY, at("2026-11-26 09:00"))
    assert [reason.text for reason in result.reasons] == ["超过督办宽限期"]
    assert result.remaining_s == -2 * 7 * HOUR  # 11-24 and 11-25 past the deadline
    result = evaluate(CAL, RULES, ORDINARY, at("2026-11-23 12:00"))
    assert [reason.text for reason in result.reasons] == ["临近承诺时限"]
    assert result.remaining_s == 4 * HOUR
    assert result.promised is not None and result.promised.at == at("2026-11-23 17:30")


def test_open_suspension_over_national_day_freezes_the_card() -> None:
    case = view("2026-09-28 10:00", 5, pauses=(Pause(at("2026-09-30 09:00")),))
    for now in ("2026-10-06 12:00", "2026-10-20 12:00", "2026-12-01 12:00"):
        result = evaluate(CAL, RULES, case, at(now))
        assert result.level is None
        assert result.remaining_s == 4 * 7 * HOUR  # 09-30, 10-08, 10-09, 10-10
        assert result.promised is not None and result.promised.suspended
        assert result.next_change_at is None  # nothing happens until it resumes


def test_suspension_after_the_deadline_does_not_stop_the_escalation() -> None:
    case = view("2026-11-16 10:00", 5, pauses=(Pause(at("2026-11-24 09:00")),))
    result = evaluate(CAL, RULES, case, at("2026-11-24 10:00"))
    assert result.level is YELLOW
    assert result.next_change_at == at("2026-11-25 17:30:00.000001")


def test_warning_as_a_fraction_of_the_limit() -> None:
    case = view("2026-11-16 10:00", 10)  # due 11-30 17:30; 20 % of 70 h = 14 h = 2 days
    fraction = CardRules(warning_fraction=0.2)
    assert evaluate(CAL, fraction, case, at("2026-11-26 12:00")).level is None
    assert evaluate(CAL, fraction, case, at("2026-11-27 10:00")).level is WARN
    assert evaluate(CAL, RULES, case, at("2026-11-27 10:00")).level is None


def test_past_the_legal_limit_is_red_even_within_the_grace() -> None:
    case = view("2026-11-16 10:00", 5, legal=Limit(20))  # legal deadline 12-14 17:30
    patient = CardRules(grace_working_days=30)
    assert evaluate(CAL, patient, case, at("2026-12-14 17:00")).level is YELLOW
    result = evaluate(CAL, patient, case, at("2026-12-15 10:00"))
    assert result.level is RED
    assert [reason.code for reason in result.reasons] == ["past_promised", "past_legal"]
    assert result.legal is not None and result.legal.at == at("2026-12-14 17:30")
    lenient = CardRules(grace_working_days=30, red_past_legal=False)
    assert evaluate(CAL, lenient, case, at("2026-12-15 10:00")).level is YELLOW


def test_natural_day_promise_over_national_day() -> None:
    case = CaseView(Limit(3, LimitUnit.NATURAL_DAYS), at("2026-09-28 10:00"))  # 10-01 -> 10-08
    assert evaluate(CAL, RULES, case, at("2026-10-07 12:00")).level is WARN
    assert evaluate(CAL, RULES, case, at("2026-10-09 09:00")).level is YELLOW


STEP_CASE = dict(promised=Limit(5), accepted_at=at("2026-11-16 10:00"))


@pytest.mark.parametrize(
    ("steps", "pauses", "now", "codes"),
    [
        # 审核 started 11-17 09:00 with 1 working day: due 11-18 17:30
        ((Step("审核", at("2026-11-17 09:00"), at("2026-11-18 17:00"), Limit(1)),), (), "2026-11-19 10:00", ()),
        ((Step("审核", at("2026-11-17 09:00"), at("2026-11-19 10:00"), Limit(1)),), (), "2026-11-19 11:00", ("step_overdue",)),
        ((Step("审核", at("2026-11-17 09:00"), None, Limit(1)),), (), "2026-11-18 17:30", ()),
        ((Step("审核", at("2026-11-17 09:00"), None, Limit(1)),), (), "2026-11-19 09:00", ("step_overdue",)),
        # 批准 with 2 working hours, started Thursday 16:00: 1.5 h Thursday, due Friday 09:30
        ((Step("批准", at("2026-11-19 16:00"), None, Limit(2, LimitUnit.WORKING_HOURS)),), (), "2026-11-20 09:30", ()),
        ((Step("批准", at("2026-11-19 16:00"), None, Limit(2, LimitUnit.WORKING_HOURS)),), (), "2026-11-20 10:00", ("step_overdue",)),
        # a step without its own limit is never overdue
        ((Step("承办", at("2026-11-17 09:00"), None, None),), (), "2026-11-20 11:00", ()),
        # a suspension inside the step moves its node deadline too (11-18 -> 11-19 17:30)
        ((Step("审核", at("2026-11-17 09:00"), at("2026-11-19 16:00"), Limit(1)),),
         (Pause(at("2026-11-18 09:00"), at("2026-11-19 09:00")),), "2026-11-19 17:00", ()),
    ],
)  # fmt: skip
def test_step_node_limits(
    steps: tuple[Step, ...], pauses: tuple[Pause, ...], now: str, codes: tuple[str, ...]
) -> None:
    case = CaseView(Limit(5), at("2026-11-16 10:00"), steps=steps, pauses=pauses)
    result = evaluate(CAL, RULES, case, at(now))
    assert tuple(reason.code for reason in result.reasons) == codes
    assert result.level is (RED if codes else None)
    if codes:
        assert result.reasons[0].text == f"环节超时：{steps[0].name}"


def test_step_spanning_national_day_with_a_suspension() -> None:
    # 审核 started 09-29 with 2 working days: 09-30, 10-08 -> due 10-08 17:30;
    # suspended for expert review 10-08 09:00 .. 10-09 09:00 (one office day) -> due 10-09 17:30
    step = Step("审核", at("2026-09-29 10:00"), at("2026-10-09 16:00"), Limit(2))
    pause = Pause(at("2026-10-08 09:00"), at("2026-10-09 09:00"))
    base = CaseView(Limit(10), at("2026-09-28 10:00"), steps=(step,))
    assert evaluate(CAL, RULES, base, at("2026-10-09 17:00")).level is RED
    paused = CaseView(Limit(10), at("2026-09-28 10:00"), steps=(step,), pauses=(pause,))
    assert evaluate(CAL, RULES, paused, at("2026-10-09 17:00")).level is None


@pytest.mark.parametrize(
    ("outcome", "reason", "accepted", "codes"),
    [
        (Outcome.APPROVED, None, "2026-11-16 10:00", ()),
        (Outcome.REFUSED, "不符合法定条件", "2026-11-16 10:00", ()),
        (Outcome.REFUSED, None, "2026-11-16 10:00", ("refused_without_reason",)),
        (Outcome.REFUSED, "  ", "2026-11-16 10:00", ("refused_without_reason",)),
        (Outcome.NOT_ACCEPTED, "申请材料不齐全", None, ()),
        (Outcome.NOT_ACCEPTED, None, None, ("not_accepted_without_reason",)),
        (Outcome.APPROVED, None, None, ("completed_without_acceptance",)),
        (Outcome.REFUSED, "不符合法定条件", None, ("completed_without_acceptance",)),
    ],
)
def test_abnormal_handling(
    outcome: Outcome, reason: str | None, accepted: str | None, codes: tuple[str, ...]
) -> None:
    case = CaseView(
        Limit(5),
        at(accepted) if accepted else None,
        completed_at=at("2026-11-18 10:00"),
        outcome=outcome,
        reason=reason,
    )
    result = evaluate(CAL, RULES, case, at("2026-12-20 10:00"))
    assert result.status is CaseStatus.COMPLETED
    assert tuple(reason.code for reason in result.reasons) == codes
    assert result.level is (RED if codes else None)
    assert result.next_change_at is None


def test_abnormal_texts() -> None:
    texts = {
        Outcome.REFUSED: "不予许可未说明理由",
        Outcome.NOT_ACCEPTED: "不予受理未说明理由",
    }
    for outcome, text in texts.items():
        case = CaseView(Limit(5), None, completed_at=at("2026-11-18 10:00"), outcome=outcome)
        reasons = evaluate(CAL, RULES, case, at("2026-11-18 11:00")).reasons
        assert reasons[0].text == text


@pytest.mark.parametrize(
    ("completed", "level", "completion"),
    [
        ("2026-11-20 12:00", None, Completion(on_time=True, early=True)),  # 11 h to spare
        ("2026-11-20 17:30", None, Completion(on_time=True, early=True)),  # exactly 1 day
        ("2026-11-23 10:00", None, Completion(on_time=True, early=False)),  # the last day
        ("2026-11-24 10:00", YELLOW, Completion(on_time=False, early=False)),
        ("2026-11-27 10:00", RED, Completion(on_time=False, early=False)),
    ],
)
def test_completed_cases_are_judged_at_completion(
    completed: str, level: CardLevel | None, completion: Completion
) -> None:
    case = CaseView(
        Limit(5), at("2026-11-16 10:00"), completed_at=at(completed), outcome=Outcome.APPROVED
    )
    result = evaluate(CAL, RULES, case, at("2027-06-01 10:00"))
    assert result.status is CaseStatus.COMPLETED
    assert result.level is level
    assert result.completion == completion
    assert result.next_change_at is None
    assert result.as_of == at(completed)


def test_completion_while_suspended_ends_the_pause() -> None:
    case = CaseView(
        Limit(5),
        at("2026-11-16 10:00"),
        pauses=(Pause(at("2026-11-20 09:00")),),
        completed_at=at("2026-11-26 10:00"),
        outcome=Outcome.APPROVED,
    )
    result = evaluate(CAL, RULES, case, at("2026-12-01 10:00"))
    assert result.level is None
    # suspended with 2 working days left (11-20, 11-23) and completed while suspended
    assert result.completion == Completion(on_time=True, early=True)
    assert result.remaining_s == 2 * 7 * HOUR


def test_withdrawn_cases_deserve_no_card() -> None:
    case = CaseView(Limit(5), at("2026-11-16 10:00"), withdrawn=True)
    result = evaluate(CAL, RULES, case, at("2026-12-20 10:00"))
    assert result.status is CaseStatus.WITHDRAWN
    assert result.level is None
    assert result.reasons == ()


def test_next_change_instants() -> None:
    assert evaluate(CAL, RULES, ORDINARY, at("2026-11-19 10:00")).next_change_at == at(
        "2026-11-20 17:30"
    )
    assert evaluate(CAL, RULES, ORDINARY, at("2026-11-20 17:30")).next_change_at == at(
        "2026-11-23 17:30:00.000001"
    )
    assert evaluate(CAL, RULES, ORDINARY, at("2026-11-26 10:00")).next_change_at is None
    with_step = CaseView(
        Limit(5),
        at("2026-11-16 10:00"),
        steps=(Step("审核", at("2026-11-17 09:00"), None, Limit(1)),),
    )
    result = evaluate(CAL, RULES, with_step, at("2026-11-17 10:00"))
    assert result.next_change_at == at("2026-11-18 17:30:00.000001")


def test_provisional_until_the_site_lists_2027() -> None:
    case = view("2026-12-28 10:00", 5)  # due 2027-01-04 on weekdays only
    assert evaluate(CAL, RULES, case, at("2026-12-29 10:00")).provisional is True
    listed = work_calendar(Schedule(holidays=[dt.date(2027, 1, 1)]))
    result = evaluate(CAL, RULES, case, at("2026-12-29 10:00"))
    assert result.promised is not None and result.promised.at == at("2027-01-04 17:30")
    result = evaluate(listed, RULES, case, at("2026-12-29 10:00"))
    assert result.provisional is False
    assert result.promised is not None and result.promised.at == at("2027-01-05 17:30")
    assert (
        evaluate(CAL, RULES, view("2026-11-16 10:00", 5), at("2026-11-17 10:00")).provisional
        is False
    )


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="naive"):
        evaluate(CAL, RULES, ORDINARY, dt.datetime(2026, 11, 20, 10))
    with pytest.raises(ValueError, match="completed_at and outcome"):
        CaseView(Limit(5), at("2026-11-16 10:00"), completed_at=at("2026-11-18 10:00"))
    with pytest.raises(ValueError, match="warning_fraction"):
        CardRules(warning_fraction=1.5)
    with pytest.raises(ValueError, match="grace_working_days"):
        CardRules(grace_working_days=-1)


def test_suspension_on_the_acceptance_day_starts_to_count_at_midnight() -> None:
    case = view("2026-11-16 10:00", 5, pauses=(Pause(at("2026-11-16 11:00")),))
    # the acceptance day is not counted: the deadline stands still until the clock starts
    assert evaluate(CAL, RULES, case, at("2026-11-16 12:00")).next_change_at == at(
        "2026-11-17 00:00"
    )
    assert evaluate(CAL, RULES, case, at("2026-11-17 00:00")).next_change_at is None


def test_suspended_natural_day_limit_changes_when_its_natural_end_passes_midnight() -> None:
    case = CaseView(
        Limit(3, LimitUnit.NATURAL_DAYS),
        at("2026-11-16 10:00"),
        pauses=(Pause(at("2026-11-17 09:00")),),
    )
    # 3 hours paused: the natural end moves from 11-19 24:00 to 11-20 03:00
    result = evaluate(CAL, RULES, case, at("2026-11-17 12:00"))
    assert result.promised is not None and result.promised.at == at("2026-11-20 17:30")
    # it passes 11-20 24:00 after 21 more hours: the deadline then moves to Monday 11-23
    assert result.next_change_at == at("2026-11-18 09:00:00.000001")
    later = evaluate(CAL, RULES, case, at("2026-11-18 09:00:00.000001"))
    assert later.promised is not None and later.promised.at == at("2026-11-23 17:30")
