"""The case page's working-day arithmetic (console.cases.clock_figures) and its place in
GET /api/cases/{case_id}.

The calendar is the default schedule's (office hours 09:00–12:00 and 13:30–17:30, 7 hours a
day; the statutory calendar): November 2026 has no holiday, so its working days are Monday to
Friday. 2026-11-02 is a Monday.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from cases.clock import Limit, LimitUnit, Pause
from cases.workdays import work_calendar
from console.cases import clock_figures
from hallwatch.config import Schedule
from tests.cases.test_ledger import at
from tests.console.test_cases_api import app, db, ledger, operator, store  # noqa: F401

SH = ZoneInfo("Asia/Shanghai")
CALENDAR = work_calendar(Schedule())
FIVE = Limit(5)
HOUR = 1 / 7  # one office hour in working days


def nov(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SH)


# (name, limit, pauses, now, completed, deadline, paused, used, remaining)
CASES = [
    # the example: accepted Monday, 2 working days of 补正, 3.5 used, 1.5 left
    ("paused two days", FIVE, [Pause(nov(4, 9), nov(6, 9))], nov(10, 14), None,
     nov(11, 17, 30), 2.0, 3.5, 1.5),
    ("before the clock starts", FIVE, [], nov(2, 15), None, nov(9, 17, 30), 0.0, 0.0, 5.0),
    ("overdue", FIVE, [], nov(12, 10), None, nov(9, 17, 30), 0.0, 7 + HOUR, -(2 + HOUR)),
    ("completed early: counted at completion", FIVE, [], nov(20, 10), nov(5, 12),
     nov(9, 17, 30), 0.0, 2 + 3 * HOUR, 3 - 3 * HOUR),
    ("still suspended: the remaining time stands still", FIVE, [Pause(nov(4, 9))], nov(6, 9),
     None, nov(11, 17, 30), 2.0, 1.0, 4.0),
    ("a pause on the acceptance date adds nothing", FIVE, [Pause(nov(2, 10), nov(2, 17, 30))],
     nov(3, 12), None, nov(9, 17, 30), 0.0, 3 * HOUR, 5 - 3 * HOUR),
    ("a pause after the deadline rescues nothing", FIVE, [Pause(nov(10, 9), nov(11, 9))],
     nov(12, 10), None, nov(9, 17, 30), 0.0, 7 + HOUR, -(2 + HOUR)),
    # accepted 16:00: 1.5 office hours that day, 2.5 the next morning
    ("working hours", Limit(4, LimitUnit.WORKING_HOURS), [], nov(3, 10), None, nov(3, 11, 30),
     0.0, 2.5 * HOUR, 1.5 * HOUR),
]  # fmt: skip


@pytest.mark.parametrize(
    ("limit", "pauses", "now", "completed", "due", "paused", "used", "remaining"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_clock_figures(
    limit: Limit,
    pauses: list[Pause],
    now: dt.datetime,
    completed: dt.datetime | None,
    due: dt.datetime,
    paused: float,
    used: float,
    remaining: float,
) -> None:
    accepted = nov(2, 10) if limit.unit is LimitUnit.WORKING_DAYS else nov(2, 16)
    figures = clock_figures(CALENDAR, accepted, limit, pauses, now, completed)
    assert figures.deadline == due
    assert figures.paused_days == pytest.approx(paused, abs=1e-3)
    assert figures.used_days == pytest.approx(used, abs=1e-3)
    assert figures.remaining_days == pytest.approx(remaining, abs=1e-3)
    assert figures.until == (completed or now)
    assert figures.suspended == any(pause.end is None for pause in pauses)


def test_used_and_remaining_add_up_to_the_limit_while_on_time() -> None:
    for day, hour in ((3, 9), (4, 11), (6, 14), (9, 17)):
        figures = clock_figures(CALENDAR, nov(2, 10), FIVE, [], nov(day, hour))
        assert figures.allowed_days == 5.0
        assert figures.used_days + figures.remaining_days == pytest.approx(5.0, abs=1e-3)


def test_the_clock_starts_at_the_end_of_the_acceptance_date() -> None:
    figures = clock_figures(CALENDAR, nov(2, 10), FIVE, [], nov(3, 9))
    assert figures.clock_start == nov(3)
    hours = clock_figures(CALENDAR, nov(2, 16), Limit(4, LimitUnit.WORKING_HOURS), [], nov(3, 9))
    assert hours.clock_start == nov(2, 16) and hours.allowed_days == pytest.approx(4 * HOUR, abs=1e-3)


def test_the_case_detail_carries_its_clock_steps_and_pauses(
    operator: TestClient,  # noqa: F811
) -> None:
    done = operator.get("/api/cases/D1").json()  # accepted Mon 16 10:00, 2 days, done Tue 10:00
    clock = done["clock"]
    assert clock["limit"] == {"amount": 2, "unit": "working_days"}
    assert (clock["accepted_at"], clock["deadline"]) == (at(16, 10).timestamp(),
                                                         at(18, 17, 30).timestamp())  # fmt: skip
    assert clock["until"] == at(17, 10).timestamp() and clock["overdue"] is False
    assert clock["allowed_days"] == 2.0 and clock["paused_days"] == 0.0
    assert clock["used_days"] == pytest.approx(HOUR, abs=1e-3)
    assert clock["remaining_days"] == pytest.approx(2 - HOUR, abs=1e-3)
    assert done["steps"] == [] and done["pauses"] == []

    late = operator.get("/api/cases/L1").json()["clock"]  # done Friday 20 10:00
    assert late["overdue"] is True and late["remaining_days"] < 0

    steps = operator.get("/api/cases/N1").json()["steps"]
    assert [(s["name"], s["start"], s["end"]) for s in steps[:2]] == [
        ("审核", at(20, 14).timestamp(), at(20, 15).timestamp()),
        ("批准", at(23, 8).timestamp(), None),
    ]
    assert steps[0]["working_days"] == pytest.approx(HOUR, abs=1e-3)
