"""The case ledger on SQLite and PostgreSQL: idempotent intake, projection, cards with history.

Dates: the week of Monday 2026-11-16 has no holiday; office hours 09:00–12:00, 13:30–17:30.
A case accepted Monday with 2 working days promised is due Wednesday 17:30 (the acceptance
day does not count); the warning comes with 1 working day left (Tuesday 17:30); red after
2 working days of grace (Friday 17:30).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cases.intake import parse_event
from cases.ledger import CaseLedger
from cases.projection import Place, fold
from cases.store import EventConflict, Sources, open_case_db
from cases.workdays import work_calendar
from hallwatch.config import Schedule
from hallwatch.config_cases import CasesSettings
from hallwatch.database import Database

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SH)


def accepted(case: str, when: dt.datetime, event_id: str | None = None, **extra: Any) -> Any:
    body = {
        "type": "accepted", "event_id": event_id or f"{case}-acc", "case_id": case,
        "at": when.isoformat(), "item_code": "ITEM-1", "item_name": "食品经营许可",
        "department": "市场监管局", "window_id": "W01", "applicant_type": "organization",
        "promised": {"amount": 2, "unit": "working_days"}, **extra,
    }  # fmt: skip
    return parse_event(body)


def completed(case: str, when: dt.datetime, outcome: str = "approved") -> Any:
    return parse_event({
        "type": "completed", "event_id": f"{case}-done", "case_id": case, "at": when.isoformat(),
        "outcome": outcome, "handler_id": "h9", "reason": "符合条件",
    })  # fmt: skip


def step(case: str, name: str, phase: str, when: dt.datetime, window: str | None) -> Any:
    body = {"type": "step", "event_id": f"{case}-{name}-{phase}", "case_id": case,
            "at": when.isoformat(), "step": name, "phase": phase, "handler_id": "h1"}  # fmt: skip
    if window:
        body["window_id"] = window
    return parse_event(body)


@pytest.fixture
def db(db_url: str) -> Database:
    database = open_case_db(db_url)
    Sources(database).add("sys")
    return database


@pytest.fixture
def ledger(db: Database) -> CaseLedger:
    return CaseLedger(db, work_calendar(Schedule()), CasesSettings())


def case_row(db: Database, case_id: str) -> dict[str, Any]:
    (row,) = db.query("SELECT * FROM cases WHERE case_id = ?", (case_id,))
    return row


def history(db: Database, case_id: str) -> list[tuple[str, str]]:
    rows = db.query(
        "SELECT h.action, h.level FROM card_history h JOIN cards c ON c.id = h.card_id"
        " WHERE c.case_id = ? ORDER BY h.id",
        (case_id,),
    )
    return [(row["action"], row["level"]) for row in rows]


def test_a_case_warns_turns_yellow_and_closes_with_its_history(
    ledger: CaseLedger, db: Database
) -> None:
    result = ledger.ingest("sys", [accepted("C1", at(16, 10))], now=at(16, 11))
    assert (result.accepted, result.duplicates, result.cases) == (1, 0, ("C1",))
    row = case_row(db, "C1")
    assert row["status"] == "open" and row["card_level"] is None
    assert row["promised_deadline"] == at(18, 17, 30).timestamp()
    assert row["next_change_at"] == at(17, 17, 30).timestamp()  # 1 working day left
    assert (row["department"], row["window_id"], row["item_name"]) == ("市场监管局", "W01",
                                                                      "食品经营许可")  # fmt: skip

    assert ledger.reevaluate_due(at(17, 12)) == 0  # nothing due yet
    assert ledger.reevaluate_due(at(18, 9)) == 1
    assert case_row(db, "C1")["card_level"] == "warning"
    assert ledger.reevaluate_due(at(19, 9)) == 1
    assert case_row(db, "C1")["card_level"] == "yellow"
    ledger.ingest("sys", [completed("C1", at(19, 10))], now=at(19, 10))
    row = case_row(db, "C1")
    assert (row["status"], row["outcome"], row["on_time"], row["early"]) == (
        "completed", "approved", 0, 0
    )  # fmt: skip
    assert row["next_change_at"] is None  # a completed case's card never changes by itself
    assert history(db, "C1") == [("raise", "warning"), ("escalate", "yellow"), ("close", "yellow")]
    (card,) = db.query("SELECT state, level, reasons FROM cards WHERE case_id = ?", ("C1",))
    assert card["state"] == "closed" and "超过承诺时限" in card["reasons"]


def test_events_sent_again_are_stored_once(ledger: CaseLedger, db: Database) -> None:
    events = [accepted("C2", at(16, 10)), completed("C2", at(17, 10))]
    ledger.ingest("sys", events, now=at(17, 11))
    again = ledger.ingest("sys", events, now=at(17, 12))
    assert (again.accepted, again.duplicates, again.cases) == (0, 2, ())
    assert db.query("SELECT COUNT(*) AS n FROM case_events")[0]["n"] == 2
    row = case_row(db, "C2")
    assert (row["status"], row["on_time"], row["early"]) == ("completed", 1, 1)


def test_out_of_order_events_end_in_the_same_state(ledger: CaseLedger, db: Database) -> None:
    ledger.ingest("sys", [completed("C3", at(20, 10))], now=at(20, 10))
    early = case_row(db, "C3")
    assert early["status"] == "completed" and early["card_level"] == "red"  # no acceptance yet
    ledger.ingest("sys", [accepted("C3", at(16, 10))], now=at(20, 11))
    ledger.ingest("sys", [accepted("C4", at(16, 10)), completed("C4", at(20, 10))], now=at(20, 11))
    late, ordered = case_row(db, "C3"), case_row(db, "C4")
    keys = ("status", "card_level", "promised_deadline", "on_time", "reasons")
    assert [late[k] for k in keys] == [ordered[k] for k in keys]
    assert late["card_level"] == "yellow"  # done Friday 10:00: overdue, still within the grace
    # the red card raised while the acceptance was missing stays: cards never de-escalate
    assert history(db, "C3") == [("raise", "red"), ("close", "red")]


def test_a_suspension_moves_the_deadline_by_its_office_time(
    ledger: CaseLedger, db: Database
) -> None:
    suspended = parse_event({"type": "suspended", "event_id": "s1", "case_id": "C5",
                             "at": at(17, 9).isoformat(), "kind": "correction"})  # fmt: skip
    ledger.ingest("sys", [accepted("C5", at(16, 10)), suspended], now=at(17, 10))
    row = case_row(db, "C5")
    assert row["suspended"] == 1 and row["next_change_at"] is None  # the clock stands still
    resumed = parse_event({"type": "resumed", "event_id": "r1", "case_id": "C5",
                           "at": at(18, 9).isoformat()})  # fmt: skip
    ledger.ingest("sys", [resumed], now=at(18, 9))
    row = case_row(db, "C5")
    assert row["suspended"] == 0
    assert row["promised_deadline"] == at(19, 17, 30).timestamp()  # one working day later


def test_places_link_a_case_to_its_windows_and_times() -> None:
    events = [
        accepted("C6", at(16, 10)),
        step("C6", "审核", "start", at(16, 14), "W02"),
        step("C6", "审核", "end", at(16, 15), None),
        step("C6", "批准", "start", at(17, 9), "W03"),
    ]
    facts = fold("C6", [e.model_dump(mode="json") for e in reversed(events)], CasesSettings())
    assert facts.places == [
        Place("accepted", "W01", at(16, 10), at(16, 10)),
        Place("审核", "W02", at(16, 14), at(16, 15)),
        Place("批准", "W03", at(17, 9), None),
    ]
    assert [(s.name, s.end) for s in facts.steps] == [("审核", at(16, 15)), ("批准", None)]


def test_the_same_instant_written_in_another_offset_is_a_repeat_not_a_conflict(
    ledger: CaseLedger,
) -> None:
    ledger.ingest("sys", [accepted("C7", at(16, 10))], now=at(16, 11))
    in_utc = accepted("C7", at(16, 10).astimezone(dt.UTC))
    assert ledger.ingest("sys", [in_utc], now=at(16, 12)).duplicates == 1
    with pytest.raises(EventConflict):
        ledger.ingest("sys", [accepted("C7", at(16, 11))], now=at(16, 12))
