"""Cards reach the console's event feed through the outbox, once each, on both databases."""

from __future__ import annotations

from pathlib import Path

from cases.ledger import CaseLedger
from cases.publish import publish_cards
from cases.store import Sources, open_case_db
from cases.workdays import work_calendar
from hallwatch.config import Schedule, Site
from hallwatch.config_cases import CasesSettings
from hallwatch.events import Event
from hallwatch.store import EventQuery, Store
from tests.cases.test_ledger import accepted, at, completed

SITE = Site.model_validate(
    {
        "name": "t",
        "cameras": [{"id": "cam01", "name": "c", "url": "rtsp://192.0.2.1/s"}],
        "windows": [{"id": "W01", "name": "1号窗口", "department": "d", "camera": "cam01",
                     "staff_zone": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}],
    }
)  # fmt: skip


def feed(store: Store) -> list[tuple[str, str, bool]]:
    items, _ = store.list_events(EventQuery(limit=50))
    return sorted((e.type, e.camera, e.end is not None) for e in items)


def test_a_card_opens_escalates_and_closes_its_events(db_url: str, tmp_path: Path) -> None:
    db = open_case_db(db_url)
    Sources(db).add("sys")
    ledger = CaseLedger(db, work_calendar(Schedule()), CasesSettings())
    store = Store(tmp_path / "hallwatch.db")
    ledger.ingest("sys", [accepted("C1", at(16, 10))], now=at(16, 11))
    assert publish_cards(db, store, SITE) == 0  # no card yet
    ledger.reevaluate_due(at(18, 9))
    assert publish_cards(db, store, SITE) == 1
    assert publish_cards(db, store, SITE) == 0  # told once
    assert feed(store) == [("case_warning", "cam01", False)]
    (event,), _ = store.list_events(EventQuery(limit=5))
    assert event.window == "W01" and event.details["case_id"] == "C1"
    assert event.details["reasons"][0]["text"] == "临近承诺时限"
    ledger.reevaluate_due(at(19, 9))
    publish_cards(db, store, SITE)
    assert feed(store) == [("case_warning", "cam01", True), ("case_yellow", "cam01", False)]
    ledger.ingest("sys", [completed("C1", at(19, 10))], now=at(19, 10))
    publish_cards(db, store, SITE)
    assert feed(store) == [("case_warning", "cam01", True), ("case_yellow", "cam01", True)]


def test_a_card_raised_and_closed_at_once_is_told_as_ended(db_url: str, tmp_path: Path) -> None:
    db = open_case_db(db_url)
    Sources(db).add("sys")
    ledger = CaseLedger(db, work_calendar(Schedule()), CasesSettings())
    store = Store(tmp_path / "hallwatch.db")
    ledger.ingest("sys", [completed("C2", at(20, 10))], now=at(20, 10))  # no acceptance: red
    assert publish_cards(db, store, SITE) == 1
    assert feed(store) == [("case_red", "", True)]  # no window known: no camera


def test_a_card_that_changes_while_it_is_told_stays_pending(db_url: str, tmp_path: Path) -> None:
    db = open_case_db(db_url)
    Sources(db).add("sys")
    ledger = CaseLedger(db, work_calendar(Schedule()), CasesSettings())
    store = Store(tmp_path / "hallwatch.db")
    ledger.ingest("sys", [accepted("C3", at(16, 10))], now=at(16, 11))
    ledger.reevaluate_due(at(18, 9))  # a warning to tell
    telling = store.add_event

    def add_event_while_the_ledger_escalates(event: Event) -> Event:
        ledger.reevaluate_due(at(19, 9))  # yellow, committed between read and mark
        return telling(event)

    store.add_event = add_event_while_the_ledger_escalates  # type: ignore[method-assign]
    assert publish_cards(db, store, SITE) == 1  # told the warning it read
    store.add_event = telling  # type: ignore[method-assign]
    assert publish_cards(db, store, SITE) == 1  # the escalation was not lost
    assert feed(store) == [("case_warning", "cam01", True), ("case_yellow", "cam01", False)]
