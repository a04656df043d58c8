"""The supervision store's tables on SQLite and PostgreSQL: sources, idempotent event log."""

from __future__ import annotations

import pytest

from cases.store import (
    EventConflict,
    IncomingEvent,
    Sources,
    append_events,
    events_of,
    open_case_db,
)
from hallwatch.database import Database


def event(event_id: str, case_id: str = "C1", at: float = 100.0, **body: object) -> IncomingEvent:
    return IncomingEvent(event_id, case_id, "step", at, {"event_id": event_id, **body})


def test_sources_authenticate_by_their_own_key(db_url: str) -> None:
    sources = Sources(open_case_db(db_url))
    first, second = sources.add("审批系统"), sources.add("other")
    assert first != second and len(first) >= 40
    assert sources.authenticate(first) == "审批系统"
    assert sources.authenticate(second) == "other"
    assert sources.authenticate("wrong") is None and sources.authenticate("") is None
    renewed = sources.add("other")  # a new key replaces the old one
    assert sources.authenticate(second) is None and sources.authenticate(renewed) == "other"
    assert sources.names() == ["other", "审批系统"]


def test_no_key_is_stored_in_clear(db_url: str) -> None:
    db: Database = open_case_db(db_url)
    key = Sources(db).add("s")
    (row,) = db.query("SELECT * FROM case_sources")
    assert key not in str(row)


def test_events_are_stored_once_and_read_back_in_time_order(db_url: str) -> None:
    db = open_case_db(db_url)
    Sources(db).add("s")
    Sources(db).add("t")
    with db.transaction() as cursor:
        fresh = append_events(
            cursor, "s", [event("e2", at=200.0, note="审核"), event("e1", at=100.0)], 1000.0
        )
    assert [e.event_id for e in fresh] == ["e2", "e1"]
    with db.transaction() as cursor:  # resent, plus one new; another source may reuse an id
        again = append_events(cursor, "s", [event("e1"), event("e3", at=150.0)], 1001.0)
        other = append_events(cursor, "t", [event("e1", at=50.0)], 1001.0)
    assert [e.event_id for e in again] == ["e3"] and len(other) == 1
    with db.transaction() as cursor:
        stored = events_of(cursor, "C1")
    assert [(e.source, e.event_id, e.at) for e in stored] == [
        ("t", "e1", 50.0), ("s", "e1", 100.0), ("s", "e3", 150.0), ("s", "e2", 200.0)
    ]  # fmt: skip
    assert stored[-1].body == {"event_id": "e2", "note": "审核"}


def test_a_failed_intake_writes_nothing(db_url: str) -> None:
    db = open_case_db(db_url)
    Sources(db).add("s")
    try:
        with db.transaction() as cursor:
            append_events(cursor, "s", [event("e1")], 1.0)
            raise RuntimeError("a later check failed")
    except RuntimeError:
        pass
    with db.transaction() as cursor:
        assert events_of(cursor, "C1") == []


def test_an_event_id_sent_again_with_other_content_is_a_conflict_and_writes_nothing(
    db_url: str,
) -> None:
    db = open_case_db(db_url)
    Sources(db).add("s")
    with db.transaction() as cursor:
        append_events(cursor, "s", [event("e1", note="a")], 1.0)
    with pytest.raises(EventConflict, match="e1") as caught, db.transaction() as cursor:
        append_events(cursor, "s", [event("e2", case_id="C2"), event("e1", note="b")], 2.0)
    assert caught.value.event_ids == ["e1"]
    with db.transaction() as cursor:
        assert events_of(cursor, "C2") == []  # the good event of that batch is not kept
        assert [e.body["note"] for e in events_of(cursor, "C1")] == ["a"]
