"""The SQLite store: WAL, schema version, durable events across reopen, filters."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from hallwatch.events import Event
from hallwatch.store import SCHEMA_VERSION, EventQuery, Store, StoreError


def vacancy(window: str, start: float, end: float | None = None) -> Event:
    return Event(type="counter_vacant", camera="cam01", window=window, start=start,
                 detected_at=start + 3, end=end)  # fmt: skip


def test_wal_and_schema_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")
    assert store.schema_version == SCHEMA_VERSION
    store.close()
    conn = sqlite3.connect(tmp_path / "hw.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "hw.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path / "hw.db")


def test_events_survive_reopen_and_seq_grows(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")
    first = store.add_event(vacancy("W01", 100.0))
    second = store.add_event(vacancy("W02", 200.0))
    assert first.id is not None and second.seq > first.seq
    ended = store.end_event(first.id, 150.0, {"note": "x"})
    assert ended.end == 150.0 and ended.seq > second.seq and ended.details == {"note": "x"}
    store.close()
    reopened = Store(tmp_path / "hw.db")
    items, total = reopened.list_events(EventQuery())
    assert total == 2
    assert [(e.window, e.end) for e in items] == [("W02", None), ("W01", 150.0)]
    assert [e.id for e in reopened.events_after(second.seq)] == [first.id]


def test_end_open_events_after_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")
    store.add_event(vacancy("W01", 100.0))
    store.add_event(vacancy("W02", 100.0, end=120.0))
    assert store.end_open_events(500.0, "restart") == 1
    items, _ = store.list_events(EventQuery(window="W01"))
    assert items[0].end == 500.0 and items[0].details["closed_by"] == "restart"


@pytest.mark.parametrize(
    ("query", "windows"),
    [
        (EventQuery(window="W01"), ["W01", "W01"]),
        (EventQuery(since=250.0), ["W01", "W02"]),  # open or ending at/after 250
        (EventQuery(until=150.0), ["W01"]),
        (EventQuery(since=110.0, until=400.0), ["W01", "W02", "W01"]),
        (EventQuery(limit=1, offset=1), ["W02"]),
        (EventQuery(type="other"), []),
    ],
)
def test_event_filters(tmp_path: Path, query: EventQuery, windows: list[str]) -> None:
    store = Store(tmp_path / "hw.db")
    store.add_event(vacancy("W01", 100.0, end=120.0))
    store.add_event(vacancy("W02", 200.0, end=300.0))
    store.add_event(vacancy("W01", 350.0))
    items, _ = store.list_events(query)
    assert [e.window for e in items] == windows


def test_concurrent_writers(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")

    def write(window: str) -> None:
        for i in range(50):
            store.add_event(vacancy(window, float(i)))

    threads = [threading.Thread(target=write, args=(f"W{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.list_events(EventQuery())[1] == 200
    assert store.max_seq() == 200


def test_users_sessions_audit(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")
    user = store.add_user("op", "hash", "operator")
    store.add_session("tok", user.id, expires_at=1000.0)
    assert store.session_user("tok", now=999.0) == user
    assert store.session_user("tok", now=1001.0) is None
    store.audit("op", "login", client="127.0.0.1")
    assert store.audit_entries()[0]["action"] == "login"


def test_gaps_open_close_and_query(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")
    store.open_gap("cam01", 100.0, "no video")
    store.open_gap("cam01", 150.0, "no video")  # already open: the first start stands
    assert store.gaps("cam01", 0, 1000) == [(100.0, None)]
    store.close_gap("cam01", 160.0)
    store.close_gap("cam01", 170.0)  # nothing open: no change
    store.open_gap("cam01", 300.0, "hallwatch stopped")
    assert store.gaps("cam01", 0, 1000) == [(100.0, 160.0), (300.0, None)]
    assert store.gaps("cam01", 200, 250) == []
    assert store.gaps("cam02", 0, 1000) == []
